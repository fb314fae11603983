//! Day Two figures:
//!
//! 1. `access_token` with a valid cached token for 1,000, 10,000 and 100,000 customers.
//!    Target: median under 1 µs and flat across the three sizes.
//! 2. Memory with 100,000 validated customers in the in-memory store, tokens of realistic
//!    Entra size (~1.5 KB access, ~1 KB refresh), every token also in the engine's cache.
//!    Reported as bytes per customer.
//!
//! Results go to `benches/results/day_two.json`.
//!
//! Run with: `cargo bench --all-features --bench day_two`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion};
use futures_util::FutureExt;
use tenant_access::audit::{Actor, AuditEvent};
use tenant_access::clock::ManualClock;
use tenant_access::customer::{Customer, TenantInfo, TokenSet, Verification, VerificationStatus};
use tenant_access::flow::{StageKind, StageType, Validated};
use tenant_access::mail::CaptureMailer;
use tenant_access::provider::mock::MockProvider;
use tenant_access::secret::{AccessToken, RefreshToken};
use tenant_access::store::{MemoryStore, Record};
use tenant_access::{Config, CustomerId, Method, NewCustomer, TenantAccess, Version};
use time::Duration;

/// Counts live heap bytes, to measure memory per customer without an external tool.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const TARGET_NS: f64 = 1_000.0;

fn engine(clock: &ManualClock, store: MemoryStore) -> TenantAccess {
    TenantAccess::builder()
        .config(Config::new("https://portal.example.com").unwrap())
        .store(store)
        .mailer(CaptureMailer::new())
        .provider(MockProvider::new())
        .clock(clock.clone())
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
            let new = NewCustomer::new(
                &name,
                format!("{name}.onmicrosoft.com"),
                format!("admin@{name}.com"),
            )
            .unwrap();
            let mut customer = Customer::new(new, Method::DeviceCode, now);
            customer.token = Some(TokenSet {
                access_token: AccessToken::new(format!("{access}{i}")),
                refresh_token: Some(RefreshToken::new(format!("{refresh}{i}"))),
                expires_at: now + Duration::hours(1),
                obtained_at: now,
                scope: Some("https://graph.microsoft.com/.default offline_access".into()),
            });
            customer.tenant_info = Some(TenantInfo {
                id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
                display_name: name.clone(),
                domains: vec![format!("{name}.onmicrosoft.com")],
            });
            customer.device_authenticated_at = Some(now);
            customer.last_verification = Some(Verification {
                at: now,
                status: VerificationStatus::Ok,
            });
            let record = Record {
                stage: Validated { validated_at: now }.into_stage(),
                version: Version::NEW,
                customer,
            };
            let event = AuditEvent {
                customer: record.id().clone(),
                from: None,
                to: StageKind::Validated,
                at: now,
                actor: Actor::System,
                note: None,
            };
            ta.store().create(&record, &event).await.unwrap();
            ids.push(record.id().clone());
        }
        // Warm the engine's cache: the first call per customer reads the store.
        for id in &ids {
            ta.access_token(id).await.unwrap();
        }
    });
    ids
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut criterion = Criterion::default().configure_from_args();
    let mut medians = Vec::new();
    let mut bytes_per_customer = 0.0;
    {
        let mut group = criterion.benchmark_group("access_token_cached");
        for n in SIZES {
            let clock = ManualClock::starting_now();
            let before = LIVE.load(Ordering::Relaxed);
            let ta = engine(&clock, MemoryStore::new());
            let ids = populate(&rt, &ta, n);
            if n == 100_000 {
                let live = LIVE.load(Ordering::Relaxed) - before;
                bytes_per_customer = live as f64 / n as f64;
            }
            let mut i = 0usize;
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    // A stride through the ids so every lookup misses the CPU cache like a
                    // portal serving many customers would.
                    i = (i + 7919) % ids.len();
                    ta.access_token(&ids[i])
                        .now_or_never()
                        .expect("a cached token never waits")
                        .unwrap()
                })
            });
            drop(ta);
        }
        group.finish();
    }
    criterion.final_summary();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for n in SIZES {
        let path = target_dir.join(format!(
            "criterion/access_token_cached/{n}/new/estimates.json"
        ));
        let Ok(text) = std::fs::read_to_string(&path) else {
            return; // `cargo test --benches`: nothing measured, nothing to report.
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        medians.push((n, json["median"]["point_estimate"].as_f64().unwrap()));
    }
    let slowest = medians.iter().map(|m| m.1).fold(0.0, f64::max);
    let fastest = medians.iter().map(|m| m.1).fold(f64::MAX, f64::min);
    let flat = slowest <= 2.0 * fastest;
    let verdict = if slowest < TARGET_NS && flat {
        "pass"
    } else {
        "FAIL"
    };
    let out = serde_json::json!({
        "access_token_cached_median_ns": medians.iter().map(|(n, m)| serde_json::json!({"customers": n, "median_ns": m.round()})).collect::<Vec<_>>(),
        "target": "median < 1000 ns at every size, slowest <= 2x fastest",
        "verdict": verdict,
        "memory_100k_validated_customers": {
            "bytes_per_customer": bytes_per_customer.round(),
            "what": "memory store record + audit event + cached access token; 1.5 KB access and 1 KB refresh tokens",
        },
        "peak_heap_bytes": PEAK.load(Ordering::Relaxed),
    });
    std::fs::create_dir_all(root.join("benches/results")).unwrap();
    std::fs::write(
        root.join("benches/results/day_two.json"),
        serde_json::to_string_pretty(&out).unwrap() + "\n",
    )
    .unwrap();
    for (n, m) in &medians {
        println!("access_token cached, {n} customers: median {m:.0} ns");
    }
    println!("memory: {bytes_per_customer:.0} bytes per validated customer (100,000 in memory)");
    println!("verdict: {verdict}");
    if verdict != "pass" {
        std::process::exit(1);
    }
}
