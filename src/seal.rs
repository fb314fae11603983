//! Sealed secrets at rest (feature `seal`, switched on by `sqlite` and `postgres`).
//!
//! Refresh and access tokens, passwords, client secrets, device codes and consent states are
//! sealed with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a 32-byte
//! [`SealingKey`] that has an id. A [`Keyring`] holds the current key, which seals, and any
//! older keys, which still open what they sealed; a store's `reseal_all` moves every record to
//! the current key, after which the old keys can be dropped.
//!
//! A durable store takes a [`Sealer`]: either a keyring, or the loudly named
//! [`Sealer::insecure_plaintext_for_tests_only`]. A ciphertext that was changed, moved to
//! another record, or sealed under another key opens to a typed [`SealError`], never to
//! garbage.
//!
//! ```
//! use tenant_access::seal::{Keyring, Sealer, SealingKey};
//!
//! let old = SealingKey::new("2025-01", [7u8; 32]).unwrap();
//! let sealed = Sealer::new(Keyring::new(old.clone())).seal(b"refresh-token", b"contoso").unwrap();
//!
//! // Rotate: the new key seals, the old one still opens.
//! let ring = Keyring::new(SealingKey::generate("2026-01").unwrap()).with_old_key(old).unwrap();
//! let sealer = Sealer::new(ring);
//! assert_eq!(&sealer.open(&sealed, b"contoso").unwrap()[..], b"refresh-token");
//! assert_eq!(Sealer::key_id_of(&sealed).unwrap(), Some("2025-01"));
//! // Bound to its record: the same bytes do not open for another customer.
//! assert!(sealer.open(&sealed, b"fabrikam").is_err());
//! ```
//!
//! # Format
//!
//! Sealed: `TAS1`, one byte key-id length, the key id (ASCII), a 24-byte random nonce, then
//! the ciphertext with its 16-byte tag. The caller's associated data (stores use the customer
//! id) is authenticated but not stored. Plaintext test mode writes `TAP1` and the bytes.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

pub use crate::error::SealError;

const MAGIC_SEALED: &[u8; 4] = b"TAS1";
const MAGIC_PLAIN: &[u8; 4] = b"TAP1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 32-byte XChaCha20-Poly1305 key with an id. `Debug` shows the id only; the key bytes are
/// zeroed when the last clone is dropped.
#[derive(Clone)]
pub struct SealingKey {
    id: String,
    key: Arc<SecretBox<[u8; 32]>>,
}

impl SealingKey {
    /// A key from its 32 bytes. The id (1 to 64 of `A-Z a-z 0-9 . _ -`) is stored next to
    /// every ciphertext so the right key can be found after a rotation.
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Result<Self, SealError> {
        let id = id.into();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(SealError::InvalidKey(
                "the key id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ));
        }
        Ok(Self {
            id,
            key: Arc::new(SecretBox::new(Box::new(key))),
        })
    }

    /// A key from standard base64 (44 characters for 32 bytes), as kept in a secret manager
    /// or an environment variable.
    pub fn from_base64(id: impl Into<String>, encoded: &str) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| SealError::InvalidKey("not valid base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::InvalidKey("a key must be exactly 32 bytes"))?;
        Self::new(id, key)
    }

    /// A fresh random key from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system has no random source.
    pub fn generate(id: impl Into<String>) -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).expect("the OS random source is unavailable");
        Self::new(id, *key)
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.key.expose_secret()))
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// The current sealing key and older keys that still open what they sealed.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: SealingKey,
    old: Vec<SealingKey>,
}

impl Keyring {
    /// A keyring whose `current` key seals everything written from now on.
    pub fn new(current: SealingKey) -> Self {
        Self {
            current,
            old: Vec::new(),
        }
    }

    /// Adds an older key that still opens records sealed under it. Ids must be unique.
    pub fn with_old_key(mut self, key: SealingKey) -> Result<Self, SealError> {
        if self.ids().any(|id| id == key.id) {
            return Err(SealError::InvalidKey("two keys in one keyring share an id"));
        }
        self.old.push(key);
        Ok(self)
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Every key id, the current one first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.current.id.as_str()).chain(self.old.iter().map(|k| k.id.as_str()))
    }

    fn find(&self, id: &str) -> Option<&SealingKey> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
    }
}

