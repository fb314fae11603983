//! Admin consent landing on the portal: a small callback server at
//! `/authenticate/OAuth2Callback` completes the journey when Entra ID redirects the
//! administrator back.
//!
//! The MSP's own multi-tenant application is consented in the customer's tenant, then used
//! with client credentials there. Real cloud: `ENTRA_TENANT`, `ENTRA_CLIENT_ID`,
//! `ENTRA_CLIENT_SECRET` (the MSP app, with the Graph application permission
//! `Organization.Read.All`), `ENTRA_REDIRECT_URL` (registered on the app, e.g.
//! `http://localhost:8400/authenticate/OAuth2Callback`; the server listens on its port).
//! Open the printed URL in a browser and consent.
//!
//! Unattended, against an in-process FakeEntra (a scripted browser follows the redirect):
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_admin_consent --features testing
//! ```

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use support::BoxError;
use tenant_access::model::ClientSecret;
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Filter;
use tenant_access::testing::CaptureMailer;
use tenant_access::{Config, NewCustomer, TenantAccess};
use tokio::sync::oneshot;

const CALLBACK_PATH: &str = "/authenticate/OAuth2Callback";

struct Portal {
    ta: TenantAccess,
    done: Mutex<Option<oneshot::Sender<Result<String, String>>>>,
}

/// The portal's callback: find the journey by `state`, check the callback, get a token,
/// validate it.
async fn callback(
    State(portal): State<Arc<Portal>>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let outcome = async {
        let callback = ConsentCallback::from_query(query.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        let token = portal
            .ta
            .complete_consent(&callback)
            .await
            .map_err(|e| e.to_string())?;
        println!("{}: {:?}", token.id(), token.kind());
        let connected = token
            .validate(&portal.ta)
            .await
            .map_err(|r| r.error().to_string())?;
        let info = connected
            .customer()
            .tenant_info
            .clone()
            .ok_or_else(|| "validated without tenant info".to_owned())?;
        println!(
            "{}: {:?} - tenant {} ({})",
            connected.id(),
            connected.kind(),
            info.id,
            info.display_name
        );
        Ok::<_, String>(format!(
            "Connected to {} ({}). You can close this window.",
            info.display_name, info.id
        ))
    }
    .await;
    let answer = match &outcome {
        Ok(text) => (StatusCode::OK, text.clone()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("Consent failed: {e}")),
    };
    if let Some(done) = portal.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = done.send(outcome);
    }
    answer
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = support::setup().await?;
    let secret = support::need("ENTRA_CLIENT_SECRET", "msp-app-secret")?;

    // The callback server: on the redirect URL's port, or any free loopback port in fake mode.
    let (listener, redirect) = match support::var("ENTRA_REDIRECT_URL")
        .filter(|_| !support::fake_mode())
    {
        Some(redirect) => {
            let url = url::Url::parse(&redirect)?;
            let port = url
                .port_or_known_default()
                .ok_or("the redirect URL has no port")?;
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
            (listener, redirect)
        }
        None if support::fake_mode() => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let redirect = format!("http://{}{CALLBACK_PATH}", listener.local_addr()?);
            (listener, redirect)
        }
        None => {
            return Err(
                "set ENTRA_REDIRECT_URL (see the README section Connect to real Entra ID)".into(),
            );
        }
    };
    let ta = env.engine(
        Config::builder("https://portal.example.com")
            .consent_redirect_url(&redirect)
            .build()?,
        CaptureMailer::new(),
    )?;
    if let Some(fake) = env.fake() {
        // The MSP's multi-tenant app is known in the customer's tenant once consented.
        fake.add_app(&env.tenant, &env.client_id, &secret);
    }

    let (done, finished) = oneshot::channel();
    let portal = Arc::new(Portal {
        ta: ta.clone(),
        done: Mutex::new(Some(done)),
    });
    let app = Router::new()
        .route(CALLBACK_PATH, get(callback))
        .with_state(portal);
    println!("Portal callback listening on {redirect}");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let admin = format!("admin@{}", env.tenant);
    let new = NewCustomer::new("contoso", env.tenant.as_str(), admin.as_str())?;
    let consent = ta
        .connect_app_registration(new, env.client_id.clone(), ClientSecret::new(secret))
        .await?;
    println!("contoso: {:?}", consent.kind());
    let url = consent.stage().admin_consent_url().clone();
    println!("An administrator of the customer opens: {url}");

    if env.fake().is_some() {
        // A scripted browser: open the consent URL and follow the redirect to the portal.
        let page = reqwest::get(url.clone()).await?;
        println!(
            "[fake] browser: HTTP {} - {}",
            page.status(),
            page.text().await?
        );
    }
    let outcome = finished.await?;
    server.abort();
    let connected_to = outcome.map_err(|e| format!("admin consent failed: {e}"))?;
    println!("{connected_to}");
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
