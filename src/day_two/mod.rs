//! Day Two: what a portal calls every day once customers are connected.
//!
//! - [`TenantAccess::access_token`](crate::TenantAccess::access_token): a valid access token,
//!   refreshed ahead of expiry, one refresh per customer at a time in this process and
//!   compare-and-swap across replicas; no store round trip while the cached token is valid.
//! - [`TenantAccess::access_token_for`](crate::TenantAccess::access_token_for): a token for
//!   another resource from the same refresh token, where the provider allows it.
//! - [`TenantAccess::refresh_now`](crate::TenantAccess::refresh_now): refresh one customer now.
//! - [`TenantAccess::verify`](crate::TenantAccess::verify) and
//!   [`TenantAccess::verify_all`](crate::TenantAccess::verify_all): prove connections with
//!   bounded concurrency, honouring the provider's `Retry-After` for the whole run.
//! - [`TenantAccess::maintenance_pass`](crate::TenantAccess::maintenance_pass) and
//!   [`TenantAccess::spawn_maintainer`](crate::TenantAccess::spawn_maintainer): refresh tokens
//!   before they expire and re-verify on a schedule, with graceful shutdown.
//! - [`TenantAccess::switch_to_device_code`](crate::TenantAccess::switch_to_device_code),
//!   [`switch_to_password`](crate::TenantAccess::switch_to_password) and
//!   [`switch_to_app_registration`](crate::TenantAccess::switch_to_app_registration): a new
//!   method's journey runs (as `customer#switch`) while the old connection keeps serving; once
//!   validated it takes over in one write. [`cancel_switch`](crate::TenantAccess::cancel_switch)
//!   keeps the old one.
//! - The status report lives in [`report`](crate::report): rows, a table, CSV and JSON.

mod access;
mod cache;
mod maintain;
mod resource;
mod switch;
mod verify;

pub(crate) use cache::TokenCache;
pub use maintain::{Maintainer, MaintenancePolicy, PassReport};
pub(crate) use resource::ResourceCache;
pub use verify::{VerifyOutcome, VerifyProgress};
