//! The application-registration journey (client credentials) against Microsoft Entra ID.
//!
//! Real cloud: `ENTRA_TENANT`, `ENTRA_APP_CLIENT_ID` and `ENTRA_APP_CLIENT_SECRET` (an app
//! registered in the customer's tenant with the Graph application permission
//! `Organization.Read.All`), `ENTRA_REDIRECT_URL` (registered on that app). Open the printed
//! admin-consent URL, consent, and paste the URL the browser lands on (or press Enter if
//! consent was granted already).
//!
//! Then the customer switches the same application from its secret to a certificate (a
//! method switch: the secret serves until the certificate is validated; `private_key_jwt`,
//! which Microsoft recommends; secrets expire within 24 months): set
//! `ENTRA_APP_CERTIFICATE_PEM` and `ENTRA_APP_PRIVATE_KEY_PEM` to the paths of the certificate
//! uploaded to the app registration (*Certificates & secrets*) and of its PKCS#8 private key
//! (RSA or EC P-256; `-----BEGIN PRIVATE KEY-----`). Without them the certificate part is
//! skipped. The status table shows each credential's end: a certificate's `notAfter`, or for
//! the secret the end date Graph names, which needs the application permission
//! `Application.Read.All` (or the app owning itself).
//!
//! Unattended, against an in-process FakeEntra:
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_app_registration --features testing
//! ```

mod support;

use support::BoxError;
use tenant_access::model::{ClientCertificate, ClientSecret, CustomerId};
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::store::Filter;
use tenant_access::testing::CaptureMailer;
use tenant_access::{Config, NewCustomer, RefreshOutcome, TenantAccess};

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
    with_certificate(&ta, &env, &app_id).await
}

/// The customer's application moves from its secret to a certificate (a method switch): a
/// client-credentials token signed for with the certificate's key, validated, and the
/// certificate's end in the status report.
async fn with_certificate(
    ta: &TenantAccess,
    env: &support::Env,
    app_id: &str,
) -> Result<(), BoxError> {
    let certificate = match env.fake() {
        Some(fake) => {
            // A test certificate for a fixed test key, made now; the customer uploads it.
            let key = rcgen::KeyPair::from_pem(include_str!(
                "../tests/fixtures/certificates/rsa-a.key.pem"
            ))?;
            let mut params = rcgen::CertificateParams::new(vec!["portal.example.com".into()])?;
            // A year, as a customer's certificate would typically run.
            params.not_before = time::OffsetDateTime::now_utc();
            params.not_after = params.not_before + time::Duration::days(365);
            let cert = params.self_signed(&key)?;
            let certificate = ClientCertificate::from_pem(&cert.pem(), &key.serialize_pem())?;
            fake.add_app_certificate(&env.tenant, app_id, &certificate);
            certificate
        }
        None => {
            let (Some(cert), Some(key)) = (
                support::var("ENTRA_APP_CERTIFICATE_PEM"),
                support::var("ENTRA_APP_PRIVATE_KEY_PEM"),
            ) else {
                println!(
                    "(no ENTRA_APP_CERTIFICATE_PEM / ENTRA_APP_PRIVATE_KEY_PEM: certificate part skipped)"
                );
                return Ok(());
            };
            ClientCertificate::from_pem(
                &std::fs::read_to_string(cert)?,
                &std::fs::read_to_string(key)?,
            )?
        }
    };
    println!(
        "certificate {} ({}), valid until {}",
        certificate.subject(),
        certificate.thumbprint(),
        certificate.not_after()
    );
    // Switch the customer from its secret to the certificate: the secret serves until the
    // certificate is validated; then one write replaces it.
    let contoso = CustomerId::new("contoso")?;
    let switch = ta
        .switch_to_app_registration(&contoso, app_id, certificate)
        .await?;
    let url = switch.stage().admin_consent_url().clone();
    let token = match env.fake() {
        Some(fake) => {
            let landed = fake.admin_consents(&url).await?;
            ta.complete_consent(&ConsentCallback::from_url(&landed)?)
                .await?
        }
        // The application is consented already: the certificate gets a token at once.
        None => switch.acquire_token(ta).await?,
    };
    let connected = support::validate(ta, token).await?;
    println!(
        "contoso: {:?} - switched to the certificate",
        connected.kind()
    );
    print!("{}", ta.status_report(&Filter::all()).await?.table());
    Ok(())
}
