//! Secret values: tokens, passwords, client secrets, device codes, invitation codes.
//!
//! Every type here wraps [`secrecy::SecretString`]: its `Debug` prints the type name and
//! `[REDACTED]`, it has no `Display`, and it is zeroed when the last copy is dropped. Copies
//! share one allocation (`Arc`), so handing a token to many callers costs no copy of it. The only way to read
//! the value is [`expose_secret`](AccessToken::expose_secret), which makes every use easy to
//! find in review.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

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

secret_type!(
    /// An OAuth 2.0 authorization code, as an authorization redirect brings it back.
    AuthorizationCode
);

secret_type!(
    /// An OAuth 2.0 access token (a bearer credential for Graph and other APIs).
    AccessToken
);
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

    #[test]
    fn constant_time_equality() {
        assert!(Password::new("a").ct_eq(&Password::new("a")));
        assert!(!Password::new("a").ct_eq(&Password::new("b")));
        assert!(!Password::new("a").ct_eq(&Password::new("ab")));
    }
}
