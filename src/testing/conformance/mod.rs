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
use std::sync::Arc;

use async_trait::async_trait;

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
            "round_trip_every_stage" => records::round_trip_every_stage(&store).await,
            "create_rules" => records::create_rules(&store).await,
            "cas_conflict" => writes::cas_conflict(&store).await,
            "delete_rules" => records::delete_rules(&store).await,
            "verification_writes" => writes::verification_writes(&store).await,
            "concurrent_writers" => writes::concurrent_writers(Arc::new(store)).await,
            "pagination" => listing::pagination(&store).await,
            "filters" => listing::filters(&store).await,
            "audit_events" => events::audit_events(&store).await,
            "invitation_lookup" => invitations::invitation_lookup(&store).await,
            "outbox" => outbox::outbox(Arc::new(store)).await,
            "no_plaintext_secrets" => match secrets::no_plaintext_secrets(harness, &store).await {
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
