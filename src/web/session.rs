//! Signed values and cookies: the wizard's session cookie, and the HMAC both it and the CSRF
//! token use.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::WebConfig;
use crate::model::{CustomerId, JourneyId};

/// The wizard's session cookie (before any `__Host-` prefix).
pub(crate) const SESSION_COOKIE: &str = "ta_wizard";

/// `base64url(payload) "." base64url(HMAC-SHA256(key, purpose "\0" payload))`.
pub(crate) fn sign(key: &[u8; 32], purpose: &str, payload: &[u8]) -> String {
    let mac = mac(key, purpose, payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// The payload of a value made by [`sign`] with the same key and purpose; `None` if it was
/// changed or forged (checked in constant time).
pub(crate) fn verify(key: &[u8; 32], purpose: &str, signed: &str) -> Option<Vec<u8>> {
    let (payload, tag) = signed.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(&payload);
    m.verify_slice(&tag).ok()?;
    Some(payload)
}

fn mac(key: &[u8; 32], purpose: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

/// What the session cookie proves: this browser opened the live invitation number
/// `invitation` of `customer`'s own journey (`switch` is `None`) or of its method switch
/// `switch`, and may continue until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub customer: CustomerId,
    pub switch: Option<JourneyId>,
    pub invitation: u32,
    pub expires_at: OffsetDateTime,
}

impl Session {
    pub fn encode(&self, key: &[u8; 32]) -> String {
        let payload = format!(
            "2\n{}\n{}\n{}\n{}",
            URL_SAFE_NO_PAD.encode(self.customer.as_str()),
            self.switch.as_ref().map_or("-", JourneyId::as_str),
            self.invitation,
            self.expires_at.unix_timestamp()
        );
        sign(key, "wizard-session", payload.as_bytes())
    }

    /// The session in a cookie value, if it is genuine and not expired at `now`.
    pub fn decode(key: &[u8; 32], value: &str, now: OffsetDateTime) -> Option<Self> {
        let payload = String::from_utf8(verify(key, "wizard-session", value)?).ok()?;
        let mut parts = payload.split('\n');
        if parts.next()? != "2" {
            return None;
        }
        let customer = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let customer = CustomerId::new(String::from_utf8(customer).ok()?).ok()?;
        let switch = match parts.next()? {
            "-" => None,
            id => Some(JourneyId::parse(id)?),
        };
        let invitation = parts.next()?.parse().ok()?;
        let expires_at = OffsetDateTime::from_unix_timestamp(parts.next()?.parse().ok()?).ok()?;
        (now < expires_at).then_some(Self {
            customer,
            switch,
            invitation,
            expires_at,
        })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, the mount's path, `Secure` when configured.
pub(crate) fn set_cookie(
    config: &WebConfig,
    secure: bool,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
) -> String {
    let mut cookie = format!(
        "{name}={value}; Path={}; HttpOnly; SameSite={same_site}",
        config.cookie_path()
    );
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sessions_round_trip_and_refuse_tampering_and_expiry() {
        let key = [3u8; 32];
        let s = Session {
            customer: CustomerId::new("contoso ltd/ü").unwrap(),
            switch: None,
            invitation: 2,
            expires_at: datetime!(2026-11-24 12:00 UTC),
        };
        let value = s.encode(&key);
        let before = datetime!(2026-11-24 11:00 UTC);
        assert_eq!(Session::decode(&key, &value, before), Some(s.clone()));
        let switching = Session {
            switch: Some(JourneyId::generate()),
            ..s.clone()
        };
        let decoded = Session::decode(&key, &switching.encode(&key), before);
        assert_eq!(decoded, Some(switching));
        assert_eq!(Session::decode(&[4u8; 32], &value, before), None);
        assert_eq!(
            Session::decode(&key, &value, datetime!(2026-11-24 12:00 UTC)),
            None
        );
        let mut forged = value.clone();
        forged.insert(0, 'A');
        assert_eq!(Session::decode(&key, &forged, before), None);
        assert_eq!(Session::decode(&key, "garbage", before), None);
        // The CSRF purpose cannot be replayed as a session.
        let other = sign(&key, "csrf", b"1\nY29udG9zbw\n1\n9999999999");
        assert_eq!(Session::decode(&key, &other, before), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("cookie", "a=1; ta_wizard=xyz.abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz.abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
