//! The [`IdentityProvider`] adapters: Microsoft Entra ID (`entra`) and any OAuth 2.0 / OpenID
//! Connect server (`oidc`), over HTTPS with rustls.
//!
//! The port itself lives in [`ports`](crate::ports); it is re-exported here, beside its
//! implementations. The scripted mock and FakeEntra are in [`testing`](crate::testing).

#[cfg(feature = "entra")]
pub mod entra;
#[cfg(any(feature = "entra", feature = "oidc"))]
mod http;
#[cfg(feature = "oidc")]
pub mod oidc;

#[cfg(any(feature = "entra", feature = "oidc"))]
pub use http::{MAX_BODY_BYTES, RetryPolicy};

pub use crate::ports::{
    AdminConsentRequest, ConsentCallback, DeviceAuthorization, DevicePoll, IdentityProvider,
    Target, TokenResponse, admin_consent_url, check_admin_consent,
};
