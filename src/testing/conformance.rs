//! The store conformance kit (feature `conformance`): the whole behavioural suite, runnable
//! against any [`Store`].
//!
//! This crate runs it against [`MemoryStore`](crate::store::MemoryStore), the SQLite and the
//! PostgreSQL stores; run it against yours. Give it a [`Harness`] that makes a fresh, empty
//! store for each check (and, if it can, reads the store's raw bytes so the kit can check that
//! no secret is stored in plaintext), then assert the [`Report`]:
//!
//! ```
//! use tenant_access::store::MemoryStore;
//! use tenant_access::testing::conformance;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let report = conformance::run_with(|| async { MemoryStore::new() }).await;
//! report.assert_passed();
//! assert!(report.passed().contains(&"cas_conflict"));
//! # });
//! ```
//!
//! The checks ([`CHECKS`]): every stage round-trips (secrets included); `create` refuses a
//! taken id and a non-new version; a stale version loses and changes nothing; of many
//! concurrent writers on one version exactly one wins, and read-modify-write loops lose no
//! update; keyset pagination has no gaps or duplicates for several page sizes; every
//! [`Filter`] field (and combinations) returns exactly what [`Filter::matches`] says; audit
//! events are kept in order and a lost compare-and-swap stores none; lookup by invitation
//! hash follows the live code (an old hash is dead once it changes); `delete` is a
//! compare-and-swap that kills the invitation and keeps the events; `list_connections` lists
//! what `list` lists, and `record_verification` is a compare-and-swap on a validated record
//! that writes the verification's facts and nothing else; and, when the harness
//! exposes raw storage, no secret appears in it.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use time::Duration;

use super::testdata::{self, BASE, MARKER};
use crate::error::StoreError;
use crate::journey::StageKind;
use crate::model::InvitationCode;
use crate::model::{Actor, AuditEvent};
use crate::model::{CustomerId, Method, Version};
use crate::model::{TenantInfo, Verification, VerificationStatus};
use crate::ports::{Filter, PageRequest, Record, Store, VerifiedConnection};

/// The names of the checks, in the order [`run`] runs them.
pub const CHECKS: &[&str] = &[
    "round_trip_every_stage",
    "create_rules",
    "cas_conflict",
    "delete_rules",
    "verification_writes",
    "concurrent_writers",
    "pagination",
    "filters",
    "audit_events",
    "invitation_lookup",
    "no_plaintext_secrets",
];

/// What the kit needs from the integrator.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The store under test.
    type Store: Store + 'static;

    /// A fresh, empty store. Called once per check.
    async fn fresh(&self) -> Self::Store;

    /// Every byte the store has persisted (rows, files), to search for plaintext secrets.
    /// `None` (the default) skips that check, and the report says so.
    async fn raw_contents(&self, _store: &Self::Store) -> Option<Vec<u8>> {
        None
    }
}

/// A [`Harness`] from a closure that makes fresh stores (no raw-storage check).
#[derive(Debug)]
pub struct FnHarness<F>(pub F);

