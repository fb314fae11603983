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
//! [`Filter`](crate::ports::Filter) field (and combinations) returns exactly what
//! [`Filter::matches`](crate::ports::Filter::matches) says; audit events are kept in order and
//! a lost compare-and-swap stores none; lookup by invitation hash follows the live code (an
//! old hash is dead once it changes), a method switch's code included; `delete` is a compare-and-swap that kills the invitation
//! and keeps the events; `list_connections` lists what `list` lists, and
//! `record_verification` is a compare-and-swap on a validated record that writes the
//! verification's facts and nothing else; the outbox stores a write's notices with it (none
//! when the write loses), hands each due notice to one claimer while a claim holds, lets a
//! lapsed claim be taken over, lets only the holder settle, retries when due and lists by
//! state; and, when the harness exposes raw storage, no secret appears in it.
//!
//! After each check the kit calls [`Harness::teardown`] with the check's store (whether the
//! check passed, failed or panicked; a panic is reported as that check's failure), so a
//! harness can drop a schema, delete a file or flush a database per check:
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use tenant_access::store::MemoryStore;
//! use tenant_access::testing::conformance::{self, CHECKS};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let torn_down = AtomicUsize::new(0);
//! let report = conformance::run_with_teardown(
//!     || async { MemoryStore::new() },
//!     |_store: &MemoryStore| {
//!         torn_down.fetch_add(1, Ordering::SeqCst);
//!         Box::pin(async {})
//!     },
//! )
//! .await;
//! report.assert_passed();
//! assert_eq!(torn_down.load(Ordering::SeqCst), CHECKS.len());
//! # });
//! ```
//!
//! Each check lives with its concept: `records` (round trip, create, delete), `writes`
//! (compare-and-swap, verification writes, concurrent writers), `listing` (pagination,
//! filters), `events`, `invitations`, `outbox` and `secrets`.

mod events;
mod invitations;
mod listing;
mod outbox;
mod records;
mod secrets;
mod support;
mod writes;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt as _;

use super::testdata;
use crate::journey::StageKind;
use crate::ports::{Record, Store};

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
    "outbox",
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

    /// Called after every check with the store [`fresh`](Self::fresh) made for it, whether
    /// the check passed, failed or panicked: drop the schema, delete the file, flush the
    /// database. The default does nothing.
    async fn teardown(&self, _store: &Self::Store) {}
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

/// A [`Harness`] from two closures: one makes fresh stores, the other tears each one down
/// after its check (no raw-storage check). See [`run_with_teardown`].
pub struct FnTeardownHarness<F, T> {
    /// Makes a fresh, empty store.
    pub fresh: F,
    /// Tears a store down after its check.
    pub teardown: T,
}

impl<F, T> std::fmt::Debug for FnTeardownHarness<F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnTeardownHarness").finish_non_exhaustive()
    }
}

/// The future a teardown closure returns: boxed, since it borrows the store.
pub type TeardownFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

#[async_trait]
impl<S, F, Fut, T> Harness for FnTeardownHarness<F, T>
where
    S: Store + 'static,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
    T: for<'a> Fn(&'a S) -> TeardownFuture<'a> + Send + Sync,
{
    type Store = S;
    async fn fresh(&self) -> S {
        (self.fresh)().await
    }
    async fn teardown(&self, store: &S) {
        (self.teardown)(store).await
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

/// Runs every check against stores from `harness`, each on a fresh store that
/// [`Harness::teardown`] gets afterwards. A check that panics is reported as failed (with the
/// panic's message) and the run goes on.
pub async fn run<H: Harness>(harness: &H) -> Report {
    let mut report = Report::default();
    for &name in CHECKS {
        let store = Arc::new(harness.fresh().await);
        let outcome = AssertUnwindSafe(check(harness, name, &store))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Some(Err(format!("panicked: {message}")))
            });
        harness.teardown(&store).await;
        match outcome {
            Some(Ok(())) => report.passed.push(name),
            Some(Err(e)) => report.failed.push((name, e)),
            None => report
                .skipped
                .push((name, "the harness does not expose raw storage")),
        }
    }
    report
}

/// Runs check `name` on `store`: `None` when it was skipped.
async fn check<H: Harness>(
    harness: &H,
    name: &str,
    store: &Arc<H::Store>,
) -> Option<Result<(), String>> {
    Some(match name {
        "round_trip_every_stage" => records::round_trip_every_stage(&**store).await,
        "create_rules" => records::create_rules(&**store).await,
        "cas_conflict" => writes::cas_conflict(&**store).await,
        "delete_rules" => records::delete_rules(&**store).await,
        "verification_writes" => writes::verification_writes(&**store).await,
        "concurrent_writers" => writes::concurrent_writers(Arc::clone(store)).await,
        "pagination" => listing::pagination(&**store).await,
        "filters" => listing::filters(&**store).await,
        "audit_events" => events::audit_events(&**store).await,
        "invitation_lookup" => invitations::invitation_lookup(&**store).await,
        "outbox" => outbox::outbox(Arc::clone(store)).await,
        "no_plaintext_secrets" => match secrets::no_plaintext_secrets(harness, &**store).await {
            Ok(true) => Ok(()),
            Ok(false) => return None,
            Err(e) => Err(e),
        },
        _ => unreachable!("every check is dispatched"),
    })
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

/// Runs every check against stores made by `factory`, handing each store to `teardown` after
/// its check (no raw-storage check). `teardown` returns a boxed future
/// (`|store| Box::pin(async move { .. })`), since it borrows the store.
pub async fn run_with_teardown<S, F, Fut, T>(factory: F, teardown: T) -> Report
where
    S: Store + 'static,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
    T: for<'a> Fn(&'a S) -> TeardownFuture<'a> + Send + Sync,
{
    run(&FnTeardownHarness {
        fresh: factory,
        teardown,
    })
    .await
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
