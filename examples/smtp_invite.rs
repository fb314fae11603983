//! Sends one invitation through an SMTP server and prints the status report.
//!
//! ```sh
//! # a throw-away local server that prints what it receives:
//! python3 -m pip install 'aiosmtpd==1.4.6'
//! python3 -m aiosmtpd -n -l 127.0.0.1:2525 &
//! SMTP_HOST=127.0.0.1 SMTP_PORT=2525 cargo run --example smtp_invite --features smtp,mock
//! ```
//!
//! For a real relay set `SMTP_SECURITY=starttls` (or `tls`), `SMTP_USER` and `SMTP_PASSWORD`.

use std::time::Duration;

use tenant_access::mail::{Security, SmtpMailer, SupportContact};
use tenant_access::model::Password;
use tenant_access::ops::StatusRow;
use tenant_access::store::{Filter, MemoryStore};
use tenant_access::testing::mock::MockProvider;
use tenant_access::{Config, NewCustomer, TenantAccess};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let security = match var("SMTP_SECURITY", "plain").as_str() {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        _ => Security::Plain,
    };
    let mut mailer = SmtpMailer::builder(var("SMTP_HOST", "127.0.0.1"))
        .security(security)
        .port(var("SMTP_PORT", "2525").parse()?)
        .from(
            var("SMTP_FROM", "invitations@msp.example"),
            Some("Northwind IT"),
        )
        .support_contact(SupportContact::new(
            "Northwind service desk",
            Some("help@msp.example"),
        )?)
        .timeout(Duration::from_secs(10));
    if let (Ok(user), Ok(password)) = (std::env::var("SMTP_USER"), std::env::var("SMTP_PASSWORD")) {
        mailer = mailer.credentials(user, Password::new(password));
    }

    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .msp_name("Northwind IT")
                .build()?,
        )
        .store(MemoryStore::new())
        .mailer(mailer.build()?)
        .provider(MockProvider::new())
        .build()?;

    let new = NewCustomer::new(
        "contoso",
        "contoso.onmicrosoft.com",
        var("INVITE_TO", "admin@contoso.example"),
    )?;
    match ta.invite(new).await?.send(&ta).await {
        Ok(sent) => println!(
            "accepted: {}",
            sent.customer()
                .invitation
                .as_ref()
                .unwrap()
                .delivery
                .as_ref()
                .unwrap()
                .message_id
        ),
        Err(rejected) => println!(
            "not sent: {} ({:?})",
            rejected.error(),
            rejected.error().action()
        ),
    }
    print!(
        "{}",
        StatusRow::table(&ta.status_report(&Filter::all()).await?)
    );
    Ok(())
}
