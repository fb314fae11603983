//! FakeEntra as its own process (harness = false; this binary re-executes itself as the
//! portal):
//!
//! - **portal restart**: the `fake-entra` binary runs with a state file; a portal process
//!   (the real engine, the real `EntraProvider` over HTTP, a SQLite store) starts a
//!   device-code journey and is killed with SIGKILL; the test approves the device code
//!   through the control API; a new portal process loads the journey from SQLite, polls once
//!   and validates.
//! - **fake restart**: the same, but FakeEntra itself is killed with SIGKILL between the
//!   device code and the approval, and started again on the same port with the same state
//!   file: the device code, its tenant and the counters are still there.
//! - **control API**: approve, decline, scripted scenarios (Conditional Access block, admin
//!   consent workflow), faults, counters, reset and malformed requests, over HTTP against the
//!   binary, the Entra side driven with plain form posts.
//! - **state file**: no temporary file left behind; a malformed file stops the binary at
//!   start with a message instead of starting empty over it.
//! - **in process**: `FakeEntra` is `Clone` (clones share one server), serves the control
//!   API too, and a second in-process fake started on the first one's state file finds its
//!   device code.
//!
//! Nothing sleeps: readiness is the binary's `FakeEntra listening on …` line, and the portal
//! runs on a `ManualClock` (its poll interval is jumped over).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenant_access::journey::DeviceCodeIssued;
use tenant_access::ports::Clock;
use tenant_access::provider::entra::{EntraConfig, EntraProvider};
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::SqliteStore;
use tenant_access::testing::fake_entra::DEFAULT_CLIENT_ID;
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{AnyOnboarding, Config, CustomerId, NewCustomer, PollOutcome, TenantAccess};
use url::Url;

/// Set in a portal child: its role (`start` or `finish`).
const PORTAL: &str = "TA_FAKE_ENTRA_PORTAL";
/// How long a child may take to say what it has to say.
const PATIENCE: Duration = Duration::from_secs(60);
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const SCOPE: &str = "https://graph.microsoft.com/.default offline_access";

