//! FakeEntra: a stateful fake of Microsoft Entra ID's v2 endpoints and Graph's
//! `/v1.0/organization`, served over real HTTP on `127.0.0.1` (feature `testing`).
//!
//! It speaks the wire format of the real service (form posts in, Entra-shaped JSON and
//! `AADSTS` codes out), so an [`EntraProvider`](crate::provider::entra::EntraProvider) pointed
//! at it exercises the real code path.
//! A test plays the customer and their administrators through the control methods:
//! [`sign_in`](FakeEntra::sign_in), [`decline`](FakeEntra::decline),
//! [`expire`](FakeEntra::expire), [`require_admin_approval`](FakeEntra::require_admin_approval)
//! and [`approve_admin_consent_requests`](FakeEntra::approve_admin_consent_requests), users with
//! MFA on or off, app registrations, refresh-token revocation, injected 429/5xx, and request
//! counters. Tenants are created on first use, unless
//! [`forget_tenant`](FakeEntra::forget_tenant) made a name unknown: then every endpoint naming
//! it answers 400 `invalid_tenant` (AADSTS90002). Expiry follows the [`Clock`](crate::ports::Clock) it is given, so a
//! [`ManualClock`](crate::testing::ManualClock) drives it without sleeping.
//!
//! It plays one [`Cloud`](crate::model::Cloud) ([`FakeEntraBuilder::cloud`], default the
//! public one): its tenant discovery names that cloud, its tokens are for that cloud's Graph,
//! and scopes naming another cloud's Graph are refused (AADSTS500011). A tenant's
//! [`Scenario::cloud`] makes discovery place it in another cloud, as the public authority does
//! for a US Government tenant; [`FakeEntra::cloud_registration`] points the MSP's registration
//! for that cloud at another FakeEntra, and [`FakeEntra::requests_for`] tells where each
//! tenant's requests went.
//!
//! The browser sign-in (authorization code with PKCE) has a real page a browser, or a test
//! posting its form, can drive; [`Scenario::sign_in`] makes it answer at once instead. Only
//! the redirect URIs registered with
//! [`FakeEntraBuilder::sign_in_redirect_uri`] are accepted.
//!
//! Token requests may carry a client assertion (`private_key_jwt`) instead of a secret; it is
//! checked against the certificates registered for that client
//! ([`FakeEntraBuilder::client_certificate`], [`FakeEntra::add_app_certificate`]) as Entra
//! does, in `client_auth`, with [`ClientAssertion`](crate::testing::assertion::ClientAssertion).
//!
//! The parts: `state` (the fake directory and what it issued), `directory` (what the
//! customer, their administrators and the network do to it), `routes` (the HTTP endpoints),
//! `sign_in` (the sign-in page and code redemption), `control` (the [`FakeEntra`] handle a
//! test drives), `control_api` (the same over HTTP, under `/_control/`) and `snapshot` (the
//! state file).
//!
//! Served endpoints (`{tenant}` is a GUID or a domain):
//!
//! | method | path |
//! |---|---|
//! | POST | `/{tenant}/oauth2/v2.0/devicecode` |
//! | POST | `/{tenant}/oauth2/v2.0/token` (device code, password, client credentials, refresh, authorization code) |
//! | GET  | `/{tenant}/oauth2/v2.0/authorize` (the browser sign-in page, or a scripted answer) |
//! | POST | `/{tenant}/oauth2/v2.0/authorize` (a button of that page; redirects to `redirect_uri`) |
//! | GET  | `/{tenant}/v2.0/adminconsent` (redirects to `redirect_uri`) |
//! | GET  | `/{tenant}/v2.0/.well-known/openid-configuration` (tenant discovery) |
//! | GET  | `/v1.0/organization` |
//! | GET  | `/v1.0/applications(appId='{client id}')` (secrets' and certificates' end dates) |
//!
//! ```
//! use tenant_access::testing::fake_entra::{FakeEntra, FakeRequest};
//! use tenant_access::provider::{IdentityProvider, Target};
//! use tenant_access::model::{CustomerId, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeEntra::start().await?;
//! let entra = fake.provider()?;
//! let target = Target {
//!     customer: CustomerId::new("contoso")?,
//!     tenant: TenantId::new("contoso.com")?,
//! };
//! let device = entra.device_authorization(&target).await?;
//! fake.sign_in(&device.user_code); // the customer signs in at the verification URI
//! assert_eq!(fake.requests(FakeRequest::DeviceAuthorization), 1);
//! # Ok(())
//! # }
//! ```
//!
//! [`FakeEntra`] is cheap to clone (the clones share one server and one directory); it stops
//! serving when the last clone is dropped.
//!
//! The same fake runs as its own process, so that a portal can be killed and started again
//! against it: the `fake-entra` binary (`cargo run --features testing --bin fake-entra --
//! --listen 127.0.0.1:8400 --state fake-entra.json`), driven through the control API below.
//! In process, the control API is served too:
//!
//! ```
//! use tenant_access::testing::fake_entra::FakeEntra;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeEntra::start().await?;
//! let http = reqwest::Client::new();
//! let control = |path: &str| fake.url().join(path).unwrap();
//! http.patch(control("_control/tenants/contoso.com/scenario"))
//!     .body(r#"{"device_code_blocked": true}"#)
//!     .send()
//!     .await?
//!     .error_for_status()?;
//! let counters: serde_json::Value = http
//!     .get(control("_control/counters"))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(counters["total"], 0);
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("CONTROL_API.md")]

mod answer;
mod client_auth;
mod control;
mod control_api;
mod directory;
mod routes;
mod scenario;
mod serde_fields;
mod sign_in;
mod snapshot;
mod state;

pub use control::{DEFAULT_CLIENT_ID, FakeEntra, FakeEntraBuilder};
pub use directory::SignIn;
pub use scenario::{Scenario, SignInAnswer};
pub use state::{
    ACCESS_TOKEN_LIFETIME, AUTHORIZATION_CODE_LIFETIME, DEVICE_CODE_LIFETIME, FakeEndpoint,
    FakeRequest, Fault, REFRESH_INACTIVITY,
};
