//! Webhooks: each notice `POST`ed as JSON to the MSP's endpoint, signed with HMAC-SHA256 over a
//! timestamp and the body (the scheme Stripe's webhooks use), and the receiving end's check.
//!
//! A request carries:
//!
//! - the body: the [`Notice`] as JSON (`id`, `channel`, `customer`, `tenant`, `change`,
//!   `attention` with `reason`, `since` and `evidence`, `remedy`, `at`);
//! - `Tenant-Access-Id`: the notice's id, the same on every retry: deduplicate on it;
//! - `Tenant-Access-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//!
//! [`WebhookVerifier::verify`] checks the signature in constant time and refuses a timestamp
//! outside its tolerance (5 minutes by default), so a captured request cannot be replayed
//! later; within the tolerance, the id tells a retry from a new notice.
//!
//! ```
//! use tenant_access::notify::webhook::{WebhookVerifier, sign};
//! use time::OffsetDateTime;
//!
//! let secret = b"whsec_test";
//! let now = OffsetDateTime::now_utc();
//! let body = br#"{"id":"abc"}"#;
//! let header = sign(secret, now, body);
//! let verifier = WebhookVerifier::new(secret.to_vec());
//! assert!(verifier.check(&header, body, now).is_ok());
//! assert!(verifier.check(&header, br#"{"id":"forged"}"#, now).is_err());
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::model::Notice;
use crate::ports::{Clock, Notifier, NotifyError, SystemClock};

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "Tenant-Access-Signature";
/// The header carrying the notice's id (the idempotency key).
pub const ID_HEADER: &str = "Tenant-Access-Id";

type HmacSha256 = Hmac<Sha256>;

/// The signature header's value for `body` sent at `at` with `secret`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn sign(secret: &[u8], at: OffsetDateTime, body: &[u8]) -> String {
    let t = at.unix_timestamp();
    let signature = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex(&signature))
}

/// The HMAC-SHA256 of `"<t>.<body>"` under `secret`, ready to finalize or verify.
fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Posts each notice to one URL, signed.
#[derive(Clone)]
pub struct WebhookNotifier {
    url: reqwest::Url,
    secret: Arc<[u8]>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &self.url.as_str())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Why a webhook notifier could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not an absolute http(s) URL.
    #[error("webhook URL: {0}")]
    Url(String),
    /// The secret is empty.
    #[error("the webhook secret is empty")]
    EmptySecret,
}

impl WebhookNotifier {
    /// Posts to `url`, signing with `secret`; requests time out after 10 seconds.
    pub fn new(url: &str, secret: impl Into<Vec<u8>>) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(url).map_err(|e| WebhookError::Url(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Url(format!("{url}: not http or https")));
        }
        let secret: Vec<u8> = secret.into();
        if secret.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| WebhookError::Url(e.to_string()))?;
        Ok(Self {
            url,
            secret: secret.into(),
            client,
            clock: Arc::new(SystemClock),
        })
    }

    /// Timestamps signatures with `clock` (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn deliver(&self, notices: &[Notice]) -> Result<(), NotifyError> {
        for notice in notices {
            let body = serde_json::to_vec(notice).map_err(|e| NotifyError(e.to_string()))?;
            let signature = sign(&self.secret, self.clock.now(), &body);
            let answer = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header(ID_HEADER, notice.id.as_str())
                .header(SIGNATURE_HEADER, signature)
                .body(body)
                .send()
                .await
                .map_err(|e| NotifyError(format!("webhook request: {e}")))?;
            if !answer.status().is_success() {
                return Err(NotifyError(format!(
                    "webhook answered HTTP {}",
                    answer.status().as_u16()
                )));
            }
        }
        Ok(())
    }
}

/// Why a webhook request was refused by [`WebhookVerifier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature header is missing or not `t=…,v1=…`.
    #[error("the signature header is malformed")]
    Malformed,
    /// The timestamp is outside the tolerance (a replay, or a skewed clock).
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature matches the body.
    #[error("the signature does not match")]
    Mismatch,
    /// The body is not a notice.
    #[error("the body is not a notice: {0}")]
    Body(String),
}

/// Checks webhook requests on the receiving end.
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: Arc<[u8]>,
    tolerance: Duration,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secret", &"[redacted]")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// Checks signatures made with `secret`, within 5 minutes of `now`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        let secret: Vec<u8> = secret.into();
        Self {
            secret: secret.into(),
            tolerance: Duration::from_secs(300),
        }
    }

    /// Accepts timestamps at most this far from `now` (default 5 minutes).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Checks `header` (the [`SIGNATURE_HEADER`] value) against `body` at `now`.
    pub fn check(
        &self,
        header: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        let mut t = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => signatures.push(unhex(v).ok_or(SignatureError::Malformed)?),
                _ => {}
            }
        }
        let t = t.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let skew = (now.unix_timestamp() - t).unsigned_abs();
        if skew > self.tolerance.as_secs() {
            return Err(SignatureError::Stale);
        }
        for signature in signatures {
            if mac(&self.secret, t, body).verify_slice(&signature).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }

    /// [`check`](Self::check)s the request, then reads the notice from its body.
    pub fn verify(
        &self,
        header: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Notice, SignatureError> {
        self.check(header, body, now)?;
        serde_json::from_slice(body).map_err(|e| SignatureError::Body(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_refuse_tampering_and_replays() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let header = sign(b"secret", now, b"body");
        let v = WebhookVerifier::new(b"secret".to_vec());
        assert_eq!(v.check(&header, b"body", now), Ok(()));
        assert_eq!(
            v.check(&header, b"body!", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            WebhookVerifier::new(b"other".to_vec()).check(&header, b"body", now),
            Err(SignatureError::Mismatch)
        );
        let later = now + time::Duration::minutes(6);
        assert_eq!(v.check(&header, b"body", later), Err(SignatureError::Stale));
        assert_eq!(
            v.check("v1=00", b"body", now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.check("t=1,v1=zz", b"body", now),
            Err(SignatureError::Malformed)
        );
    }
}
