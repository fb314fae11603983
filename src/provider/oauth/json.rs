//! Reading JSON answers, leniently where Microsoft Entra ID strays from the RFCs: numbers that
//! older endpoints send as strings cost a standards-only server nothing.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

use crate::error::ProviderError;

/// Parses a JSON body; a body that is not the expected JSON is an invalid response.
pub(crate) fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::InvalidResponse(format!("the body is not the expected JSON: {e}"))
    })
}

/// A `u32` sent as a number or a string.
pub(crate) fn lenient_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An `i64` sent as a number (integer or not) or a string.
fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A relative lifetime in seconds (`default` when absent or unreadable), bounded to
/// `0..=max` so adding it to a timestamp can never overflow.
pub(crate) fn bounded_seconds(value: Option<&Value>, default: i64, max: i64) -> Duration {
    let seconds = value.and_then(lenient_i64).unwrap_or(default).clamp(0, max);
    Duration::from_secs(seconds.unsigned_abs())
}