/// How a durable store protects secrets: a [`Keyring`], or plaintext for tests only.
#[derive(Debug, Clone)]
pub struct Sealer {
    keyring: Option<Keyring>,
}

impl From<Keyring> for Sealer {
    fn from(keyring: Keyring) -> Self {
        Self::new(keyring)
    }
}

impl Sealer {
    /// Seals with `keyring`'s current key; opens with any of its keys.
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring: Some(keyring),
        }
    }

    /// Stores secrets **in plaintext**. For tests and throwaway demos only: anyone who can
    /// read the database can read every token. Logs a warning when made.
    pub fn insecure_plaintext_for_tests_only() -> Self {
        tracing::warn!(
            "tenant-access: secrets will be stored IN PLAINTEXT (Sealer::insecure_plaintext_for_tests_only); never use this in production"
        );
        Self { keyring: None }
    }

    /// Whether this is the plaintext test mode.
    pub fn is_plaintext(&self) -> bool {
        self.keyring.is_none()
    }

    /// The id of the key that seals now (`None` in plaintext mode).
    pub fn current_key_id(&self) -> Option<&str> {
        self.keyring.as_ref().map(Keyring::current_id)
    }

    /// Whether a key with this id can open (always `false` in plaintext mode).
    pub fn has_key(&self, id: &str) -> bool {
        self.keyring.as_ref().is_some_and(|r| r.find(id).is_some())
    }

    /// Seals `plaintext`, binding it to `aad` (which must be given again to open it).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(ring) = &self.keyring else {
            let mut out = Vec::with_capacity(4 + plaintext.len());
            out.extend_from_slice(MAGIC_PLAIN);
            out.extend_from_slice(plaintext);
            return Ok(out);
        };
        let key = &ring.current;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source is unavailable");
        let ciphertext = key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError::Malformed("the plaintext is too long to seal"))?;
        let mut out = Vec::with_capacity(5 + key.id.len() + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC_SEALED);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match parse(sealed)? {
            Parsed::Plain(bytes) => match self.keyring {
                None => Ok(Zeroizing::new(bytes.to_vec())),
                Some(_) => Err(SealError::Plaintext),
            },
            Parsed::Sealed {
                key_id,
                nonce,
                ciphertext,
            } => {
                let ring = self.keyring.as_ref().ok_or(SealError::NoKey)?;
                let key = ring
                    .find(key_id)
                    .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
                key.cipher()
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad,
                        },
                    )
                    .map(Zeroizing::new)
                    .map_err(|_| SealError::Tampered)
            }
        }
    }

    /// The id of the key `sealed` was sealed under (`None` for plaintext).
    pub fn key_id_of(sealed: &[u8]) -> Result<Option<&str>, SealError> {
        Ok(match parse(sealed)? {
            Parsed::Plain(_) => None,
            Parsed::Sealed { key_id, .. } => Some(key_id),
        })
    }
}

