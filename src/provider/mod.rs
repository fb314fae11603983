//! The [`IdentityProvider`] adapters: Microsoft Entra ID (`entra`) and any OAuth 2.0 / OpenID
//! Connect server (`oidc`), over HTTPS with rustls.
//!
//! Both stand on one OAuth layer (a private `oauth` module: the HTTP client and its retries,
//! client authentication, the token requests, the reading of OAuth error bodies) and say only
//! what differs: Entra ID its authority, AADSTS codes and Graph; OIDC its discovery, consent
//! with PKCE, userinfo, introspection and revocation.
//!
//! The port itself lives in [`ports`](crate::ports); it is re-exported here, beside its
//! implementations. The scripted mock and FakeEntra are in [`testing`](crate::testing).

#[cfg(feature = "entra")]
#[cfg_attr(docsrs, doc(cfg(feature = "entra")))]
pub mod entra;
#[cfg(any(feature = "entra", feature = "oidc"))]
mod oauth;
#[cfg(feature = "oidc")]
#[cfg_attr(docsrs, doc(cfg(feature = "oidc")))]
pub mod oidc;

#[cfg(any(feature = "entra", feature = "oidc"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "entra", feature = "oidc"))))]
pub use oauth::{DEFAULT_CALL_DEADLINE, MAX_BODY_BYTES, RetryPolicy};

pub use crate::ports::{
    AdminConsentRequest, ConsentCallback, DeviceAuthorization, DevicePoll, IdentityProvider,
    Target, TenantDiscovery, TokenResponse, admin_consent_url, check_admin_consent,
};
