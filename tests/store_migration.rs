//! A database written by the previous schema (schema 1, where a method switch was a row of its
//! own) opens with this crate: the migration folds each switch into its customer's record, and
//! every journey resumes where it stood. The fixtures in `tests/fixtures/schema1/` were written
//! by the code of schema 1 (see their README); one test per backend.

#[path = "sql_support/mod.rs"]
mod support;

use std::sync::Arc;

use sqlx::Executor as _;
use tenant_access::journey::{AnyOnboarding, Next, Step};
use tenant_access::model::{Method, StageKind};
use tenant_access::ports::Store;
use tenant_access::provider::ConsentCallback;
use tenant_access::seal::{Keyring, SealingKey};
use tenant_access::store::{PostgresOptions, PostgresStore, SqliteStore};
use tenant_access::testing::mock::MockProvider;
use tenant_access::testing::{CaptureMailer, ManualClock};
use tenant_access::{Config, CustomerId, PollOutcome, TenantAccess};
use time::macros::datetime;

use support::{TempDir, drop_schemas, pg_url, unique_schema};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema1");

/// The key the fixtures were sealed with.
fn keyring() -> Keyring {
    Keyring::new(SealingKey::new("fixture-key", [7u8; 32]).unwrap())
}

fn id(text: &str) -> CustomerId {
    CustomerId::new(text).unwrap()
}

/// The invitation codes mailed while a fixture was written.
fn codes(backend: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{backend}-codes.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn engine(store: Arc<dyn Store>, mock: &MockProvider) -> TenantAccess {
    TenantAccess::builder()
        .config(
            Config::builder("https://portal.example.com")
                .consent_client_id("11111111-2222-3333-4444-555555555555")
                .consent_redirect_url("https://portal.example.com/authenticate/OAuth2Callback")
                .build()
                .unwrap(),
        )
        .shared_store(store)
        .mailer(CaptureMailer::new())
        .provider(mock.clone())
        .clock(ManualClock::new(datetime!(2026-11-01 10:01 UTC)))
        .build()
        .unwrap()
}

/// What the migrated store must hold, and every journey in it resumed to the end.
async fn migrated_and_resumed(store: Arc<dyn Store>, codes: &serde_json::Value) {
    let mock = MockProvider::new();
    let ta = engine(Arc::clone(&store), &mock);
    // The switch rows are gone, folded into their customers' records.
    for legacy in ["contoso#switch", "adatum#switch"] {
        assert!(store.load(&id(legacy)).await.unwrap().is_none(), "{legacy}");
    }
    let rows = ta.status_report(&Default::default()).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.customer.as_str()).collect();
    assert_eq!(ids, ["adatum", "contoso", "fabrikam", "northwind"]);
    let contoso = ta.load(&id("contoso")).await.unwrap();
    assert_eq!(contoso.kind(), StageKind::Validated);
    let switch = contoso
        .pending_switch()
        .expect("contoso's switch is in its record");
    assert_eq!(switch.customer.method, Method::DeviceCode);
    assert_eq!(switch.customer.admin_email.as_str(), "it@contoso.example");
    assert_eq!(switch.stage.kind(), StageKind::InvitationSent);
    // The switch journey's audit events now belong to the customer.
    assert!(ta.events(&id("contoso#switch")).await.unwrap().is_empty());
    let notes: Vec<String> = ta
        .events(&id("contoso"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n == "method switch to device_code started"),
        "{notes:?}"
    );

    // contoso: the link mailed for the switch before the migration still opens the switch.
    let code = codes["contoso_switch_code"].as_str().unwrap();
    let AnyOnboarding::InvitationSent(sent) = ta.open_invitation(code).await.unwrap() else {
        panic!("the switch's link opens its journey")
    };
    assert!(sent.is_switch());
    let device = sent
        .claim(&ta)
        .await
        .unwrap()
        .start_device_code(&ta)
        .await
        .unwrap();
    let PollOutcome::Authenticated(token) = device.poll_until_done(&ta).await.unwrap() else {
        panic!("signed in")
    };
    let taken = token.validate(&ta).await.unwrap();
    assert_eq!(taken.id(), &id("contoso"));
    assert_eq!(taken.customer().admin_email.as_str(), "it@contoso.example");
    assert!(ta.pending_switch(&id("contoso")).await.unwrap().is_none());

    // adatum: the app-registration switch waiting for consent completes.
    let pending = ta.pending_switch(&id("adatum")).await.unwrap().unwrap();
    let AnyOnboarding::ConsentRequired(pending) = pending else {
        panic!("waiting for consent")
    };
    let url = pending.stage().admin_consent_url().clone();
    let callback = ConsentCallback::from_url(&mock.admin_consents(&url)).unwrap();
    let taken = ta
        .complete_consent(&callback)
        .await
        .unwrap()
        .validate(&ta)
        .await
        .unwrap();
    assert_eq!(taken.customer().method, Method::AppRegistration);

    // northwind: mid journey; `advance` polls and validates.
    let advanced = ta.advance(&id("northwind")).await.unwrap();
    assert_eq!(advanced.step, Step::Authenticated);
    assert_eq!(advanced.next, Next::Now);
    let advanced = ta.advance(&id("northwind")).await.unwrap();
    assert_eq!(advanced.step, Step::Validated);
    assert_eq!(advanced.journey.kind(), StageKind::Validated);
    let northwind_code = codes["northwind_code"].as_str().unwrap();
    assert!(ta.open_invitation(northwind_code).await.is_err(), "used up");

    // fabrikam: the untouched connection still verifies.
    ta.verify(&id("fabrikam")).await.unwrap();
}

#[tokio::test]
async fn a_schema_1_sqlite_database_migrates_and_resumes() {
    let dir = TempDir::new("migration");
    let path = dir.0.join("schema1.sqlite");
    let dump = std::fs::read_to_string(format!("{FIXTURES}/sqlite.sql")).unwrap();
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        pool.execute(sqlx::raw_sql(&dump)).await.unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path, keyring()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 4);
    migrated_and_resumed(Arc::new(store.clone()), &codes("sqlite")).await;
    store.close().await;
    // Opening again changes nothing more.
    let again = SqliteStore::open(&path, keyring()).await.unwrap();
    assert!(again.load(&id("contoso")).await.unwrap().is_some());
    again.close().await;
}

#[tokio::test]
async fn a_schema_1_postgres_database_migrates_and_resumes() {
    let Some(url) = pg_url("a_schema_1_postgres_database_migrates_and_resumes") else {
        return;
    };
    let schema = unique_schema("schema1");
    let dump = std::fs::read_to_string(format!("{FIXTURES}/postgres.sql"))
        .unwrap()
        .replace("ta_schema1_fixture", &schema);
    {
        let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&url).await.unwrap();
        conn.execute(sqlx::raw_sql(&dump)).await.unwrap();
        sqlx::Connection::close(conn).await.unwrap();
    }
    let store = PostgresStore::open(PostgresOptions::new(url.clone()).schema(&schema), keyring())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 4);
    migrated_and_resumed(Arc::new(store.clone()), &codes("postgres")).await;
    store.close().await;
    let again = PostgresStore::open(PostgresOptions::new(url.clone()).schema(&schema), keyring())
        .await
        .unwrap();
    assert!(again.load(&id("contoso")).await.unwrap().is_some());
    again.close().await;
    drop_schemas(&url, &[schema]).await;
}
