//! Multi-process tests (harness = false; this binary re-executes itself as the child):
//!
//! - **crash safety**: a child runs device-code journeys and refreshes on SQLite (and on
//!   PostgreSQL when `TENANT_ACCESS_PG_URL` is set) and is killed with SIGKILL at random
//!   points (`TA_CRASH_KILLS`, default 20 per backend). After every kill every record loads,
//!   its stage agrees with its data and its last audit event, and no refresh token the child
//!   acknowledged (printed after the store confirmed the write) is lost.
//! - **replicas** (PostgreSQL only): 4 processes x 16 tasks race read-modify-write updates on
//!   the same 100 customers; every version has exactly one winner and no update is lost.
//! - **refresh lease** (PostgreSQL only): 4 processes x 16 tasks ask for the access token of
//!   customers whose token is about to expire, all at once; FakeEntra (in the parent) counts
//!   exactly one refresh request per customer and every caller gets the same new token.

#[path = "sql_support/mod.rs"]
mod support;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tenant_access::error::StoreError;
use tenant_access::journey::{StageKind, Validated};
use tenant_access::provider::entra::{EntraConfig, EntraProvider};
use tenant_access::store::{
    Filter, Pager, PostgresOptions, PostgresStore, Record, SqliteStore, Store,
};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::ManualClock;
use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest};
use tenant_access::testing::mock::MockProvider;
use tenant_access::{
    Config, CustomerId, NewCustomer, PollOutcome, RefreshOutcome, TenantAccess, Version,
};

use support::{TempDir, drop_schemas, sealer, unique_schema};

const CHILD: &str = "TA_PROCESS_CHILD";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(CHILD) {
        rt.block_on(child(&role));
        return;
    }
    let pg = std::env::var("TENANT_ACCESS_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut run = |name: &str, f: &dyn Fn() -> Result<(), String>| {
        let started = Instant::now();
        match f() {
            Ok(()) => {
                println!("test {name} ... ok ({:.1?})", started.elapsed());
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED\n{e}");
                failed += 1;
            }
        }
    };
    run("crash_safety_sqlite", &|| {
        let dir = TempDir::new("crash");
        let location = dir.0.join("crash.sqlite").display().to_string();
        crash_safety(&rt, "sqlite", &location)
    });
    match &pg {
        Some(url) => {
            run("crash_safety_postgres", &|| {
                let schema = unique_schema("crash");
                let result = crash_safety(&rt, "pg", &format!("{url}|{schema}"));
                rt.block_on(drop_schemas(url, std::slice::from_ref(&schema)));
                result
            });
            run("refresh_lease_postgres", &|| {
                let schema = unique_schema("lease");
                let result = refresh_lease(&rt, url, &schema);
                rt.block_on(drop_schemas(url, std::slice::from_ref(&schema)));
                result
            });
            run("replicas_postgres", &|| {
                let schema = unique_schema("replicas");
                let result = replicas(&rt, url, &schema);
                rt.block_on(drop_schemas(url, std::slice::from_ref(&schema)));
                result
            });
        }
        None => {
            eprintln!(
                "\n!!! TENANT_ACCESS_PG_URL is not set: crash_safety_postgres, \
                 refresh_lease_postgres and replicas_postgres were NOT run !!!\n"
            );
            println!("test crash_safety_postgres ... SKIPPED (TENANT_ACCESS_PG_URL not set)");
            println!("test refresh_lease_postgres ... SKIPPED (TENANT_ACCESS_PG_URL not set)");
            println!("test replicas_postgres ... SKIPPED (TENANT_ACCESS_PG_URL not set)");
            skipped += 3;
        }
    }
    println!();
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

fn random(below: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() % below.max(1)
}

/// The `application_name` of child connections, so the parent can wait for them to end.
fn child_app(schema: &str) -> String {
    format!("ta-child-{schema}")
}

async fn open(location: &str) -> Arc<dyn Store> {
    open_as(location, None).await
}

async fn open_as(location: &str, app: Option<String>) -> Arc<dyn Store> {
    match location.split_once('|') {
        Some((url, schema)) => {
            let mut options = PostgresOptions::new(url).schema(schema).max_connections(16);
            if let Some(app) = app {
                options = options.application_name(app);
            }
            Arc::new(PostgresStore::open(options, sealer()).await.unwrap())
        }
        None => Arc::new(SqliteStore::open(location, sealer()).await.unwrap()),
    }
}

