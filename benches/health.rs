//! The maintainer's health pass (`TenantAccess::health_pass`) over 100,000 customers on
//! SQLite and (when `TENANT_ACCESS_PG_URL` is set) PostgreSQL:
//!
//! 1. the first pass, which finds about 5% of the customers with changed attention reasons
//!    (a client secret ending within 30 days, an invitation unanswered for 9 days, three
//!    failed verifications in a row) and writes them with their notices (one channel);
//! 2. a steady pass, where nothing changes and nothing is written;
//!
//! each as total time and time per customer; peak heap during each pass at 10,000 and at
//! 100,000 customers (counting global allocator; the peak above the live bytes at the pass's
//! start), whose ratio shows memory stays flat; and, in the same run, two baselines on the same
//! table: a plain sqlx query walking it 500 rows at a time (`customer_id` and `body` only),
//! and a [`Pager`] walk (the store's listing: every record decoded and its secrets opened,
//! nothing assessed), so the pass's cost per customer can be split into the database's, the
//! store's and the assessment's.
//!
//! `TA_BENCH_CUSTOMERS` sets the population (default 100000; CI uses 2000 for a quick run;
//! the small size is a tenth of it). A full run (100,000 customers, both backends) writes
//! `bench-results/health.txt`; any other run writes `target/bench-results/health-quick.txt`.
//! `cargo test --benches` runs a smoke version over 200 customers and writes nothing. Timing
//! is reported, never gated on.
//!
//! Run with: `TENANT_ACCESS_PG_URL=postgres://... cargo bench --all-features --bench health`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use sqlx::{Executor as _, QueryBuilder};
use tenant_access::journey::StageKind;
use tenant_access::model::{
    AppCredential, ClientSecret, Credentials, Failure, Health, Verification, VerificationStatus,
};
use tenant_access::ops::HealthReport;
use tenant_access::seal::{Keyring, Sealer, SealingKey};
use tenant_access::store::{
    Filter, Pager, PostgresOptions, PostgresStore, Record, SqliteStore, Store, codec,
};
use tenant_access::testing::conformance::sample_record;
use tenant_access::testing::mock::MockProvider;
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{Config, Method, TenantAccess};
use time::OffsetDateTime;
use time::macros::datetime;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, LIVE, PEAK};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The engine's clock: fixed, so the mix below is the same on every run.
const NOW: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

/// Rows per bulk INSERT.
const SEED_BATCH: usize = 1000;

