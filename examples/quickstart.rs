//! Quickstart: three customers connected over real HTTP to an in-process FakeEntra, through
//! the real Entra ID provider, kept in the embedded SQLite store with sealed secrets.
//! No environment variables, no waiting, exit code 0.
//!
//! ```sh
//! cargo run --example quickstart --features testing,sqlite
//! ```
//!
//! Swap `fake.provider()` for an [`EntraProvider`](tenant_access::provider::entra::EntraProvider)
//! configured for the real cloud (see README.md, "Connect to real Entra ID", and the `entra_*` examples) and the code
//! stays the same.

use std::sync::Arc;

use std::time::Duration;
use tenant_access::journey::StageKind;
use tenant_access::model::{ClientSecret, Password};
use tenant_access::ops::StatusRow;
use tenant_access::provider::ConsentCallback;
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{Filter, SqliteStore};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::ManualClock;
use tenant_access::testing::fake_entra::FakeEntra;
use tenant_access::{
    AnyOnboarding, Config, NewCustomer, PollOutcome, RefreshOutcome, TenantAccess,
};

fn step(customer: &str, from: StageKind, to: StageKind) {
    println!("{customer:<10} {:<18} -> {}", from.as_str(), to.as_str());
}

fn created(customer: &str, stage: StageKind) {
    println!("{customer:<10} {:<18} -> {}", "(new)", stage.as_str());
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // One clock drives the engine, the provider's retries and FakeEntra's expiry.
    let clock = ManualClock::starting_now();
    let fake = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .start()
        .await?;
    println!("FakeEntra (Entra ID v2 + Graph) on {}", fake.url());
    // The embedded store: one SQLite file, every secret sealed with XChaCha20-Poly1305. A real
    // portal keeps the key outside the database (an environment variable, a key vault).
    let db = std::env::temp_dir().join(format!(
        "tenant-access-quickstart-{}.sqlite",
        std::process::id()
    ));
    let store =
        SqliteStore::open(&db, Keyring::new(SealingKey::generate("quickstart-key")?)).await?;
    println!("SQLite store at {}\n", db.display());
    let mailer = CaptureMailer::new();
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .msp_name("Northwind IT")
                .consent_client_id(fake.client_id())
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
                .build()?,
        )
        .store(store.clone())
        .mailer(mailer.clone())
        .provider(fake.provider()?)
        .clock(clock.clone())
        .build()?;

    // 1. Delegated token (device code) in a tenant that runs the admin consent workflow.
    fake.require_admin_approval("contoso.com");
    let new = NewCustomer::new("contoso", "contoso.com", "admin@contoso.com")?;
    let invited = ta.invite(new).await?;
    created("contoso", invited.kind());
    let sent = invited.send(&ta).await?;
    step("contoso", StageKind::Invited, sent.kind());
    let code = mailer.last_code_to("admin@contoso.com").ok_or("no mail")?;
    let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
        return Err("the invitation is not waiting".into());
    };
    let claimed = sent.claim(&ta).await?;
    step("contoso", StageKind::InvitationSent, claimed.kind());
    let device = claimed.start_device_code(&ta).await?;
    step("contoso", StageKind::Claimed, device.kind());
    println!(
        "{:<10} the customer opens {} and enters {}",
        "",
        device.stage().verification_uri(),
        device.stage().user_code()
    );
    fake.sign_in(device.stage().user_code());
    let PollOutcome::ApprovalRequested(waiting) = device.poll_until_done(&ta).await? else {
        return Err("expected the approval workflow".into());
    };
    step("contoso", StageKind::DeviceCodeIssued, waiting.kind());
    clock.advance(Duration::from_secs(86_400));
    fake.approve_admin_consent_requests("contoso.com");
    println!("{:<10} a reviewer approves the application a day later", "");
    let device = waiting.continue_authentication(&ta).await?;
    step("contoso", StageKind::ApprovalRequested, device.kind());
    fake.sign_in(device.stage().user_code());
    let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await? else {
        return Err("expected a token".into());
    };
    step("contoso", StageKind::DeviceCodeIssued, token.kind());
    let contoso = token.validate(&ta).await?;
    step("contoso", StageKind::TokenAcquired, contoso.kind());

    // 2. Global admin username + password, consented at the admin-consent URL.
    fake.add_user("fabrikam.com", "admin@fabrikam.com", "correct horse");
    let new = NewCustomer::new("fabrikam", "fabrikam.com", "admin@fabrikam.com")?;
    let consent = ta
        .connect_with_password(new, "admin@fabrikam.com", Password::new("correct horse"))
        .await?;
    created("fabrikam", consent.kind());
    let landed = fake
        .admin_consents(consent.stage().admin_consent_url())
        .await?;
    let token = ta
        .complete_consent(&ConsentCallback::from_url(&landed)?)
        .await?;
    step("fabrikam", StageKind::ConsentRequired, token.kind());
    let fabrikam = token.validate(&ta).await?;
    step("fabrikam", StageKind::TokenAcquired, fabrikam.kind());

    // 3. Application registration (client credentials).
    let app_id = "99999999-8888-7777-6666-555555555555";
    fake.add_app("woodgrove.com", app_id, "app-secret");
    let new = NewCustomer::new("woodgrove", "woodgrove.com", "it@woodgrove.com")?;
    let consent = ta
        .connect_app_registration(new, app_id, ClientSecret::new("app-secret"))
        .await?;
    created("woodgrove", consent.kind());
    let landed = fake
        .admin_consents(consent.stage().admin_consent_url())
        .await?;
    let token = consent
        .complete_consent(&ta, &ConsentCallback::from_url(&landed)?)
        .await?;
    step("woodgrove", StageKind::ConsentRequired, token.kind());
    let woodgrove = token.validate(&ta).await?;
    step("woodgrove", StageKind::TokenAcquired, woodgrove.kind());

    // Day Two, 30 days on: refresh everyone; fabrikam's admin changed their password.
    clock.advance(Duration::from_secs(30 * 86_400));
    fake.revoke_refresh_tokens("fabrikam.com");
    for connected in [contoso, fabrikam, woodgrove] {
        let id = connected.id().to_string();
        match connected.refresh(&ta).await? {
            RefreshOutcome::Refreshed(c) => {
                let c = c.verify(&ta).await?;
                step(&id, StageKind::Validated, c.kind());
            }
            RefreshOutcome::ReauthRequired(dead) => {
                step(&id, StageKind::Validated, dead.kind());
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }

    println!();
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    Ok(())
}
