//! SQLite and PostgreSQL specifics: durability across reopen, schema versions, sealing,
//! key rotation, tampering, plaintext test mode.

#[path = "sql_support/mod.rs"]
mod support;

use async_trait::async_trait;
use sqlx::Executor as _;
use tenant_access::error::{SealError, StoreError};
use tenant_access::journey::StageKind;
use tenant_access::seal::{Keyring, Sealer, SealingKey};
use tenant_access::store::{
    Filter, Pager, PostgresOptions, PostgresStore, Record, SqliteStore, Store,
};
use tenant_access::testing::conformance::{self, Harness};
use tenant_access::{CustomerId, Version};

use support::{TempDir, drop_schemas, keyring, pg_url, sealer, unique_schema};

/// Where a test database lives.
enum Db {
    Sqlite(TempDir),
    Pg { url: String, schema: String },
}

#[derive(Debug)]
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
    async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.close().await,
            AnyStore::Pg(s) => s.close().await,
        }
    }
    async fn raw(&self) -> Vec<u8> {
        match self {
            AnyStore::Sqlite(s) => s.raw_contents().await.unwrap(),
            AnyStore::Pg(s) => s.raw_contents().await.unwrap(),
        }
    }
    async fn reseal_all(&self) -> Result<tenant_access::store::ResealReport, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.reseal_all().await,
            AnyStore::Pg(s) => s.reseal_all().await,
        }
    }
    /// Runs raw SQL against the store's tables.
    async fn sql(&self, db: &Db, sql: &str) {
        match (self, db) {
            (AnyStore::Sqlite(_), Db::Sqlite(dir)) => {
                let pool = sqlx::SqlitePool::connect(&format!(
                    "sqlite://{}",
                    dir.0.join("db.sqlite").display()
                ))
                .await
                .unwrap();
                pool.execute(sql).await.unwrap();
                pool.close().await;
            }
            (AnyStore::Pg(_), Db::Pg { url, schema }) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                pool.execute(format!("SET search_path TO \"{schema}\"; {sql}").as_str())
                    .await
                    .unwrap();
                pool.close().await;
            }
            _ => unreachable!(),
        }
    }
}

impl Db {
    fn sqlite() -> Self {
        Db::Sqlite(TempDir::new("sql"))
    }
    fn pg(url: &str) -> Self {
        Db::Pg {
            url: url.to_owned(),
            schema: unique_schema("sql"),
        }
    }
    async fn open(&self, sealer: impl Into<Sealer>) -> Result<AnyStore, StoreError> {
        Ok(match self {
            Db::Sqlite(dir) => {
                AnyStore::Sqlite(SqliteStore::open(dir.0.join("db.sqlite"), sealer).await?)
            }
            Db::Pg { url, schema } => AnyStore::Pg(
                PostgresStore::open(PostgresOptions::new(url).schema(schema.clone()), sealer)
                    .await?,
            ),
        })
    }
    async fn cleanup(&self) {
        if let Db::Pg { url, schema } = self {
            drop_schemas(url, std::slice::from_ref(schema)).await;
        }
    }
}

fn sample(id: &str, kind: StageKind) -> Record {
    conformance::sample_record(id, kind, 0)
}

fn id(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn created(r: &Record) -> tenant_access::model::AuditEvent {
    tenant_access::model::AuditEvent {
        customer: r.id().clone(),
        from: None,
        to: r.stage.kind(),
        at: time::macros::datetime!(2026-01-01 0:00 UTC),
        actor: tenant_access::model::Actor::System,
        note: None,
    }
}

/// Runs `body` against SQLite, and against PostgreSQL when configured.
macro_rules! both {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let db = Db::sqlite();
            $body(&db).await;
            if let Some(url) = pg_url(stringify!($name)) {
                let db = Db::pg(&url);
                $body(&db).await;
                db.cleanup().await;
            }
        }
    };
}

