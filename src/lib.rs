//! Get and keep delegated access to customers' Microsoft 365 (Entra ID) tenants.
//!
//! An MSP's portal uses this crate to take every customer from an **invitation** through
//! **authentication**, **consent** and **token** to a **validated** connection, and to keep
//! it healthy afterwards. Each stage of a journey is a type; a transition consumes the stage
//! and returns the next one, so a step taken from the wrong stage does not compile, and a
//! failed step hands back the stage it started from ([`Rejected`]).
//!
//! # The state graph
//!
//! ```text
//!  device code (invitation)                      password / app registration
//!  ────────────────────────                      ───────────────────────────
//!  invite ─▶ Invited                             connect_with_password ─┐
//!              │ send                            connect_app_registration ┤
//!              ▼                                                        ▼
//!           InvitationSent ◀── resend ──┐                         ConsentRequired
//!              │ claim (link opened)    │                               │ complete_consent
//!              ▼                        │                               │ / acquire_token
//!           Claimed ◀── expired/declined┤                               │
//!              │ start_device_code      │                               │
//!              ▼                        │                               │
//!           DeviceCodeIssued ──poll──▶ ApprovalRequested                │
//!              │ poll: authenticated      │ continue_authentication     │
//!              │        ◀─────────────────┘ (new device code)           │
//!              ▼                                                        │
//!           TokenAcquired ◀─────────────────────────────────────────────┘
//!              │ validate (one real call, tenant checked)
//!              ▼
//!           Validated ── verify / refresh ──▶ Validated
//!              │ refresh: refresh token dead
//!              ▼
//!           ReauthRequired ── reinvite ──▶ Invited
//!
//!  Invitation expired ──▶ Expired ── reinvite ──▶ Invited
//!  revoke (from any stage) ──▶ Revoked (terminal)
//!
//!  switch method (from Validated or ReauthRequired): switch_to_device_code /
//!  switch_to_password / switch_to_app_registration start the same graph as a pending
//!  switch kept in the customer's record (a fresh random JourneyId) while the connection
//!  keeps serving; its validate takes over in one write and ends the switch; cancel_switch
//!  ends it and keeps the connection as it was. Links and sessions die with the switch.
//! ```
//!
//! Every transition is stored (compare-and-swap on the record's version) with an audit event,
//! so a process can die between any two steps and [`TenantAccess::load`] resumes the journey as
//! an [`AnyOnboarding`] to match on. A stateless handler calls [`TenantAccess::advance`]: it
//! takes the one step that is due now (a poll once its interval has passed, validation of a
//! new token, expiry of an old invitation) and says when to come back.
//!
//! # Parts, in layers
//!
//! Each concept has one module, and modules depend only on the ones below them:
//!
//! | layer | module | what it holds |
//! |-------|--------|---------------|
//! | facade | [`TenantAccess`] | the engine: a thin facade and builder over the parts below |
//! | Day Two | [`ops`] | access tokens (one cache, single flight, leases), verify, maintain, switch method, status report |
//! | journey | [`journey`] | [`Onboarding<S>`](Onboarding), [`Rejected`], [`AnyOnboarding`]: the typestate transitions, written against the ports |
//! | ports | [`ports`] | the traits the journey uses and the data they carry: [`Store`](ports::Store), [`IdentityProvider`](ports::IdentityProvider), [`Mailer`](ports::Mailer), [`Clock`](ports::Clock), bundled as [`Ports`](ports::Ports) |
//! | leaves | [`model`], [`error`], [`config`] | ids, secrets, stages, customers, audit events; [`Error`] with its [`Action`]; [`Config`] |
//!
//! Adapters implement the ports, each behind its feature: [`store`] (memory, SQLite,
//! PostgreSQL), [`provider`] (Entra ID, any OIDC server), [`mail`] (SMTP, log). [`testing`]
//! holds what test suites use instead: the scripted mock provider, FakeEntra, a capturing
//! mailer, a manual clock and the store conformance kit.
//!
//! # Errors
//!
//! Every error is an [`Error`]; [`Error::action`] says whether to retry (and after how long),
//! ask the customer, fix the configuration, reload, fix the input, or answer "not found".
//! Secrets never appear in `Debug` output, errors or logs.
//!
//! # Optional features
//!
//! | feature   | what it adds |
//! |-----------|--------------|
//! | `mock`    | `testing::mock`: the scripted provider |
//! | `entra`   | `provider::entra`: Microsoft Entra ID over HTTPS (reqwest + rustls, no OpenSSL) |
//! | `oidc`    | `provider::oidc`: any OAuth 2.0 / OpenID Connect server with the device flow (discovery, PKCE consent, revocation, userinfo/introspection; reqwest + rustls) |
//! | `testing` | everything downstream test suites need: `mock`, `entra` and `testing::fake_entra`, a fake Entra ID served over HTTP on 127.0.0.1 |
//! | `smtp`    | [`mail::SmtpMailer`] (lettre over rustls, pooled, retries) and the replaceable invitation templates ([`mail::InvitationTemplates`], minijinja) |
//! | `seal`    | `seal`: sealed secrets (XChaCha20-Poly1305 keyring) and `store::codec` |
//! | `sqlite`  | `store::SqliteStore`: the embedded store (one file, WAL); implies `seal` |
//! | `postgres`| `store::PostgresStore`: one database shared by many portal replicas; implies `seal` |
//! | `conformance` | `testing::conformance`: the behavioural suite for any [`Store`](ports::Store) |
//! | `axum`    | `web`: the embeddable web wizard: the customer's invitation wizard, the admin-consent callback and the MSP's admin pages as axum routers |
#![cfg_attr(feature = "mock", doc = include_str!("docs/journeys.md"))]
#![cfg_attr(
    not(feature = "mock"),
    doc = "\n# Journeys\n\nThe worked examples of each journey are compiled with the `mock` feature; \
           see them on docs.rs or with `cargo doc --features mock`."
)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
mod engine;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "smtp", feature = "testing"))]
mod html;
pub mod journey;
pub mod mail;
pub mod model;
pub mod ops;
pub mod ports;
pub mod provider;
#[cfg(feature = "seal")]
pub mod seal;
pub mod store;
pub mod testing;
#[cfg(feature = "axum")]
pub mod web;

pub use config::{Config, ConfigBuilder};
pub use engine::{TenantAccess, TenantAccessBuilder};
pub use error::{Action, ConfigError, Error};
pub use journey::{
    AnyOnboarding, Onboarding, OnboardingPage, PollOutcome, RefreshOutcome, Rejected,
};
pub use model::{CustomerId, EmailAddress, Method, NewCustomer, Scopes, TenantId, Version};

// What the public API makes users name, so they need no dependency of their own to match ours:
// times (`time`), URLs (`url`), `#[async_trait]` for implementing the ports (`Store`, `Mailer`,
// `IdentityProvider`, ...), and the stream traits for `TenantAccess::verify_all`.
pub use async_trait::async_trait;
pub use futures_util::{Stream, StreamExt};
pub use time;
pub use url;
