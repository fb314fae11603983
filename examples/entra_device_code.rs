//! The delegated-token journey (device code) against Microsoft Entra ID.
//!
//! Real cloud: `ENTRA_TENANT`, `ENTRA_CLIENT_ID` (public client flows on), optional
//! `ENTRA_ADMIN_EMAIL`; sign in at the printed URL with the printed code.
//!
//! Unattended, against an in-process FakeEntra (the customer's side is played through its
//! control API, including the admin consent workflow):
//!
//! ```sh
//! TENANT_ACCESS_FAKE_ENTRA=1 cargo run --example entra_device_code --features testing
//! ```

mod support;

use support::BoxError;
use tenant_access::ops::StatusRow;
use tenant_access::store::Filter;
use tenant_access::testing::CaptureMailer;
use tenant_access::{AnyOnboarding, Config, NewCustomer, PollOutcome};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let env = support::setup().await?;
    let admin =
        support::var("ENTRA_ADMIN_EMAIL").unwrap_or_else(|| format!("admin@{}", env.tenant));
    let mailer = CaptureMailer::new();
    let ta = env.engine(
        Config::builder("https://portal.example.com")
            .msp_name("Northwind IT")
            .build()?,
        mailer.clone(),
    )?;
    if let Some(fake) = env.fake() {
        // This tenant runs the admin consent workflow: users may not consent themselves.
        fake.require_admin_approval(&env.tenant);
    }

    let new = NewCustomer::new("contoso", env.tenant.as_str(), admin.as_str())?;
    let sent = ta.invite(new).await?.send(&ta).await?;
    println!("contoso: {:?}, invitation mailed to {admin}", sent.kind());

    // The customer opens the emailed link and presses "Start authentication".
    let code = mailer.last_code_to(&admin).ok_or("no invitation mail")?;
    let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
        return Err("the invitation is not waiting to be opened".into());
    };
    let mut device = sent.claim(&ta).await?.start_device_code(&ta).await?;
    loop {
        let stage = device.stage();
        println!(
            "contoso: {:?} - open {} and enter the code {}",
            device.kind(),
            stage.verification_uri(),
            stage.user_code()
        );
        if let Some(fake) = env.fake() {
            let outcome = fake.sign_in(stage.user_code());
            println!("[fake] the customer signs in: {outcome:?}");
        }
        match device.poll_until_done(&ta).await? {
            PollOutcome::Authenticated(token) => {
                support::validate(&ta, token).await?;
                break;
            }
            PollOutcome::ApprovalRequested(waiting) => {
                println!(
                    "contoso: {:?} - an Admin Consent Reviewer must approve the app",
                    waiting.kind()
                );
                support::reviewer_approves(&env)?;
                device = waiting.continue_authentication(&ta).await?;
            }
            PollOutcome::Expired(claimed) | PollOutcome::Declined(claimed) => {
                println!(
                    "contoso: {:?} - the code expired or was declined; new code",
                    claimed.kind()
                );
                device = claimed.start_device_code(&ta).await?;
            }
            other => return Err(format!("unexpected poll outcome {other:?}").into()),
        }
    }
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
