//! Verify all: prove every matching connection with bounded concurrency, honouring
//! `Retry-After` for the whole run.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use futures_util::future::Either;
use futures_util::stream::{self, Stream, StreamExt};
use std::time::Duration;

use time::OffsetDateTime;

use super::DayTwo;
use crate::Onboarding;
use crate::error::{Error, ProviderError, StoreError};
use crate::journey::{AnyOnboarding, StageKind, Validated, prove_token, renewal_failed};
use crate::model::{AccessToken, CustomerId, Version};
use crate::ports::Target;
use crate::ports::{Filter, ListedConnection, Pager, Unreadable, VerifiedConnection};

/// How many records [`TenantAccess::verify_all`](crate::TenantAccess::verify_all) reads from the store at a time.
const PAGE: usize = 200;
/// How often one customer is tried when the provider throttles or the record moves.
const ATTEMPTS: usize = 4;
// A task may spend one attempt renewing its token and still needs one to report.
const _: () = assert!(ATTEMPTS >= 2);
/// The pause when the provider throttles without saying for how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// One customer's verification in a [`TenantAccess::verify_all`](crate::TenantAccess::verify_all) run.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The customer.
    pub customer: CustomerId,
    /// `Ok` if the connection works; the error otherwise (already recorded on the customer).
    pub result: Result<(), Error>,
    /// The run's counts, this outcome included.
    pub progress: VerifyProgress,
}

/// Counts of a [`TenantAccess::verify_all`](crate::TenantAccess::verify_all) run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Customers finished.
    pub done: usize,
    /// Of those, connections that work.
    pub ok: usize,
    /// Of those, connections that failed.
    pub failed: usize,
    /// Times the provider throttled the run (each paused every task).
    pub throttled: usize,
}

/// The moment before which no task of the run calls the provider, and how often the provider
/// throttled the run. Atomics, not locks: every task reads it before each call, from both
/// cores, and a read of a line nobody writes costs nothing.
#[derive(Default)]
pub(super) struct Pause {
    /// Unix time in nanoseconds; 0 when the run was never paused.
    until: AtomicI64,
    throttled: AtomicUsize,
}

impl Pause {
    fn until(&self) -> Option<OffsetDateTime> {
        match self.until.load(Ordering::Acquire) {
            0 => None,
            nanos => OffsetDateTime::from_unix_timestamp_nanos(nanos.into()).ok(),
        }
    }

    fn extend(&self, to: OffsetDateTime) {
        let nanos = i64::try_from(to.unix_timestamp_nanos()).unwrap_or(i64::MAX);
        self.until.fetch_max(nanos, Ordering::AcqRel);
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    fn throttled(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }
}

impl DayTwo {
    /// [`TenantAccess::verify`](crate::TenantAccess::verify).
    pub(crate) async fn verify(
        &self,
        customer: &CustomerId,
    ) -> Result<Onboarding<Validated>, Error> {
        match self.load(customer).await? {
            AnyOnboarding::Validated(connected) => Ok(connected.verify(self).await?),
            other => Err(super::not_connected(customer, other.kind())),
        }
    }

