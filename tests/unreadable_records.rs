//! Issue 18, item 3: one tampered record does not take the portal down. One byte of one
//! sealed record among 100 is flipped; the other 99 are listed, verified, reported and
//! resealed, and the tampered one shows as unreadable everywhere (its customer id, a typed
//! error and its action). On SQLite, and on PostgreSQL when `TENANT_ACCESS_PG_URL` is set.

#[path = "support/mod.rs"]
mod support;

#[path = "sql_support/mod.rs"]
mod sql_support;

use std::net::{Ipv4Addr, SocketAddr};

use async_trait::async_trait;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tenant_access::error::{Action, Error, SealError, StoreError};
use tenant_access::model::{Actor, AuditEvent};
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{
    Filter, PageRequest, Pager, PostgresOptions, PostgresStore, Record, SqliteStore, Store,
    Unreadable,
};
use tenant_access::web::{self, AdminAuthorizer, Operator, WebConfig};
use tenant_access::{Config, CustomerId, TenantAccess, Version};

use sql_support::{TempDir, drop_schemas, pg_url, unique_schema};
use support::{CONSENT_CLIENT, REDIRECT, harness};

const TOTAL: usize = 100;
const TAMPERED: &str = "c042";

fn old_key() -> SealingKey {
    SealingKey::new("2025", [1; 32]).unwrap()
}

fn new_ring() -> Keyring {
    Keyring::new(SealingKey::new("2026", [2; 32]).unwrap())
        .with_old_key(old_key())
        .unwrap()
}

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

/// Where the test database lives.
enum Db {
    Sqlite(TempDir),
    Pg { url: String, schema: String },
}

#[derive(Debug, Clone)]
enum AnyStore {
    Sqlite(SqliteStore),
    Pg(PostgresStore),
}

impl AnyStore {
    fn store(&self) -> &dyn Store {
        match self {
            AnyStore::Sqlite(s) => s,
            AnyStore::Pg(s) => s,
        }
    }
    async fn reseal_all(&self) -> tenant_access::store::ResealReport {
        match self {
            AnyStore::Sqlite(s) => s.reseal_all().await.unwrap(),
            AnyStore::Pg(s) => s.reseal_all().await.unwrap(),
        }
    }
    async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.close().await,
            AnyStore::Pg(s) => s.close().await,
        }
    }
}

