//! Invitation codes: 256 random bits, URL-safe, stored only as a SHA-256 hash.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The secret code in an invitation link: 32 bytes from the operating system's random source,
/// base64url without padding (43 characters).
///
/// Only its [`CodeHash`] is ever stored; the code itself lives in the email and nowhere else.
#[derive(Clone)]
pub struct InvitationCode(SecretString);

impl InvitationCode {
    /// Draws a new code from the OS random source.
    ///
    /// # Panics
    /// If the operating system has no random source (no sensible fallback exists).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a code received from a link (not checked here; unknown codes simply match nothing).
    pub fn from_received(code: &str) -> Self {
        Self(SecretString::from(code.trim().to_owned()))
    }

    /// The code, for building the link.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The SHA-256 of the code, which is what stores keep and index.
    pub fn hash(&self) -> CodeHash {
        CodeHash(Sha256::digest(self.expose_secret().as_bytes()).into())
    }
}

impl fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationCode([REDACTED])")
    }
}

/// The SHA-256 hash of an [`InvitationCode`]. Not secret, but compared in constant time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// Constant-time equality.
    pub fn ct_eq(&self, other: &CodeHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Lower-case hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`to_hex`](Self::to_hex)'s output.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeHash({}…)", &self.to_hex()[..12])
    }
}

/// What is known about a customer's current invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Hash of the live code; `None` once the invitation is used up or revoked.
    pub code_hash: Option<CodeHash>,
    /// When the current code was issued.
    pub issued_at: OffsetDateTime,
    /// When the current code stops working.
    pub expires_at: OffsetDateTime,
    /// The mail server's acceptance of the current code's email.
    pub delivery: Option<Delivery>,
    /// When the customer first opened the link.
    pub opened_at: Option<OffsetDateTime>,
    /// How many codes have been issued to this customer (1 for the first email).
    pub codes_issued: u32,
}

/// A mailer's acceptance of an invitation email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message id the mailer returned.
    pub message_id: MessageId,
    /// When the mailer reported it accepted (after any retries).
    pub sent_at: OffsetDateTime,
}

/// The id a mailer gives an accepted message (an SMTP `Message-ID`, a provider's id, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_256_bit_url_safe_and_distinct() {
        let a = InvitationCode::generate();
        let b = InvitationCode::generate();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(!a.hash().ct_eq(&b.hash()));
        assert!(
            a.hash()
                .ct_eq(&InvitationCode::from_received(a.expose_secret()).hash())
        );
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = InvitationCode::generate().hash();
        assert_eq!(CodeHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(CodeHash::from_hex("zz"), None);
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }
}