    /// [`TenantAccess::verify_all`](crate::TenantAccess::verify_all).
    pub(crate) fn verify_all(
        &self,
        filter: Filter,
        concurrency: usize,
    ) -> impl Stream<Item = Result<VerifyOutcome, Error>> + '_ {
        let filter = Filter {
            stages: filter.stages.or(Some(vec![StageKind::Validated])),
            ..filter
        };
        let pause = Arc::new(Pause::default());
        let pager = Pager::connections(self.store(), filter, PAGE);
        let pages = stream::unfold(Some(pager), |pager| async move {
            let mut pager = pager?;
            match pager.next_page().await {
                Ok(Some(connections)) => {
                    // Empty (no allocation) unless a record of the page could not be read.
                    let unreadable = pager.take_unreadable();
                    let items = stream::iter(connections)
                        .map(Listed::Connection)
                        .chain(stream::iter(unreadable).map(Listed::Unreadable));
                    Some((Either::Left(items), Some(pager)))
                }
                Ok(None) => {
                    // Unreadable records of pages with nothing readable after the last one.
                    let unreadable = pager.take_unreadable();
                    if unreadable.is_empty() {
                        return None;
                    }
                    let items = stream::iter(Vec::new())
                        .map(Listed::Connection)
                        .chain(stream::iter(unreadable).map(Listed::Unreadable));
                    Some((Either::Left(items), None))
                }
                Err(error) => Some((
                    Either::Right(stream::once(std::future::ready(Listed::Failed(
                        error.into(),
                    )))),
                    None,
                )),
            }
        });
        let pause_for_tasks = Arc::clone(&pause);
        pages
            .flatten()
            .map(move |item| match item {
                // Not boxed: the task set allocates each future once anyway.
                Listed::Connection(listed) if listed.stage == StageKind::Validated => {
                    Either::Left(self.verify_listed(listed, Arc::clone(&pause_for_tasks)))
                }
                Listed::Connection(listed) => {
                    let error = super::not_connected(&listed.customer, listed.stage);
                    Either::Right(std::future::ready(Ok((listed.customer, Err(error)))))
                }
                // Nothing to verify or record: the record cannot be read.
                Listed::Unreadable(Unreadable { customer, error }) => {
                    Either::Right(std::future::ready(Ok((customer, Err(Error::Store(error))))))
                }
                Listed::Failed(error) => Either::Right(std::future::ready(Err(error))),
            })
            .buffer_unordered(concurrency.max(1))
            .scan(VerifyProgress::default(), move |progress, item| {
                let item = item.map(|(customer, result): (CustomerId, Result<(), Error>)| {
                    progress.done += 1;
                    if result.is_ok() {
                        progress.ok += 1;
                    } else {
                        progress.failed += 1;
                    }
                    progress.throttled = pause.throttled();
                    VerifyOutcome {
                        customer,
                        result,
                        progress: *progress,
                    }
                });
                std::future::ready(Some(item))
            })
    }

