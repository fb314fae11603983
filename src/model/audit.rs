//! Audit events: one for every transition, never carrying a secret.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
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

/// Serialized as its text form (`"system"`, `"customer"`, `"operator:NAME"`).
impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Actor::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown actor {text:?}")))
    }
}

/// One transition of one customer.
///
/// Serializable (serde) for stores that keep events as documents: the customer id, the
/// stages and the actor as their text forms, `at` as RFC 3339.
///
/// ```
/// # use tenant_access::model::{Actor, AuditEvent, CustomerId, StageKind};
/// let event = AuditEvent {
///     customer: CustomerId::new("contoso").unwrap(),
///     from: Some(StageKind::Invited),
///     to: StageKind::InvitationSent,
///     at: time::macros::datetime!(2026-01-01 9:30 UTC),
///     actor: Actor::Operator("alice".into()),
///     note: None,
/// };
/// let json = serde_json::to_string(&event).unwrap();
/// assert_eq!(
///     json,
///     r#"{"customer":"contoso","from":"invited","to":"invitation_sent","at":"2026-01-01T09:30:00Z","actor":"operator:alice","note":null}"#
/// );
/// assert_eq!(serde_json::from_str::<AuditEvent>(&json).unwrap(), event);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The customer.
    pub customer: CustomerId,
    /// The stage before (`None` when the customer was created).
    pub from: Option<StageKind>,
    /// The stage after.
    pub to: StageKind,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// A short, secret-free note (for example the provider error that caused the move).
    #[serde(default)]
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

    #[test]
    fn an_event_round_trips_through_json() {
        for (from, actor, note) in [
            (None, Actor::System, None),
            (
                Some(StageKind::DeviceCodeIssued),
                Actor::Customer,
                Some("AADSTS50126".to_owned()),
            ),
            (
                Some(StageKind::Validated),
                Actor::Operator("bob@msp.example".into()),
                None,
            ),
        ] {
            let event = AuditEvent {
                customer: CustomerId::new("customer 7").unwrap(),
                from,
                to: StageKind::ReauthRequired,
                at: time::macros::datetime!(2026-03-04 05:06:07.123456789 +02:00),
                actor,
                note,
            };
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<AuditEvent>(&json).unwrap(), event);
        }
    }

    #[test]
    fn an_event_with_a_bad_id_stage_or_actor_does_not_deserialize() {
        let good = r#"{"customer":"c","from":null,"to":"invited","at":"2026-01-01T00:00:00Z","actor":"system","note":null}"#;
        assert!(serde_json::from_str::<AuditEvent>(good).is_ok());
        for (from, to) in [
            (r#""customer":"c""#, r#""customer":"""#),
            (r#""to":"invited""#, r#""to":"nowhere""#),
            (r#""actor":"system""#, r#""actor":"nobody""#),
            (r#""at":"2026-01-01T00:00:00Z""#, r#""at":"yesterday""#),
        ] {
            let bad = good.replace(from, to);
            assert!(serde_json::from_str::<AuditEvent>(&bad).is_err(), "{bad}");
        }
    }
}
