//! The OAuth 2.0 wire plumbing shared by the HTTP providers (features `entra` and `oidc`).
//!
//! One reqwest client on rustls that never follows redirects, form posting, the 1 MiB body cap,
//! retries of transient faults waiting on a [`Clock`], and the parsers for what RFC 6749 and
//! RFC 8628 servers answer (token responses, device authorizations, OAuth error bodies). The
//! parsers are lenient where Microsoft Entra ID strays from the RFCs (string-typed numbers,
//! `verification_url`, `error_codes`), which costs a standards-only server nothing.

use std::sync::Arc;

use oauth2::DeviceCodeErrorResponseType;
use oauth2::basic::BasicErrorResponseType;
use serde::Deserialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::{AccessToken, DeviceCode, RefreshToken};
use crate::ports::{Clock, SystemClock};
use crate::ports::{DeviceAuthorization, DevicePoll, TokenResponse};

/// The largest response body read (1 MiB); anything larger is an invalid response.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The RFC 8628 device-code grant type.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How transient faults are retried inside one provider call.
///
/// HTTP 429 and 5xx wait for `Retry-After` when the server sends one (up to
/// `max_retry_after`; a longer wait gives up at once and hands the wait to the caller);
/// otherwise, and for timeouts and connection failures, the wait doubles from `base_delay`
/// up to `max_delay`, plus up to 50 % random jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The first backoff wait.
    pub base_delay: Duration,
    /// The largest backoff wait (before jitter).
    pub max_delay: Duration,
    /// The longest `Retry-After` waited for inside a call.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Three retries, 500 ms doubling to at most 8 s, `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::milliseconds(500),
            max_delay: Duration::seconds(8),
            max_retry_after: Duration::seconds(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry: every transient fault is returned at once.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The backoff before retry number `attempt` (0-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2i32.saturating_pow(attempt.min(20));
        let delay = self.base_delay.saturating_mul(factor);
        if delay > self.max_delay {
            self.max_delay
        } else {
            delay
        }
    }
}

/// One HTTP answer, body read (at most [`MAX_BODY_BYTES`]).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: bytes::Bytes,
}

/// A reqwest client (rustls, no redirects) with a retry policy and the clock it waits on.
#[derive(Clone)]
pub(crate) struct HttpClient {
    http: reqwest::Client,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Names the server in logs ("Entra ID", "OIDC").
    label: &'static str,
}

impl HttpClient {
    /// A client with a per-request `timeout`, waiting on the system clock.
    pub(crate) fn new(
        timeout: std::time::Duration,
        user_agent: &str,
        retry: RetryPolicy,
        label: &'static str,
    ) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(user_agent)
            .build()
            .map_err(|e| {
                ProviderError::Misconfigured(ProviderDetail::new("http_client", e.to_string()))
            })?;
        Ok(Self {
            http,
            retry,
            clock: Arc::new(SystemClock),
            label,
        })
    }

    /// Waits between retries on `clock`.
    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// The clock retries wait on.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The underlying reqwest client, to build requests.
    pub(crate) fn reqwest(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends one request (built anew for each attempt), retrying transient faults per the
    /// [`RetryPolicy`]. Returns any answer that is not 3xx, 429 or 5xx.
    pub(crate) async fn execute(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let policy = &self.retry;
        let label = self.label;
        let mut attempt = 0u32;
        loop {
            let (error, retry_after) = match self.send_once(build().send()).await {
                Ok((answer, retry_after)) => match answer.status {
                    429 => (ProviderError::Throttled { retry_after }, retry_after),
                    500..=599 => (
                        ProviderError::Unavailable {
                            status: answer.status,
                            retry_after,
                        },
                        retry_after,
                    ),
                    300..=399 => {
                        return Err(ProviderError::InvalidResponse(format!(
                            "HTTP {}: redirects are not followed",
                            answer.status
                        )));
                    }
                    _ => return Ok(answer),
                },
                Err(error @ ProviderError::Transport(_)) => (error, None),
                Err(error) => return Err(error),
            };
            if attempt >= policy.max_retries {
                tracing::debug!(%error, attempts = attempt + 1, "giving up on {label} request");
                return Err(error);
            }
            let wait = match retry_after {
                Some(wait) if wait > policy.max_retry_after => return Err(error),
                Some(wait) => wait,
                None => with_jitter(policy.backoff(attempt)),
            };
            tracing::debug!(%error, ?wait, attempt, "retrying {label} request");
            self.clock.sleep_until(self.clock.now() + wait).await;
            attempt += 1;
        }
    }

    /// Sends one request and reads its answer, capped at [`MAX_BODY_BYTES`].
    ///
    /// Takes the request already sent (a small handle), not its builder: an async fn keeps
    /// its arguments for its whole life, and a builder is a few hundred bytes that every
    /// request's future would carry to the end.
    async fn send_once(
        &self,
        sent: impl Future<Output = reqwest::Result<reqwest::Response>>,
    ) -> Result<(Answer, Option<Duration>), ProviderError> {
        let mut response = sent.await.map_err(transport)?;
        let status = response.status().as_u16();
        // Only the answers that are retried read it (a verification's 200 does not).
        let retry_after = match status {
            429 | 500..=599 => response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, self.clock.now())),
            _ => None,
        };
        let length = response.content_length();
        if length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let body = if length.is_some() {
            // The length is checked against the cap above: reqwest collects the body, without
            // a copy when it came in one piece.
            response.bytes().await.map_err(transport)?
        } else {
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            body.into()
        };
        Ok((Answer { status, body }, retry_after))
    }

    /// POSTs `application/x-www-form-urlencoded` fields, asking for JSON. `basic` adds HTTP
    /// Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded first).
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Answer, ProviderError> {
        let basic = basic.map(|(id, secret)| (form_encode(id), form_encode(secret)));
        self.execute(|| {
            let request = self
                .http
                .post(url.clone())
                .header(reqwest::header::ACCEPT, ACCEPT_JSON)
                .form(fields);
            match &basic {
                Some((id, secret)) => request.basic_auth(id, Some(secret)),
                None => request,
            }
        })
        .await
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) fn transport(e: reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    ProviderError::Transport(format!("{kind}: {}", e.without_url()))
}

