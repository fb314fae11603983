//! Microsoft Graph: the one call that validates a token (`GET /v1.0/organization`), its
//! answers, and the tenant a JWT access token names.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::TenantInfo;

/// The tenant (`tid` claim) of a JWT access token, read without checking the signature.
///
/// Returns `None` for tokens that are not JWTs (opaque tokens) or carry no `tid`.
///
/// ```
/// use base64::Engine as _;
/// use base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// use tenant_access::provider::entra::token_tenant;
///
/// let payload = URL_SAFE_NO_PAD.encode(r#"{"tid":"72f988bf-86f1-41af-91ab-2d7cd011db47"}"#);
/// let token = format!("eyJ0eXAiOiJKV1QifQ.{payload}.c2ln");
/// assert_eq!(token_tenant(&token).as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
/// assert_eq!(token_tenant("an-opaque-token"), None);
/// ```
pub fn token_tenant(token: &str) -> Option<String> {
    crate::model::jwt_tenant(token)
}

/// Graph's `GET /organization` answer: a list whose first entry is the tenant (the rest, if
/// any, is skipped without being built).
#[derive(Debug, Deserialize)]
struct OrganizationList {
    #[serde(deserialize_with = "first_organization")]
    value: Option<Organization>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Organization {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    verified_domains: Vec<VerifiedDomain>,
}

#[derive(Debug, Deserialize)]
struct VerifiedDomain {
    name: String,
}

/// The first organization of the list, the others skipped.
fn first_organization<'de, D>(list: D) -> Result<Option<Organization>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct First;
    impl<'de> serde::de::Visitor<'de> for First {
        type Value = Option<Organization>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of organizations")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    list.deserialize_seq(First)
}

/// Runs on every verification: the body is checked as UTF-8 once, not string by string.
pub(super) fn parse_organization(body: &[u8]) -> Result<TenantInfo, ProviderError> {
    let body = std::str::from_utf8(body).map_err(|_| {
        ProviderError::InvalidResponse("GET /organization returned a body that is not UTF-8".into())
    })?;
    let list: OrganizationList = serde_json::from_str(body).map_err(|e| {
        ProviderError::InvalidResponse(format!("the body is not the expected JSON: {e}"))
    })?;
    let org = list.value.ok_or_else(|| {
        ProviderError::InvalidResponse("GET /organization returned no organization".into())
    })?;
    if org.id.is_empty() {
        return Err(ProviderError::InvalidResponse(
            "the organization has an empty id".into(),
        ));
    }
    Ok(TenantInfo {
        id: org.id,
        display_name: org.display_name.unwrap_or_default(),
        domains: org.verified_domains.into_iter().map(|d| d.name).collect(),
    })
}

/// Graph's error body: `{"error":{"code":"…","message":"…"}}`.
pub(super) fn graph_error(status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let detail = ProviderDetail::new(
        field("code").unwrap_or_else(|| format!("http_{status}")),
        field("message").unwrap_or_default(),
    );
    match status {
        // Graph's 401 is about the bearer token alone (`InvalidAuthenticationToken`: expired,
        // revoked, not for Graph): a new token may work, which the caller decides.
        401 => ProviderError::TokenRejected(detail),
        403 => ProviderError::ConsentRequired(detail),
        _ => ProviderError::Other(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organization_is_the_lists_first_entry() {
        let body = br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#organization",
            "value":[{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","displayName":"Contoso \"EU\" \u00c5",
              "verifiedDomains":[{"name":"contoso.com","isDefault":true},{"name":"contoso.onmicrosoft.com"}],
              "tenantType":"AAD","assignedPlans":[{"service":"exchange"}]},
              {"id":"ignored","displayName":null}]}"#;
        let info = parse_organization(body).unwrap();
        assert_eq!(info.id, "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        assert_eq!(info.display_name, "Contoso \"EU\" \u{c5}");
        assert_eq!(info.domains, ["contoso.com", "contoso.onmicrosoft.com"]);
        let bare = parse_organization(br#"{"value":[{"id":"x","displayName":null}]}"#).unwrap();
        assert_eq!((bare.display_name.as_str(), bare.domains.len()), ("", 0));
    }

    #[test]
    fn graph_401_is_a_rejected_token_keeping_the_code() {
        let body = br#"{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired.","innerError":{"date":"2026-11-23T10:00:00"}}}"#;
        match graph_error(401, body) {
            ProviderError::TokenRejected(d) => {
                assert_eq!(d.error, "InvalidAuthenticationToken");
                assert_eq!(
                    d.description,
                    "Lifetime validation failed, the token is expired."
                );
            }
            other => panic!("{other:?}"),
        }
        // Without a body the status is kept as the code.
        assert!(matches!(
            graph_error(401, b""),
            ProviderError::TokenRejected(d) if d.error == "http_401"
        ));
        assert!(matches!(
            graph_error(403, b"{}"),
            ProviderError::ConsentRequired(_)
        ));
    }

    #[test]
    fn an_organization_answer_without_a_tenant_is_invalid() {
        for (body, says) in [
            (&br#"{"value":[]}"#[..], "no organization"),
            (br#"{"value":[{"id":""}]}"#, "empty id"),
            (br#"{"value":{"id":"x"}}"#, "expected JSON"),
            (br#"{"values":[]}"#, "expected JSON"),
            (b"{\"value\":[{\"id\":\"\xff\"}]}", "not UTF-8"),
        ] {
            match parse_organization(body) {
                Err(ProviderError::InvalidResponse(m)) => assert!(m.contains(says), "{m}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
