//! A command-line admin for the MSP, over the embedded SQLite store and an in-process FakeEntra:
//! the authentication status table, verify all with a progress bar, refresh token now, resend
//! an invitation, switch a customer's method, and the report as CSV or JSON.
//!
//! ```sh
//! cargo run --all-features --example admin                       # the default tour
//! cargo run --all-features --example admin -- --customers 200 verify-all status
//! ```
//!
//! Commands run in order in one process (FakeEntra lives in it): `status`, `verify-all`,
//! `refresh ID`, `resend ID`, `switch ID METHOD` (start a switch to `device-code` or
//! `app-registration` and let the simulated customer finish it), `start-switch ID METHOD`,
//! `finish-switch ID`, `cancel-switch ID`, `csv`, `json`, `bulk FILE.csv` (invite every row of
//! a CSV `customer_id,tenant,admin_email,method`, e.g. `examples/support/bulk.csv`, and print
//! the report). First `--customers N` (default 12) customers are
//! onboarded: most connected through the device-code journey, every fourth one left waiting for
//! the customer.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tenant_access::StreamExt;
use tenant_access::ops::StatusRow;
use tenant_access::ops::bulk::{BulkOptions, parse_bulk_csv};
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{Filter, SqliteStore};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::ManualClock;
use tenant_access::testing::fake_entra::{FakeEndpoint, FakeEntra, Fault};
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
        args = "status verify-all refresh customer-001 resend customer-003 \
                switch customer-002 app-registration start-switch customer-004 device-code status \
                cancel-switch customer-004"
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
        .config(
            Config::builder("https://portal.example.com")
                .msp_name("Northwind IT")
                .consent_client_id(fake.client_id())
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
                .notify_channels(["operators"])
                .build()?,
        )
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
                "switch" | "start-switch" => {
                    let id = CustomerId::new(
                        words.next().ok_or("switch needs a customer id")?.as_str(),
                    )?;
                    let method = words.next().ok_or("switch needs a method")?;
                    start_switch(&ta, &fake, &id, method).await?;
                    if command == "switch" {
                        finish_switch(&ta, &fake, &mailer, &id).await?;
                    }
                }
                "finish-switch" => {
                    let id = CustomerId::new(
                        words
                            .next()
                            .ok_or("finish-switch needs a customer id")?
                            .as_str(),
                    )?;
                    finish_switch(&ta, &fake, &mailer, &id).await?;
                }
                "cancel-switch" => {
                    let id = CustomerId::new(
                        words
                            .next()
                            .ok_or("cancel-switch needs a customer id")?
                            .as_str(),
                    )?;
                    ta.cancel_switch(&id).await?;
                    let kept = ta.load(&id).await?;
                    println!(
                        "{id}: switch cancelled; still {} with the {} method",
                        kept.kind(),
                        kept.customer().method
                    );
                }
                "bulk" => {
                    let file = words.next().ok_or("bulk needs a CSV file")?;
                    bulk(&ta, &fake, file).await?;
                }
                "health" => {
                    let days: u64 = words
                        .next()
                        .ok_or("health needs a number of days to let pass")?
                        .parse()?;
                    health(&ta, &clock, &mailer, days).await?;
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

/// Bulk onboarding from a CSV file: every row checked first, mails paced on the engine's
/// clock (the demo's manual clock, so no real wait), and the report. FakeEntra knows every
/// tenant but `nobody.invalid`, as Entra ID knows no tenant for an unverified domain.
async fn bulk(ta: &TenantAccess, fake: &FakeEntra, file: &str) -> Result<()> {
    fake.forget_tenant("nobody.invalid");
    let csv = parse_bulk_csv(std::fs::File::open(file)?)?;
    let report = ta.invite_many(csv, &BulkOptions::default()).await;
    println!(
        "{} invited ({} mailed), {} refused",
        report.created.len(),
        report.sent(),
        report.refused.len()
    );
    for created in &report.created {
        println!(
            "  line {:>3}  {:<14} created, invitation {}",
            created.line,
            created.customer.as_str(),
            created.mail.as_str().replace('_', " ")
        );
    }
    for refused in &report.refused {
        println!(
            "  line {:>3}  {:<14} {}",
            refused.line, refused.customer_id, refused.message
        );
    }
    println!("report as CSV:\n{}", report.csv());
    Ok(())
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
        .count(&Filter::stages([
            tenant_access::journey::StageKind::Validated,
        ]))
        .await?;
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

/// Resends the invitation of a customer still waiting for it (or starts over from an
/// expired invitation or a dead refresh token).
async fn resend(ta: &TenantAccess, id: &CustomerId) -> Result<()> {
    let sent = ta.resend_invitation(id).await?;
    let codes = sent
        .customer()
        .invitation
        .as_ref()
        .map_or(0, |i| i.codes_issued);
    println!("{id}: invitation sent again (code number {codes}); the old link no longer works");
    Ok(())
}

/// Starts switching `id` to `method` (`device-code` or `app-registration`). The old
/// connection keeps serving meanwhile.
async fn start_switch(
    ta: &TenantAccess,
    fake: &FakeEntra,
    id: &CustomerId,
    method: &str,
) -> Result<()> {
    let AnyOnboarding::Validated(current) = ta.load(id).await? else {
        return Err(format!("{id} has no working connection to switch from").into());
    };
    match method {
        "device-code" => {
            ta.switch_to_device_code(id, None).await?.send(ta).await?;
            println!("{id}: switch to device code started; a new invitation is mailed");
        }
        "app-registration" => {
            let tenant = current.customer().tenant.to_string();
            let client_id = format!("app-{id}");
            let secret = format!("secret-for-{id}");
            // The customer registers an application in their tenant and gives the MSP its id
            // and secret.
            fake.add_app(&tenant, &client_id, &secret);
            let pending = ta
                .switch_to_app_registration(
                    id,
                    client_id,
                    tenant_access::model::ClientSecret::new(secret),
                )
                .await?;
            println!(
                "{id}: switch to app registration started; an administrator consents at {}",
                pending.stage().admin_consent_url()
            );
        }
        other => {
            return Err(format!("unknown method {other:?} (device-code, app-registration)").into());
        }
    }
    let serving = ta.access_token(id).await?;
    println!(
        "{id}: the {} connection keeps serving meanwhile (token of {} bytes)",
        current.customer().method,
        serving.expose_secret().len()
    );
    Ok(())
}

/// Plays the customer's part of a switch under way (signs in, or consents), then validates:
/// the take-over.
async fn finish_switch(
    ta: &TenantAccess,
    fake: &FakeEntra,
    mailer: &CaptureMailer,
    id: &CustomerId,
) -> Result<()> {
    let token = match ta.pending_switch(id).await?.ok_or("no switch under way")? {
        AnyOnboarding::InvitationSent(sent) => {
            let email = sent.customer().admin_email.to_string();
            let code = mailer.last_code_to(&email).ok_or("no invitation email")?;
            let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(&code).await? else {
                return Err("the switch invitation is not waiting".into());
            };
            let device = sent.claim(ta).await?.start_device_code(ta).await?;
            fake.sign_in(device.stage().user_code());
            let PollOutcome::Authenticated(token) = device.poll_until_done(ta).await? else {
                return Err("the sign-in did not finish".into());
            };
            token
        }
        AnyOnboarding::ConsentRequired(pending) => {
            let tenant = pending.customer().tenant.to_string();
            if let Some(tenant_access::model::Credentials::AppRegistration { client_id, .. }) =
                &pending.customer().credentials
            {
                fake.grant_admin_consent(&tenant, client_id);
            }
            pending.acquire_token(ta).await?
        }
        other => return Err(format!("the switch is in stage {}", other.kind()).into()),
    };
    let switched = token.validate(ta).await?;
    println!(
        "{id}: switched; now {} with the {} method",
        switched.kind(),
        switched.customer().method
    );
    Ok(())
}

/// `health DAYS`: lets `DAYS` pass on the clock, runs the health pass, lists the customers
/// that need attention and mails the operators' digest of what changed.
async fn health(
    ta: &TenantAccess,
    clock: &ManualClock,
    mailer: &CaptureMailer,
    days: u64,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use tenant_access::notify::EmailDigestNotifier;
    use tenant_access::ports::DispatchPolicy;
    clock.advance(std::time::Duration::from_secs(days * 86_400));
    let pass = ta.health_pass().await?;
    println!(
        "{days} day(s) later: {} customers assessed, {} changed, {} notices queued",
        pass.assessed, pass.changed, pass.notices
    );
    for row in ta.status_report(&Filter::needs_attention()).await?.rows {
        println!("  {:<14} {}", row.customer, row.attention_summary());
    }
    let digest = EmailDigestNotifier::new(
        Arc::new(mailer.clone()),
        vec![tenant_access::EmailAddress::new("noc@northwind.example")?],
    )
    .msp_name("Northwind IT");
    let sent = ta
        .dispatch_notices(&digest, &DispatchPolicy::channel("operators"))
        .await?;
    if let Some(mail) = mailer.operator_messages().last() {
        println!(
            "digest to the operators ({} notices): {}\n{}",
            sent.delivered, mail.subject, mail.text
        );
    }
    Ok(())
}
