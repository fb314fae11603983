//! The HTTP client under every OAuth request: reqwest on rustls that never follows redirects,
//! the 1 MiB body cap, and retries of transient faults (429, 5xx, timeouts, dropped
//! connections) within one call, waiting on a [`Clock`], all attempts of one call within one
//! deadline.

use std::sync::{Arc, OnceLock};

use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::AccessToken;
use crate::ports::{Clock, SystemClock};

/// The largest response body read (1 MiB); anything larger is an invalid response.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The default deadline of one provider call, all attempts included.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(60);

/// How transient faults are retried inside one provider call.
///
/// HTTP 429 and 5xx wait for `Retry-After` when the server sends one (up to
/// `max_retry_after`; a longer wait gives up at once and hands the wait to the caller);
/// otherwise, and for timeouts and connection failures, the wait doubles from `base_delay`
/// up to `max_delay`, plus up to 50 % random jitter.
///
/// All attempts of one call, and the waits between them, fit in `deadline`: each attempt's
/// timeout is cut to what is left of it, and a retry whose wait would pass it is not made
/// (the fault is returned, with its `Retry-After`). Device-code polls are never retried
/// inside a call: each token request is a poll (RFC 8628 §3.5), so the journey decides when
/// the next one may go out.
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
    /// The longest one call may take, all attempts and waits included (zero: no deadline
    /// beyond the request timeout and `max_retries`).
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// Three retries, 500 ms doubling to at most 8 s, `Retry-After` honoured up to 60 s, one
    /// call at most 60 s ([`DEFAULT_CALL_DEADLINE`]).
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            deadline: DEFAULT_CALL_DEADLINE,
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

    /// The same policy with one call's deadline set to `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The backoff before retry number `attempt` (0-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
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
///
/// Clones share the clock cell: the clock given to one (by the engine, after the provider was
/// built and perhaps cloned) is the clock of all.
#[derive(Clone)]
pub(crate) struct HttpClient {
    http: reqwest::Client,
    /// The timeout of one attempt.
    timeout: Duration,
    retry: RetryPolicy,
    /// Set at most once; the system clock until then. A cell rather than a lock: retries read
    /// it, and a provider waits on one clock for its whole life.
    clock: Arc<OnceLock<Arc<dyn Clock>>>,
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
            timeout,
            retry,
            clock: Arc::new(OnceLock::new()),
            label,
        })
    }

    /// The same client (sharing its clock cell) that never retries inside a call: for
    /// requests where every attempt counts, such as device-code polls (RFC 8628 §3.5).
    pub(crate) fn single_attempt(&self) -> Self {
        let mut client = self.clone();
        client.retry.max_retries = 0;
        client
    }

    /// Waits between retries on `clock`, whatever clock this client had (a cell of its own,
    /// no longer shared with earlier clones).
    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = Arc::new(OnceLock::from(clock));
    }

    /// Waits between retries on `clock` unless a clock was given before (the first one given
    /// wins); returns whether this one was taken.
    pub(crate) fn use_clock(&self, clock: Arc<dyn Clock>) -> bool {
        self.clock.set(clock).is_ok()
    }

    /// The clock retries wait on.
    pub(crate) fn clock(&self) -> &dyn Clock {
        match self.clock.get() {
            Some(clock) => &**clock,
            None => &SystemClock,
        }
    }

    /// Names the server in logs.
    pub(crate) fn label(&self) -> &'static str {
        self.label
    }

    /// The underlying reqwest client, to build requests.
    pub(crate) fn reqwest(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends one request (built anew for each attempt), retrying transient faults per the
    /// [`RetryPolicy`], every attempt within the policy's deadline. Returns any answer that is
    /// not 3xx, 429 or 5xx.
    pub(crate) async fn execute(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let policy = &self.retry;
        let label = self.label;
        let deadline = Deadline::start(self.clock(), policy.deadline);
        let mut attempt = 0u32;
        loop {
            let timeout = deadline.cut(self.clock(), self.timeout);
            let sent = build().timeout(timeout).send();
            let (error, retry_after) = match self.send_once(sent).await {
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
            if !deadline.allows(self.clock(), wait) {
                tracing::debug!(%error, attempts = attempt + 1, "{label} call deadline reached");
                return Err(error);
            }
            tracing::debug!(%error, ?wait, attempt, "retrying {label} request");
            let clock = self.clock();
            clock.sleep_until(clock.now() + wait).await;
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
                .and_then(|v| parse_retry_after(v, self.clock().now())),
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

    /// GETs `url` asking for JSON, with `authorization` (a bearer header) when given.
    pub(crate) async fn get(
        &self,
        url: &Url,
        authorization: Option<&reqwest::header::HeaderValue>,
    ) -> Result<Answer, ProviderError> {
        self.execute(|| {
            let request = self
                .http
                .get(url.clone())
                .header(reqwest::header::ACCEPT, ACCEPT_JSON);
            match authorization {
                Some(value) => request.header(reqwest::header::AUTHORIZATION, value.clone()),
                None => request,
            }
        })
        .await
    }
}

/// One call's deadline. Time spent is the larger of the clock's (which the waits between
/// attempts move, also on a [`ManualClock`](crate::testing::ManualClock)) and the wall's
/// (which requests take, whatever the clock).
struct Deadline {
    limit: Duration,
    clock_start: OffsetDateTime,
    wall_start: std::time::Instant,
}

impl Deadline {
    fn start(clock: &dyn Clock, limit: Duration) -> Self {
        Self {
            limit,
            clock_start: clock.now(),
            wall_start: std::time::Instant::now(),
        }
    }

    fn spent(&self, clock: &dyn Clock) -> Duration {
        let on_clock = Duration::try_from(clock.now() - self.clock_start).unwrap_or_default();
        on_clock.max(self.wall_start.elapsed())
    }

    /// The timeout of the next attempt: `timeout`, cut to what is left (at least 1 ms).
    fn cut(&self, clock: &dyn Clock, timeout: Duration) -> Duration {
        if self.limit.is_zero() {
            return timeout;
        }
        let left = self.limit.saturating_sub(self.spent(clock));
        timeout.min(left).max(Duration::from_millis(1))
    }

    /// Whether, after waiting `wait`, another attempt still starts before the deadline.
    fn allows(&self, clock: &dyn Clock, wait: Duration) -> bool {
        self.limit.is_zero() || self.spent(clock).saturating_add(wait) < self.limit
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
    let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    let jitter = match millis / 2 {
        0 => 0,
        half => getrandom::u64().unwrap_or(0) % (half + 1),
    };
    Duration::from_millis(millis.saturating_add(jitter))
}

/// Reads `Retry-After` as delay-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(Duration::from_secs(seconds.into()));
    }
    let at = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    // A date in the past means: now.
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = time::macros::datetime!(2026-11-23 10:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(2));
        assert_eq!(p.backoff(30), Duration::from_secs(8));
        let j = with_jitter(Duration::from_secs(2));
        assert!(
            j >= Duration::from_secs(2) && j <= Duration::from_secs(3),
            "{j:?}"
        );
    }

    #[test]
    fn form_encoding_for_basic_auth() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
    }
}
