//! The three journeys end to end on the embedded defaults, no cloud account needed:
//! device code with the admin consent workflow, global admin password, app registration.
//! Prints every transition and a final status table.
//!
//! Run with: `cargo run --example quickstart --features mock`

use tenant_access::clock::ManualClock;
use tenant_access::mail::CaptureMailer;
use tenant_access::provider::ConsentCallback;
use tenant_access::provider::mock::MockProvider;
use tenant_access::report::StatusRow;
use tenant_access::secret::{ClientSecret, Password};
use tenant_access::store::{Filter, MemoryStore};
use tenant_access::{
    AnyOnboarding, Config, Error, NewCustomer, Onboarding, PollOutcome, TenantAccess,
    flow::StageType,
};

fn step<S: StageType>(what: &str, o: &Onboarding<S>) {
    println!("  {:<12} {:<44} -> {}", o.id().as_str(), what, o.kind());
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mock = MockProvider::new();
    let mailer = CaptureMailer::new();
    // The manual clock makes every wait (poll intervals, days until approval) instant.
    let clock = ManualClock::starting_now();
    let ta = TenantAccess::builder()
        .config(
            Config::new("https://portal.example.com")?
                .msp_name("Northwind IT")
                .consent_client_id("11111111-2222-3333-4444-555555555555")
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")?,
        )
        .store(MemoryStore::new())
        .mailer(mailer.clone())
        .provider(mock.clone())
        .clock(clock.clone())
        .build()?;

    println!("1. Delegated token: invitation, device code, admin consent workflow");
    mock.script("contoso", |s| {
        s.pending(2).slow_down().approval_workflow();
    });
    let new = NewCustomer::new("contoso", "contoso.onmicrosoft.com", "admin@contoso.com")?;
    let invited = ta.invite(new).await?;
    step("MSP invites admin@contoso.com", &invited);
    let sent = invited.send(&ta).await?;
    step("invitation email accepted", &sent);
    let code = mailer
        .last_code_to("admin@contoso.com")
        .expect("the capture mailer keeps the email");
    let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
        unreachable!("a fresh invitation waits in InvitationSent")
    };
    let claimed = sent.claim(&ta).await?;
    step("customer opens the link", &claimed);
    let mut device = claimed.start_device_code(&ta).await?;
    step("customer presses Start authentication", &device);
    println!(
        "  {:<12} go to {} and enter {}",
        "",
        device.stage().verification_uri(),
        device.stage().user_code()
    );
    let waiting = loop {
        use tenant_access::clock::Clock;
        clock.sleep_until(device.stage().next_poll_at).await;
        match device.poll(&ta).await? {
            PollOutcome::Pending(d) => {
                step("poll: authorization pending", &d);
                device = d;
            }
            PollOutcome::SlowDown(d) => {
                step("poll: slow down (interval +5 s)", &d);
                device = d;
            }
            PollOutcome::ApprovalRequested(w) => {
                step("poll: customer requested admin approval", &w);
                break w;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    clock.advance(time::Duration::days(2));
    mock.approve("contoso");
    println!("  {:<12} (two days later a reviewer approves)", "");
    let device = waiting.continue_authentication(&ta).await?;
    step("customer continues authentication", &device);
    let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await? else {
        unreachable!("approved")
    };
    step("poll: token acquired", &token);
    let connected = token.validate(&ta).await?;
    step("validated with Graph /organization", &connected);

    println!("2. Global admin username and password");
    mock.script("fabrikam", |s| {
        s.consent_required();
    });
    let new = NewCustomer::new("fabrikam", "fabrikam.com", "admin@fabrikam.com")?;
    let consent = ta
        .connect_with_password(new, "admin@fabrikam.com", Password::new("demo-password"))
        .await?;
    step("MSP enters the admin's credentials", &consent);
    let redirect = mock.admin_consents(consent.stage().admin_consent_url());
    println!("  {:<12} admin consents on behalf of the organization", "");
    let token = ta
        .complete_consent(&ConsentCallback::from_url(&redirect)?)
        .await?;
    step("consent callback, password grant", &token);
    let connected = token.validate(&ta).await?;
    step("validated", &connected);

    println!("3. Application registration (client credentials)");
    let new = NewCustomer::new("woodgrove", "woodgrove.com", "it@woodgrove.com")?;
    let consent = ta
        .connect_app_registration(
            new,
            "99999999-8888-7777-6666-555555555555",
            ClientSecret::new("demo-client-secret"),
        )
        .await?;
    step("MSP enters client id and secret", &consent);
    let redirect = mock.admin_consents(consent.stage().admin_consent_url());
    let token = consent
        .complete_consent(&ta, &ConsentCallback::from_url(&redirect)?)
        .await?;
    step("consent callback, client credentials", &token);
    let connected = token.validate(&ta).await?;
    step("validated", &connected);

    println!();
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