/// `cargo bench` passes `--bench`; `cargo test --benches` does not (then: a smoke run).
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn population() -> usize {
    if smoke() {
        return 200;
    }
    std::env::var("TA_BENCH_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

fn id(i: usize) -> String {
    format!("cust-{i:06}")
}

fn sealer() -> Sealer {
    Sealer::new(Keyring::new(SealingKey::new("bench", [9; 32]).unwrap()))
}

/// What customer `i` is, out of every 100.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 90: validated by device code, nothing to report.
    Healthy,
    /// 3: invitation sent two days ago (not yet unanswered).
    RecentInvitation,
    /// 1: revoked.
    Revoked,
    /// 1: validated by app registration, its secret ending in 200 days.
    AppSecretFine,
    /// 2: validated by app registration, its secret ending in 10 days: `CredentialExpiring`.
    AppSecretExpiring,
    /// 2: invitation sent nine days ago: `InvitationUnanswered`.
    OldInvitation,
    /// 1: validated, three failed verifications in a row: `VerificationFailing`.
    Failing,
}

fn kind(i: usize) -> Kind {
    match i % 100 {
        0..90 => Kind::Healthy,
        90..93 => Kind::RecentInvitation,
        93 => Kind::Revoked,
        94 => Kind::AppSecretFine,
        95 | 96 => Kind::AppSecretExpiring,
        97 | 98 => Kind::OldInvitation,
        _ => Kind::Failing,
    }
}

/// Customers among `from..to` whose reasons the first pass changes.
fn changing(from: usize, to: usize) -> usize {
    (from..to)
        .filter(|&i| {
            matches!(
                kind(i),
                Kind::AppSecretExpiring | Kind::OldInvitation | Kind::Failing
            )
        })
        .count()
}

/// Customer `i`: the conformance kit's sample record in the right stage, with what does not
/// fit the stage taken out and the facts its kind is about set.
fn record(i: usize) -> Record {
    let k = kind(i);
    let stage = match k {
        Kind::RecentInvitation | Kind::OldInvitation => StageKind::InvitationSent,
        Kind::Revoked => StageKind::Revoked,
        _ => StageKind::Validated,
    };
    let mut r = sample_record(&id(i), stage, i as u64);
    r.switch = None;
    let c = &mut r.customer;
    c.health = Health::default();
    c.app_credential_expiry = None;
    c.refresh_lease = None;
    c.last_error = None;
    if stage == StageKind::InvitationSent {
        let sent = NOW - time::Duration::days(if k == Kind::OldInvitation { 9 } else { 2 });
        c.token = None;
        c.tenant_info = None;
        c.device_authenticated_at = None;
        c.last_verification = None;
        let invitation = c.invitation.as_mut().unwrap();
        invitation.opened_at = None;
        invitation.issued_at = sent;
        invitation.expires_at = sent + time::Duration::days(14);
        invitation.delivery.as_mut().unwrap().sent_at = sent;
    }
    match k {
        Kind::AppSecretFine | Kind::AppSecretExpiring => {
            let days = if k == Kind::AppSecretExpiring {
                10
            } else {
                200
            };
            c.method = Method::AppRegistration;
            c.credentials = Some(Credentials::AppRegistration {
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                credential: AppCredential::secret_expiring(
                    ClientSecret::new(format!("bench-client-secret-{i}")),
                    NOW + time::Duration::days(days),
                ),
            });
        }
        Kind::Failing => {
            let at = NOW - time::Duration::hours(1);
            c.health.failures = 3;
            c.health.last_failure = Some(Failure {
                at,
                codes: vec![50076],
                reason: None,
            });
            c.last_verification = Some(Verification {
                at,
                status: VerificationStatus::Failed,
            });
        }
        _ => {}
    }
    r
}

/// Bulk-loads customers `from..to` with the public codec, `SEED_BATCH` rows per statement.
macro_rules! populate_fn {
    ($name:ident, $db:ty) => {
        async fn $name(pool: &sqlx::Pool<$db>, from: usize, to: usize) {
            let sealer = sealer();
            let mut i = from;
            while i < to {
                let end = (i + SEED_BATCH).min(to);
                let rows: Vec<_> = (i..end)
                    .map(|n| codec::encode(&record(n), &sealer).unwrap())
                    .collect();
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO tenant_access_customers (customer_id, version, stage, method, \
                     verification_status, last_verified_at, token_expires_at, invitation_hash, \
                     switch_invitation_hash, attention, key_id, body, secrets) ",
                );
                qb.push_values(rows, |mut b, e| {
                    b.push_bind(e.customer_id)
                        .push_bind(1i64)
                        .push_bind(e.stage)
                        .push_bind(e.method)
                        .push_bind(e.verification_status)
                        .push_bind(e.last_verified_at)
                        .push_bind(e.token_expires_at)
                        .push_bind(e.invitation_hash)
                        .push_bind(e.switch_invitation_hash)
                        .push_bind(e.attention)
                        .push_bind(e.key_id)
                        .push_bind(e.body)
                        .push_bind(e.secrets);
                });
                qb.build().execute(pool).await.unwrap();
                i = end;
            }
        }
    };
}
populate_fn!(populate_sqlite, sqlx::Sqlite);
populate_fn!(populate_pg, sqlx::Postgres);

/// The baseline: the table walked with a plain query, 500 rows a page, `customer_id` and
/// `body` read as strings (no decoding, no secrets).
const BASELINE: &str = "SELECT customer_id, body FROM tenant_access_customers \
                        WHERE customer_id > $1 ORDER BY customer_id LIMIT 500";

