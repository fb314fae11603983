//! The guide: one chapter per part of the crate, each a page of prose and examples.
//!
//! Every Rust snippet in these chapters is a doctest (`cargo test --doc --all-features`), so
//! the examples compile against the crate as it is. A chapter whose examples need a feature
//! is shown in full when that feature is on (as on docs.rs, which builds with every
//! feature); without it the page says which feature to turn on.
//!
//! | chapter | what it covers | examples need |
//! |---|---|---|
//! | [`journeys`] | how the engine is built; one worked example per journey: device code and the admin consent workflow, `advance`, browser sign-in, password, app registration | `mock` |
//! | [`day_two`] | access tokens, *Verify all*, *Refresh token now*, the maintainer, the status report, re-authentication, switching method | `mock` |
//! | [`providers`] | Microsoft Entra ID (the app registration to create, certificates, national clouds, credential expiry, the examples) and any OAuth 2.0 / OpenID Connect server | `entra`, `oidc` |
//! | [`stores`] | the memory, SQLite and PostgreSQL stores, sealed secrets and key rotation, writing your own store and the conformance kit | `sqlite`, `postgres`, `conformance` |
//! | [`store_contract`] | implementing `Store`: every rule the conformance kit checks, the outbox included | `conformance` |
//! | [`health`] | attention reasons, the outbox and its dispatchers, webhooks and the operators' digest | `mock`, `webhook` |
//! | [`mail`] | sending invitations by SMTP: configuration, what happens to a send, templates | `smtp` |
//! | [`web`] | the web wizard and admin pages (axum routers), their security and accessibility, the portal example | `axum` |
//! | [`testing`] | the test doubles (manual clock, capture mailer, mock provider, FakeEntra) and the crate's own suites and the services they need | `testing` |
//! | [`operations`] | CI, the benchmarks and where their figures are, fuzzing, these docs | none |
//!
//! The chapters are the Markdown files in `src/docs/` of the repository.

#[cfg_attr(feature = "mock", doc = include_str!("journeys.md"))]
#[cfg_attr(
    not(feature = "mock"),
    doc = "# Journeys\n\nThis chapter's examples are compiled with the `mock` feature: read it \
           on docs.rs or with `cargo doc --features mock --open`."
)]
pub mod journeys {}

#[cfg_attr(feature = "mock", doc = include_str!("day_two.md"))]
#[cfg_attr(
    not(feature = "mock"),
    doc = "# Day Two\n\nThis chapter's examples are compiled with the `mock` feature: read it \
           on docs.rs or with `cargo doc --features mock --open`."
)]
pub mod day_two {}

#[cfg_attr(all(feature = "entra", feature = "oidc"), doc = include_str!("providers.md"))]
#[cfg_attr(
    not(all(feature = "entra", feature = "oidc")),
    doc = "# Identity providers\n\nThis chapter's examples are compiled with the `entra` and \
           `oidc` features: read it on docs.rs or with \
           `cargo doc --features entra,oidc --open`."
)]
pub mod providers {}

#[cfg_attr(
    all(feature = "sqlite", feature = "postgres", feature = "conformance"),
    doc = include_str!("stores.md")
)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "conformance")),
    doc = "# Stores\n\nThis chapter's examples are compiled with the `sqlite`, `postgres` and \
           `conformance` features: read it on docs.rs or with \
           `cargo doc --features sqlite,postgres,conformance --open`."
)]
pub mod stores {}

#[cfg_attr(feature = "conformance", doc = include_str!("store_contract.md"))]
#[cfg_attr(
    not(feature = "conformance"),
    doc = "# Implementing `Store`\n\nThis chapter's examples are compiled with the `conformance` \
           feature: read it on docs.rs or with `cargo doc --features conformance --open`."
)]
pub mod store_contract {}

#[cfg_attr(all(feature = "mock", feature = "webhook"), doc = include_str!("health.md"))]
#[cfg_attr(
    not(all(feature = "mock", feature = "webhook")),
    doc = "# Connection health\n\nThis chapter's examples are compiled with the `mock` and \
           `webhook` features: read it on docs.rs or with \
           `cargo doc --features mock,webhook --open`."
)]
pub mod health {}

#[cfg_attr(feature = "smtp", doc = include_str!("mail.md"))]
#[cfg_attr(
    not(feature = "smtp"),
    doc = "# Sending invitations by SMTP\n\nThis chapter's examples are compiled with the \
           `smtp` feature: read it on docs.rs or with `cargo doc --features smtp --open`."
)]
pub mod mail {}

#[cfg_attr(feature = "axum", doc = include_str!("web.md"))]
#[cfg_attr(
    not(feature = "axum"),
    doc = "# Web wizard\n\nThis chapter's examples are compiled with the `axum` feature: read \
           it on docs.rs or with `cargo doc --features axum --open`."
)]
pub mod web {}

#[cfg_attr(feature = "testing", doc = include_str!("testing.md"))]
#[cfg_attr(
    not(feature = "testing"),
    doc = "# Testing\n\nThis chapter's examples are compiled with the `testing` feature: read \
           it on docs.rs or with `cargo doc --features testing --open`."
)]
pub mod testing {}

#[doc = include_str!("operations.md")]
pub mod operations {}