fn too_large() -> ProviderError {
    ProviderError::InvalidResponse(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
}

pub(crate) fn with_jitter(delay: Duration) -> Duration {
    let millis = delay.whole_milliseconds().clamp(0, i64::MAX as i128) as u64;
    let jitter = match millis / 2 {
        0 => 0,
        half => getrandom::u64().unwrap_or(0) % (half + 1),
    };
    Duration::milliseconds(millis.saturating_add(jitter).min(i64::MAX as u64) as i64)
}

/// Reads `Retry-After` as delay-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(Duration::seconds(seconds.into()));
    }
    let at = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - now;
    Some(if wait.is_negative() {
        Duration::ZERO
    } else {
        wait
    })
}

/// An OAuth error answer (RFC 6749 §5.2): the HTTP status and the parsed body.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) detail: ProviderDetail,
    /// Entra's `suberror` (`consent_required`, …).
    #[cfg_attr(not(feature = "entra"), allow(dead_code))]
    pub(crate) suberror: Option<String>,
}

/// An OAuth error body, with Entra's extra fields.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Value>,
    #[serde(default)]
    suberror: Option<String>,
}

/// `Accept: application/json`, built once.
pub(crate) const ACCEPT_JSON: reqwest::header::HeaderValue =
    reqwest::header::HeaderValue::from_static("application/json");

/// The `Authorization` header for `token`, shared with every other request that sends it
/// (see [`AccessToken`]).
pub(crate) fn bearer(token: &AccessToken) -> Result<reqwest::header::HeaderValue, ProviderError> {
    token.authorization().ok_or_else(|| {
        ProviderError::InvalidResponse(
            "the access token has bytes an HTTP header cannot carry".into(),
        )
    })
}

pub(crate) fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::InvalidResponse(format!("the body is not the expected JSON: {e}"))
    })
}

/// Parses an OAuth error body. HTTP 404 without one is a wrong endpoint (configuration).
pub(crate) fn parse_error(status: u16, body: &[u8]) -> Result<OAuthError, ProviderError> {
    let parsed: ErrorBody = serde_json::from_slice(body).map_err(|e| {
        if status == 404 {
            ProviderError::Misconfigured(ProviderDetail::new(
                "not_found",
                "HTTP 404: no such endpoint; check the authority host",
            ))
        } else {
            ProviderError::InvalidResponse(format!(
                "HTTP {status} without an OAuth error body: {e}"
            ))
        }
    })?;
    let codes = match parsed.error_codes {
        Some(Value::Array(items)) => items.iter().filter_map(lenient_u32).collect(),
        Some(other) => lenient_u32(&other).into_iter().collect(),
        None => Vec::new(),
    };
    Ok(OAuthError {
        status,
        detail: ProviderDetail {
            error: parsed.error,
            codes,
            description: parsed.error_description.unwrap_or_default(),
        },
        suberror: parsed.suberror,
    })
}

fn lenient_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A token response: RFC 6749 §5.1 plus Entra's `ext_expires_in`, with numbers that older
/// Entra endpoints send as strings.
#[derive(Debug, Deserialize)]
struct WireTokenResponse {
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Bounds a relative lifetime so adding it to a timestamp can never overflow.
fn bounded_seconds(value: Option<&Value>, default: i64, max: i64) -> Duration {
    Duration::seconds(value.and_then(lenient_i64).unwrap_or(default).clamp(0, max))
}

/// Parses a token endpoint's success body. Only `Bearer` tokens are accepted.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<TokenResponse, ProviderError> {
    let parsed: WireTokenResponse = parse_json(body)?;
    if parsed.access_token.is_empty() {
        return Err(ProviderError::InvalidResponse(
            "the token response has an empty access_token".into(),
        ));
    }
    if let Some(kind) = &parsed.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(ProviderError::InvalidResponse(format!(
            "unsupported token_type {kind:?}"
        )));
    }
    Ok(TokenResponse {
        access_token: AccessToken::new(parsed.access_token),
        refresh_token: parsed
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        expires_in: bounded_seconds(parsed.expires_in.as_ref(), 3600, 366 * 86_400),
        scope: parsed.scope,
    })
}

