//! "Sign in with Microsoft": the browser sign-in journey (authorization code with PKCE)
//! against Microsoft Entra ID, for tenants whose Conditional Access blocks the device code.
//!
//! Real cloud: `ENTRA_TENANT`, `ENTRA_CLIENT_ID`, `ENTRA_CLIENT_SECRET` (the portal is a
//! confidential Web client), optional `ENTRA_ADMIN_EMAIL`, and `ENTRA_SIGN_IN_REDIRECT_URL` (default
//! `http://localhost:8400/signin`, registered under the app's Web platform). Open the printed
//! URL in a browser and sign in; the example listens on the redirect URI for the callback.
//!
//! Unattended, against an in-process FakeEntra (the example is the browser: it opens the
//! sign-in page and submits its Accept form):
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_browser_sign_in --features testing
//! ```

mod support;

use axum::extract::RawQuery;
use axum::response::Html;
use support::BoxError;
use tenant_access::journey::{BrowserSignIn, SignInOutcome};
use tenant_access::ports::SignInCallback;
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::fake_entra::SignInAnswer;
use tenant_access::{AnyOnboarding, Config, NewCustomer, Onboarding};
use tokio::sync::mpsc;
use url::Url;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = support::setup().await?;
    let admin =
        support::var("ENTRA_ADMIN_EMAIL").unwrap_or_else(|| format!("admin@{}", env.tenant));
    let redirect = Url::parse(
        &support::var("ENTRA_SIGN_IN_REDIRECT_URL")
            .unwrap_or_else(|| "http://localhost:8400/signin".to_owned()),
    )?;
    if let Some(fake) = env.fake() {
        fake.register_sign_in_redirect_uri(&redirect);
        // This tenant runs the admin consent workflow: users may not consent themselves.
        fake.require_admin_approval(&env.tenant);
    }
    let mailer = CaptureMailer::new();
    let ta = env.engine(
        Config::builder("https://portal.example.com")
            .msp_name("Northwind IT")
            .sign_in_redirect_url(redirect.as_str())
            .build()?,
        mailer.clone(),
    )?;
    // Real cloud: the browser comes back to this listener.
    let mut callbacks = match env.fake() {
        Some(_) => None,
        None => Some(listen(&redirect).await?),
    };

    let new = NewCustomer::new("contoso", env.tenant.as_str(), admin.as_str())?;
    let sent = ta.invite(new).await?.send(&ta).await?;
    println!("contoso: {:?}, invitation mailed to {admin}", sent.kind());
    let code = mailer.last_code_to(&admin).ok_or("no invitation mail")?;
    let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
        return Err("the invitation is not waiting to be opened".into());
    };
    // The customer presses "Sign in with Microsoft".
    let mut pending: Onboarding<BrowserSignIn> =
        sent.claim(&ta).await?.start_browser_sign_in(&ta).await?;
    let mut approvals = 0;
    loop {
        let url = pending.stage().authorize_url.clone();
        println!("contoso: {:?} - open {url}", pending.kind());
        let back = match (env.fake(), callbacks.as_mut()) {
            (Some(fake), _) => {
                // Before the reviewer approves, the page offers only "Request approval".
                let answer = match fake.admin_consent_requests(&env.tenant) + approvals {
                    0 => SignInAnswer::RequestApproval,
                    _ => SignInAnswer::Approve,
                };
                println!("[fake] the customer's browser opens the page and presses {answer:?}");
                let back = fake.signs_in(&url, answer).await?;
                println!("[fake] the customer's browser comes back to {back}");
                back
            }
            (None, Some(callbacks)) => callbacks.recv().await.ok_or("the listener stopped")?,
            (None, None) => unreachable!("a listener runs whenever there is no fake"),
        };
        match ta
            .complete_sign_in(&SignInCallback::from_url(&back)?)
            .await?
        {
            SignInOutcome::Authenticated(token) => {
                support::validate(&ta, token).await?;
                return Ok(());
            }
            SignInOutcome::ApprovalRequested(waiting) => {
                println!(
                    "contoso: {:?} - an Admin Consent Reviewer must approve the app",
                    waiting.kind()
                );
                approvals += support::reviewer_approves(&env)?;
                pending = waiting.start_browser_sign_in(&ta).await?;
            }
            SignInOutcome::Cancelled(claimed) => {
                println!(
                    "contoso: {:?} - cancelled; signing in again",
                    claimed.kind()
                );
                pending = claimed.start_browser_sign_in(&ta).await?;
            }
            SignInOutcome::ConsentRequired(waiting) => {
                return Err(format!(
                    "an administrator must consent first: {}",
                    waiting.stage().admin_consent_url()
                )
                .into());
            }
            SignInOutcome::Blocked(claimed) => {
                return Err(format!(
                    "Conditional Access blocked the sign-in: {}",
                    claimed.customer().last_error.clone().unwrap_or_default()
                )
                .into());
            }
            other => return Err(format!("unexpected outcome {other:?}").into()),
        }
    }
}

/// Serves `redirect`'s path on its host and port (loopback), handing each callback's full
/// URL over the channel.
async fn listen(redirect: &Url) -> Result<mpsc::Receiver<Url>, BoxError> {
    let host = redirect.host_str().ok_or("the redirect URI has no host")?;
    let port = redirect
        .port_or_known_default()
        .ok_or("the redirect URI has no port")?;
    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let (send, receive) = mpsc::channel(4);
    let base = redirect.clone();
    let app = axum::Router::new().route(
        redirect.path(),
        axum::routing::get(move |RawQuery(query): RawQuery| {
            let send = send.clone();
            let mut url = base.clone();
            url.set_query(query.as_deref());
            async move {
                let _ = send.send(url).await;
                Html("<!doctype html><title>Signed in</title><p>Back in the portal: you can close this window.</p>")
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!("listening for the sign-in callback on {redirect}");
    Ok(receive)
}
