//! Secret values: tokens, passwords, client secrets, device codes, invitation codes.
//!
//! Every type here wraps [`secrecy::SecretString`]: its `Debug` prints the type name and
//! `[REDACTED]`, it has no `Display`, and it is zeroed when the last copy is dropped. Copies
//! share one allocation (`Arc`), so handing a token to many callers costs no copy of it. The only way to read
//! the value is [`expose_secret`](AccessToken::expose_secret), which makes every use easy to
//! find in review.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// What every secret type has besides `new` and `expose_secret`: comparison in constant
/// time, a `Debug` that redacts, and `From` a string.
macro_rules! secret_common {
    ($name:ident) => {
        impl $name {
            /// Compares two secrets in constant time.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.expose_secret()
                    .as_bytes()
                    .ct_eq(other.expose_secret().as_bytes())
                    .into()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    };
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(std::sync::Arc<SecretString>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(std::sync::Arc::new(SecretString::from(value.into())))
            }

            /// Reads the secret. Call it only where the value leaves the process
            /// (an HTTP request, an email, a sealed column).
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        secret_common!($name);
    };
}

secret_type!(
    /// An OAuth 2.0 authorization code, as an authorization redirect brings it back.
    AuthorizationCode
);

secret_type!(
    /// The `state` of a browser sign-in: made fresh for each attempt, bound to one journey,
    /// good for one callback. It carries the customer id (so the callback finds its journey)
    /// and 256 random bits.
    SignInState
);

secret_type!(
    /// A PKCE code verifier (RFC 7636): the secret half of a browser sign-in, sent only when
    /// the code is redeemed, and sealed at rest with the journey.
    PkceVerifier
);

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes, base64url without padding (43 characters, the
    /// unreserved alphabet RFC 7636 §4.1 allows).
    pub fn generate() -> Self {
        use base64::Engine as _;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).expect("the OS random source is unavailable");
        Self::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
    }

    /// The S256 challenge sent in the authorization request:
    /// base64url(SHA-256(verifier)) (RFC 7636 §4.2).
    ///
    /// ```
    /// use tenant_access::model::PkceVerifier;
    /// // RFC 7636, appendix B.
    /// let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    /// assert_eq!(verifier.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// ```
    pub fn challenge(&self) -> String {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(self.expose_secret().as_bytes()))
    }
}

/// An OAuth 2.0 access token (a bearer credential for Graph and other APIs).
///
/// Like the other secret types, but it keeps its text as the `Authorization` header's value
/// (`Bearer …`): the header a provider sends with it is built once per token and shared by
/// every request, instead of formatted, checked and copied on each one.
#[derive(Clone)]
pub struct AccessToken(std::sync::Arc<BearerText>);

/// `Bearer ` and the token, zeroed when the token and every header built from it are gone.
struct BearerText {
    text: std::sync::Arc<SecretString>,
    #[cfg(any(feature = "entra", feature = "oidc"))]
    header: std::sync::OnceLock<reqwest::header::HeaderValue>,
}

const BEARER: &str = "Bearer ";

impl AccessToken {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        let mut text = String::with_capacity(BEARER.len() + value.len());
        text.push_str(BEARER);
        text.push_str(&value);
        zeroize_string(value);
        Self(std::sync::Arc::new(BearerText {
            text: std::sync::Arc::new(SecretString::from(text)),
            #[cfg(any(feature = "entra", feature = "oidc"))]
            header: std::sync::OnceLock::new(),
        }))
    }

    /// Reads the secret. Call it only where the value leaves the process
    /// (an HTTP request, an email, a sealed column).
    pub fn expose_secret(&self) -> &str {
        &self.0.text.expose_secret()[BEARER.len()..]
    }

    /// The `Authorization: Bearer …` header value (marked sensitive), built on first use and
    /// then shared: it points at the token's own zeroizing memory, so cloning it copies
    /// nothing. `None` if the token holds bytes a header cannot carry.
    #[cfg(any(feature = "entra", feature = "oidc"))]
    pub(crate) fn authorization(&self) -> Option<reqwest::header::HeaderValue> {
        if let Some(header) = self.0.header.get() {
            return Some(header.clone());
        }
        let shared = bytes::Bytes::from_owner(SharedText(std::sync::Arc::clone(&self.0.text)));
        let mut header = reqwest::header::HeaderValue::from_maybe_shared(shared).ok()?;
        header.set_sensitive(true);
        Some(self.0.header.get_or_init(|| header).clone())
    }
}

/// Lends a token's text to the `bytes` of a header without copying it.
#[cfg(any(feature = "entra", feature = "oidc"))]
struct SharedText(std::sync::Arc<SecretString>);

#[cfg(any(feature = "entra", feature = "oidc"))]
impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

/// Zeroes a string's bytes, all its capacity, before it is freed (the value now lives in a
/// secret).
fn zeroize_string(mut value: String) {
    secrecy::zeroize::Zeroize::zeroize(&mut value);
}

secret_common!(AccessToken);

secret_type!(
    /// An OAuth 2.0 refresh token: the long-lived credential that keeps a connection alive.
    RefreshToken
);
secret_type!(
    /// A password for the resource-owner password (ROPC) journey.
    Password
);
secret_type!(
    /// The client secret of an application registration.
    ClientSecret
);
secret_type!(
    /// The device code of an RFC 8628 device authorization (not the user code, which is shown
    /// to the customer and is not secret).
    DeviceCode
);
secret_type!(
    /// The `state` value of an admin-consent request; it ties a callback to one customer.
    ConsentState
);
secret_type!(
    /// A link that carries an invitation code. Whoever holds it can continue the journey.
    InvitationLink
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let token = AccessToken::new("eyJ-very-secret");
        let printed = format!("{token:?} {:#?}", token);
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("AccessToken([REDACTED])"));
    }

    #[test]
    fn an_access_token_reads_back_as_given() {
        let token = AccessToken::new("eyJ-token");
        assert_eq!(token.expose_secret(), "eyJ-token");
        assert!(token.ct_eq(&AccessToken::from("eyJ-token")));
        assert!(!token.ct_eq(&AccessToken::from("Bearer eyJ-token")));
        assert_eq!(format!("{token:?}"), "AccessToken([REDACTED])");
        assert_eq!(AccessToken::new("").expose_secret(), "");
    }

    #[cfg(any(feature = "entra", feature = "oidc"))]
    #[test]
    fn the_authorization_header_is_built_once_shared_and_sensitive() {
        let token = AccessToken::new("eyJ-token");
        let header = token.authorization().unwrap();
        assert_eq!(header.as_bytes(), b"Bearer eyJ-token");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("eyJ"));
        // Every clone of the token hands out the same bytes, not a copy.
        let again = token.clone().authorization().unwrap();
        assert_eq!(again.as_bytes().as_ptr(), header.as_bytes().as_ptr());
        // A value no header can carry is refused (the provider turns it into an error).
        assert!(AccessToken::new("eyJ\ntoken").authorization().is_none());
    }

    #[test]
    fn constant_time_equality() {
        assert!(Password::new("a").ct_eq(&Password::new("a")));
        assert!(!Password::new("a").ct_eq(&Password::new("b")));
        assert!(!Password::new("a").ct_eq(&Password::new("ab")));
    }
}
