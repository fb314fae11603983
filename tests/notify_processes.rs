//! The outbox across processes, on PostgreSQL (harness = false; this binary re-executes
//! itself as the dispatcher children). A webhook receiver in the parent (axum on 127.0.0.1)
//! checks every request's HMAC signature and counts the notices it acknowledged.
//!
//! - **exactly once**: 400 notices, four dispatcher processes racing on one database: each
//!   notice is acknowledged exactly once, and all end delivered.
//! - **SIGKILL mid-dispatch**: a dispatcher claims a batch, delivers part of it (the last
//!   notice acknowledged by the receiver but not yet recorded) and is killed with SIGKILL
//!   there; three others deliver the rest, then a dispatcher whose clock is past the claims'
//!   end takes over the killed one's. No notice is lost; none the store had recorded as
//!   delivered is delivered again; only notices the killed process held may reach the
//!   receiver twice.

#[path = "sql_support/mod.rs"]
mod support;

mod notify_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use notify_support::{Receiver, SECRET};
use tenant_access::journey::StageKind;
use tenant_access::model::{Attention, Change, Evidence, Notice, Reason};
use tenant_access::notify::webhook::WebhookNotifier;
use tenant_access::ports::{Clock, DispatchPolicy, OutboxQuery, OutboxState, SystemClock};
use tenant_access::store::{PostgresOptions, PostgresStore, Store};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::conformance::sample_record;
use tenant_access::testing::mock::MockProvider;
use tenant_access::{Config, TenantAccess};
use time::OffsetDateTime;

use support::{drop_schemas, sealer, unique_schema};

const CHILD: &str = "TA_NOTIFY_CHILD";
const NOTICES: usize = 400;
const CLAIM_FOR: Duration = Duration::from_secs(60);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(CHILD).is_ok() {
        rt.block_on(child());
        return;
    }
    let Some(url) = std::env::var("TENANT_ACCESS_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "\n!!! TENANT_ACCESS_PG_URL is not set: exactly_once_across_four_processes and \
             sigkill_mid_dispatch were NOT run !!!\n"
        );
        println!(
            "test exactly_once_across_four_processes ... SKIPPED (TENANT_ACCESS_PG_URL not set)"
        );
        println!("test sigkill_mid_dispatch ... SKIPPED (TENANT_ACCESS_PG_URL not set)");
        println!("\n0 passed, 0 failed, 2 skipped");
        return;
    };
    let mut failed = 0;
    for (name, test) in [
        (
            "exactly_once_across_four_processes",
            exactly_once as fn(&_, &str, &str) -> _,
        ),
        ("sigkill_mid_dispatch", sigkill),
    ] {
        let schema = unique_schema("notify");
        let started = Instant::now();
        let result = test(&rt, &url, &schema);
        rt.block_on(drop_schemas(&url, std::slice::from_ref(&schema)));
        match result {
            Ok(()) => println!("test {name} ... ok ({:.1?})", started.elapsed()),
            Err(e) => {
                println!("test {name} ... FAILED\n{e}");
                failed += 1;
            }
        }
    }
    println!("\n{} passed, {failed} failed", 2 - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

async fn open(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::open(PostgresOptions::new(url).schema(schema), sealer())
        .await
        .unwrap()
}

/// 100 customers, each with `NOTICES / 100` notices on the `webhook` channel, written with
/// their record as the engine writes them. Returns the notice ids.
async fn seed(store: &PostgresStore) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let at = OffsetDateTime::now_utc();
    for c in 0..100 {
        let record = sample_record(&format!("c{c:03}"), StageKind::Validated, c);
        let event = tenant_access::model::AuditEvent {
            customer: record.id().clone(),
            from: None,
            to: StageKind::Validated,
            at,
            actor: tenant_access::model::Actor::System,
            note: None,
        };
        store.create(&record, &event).await.unwrap();
        let current = store.load(record.id()).await.unwrap().unwrap();
        let changes: Vec<(Change, Attention)> = (0..NOTICES / 100)
            .map(|n| {
                (
                    if n % 2 == 0 {
                        Change::Gained
                    } else {
                        Change::Cleared
                    },
                    Attention {
                        reason: Reason::ALL[n % Reason::ALL.len()],
                        since: at,
                        evidence: Evidence::default(),
                    },
                )
            })
            .collect();
        let notices = Notice::for_changes(&current.customer, &changes, &["webhook".into()], at);
        ids.extend(notices.iter().map(|n| n.id.to_string()));
        store.update(&current, None, &notices).await.unwrap();
    }
    ids
}

