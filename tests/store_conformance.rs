//! The conformance kit against every store this crate ships.

#[path = "sql_support/mod.rs"]
mod support;

use std::sync::Mutex;

use async_trait::async_trait;
use tenant_access::store::{MemoryStore, PostgresOptions, PostgresStore, SqliteStore};
use tenant_access::testing::conformance::{self, CHECKS, Harness};

use support::{TempDir, drop_schemas, pg_url, sealer, unique_schema};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let report = conformance::run_with(|| async { MemoryStore::new() }).await;
    report.assert_passed();
    // MemoryStore has no raw storage to search; everything else ran.
    assert_eq!(report.passed().len(), CHECKS.len() - 1);
    assert_eq!(report.skipped().len(), 1);
}

struct SqliteMemory;

#[async_trait]
impl Harness for SqliteMemory {
    type Store = SqliteStore;
    async fn fresh(&self) -> SqliteStore {
        SqliteStore::in_memory(sealer()).await.unwrap()
    }
    async fn raw_contents(&self, store: &SqliteStore) -> Option<Vec<u8>> {
        Some(store.raw_contents().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_conforms() {
    let report = conformance::run(&SqliteMemory).await;
    report.assert_passed();
    assert_eq!(report.passed(), CHECKS);
}

/// SQLite on a file; the raw hook reads the database file and its WAL byte for byte.
struct SqliteFile {
    dir: TempDir,
    n: Mutex<u32>,
}

#[async_trait]
impl Harness for SqliteFile {
    type Store = SqliteStore;
    async fn fresh(&self) -> SqliteStore {
        let n = {
            let mut n = self.n.lock().unwrap();
            *n += 1;
            *n
        };
        SqliteStore::open(self.dir.0.join(format!("db-{n}.sqlite")), sealer())
            .await
            .unwrap()
    }
    async fn raw_contents(&self, _store: &SqliteStore) -> Option<Vec<u8>> {
        let n = *self.n.lock().unwrap();
        let mut raw = Vec::new();
        for suffix in ["", "-wal"] {
            let path = self.dir.0.join(format!("db-{n}.sqlite{suffix}"));
            if let Ok(bytes) = std::fs::read(&path) {
                raw.extend(bytes);
            }
        }
        Some(raw)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_conforms_and_the_file_holds_no_plaintext_secret() {
    let harness = SqliteFile {
        dir: TempDir::new("conformance"),
        n: Mutex::new(0),
    };
    let report = conformance::run(&harness).await;
    report.assert_passed();
    assert_eq!(report.passed(), CHECKS);
}

struct Pg {
    url: String,
    schemas: Mutex<Vec<String>>,
}

#[async_trait]
impl Harness for Pg {
    type Store = PostgresStore;
    async fn fresh(&self) -> PostgresStore {
        let schema = unique_schema("conf");
        self.schemas.lock().unwrap().push(schema.clone());
        PostgresStore::open(
            PostgresOptions::new(&self.url)
                .schema(schema)
                .max_connections(8),
            sealer(),
        )
        .await
        .unwrap()
    }
    async fn raw_contents(&self, store: &PostgresStore) -> Option<Vec<u8>> {
        Some(store.raw_contents().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let Some(url) = pg_url("postgres_conforms") else {
        return;
    };
    let harness = Pg {
        url: url.clone(),
        schemas: Mutex::new(Vec::new()),
    };
    let report = conformance::run(&harness).await;
    let schemas = harness.schemas.lock().unwrap().clone();
    drop_schemas(&url, &schemas).await;
    report.assert_passed();
    assert_eq!(report.passed(), CHECKS);
}

/// A store that drops every update must fail the kit: the kit can fail.
#[derive(Debug, Default)]
struct ForgetfulStore(MemoryStore);

#[async_trait]
impl tenant_access::store::Store for ForgetfulStore {
    async fn create(
        &self,
        record: &tenant_access::store::Record,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        self.0.create(record, event).await
    }
    async fn load(
        &self,
        customer: &tenant_access::CustomerId,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load(customer).await
    }
    async fn load_by_invitation(
        &self,
        hash: &tenant_access::model::CodeHash,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load_by_invitation(hash).await
    }
    async fn update(
        &self,
        record: &tenant_access::store::Record,
        _event: Option<&tenant_access::model::AuditEvent>,
        _notices: &[tenant_access::model::Notice],
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        // Claims success without checking or storing anything.
        Ok(record.version.next())
    }
    async fn delete(
        &self,
        _customer: &tenant_access::CustomerId,
        _expected: tenant_access::Version,
        _event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        // Claims success without checking or deleting anything.
        Ok(())
    }
    async fn list(
        &self,
        filter: &tenant_access::store::Filter,
        page: &tenant_access::store::PageRequest,
    ) -> Result<tenant_access::store::Page, tenant_access::error::StoreError> {
        self.0.list(filter, page).await
    }
    async fn append_event(
        &self,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        self.0.append_event(event).await
    }
    async fn events(
        &self,
        customer: &tenant_access::CustomerId,
    ) -> Result<Vec<tenant_access::model::AuditEvent>, tenant_access::error::StoreError> {
        self.0.events(customer).await
    }
    async fn claim_notices(
        &self,
        claim: &tenant_access::ports::Claim<'_>,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.claim_notices(claim).await
    }
    async fn settle_notice(
        &self,
        id: &tenant_access::model::NoticeId,
        holder: &str,
        settlement: &tenant_access::ports::Settlement,
    ) -> Result<bool, tenant_access::error::StoreError> {
        self.0.settle_notice(id, holder, settlement).await
    }
    async fn outbox(
        &self,
        query: &tenant_access::ports::OutboxQuery,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.outbox(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_store_fails_the_kit() {
    let report = conformance::run_with(|| async { ForgetfulStore::default() }).await;
    assert!(!report.is_ok());
    let failed: Vec<_> = report.failed().iter().map(|(n, _)| *n).collect();
    for must_fail in [
        "round_trip_every_stage",
        "cas_conflict",
        "delete_rules",
        "verification_writes",
        "concurrent_writers",
        "invitation_lookup",
    ] {
        assert!(
            failed.contains(&must_fail),
            "{must_fail} passed: {failed:?}"
        );
    }
    // Pagination and filters do not depend on updates and still pass.
    assert!(report.passed().contains(&"pagination"));
}

/// A store whose cursor includes the record it names: the next page starts with the last
/// record of the one before, so a pager that follows it never ends.
#[derive(Debug, Default)]
struct InclusiveCursorStore(MemoryStore);

#[async_trait]
impl tenant_access::store::Store for InclusiveCursorStore {
    async fn create(
        &self,
        record: &tenant_access::store::Record,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        self.0.create(record, event).await
    }
    async fn load(
        &self,
        customer: &tenant_access::CustomerId,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load(customer).await
    }
    async fn load_by_invitation(
        &self,
        hash: &tenant_access::model::CodeHash,
    ) -> Result<Option<tenant_access::store::Record>, tenant_access::error::StoreError> {
        self.0.load_by_invitation(hash).await
    }
    async fn update(
        &self,
        record: &tenant_access::store::Record,
        event: Option<&tenant_access::model::AuditEvent>,
        notices: &[tenant_access::model::Notice],
    ) -> Result<tenant_access::Version, tenant_access::error::StoreError> {
        self.0.update(record, event, notices).await
    }
    async fn delete(
        &self,
        customer: &tenant_access::CustomerId,
        expected: tenant_access::Version,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        self.0.delete(customer, expected, event).await
    }
    async fn list(
        &self,
        filter: &tenant_access::store::Filter,
        page: &tenant_access::store::PageRequest,
    ) -> Result<tenant_access::store::Page, tenant_access::error::StoreError> {
        let mut listed = self.0.list(filter, page).await?;
        // The bug: the record the cursor names comes back first.
        if let Some(after) = &page.after
            && let Some(named) = self.0.load(after).await?
            && filter.matches(&named)
        {
            listed.records.insert(0, named);
            listed.records.truncate(page.limit);
            let last = listed.records.last().map(|r| r.id().clone());
            listed.next = Some(tenant_access::store::PageRequest {
                after: last,
                limit: page.limit,
            });
        }
        Ok(listed)
    }
    async fn append_event(
        &self,
        event: &tenant_access::model::AuditEvent,
    ) -> Result<(), tenant_access::error::StoreError> {
        self.0.append_event(event).await
    }
    async fn events(
        &self,
        customer: &tenant_access::CustomerId,
    ) -> Result<Vec<tenant_access::model::AuditEvent>, tenant_access::error::StoreError> {
        self.0.events(customer).await
    }
    async fn claim_notices(
        &self,
        claim: &tenant_access::ports::Claim<'_>,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.claim_notices(claim).await
    }
    async fn settle_notice(
        &self,
        id: &tenant_access::model::NoticeId,
        holder: &str,
        settlement: &tenant_access::ports::Settlement,
    ) -> Result<bool, tenant_access::error::StoreError> {
        self.0.settle_notice(id, holder, settlement).await
    }
    async fn outbox(
        &self,
        query: &tenant_access::ports::OutboxQuery,
    ) -> Result<Vec<tenant_access::ports::OutboxEntry>, tenant_access::error::StoreError> {
        self.0.outbox(query).await
    }
}

#[test]
fn an_inclusive_cursor_fails_the_paging_checks_within_seconds_naming_them() {
    // On its own thread and runtime: a pager loop that never yields could not be cut short
    // by a timer on the same runtime, and this test must fail, not hang, if the kit's loops
    // lose their bounds.
    let (done, report) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let report = runtime.block_on(conformance::run_with(|| async {
            InclusiveCursorStore::default()
        }));
        let _ = done.send(report);
    });
    let report = report
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the kit ends within seconds on a store whose pager never does");
    let failed: Vec<_> = report.failed().iter().map(|(n, _)| *n).collect();
    for must_fail in ["pagination", "filters", "verification_writes"] {
        assert!(
            failed.contains(&must_fail),
            "{must_fail} passed: {failed:?}"
        );
    }
    let why: Vec<&str> = report.failed().iter().map(|(_, w)| w.as_str()).collect();
    assert!(
        why.iter().any(|w| w.contains("cursor")),
        "the failures say what is wrong: {why:?}"
    );
    // What does not page still passes.
    assert!(report.passed().contains(&"round_trip_every_stage"));
}

/// A harness that counts the stores it makes and tears down, and whose raw-storage hook
/// panics: the panicking check fails (it does not abort the run) and is torn down like the
/// others.
#[derive(Default)]
struct Counting {
    made: std::sync::atomic::AtomicUsize,
    torn_down: Mutex<Vec<usize>>,
}

#[async_trait]
impl Harness for Counting {
    type Store = MemoryStore;
    async fn fresh(&self) -> MemoryStore {
        self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        MemoryStore::new()
    }
    async fn raw_contents(&self, _store: &MemoryStore) -> Option<Vec<u8>> {
        panic!("the raw-storage hook broke");
    }
    async fn teardown(&self, _store: &MemoryStore) {
        let made = self.made.load(std::sync::atomic::Ordering::SeqCst);
        self.torn_down.lock().unwrap().push(made);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_teardown_hook_runs_after_every_check_even_one_that_panics() {
    let harness = Counting::default();
    let report = conformance::run(&harness).await;
    // Every check but the panicking one passed; that one is a failure naming the panic.
    assert_eq!(report.passed(), &CHECKS[..CHECKS.len() - 1]);
    assert_eq!(report.failed().len(), 1, "{:?}", report.failed());
    let (name, why) = &report.failed()[0];
    assert_eq!(*name, "no_plaintext_secrets");
    assert!(
        why.contains("panicked: the raw-storage hook broke"),
        "{why}"
    );
    // Each store was torn down once, right after its own check (before the next was made).
    let torn_down = harness.torn_down.lock().unwrap().clone();
    assert_eq!(torn_down, (1..=CHECKS.len()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_teardown_closure_runs_after_failing_checks_too() {
    let torn_down = std::sync::atomic::AtomicUsize::new(0);
    let report = conformance::run_with_teardown(
        || async { ForgetfulStore::default() },
        |_store: &ForgetfulStore| {
            torn_down.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async {})
        },
    )
    .await;
    assert!(!report.failed().is_empty());
    assert_eq!(
        torn_down.load(std::sync::atomic::Ordering::SeqCst),
        CHECKS.len()
    );
}
