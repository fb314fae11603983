//! Verify all: prove every matching connection with bounded concurrency, honouring
//! `Retry-After` for the whole run.

use std::sync::{Arc, Mutex};

use futures_util::future::Either;
use futures_util::stream::{self, Stream, StreamExt};
use time::{Duration, OffsetDateTime};

use crate::Onboarding;
use crate::engine::TenantAccess;
use crate::error::{Error, ProviderError, StoreError};
use crate::flow::{AnyOnboarding, StageKind, Validated};
use crate::ids::CustomerId;
use crate::store::{Filter, PageRequest};

/// How many records [`TenantAccess::verify_all`] reads from the store at a time.
const PAGE: usize = 200;
/// How often one customer is tried when the provider throttles or the record moves.
const ATTEMPTS: usize = 4;
/// The pause when the provider throttles without saying for how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::seconds(5);

/// One customer's verification in a [`TenantAccess::verify_all`] run.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The customer.
    pub customer: CustomerId,
    /// `Ok` if the connection works; the error otherwise (already recorded on the customer).
    pub result: Result<(), Error>,
    /// The run's counts, this outcome included.
    pub progress: VerifyProgress,
}

/// Counts of a [`TenantAccess::verify_all`] run so far.
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

/// The moment before which no task of the run calls the provider.
#[derive(Default)]
pub(super) struct Pause {
    until: Mutex<Option<OffsetDateTime>>,
    throttled: Mutex<usize>,
}

impl Pause {
    fn until(&self) -> Option<OffsetDateTime> {
        *self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn extend(&self, to: OffsetDateTime) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|u| u < to) {
            *until = Some(to);
        }
        *self.throttled.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn throttled(&self) -> usize {
        *self.throttled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TenantAccess {
    /// "Validate authentication" for one customer: one real call proves the stored connection
    /// still works for the invited tenant; the result (when, status, error) is stored.
    pub async fn verify(&self, customer: &CustomerId) -> Result<Onboarding<Validated>, Error> {
        match self.load(customer).await? {
            AnyOnboarding::Validated(connected) => Ok(connected.verify(self).await?),
            other => Err(super::not_connected(customer, other.kind())),
        }
    }

    /// "Verify all": verifies every customer matching `filter` (by default every validated
    /// one) with at most `concurrency` provider calls in flight, and yields one outcome per
    /// customer as it finishes, with the run's counts.
    ///
    /// A `Retry-After` from the provider pauses the whole run (every task waits on the
    /// engine's clock), and the throttled customer is tried again afterwards. One failure never
    /// stops the others. The store is read a page at a time, so memory stays flat however many
    /// customers there are. A store failure while listing ends the run with an `Err` item.
    pub fn verify_all(
        &self,
        filter: Filter,
        concurrency: usize,
    ) -> impl Stream<Item = Result<VerifyOutcome, Error>> + '_ {
        let filter = Filter {
            stages: filter.stages.or(Some(vec![StageKind::Validated])),
            ..filter
        };
        let pause = Arc::new(Pause::default());
        let pages = stream::unfold(
            (Some(PageRequest::first(PAGE)), filter),
            move |(request, filter)| async move {
                let request = request?;
                match self.store().list(&filter, &request).await {
                    Ok(page) => Some((
                        Either::Left(stream::iter(page.records).map(Ok)),
                        (page.next, filter),
                    )),
                    Err(error) => Some((
                        Either::Right(stream::once(std::future::ready(Err(error.into())))),
                        (None, filter),
                    )),
                }
            },
        );
        let pause_for_tasks = Arc::clone(&pause);
        pages
            .flatten()
            .map(move |item| match item.map(AnyOnboarding::from_record) {
                // Boxed once here: a verification's state is a few kilobytes, and the stream
                // adapters and the task set would otherwise copy it on every move.
                Ok(AnyOnboarding::Validated(connected)) => Either::Left(Box::pin(
                    self.verify_connected(connected, Arc::clone(&pause_for_tasks)),
                )),
                Ok(other) => {
                    let error = super::not_connected(other.id(), other.kind());
                    Either::Right(std::future::ready(Ok((other.id().clone(), Err(error)))))
                }
                Err(error) => Either::Right(std::future::ready(Err(error))),
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

    /// Verifies one listed connection, waiting out any pause of the run, retrying when the
    /// provider throttles and re-reading the record when it moved since it was listed.
    // Not an `async fn`: one holds its arguments twice (rust-lang/rust#62958), and a run keeps
    // `concurrency` of these futures in flight.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn verify_connected(
        &self,
        mut current: Onboarding<Validated>,
        pause: Arc<Pause>,
    ) -> impl Future<Output = Result<(CustomerId, Result<(), Error>), Error>> + Send + '_ {
        async move {
            let customer = current.id().clone();
            let mut last = None;
            for _ in 0..ATTEMPTS {
                if let Some(until) = pause.until() {
                    self.clock().sleep_until(until).await;
                }
                match current.verify(self).await {
                    Ok(_) => return Ok((customer, Ok(()))),
                    Err(rejected) => {
                        let (back, error) = rejected.into_parts();
                        match &error {
                            Error::Provider(ProviderError::Throttled { retry_after }) => {
                                let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                                pause.extend(self.clock().now() + wait);
                                current = back;
                            }
                            Error::Store(StoreError::Conflict { .. }) => {
                                // The record moved since it was listed: verify what is there.
                                match Box::pin(self.load(&customer)).await {
                                    Ok(AnyOnboarding::Validated(now)) => current = now,
                                    Ok(_) | Err(_) => return Ok((customer, Err(error))),
                                }
                            }
                            _ => return Ok((customer, Err(error))),
                        }
                        last = Some(error);
                    }
                }
            }
            Ok((customer, Err(last.expect("at least one attempt failed"))))
        }
    }
}
