//! A command-line admin for the MSP, over the embedded SQLite store and an in-process FakeEntra:
//! the authentication status table, verify all with a progress bar, refresh token now, resend
//! an invitation, and the report as CSV or JSON.
//!
//! ```sh
//! cargo run --all-features --example admin                       # the default tour
//! cargo run --all-features --example admin -- --customers 200 verify-all status
//! ```
//!
//! Commands run in order in one process (FakeEntra lives in it): `status`, `verify-all`,
//! `refresh ID`, `resend ID`, `csv`, `json`. First `--customers N` (default 12) customers are
//! onboarded: most connected through the device-code journey, every fourth one left waiting for
//! the customer.

use std::sync::Arc;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tenant_access::clock::ManualClock;
use tenant_access::mail::CaptureMailer;
use tenant_access::provider::fake_entra::{FakeEndpoint, FakeEntra, Fault};
use tenant_access::report::StatusRow;
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{Filter, SqliteStore};
use tenant_access::{AnyOnboarding, Config, CustomerId, NewCustomer, PollOutcome, TenantAccess};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut customers = 12usize;
    if args.first().map(String::as_str) == Some("--customers") {
        customers = args.get(1).ok_or("--customers needs a number")?.parse()?;
        args.drain(..2);
    }
    if args.is_empty() {
        args = "status verify-all refresh customer-001 resend customer-003 status"
            .split(' ')
            .map(str::to_owned)
            .collect();
    }

    let clock = ManualClock::starting_now();
    let fake = FakeEntra::builder()
        .clock(Arc::new(clock.clone()))
        .start()
        .await?;
    let db =
        std::env::temp_dir().join(format!("tenant-access-admin-{}.sqlite", std::process::id()));
    let store = SqliteStore::open(&db, Keyring::new(SealingKey::generate("admin-demo")?)).await?;
    let mailer = CaptureMailer::new();
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com")?.msp_name("Northwind IT"))
        .store(store.clone())
        .mailer(mailer.clone())
        .provider(fake.provider()?)
        .clock(clock.clone())
        .build()?;
    println!(
        "FakeEntra on {}, SQLite store at {}",
        fake.url(),
        db.display()
    );
    onboard(&ta, &fake, &mailer, customers).await?;

    let mut words = args.iter();
    let result = async {
        while let Some(command) = words.next() {
            println!("\n$ {command}");
            match command.as_str() {
                "status" => print!(
                    "{}",
                    StatusRow::table(&ta.status_report(&Filter::all()).await?)
                ),
                "csv" => print!(
                    "{}",
                    StatusRow::csv(&ta.status_report(&Filter::all()).await?)
                ),
                "json" => println!(
                    "{}",
                    StatusRow::json(&ta.status_report(&Filter::all()).await?)
                ),
                "verify-all" => verify_all(&ta, &fake).await?,
                "refresh" => {
                    let id = CustomerId::new(
                        words.next().ok_or("refresh needs a customer id")?.as_str(),
                    )?;
                    let after = ta.refresh_now(&id).await?;
                    println!("{id}: token refreshed, stage {}", after.kind());
                }
                "resend" => {
                    let id = CustomerId::new(
                        words.next().ok_or("resend needs a customer id")?.as_str(),
                    )?;
                    resend(&ta, &id).await?;
                }
                other => return Err(format!("unknown command {other:?}").into()),
            }
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    result
}

/// Onboards `n` customers: three out of four through the whole device-code journey, the rest
/// left with the invitation sent.
async fn onboard(
    ta: &TenantAccess,
    fake: &FakeEntra,
    mailer: &CaptureMailer,
    n: usize,
) -> Result<()> {
    for i in 0..n {
        let id = format!("customer-{i:03}");
        let email = format!("admin@{id}.com");
        let new = NewCustomer::new(&id, format!("{id}.onmicrosoft.com"), &email)?;
        ta.invite(new).await?.send(ta).await?;
        if i % 4 == 3 {
            continue;
        }
        let code = mailer.last_code_to(&email).ok_or("no invitation email")?;
        let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
            return Err("the invitation is not waiting".into());
        };
        let device = sent.claim(ta).await?.start_device_code(ta).await?;
        fake.sign_in(device.stage().user_code());
        let PollOutcome::Authenticated(token) = device.poll_until_done(ta).await? else {
            return Err("the sign-in did not finish".into());
        };
        token.validate(ta).await?;
    }
    println!("onboarded {n} customers");
    Ok(())
}

/// Verify all with a progress bar; one throttling answer shows the whole run pausing.
async fn verify_all(ta: &TenantAccess, fake: &FakeEntra) -> Result<()> {
    fake.inject(
        FakeEndpoint::Organization,
        Fault::Throttle { retry_after: 2 },
    );
    let total = ta
        .status_report(&Filter::stages([tenant_access::flow::StageKind::Validated]))
        .await?
        .len();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")?);
    let mut run = std::pin::pin!(ta.verify_all(Filter::all(), 16));
    let mut last = None;
    while let Some(outcome) = run.next().await {
        let outcome = outcome?;
        if let Err(error) = &outcome.result {
            bar.println(format!("{}: {error}", outcome.customer));
        }
        bar.set_message(format!(
            "{} ok, {} failed",
            outcome.progress.ok, outcome.progress.failed
        ));
        bar.inc(1);
        last = Some(outcome.progress);
    }
    bar.finish();
    let p = last.unwrap_or_default();
    println!(
        "verified {}: {} ok, {} failed, throttled {} time(s)",
        p.done, p.ok, p.failed, p.throttled
    );
    Ok(())
}

/// Resends the invitation of a customer still waiting for it.
async fn resend(ta: &TenantAccess, id: &CustomerId) -> Result<()> {
    let sent = match ta.load(id).await? {
        AnyOnboarding::InvitationSent(o) => o.resend(ta).await?,
        AnyOnboarding::Claimed(o) => o.resend(ta).await?,
        AnyOnboarding::DeviceCodeIssued(o) => o.resend(ta).await?,
        AnyOnboarding::ApprovalRequested(o) => o.resend(ta).await?,
        AnyOnboarding::Invited(o) => o.send(ta).await?,
        other => {
            return Err(format!("{id} is in stage {}: nothing to resend", other.kind()).into());
        }
    };
    let codes = sent
        .customer()
        .invitation
        .as_ref()
        .map_or(0, |i| i.codes_issued);
    println!("{id}: invitation sent again (code number {codes}); the old link no longer works");
    Ok(())
}