#[async_trait]
impl<S, F, Fut> Harness for FnHarness<F>
where
    S: Store + 'static,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
{
    type Store = S;
    async fn fresh(&self) -> S {
        (self.0)().await
    }
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    passed: Vec<&'static str>,
    failed: Vec<(&'static str, String)>,
    skipped: Vec<(&'static str, &'static str)>,
}

impl Report {
    /// The checks that passed.
    pub fn passed(&self) -> &[&'static str] {
        &self.passed
    }

    /// The checks that failed, with what went wrong.
    pub fn failed(&self) -> &[(&'static str, String)] {
        &self.failed
    }

    /// The checks that were not run, with why.
    pub fn skipped(&self) -> &[(&'static str, &'static str)] {
        &self.skipped
    }

    /// Whether every check that ran passed (and at least one ran).
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && !self.passed.is_empty()
    }

    /// Panics with every failure unless [`is_ok`](Self::is_ok). Prints skipped checks loudly.
    pub fn assert_passed(&self) {
        for (name, why) in &self.skipped {
            eprintln!("conformance: check {name} was NOT run: {why}");
        }
        assert!(
            self.is_ok(),
            "store conformance failed:\n{}",
            self.failed
                .iter()
                .map(|(n, e)| format!("  {n}: {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Runs every check against stores from `harness`.
pub async fn run<H: Harness>(harness: &H) -> Report {
    let mut report = Report::default();
    for &name in CHECKS {
        let store = harness.fresh().await;
        let outcome = match name {
            "round_trip_every_stage" => round_trip_every_stage(&store).await,
            "create_rules" => create_rules(&store).await,
            "cas_conflict" => cas_conflict(&store).await,
            "delete_rules" => delete_rules(&store).await,
            "verification_writes" => verification_writes(&store).await,
            "concurrent_writers" => concurrent_writers(Arc::new(store)).await,
            "pagination" => pagination(&store).await,
            "filters" => filters(&store).await,
            "audit_events" => audit_events(&store).await,
            "invitation_lookup" => invitation_lookup(&store).await,
            "no_plaintext_secrets" => match no_plaintext_secrets(harness, &store).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    report
                        .skipped
                        .push((name, "the harness does not expose raw storage"));
                    continue;
                }
                Err(e) => Err(e),
            },
            _ => unreachable!("every check is dispatched"),
        };
        match outcome {
            Ok(()) => report.passed.push(name),
            Err(e) => report.failed.push((name, e)),
        }
    }
    report
}

/// Runs every check against stores made by `factory` (no raw-storage check).
pub async fn run_with<S, F, Fut>(factory: F) -> Report
where
    S: Store + 'static,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
{
    run(&FnHarness(factory)).await
}

/// A record in stage `kind` with every optional fact set and distinctive secrets (each
/// containing `tA-sEcReT`); `n` varies secrets and times. For integrators' own tests.
pub fn sample_record(id: &str, kind: StageKind, n: u64) -> Record {
    testdata::record(id, kind, n)
}

/// Every secret value in `record`, exposed: for tests that search raw storage.
pub fn secrets_of(record: &Record) -> Vec<String> {
    testdata::secrets_of(record)
}

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn err(context: &str) -> impl FnOnce(StoreError) -> String + '_ {
    move |e| format!("{context}: unexpected store error: {e}")
}

fn event(id: &CustomerId, from: Option<StageKind>, to: StageKind, n: i64) -> AuditEvent {
    AuditEvent {
        customer: id.clone(),
        from,
        to,
        at: BASE + Duration::seconds(n),
        actor: if n % 2 == 0 {
            Actor::System
        } else {
            Actor::Operator(format!("op-{n}").into())
        },
        note: Some(format!("note {n}")),
    }
}

async fn create<S: Store + ?Sized>(store: &S, record: &Record) -> Result<Version, String> {
    store
        .create(record, &event(record.id(), None, record.stage.kind(), 0))
        .await
        .map_err(err("create"))
}

async fn must_load<S: Store + ?Sized>(store: &S, id: &CustomerId) -> Result<Record, String> {
    store
        .load(id)
        .await
        .map_err(err("load"))?
        .ok_or_else(|| format!("{id} is not stored"))
}

async fn round_trip_every_stage<S: Store>(store: &S) -> Check {
    for kind in StageKind::ALL {
        let id = format!("rt-{}", kind.as_str());
        let record = testdata::record(&id, kind, 0);
        let v = create(store, &record).await?;
        ensure!(v == Version(1), "{kind}: create returned {v}, expected v1");
        let loaded = must_load(store, record.id()).await?;
        ensure!(
            loaded.version == Version(1),
            "{kind}: loaded {}",
            loaded.version
        );
        ensure!(
            testdata::fingerprint(&loaded) == testdata::fingerprint(&record),
            "{kind}: the loaded record differs from the stored one:\n{}\n---\n{}",
            testdata::fingerprint(&loaded),
            testdata::fingerprint(&record)
        );
        let mut changed = testdata::record(&id, kind, 1);
        changed.version = loaded.version;
        let v = store.update(&changed, None).await.map_err(err("update"))?;
        ensure!(v == Version(2), "{kind}: update returned {v}, expected v2");
        let loaded = must_load(store, record.id()).await?;
        ensure!(
            loaded.version == Version(2)
                && testdata::fingerprint(&loaded) == testdata::fingerprint(&changed),
            "{kind}: the updated record did not round-trip"
        );
    }
    let missing = CustomerId::new("rt-missing").expect("id");
    ensure!(
        store.load(&missing).await.map_err(err("load"))?.is_none(),
        "loading an unknown customer returned a record"
    );
    Ok(())
}

async fn create_rules<S: Store>(store: &S) -> Check {
    let first = testdata::record("cr-1", StageKind::Invited, 0);
    create(store, &first).await?;
    let again = testdata::record("cr-1", StageKind::Validated, 5);
    match store
        .create(&again, &event(again.id(), None, StageKind::Validated, 1))
        .await
    {
        Err(StoreError::AlreadyExists(id)) if id == *first.id() => {}
        other => {
            return Err(format!(
                "creating a taken id: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let loaded = must_load(store, first.id()).await?;
    ensure!(
        loaded.version == Version(1)
            && testdata::fingerprint(&loaded) == testdata::fingerprint(&first),
        "a refused create changed the stored record"
    );
    ensure!(
        store.events(first.id()).await.map_err(err("events"))?.len() == 1,
        "a refused create stored its audit event"
    );
    let mut not_new = testdata::record("cr-2", StageKind::Invited, 0);
    not_new.version = Version(3);
    ensure!(
        store
            .create(&not_new, &event(not_new.id(), None, StageKind::Invited, 0))
            .await
            .is_err(),
        "create accepted a record whose version is not Version::NEW"
    );
    ensure!(
        store
            .load(not_new.id())
            .await
            .map_err(err("load"))?
            .is_none(),
        "a refused create stored the record"
    );
    Ok(())
}

async fn cas_conflict<S: Store>(store: &S) -> Check {
    let record = testdata::record("cas-1", StageKind::Claimed, 0);
    create(store, &record).await?;
    let read_a = must_load(store, record.id()).await?;
    let read_b = read_a.clone();
    let mut a = testdata::record("cas-1", StageKind::DeviceCodeIssued, 1);
    a.version = read_a.version;
    let ev_a = event(
        a.id(),
        Some(StageKind::Claimed),
        StageKind::DeviceCodeIssued,
        1,
    );
    let v = store.update(&a, Some(&ev_a)).await.map_err(err("update"))?;
    ensure!(
        v == Version(2),
        "the first update returned {v}, expected v2"
    );
    let mut b = testdata::record("cas-1", StageKind::Revoked, 2);
    b.version = read_b.version;
    let ev_b = event(b.id(), Some(StageKind::Claimed), StageKind::Revoked, 2);
    match store.update(&b, Some(&ev_b)).await {
        Err(StoreError::Conflict {
            customer,
            expected,
            actual,
        }) => {
            ensure!(
                customer == *b.id() && expected == Version(1) && actual == Some(Version(2)),
                "conflict carries customer {customer}, expected {expected}, actual {actual:?}; \
                 wanted cas-1, v1, Some(v2)"
            );
        }
        other => return Err(format!("a stale update: expected Conflict, got {other:?}")),
    }
    let loaded = must_load(store, a.id()).await?;
    ensure!(
        loaded.version == Version(2) && testdata::fingerprint(&loaded) == testdata::fingerprint(&a),
        "the losing update changed the stored record"
    );
    let events = store.events(a.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 2 && events[1] == ev_a,
        "after a lost compare-and-swap the events are {events:?}"
    );
    // A version from the future loses too.
    let mut future = a.clone();
    future.version = Version(9);
    ensure!(
        matches!(
            store.update(&future, None).await,
            Err(StoreError::Conflict { .. })
        ),
        "an update with a version ahead of the stored one did not conflict"
    );
    let ghost = testdata::record("cas-ghost", StageKind::Claimed, 0);
    let mut ghost_v1 = ghost.clone();
    ghost_v1.version = Version(1);
    match store.update(&ghost_v1, None).await {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "updating an unknown customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        store.load(ghost.id()).await.map_err(err("load"))?.is_none(),
        "updating an unknown customer created it"
    );
    Ok(())
}

async fn delete_rules<S: Store>(store: &S) -> Check {
    let r = testdata::record("del-1", StageKind::InvitationSent, 0);
    let keep = testdata::record("del-2", StageKind::InvitationSent, 1);
    create(store, &r).await?;
    create(store, &keep).await?;
    let hash = r.invitation_hash().expect("sample has a code");
    let gone = event(
        r.id(),
        Some(StageKind::InvitationSent),
        StageKind::Revoked,
        1,
    );
    match store.delete(r.id(), Version(2), &gone).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => ensure!(
            expected == Version(2) && actual == Some(Version(1)),
            "a stale delete's conflict says expected {expected}, actual {actual:?}"
        ),
        other => return Err(format!("a stale delete: expected Conflict, got {other:?}")),
    }
    ensure!(
        store.load(r.id()).await.map_err(err("load"))?.is_some(),
        "a stale delete removed the customer"
    );
    store
        .delete(r.id(), Version(1), &gone)
        .await
        .map_err(err("delete"))?;
    ensure!(
        store.load(r.id()).await.map_err(err("load"))?.is_none(),
        "a deleted customer still loads"
    );
    ensure!(
        store
            .load_by_invitation(&hash)
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "a deleted customer's invitation still finds it"
    );
    let events = store.events(r.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 2 && events[1] == gone,
        "after a delete the events are {events:?}"
    );
    match store.delete(r.id(), Version(1), &gone).await {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "deleting a deleted customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        must_load(store, keep.id()).await?.version == Version(1),
        "deleting one customer touched another"
    );
    // The id can be used again.
    create(store, &r).await?;
    Ok(())
}

/// Whether `loaded` is still `record`, version included.
fn unchanged(record: &Record, loaded: &Record, what: &str) -> Check {
    ensure!(
        loaded.version == record.version
            && testdata::fingerprint(loaded) == testdata::fingerprint(record),
        "{what} changed the stored record"
    );
    Ok(())
}

async fn verification_writes<S: Store>(store: &S) -> Check {
    let validated = testdata::record("ver-1", StageKind::Validated, 3);
    let claimed = testdata::record("ver-2", StageKind::Claimed, 4);
    create(store, &validated).await?;
    create(store, &claimed).await?;
    // `list_connections` lists what `list` lists, page for page.
    for filter in [Filter::all(), Filter::stages([StageKind::Validated])] {
        let mut request = Some(PageRequest::first(1));
        while let Some(page) = request {
            let records = store.list(&filter, &page).await.map_err(err("list"))?;
            let listed = store
                .list_connections(&filter, &page)
                .await
                .map_err(err("list_connections"))?;
            let wanted: Vec<_> = records
                .records
                .iter()
                .map(|r| {
                    let token = r.customer.token.as_ref();
                    let token = token.map(|t| t.access_token.expose_secret().to_owned());
                    (
                        r.id().clone(),
                        r.customer.tenant.clone(),
                        r.stage.kind(),
                        token,
                        r.version,
                    )
                })
                .collect();
            let got: Vec<_> = listed
                .connections
                .iter()
                .map(|c| {
                    let token = c
                        .access_token
                        .as_ref()
                        .map(|t| t.expose_secret().to_owned());
                    (
                        c.customer.clone(),
                        c.tenant.clone(),
                        c.stage,
                        token,
                        c.version,
                    )
                })
                .collect();
            ensure!(
                got == wanted,
                "list_connections gave {got:?} where list gave {wanted:?}"
            );
            ensure!(
                listed.next.as_ref().map(|n| &n.after) == records.next.as_ref().map(|n| &n.after),
                "list_connections and list disagree on the next page"
            );
            request = records.next;
        }
    }
    let verified = VerifiedConnection {
        at: BASE + Duration::days(30),
        tenant_info: TenantInfo {
            id: "8f7e6d5c-0000-4000-8000-000000000001".into(),
            display_name: "Renamed".into(),
            domains: vec!["renamed.example".into()],
        },
    };
    let mut stored = validated.clone();
    stored.version = Version(1);
    match store
        .record_verification(validated.id(), Version(2), &verified)
        .await
    {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) if expected == Version(2) && actual == Some(Version(1)) => {}
        other => {
            return Err(format!(
                "a stale record_verification: expected Conflict (v2, Some(v1)), got {other:?}"
            ));
        }
    }
    unchanged(
        &stored,
        &must_load(store, validated.id()).await?,
        "a stale record_verification",
    )?;
    let v = store
        .record_verification(validated.id(), Version(1), &verified)
        .await
        .map_err(err("record_verification"))?;
    ensure!(
        v == Version(2),
        "record_verification returned {v}, expected v2"
    );
    verified.apply_to(&mut stored);
    stored.version = Version(2);
    let loaded = must_load(store, validated.id()).await?;
    ensure!(
        loaded.version == Version(2)
            && testdata::fingerprint(&loaded) == testdata::fingerprint(&stored),
        "record_verification stored {:?}, expected {:?}",
        testdata::fingerprint(&loaded),
        testdata::fingerprint(&stored)
    );
    ensure!(
        loaded.customer.tenant_info.as_ref() == Some(&verified.tenant_info)
            && loaded.customer.last_error.is_none()
            && loaded
                .customer
                .token
                .as_ref()
                .map(|t| t.access_token.expose_secret())
                == validated
                    .customer
                    .token
                    .as_ref()
                    .map(|t| t.access_token.expose_secret()),
        "record_verification did not keep the token or write the tenant"
    );
    // Not validated: nothing to verify, nothing written.
    match store
        .record_verification(claimed.id(), Version(1), &verified)
        .await
    {
        Err(StoreError::Conflict { .. }) => {}
        other => {
            return Err(format!(
                "record_verification of a claimed customer: expected Conflict, got {other:?}"
            ));
        }
    }
    let mut claimed_v1 = claimed.clone();
    claimed_v1.version = Version(1);
    unchanged(
        &claimed_v1,
        &must_load(store, claimed.id()).await?,
        "record_verification of a claimed customer",
    )?;
    let ghost = CustomerId::new("ver-ghost").expect("a valid id");
    match store
        .record_verification(&ghost, Version(1), &verified)
        .await
    {
        Err(StoreError::Conflict { actual: None, .. }) => {}
        other => {
            return Err(format!(
                "record_verification of an unknown customer: expected Conflict with actual None, got {other:?}"
            ));
        }
    }
    ensure!(
        store.load(&ghost).await.map_err(err("load"))?.is_none(),
        "record_verification of an unknown customer created it"
    );
    Ok(())
}

async fn concurrent_writers<S: Store + 'static>(store: Arc<S>) -> Check {
    const WRITERS: u64 = 16;
    let base = testdata::record("cw-1", StageKind::Validated, 0);
    create(&*store, &base).await?;
    for round in 0..5u64 {
        let current = must_load(&*store, base.id()).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let store = Arc::clone(&store);
            let mut mine = testdata::record("cw-1", StageKind::Validated, 100 * round + w + 1);
            mine.version = current.version;
            tasks.spawn(async move {
                let ev = event(
                    mine.id(),
                    Some(StageKind::Validated),
                    StageKind::Validated,
                    7,
                );
                (store.update(&mine, Some(&ev)).await, mine)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (result, mine) = joined.map_err(|e| format!("a writer task failed: {e}"))?;
            match result {
                Ok(v) => {
                    ensure!(v == current.version.next(), "a winner got {v}");
                    winners.push(mine);
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(format!("a concurrent writer failed: {e}")),
            }
        }
        ensure!(
            winners.len() == 1,
            "round {round}: {} of {WRITERS} writers on one version won",
            winners.len()
        );
        let stored = must_load(&*store, base.id()).await?;
        ensure!(
            stored.version == current.version.next()
                && testdata::fingerprint(&stored) == testdata::fingerprint(&winners[0]),
            "round {round}: the stored record is not the winner's"
        );
    }
    let events = store.events(base.id()).await.map_err(err("events"))?;
    ensure!(
        events.len() == 6,
        "5 rounds with one winner each should leave 6 events, found {}",
        events.len()
    );
    // Read-modify-write loops that retry on conflict lose no update.
    const TASKS: u32 = 8;
    const EACH: u32 = 10;
    let counter = testdata::record("cw-counter", StageKind::Validated, 0);
    let mut zero = counter.clone();
    if let Some(inv) = zero.customer.invitation.as_mut() {
        inv.codes_issued = 0;
    }
    create(&*store, &zero).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        let id = counter.id().clone();
        tasks.spawn(async move {
            let mut done = 0;
            let mut attempts = 0;
            while done < EACH {
                attempts += 1;
                if attempts > 10_000 {
                    return Err("gave up after 10000 conflicts".to_owned());
                }
                let mut r = match store.load(&id).await {
                    Ok(Some(r)) => r,
                    other => return Err(format!("load: {other:?}")),
                };
                if let Some(inv) = r.customer.invitation.as_mut() {
                    inv.codes_issued += 1;
                }
                match store.update(&r, None).await {
                    Ok(_) => done += 1,
                    Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => return Err(format!("update: {e}")),
                }
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("a counter task failed: {e}"))??;
    }
    let stored = must_load(&*store, counter.id()).await?;
    let count = stored
        .customer
        .invitation
        .as_ref()
        .map_or(0, |i| i.codes_issued);
    ensure!(
        count == TASKS * EACH && stored.version == Version(u64::from(TASKS * EACH) + 1),
        "lost updates: counter {count} at {} after {} increments",
        stored.version,
        TASKS * EACH
    );
    Ok(())
}

async fn pagination<S: Store>(store: &S) -> Check {
    let mut ids = BTreeSet::new();
    for i in 0..53u32 {
        ids.insert(format!("pg-{i:03}"));
    }
    for extra in [
        "PG-upper",
        "pg-B",
        "pg-a",
        "pg-é",
        "pg-z~",
        "pg- space",
        "pg-_",
    ] {
        ids.insert(extra.to_owned());
    }
    let ids: Vec<CustomerId> = ids
        .into_iter()
        .map(|s| CustomerId::new(s).expect("id"))
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    for (i, id) in ids.iter().enumerate() {
        let kind = StageKind::ALL[i % StageKind::ALL.len()];
        create(store, &testdata::record(id.as_str(), kind, i as u64)).await?;
    }
    for size in [1usize, 7, 60, 1000] {
        let mut seen = Vec::new();
        let mut request = Some(PageRequest::first(size));
        let mut pages = 0;
        while let Some(r) = request.take() {
            pages += 1;
            ensure!(pages <= 200, "page size {size}: the pager never ends");
            let page = store.list(&Filter::all(), &r).await.map_err(err("list"))?;
            ensure!(
                page.records.len() <= size,
                "page size {size}: a page of {} records",
                page.records.len()
            );
            ensure!(
                page.next.is_none() || !page.records.is_empty(),
                "page size {size}: an empty page promises more"
            );
            seen.extend(page.records.iter().map(|r| r.id().clone()));
            request = page.next;
        }
        ensure!(
            seen == expected,
            "page size {size}: pages gave {} ids with gaps, duplicates or a wrong order \
             (expected {} in byte order); first difference at {:?}",
            seen.len(),
            expected.len(),
            seen.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    // Starting after an id that is not stored.
    let after = CustomerId::new("pg-0105").expect("id");
    let page = store
        .list(
            &Filter::all(),
            &PageRequest {
                after: Some(after.clone()),
                limit: 3,
            },
        )
        .await
        .map_err(err("list"))?;
    let want: Vec<_> = expected.iter().filter(|id| **id > after).take(3).collect();
    let got: Vec<_> = page.records.iter().map(|r| r.id()).collect();
    ensure!(got == want, "after {after}: got {got:?}, want {want:?}");
    Ok(())
}

async fn filters<S: Store>(store: &S) -> Check {
    let mut all = Vec::new();
    for i in 0..40u64 {
        let kind = StageKind::ALL[(i as usize * 7) % StageKind::ALL.len()];
        let mut r = testdata::record(&format!("f-{i:02}"), kind, i);
        let c = &mut r.customer;
        c.method = match i % 3 {
            0 => Method::DeviceCode,
            1 => Method::Password,
            _ => Method::AppRegistration,
        };
        if kind != StageKind::ConsentRequired {
            c.credentials = None;
        } else {
            c.method = r_method(&c.credentials);
        }
        if i % 5 == 0 {
            c.token = None;
        } else if let Some(t) = c.token.as_mut() {
            t.expires_at = BASE + Duration::minutes(i as i64 * 10);
        }
        c.last_verification = match i % 4 {
            0 => None,
            1 => Some(Verification {
                at: BASE + Duration::hours(i as i64),
                status: VerificationStatus::Ok,
            }),
            2 => Some(Verification {
                at: BASE + Duration::hours(i as i64),
                status: VerificationStatus::Failed,
            }),
            _ => Some(Verification {
                at: BASE - Duration::hours(i as i64),
                status: VerificationStatus::Transient,
            }),
        };
        create(store, &r).await?;
        all.push(r);
    }
    let cut = BASE + Duration::minutes(200);
    let cases: Vec<(&str, Filter)> = vec![
        ("all", Filter::all()),
        (
            "stages",
            Filter::stages([StageKind::Validated, StageKind::Invited, StageKind::Expired]),
        ),
        ("no stages", Filter::stages([])),
        (
            "methods",
            Filter {
                methods: Some(vec![Method::Password]),
                ..Filter::default()
            },
        ),
        (
            "verification ok",
            Filter {
                verification: Some(VerificationStatus::Ok),
                ..Filter::default()
            },
        ),
        (
            "verification failed",
            Filter {
                verification: Some(VerificationStatus::Failed),
                ..Filter::default()
            },
        ),
        (
            "token expiring before",
            Filter {
                token_expires_before: Some(cut),
                ..Filter::default()
            },
        ),
        (
            "token expiring before (exact boundary)",
            Filter {
                token_expires_before: Some(BASE + Duration::minutes(60)),
                ..Filter::default()
            },
        ),
        (
            "not verified since",
            Filter {
                not_verified_since: Some(BASE + Duration::hours(10)),
                ..Filter::default()
            },
        ),
        (
            "combined",
            Filter {
                stages: Some(StageKind::ALL.to_vec()),
                methods: Some(vec![Method::DeviceCode, Method::AppRegistration]),
                verification: None,
                token_expires_before: Some(cut),
                not_verified_since: Some(BASE + Duration::hours(30)),
            },
        ),
    ];
    for (name, filter) in cases {
        let want: Vec<CustomerId> = all
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.id().clone())
            .collect();
        let mut got = Vec::new();
        let mut request = Some(PageRequest::first(4));
        while let Some(r) = request.take() {
            let page = store.list(&filter, &r).await.map_err(err("list"))?;
            ensure!(
                page.records.iter().all(|r| filter.matches(r)),
                "filter {name}: a listed record does not match"
            );
            got.extend(page.records.iter().map(|r| r.id().clone()));
            request = page.next;
        }
        ensure!(got == want, "filter {name}: got {got:?}, want {want:?}");
        ensure!(
            name == "no stages" || !want.is_empty() || name.contains("boundary"),
            "filter {name}: the kit's own data matches nothing (kit bug)"
        );
    }
    Ok(())
}

fn r_method(credentials: &Option<crate::model::Credentials>) -> Method {
    match credentials {
        Some(crate::model::Credentials::Password { .. }) => Method::Password,
        Some(crate::model::Credentials::AppRegistration { .. }) => Method::AppRegistration,
        _ => Method::DeviceCode,
    }
}

async fn audit_events<S: Store>(store: &S) -> Check {
    let r = testdata::record("ae-1", StageKind::Invited, 0);
    let other = testdata::record("ae-2", StageKind::Invited, 0);
    let e0 = event(r.id(), None, StageKind::Invited, 0);
    store.create(&r, &e0).await.map_err(err("create"))?;
    create(store, &other).await?;
    let mut sent = vec![e0];
    let mut current = must_load(store, r.id()).await?;
    for (i, kind) in [
        StageKind::InvitationSent,
        StageKind::Claimed,
        StageKind::DeviceCodeIssued,
    ]
    .into_iter()
    .enumerate()
    {
        let mut next = testdata::record("ae-1", kind, i as u64 + 1);
        next.version = current.version;
        let ev = event(r.id(), Some(current.stage.kind()), kind, i as i64 + 1);
        store
            .update(&next, Some(&ev))
            .await
            .map_err(err("update"))?;
        sent.push(ev);
        current = must_load(store, r.id()).await?;
    }
    // An update without an event adds none; append_event adds one outside a write.
    let mut quiet = current.clone();
    quiet.customer.last_error = Some("quiet".into());
    store.update(&quiet, None).await.map_err(err("update"))?;
    let extra = AuditEvent {
        note: None,
        actor: Actor::Customer,
        ..event(
            r.id(),
            Some(StageKind::DeviceCodeIssued),
            StageKind::DeviceCodeIssued,
            9,
        )
    };
    store
        .append_event(&extra)
        .await
        .map_err(err("append_event"))?;
    sent.push(extra);
    // A lost compare-and-swap stores no event.
    let lost = event(r.id(), Some(StageKind::Invited), StageKind::Revoked, 10);
    ensure!(
        store.update(&current, Some(&lost)).await.is_err(),
        "a stale update succeeded"
    );
    let got = store.events(r.id()).await.map_err(err("events"))?;
    ensure!(got == sent, "events:\n got {got:?}\nwant {sent:?}");
    let others = store.events(other.id()).await.map_err(err("events"))?;
    ensure!(
        others.len() == 1 && others[0].customer == *other.id(),
        "another customer's events: {others:?}"
    );
    let none = store
        .events(&CustomerId::new("ae-none").expect("id"))
        .await
        .map_err(err("events"))?;
    ensure!(none.is_empty(), "an unknown customer has events");
    Ok(())
}

async fn invitation_lookup<S: Store>(store: &S) -> Check {
    let r = testdata::record("il-1", StageKind::InvitationSent, 0);
    let other = testdata::record("il-2", StageKind::InvitationSent, 1);
    create(store, &r).await?;
    create(store, &other).await?;
    let old = r.invitation_hash().expect("sample has a code");
    let found = store
        .load_by_invitation(&old)
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(r.id()),
        "lookup by the live hash found {:?}",
        found.map(|f| f.id().clone())
    );
    let new_code = InvitationCode::generate();
    let mut resent = must_load(store, r.id()).await?;
    if let Some(inv) = resent.customer.invitation.as_mut() {
        inv.code_hash = Some(new_code.hash());
    }
    store.update(&resent, None).await.map_err(err("update"))?;
    ensure!(
        store
            .load_by_invitation(&old)
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "the old invitation hash still finds the customer after the code changed"
    );
    let found = store
        .load_by_invitation(&new_code.hash())
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(r.id()),
        "the new hash does not find the customer"
    );
    let mut used = must_load(store, r.id()).await?;
    if let Some(inv) = used.customer.invitation.as_mut() {
        inv.code_hash = None;
    }
    store.update(&used, None).await.map_err(err("update"))?;
    ensure!(
        store
            .load_by_invitation(&new_code.hash())
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "a used-up invitation still finds the customer"
    );
    let found = store
        .load_by_invitation(&other.invitation_hash().expect("code"))
        .await
        .map_err(err("load_by_invitation"))?;
    ensure!(
        found.as_ref().map(|f| f.id()) == Some(other.id()),
        "another customer's hash stopped working"
    );
    ensure!(
        store
            .load_by_invitation(&InvitationCode::generate().hash())
            .await
            .map_err(err("load_by_invitation"))?
            .is_none(),
        "an unknown hash found a customer"
    );
    Ok(())
}

/// `Ok(false)`: the harness has no raw access.
async fn no_plaintext_secrets<H: Harness>(harness: &H, store: &H::Store) -> Result<bool, String> {
    let mut secrets = Vec::new();
    for (i, kind) in StageKind::ALL.into_iter().enumerate() {
        let id = format!("ns-{}", kind.as_str());
        let r = testdata::record(&id, kind, i as u64);
        secrets.extend(testdata::secrets_of(&r));
        create(store, &r).await?;
        let mut next = testdata::record(&id, kind, i as u64 + 50);
        next.version = Version(1);
        secrets.extend(testdata::secrets_of(&next));
        store.update(&next, None).await.map_err(err("update"))?;
    }
    let Some(raw) = harness.raw_contents(store).await else {
        return Ok(false);
    };
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    ensure!(
        contains(b"ns-validated"),
        "the raw contents do not even hold the customer ids: the raw hook reads nothing"
    );
    for s in &secrets {
        ensure!(
            !contains(s.as_bytes()),
            "a secret is stored in plaintext ({} bytes of raw storage searched)",
            raw.len()
        );
    }
    ensure!(
        !contains(MARKER.as_bytes()),
        "part of a secret is stored in plaintext"
    );
    Ok(true)
}
