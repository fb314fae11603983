//! Audit events: one for every transition, never carrying a secret.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use super::ids::CustomerId;
use super::stage::StageKind;

/// Who caused a transition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Actor {
    /// The engine itself (scheduled work, expiry, validation).
    System,
    /// The customer, through the invitation wizard.
    Customer,
    /// A named MSP operator.
    Operator(Arc<str>),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::Customer => f.write_str("customer"),
            Actor::Operator(name) => write!(f, "operator:{name}"),
        }
    }
}

impl Actor {
    /// Parses [`Display`](fmt::Display)'s output.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "system" => Some(Actor::System),
            "customer" => Some(Actor::Customer),
            other => other
                .strip_prefix("operator:")
                .map(|name| Actor::Operator(name.into())),
        }
    }
}

/// One transition of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The customer.
    pub customer: CustomerId,
    /// The stage before (`None` when the customer was created).
    pub from: Option<StageKind>,
    /// The stage after.
    pub to: StageKind,
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// A short, secret-free note (for example the provider error that caused the move).
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_text_round_trips() {
        for a in [
            Actor::System,
            Actor::Customer,
            Actor::Operator("alice@msp.example".into()),
        ] {
            assert_eq!(Actor::parse(&a.to_string()), Some(a));
        }
        assert_eq!(Actor::parse("nobody"), None);
    }
}
