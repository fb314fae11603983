//! What every check uses: its result type, `ensure!`, store-error context, sample audit
//! events, and create/load helpers that turn store errors into the check's message.

use time::Duration;

use crate::error::StoreError;
use crate::journey::StageKind;
use crate::model::{Actor, AuditEvent};
use crate::model::{CustomerId, Version};
use crate::ports::{Record, Store};
use crate::testing::testdata::BASE;

/// A check's outcome: what went wrong, if anything.
pub(super) type Check = Result<(), String>;

/// Fails the check with the formatted message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(super) use ensure;

/// Turns an unexpected store error into the check's message, naming the call.
pub(super) fn err(context: &str) -> impl FnOnce(StoreError) -> String + '_ {
    move |e| format!("{context}: unexpected store error: {e}")
}

/// A distinctive audit event for `id` (time, actor and note vary with `n`).
pub(super) fn event(id: &CustomerId, from: Option<StageKind>, to: StageKind, n: i64) -> AuditEvent {
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

/// Creates `record` with its creation event.
pub(super) async fn create<S: Store + ?Sized>(
    store: &S,
    record: &Record,
) -> Result<Version, String> {
    store
        .create(record, &event(record.id(), None, record.stage.kind(), 0))
        .await
        .map_err(err("create"))
}

/// Loads `id`, which must be stored.
pub(super) async fn must_load<S: Store + ?Sized>(
    store: &S,
    id: &CustomerId,
) -> Result<Record, String> {
    store
        .load(id)
        .await
        .map_err(err("load"))?
        .ok_or_else(|| format!("{id} is not stored"))
}