    /// Verifies one listed connection: waits out any pause of the run, makes the proving
    /// call with the listed token, and stores the verification's facts alone
    /// ([`Store::record_verification`](crate::ports::Store::record_verification)). A
    /// throttled call is tried again after the pause; a record that moved since it was
    /// listed (a refresh, another verification) is read again and verified as it is now. A
    /// failure is recorded on the customer, as [`verify`](Self::verify) does.
    // Not an `async fn`: one holds its arguments twice (rust-lang/rust#62958), and a run keeps
    // `concurrency` of these futures in flight.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn verify_listed(
        &self,
        listed: ListedConnection,
        pause: Arc<Pause>,
    ) -> impl Future<Output = Result<(CustomerId, Result<(), Error>), Error>> + Send + '_ {
        async move {
            let ListedConnection {
                customer,
                tenant,
                access_token: mut token,
                access_token_expires_at: mut expires_at,
                mut version,
                ..
            } = listed;
            let target = Target { customer, tenant };
            let mut last = None;
            // Whether this task renewed the token: a refused token is renewed once only.
            let mut renewed = false;
            for _ in 0..ATTEMPTS {
                if let Some(until) = pause.until() {
                    self.clock().sleep_until(until).await;
                }
                // An expired token proves nothing but that it expired: no call with it.
                let expired = expires_at.is_some_and(|at| at <= self.clock().now());
                let proof = match expired && !renewed {
                    true => None,
                    false => Some(prove_token(self, &target, token.as_ref()).await),
                };
                let error = match proof {
                    Some(Ok(tenant_info)) => {
                        let verified = VerifiedConnection {
                            at: self.clock().now(),
                            tenant_info,
                        };
                        let stored = self
                            .store()
                            .record_verification(&target.customer, version, &verified)
                            .await;
                        match stored {
                            Ok(_) => return Ok((target.customer, Ok(()))),
                            Err(error) => Error::Store(error),
                        }
                    }
                    Some(Err(error)) if renewed || !is_rejected(&error) => error,
                    // Expired, or refused the first time: renew it (single flight, lease) and
                    // prove the new one.
                    _ => match Box::pin(self.renew_listed(&target.customer, token.clone())).await {
                        Renewal::Renewed(now, at) => {
                            (token, version, renewed) = (now, at, true);
                            continue;
                        }
                        Renewal::Retry(error) => error,
                        Renewal::Failed(error) => return Ok((target.customer, Err(error))),
                    },
                };
                let (moved, error) = match error {
                    Error::Provider(ProviderError::Throttled { retry_after }) => {
                        let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                        pause.extend(self.clock().now() + wait);
                        (None, error)
                    }
                    // The record moved since it was listed: verify what is there now.
                    Error::Store(StoreError::Conflict { .. }) => {
                        match Box::pin(self.relist(&target.customer)).await {
                            Some(now) => (Some(now), error),
                            None => return Ok((target.customer, Err(error))),
                        }
                    }
                    // Recorded on the record the failing token came from; a record that moved
                    // meanwhile (a refreshed token) is verified again instead.
                    error => {
                        let failed = self.record_failure(&target.customer, version, error);
                        match Box::pin(failed).await {
                            Ok(error) => return Ok((target.customer, Err(error))),
                            Err((now, error)) => (Some(now), error),
                        }
                    }
                };
                if let Some(now) = moved {
                    (token, expires_at, version) =
                        (now.access_token, now.access_token_expires_at, now.version);
                }
                last = Some(error);
            }
            Ok((
                target.customer,
                Err(last.expect("at least one attempt failed")),
            ))
        }
    }

    /// Renews the expired or refused token `old` of a listed connection, as
    /// [`verify`](Self::verify) does. Kept out of [`verify_listed`](Self::verify_listed)'s
    /// future, which a run holds `concurrency` of.
    async fn renew_listed(&self, customer: &CustomerId, old: Option<AccessToken>) -> Renewal {
        match self.renew_token(customer, old).await {
            Ok(connected) => Renewal::Renewed(
                connected
                    .customer()
                    .token
                    .as_ref()
                    .map(|t| t.access_token.clone()),
                connected.version(),
            ),
            // Throttled: wait with the run, then renew again.
            Err(error @ Error::Provider(ProviderError::Throttled { .. })) => Renewal::Retry(error),
            Err(error) => Renewal::Failed(match renewal_failed(self, customer, error).await {
                Ok(recorded) => recorded.into_parts().1,
                Err(unrecorded) => unrecorded,
            }),
        }
    }

    /// The customer's connection as stored now, if it is still validated.
    async fn relist(&self, customer: &CustomerId) -> Option<ListedConnection> {
        let record = self.store().load(customer).await.ok()??;
        (record.stage.kind() == StageKind::Validated)
            .then(|| ListedConnection::from_record(&record))
    }

    /// Records the failed verification `error` of `customer` at `version` (status and error)
    /// and hands the error back, unless the record moved since and is still validated: then
    /// records nothing and hands back the connection as it is now, to be verified again.
    async fn record_failure(
        &self,
        customer: &CustomerId,
        version: Version,
        error: Error,
    ) -> Result<Error, (ListedConnection, Error)> {
        let record = match self.store().load(customer).await {
            Ok(Some(record)) => record,
            Ok(None) | Err(_) => return Ok(error),
        };
        if record.version != version && record.stage.kind() == StageKind::Validated {
            return Err((ListedConnection::from_record(&record), error));
        }
        match AnyOnboarding::from_record(record) {
            AnyOnboarding::Validated(connected) => Ok(connected
                .verification_failed(self, error)
                .await
                .into_parts()
                .1),
            _ => Ok(error),
        }
    }
}

/// What a run's listing hands its tasks.
enum Listed {
    /// A connection to verify.
    Connection(ListedConnection),
    /// A customer whose record could not be read: reported, not verified.
    Unreadable(Unreadable),
    /// A page could not be read: the run ends with this error.
    Failed(Error),
}

/// How renewing a listed connection's token went.
enum Renewal {
    /// The new token, and the version of the record that stores it.
    Renewed(Option<AccessToken>, Version),
    /// A passing fault the run handles (throttling): renew again after it.
    Retry(Error),
    /// The verification's failure (recorded on the customer where it is still validated).
    Failed(Error),
}

/// Whether the resource refused the token itself (so a new one may work).
fn is_rejected(error: &Error) -> bool {
    matches!(error, Error::Provider(ProviderError::TokenRejected(_)))
}