fn child_command(url: &str, schema: &str, hook: &str, clock_ahead: Duration) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(CHILD, "1")
        .env("TA_NOTIFY_URL", url)
        .env("TA_NOTIFY_SCHEMA", schema)
        .env("TA_NOTIFY_HOOK", hook)
        .env("TA_NOTIFY_AHEAD", clock_ahead.as_secs().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn spawn_child(url: &str, schema: &str, hook: &str, clock_ahead: Duration) -> Child {
    child_command(url, schema, hook, clock_ahead)
        .spawn()
        .unwrap()
}

fn wait(children: Vec<Child>) -> Result<(), String> {
    for mut child in children {
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("a dispatcher exited with {status}"));
        }
    }
    Ok(())
}

async fn outbox(store: &PostgresStore, state: OutboxState) -> BTreeSet<String> {
    store
        .outbox(&OutboxQuery {
            state,
            limit: 10_000,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.notice.id.to_string())
        .collect()
}

fn exactly_once(rt: &tokio::runtime::Runtime, url: &str, schema: &str) -> Result<(), String> {
    rt.block_on(async {
        let store = open(url, schema).await;
        let ids = seed(&store).await;
        let receiver = Receiver::start(Arc::new(SystemClock), Duration::from_millis(2)).await;
        let children: Vec<Child> = (0..4)
            .map(|_| spawn_child(url, schema, &receiver.url, Duration::ZERO))
            .collect();
        tokio::task::spawn_blocking(move || wait(children))
            .await
            .unwrap()?;
        let acknowledged = receiver.acknowledged();
        let got: BTreeSet<String> = acknowledged.keys().cloned().collect();
        if got != ids {
            return Err(format!(
                "the receiver acknowledged {} of the {} notices",
                got.intersection(&ids).count(),
                ids.len()
            ));
        }
        let twice: Vec<_> = acknowledged.iter().filter(|(_, n)| **n > 1).collect();
        if !twice.is_empty() {
            return Err(format!(
                "{} notices were delivered more than once",
                twice.len()
            ));
        }
        if outbox(&store, OutboxState::Delivered).await != ids {
            return Err("the outbox does not record every notice as delivered".into());
        }
        store.close().await;
        Ok(())
    })
}

fn sigkill(rt: &tokio::runtime::Runtime, url: &str, schema: &str) -> Result<(), String> {
    rt.block_on(async {
        let store = open(url, schema).await;
        let ids = seed(&store).await;
        let receiver = Receiver::start(Arc::new(SystemClock), Duration::ZERO).await;
        // The victim claims a batch of 5, delivers 3 (the third acknowledged by the receiver
        // but not recorded) and stops there, holding its claims, until it is killed.
        let mut victim = child_command(url, schema, &receiver.url, Duration::ZERO)
            .env("TA_NOTIFY_HOLD_AFTER", "3")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = victim.stdout.take().unwrap();
        let holding = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line == "HOLDING")
        });
        let held = tokio::time::timeout(Duration::from_secs(60), holding).await;
        if !matches!(held, Ok(Ok(true))) {
            let _ = victim.kill();
            let _ = victim.wait();
            return Err("the victim never held its claims".into());
        }
        let killed = victim.kill();
        victim.wait().map_err(|e| e.to_string())?;
        killed.map_err(|e| e.to_string())?;
        let children: Vec<Child> = (0..3)
            .map(|_| spawn_child(url, schema, &receiver.url, Duration::ZERO))
            .collect();
        tokio::task::spawn_blocking(move || wait(children))
            .await
            .unwrap()?;
        // What the store recorded as delivered before the take-over: never delivered again.
        let recorded = outbox(&store, OutboxState::Delivered).await;
        let stranded: BTreeSet<String> = outbox(&store, OutboxState::Pending).await;
        if stranded.len() != 3 {
            return Err(format!(
                "{} notices stranded (want the 3 the killed dispatcher held)",
                stranded.len()
            ));
        }
        let before = receiver.acknowledged();
        // A dispatcher whose clock is past the claims' end takes the stranded ones over.
        let late = spawn_child(url, schema, &receiver.url, CLAIM_FOR * 2);
        tokio::task::spawn_blocking(move || wait(vec![late]))
            .await
            .unwrap()?;
        let acknowledged = receiver.acknowledged();
        let got: BTreeSet<String> = acknowledged.keys().cloned().collect();
        if got != ids || outbox(&store, OutboxState::Delivered).await != ids {
            return Err(format!(
                "notices lost: acknowledged {} of {}",
                got.intersection(&ids).count(),
                ids.len()
            ));
        }
        let again: BTreeMap<&String, &usize> = acknowledged
            .iter()
            .filter(|(id, n)| recorded.contains(*id) && **n != 1)
            .collect();
        if !again.is_empty() {
            return Err(format!(
                "{} notices recorded as delivered were delivered again",
                again.len()
            ));
        }
        let twice: Vec<&String> = acknowledged
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id)
            .collect();
        if twice.iter().any(|id| !stranded.contains(*id)) || acknowledged.values().any(|n| *n > 2) {
            return Err("a notice the killed dispatcher did not hold was duplicated".into());
        }
        println!(
            "    killed one of four dispatchers holding {} claims ({} of them already \
             acknowledged by the receiver, so delivered twice: at-least-once, the id tells); \
             {} notices recorded delivered before the take-over were never sent again",
            stranded.len(),
            stranded
                .iter()
                .filter(|id| before.contains_key(*id))
                .count(),
            recorded.len()
        );
        store.close().await;
        Ok(())
    })
}

