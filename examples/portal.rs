//! The whole portal in one command: the customer wizard, the admin-consent callback and the
//! MSP's admin pages (`tenant_access::web`, feature `axum`) on the embedded SQLite store,
//! against an in-process FakeEntra, with invitation emails printed on stdout.
//!
//! ```sh
//! cargo run --features axum,testing,sqlite --example portal            # http://127.0.0.1:8080/admin
//! cargo run --features axum,testing,sqlite --example portal -- --port 9000
//! cargo run --features axum,testing,sqlite --example portal -- --smoke # start, check, exit (CI)
//! cargo run --features axum,testing,sqlite --example portal -- --data ./portal-data
//! ```
//!
//! Keys that outlive a restart: the wizard's session cookies and CSRF tokens are signed with
//! `TENANT_ACCESS_WEB_KEY` (standard base64 of 32 bytes, `WebConfig::signing_key_from_base64`)
//! when it is set, else with the key in `web-signing.key` beside the SQLite database, made
//! once (mode 0600) and read on every later start; the store's sealing key is kept the same
//! way in `sealing.key`. So with `--data DIR` (kept after exit; without it, a fresh directory
//! per run is removed at exit) a restarted portal still accepts the sessions and forms of the
//! one before, and reads its records.
//!
//! The admin pages are behind a demo authoriser: HTTP Basic with user `admin` and the
//! password printed at start-up (or `TA_PORTAL_ADMIN_PASSWORD`). A real portal plugs its own
//! sign-in in through `AdminAuthorizer`.
//!
//! *Sign in with Microsoft* goes to FakeEntra's own sign-in page (Accept, Cancel, or Request
//! approval), which sends the browser back to the portal. For the device code, which FakeEntra
//! has no page for, the example plays Microsoft's side: a few seconds after a user code
//! appears, the customer "signs in" with it. Tenants whose
//! name ends in `.approval.test` run the admin consent workflow: the sign-in ends in an
//! approval request, which a "reviewer" approves 20 seconds later; then press *Continue
//! authentication* in the wizard.
//!
//! Against guessing and slow clients: every request passes a per-client rate limit
//! (`web::RateLimit`, [`BURST`] at once, then one each [`REFILL_EVERY`]), and the server
//! (`portal/serve.rs`) closes connections whose request head takes longer than
//! [`HEADER_READ_TIMEOUT`] and answers `408` to requests not done within [`REQUEST_TIMEOUT`].

#[path = "portal/serve.rs"]
mod serve;

use std::collections::HashSet;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tenant_access::error::MailError;
use tenant_access::journey::StageKind;
use tenant_access::mail::{InvitationMessage, Mailer, MessageId};
use tenant_access::ports::SystemClock;
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{Filter, SqliteStore};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::fake_entra::FakeEntra;
use tenant_access::web::{self, AdminAuthorizer, Operator, RateLimit, WebConfig};
use tenant_access::{AnyOnboarding, Config, NewCustomer, PollOutcome, TenantAccess};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a client may take to send a request head (line and headers): generous for a
/// person's browser, short enough that a few hundred half-open connections free themselves.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take to be answered, reading its body included. The wizard's
/// slowest request is one provider call; the pages poll for progress instead of waiting.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests one client (IP address) may send at once: a page and its assets, a few clicks.
const BURST: u32 = 30;
/// Then one more request per client each this long (120 a minute): above what the pages'
/// progress polling needs, far below a guessing script's pace. Behind a reverse proxy, key
/// the limit on the address it forwards (`.client_key(ClientKey::ForwardedFor)`).
const REFILL_EVERY: Duration = Duration::from_millis(500);

/// Prints every invitation (the link is what the customer would click in the email) and
/// keeps it, as a development mailer.
#[derive(Debug, Clone, Default)]
struct PrintMailer(CaptureMailer);

#[async_trait]
impl Mailer for PrintMailer {
    async fn send_invitation(&self, message: &InvitationMessage) -> Result<MessageId, MailError> {
        let id = self.0.send_invitation(message).await?;
        println!(
            "\n[mail] to {} ({}): open {}\n",
            message.to,
            message.customer,
            message.link.expose_secret()
        );
        Ok(id)
    }
}