async fn child(role: &str) {
    let location = std::env::var("TA_LOCATION").unwrap();
    let tag = std::env::var("TA_TAG").unwrap();
    match role {
        "journeys" => journeys_child(&location, &tag).await,
        "replica" => replica_child(&location, &tag).await,
        "lease" => lease_child(&location).await,
        other => panic!("unknown child role {other}"),
    }
}

/// Runs journeys forever (until killed): 4 tasks, each inviting customers, taking them to
/// Validated and refreshing; prints `ACK <customer> <refresh token>` after every stored token.
async fn journeys_child(location: &str, run: &str) {
    let app = location
        .split_once('|')
        .map(|(_, schema)| child_app(schema));
    let store = open_as(location, app).await;
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .shared_store(store)
        .mailer(CaptureMailer::new())
        .provider(MockProvider::new())
        .clock(ManualClock::starting_now())
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..4 {
        let ta = ta.clone();
        let run = run.to_owned();
        tasks.spawn(async move {
            for k in 0..100_000 {
                let id = format!("{run}-t{t}-c{k}");
                let new =
                    NewCustomer::new(id.clone(), "contoso.onmicrosoft.com", "admin@contoso.com")
                        .unwrap();
                let sent = ta.invite(new).await.unwrap().send(&ta).await.unwrap();
                let device = sent
                    .claim(&ta)
                    .await
                    .unwrap()
                    .start_device_code(&ta)
                    .await
                    .unwrap();
                let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await.unwrap()
                else {
                    panic!("the mock authenticates at once");
                };
                let mut connected = token.validate(&ta).await.unwrap();
                ack(&connected);
                for _ in 0..5 {
                    match connected.refresh(&ta).await.unwrap() {
                        RefreshOutcome::Refreshed(next) => connected = next,
                        _ => panic!("the mock never revokes"),
                    }
                    ack(&connected);
                }
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
}

fn ack(connected: &tenant_access::Onboarding<Validated>) {
    let token = connected
        .customer()
        .token
        .as_ref()
        .and_then(|t| t.refresh_token.as_ref())
        .expect("a validated device-code customer has a refresh token");
    // Rust's stdout is line-buffered: the line is out before the next write starts.
    println!("ACK {} {}", connected.id(), token.expose_secret());
}

/// The mock's refresh tokens are `mock-rt-<customer>-<n>`, n rising within one process.
fn token_number(token: &str) -> Result<u64, String> {
    token
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| format!("unexpected refresh token shape {token:?}"))
}

fn crash_safety(rt: &tokio::runtime::Runtime, backend: &str, location: &str) -> Result<(), String> {
    let kills: u32 = std::env::var("TA_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    // customer -> every acknowledged refresh token number, in order
    let mut acked: HashMap<String, Vec<u64>> = HashMap::new();
    let mut stages: BTreeMap<StageKind, usize> = BTreeMap::new();
    let mut total_acks = 0usize;
    for kill in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, "journeys")
            .env("TA_LOCATION", location)
            .env("TA_TAG", format!("{backend}{kill}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        // Kill at a random point: after a random number of acknowledgements, plus a random
        // delay, so the kill lands anywhere in a journey or a write.
        let wait_for = 1 + random(8) as usize;
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines.lock().unwrap().len() < wait_for {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("the child exited on its own: {status}"));
            }
            if Instant::now() > deadline {
                child.kill().ok();
                return Err("the child made no progress in 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(random(150)));
        child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            return Err("the child finished before it was killed".into());
        }
        reader.join().unwrap();
        for line in lines.lock().unwrap().iter() {
            let mut parts = line.split(' ');
            if parts.next() == Some("ACK") {
                let (Some(id), Some(token)) = (parts.next(), parts.next()) else {
                    continue; // a line cut by the kill
                };
                let Ok(n) = token_number(token) else { continue };
                acked.entry(id.to_owned()).or_default().push(n);
                total_acks += 1;
            }
        }
        let found = rt
            .block_on(verify_after_kill(location, &acked))
            .map_err(|e| format!("after kill {kill}: {e}"))?;
        for (k, n) in found {
            *stages.entry(k).or_default() += n;
        }
    }
    println!("  {backend}: {kills} kills, {total_acks} acknowledged tokens, all present");
    println!("  {backend}: records checked after the kills, by stage: {stages:?}");
    if total_acks < kills as usize {
        return Err(format!(
            "only {total_acks} acknowledgements in {kills} runs"
        ));
    }
    Ok(())
}

/// Checks every record; returns how many were in each stage.
async fn verify_after_kill(
    location: &str,
    acked: &HashMap<String, Vec<u64>>,
) -> Result<BTreeMap<StageKind, usize>, String> {
    let mut stages = BTreeMap::new();
    if let Some((url, schema)) = location.split_once('|') {
        wait_for_server_side_cleanup(url, &child_app(schema)).await?;
    }
    let store = open(location).await;
    let mut pager = Pager::new(&*store, Filter::all(), 250);
    let mut seen = 0;
    let mut stored_tokens = HashMap::new();
    while let Some(page) = pager
        .next_page()
        .await
        .map_err(|e| format!("listing failed: {e}"))?
    {
        for record in page {
            seen += 1;
            *stages.entry(record.stage.kind()).or_default() += 1;
            // Loads one by one too (the by-id path).
            let again = store
                .load(record.id())
                .await
                .map_err(|e| format!("{} does not load: {e}", record.id()))?
                .ok_or_else(|| format!("{} listed but not loadable", record.id()))?;
            if again.version != record.version {
                return Err(format!("{} changed with no writer running", record.id()));
            }
            consistent(&*store, &record).await?;
            if let Some(rt) = record
                .customer
                .token
                .as_ref()
                .and_then(|t| t.refresh_token.as_ref())
            {
                stored_tokens.insert(record.id().to_string(), token_number(rt.expose_secret())?);
            }
        }
    }
    for (id, numbers) in acked {
        let last = *numbers.last().unwrap();
        let stored = stored_tokens
            .get(id)
            .ok_or_else(|| format!("{id}: an acknowledged refresh token is gone"))?;
        if *stored < last {
            return Err(format!(
                "{id}: stored refresh token #{stored} is older than acknowledged #{last}"
            ));
        }
    }
    if seen == 0 {
        return Err("no record survived".into());
    }
    Ok(stages)
}

/// PostgreSQL notices a killed client only when it next reads from its socket: a commit that
/// was in flight at the kill may still land. Wait until the dead child's server sessions end
/// (or fail after 30 s), so the checks see the final state.
async fn wait_for_server_side_cleanup(url: &str, app: &str) -> Result<(), String> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(app)
                .fetch_one(&pool)
                .await
                .map_err(|e| e.to_string())?;
        if n == 0 {
            pool.close().await;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{n} sessions of the killed child are still open after 30 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A record's stage agrees with its data and with its last audit event (written in the
/// same transaction).
async fn consistent(store: &dyn Store, record: &Record) -> Result<(), String> {
    let c = &record.customer;
    let kind = record.stage.kind();
    let fail = |what: &str| Err(format!("{} in {kind}: {what}", c.id));
    match kind {
        StageKind::Validated | StageKind::TokenAcquired => {
            let Some(token) = &c.token else {
                return fail("no token");
            };
            if token.refresh_token.is_none() {
                return fail("no refresh token");
            }
            if kind == StageKind::Validated && c.tenant_info.is_none() {
                return fail("validated without tenant info");
            }
        }
        StageKind::InvitationSent | StageKind::Claimed | StageKind::DeviceCodeIssued
            if c.invitation.is_none() =>
        {
            return fail("no invitation");
        }
        _ => {}
    }
    if record.version < Version(1) {
        return fail("stored at version 0");
    }
    let events = store
        .events(&c.id)
        .await
        .map_err(|e| format!("{}: events do not load: {e}", c.id))?;
    match events.last() {
        Some(e) if e.to == kind => Ok(()),
        other => fail(&format!("the last audit event is {other:?}")),
    }
}

/// One replica: 16 tasks, each making `PER_TASK` successful read-modify-write increments on
/// random customers among 100, printing `WIN <customer> <version> <writer>` for each.
async fn replica_child(location: &str, proc_tag: &str) {
    const PER_TASK: u32 = 25;
    let store = open(location).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let store = Arc::clone(&store);
        let writer = format!("{proc_tag}-{t}");
        tasks.spawn(async move {
            let mut wins = 0;
            while wins < PER_TASK {
                let id = CustomerId::new(format!("rep-{:03}", random(100))).unwrap();
                let mut record = store.load(&id).await.unwrap().unwrap();
                if let Some(inv) = record.customer.invitation.as_mut() {
                    inv.codes_issued += 1;
                }
                record.customer.last_error = Some(writer.clone());
                match store.update(&record, None, &[]).await {
                    Ok(v) => {
                        wins += 1;
                        println!("WIN {id} {} {writer}", v.0);
                    }
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => panic!("update failed: {e}"),
                }
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
}

fn replicas(rt: &tokio::runtime::Runtime, url: &str, schema: &str) -> Result<(), String> {
    let location = format!("{url}|{schema}");
    rt.block_on(async {
        let store = open(&location).await;
        for i in 0..100 {
            let mut r = tenant_access::testing::conformance::sample_record(
                &format!("rep-{i:03}"),
                StageKind::Validated,
                0,
            );
            if let Some(inv) = r.customer.invitation.as_mut() {
                inv.codes_issued = 0;
            }
            let event = tenant_access::model::AuditEvent {
                customer: r.id().clone(),
                from: None,
                to: StageKind::Validated,
                at: time::OffsetDateTime::now_utc(),
                actor: tenant_access::model::Actor::System,
                note: None,
            };
            store.create(&r, &event).await.unwrap();
        }
    });
    let children: Vec<_> = (0..4)
        .map(|p| {
            Command::new(std::env::current_exe().unwrap())
                .env(CHILD, "replica")
                .env("TA_LOCATION", &location)
                .env("TA_TAG", format!("p{p}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    // (customer, version) -> writers that claimed it
    let mut winners: BTreeMap<(String, u64), Vec<String>> = BTreeMap::new();
    let mut total = 0u64;
    for child in children {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("a replica failed: {}", out.status));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            if let ["WIN", id, v, writer] = parts[..] {
                winners
                    .entry((id.to_owned(), v.parse().unwrap()))
                    .or_default()
                    .push(writer.to_owned());
                total += 1;
            }
        }
    }
    if total != 4 * 16 * 25 {
        return Err(format!("{total} wins reported, expected 1600"));
    }
    if let Some(((id, v), w)) = winners.iter().find(|(_, w)| w.len() != 1) {
        return Err(format!("{id} version {v} has {} winners: {w:?}", w.len()));
    }
    rt.block_on(async {
        let store = open(&location).await;
        for i in 0..100 {
            let id = format!("rep-{i:03}");
            let r = store
                .load(&CustomerId::new(id.clone()).unwrap())
                .await
                .unwrap()
                .unwrap();
            let wins = winners.keys().filter(|(c, _)| *c == id).count() as u64;
            let count = r.customer.invitation.as_ref().unwrap().codes_issued as u64;
            if count != wins || r.version != Version(wins + 1) {
                return Err(format!(
                    "{id}: {wins} wins but counter {count} at {} (lost update)",
                    r.version
                ));
            }
            // Versions 2..=final each won exactly once, and the last winner's write is stored.
            for v in 2..=wins + 1 {
                if !winners.contains_key(&(id.clone(), v)) {
                    return Err(format!("{id}: no winner for version {v}"));
                }
            }
            if wins > 0
                && r.customer.last_error.as_ref() != Some(&winners[&(id.clone(), wins + 1)][0])
            {
                return Err(format!("{id}: the stored write is not the last winner's"));
            }
        }
        Ok(())
    })?;
    println!("  replicas: 4 processes x 16 tasks, 1600 updates, every version one winner");
    Ok(())
}

/// Customers in the refresh-lease test.
const LEASE_CUSTOMERS: usize = 4;

fn lease_id(i: usize) -> CustomerId {
    CustomerId::new(format!("lease-{i}")).unwrap()
}

/// One portal replica: waits for GO, then 16 tasks ask for every customer's access token at
/// once; prints `TOKEN <customer> <sha256 of the token>` per answer.
async fn lease_child(location: &str) {
    let fake_url = std::env::var("TA_FAKE_URL").unwrap();
    let client_id = std::env::var("TA_FAKE_CLIENT").unwrap();
    let store = open(location).await;
    let provider = EntraProvider::new(
        EntraConfig::new(client_id)
            .authority(&fake_url)
            .and_then(|c| c.graph(&fake_url))
            .unwrap()
            .timeout(Duration::from_secs(10)),
    )
    .unwrap();
    let ta = TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .shared_store(store)
        .mailer(CaptureMailer::new())
        .provider(provider)
        .build()
        .unwrap();
    println!("READY");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let ta = ta.clone();
        tasks.spawn(async move {
            let mut lines = Vec::new();
            for i in 0..LEASE_CUSTOMERS {
                let token = ta.access_token(&lease_id(i)).await.unwrap();
                let digest = Sha256::digest(token.expose_secret().as_bytes());
                let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                lines.push(format!("TOKEN lease-{i} {hex}"));
            }
            lines
        });
    }
    while let Some(lines) = tasks.join_next().await {
        for line in lines.unwrap() {
            println!("{line}");
        }
    }
}

fn refresh_lease(rt: &tokio::runtime::Runtime, url: &str, schema: &str) -> Result<(), String> {
    let location = format!("{url}|{schema}");
    let clock = ManualClock::starting_now();
    let fake = rt
        .block_on(FakeEntra::builder().clock(Arc::new(clock.clone())).start())
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let store = open(&location).await;
        let mailer = CaptureMailer::new();
        let ta = TenantAccess::builder()
            .config(Config::new("https://portal.example.com").unwrap())
            .shared_store(Arc::clone(&store))
            .mailer(mailer.clone())
            .provider(fake.provider().unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        for i in 0..LEASE_CUSTOMERS {
            let id = lease_id(i);
            let email = format!("admin@{id}.com");
            let new =
                NewCustomer::new(id.as_str(), format!("{id}.onmicrosoft.com"), &email).unwrap();
            ta.invite(new).await.unwrap().send(&ta).await.unwrap();
            let code = mailer.last_code_to(&email).unwrap();
            let tenant_access::AnyOnboarding::InvitationSent(sent) =
                ta.open_invitation(&code).await.unwrap()
            else {
                panic!("the invitation is not waiting");
            };
            let device = sent
                .claim(&ta)
                .await
                .unwrap()
                .start_device_code(&ta)
                .await
                .unwrap();
            fake.sign_in(device.stage().user_code());
            let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await.unwrap()
            else {
                panic!("the sign-in did not finish");
            };
            token.validate(&ta).await.unwrap();
            // The token, issued an hour ago, is about to expire (in real time, which the
            // replicas run on): inside the refresh-ahead margin, which is at most half its
            // lifetime.
            let mut record = store.load(&id).await.unwrap().unwrap();
            let token = record.customer.token.as_mut().unwrap();
            token.expires_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
            token.obtained_at = token.expires_at - time::Duration::hours(1);
            store.update(&record, None, &[]).await.unwrap();
        }
    });
    let refreshes_before = fake.requests(FakeRequest::Refresh);
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .env(CHILD, "lease")
                .env("TA_LOCATION", &location)
                .env("TA_TAG", "lease")
                .env("TA_FAKE_URL", fake.url().as_str())
                .env("TA_FAKE_CLIENT", fake.client_id())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    // Start all four at once.
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()))
        .collect();
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "READY" {
            return Err(format!("a replica said {line:?} instead of READY"));
        }
    }
    for child in &mut children {
        use std::io::Write as _;
        writeln!(child.stdin.as_mut().unwrap(), "GO").map_err(|e| e.to_string())?;
    }
    let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (child, reader) in children.iter_mut().zip(readers) {
        for line in reader.lines() {
            let line = line.map_err(|e| e.to_string())?;
            if let ["TOKEN", id, digest] = line.split(' ').collect::<Vec<_>>()[..] {
                tokens
                    .entry(id.to_owned())
                    .or_default()
                    .push(digest.to_owned());
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("a replica failed: {status}"));
        }
    }
    let refreshes = fake.requests(FakeRequest::Refresh) - refreshes_before;
    if refreshes != LEASE_CUSTOMERS as u64 {
        return Err(format!(
            "{refreshes} refresh requests for {LEASE_CUSTOMERS} customers (want exactly one each)"
        ));
    }
    for i in 0..LEASE_CUSTOMERS {
        let answers = tokens
            .get(&format!("lease-{i}"))
            .cloned()
            .unwrap_or_default();
        if answers.len() != 64 || answers.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "lease-{i}: {} answers, not 64 identical ones: {answers:?}",
                answers.len()
            ));
        }
    }
    rt.block_on(async {
        let store = open(&location).await;
        for i in 0..LEASE_CUSTOMERS {
            let record = store.load(&lease_id(i)).await.unwrap().unwrap();
            if record.customer.refresh_lease.is_some() {
                return Err(format!("lease-{i}: the refresh lease was left behind"));
            }
        }
        Ok(())
    })?;
    println!(
        "  refresh lease: 4 processes x 16 tasks x {LEASE_CUSTOMERS} customers, \
         {refreshes} refresh requests, one token per customer"
    );
    Ok(())
}
