//! What tenant discovery found out about a tenant ([`DiscoveredTenant`]), and the `tid` claim
//! of a token.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::cloud::Cloud;
use super::input::InputError;

/// A tenant as its identity provider describes it before anything else happens: its GUID and
/// its cloud, read from the tenant's anonymous OpenID configuration (Entra ID:
/// `GET {authority}/{domain-or-guid}/v2.0/.well-known/openid-configuration`).
///
/// A [`TenantId`](super::TenantId) resolved with it
/// ([`TenantId::with_discovery`](super::TenantId::with_discovery)) keeps it, and every later
/// check (the admin-consent callback's `tenant`, a token's `tid`, the validating call's
/// tenant) compares GUIDs.
///
/// ```
/// use tenant_access::model::DiscoveredTenant;
/// let mut found = DiscoveredTenant::new("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
/// found.cloud_instance_name = Some("microsoftonline.com".into());
/// assert_eq!(found.id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
/// assert!(DiscoveredTenant::new("contoso.com").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DiscoveredTenant {
    /// The tenant GUID (lower-case).
    pub id: String,
    /// The cloud instance (`microsoftonline.com`, `microsoftonline.us`,
    /// `partner.microsoftonline.cn`), if the provider said.
    pub cloud_instance_name: Option<String>,
    /// The Microsoft Graph host of the tenant's cloud (`graph.microsoft.com`, …), if said.
    pub msgraph_host: Option<String>,
    /// The tenant's region scope (`NA`, `EU`, `USGov`, …), if said.
    pub tenant_region_scope: Option<String>,
}

impl DiscoveredTenant {
    /// A discovered tenant with its GUID (any case; kept lower-case) and no cloud facts.
    pub fn new(id: impl Into<String>) -> Result<Self, InputError> {
        let id = id.into().trim().to_ascii_lowercase();
        if !is_guid(&id) {
            return Err(InputError::Tenant("discovery must name the tenant's GUID"));
        }
        Ok(Self {
            id,
            cloud_instance_name: None,
            msgraph_host: None,
            tenant_region_scope: None,
        })
    }

    /// The cloud its `cloud_instance_name` and `msgraph_host` name
    /// ([`Cloud::from_discovery`]); `None` when discovery did not say, or named a cloud this
    /// crate does not know.
    pub fn cloud(&self) -> Option<Cloud> {
        Cloud::from_discovery(
            self.cloud_instance_name.as_deref()?,
            self.msgraph_host.as_deref(),
        )
    }
}

/// Whether `s` is a GUID (`8-4-4-4-12` hex digits, any case).
pub(super) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The `tid` claim (the tenant GUID) of a JWT, read without checking its signature: enough to
/// refuse a token issued in another tenant, never proof of anything. `None` for opaque tokens
/// and tokens without a string `tid`.
pub(crate) fn jwt_tenant(token: &str) -> Option<String> {
    let bytes = jwt_payload(token)?;
    // Only `tid` is read: every other claim is skipped without being built.
    let claims: TidClaim<'_> = serde_json::from_slice(&bytes).ok()?;
    claims.tid.map(std::borrow::Cow::into_owned)
}

/// The decoded payload (the middle part) of a JWT-shaped token, its signature unchecked;
/// `None` for a token that is not three dot-separated parts or whose payload is not base64url.
pub(crate) fn jwt_payload(token: &str) -> Option<Vec<u8>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(payload))
        .ok()
}

/// The one claim [`jwt_tenant`] reads; a `tid` that is not a string makes the token
/// unreadable (`None`), as does a repeated `tid`.
#[derive(Deserialize)]
struct TidClaim<'a> {
    #[serde(borrow, default)]
    tid: Option<std::borrow::Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tid_from_jwt_shaped_tokens_only() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"aud":"x","tid":"abc"}"#);
        assert_eq!(
            jwt_tenant(&format!("h.{payload}.s")).as_deref(),
            Some("abc")
        );
        assert_eq!(jwt_tenant("opaque"), None);
        assert_eq!(jwt_tenant(&format!("h.{payload}.s.extra")), None);
        let no_tid = URL_SAFE_NO_PAD.encode(r#"{"aud":"x"}"#);
        assert_eq!(jwt_tenant(&format!("h.{no_tid}.s")), None);
        let number = URL_SAFE_NO_PAD.encode(r#"{"tid":7}"#);
        assert_eq!(jwt_tenant(&format!("h.{number}.s")), None);
    }
}