/// The demo's admin check: HTTP Basic, user `admin`, the printed password.
struct BasicAuth {
    expected: String,
}

#[async_trait]
impl AdminAuthorizer for BasicAuth {
    async fn authorize(&self, request: &Parts) -> Result<Operator, Response> {
        let given = request
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .unwrap_or("");
        if bool::from(given.as_bytes().ct_eq(self.expected.as_bytes())) {
            Ok(Operator::new("admin"))
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"tenant-access demo portal\"",
                )],
                "Sign in as admin with the password the portal printed.",
            )
                .into_response())
        }
    }
}

/// The key that signs the wizard's sessions and CSRF tokens, as base64:
/// `TENANT_ACCESS_WEB_KEY` when set, else the key file `web-signing.key` in `dir` (beside
/// the SQLite database). With a random key per start (`WebConfig::new()`'s default) every
/// restart would sign every customer out of the wizard and void every open form.
fn web_signing_key(dir: &Path) -> Result<(String, String), BoxError> {
    if let Ok(key) = std::env::var("TENANT_ACCESS_WEB_KEY") {
        return Ok((key, "TENANT_ACCESS_WEB_KEY".to_owned()));
    }
    key_file(&dir.join("web-signing.key"))
}

/// The base64 key kept in `path` and where it came from: made once (32 random bytes,
/// readable by this user only) when the file does not exist, read on every later start.
fn key_file(path: &Path) -> Result<(String, String), BoxError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
            let key = STANDARD.encode(bytes);
            file.write_all(key.as_bytes())?;
            file.sync_all()?;
            Ok((key, format!("{} (made now, mode 0600)", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "{} is readable by others (mode {mode:o}): chmod 600 it",
                        path.display()
                    )
                    .into());
                }
            }
            let key = std::fs::read_to_string(path)?.trim().to_owned();
            Ok((
                key,
                format!("{} (kept from an earlier start)", path.display()),
            ))
        }
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mut port = 8080u16;
    let mut smoke = std::env::var("TA_PORTAL_EXIT_AFTER_START").is_ok_and(|v| v == "1");
    let mut data: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a number")?.parse()?,
            "--smoke" => smoke = true,
            "--data" => data = Some(args.next().ok_or("--data needs a directory")?.into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (try --port N, --smoke, --data DIR)"
                )
                .into());
            }
        }
    }
    let listener =
        tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, if smoke { 0 } else { port })).await?;
    let url = format!("http://{}", listener.local_addr()?);

    let fake = FakeEntra::builder()
        .clock(Arc::new(SystemClock))
        .start()
        .await?;
    // "Sign in with Microsoft" goes to FakeEntra's sign-in page, which sends the browser back
    // here: the redirect URI must be registered, as on a real app registration.
    fake.register_sign_in_redirect_uri(&format!("{url}/authenticate/SignInCallback").parse()?);
    let dir = data.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tenant-access-portal-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let (sealing_key, _) = key_file(&dir.join("sealing.key"))?;
    let store = SqliteStore::open(
        dir.join("portal.sqlite"),
        Keyring::new(SealingKey::from_base64("portal-demo", &sealing_key)?),
    )
    .await?;
    let mailer = PrintMailer::default();
    let ta = TenantAccess::builder()
        .config(
            Config::builder(&url)
                .msp_name("Northwind IT")
                .consent_client_id(fake.client_id())
                .consent_redirect_url(format!("{url}/authenticate/OAuth2Callback"))
                .sign_in_redirect_url(format!("{url}/authenticate/SignInCallback"))
                .build()?,
        )
        .store(store.clone())
        .mailer(mailer.clone())
        .provider(fake.provider()?)
        .build()?;
    seed(&ta, &fake, &mailer).await?;

    let password = std::env::var("TA_PORTAL_ADMIN_PASSWORD").unwrap_or_else(|_| random_password());
    let auth = BasicAuth {
        expected: STANDARD.encode(format!("admin:{password}")),
    };
    let (web_key, web_key_from) = web_signing_key(&dir)?;
    let config = WebConfig::new().signing_key_from_base64(&web_key)?;
    let app = axum::Router::new()
        .merge(web::customer_router(ta.clone(), config.clone()))
        .merge(web::admin_router(ta.clone(), config, auth))
        .layer(RateLimit::per_client(BURST, REFILL_EVERY));
    let fake = Arc::new(fake);
    tokio::spawn(play_microsoft(ta.clone(), Arc::clone(&fake)));

    println!("tenant-access demo portal on {url}");
    println!("  admin pages:  {url}/admin   (user admin, password {password})");
    println!("  FakeEntra:    {}", fake.url());
    println!("  SQLite store: {}", dir.join("portal.sqlite").display());
    println!("  web signing key: {web_key_from}");
    println!("Invite a customer on {url}/admin/invitations; the link appears here. Ctrl-C stops.");

    let timeouts = serve::Timeouts {
        header_read: HEADER_READ_TIMEOUT,
        request: REQUEST_TIMEOUT,
    };
    let server = tokio::spawn(serve::serve(listener, app, timeouts));
    if smoke {
        let response = reqwest::Client::new()
            .get(format!("{url}/admin"))
            .basic_auth("admin", Some(&password))
            .send()
            .await?;
        let status = response.status();
        let page = response.text().await?;
        if status != 200 || !page.contains("Authentication status") {
            return Err(format!("smoke: GET /admin answered {status}").into());
        }
        println!("smoke: GET /admin answered 200 with the status table; exiting");
    } else {
        stopped().await?;
        println!("stopping");
    }
    server.abort();
    store.close().await;
    if data.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Two customers so the admin pages are not empty: one connected, one invited.
