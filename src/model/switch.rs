//! A method switch under way: the new method's journey, kept in the customer's record beside
//! the connection it will replace.

use std::fmt;
use std::sync::Arc;

use super::customer::Customer;
use super::ids::Version;
use super::stage::Stage;

/// The random id of one method-switch journey. A new switch gets a new id, so a link or a
/// wizard session made for a cancelled or finished switch never opens the next one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JourneyId(Arc<str>);

impl JourneyId {
    /// A fresh id: 128 bits from the OS, hex.
    pub fn generate() -> Self {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the OS random source is unavailable");
        Self(
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// An id as [`as_str`](Self::as_str) wrote it: 32 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| Self(text.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JourneyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JourneyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JourneyId({})", self.0)
    }
}

/// The journey of a method switch, stored in its customer's record beside the connection
/// that keeps serving until the switch takes over.
///
/// Its [`customer`](Self::customer) holds the new method's facts (method, admin, invitation,
/// credentials, token) under the customer's own id and tenant.
#[derive(Debug, Clone)]
pub struct PendingSwitch {
    /// This switch's random id.
    pub journey: JourneyId,
    /// Counts this journey's own writes, so a writer can tell whether the switch moved while
    /// the connection beside it changed.
    pub version: Version,
    /// The new method's facts.
    pub customer: Customer,
    /// Where the switch journey stands.
    pub stage: Stage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journey_ids_are_random_and_parse_back() {
        let a = JourneyId::generate();
        let b = JourneyId::generate();
        assert_ne!(a, b);
        assert_eq!(JourneyId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(JourneyId::parse("not-hex"), None);
        assert_eq!(JourneyId::parse(&a.as_str().to_uppercase()), None);
    }
}
