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
//! # The guide
//!
//! Longer chapters, every snippet a doctest, are in [`docs`]:
//! [journeys](docs::journeys), [Day Two](docs::day_two), [identity providers](docs::providers),
//! [stores](docs::stores), [SMTP mail](docs::mail), [the web wizard](docs::web),
//! [testing](docs::testing) and [operations](docs::operations) (CI, benchmarks, fuzzing).
//!
//! # Optional features
//!
//! None is on by default; [`store::MemoryStore`], [`mail::LogMailer`],
//! [`testing::CaptureMailer`] and [`testing::ManualClock`] need none. On docs.rs (built with
//! every feature and `--cfg docsrs`) each item behind a feature carries a badge naming it.
//!
#![doc = include_str!("docs/features.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod docs;
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
pub mod notify;
pub mod ops;
pub mod ports;
pub mod provider;
#[cfg(feature = "seal")]
#[cfg_attr(docsrs, doc(cfg(feature = "seal")))]
pub mod seal;
pub mod store;
pub mod testing;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
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

/// The README's snippets, compiled as doctests (they run on the mock provider).
#[cfg(all(doctest, feature = "mock"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod readme {
    /// One feature table: the crate docs include `src/docs/features.md`, and the README
    /// carries the same table.
    #[test]
    fn the_readme_shows_the_feature_table_of_the_crate_docs() {
        let readme = include_str!("../README.md");
        let table = include_str!("docs/features.md");
        assert!(
            readme.contains(table),
            "README.md's feature table differs from src/docs/features.md"
        );
    }
}
