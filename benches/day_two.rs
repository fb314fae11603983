//! Day Two figures:
//!
//! 1. `verify_all` of 10,000 validated customers against FakeEntra on loopback at
//!    concurrency 64, against a plain reqwest loop making the same HTTP requests (one Graph
//!    `GET /v1.0/organization` with the customer's bearer token, body read) with the same
//!    client settings at the same concurrency, in the same process. The two run alternately
//!    (15 rounds each); the medians of their throughputs are compared. Target: ours at least
//!    0.95 of the plain loop's. On loopback with both sides on 2 cores this is CPU-bound, so
//!    it compares verify_all's own work per customer (tenant check, response parsing, the
//!    store write) with a loop that does none; part 1b runs the same comparison with 20 ms
//!    of latency on every answer (`FakeEntraBuilder::latency`), where it compares how well
//!    each keeps 64 requests in flight. Both are reported; the target is judged on part 1.
//!    Part 1c measures verify_all's own cost per customer with an instant in-process provider
//!    on one thread (no HTTP): the floor under part 1's gap, reported, not judged.
//! 2. `access_token` with a valid cached token for 1,000, 10,000 and 100,000 customers, in two
//!    access patterns (ids held by the caller as clones of the stored ids, a pseudo-random
//!    pick per call):
//!    - `access_token_cached`: the portal's active customers, 1,000 of them spread evenly over
//!      the 1,000 / 10,000 / 100,000 stored (a page's Graph calls, a job's batch): the same
//!      amount of work on a growing cache, so what grows is the engine's own cost. Target:
//!      median under 1 µs, slowest size at most 2x the fastest.
//!    - `access_token_cold`: every call a random customer among all of them, the worst case: at
//!      100,000 customers each call finds the cache entry and the token's reference count
//!      outside the CPU cache, so the figure is the machine's memory latency (about two DRAM
//!      and TLB misses a call) as much as the engine's. Reported beside the target, judged
//!      only on the 1 µs bound.
//! 3. Memory with 100,000 validated customers in the in-memory store, tokens of realistic
//!    Entra size (~1.5 KB access, ~1 KB refresh), every token also in the engine's cache.
//!    Reported as bytes per customer.
//!
//! Part 1 runs in a process of its own (the bench starts itself again), so that parts 1 and 2
//! each start on a fresh heap.
//!
//! Results go to `benches/results/day_two.json` (`TA_BENCH_QUICK=1`: to
//! `benches/results/day_two.quick.json`).
//!
//! Run with: `cargo bench --all-features --bench day_two` (the issue's full spec).
//! `TA_BENCH_QUICK=1` shrinks it for CI (2,000 customers and 3 rounds for part 1, short
//! criterion samples for part 2; about 20 s). Every run writes its verdicts; it exits 1 on a
//! missed target only with `TA_BENCH_STRICT=1`: both figures move a lot with whatever else the
//! 2-core machine is doing (part 1 is CPU-bound on loopback, part 2's 100,000-customer figure
//! is memory latency), so gating on them is a choice, not the default. `cargo test --benches` runs a tiny smoke version and writes nothing;
//! `TA_BENCH_ONLY=verify` (or `access_token`) runs one part alone, for profiling, and writes
//! nothing; `TA_BENCH_ONLY=loopback` runs parts 1 and 1c without 1b.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use criterion::{BenchmarkId, Criterion};
use futures_util::{FutureExt, StreamExt};
use std::time::Duration;
use tenant_access::journey::{StageKind, StageType, Validated};
use tenant_access::model::{AccessToken, RefreshToken};
use tenant_access::model::{Actor, AuditEvent};
use tenant_access::model::{Customer, TenantInfo, TokenSet, Verification, VerificationStatus};
use tenant_access::ports::SystemClock;
use tenant_access::store::{Filter, MemoryStore, Record};
use tenant_access::testing::CaptureMailer;
use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest};
use tenant_access::testing::mock::MockProvider;
use tenant_access::{Config, CustomerId, Method, NewCustomer, TenantAccess};

use time::OffsetDateTime;

/// Counts live heap bytes, to measure memory per customer without an external tool. Only
/// while [`TRACKING`] is on (parts 2 and 3): the counters are shared atomics, and on part 1 they
/// would tax every allocation with a contended cache line (the more a contender allocates,
/// the more it pays), which is the instrument, not the code under test.
struct Counting;

