//! Who uses the admin pages: the [`Operator`] an integrator's
//! [`AdminAuthorizer`](super::AdminAuthorizer) identified. A leaf of `web`, so the admin pages
//! and the CSRF tokens bound to the operator both depend on it, not on each other.

use std::sync::Arc;

use crate::model::Actor;

/// An MSP operator, as the integrator's [`AdminAuthorizer`](super::AdminAuthorizer) identified them. Their name is
/// recorded in the audit events of what they do ([`Actor::Operator`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(Arc<str>);

impl Operator {
    /// An operator named `name` (an email address, a user name).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into().into())
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    pub(crate) fn actor(&self) -> Actor {
        Actor::Operator(Arc::clone(&self.0))
    }
}