async fn records_survive_reopen(db: &Db) {
    let s = db.open(sealer()).await.unwrap();
    for kind in StageKind::ALL {
        let r = sample(&format!("re-{kind}"), kind);
        s.store().create(&r, &created(&r)).await.unwrap();
    }
    s.close().await;
    drop(s);
    let s = db.open(sealer()).await.unwrap();
    for kind in StageKind::ALL {
        let r = s
            .store()
            .load(&id(&format!("re-{kind}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.stage.kind(), kind);
        assert_eq!(r.version, Version(1));
        assert_eq!(
            conformance::secrets_of(&r),
            conformance::secrets_of(&sample(&format!("re-{kind}"), kind))
        );
    }
    s.close().await;
}
both!(records_survive_reopen_sqlite_and_pg, records_survive_reopen);

async fn newer_schema_is_refused(db: &Db) {
    let s = db.open(sealer()).await.unwrap();
    s.sql(
        db,
        "INSERT INTO tenant_access_schema (version, applied_at) VALUES (99, CURRENT_TIMESTAMP)",
    )
    .await;
    s.close().await;
    match db.open(sealer()).await {
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported: 4,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let e = StoreError::SchemaTooNew {
        found: 3,
        supported: 2,
    };
    assert!(e.to_string().contains("upgrade tenant-access"));
    assert_eq!(
        tenant_access::Error::from(e).action(),
        tenant_access::Action::FixConfiguration
    );
}
both!(
    newer_schema_is_refused_sqlite_and_pg,
    newer_schema_is_refused
);

async fn wrong_or_missing_keys_refuse_to_open(db: &Db) {
    let s = db.open(keyring("k1", 1)).await.unwrap();
    let r = sample("wk-1", StageKind::Validated);
    s.store().create(&r, &created(&r)).await.unwrap();
    s.close().await;
    match db.open(keyring("k2", 1)).await {
        Err(StoreError::Seal(SealError::UnknownKey(k))) => assert_eq!(k, "k1"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert!(matches!(
        db.open(Sealer::insecure_plaintext_for_tests_only()).await,
        Err(StoreError::Seal(SealError::NoKey))
    ));
    // Same id, other bytes (issue 18 item 4): refused on open by the key canary, with the
    // key id named, instead of opening and failing every read.
    match db.open(keyring("k1", 2)).await {
        Err(StoreError::Seal(SealError::WrongKey(k))) => assert_eq!(k, "k1"),
        other => panic!("expected WrongKey, got {other:?}"),
    }
    // The right key still opens, and reads.
    let s = db.open(keyring("k1", 1)).await.unwrap();
    assert!(s.store().load(r.id()).await.unwrap().is_some());
    s.close().await;
}
both!(
    wrong_or_missing_keys_refuse_to_open_sqlite_and_pg,
    wrong_or_missing_keys_refuse_to_open
);

/// The canary guards an empty database too, and follows key rotation: a new current key gets
/// its own canary, and the old key's is still checked while the keyring has it.
async fn the_key_canary_guards_empty_databases_and_rotation(db: &Db) {
    db.open(keyring("k1", 1)).await.unwrap().close().await;
    assert!(matches!(
        db.open(keyring("k1", 9)).await,
        Err(StoreError::Seal(SealError::WrongKey(_)))
    ));
    let rotated = || {
        Keyring::new(SealingKey::new("k2", [2; 32]).unwrap())
            .with_old_key(SealingKey::new("k1", [1; 32]).unwrap())
            .unwrap()
    };
    db.open(rotated()).await.unwrap().close().await;
    // k2's canary is now stored: other bytes under k2 are refused.
    assert!(matches!(
        db.open(Keyring::new(SealingKey::new("k2", [7; 32]).unwrap())).await,
        Err(StoreError::Seal(SealError::WrongKey(k))) if k == "k2"
    ));
    // The old key with wrong bytes beside the right current one is refused too.
    let wrong_old = Keyring::new(SealingKey::new("k2", [2; 32]).unwrap())
        .with_old_key(SealingKey::new("k1", [8; 32]).unwrap())
        .unwrap();
    assert!(matches!(
        db.open(wrong_old).await,
        Err(StoreError::Seal(SealError::WrongKey(k))) if k == "k1"
    ));
    // Once k1 is retired, the keyring without it opens.
    db.open(Keyring::new(SealingKey::new("k2", [2; 32]).unwrap()))
        .await
        .unwrap()
        .close()
        .await;
}
both!(
    the_key_canary_guards_empty_databases_and_rotation_sqlite_and_pg,
    the_key_canary_guards_empty_databases_and_rotation
);

async fn tampered_rows_are_typed_errors(db: &Db) {
    let s = db.open(sealer()).await.unwrap();
    for name in ["tp-a", "tp-b", "tp-c"] {
        let r = sample(name, StageKind::Validated);
        s.store().create(&r, &created(&r)).await.unwrap();
    }
    // b gets a's sealed secrets; c's ciphertext loses its last byte.
    s.sql(
        db,
        "UPDATE tenant_access_customers SET secrets = \
         (SELECT secrets FROM tenant_access_customers WHERE customer_id = 'tp-a') \
         WHERE customer_id = 'tp-b'",
    )
    .await;
    let cut = match db {
        Db::Sqlite(_) => "substr(secrets, 1, length(secrets) - 1)",
        Db::Pg { .. } => "substring(secrets from 1 for length(secrets) - 1)",
    };
    s.sql(
        db,
        &format!("UPDATE tenant_access_customers SET secrets = {cut} WHERE customer_id = 'tp-c'"),
    )
    .await;
    assert!(s.store().load(&id("tp-a")).await.unwrap().is_some());
    assert!(matches!(
        s.store().load(&id("tp-b")).await,
        Err(StoreError::Seal(SealError::Tampered))
    ));
    assert!(matches!(
        s.store().load(&id("tp-c")).await,
        Err(StoreError::Seal(SealError::Tampered))
    ));
    // A body edited by hand (still valid JSON) no longer opens its secrets.
    s.sql(
        db,
        "UPDATE tenant_access_customers SET body = replace(body, 'admin@contoso.com', \
         'admin@evil.example') WHERE customer_id = 'tp-a'",
    )
    .await;
    assert!(matches!(
        s.store().load(&id("tp-a")).await,
        Err(StoreError::Seal(SealError::Tampered))
    ));
    // A damaged body is Corrupt.
    s.sql(
        db,
        "UPDATE tenant_access_customers SET body = '{\"format\":1}' WHERE customer_id = 'tp-a'",
    )
    .await;
    assert!(matches!(
        s.store().load(&id("tp-a")).await,
        Err(StoreError::Corrupt(_))
    ));
    s.close().await;
}
both!(
    tampered_rows_are_typed_errors_sqlite_and_pg,
    tampered_rows_are_typed_errors
);

async fn rotation_and_reseal_all(db: &Db) {
    let old = SealingKey::new("2025", [1; 32]).unwrap();
    let new = SealingKey::new("2026", [2; 32]).unwrap();
    let s = db.open(Keyring::new(old.clone())).await.unwrap();
    for i in 0..1203 {
        let r = conformance::sample_record(&format!("rot-{i:04}"), StageKind::Validated, i);
        s.store().create(&r, &created(&r)).await.unwrap();
    }
    s.close().await;
    // The new key alone cannot open the old records.
    assert!(matches!(
        db.open(Keyring::new(new.clone())).await,
        Err(StoreError::Seal(SealError::UnknownKey(_)))
    ));
    let ring = Keyring::new(new.clone()).with_old_key(old.clone()).unwrap();
    let s = db.open(ring).await.unwrap();
    // Old records open; new writes use the new key.
    let mut r = s.store().load(&id("rot-0007")).await.unwrap().unwrap();
    r.customer.last_error = Some("touched".into());
    s.store().update(&r, None, &[]).await.unwrap();
    let report = s.reseal_all().await.unwrap();
    assert_eq!(report.resealed, 1202);
    assert_eq!(report.changed_concurrently, 0);
    assert_eq!(s.reseal_all().await.unwrap().resealed, 0);
    s.close().await;
    // Now the old key can be retired.
    let s = db.open(Keyring::new(new)).await.unwrap();
    let mut pager = Pager::new(s.store(), Filter::all(), 500);
    let mut n = 0;
    while let Some(page) = pager.next_page().await.unwrap() {
        for r in page {
            let i: u64 = r.id().as_str()[4..].parse().unwrap();
            assert_eq!(
                conformance::secrets_of(&r),
                conformance::secrets_of(&conformance::sample_record(
                    r.id().as_str(),
                    StageKind::Validated,
                    i
                ))
            );
            n += 1;
        }
    }
    assert_eq!(n, 1203);
    assert_eq!(
        s.store()
            .load(&id("rot-0007"))
            .await
            .unwrap()
            .unwrap()
            .version,
        Version(2),
        "reseal_all does not bump versions"
    );
    s.close().await;
}
both!(
    rotation_and_reseal_all_sqlite_and_pg,
    rotation_and_reseal_all
);

async fn plaintext_mode_is_visible_and_refused_by_a_keyring(db: &Db) {
    let s = db
        .open(Sealer::insecure_plaintext_for_tests_only())
        .await
        .unwrap();
    let r = sample("pt-1", StageKind::Validated);
    s.store().create(&r, &created(&r)).await.unwrap();
    let raw = s.raw().await;
    let secret = &conformance::secrets_of(&r)[0];
    assert!(
        raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "plaintext mode stores the secret readably (and the raw hook can see it)"
    );
    assert!(s.reseal_all().await.is_err(), "no key to reseal with");
    s.close().await;
    assert!(matches!(
        db.open(sealer()).await,
        Err(StoreError::Seal(SealError::Plaintext))
    ));
}
both!(
    plaintext_mode_is_visible_and_refused_by_a_keyring_sqlite_and_pg,
    plaintext_mode_is_visible_and_refused_by_a_keyring
);

/// The conformance kit's plaintext check fails on a plaintext store: it can fail.
struct PlainSqlite;

#[async_trait]
impl Harness for PlainSqlite {
    type Store = SqliteStore;
    async fn fresh(&self) -> SqliteStore {
        SqliteStore::in_memory(Sealer::insecure_plaintext_for_tests_only())
            .await
            .unwrap()
    }
    async fn raw_contents(&self, store: &SqliteStore) -> Option<Vec<u8>> {
        Some(store.raw_contents().await.unwrap())
    }
}

#[tokio::test]
async fn the_kit_catches_plaintext_secrets() {
    let report = conformance::run(&PlainSqlite).await;
    let failed: Vec<_> = report.failed().iter().map(|(n, _)| *n).collect();
    assert_eq!(failed, ["no_plaintext_secrets"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sqlite_handles_on_one_file_race_with_one_winner() {
    let dir = TempDir::new("two-handles");
    let path = dir.0.join("db.sqlite");
    let a = SqliteStore::open(&path, sealer()).await.unwrap();
    let b = SqliteStore::open(&path, sealer()).await.unwrap();
    let r = sample("two-1", StageKind::Validated);
    a.create(&r, &created(&r)).await.unwrap();
    for round in 0..20u64 {
        let current = a.load(r.id()).await.unwrap().unwrap();
        let mut x = conformance::sample_record("two-1", StageKind::Validated, round * 2 + 1);
        let mut y = conformance::sample_record("two-1", StageKind::Validated, round * 2 + 2);
        x.version = current.version;
        y.version = current.version;
        let (ra, rb) = tokio::join!(a.update(&x, None, &[]), b.update(&y, None, &[]));
        assert!(ra.is_ok() != rb.is_ok(), "round {round}: {ra:?} / {rb:?}");
    }
    assert_eq!(a.load(r.id()).await.unwrap().unwrap().version, Version(21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_opening_together_migrate_once() {
    let Some(url) = pg_url("replicas_opening_together_migrate_once") else {
        return;
    };
    let schema = unique_schema("mig");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (url, schema) = (url.clone(), schema.clone());
        tasks.spawn(async move {
            PostgresStore::open(PostgresOptions::new(url).schema(schema), sealer()).await
        });
    }
    while let Some(s) = tasks.join_next().await {
        let s = s.unwrap().unwrap();
        assert_eq!(s.schema_version().await.unwrap(), 4);
        s.close().await;
    }
    drop_schemas(&url, &[schema]).await;
}

#[tokio::test]
async fn bad_schema_names_are_refused() {
    let r = PostgresStore::open(
        PostgresOptions::new("postgres://postgres@127.0.0.1:1/x").schema("x\"; DROP TABLE y; --"),
        sealer(),
    )
    .await;
    assert!(matches!(r, Err(StoreError::Backend(_))));
}
