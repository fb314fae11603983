//! The global-admin username + password journey (ROPC) against Microsoft Entra ID.
//!
//! Real cloud: `ENTRA_TENANT`, `ENTRA_CLIENT_ID` (public client flows on, or set
//! `ENTRA_CLIENT_SECRET` for a confidential client), `ENTRA_USERNAME`, `ENTRA_PASSWORD`,
//! `ENTRA_REDIRECT_URL` (a redirect URI registered on the app). The account must not need MFA.
//! Open the printed admin-consent URL, consent, and paste the URL the browser lands on.
//!
//! Unattended, against an in-process FakeEntra (first showing the MFA error):
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_password --features testing
//! ```

mod support;

use support::BoxError;
use tenant_access::error::{Error, ProviderError};
use tenant_access::model::Password;
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Filter;
use tenant_access::testing::CaptureMailer;
use tenant_access::{Config, NewCustomer};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = support::setup().await?;
    let username = support::need("ENTRA_USERNAME", &format!("admin@{}", env.tenant))?;
    let password = Password::new(support::need(
        "ENTRA_PASSWORD",
        "correct horse battery staple",
    )?);
    let redirect = support::need(
        "ENTRA_REDIRECT_URL",
        "http://localhost:8400/authenticate/OAuth2Callback",
    )?;
    let ta = env.engine(
        Config::builder("https://portal.example.com")
            .consent_client_id(env.client_id.clone())
            .consent_redirect_url(&redirect)
            .build()?,
        CaptureMailer::new(),
    )?;

    if let Some(fake) = env.fake() {
        fake.add_user(&env.tenant, &username, password.expose_secret());
        // First with MFA on: the password journey cannot work and says so.
        fake.set_mfa(&env.tenant, &username, true);
        fake.grant_admin_consent(&env.tenant, &env.client_id);
        let mfa_tenant = env.tenant.clone();
        let new = NewCustomer::new("contoso-mfa", mfa_tenant.as_str(), username.as_str())?;
        let consent = ta
            .connect_with_password(new, username.clone(), password.clone())
            .await?;
        let rejected = consent.acquire_token(&ta).await.unwrap_err();
        match rejected.error() {
            Error::Provider(ProviderError::MfaRequired(_)) => {
                println!("[fake] with MFA on: {}", rejected.error());
            }
            other => return Err(format!("expected MFA required, got {other}").into()),
        }
        fake.set_mfa(&env.tenant, &username, false);
    }

    let new = NewCustomer::new("contoso", env.tenant.as_str(), username.as_str())?;
    let consent = ta
        .connect_with_password(new, username.clone(), password)
        .await?;
    println!("contoso: {:?}", consent.kind());
    let url = consent.stage().admin_consent_url().clone();
    println!("Consent on behalf of your organization: {url}");
    let token = match env.fake() {
        Some(fake) => {
            let landed = fake.admin_consents(&url).await?;
            println!("[fake] the administrator consents; the browser lands on {landed}");
            ta.complete_consent(&ConsentCallback::from_url(&landed)?)
                .await?
        }
        None => {
            let landed = support::ask(
                "Paste the URL your browser was redirected to (or press Enter if consent was already granted):",
            )?;
            if landed.is_empty() {
                consent.acquire_token(&ta).await?
            } else {
                ta.complete_consent(&ConsentCallback::from_url(&url::Url::parse(&landed)?)?)
                    .await?
            }
        }
    };
    support::validate(&ta, token).await?;
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