#[derive(Debug, Deserialize)]
struct DeviceCodeBody {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    interval: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

/// Parses a device authorization response (RFC 8628 §3.2); `interval` defaults to 5 s.
pub(crate) fn parse_device_authorization(
    body: &[u8],
) -> Result<DeviceAuthorization, ProviderError> {
    let parsed: DeviceCodeBody = parse_json(body)?;
    if parsed.device_code.is_empty() || parsed.user_code.is_empty() {
        return Err(ProviderError::InvalidResponse(
            "the device authorization has an empty code".into(),
        ));
    }
    let verification_uri = Url::parse(&parsed.verification_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| {
            ProviderError::InvalidResponse("verification_uri is not an http(s) URL".into())
        })?;
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(parsed.device_code),
        user_code: parsed.user_code,
        verification_uri,
        expires_in: bounded_seconds(parsed.expires_in.as_ref(), 900, 86_400),
        interval: bounded_seconds(parsed.interval.as_ref(), 5, 3600),
        message: parsed.message,
    })
}

/// The RFC 8628 §3.5 answer a refused device-code poll names, if it is one of them.
pub(crate) fn standard_poll(error: &str) -> Option<DevicePoll> {
    let kind: DeviceCodeErrorResponseType =
        serde_json::from_value(Value::String(error.to_owned())).ok()?;
    Some(match kind {
        DeviceCodeErrorResponseType::AuthorizationPending => DevicePoll::Pending,
        DeviceCodeErrorResponseType::SlowDown => DevicePoll::SlowDown,
        DeviceCodeErrorResponseType::ExpiredToken => DevicePoll::Expired,
        DeviceCodeErrorResponseType::AccessDenied => DevicePoll::Declined,
        _ => return None,
    })
}

/// Maps a refused token request onto a [`ProviderError`] by its RFC 6749 §5.2 `error`.
///
/// `invalid_grant` on a refresh is [`ProviderError::ReauthenticationRequired`]; with
/// `consent` (Entra's `suberror=consent_required`) it is [`ProviderError::ConsentRequired`].
pub(crate) fn classify_standard(refresh: bool, consent: bool, error: OAuthError) -> ProviderError {
    let detail = error.detail;
    let kind: BasicErrorResponseType = serde_json::from_value(Value::String(detail.error.clone()))
        .unwrap_or_else(|_| BasicErrorResponseType::Extension(detail.error.clone()));
    match kind {
        BasicErrorResponseType::InvalidGrant if refresh => {
            ProviderError::ReauthenticationRequired(detail)
        }
        BasicErrorResponseType::InvalidGrant if consent => ProviderError::ConsentRequired(detail),
        BasicErrorResponseType::InvalidClient
        | BasicErrorResponseType::UnauthorizedClient
        | BasicErrorResponseType::InvalidScope
        | BasicErrorResponseType::UnsupportedGrantType
        | BasicErrorResponseType::InvalidRequest => ProviderError::Misconfigured(detail),
        BasicErrorResponseType::Extension(ref e) if e == "interaction_required" => {
            if refresh {
                ProviderError::ReauthenticationRequired(detail)
            } else {
                ProviderError::MfaRequired(detail)
            }
        }
        BasicErrorResponseType::Extension(ref e) if e == "temporarily_unavailable" => {
            ProviderError::Unavailable {
                status: error.status,
                retry_after: None,
            }
        }
        _ => ProviderError::Other(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = time::macros::datetime!(2026-11-23 10:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::seconds(7)));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now),
            Some(Duration::seconds(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::milliseconds(500));
        assert_eq!(p.backoff(2), Duration::seconds(2));
        assert_eq!(p.backoff(30), Duration::seconds(8));
        let j = with_jitter(Duration::seconds(2));
        assert!(
            j >= Duration::seconds(2) && j <= Duration::seconds(3),
            "{j:?}"
        );
    }

    #[test]
    fn string_typed_numbers_are_read() {
        let t = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","access_token":"a"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::seconds(3599));
        assert!(t.refresh_token.is_none());
        let huge = parse_token_response(br#"{"expires_in":1e300,"access_token":"a"}"#).unwrap();
        assert_eq!(huge.expires_in, Duration::days(366));
    }

    #[test]
    fn standard_poll_errors() {
        assert!(matches!(
            standard_poll("authorization_pending"),
            Some(DevicePoll::Pending)
        ));
        assert!(matches!(
            standard_poll("slow_down"),
            Some(DevicePoll::SlowDown)
        ));
        assert!(matches!(
            standard_poll("access_denied"),
            Some(DevicePoll::Declined)
        ));
        assert!(matches!(
            standard_poll("expired_token"),
            Some(DevicePoll::Expired)
        ));
        assert!(standard_poll("invalid_grant").is_none());
    }

    #[test]
    fn form_encoding_for_basic_auth() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