static TRACKING: AtomicBool = AtomicBool::new(false);
/// Signed: a block allocated before tracking began may be freed during it.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && TRACKING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if TRACKING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Part 2: the customers a portal is serving at the moment.
const ACTIVE: usize = 1_000;
const TARGET_NS: f64 = 1_000.0;
/// Part 1: verify_all's throughput must be at least this share of the plain loop's.
const TARGET_RATIO: f64 = 0.95;
const CONCURRENCY: usize = 64;
/// Part 1b: a Graph-like delay on every FakeEntra answer.
const GRAPH_LATENCY: StdDuration = StdDuration::from_millis(20);

/// How big this run is: the issue's spec, the CI's quick run, or `cargo test --benches`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Full,
    Quick,
    Smoke,
}

impl Mode {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; `cargo test --benches` does not.
        if !std::env::args().any(|a| a == "--bench") {
            Mode::Smoke
        } else if std::env::var("TA_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Mode::Quick
        } else {
            Mode::Full
        }
    }

    /// Customers verified per run, and alternating rounds of (ours, plain loop).
    fn verify_size(self) -> (usize, usize) {
        match self {
            Mode::Full => (10_000, 15),
            Mode::Quick => (2_000, 3),
            Mode::Smoke => (200, 1),
        }
    }
}

fn strict() -> bool {
    std::env::var("TA_BENCH_STRICT").is_ok_and(|v| v == "1")
}

fn validated_record(
    name: &str,
    tenant: &str,
    now: OffsetDateTime,
    token: TokenSet,
    tenant_id: &str,
) -> (Record, AuditEvent) {
    let new = NewCustomer::new(name, tenant, format!("admin@{tenant}")).unwrap();
    let mut customer = Customer::new(new, Method::DeviceCode, now);
    customer.token = Some(token);
    customer.tenant_info = Some(TenantInfo {
        id: tenant_id.into(),
        display_name: name.into(),
        domains: vec![tenant.into()],
    });
    customer.device_authenticated_at = Some(now);
    customer.last_verification = Some(Verification {
        at: now,
        status: VerificationStatus::Ok,
    });
    let record = Record::new(customer, Validated { validated_at: now }.into_stage());
    let event = AuditEvent {
        customer: record.id().clone(),
        from: None,
        to: StageKind::Validated,
        at: now,
        actor: Actor::System,
        note: None,
    };
    (record, event)
}

// ---------------------------------------------------------------------------------------------
// Part 1: verify_all against FakeEntra, and the plain reqwest loop.

#[derive(serde::Serialize, serde::Deserialize)]
struct VerifyFigures {
    customers: usize,
    rounds: usize,
    ours_per_s: Vec<f64>,
    plain_per_s: Vec<f64>,
    ours_cpu_us: Vec<f64>,
    plain_cpu_us: Vec<f64>,
    requests_per_customer: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// `n` validated customers, each with a token FakeEntra issued for its own tenant.
async fn seed_fake(fake: &FakeEntra, ta: &TenantAccess, n: usize) -> Vec<AccessToken> {
    let now = ta.clock().now();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("customer-{i:06}");
        let tenant = format!("{name}.onmicrosoft.com");
        let issued = fake.issue_signed_in_tokens(&tenant).unwrap();
        let token = TokenSet {
            access_token: issued.access_token.clone(),
            refresh_token: issued.refresh_token,
            expires_at: now + issued.expires_in,
            obtained_at: now,
            scope: issued.scope,
        };
        let (record, event) =
            validated_record(&name, &tenant, now, token, &fake.tenant_id(&tenant));
        ta.ports().store().create(&record, &event).await.unwrap();
        tokens.push(issued.access_token);
    }
    tokens
}

/// The process's CPU time so far (user + system): the sum of its live threads' run times in
/// nanoseconds, from `/proc/self/task/*/schedstat` (Linux; zero elsewhere). Exact, where
/// `/proc/self/stat` counts 10 ms ticks; the runtime's threads live through a whole run.
fn cpu_time() -> StdDuration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return StdDuration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    StdDuration::from_nanos(nanos)
}

/// One timed run: throughput, and the whole process's CPU time per customer (client, server
/// and runtime: on loopback with 2 cores this is what throughput is bound by).
#[derive(Clone, Copy)]
struct Run {
    per_s: f64,
    cpu_us: f64,
}

