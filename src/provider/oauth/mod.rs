//! The OAuth 2.0 layer both HTTP providers stand on (features `entra` and `oidc`).
//!
//! From the bottom: `http` (one reqwest client on rustls, no redirects, the 1 MiB body cap,
//! retries of transient faults within one call on a clock), `json` (lenient reading of
//! answers), `error` (OAuth error bodies, their standard reading, and the [`Dialect`] a
//! provider reads its own server's refusals with), `client_auth` (how the client proves who it
//! is) and `grants` (the token requests). A provider says only what differs: where its
//! endpoints are, how its server's refusals map onto
//! [`ProviderError`](crate::error::ProviderError), and its own calls (Graph, discovery,
//! userinfo, introspection, revocation).

// With one provider feature on, the parts only the other provider uses are unused.
#![cfg_attr(
    not(all(feature = "entra", feature = "oidc")),
    allow(dead_code, unused_imports)
)]

mod client_auth;
mod error;
mod grants;
mod http;
mod json;

pub use client_auth::ClientAuth;
pub use http::{DEFAULT_CALL_DEADLINE, MAX_BODY_BYTES, RetryPolicy};

pub(crate) use client_auth::{Client, Credential};
pub(crate) use error::{
    Dialect, OAuthError, Request, classify_standard, client_refusal, parse_error, standard_poll,
};
pub(crate) use grants::{TokenEndpoint, device_authorization};
pub(crate) use http::{ACCEPT_JSON, Answer, HttpClient, bearer};
pub(crate) use json::parse_json;

/// The parsers, for the providers' property tests and the fuzz targets.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use grants::{parse_device_authorization, parse_token_response};