type Outcome = Result<(), String>;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(PORTAL) {
        rt.block_on(portal(&role));
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: [(&str, &dyn Fn() -> Outcome); 6] = [
        ("portal_killed_and_restarted_finishes_the_journey", &|| {
            rt.block_on(portal_restart())
        }),
        ("fake_killed_and_restarted_keeps_the_journey", &|| {
            rt.block_on(fake_restart())
        }),
        ("control_api_approves_declines_and_counts", &|| {
            rt.block_on(control_api_device_codes())
        }),
        ("control_api_scripts_tenants_faults_and_resets", &|| {
            rt.block_on(control_api_scripts())
        }),
        (
            "state_file_is_replaced_atomically_and_a_bad_one_refused",
            &|| rt.block_on(state_file()),
        ),
        (
            "in_process_fake_is_clone_and_shares_the_state_file",
            &|| rt.block_on(in_process()),
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = Instant::now();
        match test() {
            Ok(()) => {
                println!("test {name} ... ok ({:.2?})", started.elapsed());
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED ({:.2?})\n{e}", started.elapsed());
                failed += 1;
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

// ---- processes ----------------------------------------------------------------------------

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!(
            "ta-fake-entra-{tag}-{}-{}",
            std::process::id(),
            u64::from_le_bytes(bytes)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped; its stdout read line by line
/// on a thread, so a wait for a line is bounded.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn spawn(mut command: Command) -> Result<Self, String> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// The first line starting with `prefix`, with the prefix cut; other lines are skipped.
    fn line(&mut self, prefix: &str) -> Result<String, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_owned());
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!(
                        "no line {prefix:?} from the child ({e}); its stderr:\n{}",
                        self.stderr()
                    ));
                }
            }
        }
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    /// SIGKILL (`Child::kill` on unix), and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit by itself; whether it succeeded.
    fn finish(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("the child failed ({status}):\n{}", self.stderr()))
                };
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("the child did not exit".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `fake-entra` binary, and the base URL it printed.
struct Fake {
    process: Process,
    url: Url,
}

impl Fake {
    fn start(listen: &str, state: Option<&Path>) -> Result<Self, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fake-entra"));
        command.args(["--listen", listen]);
        if let Some(state) = state {
            command.arg("--state").arg(state);
        }
        let mut process = Process::spawn(command)?;
        let url = process.line("FakeEntra listening on ")?;
        let url = Url::parse(&url).map_err(|e| format!("printed {url:?}: {e}"))?;
        Ok(Self { process, url })
    }

    fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let response = http()
            .get(self.at(path))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer(response, 200).await
    }

    /// POSTs `body` to a control route and reads its JSON answer, which must have `status`.
    async fn control(&self, path: &str, body: Value, status: u16) -> Result<Value, String> {
        let response = http()
            .post(self.at(path))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer(response, status).await
    }

    async fn counters(&self) -> Result<Value, String> {
        self.get("_control/counters").await
    }

    /// Starts a device authorization for `tenant` at the Entra endpoint: (device code, user
    /// code).
    async fn device_code(&self, tenant: &str) -> Result<(String, String), String> {
        let response = http()
            .post(self.at(&format!("{tenant}/oauth2/v2.0/devicecode")))
            .form(&[("client_id", DEFAULT_CLIENT_ID), ("scope", SCOPE)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = answer(response, 200).await?;
        Ok((text(&body, "device_code")?, text(&body, "user_code")?))
    }

    /// One poll of the token endpoint: (HTTP status, body).
    async fn poll(&self, tenant: &str, device_code: &str) -> Result<(u16, Value), String> {
        let response = http()
            .post(self.at(&format!("{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", DEVICE_GRANT),
                ("client_id", DEFAULT_CLIENT_ID),
                ("device_code", device_code),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn answer(response: reqwest::Response, status: u16) -> Result<Value, String> {
    let got = response.status().as_u16();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {got}, not JSON: {e}"))?;
    if got != status {
        return Err(format!("HTTP {got} (expected {status}): {body}"));
    }
    Ok(body)
}

fn text(body: &Value, field: &str) -> Result<String, String> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {field:?} in {body}"))
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Outcome {
    if ok { Ok(()) } else { Err(what()) }
}

fn same(got: &Value, expected: &Value, what: &str) -> Outcome {
    check(got == expected, || {
        format!("{what}: got {got}, expected {expected}")
    })
}

/// A portal process: this test binary in role `role` against the fake at `url`, keeping its
/// journeys in the SQLite file `db`.
fn portal_process(
    role: &str,
    url: &Url,
    db: &Path,
    customer: &str,
    tenant: &str,
) -> Result<Process, String> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(PORTAL, role)
        .env("TA_FAKE_URL", url.as_str())
        .env("TA_DB", db)
        .env("TA_CUSTOMER", customer)
        .env("TA_TENANT", tenant);
    Process::spawn(command)
}

// ---- the portal child ---------------------------------------------------------------------

async fn engine(clock: &ManualClock) -> TenantAccess {
    let url = std::env::var("TA_FAKE_URL").unwrap();
    let db = std::env::var("TA_DB").unwrap();
    let key = SealingKey::new("fake-entra-process", [7; 32]).unwrap();
    let store = SqliteStore::open(&db, Keyring::new(key)).await.unwrap();
    let config = EntraConfig::new(DEFAULT_CLIENT_ID)
        .authority(&url)
        .and_then(|c| c.graph(&url))
        .unwrap()
        .timeout(Duration::from_secs(20));
    let provider = EntraProvider::new(config)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(store)
        .mailer(CaptureMailer::new())
        .provider(provider)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// `start`: invite, send, claim, start the device code, print `DEVICE <user code>`, and wait
/// to be killed. `finish`: load the journey, poll once when due, validate, print
/// `VALIDATED <tenant GUID>` and exit.
async fn portal(role: &str) {
    let clock = ManualClock::starting_now();
    let ta = engine(&clock).await;
    let customer = std::env::var("TA_CUSTOMER").unwrap();
    let tenant = std::env::var("TA_TENANT").unwrap();
    match role {
        "start" => {
            let new =
                NewCustomer::new(customer.as_str(), tenant.as_str(), "admin@example.com").unwrap();
            let device = ta
                .invite(new)
                .await
                .unwrap()
                .send(&ta)
                .await
                .unwrap()
                .claim(&ta)
                .await
                .unwrap()
                .start_device_code(&ta)
                .await
                .unwrap();
            println!("DEVICE {}", device.stage().user_code());
            std::future::pending::<()>().await;
        }
        "finish" => {
            let id = CustomerId::new(customer.as_str()).unwrap();
            let device: tenant_access::Onboarding<DeviceCodeIssued> =
                match ta.load(&id).await.unwrap() {
                    AnyOnboarding::DeviceCodeIssued(device) => device,
                    other => panic!(
                        "the journey is not waiting for the device code: {:?}",
                        other.kind()
                    ),
                };
            clock.sleep_until(device.stage().next_poll_at).await;
            let outcome = device.poll(&ta).await.unwrap();
            let PollOutcome::Authenticated(token) = outcome else {
                panic!("the poll did not authenticate: {outcome:?}");
            };
            let connected = token.validate(&ta).await.unwrap();
            let info = connected.customer().tenant_info.clone().unwrap();
            println!("VALIDATED {}", info.id);
        }
        other => panic!("unknown portal role {other}"),
    }
}

// ---- the tests ----------------------------------------------------------------------------

async fn portal_restart() -> Outcome {
    let dir = TempDir::new("portal");
    let state = dir.0.join("fake-entra.json");
    let db = dir.0.join("portal.sqlite");
    let fake = Fake::start("127.0.0.1:0", Some(&state))?;

    let mut first = portal_process("start", &fake.url, &db, "contoso", "contoso.com")?;
    let user_code = first.line("DEVICE ")?;
    first.kill(); // SIGKILL: the journey lives on in SQLite only.

    let approved = fake
        .control(
            "_control/device-codes/approve",
            json!({ "user_code": user_code }),
            200,
        )
        .await?;
    same(&approved["sign_in"], &json!("signed_in"), "approve")?;
    let counters = fake.counters().await?;
    same(
        &counters["requests"],
        &json!({"device_authorization": 1, "open_id_configuration": 1}),
        "counters before the poll",
    )?;

    let mut second = portal_process("finish", &fake.url, &db, "contoso", "contoso.com")?;
    let tenant = second.line("VALIDATED ")?;
    second.finish()?;

    let health = fake.get("_control/health").await?;
    same(
        &health["tenants"],
        &json!([{ "id": tenant, "domains": ["contoso.com"] }]),
        "the tenant validated",
    )?;
    let counters = fake.get("_control/counters?tenant=contoso.com").await?;
    for (kind, n) in [
        ("device_authorization", 1),
        ("device_poll", 1),
        ("organization", 1),
    ] {
        same(&counters["requests"][kind], &json!(n), kind)?;
    }
    same(
        &counters["tenants"][&tenant]["device_poll"],
        &json!(1),
        "the poll counted for the tenant",
    )?;
    Ok(())
}

async fn fake_restart() -> Outcome {
    let dir = TempDir::new("fake");
    let state = dir.0.join("fake-entra.json");
    let db = dir.0.join("portal.sqlite");
    let mut fake = Fake::start("127.0.0.1:0", Some(&state))?;
    let listen = format!("127.0.0.1:{}", fake.url.port().unwrap());

    let mut first = portal_process("start", &fake.url, &db, "fabrikam", "fabrikam.com")?;
    let user_code = first.line("DEVICE ")?;
    first.kill();

    // FakeEntra dies with SIGKILL and comes back on the same port with the same file.
    fake.process.kill();
    check(
        http().get(fake.at("_control/health")).send().await.is_err(),
        || "the fake still answers after SIGKILL".into(),
    )?;
    let fake = Fake::start(&listen, Some(&state))?;

    let codes = fake
        .get("_control/device-codes?tenant=fabrikam.com")
        .await?;
    same(
        &codes["device_codes"][0]["user_code"],
        &json!(user_code),
        "the device code came back",
    )?;
    let counters = fake.counters().await?;
    same(
        &counters["requests"],
        &json!({"device_authorization": 1, "open_id_configuration": 1}),
        "counters came back",
    )?;
    let approved = fake
        .control(
            "_control/device-codes/approve",
            json!({ "tenant": "fabrikam.com" }),
            200,
        )
        .await?;
    same(
        &approved["user_code"],
        &json!(user_code),
        "approved by tenant",
    )?;

    let mut second = portal_process("finish", &fake.url, &db, "fabrikam", "fabrikam.com")?;
    second.line("VALIDATED ")?;
    second.finish()?;
    let counters = fake.counters().await?;
    same(&counters["requests"]["device_poll"], &json!(1), "one poll")?;
    same(
        &counters["requests"]["organization"],
        &json!(1),
        "one validation",
    )?;
    Ok(())
}

async fn control_api_device_codes() -> Outcome {
    let fake = Fake::start("127.0.0.1:0", None)?;
    let tenant = "northwind.com";

    // Declined at the verification URI: the poll says so.
    let (declined, _) = fake.device_code(tenant).await?;
    let (status, body) = fake.poll(tenant, &declined).await?;
    check(
        status == 400 && body["error"] == "authorization_pending",
        || format!("a fresh code: {status} {body}"),
    )?;
    let answer = fake
        .control(
            "_control/device-codes/decline",
            json!({ "tenant": tenant }),
            200,
        )
        .await?;
    same(&answer["declined"], &json!(true), "decline")?;
    let (status, body) = fake.poll(tenant, &declined).await?;
    check(
        status == 400 && body["error"] == "authorization_declined",
        || format!("a declined code: {status} {body}"),
    )?;

    // Approved by user code: the next poll gets the tokens.
    let (approved, user_code) = fake.device_code(tenant).await?;
    let listed = fake.get("_control/device-codes").await?;
    same(
        &listed["device_codes"][1]["status"],
        &json!("waiting"),
        "listed",
    )?;
    let answer = fake
        .control(
            "_control/device-codes/approve",
            json!({ "user_code": user_code }),
            200,
        )
        .await?;
    same(&answer["sign_in"], &json!("signed_in"), "approve")?;
    let (status, body) = fake.poll(tenant, &approved).await?;
    check(status == 200 && body["refresh_token"].is_string(), || {
        format!("an approved code: {status} {body}")
    })?;

    // Approving again, or a code nobody issued: 404.
    let again = fake
        .control(
            "_control/device-codes/approve",
            json!({ "user_code": user_code }),
            404,
        )
        .await?;
    same(&again["sign_in"], &json!("unknown_code"), "approve twice")?;
    fake.control(
        "_control/device-codes/decline",
        json!({ "user_code": "NOSUCHCODE" }),
        404,
    )
    .await?;
    fake.control(
        "_control/device-codes/approve",
        json!({ "tenant": tenant }),
        404,
    )
    .await?;
    fake.control("_control/device-codes/approve", json!({}), 400)
        .await?;

    // Counters: per kind, and per tenant under its GUID.
    let counters = fake
        .get(&format!("_control/counters?tenant={tenant}"))
        .await?;
    let kinds = json!({"device_authorization": 2, "device_poll": 3});
    same(&counters["requests"], &kinds, "counters")?;
    same(&counters["total"], &json!(5), "total")?;
    let tenants = counters["tenants"].as_object().unwrap();
    check(tenants.len() == 1, || format!("one tenant: {counters}"))?;
    same(
        tenants.values().next().unwrap(),
        &kinds,
        "the tenant's counters",
    )?;
    fake.control("_control/counters/reset", json!({}), 200)
        .await?;
    same(
        &fake.counters().await?["total"],
        &json!(0),
        "after the counters' reset",
    )?;
    Ok(())
}

async fn control_api_scripts() -> Outcome {
    let fake = Fake::start("127.0.0.1:0", None)?;

    // Conditional Access blocks the device-code flow: AADSTS53003 on the poll.
    let scenario = http()
        .patch(fake.at("_control/tenants/blocked.com/scenario"))
        .body(json!({"device_code_blocked": true, "access_token_lifetime": 60}).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let scenario = answer(scenario, 200).await?;
    same(&scenario["device_code_blocked"], &json!(true), "scenario")?;
    same(&scenario["access_token_lifetime"], &json!(60.0), "scenario")?;
    let (code, _) = fake.device_code("blocked.com").await?;
    fake.control(
        "_control/device-codes/approve",
        json!({"tenant": "blocked.com"}),
        200,
    )
    .await?;
    let (status, body) = fake.poll("blocked.com", &code).await?;
    check(
        status == 400 && body["error_codes"] == json!([53003]),
        || format!("a blocked tenant: {status} {body}"),
    )?;
    let typo = http()
        .patch(fake.at("_control/tenants/blocked.com/scenario"))
        .body(r#"{"device_code_blcked": true}"#)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    answer(typo, 400).await?;

    // The admin consent workflow: the sign-in requests approval; a reviewer approves.
    fake.control(
        "_control/tenants/review.com/require-admin-approval",
        json!({}),
        200,
    )
    .await?;
    let (code, _) = fake.device_code("review.com").await?;
    let signed = fake
        .control(
            "_control/device-codes/approve",
            json!({"tenant": "review.com"}),
            200,
        )
        .await?;
    same(
        &signed["sign_in"],
        &json!("approval_requested"),
        "approval workflow",
    )?;
    let (status, body) = fake.poll("review.com", &code).await?;
    check(
        status == 400 && body["error_codes"] == json!([90095]),
        || format!("approval requested: {status} {body}"),
    )?;
    let approved = fake
        .control(
            "_control/tenants/review.com/admin-consent/approve",
            json!({}),
            200,
        )
        .await?;
    same(&approved["approved"], &json!(1), "reviewer")?;
    let described = fake.get("_control/tenants/review.com").await?;
    same(
        &described["consented"],
        &json!([DEFAULT_CLIENT_ID]),
        "consented",
    )?;

    // A queued fault answers the next token request.
    let queued = fake
        .control(
            "_control/faults",
            json!({"endpoint": "token", "fault": {"status": 503}}),
            200,
        )
        .await?;
    same(&queued["queued"], &json!(1), "fault")?;
    let (status, _) = fake.poll("review.com", &code).await?;
    check(status == 503, || format!("the fault: {status}"))?;
    fake.control("_control/faults", json!({"endpoint": "nowhere"}), 400)
        .await?;

    // Malformed bodies and unknown routes.
    fake.control("_control/device-codes/approve", json!("not an object"), 400)
        .await?;
    fake.control("_control/nothing-here", json!({}), 404)
        .await?;

    // Reset: a fresh directory.
    fake.control("_control/reset", json!({}), 200).await?;
    let health = fake.get("_control/health").await?;
    same(&health["tenants"], &json!([]), "after the reset")?;
    same(
        &fake.counters().await?["total"],
        &json!(0),
        "after the reset",
    )?;
    Ok(())
}

async fn state_file() -> Outcome {
    let dir = TempDir::new("state");
    let state = dir.0.join("fake-entra.json");
    let fake = Fake::start("127.0.0.1:0", Some(&state))?;
    fake.device_code("woodgrove.com").await?;
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    same(&written["format"], &json!(1), "the state file")?;
    check(
        written["devices"].as_object().is_some_and(|d| d.len() == 1),
        || format!("the device code is in the file: {written}"),
    )?;
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "fake-entra.json")
        .collect();
    check(leftovers.is_empty(), || {
        format!("left behind: {leftovers:?}")
    })?;
    drop(fake);

    std::fs::write(&state, "not json").map_err(|e| e.to_string())?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_fake-entra"));
    command
        .args(["--listen", "127.0.0.1:0", "--state"])
        .arg(&state);
    let mut bad = Process::spawn(command)?;
    let refused = bad.finish();
    let message = refused.err().unwrap_or_default();
    check(message.contains("state file"), || {
        format!("a malformed state file must stop the fake with a message, got: {message:?}")
    })?;
    check(
        std::fs::read_to_string(&state).unwrap_or_default() == "not json",
        || "the malformed file was overwritten".into(),
    )?;
    Ok(())
}

async fn in_process() -> Outcome {
    use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest, SignIn};
    let dir = TempDir::new("in-process");
    let state = dir.0.join("fake-entra.json");
    let fake = FakeEntra::builder()
        .state_file(&state)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let clone = fake.clone();
    drop(fake);
    let url = clone.url().clone();
    let response = http()
        .post(url.join("contoso.com/oauth2/v2.0/devicecode").unwrap())
        .form(&[("client_id", DEFAULT_CLIENT_ID), ("scope", SCOPE)])
        .send()
        .await
        .map_err(|e| format!("a clone keeps serving: {e}"))?;
    let user_code = text(&answer(response, 200).await?, "user_code")?;
    let counters = answer(
        http()
            .get(url.join("_control/counters").unwrap())
            .send()
            .await
            .map_err(|e| e.to_string())?,
        200,
    )
    .await?;
    same(
        &counters["requests"]["device_authorization"],
        &json!(1),
        "control API in process",
    )?;
    check(clone.state_file() == Some(state.as_path()), || {
        "state_file()".into()
    })?;

    // The answer went out after the file was written: a second fake started on it has the code.
    let second = FakeEntra::builder()
        .state_file(&state)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    check(
        second.requests(FakeRequest::DeviceAuthorization) == 1,
        || "the counters came from the file".into(),
    )?;
    check(
        second.waiting_user_codes(Some("contoso.com")) == [user_code.clone()],
        || "the device code came from the file".into(),
    )?;
    check(second.sign_in(&user_code) == SignIn::SignedIn, || {
        "the restored code signs in".into()
    })?;
    Ok(())
}