impl Run {
    fn new(n: usize, elapsed: StdDuration, cpu: StdDuration) -> Self {
        Run {
            per_s: n as f64 / elapsed.as_secs_f64(),
            cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        }
    }
}

/// One `verify_all` run over every customer.
async fn run_ours(ta: &TenantAccess, n: usize) -> Run {
    let cpu = cpu_time();
    let started = Instant::now();
    verify_everyone(ta, n).await;
    Run::new(n, started.elapsed(), cpu_time() - cpu)
}

/// Drains a `verify_all` over every customer: all `n` of them, every one verified.
async fn verify_everyone(ta: &TenantAccess, n: usize) {
    let mut run = std::pin::pin!(ta.verify_all(Filter::all(), CONCURRENCY));
    let mut ok = 0;
    while let Some(outcome) = run.next().await {
        let outcome = outcome.unwrap();
        if let Err(e) = &outcome.result {
            panic!("{}: {e}", outcome.customer);
        }
        ok += 1;
    }
    assert_eq!(ok, n);
}

/// What a portal would write by hand: the same GET per customer, same client settings
/// (no redirects, the same timeout and user agent), the body read, at the same concurrency.
async fn run_plain(client: &reqwest::Client, url: &url::Url, tokens: &[AccessToken]) -> Run {
    let cpu = cpu_time();
    let started = Instant::now();
    let ok = futures_util::stream::iter(tokens.iter().cloned())
        .map(|token| async move {
            let response = client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap().len()
        })
        .buffer_unordered(CONCURRENCY)
        .fold(0usize, |n, len| async move { n + usize::from(len > 0) })
        .await;
    let elapsed = started.elapsed();
    assert_eq!(ok, tokens.len());
    Run::new(ok, elapsed, cpu_time() - cpu)
}

/// Part 1 (or 1b with `latency`): the figures, the two median throughputs and their ratio,
/// printed.
fn compare(mode: Mode, latency: StdDuration) -> VerifyFigures {
    let figures = verify_all_vs_plain(mode, latency);
    let (ours, plain, ratio) = figures.medians();
    let paired = paired_ratios(&figures);
    println!(
        "verify_all with {latency:?} per answer, {} customers at concurrency {CONCURRENCY}: median {ours:.0}/s, plain loop {plain:.0}/s, ratio {ratio:.3} (target >= {TARGET_RATIO}, judged without latency); round by round {:.3} to {:.3}, median {:.3}",
        figures.customers,
        paired[0],
        paired[paired.len() - 1],
        median(&paired)
    );
    figures
}

impl VerifyFigures {
    /// The median throughputs (ours, the plain loop's) and their ratio.
    fn medians(&self) -> (f64, f64, f64) {
        let ours = median(&self.ours_per_s);
        let plain = median(&self.plain_per_s);
        (ours, plain, ours / plain)
    }
}

/// Part 1's figures: verify_all against the plain loop without and with latency (1, 1b), and
/// its own cost per customer (1c).
#[derive(serde::Serialize, serde::Deserialize)]
struct Part1 {
    verify: VerifyFigures,
    own_cost_ns: f64,
    far: Option<VerifyFigures>,
}

/// Runs part 1 here; 1b only `with_latency`.
fn part1(rt: &tokio::runtime::Runtime, mode: Mode, with_latency: bool) -> Part1 {
    let verify = compare(mode, StdDuration::ZERO);
    let own_cost_ns = verify_all_own_cost(rt, mode);
    // The same comparison with Graph-like latency on every answer: the question here is
    // whether verify_all keeps 64 requests in flight as well as the plain loop (no lock, no
    // store write, no pause check that serialises the run), not whose CPU work is smaller.
    let far = with_latency.then(|| compare(mode, GRAPH_LATENCY));
    Part1 {
        verify,
        own_cost_ns,
        far,
    }
}

/// Where a child process asked to run part 1 writes its figures.
const PART1_OUT: &str = "TA_BENCH_PART1_OUT";