/// The clock of a dispatcher started after a crash: the real time, moved ahead.
#[derive(Debug)]
struct Ahead(Duration);

#[async_trait]
impl Clock for Ahead {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.0
    }

    async fn sleep_until(&self, deadline: OffsetDateTime) {
        SystemClock.sleep_until(deadline - self.0).await;
    }
}

/// A dispatcher process: delivers the `webhook` channel in batches of 5 until a run finds
/// nothing to claim.
async fn child() {
    let url = std::env::var("TA_NOTIFY_URL").unwrap();
    let schema = std::env::var("TA_NOTIFY_SCHEMA").unwrap();
    let hook = std::env::var("TA_NOTIFY_HOOK").unwrap();
    let ahead: u64 = std::env::var("TA_NOTIFY_AHEAD").unwrap().parse().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(Ahead(Duration::from_secs(ahead)));
    let store = open(&url, &schema).await;
    let ta = TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .notify_channels(["webhook"])
                .build()
                .unwrap(),
        )
        .store(store)
        .provider(MockProvider::new())
        .mailer(CaptureMailer::new())
        .clock(Ahead(Duration::from_secs(ahead)))
        .build()
        .unwrap();
    let notifier = WebhookNotifier::new(&hook, SECRET.to_vec())
        .unwrap()
        .clock(clock);
    let policy = DispatchPolicy {
        batch: 5,
        claim_for: CLAIM_FOR,
        ..DispatchPolicy::channel("webhook")
    };
    if let Ok(after) = std::env::var("TA_NOTIFY_HOLD_AFTER") {
        let holding = HoldAfter {
            inner: notifier,
            left: std::sync::atomic::AtomicUsize::new(after.parse().unwrap()),
        };
        ta.dispatch_notices(&holding, &policy).await.unwrap();
        unreachable!("the dispatcher holds until it is killed");
    }
    loop {
        let report = ta.dispatch_notices(&notifier, &policy).await.unwrap();
        if report.claimed == 0 {
            return;
        }
    }
}

/// Delivers through `inner` until `left` notices are delivered, then says `HOLDING` on stdout
/// and never returns: a dispatcher stopped mid-batch, its last delivery acknowledged by the
/// receiver but not recorded.
#[derive(Debug)]
struct HoldAfter {
    inner: WebhookNotifier,
    left: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl tenant_access::ports::Notifier for HoldAfter {
    async fn deliver(&self, notices: &[Notice]) -> Result<(), tenant_access::ports::NotifyError> {
        self.inner.deliver(notices).await?;
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            use std::io::Write as _;
            println!("HOLDING");
            std::io::stdout().flush().unwrap();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}