macro_rules! walk_fn {
    ($name:ident, $db:ty) => {
        async fn $name(pool: &sqlx::Pool<$db>) -> usize {
            let mut after = String::new();
            let mut n = 0;
            loop {
                let rows: Vec<(String, String)> = sqlx::query_as(BASELINE)
                    .bind(&after)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                let Some((last, _)) = rows.last() else {
                    return n;
                };
                n += rows
                    .iter()
                    .map(|(_, body)| usize::from(!body.is_empty()))
                    .sum::<usize>();
                after = last.clone();
            }
        }
    };
}
walk_fn!(walk_sqlite, sqlx::Sqlite);
walk_fn!(walk_pg, sqlx::Postgres);

enum Pools {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Pools {
    async fn populate(&self, from: usize, to: usize) {
        match self {
            Pools::Sqlite(p) => populate_sqlite(p, from, to).await,
            Pools::Pg(p) => populate_pg(p, from, to).await,
        }
    }

    /// Empties the customers and the outbox (the pass writes no audit events).
    async fn clear(&self) {
        let sql = "DELETE FROM tenant_access_outbox; DELETE FROM tenant_access_customers;";
        match self {
            Pools::Sqlite(p) => p.execute(sql).await.map(|_| ()),
            Pools::Pg(p) => p.execute(sql).await.map(|_| ()),
        }
        .unwrap();
    }

    async fn outbox_len(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM tenant_access_outbox";
        match self {
            Pools::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Pools::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        }
        .unwrap()
    }

    async fn baseline_walk(&self) -> usize {
        match self {
            Pools::Sqlite(p) => walk_sqlite(p).await,
            Pools::Pg(p) => walk_pg(p).await,
        }
    }
}

fn engine(store: impl Store + 'static) -> TenantAccess {
    TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .msp_name("Northwind IT")
                .notify_channels(["webhook"])
                .build()
                .unwrap(),
        )
        .store(store)
        .mailer(CaptureMailer::new())
        .provider(MockProvider::new())
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap()
}

/// One health pass: its report, how long it took and the peak heap above the live bytes at
/// its start.
async fn pass(ta: &TenantAccess) -> (HealthReport, Duration, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let report = ta.health_pass().await.unwrap();
    let elapsed = t.elapsed();
    (
        report,
        elapsed,
        PEAK.load(Ordering::Relaxed).saturating_sub(base),
    )
}

/// The store's own walk: every record listed with [`Pager`] (decoded, secrets opened).
async fn pager_walk(store: &dyn Store) -> (usize, Duration) {
    let t = Instant::now();
    let mut pager = Pager::new(store, Filter::all(), 500);
    let mut n = 0;
    while let Some(page) = pager.next_page().await.unwrap() {
        n += page.len();
    }
    (n, t.elapsed())
}

/// The figures at one size.
struct Size {
    n: usize,
    first: (HealthReport, Duration, usize),
    steady: (HealthReport, Duration, usize),
    pager: Duration,
    baseline: Duration,
    outbox: i64,
}

impl Size {
    fn peak(&self) -> usize {
        self.first.2.max(self.steady.2)
    }
}

/// Seeds `from..to` (the store holding `0..from` already), then runs the first pass, the
/// steady pass and the two walks.
async fn measure(ta: &TenantAccess, store: &dyn Store, pools: &Pools, n: usize) -> Size {
    let first = pass(ta).await;
    assert_eq!(first.0.assessed, n);
    assert_eq!(first.0.changed, changing(0, n), "the first pass's changes");
    assert_eq!(
        first.0.notices, first.0.changed,
        "one notice per change (one channel)"
    );
    let outbox = pools.outbox_len().await;
    assert_eq!(outbox, first.0.notices as i64);
    let steady = pass(ta).await;
    assert_eq!(steady.0.assessed, n);
    assert_eq!(steady.0.changed, 0, "the steady pass changes nothing");
    assert_eq!(steady.0.needing_attention, first.0.changed);
    let (walked, pager) = pager_walk(store).await;
    assert_eq!(walked, n);
    let t = Instant::now();
    assert_eq!(pools.baseline_walk().await, n);
    let baseline = t.elapsed();
    Size {
        n,
        first,
        steady,
        pager,
        baseline,
        outbox,
    }
}