/// Runs part 1 in a process of its own, so that it starts on a fresh heap: parts 2 and 3
/// allocate and free 111,000 customers, and the heap they leave behind would scatter part 1's
/// records, taxing only the side that reads them (and the other way round). Each part
/// measures its own subject, not another's debris.
fn part1_in_own_process() -> Part1 {
    let out = std::env::temp_dir().join(format!("ta-bench-part1-{}.json", std::process::id()));
    let status = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .arg("--bench")
        .env(PART1_OUT, &out)
        .status()
        .expect("run part 1");
    assert!(status.success(), "part 1 failed: {status}");
    let text = std::fs::read_to_string(&out).expect("part 1's figures");
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).expect("part 1's figures")
}

/// Each round's ratio (ours over the plain loop run next to it), sorted: the two of a round
/// share whatever else the machine was doing then. Reported beside the judged ratio of the
/// medians, to show the spread.
fn paired_ratios(figures: &VerifyFigures) -> Vec<f64> {
    let mut ratios: Vec<f64> = figures
        .ours_per_s
        .iter()
        .zip(&figures.plain_per_s)
        .map(|(ours, plain)| ours / plain)
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

fn verify_all_vs_plain(mode: Mode, latency: StdDuration) -> VerifyFigures {
    let (n, rounds) = mode.verify_size();
    // A portal's runtime: multi-threaded, both cores. FakeEntra serves on the same runtime,
    // so both contenders share the machine with the same server.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Driven from a task on the runtime, as a portal's handler or background job would (not
    // from a third thread competing with the two workers).
    let run = rt.spawn(async move {
        let fake = FakeEntra::builder()
            .clock(Arc::new(SystemClock))
            .latency(latency)
            .start()
            .await
            .unwrap();
        let ta = TenantAccess::builder()
            .config(Config::new("https://portal.example.com").unwrap())
            .store(MemoryStore::new())
            .mailer(CaptureMailer::new())
            .provider(fake.provider().unwrap())
            .build()
            .unwrap();
        let tokens = seed_fake(&fake, &ta, n).await;
        // The settings EntraProvider's client uses (FakeEntra's config: 10 s timeout).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(10))
            .user_agent(concat!("tenant-access/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap();
        let mut url = fake.url().clone();
        url.set_path("/v1.0/organization");

        // Warm both (connections, allocator) and check they send the same requests.
        let before = fake.requests(FakeRequest::Organization);
        run_ours(&ta, n).await;
        let ours_requests = fake.requests(FakeRequest::Organization) - before;
        let before = fake.requests(FakeRequest::Organization);
        run_plain(&client, &url, &tokens).await;
        let plain_requests = fake.requests(FakeRequest::Organization) - before;
        assert_eq!(
            ours_requests, plain_requests,
            "verify_all and the plain loop must make the same requests"
        );
        for kind in [FakeRequest::Refresh, FakeRequest::DevicePoll] {
            assert_eq!(fake.requests(kind), 0, "verify makes no {kind:?} request");
        }

        let mut ours = Vec::new();
        let mut plain = Vec::new();
        for round in 0..rounds {
            // Alternate who goes first, so neither always runs on a warmer machine.
            if round % 2 == 0 {
                ours.push(run_ours(&ta, n).await);
                plain.push(run_plain(&client, &url, &tokens).await);
            } else {
                plain.push(run_plain(&client, &url, &tokens).await);
                ours.push(run_ours(&ta, n).await);
            }
            let (o, p): (Run, Run) = (ours[round], plain[round]);
            println!(
                "verify_all ({latency:?} latency) round {}: ours {:.0}/s ({:.1} µs CPU each), plain loop {:.0}/s ({:.1} µs CPU each)",
                round + 1,
                o.per_s,
                o.cpu_us,
                p.per_s,
                p.cpu_us
            );
        }
        VerifyFigures {
            customers: n,
            rounds,
            ours_per_s: ours.iter().map(|r| r.per_s).collect(),
            plain_per_s: plain.iter().map(|r| r.per_s).collect(),
            ours_cpu_us: ours.iter().map(|r| r.cpu_us).collect(),
            plain_cpu_us: plain.iter().map(|r| r.cpu_us).collect(),
            requests_per_customer: ours_requests as f64 / n as f64,
        }
    });
    rt.block_on(run).expect("the verify_all bench task")
}

/// Part 1c: verify_all's own work per customer with nothing else in the way: an instant
/// in-process provider ([`MockProvider`]), the memory store, one thread, the same customers
/// and concurrency as part 1. Median nanoseconds per customer over the rounds: the floor
/// under part 1's gap, free of the network stack's noise.
fn verify_all_own_cost(rt: &tokio::runtime::Runtime, mode: Mode) -> f64 {
    let (n, rounds) = mode.verify_size();
    let ta = engine(MemoryStore::new());
    populate(rt, &ta, n);
    let mut per_customer: Vec<f64> = (0..=rounds)
        .map(|_| {
            let started = Instant::now();
            rt.block_on(verify_everyone(&ta, n));
            started.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    // The first round records the mock's organization on every customer: a warm-up.
    per_customer.remove(0);
    let ns = median(&per_customer);
    println!(
        "verify_all's own cost (instant provider, one thread), {n} customers at concurrency {CONCURRENCY}: median {ns:.0} ns per customer"
    );
    ns
}

// ---------------------------------------------------------------------------------------------
// Parts 2 and 3: access_token on a warm cache, and memory per customer.

/// The engine a portal runs: the system clock (read once per call), the memory store.
fn engine(store: MemoryStore) -> TenantAccess {
    TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(store)
        .mailer(CaptureMailer::new())
        .provider(MockProvider::new())
        .build()
        .unwrap()
}

/// `n` validated customers stored directly, with Entra-sized tokens.
fn populate(rt: &tokio::runtime::Runtime, ta: &TenantAccess, n: usize) -> Vec<CustomerId> {
    let now = ta.clock().now();
    let access = "a".repeat(1500);
    let refresh = "r".repeat(1000);
    let mut ids = Vec::with_capacity(n);
    rt.block_on(async {
        for i in 0..n {
            let name = format!("customer-{i:07}");
            let token = TokenSet {
                access_token: AccessToken::new(format!("{access}{i}")),
                refresh_token: Some(RefreshToken::new(format!("{refresh}{i}"))),
                expires_at: now + Duration::from_secs(3600),
                obtained_at: now,
                scope: Some("https://graph.microsoft.com/.default offline_access".into()),
            };
            let tenant = format!("{name}.onmicrosoft.com");
            let (record, event) = validated_record(
                &name,
                &tenant,
                now,
                token,
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            );
            ta.ports().store().create(&record, &event).await.unwrap();
            ids.push(record.id().clone());
        }
        // Warm the engine's cache: the first call per customer reads the store.
        for id in &ids {
            ta.access_token(id).await.unwrap();
        }
    });
    ids
}

/// xorshift64*: a cheap pseudo-random customer per call.
struct Picker(u64);

impl Picker {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((u128::from(x) * n as u128) >> 64) as usize
    }
}

/// Parts 2 and 3: `access_token` over 1,000 / 10,000 / 100,000 customers (criterion), and the
/// heap bytes per customer at 100,000. Returns (bytes per customer, the heap's peak growth
/// over these parts).
fn access_token_parts(
    rt: &tokio::runtime::Runtime,
    criterion: &mut Criterion,
    mode: Mode,
) -> (f64, usize) {
    // Counted from here, and only here (see `Counting`).
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    TRACKING.store(true, Ordering::Relaxed);
    let mut bytes_per_customer = 0.0;
    let mut cases = Vec::new();
    for n in SIZES {
        let n = if mode == Mode::Smoke { n / 100 } else { n };
        let before = LIVE.load(Ordering::Relaxed);
        let ta = engine(MemoryStore::new());
        let ids = populate(rt, &ta, n);
        if n == 100_000 {
            let live = LIVE.load(Ordering::Relaxed) - before;
            bytes_per_customer = live as f64 / n as f64;
        }
        // Spread evenly over the ids, so they sit all over the cache's table.
        let active: Vec<CustomerId> = (0..ACTIVE.min(n))
            .map(|i| ids[i * n / ACTIVE.min(n)].clone())
            .collect();
        cases.push((n, ta, ids, active));
    }
    for (group, cold) in [("access_token_cached", false), ("access_token_cold", true)] {
        let mut group = criterion.benchmark_group(group);
        for (n, ta, ids, active) in &cases {
            let pool = if cold { ids } else { active };
            let mut picker = Picker(0x9e37_79b9_7f4a_7c15);
            group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
                b.iter(|| {
                    let id = &pool[picker.next(pool.len())];
                    ta.access_token(id)
                        .now_or_never()
                        .expect("a cached token never waits")
                        .unwrap()
                })
            });
        }
        group.finish();
    }
    drop(cases);
    criterion.final_summary();
    let peak = usize::try_from(PEAK.load(Ordering::Relaxed)).unwrap_or(0);
    TRACKING.store(false, Ordering::Relaxed);
    (bytes_per_customer, peak)
}

fn main() {
    let mode = Mode::from_env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut criterion = Criterion::default();
    if mode != Mode::Full {
        criterion = criterion
            .sample_size(10)
            .warm_up_time(StdDuration::from_millis(300))
            .measurement_time(StdDuration::from_secs(1));
    }
    let mut criterion = criterion.configure_from_args();
    // `TA_BENCH_ONLY=verify` or `=access_token`: that part alone (for profiling), no results.
    let only = std::env::var("TA_BENCH_ONLY")
        .ok()
        .filter(|v| !v.is_empty());
    if let Some(out) = std::env::var_os(PART1_OUT) {
        // The child `part1_in_own_process` started.
        let figures = part1(&rt, mode, true);
        std::fs::write(out, serde_json::to_string(&figures).unwrap()).expect("write part 1");
        return;
    }
    match only.as_deref() {
        Some("access_token") => {
            access_token_parts(&rt, &mut criterion, mode);
            return;
        }
        Some(part) => {
            part1(&rt, mode, part != "loopback");
            return;
        }
        None => {}
    }
    let (bytes_per_customer, peak_heap_bytes) = access_token_parts(&rt, &mut criterion, mode);
    if mode == Mode::Smoke {
        // `cargo test --benches`: every part once, here, and nothing to report.
        part1(&rt, mode, true);
        return;
    }
    let Part1 {
        verify,
        own_cost_ns,
        far,
    } = part1_in_own_process();
    let far = far.expect("part 1b ran");
    let (ours, plain, ratio) = verify.medians();
    let (far_ours, far_plain, far_ratio) = far.medians();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let read_medians = |group: &str| -> Vec<(usize, f64)> {
        SIZES
            .iter()
            .map(|n| {
                let path = target_dir.join(format!("criterion/{group}/{n}/new/estimates.json"));
                let text = std::fs::read_to_string(&path).expect("criterion estimates");
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                (*n, json["median"]["point_estimate"].as_f64().unwrap())
            })
            .collect()
    };
    // Slowest / fastest median.
    let spread = |medians: &[(usize, f64)]| {
        let slowest = medians.iter().map(|m| m.1).fold(0.0, f64::max);
        let fastest = medians.iter().map(|m| m.1).fold(f64::MAX, f64::min);
        (slowest, slowest / fastest)
    };
    let medians = read_medians("access_token_cached");
    let cold_medians = read_medians("access_token_cold");
    let (slowest, growth) = spread(&medians);
    let (cold_slowest, cold_growth) = spread(&cold_medians);
    let access_verdict = if slowest < TARGET_NS && growth <= 2.0 {
        "pass"
    } else {
        "FAIL"
    };
    let cold_verdict = if cold_slowest < TARGET_NS {
        "pass"
    } else {
        "FAIL"
    };
    let verify_verdict = if ratio >= TARGET_RATIO {
        "pass"
    } else {
        "FAIL"
    };
    let verdict = if [access_verdict, cold_verdict, verify_verdict] == ["pass"; 3] {
        "pass"
    } else {
        "FAIL"
    };
    let round = |v: &[f64]| v.iter().map(|x| x.round()).collect::<Vec<_>>();
    let out = serde_json::json!({
        "mode": if mode == Mode::Full { "full" } else { "quick (TA_BENCH_QUICK=1)" },
        "verify_all_vs_plain_reqwest": {
            "customers": verify.customers,
            "concurrency": CONCURRENCY,
            "rounds": verify.rounds,
            "requests_per_customer": verify.requests_per_customer,
            "what": "verify_all over FakeEntra on loopback (EntraProvider, MemoryStore, system clock) vs a plain reqwest loop making the same GET /v1.0/organization with the same bearer tokens and client settings, buffer_unordered(64); alternating rounds in one process, multi-threaded tokio runtime on 2 workers shared with FakeEntra, driven from a spawned task",
            "ours_customers_per_s": round(&verify.ours_per_s),
            "plain_requests_per_s": round(&verify.plain_per_s),
            "ours_median_per_s": ours.round(),
            "plain_median_per_s": plain.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "round_ratios_sorted": paired_ratios(&verify).iter().map(|r| (r * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            "round_ratios_note": "each round's ours / plain loop, sorted (reported, not judged: the target is judged on the ratio of the medians)",
            "ours_median_cpu_us_per_customer": (median(&verify.ours_cpu_us) * 10.0).round() / 10.0,
            "plain_median_cpu_us_per_request": (median(&verify.plain_cpu_us) * 10.0).round() / 10.0,
            "cpu_note": "CPU time of the whole process (both sides of loopback HTTP, from every thread's schedstat in ns); the difference is verify_all's own work per customer",
            "target": "ratio >= 0.95",
            "verdict": verify_verdict,
        },
        "verify_all_own_cost": {
            "customers": verify.customers,
            "concurrency": CONCURRENCY,
            "median_ns_per_customer": own_cost_ns.round(),
            "what": "verify_all over the memory store with an instant in-process provider (MockProvider) on one thread: listing, the stream, the verification and the record's write, without HTTP; reported, not judged",
        },
        "verify_all_vs_plain_reqwest_with_latency": {
            "latency_ms_per_answer": GRAPH_LATENCY.as_millis(),
            "customers": far.customers,
            "concurrency": CONCURRENCY,
            "rounds": far.rounds,
            "ours_customers_per_s": round(&far.ours_per_s),
            "plain_requests_per_s": round(&far.plain_per_s),
            "ours_median_per_s": far_ours.round(),
            "plain_median_per_s": far_plain.round(),
            "ratio": (far_ratio * 1000.0).round() / 1000.0,
            "what": "the same comparison with FakeEntra holding every answer back (FakeEntraBuilder::latency), as a far-away Graph does: shows whether verify_all keeps its 64 requests in flight as well as the plain loop. Reported beside the target, not instead of it.",
        },
        "access_token_cached_median_ns": medians.iter().map(|(n, m)| serde_json::json!({"customers": n, "median_ns": m.round()})).collect::<Vec<_>>(),
        "access_token_pattern": "the portal's 1,000 active customers, spread evenly over those stored; a pseudo-random one per call (xorshift64*), ids held by the caller as clones of the stored ids",
        "access_token_target": "median < 1000 ns at every size, slowest <= 2x fastest",
        "access_token_slowest_over_fastest": (growth * 100.0).round() / 100.0,
        "access_token_verdict": access_verdict,
        "access_token_cold_median_ns": cold_medians.iter().map(|(n, m)| serde_json::json!({"customers": n, "median_ns": m.round()})).collect::<Vec<_>>(),
        "access_token_cold_pattern": "worst case: a pseudo-random customer among all of them per call, so at 100,000 the cache entry and the token's reference count are outside the CPU cache on every call",
        "access_token_cold_slowest_over_fastest": (cold_growth * 100.0).round() / 100.0,
        "access_token_cold_target": "median < 1000 ns at every size (the growth is reported, not judged: it is the machine's memory latency)",
        "access_token_cold_verdict": cold_verdict,
        "memory_100k_validated_customers": {
            "bytes_per_customer": bytes_per_customer.round(),
            "what": "memory store record + audit event + cached access token; 1.5 KB access and 1 KB refresh tokens",
        },
        "peak_heap_bytes": peak_heap_bytes,
        "verdict": verdict,
    });
    let file = if mode == Mode::Full {
        "day_two.json"
    } else {
        "day_two.quick.json"
    };
    std::fs::create_dir_all(root.join("benches/results")).unwrap();
    std::fs::write(
        root.join("benches/results").join(file),
        serde_json::to_string_pretty(&out).unwrap() + "\n",
    )
    .unwrap();
    for ((n, m), (_, cold)) in medians.iter().zip(&cold_medians) {
        println!(
            "access_token cached, {n} customers: median {m:.0} ns (1,000 active); {cold:.0} ns (every call a random one of all)"
        );
    }
    println!("memory: {bytes_per_customer:.0} bytes per validated customer (100,000 in memory)");
    println!(
        "verdict: {verdict} (verify_all {verify_verdict}, access_token {access_verdict}, cold access_token {cold_verdict})"
    );
    if verdict != "pass" && strict() {
        std::process::exit(1);
    }
}
