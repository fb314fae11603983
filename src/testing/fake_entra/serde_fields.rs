//! How FakeEntra's times, durations and clouds are written in JSON (its state file and its
//! control API): times as RFC 3339 text, durations as seconds (a number, fractions allowed),
//! clouds by name (`global`, `usgov-l4`, `usgov-l5-dod`, `china`). A leaf: nothing of the
//! fake is used here.

/// `OffsetDateTime` as RFC 3339 text.
pub(super) mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(crate) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format(&Rfc3339).map_err(S::Error::custom)?)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(D::Error::custom)
    }
}

/// `Option<OffsetDateTime>` as RFC 3339 text or `null`.
pub(super) mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.format(&Rfc3339).map_err(S::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| OffsetDateTime::parse(&text, &Rfc3339).map_err(D::Error::custom))
            .transpose()
    }
}

/// `Duration` as seconds (a number; fractions of a second allowed).
pub(super) mod seconds {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `Option<Duration>` as seconds or `null`.
pub(super) mod seconds_option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(D::Error::custom))
            .transpose()
    }
}

/// `Option<Cloud>` by name, or `null`.
pub(super) mod cloud_option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::model::Cloud;

    pub(crate) fn serialize<S: Serializer>(c: &Option<Cloud>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => s.serialize_some(c.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cloud>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| {
                Cloud::parse(&name)
                    .ok_or_else(|| D::Error::custom(format!("unknown cloud {name:?}")))
            })
            .transpose()
    }
}

/// `Cloud` by name.
pub(super) mod cloud {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::model::Cloud;

    pub(crate) fn serialize<S: Serializer>(c: &Cloud, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cloud, D::Error> {
        let name = String::deserialize(d)?;
        Cloud::parse(&name).ok_or_else(|| D::Error::custom(format!("unknown cloud {name:?}")))
    }
}