impl Db {
    async fn open(&self, ring: Keyring) -> AnyStore {
        match self {
            Db::Sqlite(dir) => AnyStore::Sqlite(
                SqliteStore::open(dir.0.join("db.sqlite"), ring)
                    .await
                    .unwrap(),
            ),
            Db::Pg { url, schema } => AnyStore::Pg(
                PostgresStore::open(PostgresOptions::new(url).schema(schema.clone()), ring)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Flips one byte in the middle of `customer`'s sealed secrets, with raw SQL.
    async fn flip_a_byte(&self, customer: &str) {
        let select = "SELECT secrets FROM tenant_access_customers WHERE customer_id = $1";
        let update = "UPDATE tenant_access_customers SET secrets = $1 WHERE customer_id = $2";
        let flip = |mut bytes: Vec<u8>| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            bytes
        };
        match self {
            Db::Sqlite(dir) => {
                let pool = sqlx::SqlitePool::connect(&format!(
                    "sqlite://{}",
                    dir.0.join("db.sqlite").display()
                ))
                .await
                .unwrap();
                let (secrets,): (Vec<u8>,) = sqlx::query_as(select)
                    .bind(customer)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                sqlx::query(update)
                    .bind(flip(secrets))
                    .bind(customer)
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Db::Pg { url, schema } => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap();
                let mut conn = pool.acquire().await.unwrap();
                sqlx::query(&format!("SET search_path TO \"{schema}\""))
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                let (secrets,): (Vec<u8>,) = sqlx::query_as(select)
                    .bind(customer)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                sqlx::query(update)
                    .bind(flip(secrets))
                    .bind(customer)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                drop(conn);
                pool.close().await;
            }
        }
    }

    async fn cleanup(&self) {
        if let Db::Pg { url, schema } = self {
            drop_schemas(url, std::slice::from_ref(schema)).await;
        }
    }
}

/// The test portal's admin check: a fixed cookie.
struct CookieAuth;

#[async_trait]
impl AdminAuthorizer for CookieAuth {
    async fn authorize(&self, request: &Parts) -> Result<Operator, Response> {
        let signed_in = request
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(';').any(|c| c.trim() == "op=alice"));
        match signed_in {
            true => Ok(Operator::new("alice@northwind.example")),
            false => Err((StatusCode::UNAUTHORIZED, "sign in first").into_response()),
        }
    }
}

fn is_tampered(error: &StoreError) -> bool {
    matches!(error, StoreError::Seal(SealError::Tampered))
}

fn assert_the_tampered_one(unreadable: &[Unreadable], what: &str) {
    assert_eq!(unreadable.len(), 1, "{what}: {unreadable:?}");
    assert_eq!(unreadable[0].customer.as_str(), TAMPERED, "{what}");
    assert!(is_tampered(&unreadable[0].error), "{what}: {unreadable:?}");
    assert_eq!(unreadable[0].action(), Action::FixConfiguration, "{what}");
}

async fn one_tampered_record_among_100(db: &Db) {
    // 100 customers connected through the device-code journey (memory store), copied into
    // the SQL store under the old key.
    let h = harness();
    for n in 0..TOTAL {
        h.validated(&format!("c{n:03}")).await;
    }
    let copied: Vec<Record> = {
        let mut pager = Pager::new(&h.store, Filter::all(), 500);
        let mut all = Vec::new();
        while let Some(page) = pager.next_page().await.unwrap() {
            all.extend(page);
        }
        all
    };
    assert_eq!(copied.len(), TOTAL);
    let s = db.open(Keyring::new(old_key())).await;
    for mut record in copied {
        record.version = Version::NEW;
        let event = AuditEvent {
            customer: record.id().clone(),
            from: None,
            to: record.stage.kind(),
            at: time::macros::datetime!(2026-11-23 10:00 UTC),
            actor: Actor::System,
            note: None,
        };
        s.store().create(&record, &event).await.unwrap();
    }
    s.close().await;
    db.flip_a_byte(TAMPERED).await;

    // Opened with a rotated keyring (so `reseal_all` has work to do).
    let s = db.open(new_ring()).await;
    let config = Config::builder("https://portal.example.com")
        .msp_name("Northwind IT")
        .consent_client_id(CONSENT_CLIENT)
        .consent_redirect_url(REDIRECT)
        .build()
        .unwrap();
    let ta: TenantAccess = match &s {
        AnyStore::Sqlite(store) => h.engine(config, store.clone()),
        AnyStore::Pg(store) => h.engine(config, store.clone()),
    };

    // `load` of the tampered customer keeps its typed error.
    let loaded = s.store().load(&id(TAMPERED)).await;
    assert!(matches!(&loaded, Err(e) if is_tampered(e)), "{loaded:?}");
    let loaded = ta.load(&id(TAMPERED)).await;
    assert!(
        matches!(&loaded, Err(Error::Store(e)) if is_tampered(e)),
        "{loaded:?}"
    );

    // The store's pages and the `Pager` (a page size that ends a page on the tampered one).
    let page = s
        .store()
        .list(&Filter::all(), &PageRequest::first(TOTAL))
        .await
        .unwrap();
    assert_eq!(page.records.len(), TOTAL - 1);
    assert_the_tampered_one(&page.unreadable, "Store::list");
    for page_size in [7, 43, 500] {
        let mut pager = Pager::new(s.store(), Filter::all(), page_size);
        let mut listed = 0;
        while let Some(records) = pager.next_page().await.unwrap() {
            assert!(records.iter().all(|r| r.id().as_str() != TAMPERED));
            listed += records.len();
        }
        assert_eq!(listed, TOTAL - 1, "Pager of {page_size}");
        assert_the_tampered_one(&pager.take_unreadable(), "Pager");
    }
    let mut pager = Pager::connections(s.store(), Filter::all(), 43);
    let mut listed = 0;
    while let Some(connections) = pager.next_page().await.unwrap() {
        listed += connections.len();
    }
    assert_eq!(listed, TOTAL - 1);
    assert_the_tampered_one(&pager.take_unreadable(), "Pager::connections");

    // `TenantAccess::list` and `TenantAccess::pages`.
    let page = ta
        .list(&Filter::all(), &PageRequest::first(TOTAL))
        .await
        .unwrap();
    assert_eq!(page.items.len(), TOTAL - 1);
    assert_the_tampered_one(&page.unreadable, "TenantAccess::list");
    let mut pages = ta.pages(Filter::all(), 43);
    let mut listed = 0;
    while let Some(journeys) = pages.next_page().await.unwrap() {
        listed += journeys.len();
    }
    assert_eq!(listed, TOTAL - 1);
    assert_the_tampered_one(&pages.take_unreadable(), "TenantAccess::pages");
    assert_eq!(ta.count(&Filter::all()).await.unwrap(), TOTAL);

    // The status report.
    let report = ta.status_report(&Filter::all()).await.unwrap();
    assert_eq!(report.rows.len(), TOTAL - 1);
    assert!(report.rows.iter().all(|r| r.customer.as_str() != TAMPERED));
    assert_the_tampered_one(&report.unreadable, "status report");
    assert!(report.table().contains(TAMPERED));

    // Reseal all (before anything writes): 99 resealed, the tampered one reported and left as it was.
    let report = s.reseal_all().await;
    assert_eq!(report.resealed, (TOTAL - 1) as u64);
    assert_eq!(report.changed_concurrently, 0);
    assert_the_tampered_one(&report.unreadable, "reseal_all");
    // Only the tampered one is left under the old key.
    let again = s.reseal_all().await;
    assert_eq!(again.resealed, 0);
    assert_the_tampered_one(&again.unreadable, "reseal_all again");
    let loaded = s.store().load(&id(TAMPERED)).await;
    assert!(matches!(&loaded, Err(e) if is_tampered(e)), "{loaded:?}");

    // Verify all: 99 Ok, and one outcome for the tampered customer with its typed error.
    h.clock.advance(std::time::Duration::from_secs(3600));
    let outcomes: Vec<_> = ta
        .verify_all(Filter::all(), 8)
        .map(|o| o.expect("the run goes on"))
        .collect()
        .await;
    assert_eq!(outcomes.len(), TOTAL);
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    assert_eq!(ok, TOTAL - 1);
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].customer.as_str(), TAMPERED);
    match &failed[0].result {
        Err(error @ Error::Store(e)) if is_tampered(e) => {
            assert_eq!(error.action(), Action::FixConfiguration);
        }
        other => panic!("{other:?}"),
    }
    let last = outcomes.iter().map(|o| o.progress).max_by_key(|p| p.done);
    let last = last.unwrap();
    assert_eq!((last.done, last.ok, last.failed), (TOTAL, TOTAL - 1, 1));

    // The admin pages answer 200 and name the unreadable customer.
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = web::admin_router(ta.clone(), WebConfig::new(), CookieAuth)
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    for path in ["/admin", "/admin/invitations"] {
        let answer = client
            .get(format!("{url}{path}"))
            .header(header::COOKIE, "op=alice")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let page = answer.text().await.unwrap();
        assert!(
            page.contains(&format!("data-unreadable=\"{TAMPERED}\"")),
            "{path} names the unreadable customer"
        );
        assert!(
            page.contains("Tampered") || page.contains("tampered"),
            "{path}"
        );
        assert!(page.contains("c041") && page.contains("c043"), "{path}");
    }
    server.abort();

    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tampered_record_among_100_leaves_the_other_99_working() {
    let db = Db::Sqlite(TempDir::new("unreadable"));
    one_tampered_record_among_100(&db).await;
    if let Some(url) = pg_url("one_tampered_record_among_100") {
        let db = Db::Pg {
            url,
            schema: unique_schema("unreadable"),
        };
        one_tampered_record_among_100(&db).await;
        db.cleanup().await;
    }
}
