//! The leaf values every layer shares, with no I/O: ids, secrets, the stages of a journey and
//! their names, what is known about a customer, audit events and invitation codes.
//!
//! Nothing here depends on any other module of the crate.

mod assess;
mod audit;
mod certificate;
mod cloud;
mod customer;
mod health;
mod ids;
mod input;
mod invitation;
mod notice;
mod secret;
mod stage;
mod switch;
mod tenant;

pub use assess::assess;
pub use audit::*;
pub use certificate::{
    ASSERTION_LIFETIME, ASSERTION_TYPE, AppCredential, ClientCertificate, CredentialExpiry,
    CredentialStatus, ExpiryState, KeyAlgorithm,
};
pub use cloud::Cloud;
pub use customer::*;
pub use health::{
    Attention, Change, Evidence, Failure, Granted, Health, HealthPolicy, Reason, Remedy,
    granted_permissions, reconcile,
};
#[cfg(any(feature = "mock", feature = "testing"))]
pub(crate) use ids::derived_guid;
pub use ids::*;
pub use input::InputError;
pub use invitation::*;
pub use notice::{Notice, NoticeId};
pub use secret::*;
pub use stage::*;
pub use switch::{JourneyId, PendingSwitch};
pub use tenant::DiscoveredTenant;
pub(crate) use tenant::jwt_tenant;