fn per(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n.max(1) as f64
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn report(out: &mut String, name: &str, seeded: Duration, small: &Size, big: &Size) {
    let _ = writeln!(
        out,
        "{name}: seeded {} customers in {seeded:.1?} (codec + bulk INSERT, {SEED_BATCH} a statement)",
        big.n
    );
    for s in [small, big] {
        let (f, st) = (&s.first, &s.steady);
        let _ = writeln!(
            out,
            "{name} n={:<7} first pass  {:>8.2?} = {:>7.0} ns/customer  ({} changed, {} notices in the outbox, {} needing attention)",
            s.n,
            f.1,
            per(f.1, s.n),
            f.0.changed,
            s.outbox,
            f.0.needing_attention,
        );
        let _ = writeln!(
            out,
            "{name} n={:<7} steady pass {:>8.2?} = {:>7.0} ns/customer  (nothing written; the first pass's extra time is {:.2} ms per customer written)",
            s.n,
            st.1,
            per(st.1, s.n),
            f.1.saturating_sub(st.1).as_secs_f64() * 1e3 / f.0.changed.max(1) as f64,
        );
        let _ = writeln!(
            out,
            "{name} n={:<7} baseline    {:>8.2?} = {:>7.0} ns/customer  (plain sqlx: customer_id, body, 500 a page)   steady/baseline = {:.1}x   first/baseline = {:.1}x",
            s.n,
            s.baseline,
            per(s.baseline, s.n),
            per(st.1, s.n) / per(s.baseline, s.n),
            per(f.1, s.n) / per(s.baseline, s.n),
        );
        let _ = writeln!(
            out,
            "{name} n={:<7} Pager walk  {:>8.2?} = {:>7.0} ns/customer  (the store's listing alone: decode + open secrets)   steady/Pager = {:.2}x",
            s.n,
            s.pager,
            per(s.pager, s.n),
            per(st.1, s.n) / per(s.pager, s.n),
        );
        let _ = writeln!(
            out,
            "{name} n={:<7} peak heap   first pass +{:.2} MiB, steady pass +{:.2} MiB",
            s.n,
            mib(f.2),
            mib(st.2),
        );
    }
    let ratio = big.peak() as f64 / small.peak().max(1) as f64;
    let _ = writeln!(
        out,
        "{name}: memory flat: peak at {} / peak at {} = {ratio:.2} (target ≤ 1.5){}",
        label(big.n),
        label(small.n),
        if small.n < 2 * 500 {
            "   (not judged: see below)"
        } else if ratio <= 1.5 {
            ""
        } else {
            "   NOT FLAT"
        },
    );
    if small.n < 2 * 500 {
        let _ = writeln!(
            out,
            "{name}: (at {} customers the pass reads less than two full pages of 500, so its peak is \
             smaller by construction: the ratio means something from 1,000 customers on)",
            small.n
        );
    }
    let _ = writeln!(out);
}

fn label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn bench_health(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = population();
    let small = (n / 10).max(1);
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "tenant-access health pass benchmark ({n} customers, and {small}; {} cores)\n\
         Mix per 100 customers: 90 validated (device code), 3 invited 2 days ago, 1 revoked, 1 app \
         registration with a secret ending in 200 days; changed by the first pass: 2 app \
         registrations with a secret ending in 10 days, 2 invitations sent 9 days ago, 1 validated \
         with 3 failed verifications. One notification channel (webhook). Clock fixed at {NOW}.\n",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    let dir = std::env::temp_dir().join(format!("ta-bench-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backends: Vec<(&str, TenantAccess, Box<dyn Store>, Pools)> = Vec::new();

    // SQLite
    let path = dir.join("health.sqlite");
    let (store, pool) = rt.block_on(async {
        let store = SqliteStore::open(&path, sealer()).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, pool)
    });
    backends.push((
        "sqlite",
        engine(store.clone()),
        Box::new(store),
        Pools::Sqlite(pool),
    ));

    // PostgreSQL
    let pg_schema = format!("ta_bench_health_{}", std::process::id());
    let pg_url = std::env::var("TENANT_ACCESS_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match &pg_url {
        Some(url) => {
            let (store, pool) = rt.block_on(async {
                let store = PostgresStore::open(
                    PostgresOptions::new(url).schema(pg_schema.clone()),
                    sealer(),
                )
                .await
                .unwrap();
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .after_connect({
                        let schema = pg_schema.clone();
                        move |conn, _| {
                            let schema = schema.clone();
                            Box::pin(async move {
                                conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                                    .await
                                    .map(|_| ())
                            })
                        }
                    })
                    .connect(url)
                    .await
                    .unwrap();
                (store, pool)
            });
            backends.push((
                "postgres",
                engine(store.clone()),
                Box::new(store),
                Pools::Pg(pool),
            ));
        }
        None => {
            eprintln!(
                "\n!!! TENANT_ACCESS_PG_URL is not set: PostgreSQL was NOT benchmarked !!!\n"
            );
            let _ = writeln!(
                summary,
                "postgres: NOT run (TENANT_ACCESS_PG_URL not set)\n"
            );
        }
    }

    for (name, ta, store, pools) in &backends {
        rt.block_on(async {
            // The small size first, then the store emptied and seeded afresh with all N, so
            // the big size's first pass meets the same mix from the start.
            pools.populate(0, small).await;
            let at_small = measure(ta, &**store, pools, small).await;
            pools.clear().await;
            let t = Instant::now();
            pools.populate(0, n).await;
            let seeded = t.elapsed();
            let at_n = measure(ta, &**store, pools, n).await;
            report(&mut summary, name, seeded, &at_small, &at_n);
        });
    }

    // Criterion's own statistics for the steady pass at N (one pass per sample).
    for (name, ta, _, _) in &backends {
        let mut group = c.benchmark_group(format!("health/{name}"));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(100));
        group.measurement_time(Duration::from_secs(1));
        group.bench_function(format!("steady_pass_{}", label(n)), |b| {
            b.to_async(&rt).iter(|| async {
                let report = ta.health_pass().await.unwrap();
                assert_eq!(report.changed, 0);
                report
            })
        });
        group.finish();
    }

    if let Some(url) = &pg_url {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            pool.execute(format!("DROP SCHEMA IF EXISTS \"{pg_schema}\" CASCADE").as_str())
                .await
                .unwrap();
        });
    }
    drop(backends);
    std::fs::remove_dir_all(&dir).ok();
    if smoke() {
        println!("\n{summary}");
        return;
    }
    // Full runs update the committed summary; quick runs write under target/.
    let _ = writeln!(
        summary,
        "criterion's statistics for the steady pass over {n} customers (one pass per sample) are in \
         target/criterion/health/ and printed above.\n\
         Peak heap counts this process's Rust allocations (the engine, sqlx, the codec); SQLite's \
         own page cache is allocated by its C library outside the counter, PostgreSQL's in the \
         server. SQLite runs WAL with synchronous=FULL (an fsync per write); PostgreSQL local, \
         default fsync. Every record read opens its sealed secrets (XChaCha20-Poly1305) and its \
         JSON; each changed customer is one compare-and-swap write with its notice, in one \
         transaction."
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (out, file) = if n >= 100_000 && pg_url.is_some() {
        (root.join("bench-results"), "health.txt")
    } else {
        (
            root.join("target").join("bench-results"),
            "health-quick.txt",
        )
    };
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(file), &summary).unwrap();
    println!("\n{summary}");
}

criterion_group!(benches, bench_health);
criterion_main!(benches);
