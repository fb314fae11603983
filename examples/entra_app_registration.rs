//! The application-registration journey (client credentials) against Microsoft Entra ID.
//!
//! Real cloud: `ENTRA_TENANT`, `ENTRA_APP_CLIENT_ID` and `ENTRA_APP_CLIENT_SECRET` (an app
//! registered in the customer's tenant with the Graph application permission
//! `Organization.Read.All`), `ENTRA_REDIRECT_URL` (registered on that app). Open the printed
//! admin-consent URL, consent, and paste the URL the browser lands on (or press Enter if
//! consent was granted already).
//!
//! Unattended, against an in-process FakeEntra:
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_app_registration --features testing
//! ```

mod support;

use support::BoxError;
use tenant_access::model::ClientSecret;
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Filter;
use tenant_access::testing::CaptureMailer;
use tenant_access::{Config, NewCustomer, RefreshOutcome};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = support::setup().await?;
    let app_id = support::need(
        "ENTRA_APP_CLIENT_ID",
        "99999999-8888-7777-6666-555555555555",
    )?;
    let app_secret = support::need("ENTRA_APP_CLIENT_SECRET", "customer-app-secret")?;
    let redirect = support::need(
        "ENTRA_REDIRECT_URL",
        "http://localhost:8400/authenticate/OAuth2Callback",
    )?;
    let ta = env.engine(
        Config::builder("https://portal.example.com")
            .consent_redirect_url(&redirect)
            .build()?,
        CaptureMailer::new(),
    )?;
    if let Some(fake) = env.fake() {
        // The customer registered an application in their tenant.
        fake.add_app(&env.tenant, &app_id, &app_secret);
    }

    let admin = format!("it@{}", env.tenant);
    let new = NewCustomer::new("contoso", env.tenant.as_str(), admin.as_str())?;
    let consent = ta
        .connect_app_registration(new, app_id.clone(), ClientSecret::new(app_secret))
        .await?;
    println!("contoso: {:?}", consent.kind());
    let url = consent.stage().admin_consent_url().clone();
    println!("Admin consent for the application: {url}");
    let token = match env.fake() {
        Some(fake) => {
            let landed = fake.admin_consents(&url).await?;
            println!("[fake] the administrator consents; the browser lands on {landed}");
            consent
                .complete_consent(&ta, &ConsentCallback::from_url(&landed)?)
                .await?
        }
        None => {
            let landed = support::ask(
                "Paste the URL your browser was redirected to (or press Enter if consent was already granted):",
            )?;
            if landed.is_empty() {
                consent.acquire_token(&ta).await?
            } else {
                consent
                    .complete_consent(&ta, &ConsentCallback::from_url(&url::Url::parse(&landed)?)?)
                    .await?
            }
        }
    };
    let connected = support::validate(&ta, token).await?;
    // Day Two: a fresh client-credentials token, proven again.
    let RefreshOutcome::Refreshed(connected) = connected.refresh(&ta).await? else {
        return Err("an app registration has no refresh token to lose".into());
    };
    let connected = connected.verify(&ta).await?;
    println!(
        "contoso: {:?} - token refreshed and verified",
        connected.kind()
    );
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