async fn seed(ta: &TenantAccess, fake: &FakeEntra, mailer: &PrintMailer) -> Result<(), BoxError> {
    if !ta.status_report(&Filter::all()).await?.is_empty() {
        return Ok(());
    }
    let sent = ta
        .invite(NewCustomer::new(
            "contoso",
            "contoso.com",
            "admin@contoso.com",
        )?)
        .await?
        .send(ta)
        .await?;
    let code = mailer
        .0
        .last_code_to("admin@contoso.com")
        .ok_or("no mail")?;
    let AnyOnboarding::InvitationSent(sent_again) = ta.open_invitation(&code).await? else {
        return Err(format!("contoso is in {}", sent.kind()).into());
    };
    let device = sent_again.claim(ta).await?.start_device_code(ta).await?;
    fake.sign_in(device.stage().user_code());
    // The system clock: the first poll waits one interval (5 s on FakeEntra).
    if let PollOutcome::Authenticated(token) = device.poll_until_done(ta).await? {
        token.validate(ta).await?;
    }
    ta.invite(NewCustomer::new(
        "fabrikam",
        "fabrikam.approval.test",
        "it@fabrikam.approval.test",
    )?)
    .await?
    .send(ta)
    .await?;
    fake.require_admin_approval("fabrikam.approval.test");
    Ok(())
}

/// Plays the customer at Microsoft's sign-in page and the approving reviewer.
async fn play_microsoft(ta: TenantAccess, fake: Arc<FakeEntra>) {
    let mut signed_in = HashSet::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Ok(waiting) = ta
            .list(
                &Filter::stages([StageKind::DeviceCodeIssued, StageKind::ApprovalRequested]),
                &tenant_access::store::PageRequest::first(500),
            )
            .await
        else {
            continue;
        };
        let now = ta.clock().now();
        for journey in waiting.items {
            let tenant = journey.customer().tenant.to_string();
            if tenant.ends_with(".approval.test") {
                fake.require_admin_approval(&tenant);
            }
            match journey {
                AnyOnboarding::DeviceCodeIssued(device)
                    if now - device.stage().issued_at > Duration::from_secs(3) =>
                {
                    let code = device.stage().user_code().to_owned();
                    if signed_in.insert(code.clone()) {
                        println!(
                            "[fake microsoft] the customer of {} signs in with {code}",
                            device.id()
                        );
                        fake.sign_in(&code);
                    }
                }
                AnyOnboarding::ApprovalRequested(waiting)
                    if now - waiting.stage().requested_at > Duration::from_secs(20)
                        && fake.approve_admin_consent_requests(&tenant) > 0 =>
                {
                    println!("[fake microsoft] a reviewer of {tenant} approves the request");
                }
                _ => {}
            }
        }
    }
}

/// Ctrl-C, or (on Unix) SIGTERM: either way the temporary store is removed.
async fn stopped() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