enum Parsed<'a> {
    Plain(&'a [u8]),
    Sealed {
        key_id: &'a str,
        nonce: &'a [u8],
        ciphertext: &'a [u8],
    },
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, SealError> {
    if let Some(rest) = bytes.strip_prefix(MAGIC_PLAIN) {
        return Ok(Parsed::Plain(rest));
    }
    let rest = bytes
        .strip_prefix(MAGIC_SEALED)
        .ok_or(SealError::Malformed("unknown header"))?;
    let (&len, rest) = rest
        .split_first()
        .ok_or(SealError::Malformed("truncated"))?;
    let len = usize::from(len);
    if rest.len() < len + NONCE_LEN + TAG_LEN {
        return Err(SealError::Malformed("truncated"));
    }
    let (key_id, rest) = rest.split_at(len);
    let key_id = std::str::from_utf8(key_id).map_err(|_| SealError::Malformed("key id"))?;
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Ok(Parsed::Sealed {
        key_id,
        nonce,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str, byte: u8) -> Sealer {
        Sealer::new(Keyring::new(SealingKey::new(id, [byte; 32]).unwrap()))
    }

    #[test]
    fn round_trip_and_ciphertext_hides_the_plaintext() {
        let s = ring("k1", 1);
        let sealed = s.seal(b"very-secret-refresh", b"c1").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(&s.open(&sealed, b"c1").unwrap()[..], b"very-secret-refresh");
        // Random nonces: sealing twice gives different bytes.
        assert_ne!(sealed, s.seal(b"very-secret-refresh", b"c1").unwrap());
    }

    #[test]
    fn every_flipped_bit_is_a_typed_error() {
        let s = ring("k1", 1);
        let sealed = s.seal(b"token", b"c1").unwrap();
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(s.open(&bad, b"c1").is_err(), "byte {i} bit {bit}");
            }
        }
        let mut body = sealed.clone();
        let last = body.len() - 1;
        body[last] ^= 0x80;
        assert_eq!(s.open(&body, b"c1").unwrap_err(), SealError::Tampered);
        assert_eq!(
            s.open(&sealed[..10], b"c1").unwrap_err(),
            SealError::Malformed("truncated")
        );
    }

    #[test]
    fn wrong_key_same_id_wrong_aad_unknown_id() {
        let sealed = ring("k1", 1).seal(b"token", b"c1").unwrap();
        assert_eq!(
            ring("k1", 2).open(&sealed, b"c1").unwrap_err(),
            SealError::Tampered
        );
        assert_eq!(
            ring("k1", 1).open(&sealed, b"c2").unwrap_err(),
            SealError::Tampered
        );
        assert_eq!(
            ring("k2", 1).open(&sealed, b"c1").unwrap_err(),
            SealError::UnknownKey("k1".into())
        );
        assert_eq!(
            Sealer::insecure_plaintext_for_tests_only()
                .open(&sealed, b"c1")
                .unwrap_err(),
            SealError::NoKey
        );
    }

    #[test]
    fn plaintext_mode_is_refused_by_a_keyring() {
        let plain = Sealer::insecure_plaintext_for_tests_only();
        assert!(plain.is_plaintext());
        let bytes = plain.seal(b"token", b"c1").unwrap();
        assert_eq!(&plain.open(&bytes, b"c1").unwrap()[..], b"token");
        assert_eq!(
            ring("k1", 1).open(&bytes, b"c1").unwrap_err(),
            SealError::Plaintext
        );
    }

    #[test]
    fn rotation_new_key_seals_old_key_opens() {
        let old = SealingKey::new("old", [1; 32]).unwrap();
        let sealed_old = Sealer::new(Keyring::new(old.clone()))
            .seal(b"t", b"a")
            .unwrap();
        let ring = Keyring::new(SealingKey::new("new", [2; 32]).unwrap())
            .with_old_key(old.clone())
            .unwrap();
        assert!(ring.clone().with_old_key(old).is_err());
        let s = Sealer::new(ring);
        assert_eq!(&s.open(&sealed_old, b"a").unwrap()[..], b"t");
        let sealed_new = s.seal(b"t", b"a").unwrap();
        assert_eq!(Sealer::key_id_of(&sealed_new).unwrap(), Some("new"));
        assert_eq!(s.current_key_id(), Some("new"));
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert!(SealingKey::new("", [0; 32]).is_err());
        assert!(SealingKey::new("a b", [0; 32]).is_err());
        assert!(SealingKey::from_base64("k", "AAAA").is_err());
        let b64 = STANDARD.encode([0xAB; 32]);
        let key = SealingKey::from_base64("k", &b64).unwrap();
        let printed = format!("{key:?} {:?}", Keyring::new(key.clone()));
        assert!(!printed.contains("171"), "{printed}");
        assert!(!printed.to_lowercase().contains("ab, ab"), "{printed}");
        assert!(printed.contains("[REDACTED]"));
    }
}
