//! Store benchmarks: load, compare-and-swap update and listing a page of 100 with 100,000
//! customers stored, on SQLite and (when `TENANT_ACCESS_PG_URL` is set) PostgreSQL; and
//! peak heap while walking every customer with [`Pager`] at 10,000 and at 100,000 customers
//! (flat: listing streams).
//!
//! `TA_BENCH_CUSTOMERS` sets the population (default 100000; CI can use e.g. 2000 for a
//! quick run). Criterion's reports go to `target/criterion`; a summary with ops/s and the
//! memory figures goes to `bench-results/store.txt` for a full run (100,000 customers, both
//! backends) and to `target/bench-results/store-quick.txt` otherwise.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::{Executor as _, QueryBuilder};
use tenant_access::journey::StageKind;
use tenant_access::seal::{Keyring, Sealer, SealingKey};
use tenant_access::store::{
    Filter, PageRequest, Pager, PostgresOptions, PostgresStore, Record, SqliteStore, Store, codec,
};
use tenant_access::testing::conformance::sample_record;
use tenant_access::{CustomerId, Version};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, LIVE, PEAK};

#[global_allocator]
static ALLOC: Counting = Counting;

fn population() -> usize {
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

fn record(i: usize) -> Record {
    sample_record(&id(i), StageKind::ALL[i % StageKind::ALL.len()], i as u64)
}

/// Bulk-loads customers `from..to` with the public codec, 500 rows per statement.
macro_rules! populate_fn {
    ($name:ident, $db:ty) => {
        async fn $name(pool: &sqlx::Pool<$db>, from: usize, to: usize) {
            let sealer = sealer();
            let mut i = from;
            while i < to {
                let end = (i + 500).min(to);
                let rows: Vec<_> = (i..end)
                    .map(|n| codec::encode(&record(n), &sealer).unwrap())
                    .collect();
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO tenant_access_customers (customer_id, version, stage, method, \
                     verification_status, last_verified_at, token_expires_at, invitation_hash, \
                     key_id, body, secrets) ",
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

/// Peak heap growth while walking every customer, 500 per page.
async fn walk_peak(store: &dyn Store) -> (usize, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut pager = Pager::new(store, Filter::all(), 500);
    let mut n = 0;
    while let Some(page) = pager.next_page().await.unwrap() {
        n += page.len();
    }
    (n, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// Peak heap growth when every customer is collected into one Vec (the contrast).
async fn collect_peak(store: &dyn Store) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut pager = Pager::new(store, Filter::all(), 500);
    while let Some(page) = pager.next_page().await.unwrap() {
        all.extend(page);
    }
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    drop(all);
    peak
}

fn rate(ops: usize, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

async fn measure_simple(store: &dyn Store, n: usize, out: &mut String, name: &str) {
    // load
    let ops = 3000.min(n * 3);
    let t = Instant::now();
    for k in 0..ops {
        let i = (k * 7919) % n;
        store
            .load(&CustomerId::new(id(i)).unwrap())
            .await
            .unwrap()
            .unwrap();
    }
    let load = rate(ops, t.elapsed());
    // CAS update on 1000 customers held with their current versions
    let mut held: Vec<Record> = Vec::new();
    for i in 0..1000.min(n) {
        held.push(
            store
                .load(&CustomerId::new(id(i)).unwrap())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let ops = 2000;
    let t = Instant::now();
    for k in 0..ops {
        let len = held.len();
        let r = &mut held[k % len];
        let v = store.update(r, None, &[]).await.unwrap();
        r.version = v;
    }
    let update = rate(ops, t.elapsed());
    // list a page of 100 from random starts
    let ops = 300;
    let t = Instant::now();
    for k in 0..ops {
        let start = (k * 7919) % n;
        let page = store
            .list(
                &Filter::all(),
                &PageRequest {
                    after: Some(CustomerId::new(id(start)).unwrap()),
                    limit: 100,
                },
            )
            .await
            .unwrap();
        assert!(page.records.len() <= 100);
    }
    let list = rate(ops, t.elapsed());
    let _ = writeln!(
        out,
        "{name:<10} n={n:<7} load {load:>9.0} ops/s   CAS update {update:>8.0} ops/s   list page of 100 {list:>7.0} pages/s ({:.0} records/s)",
        list * 100.0
    );
}

fn bench_store(c: &mut Criterion) {
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
        "tenant-access store benchmarks ({} customers; {} cores)\n",
        n,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    let dir = std::env::temp_dir().join(format!("ta-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backends = Vec::new();

    // SQLite
    let path = dir.join("bench.sqlite");
    let sqlite = rt.block_on(async {
        let store = SqliteStore::open(&path, sealer()).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, pool)
    });
    backends.push((
        "sqlite",
        Box::new(sqlite.0) as Box<dyn Store>,
        Pools::Sqlite(sqlite.1),
    ));

    // PostgreSQL
    let pg_schema = format!("ta_bench_{}", std::process::id());
    let pg_url = std::env::var("TENANT_ACCESS_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match &pg_url {
        Some(url) => {
            let pg = rt.block_on(async {
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
                Box::new(pg.0) as Box<dyn Store>,
                Pools::Pg(pg.1),
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

    let mut measured = Vec::new();
    for (name, store, pools) in backends {
        let t = Instant::now();
        rt.block_on(pools.populate(0, small));
        let (seen_small, peak_small) = rt.block_on(walk_peak(&*store));
        let collect_small = rt.block_on(collect_peak(&*store));
        rt.block_on(pools.populate(small, n));
        let load_time = t.elapsed();
        let (seen, peak) = rt.block_on(walk_peak(&*store));
        assert_eq!(seen_small, small);
        assert_eq!(seen, n);
        let _ = writeln!(
            summary,
            "{name}: bulk-loaded {n} customers in {load_time:.1?}\n\
             {name}: walking all customers (Pager, 500/page): peak heap +{:.2} MiB at {small}, +{:.2} MiB at {n}  \
             (collecting {small} into one Vec instead: +{:.2} MiB)",
            mib(peak_small),
            mib(peak),
            mib(collect_small),
        );
        rt.block_on(measure_simple(&*store, n, &mut summary, name));
        let _ = writeln!(summary);
        measured.push((name, store, pools));
    }

    for (name, store, _) in &measured {
        let store: &dyn Store = &**store;
        let mut group = c.benchmark_group(format!("store/{name}"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(if n >= 50_000 { 5 } else { 1 }));
        group.warm_up_time(Duration::from_millis(500));
        let mut k = 0usize;
        group.bench_function("load", |b| {
            b.to_async(&rt).iter(|| {
                k = (k + 7919) % n;
                let cid = CustomerId::new(id(k)).unwrap();
                async move { store.load(&cid).await.unwrap().unwrap() }
            })
        });
        let mut held: Vec<Record> = rt.block_on(async {
            let mut v = Vec::new();
            for i in 0..1000.min(n) {
                v.push(
                    store
                        .load(&CustomerId::new(id(i)).unwrap())
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            v
        });
        let mut j = 0usize;
        group.bench_function("cas_update", |b| {
            b.iter(|| {
                j = (j + 1) % held.len();
                let r = &mut held[j];
                let v: Version = rt.block_on(store.update(r, None, &[])).unwrap();
                r.version = v;
            })
        });
        let mut s = 0usize;
        group.bench_function("list_page_of_100", |b| {
            b.to_async(&rt).iter(|| {
                s = (s + 7919) % n;
                let req = PageRequest {
                    after: Some(CustomerId::new(id(s)).unwrap()),
                    limit: 100,
                };
                async move { store.list(&Filter::all(), &req).await.unwrap() }
            })
        });
        let filter = Filter::stages([StageKind::Validated, StageKind::ReauthRequired]);
        let fref = &filter;
        group.bench_function("list_filtered_page_of_100", |b| {
            b.to_async(&rt)
                .iter(|| async move { store.list(fref, &PageRequest::first(100)).await.unwrap() })
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
    drop(measured);
    std::fs::remove_dir_all(&dir).ok();
    // Full runs update the committed summary; quick runs write under target/.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (out, file) = if n >= 100_000 && pg_url.is_some() {
        (root.join("bench-results"), "store.txt")
    } else {
        (root.join("target").join("bench-results"), "store-quick.txt")
    };
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(file), &summary).unwrap();
    println!("\n{summary}");
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

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
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
