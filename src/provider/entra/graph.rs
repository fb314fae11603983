//! Microsoft Graph: the call that validates a token (`GET /v1.0/organization`), the one that
//! reads an application's credential end dates (`GET /v1.0/applications(appId=…)`), their
//! answers, and the tenant a JWT access token names.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ProviderDetail, ProviderError};
use crate::model::{CredentialExpiry, TenantInfo};

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

/// `{graph}/v1.0/applications(appId='{client_id}')?$select=passwordCredentials,keyCredentials`.
/// An Entra application id is a GUID: anything but letters, digits and `-` is refused rather
/// than escaped into an OData key.
pub(super) fn application_url(
    graph: &url::Url,
    client_id: &str,
) -> Result<url::Url, ProviderError> {
    if client_id.is_empty()
        || !client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ProviderError::Misconfigured(ProviderDetail::new(
            "invalid_client_id",
            format!("{client_id:?} is not an application id"),
        )));
    }
    let mut url = graph.clone();
    url.set_path(&format!("/v1.0/applications(appId='{client_id}')"));
    url.set_query(Some("$select=passwordCredentials,keyCredentials"));
    Ok(url)
}

/// Graph's `passwordCredentials` / `keyCredentials` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphCredential {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    end_date_time: Option<String>,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationCredentials {
    #[serde(default)]
    password_credentials: Vec<GraphCredential>,
    #[serde(default)]
    key_credentials: Vec<GraphCredential>,
}

/// An application's secrets then certificates with their end dates; an entry without an end
/// date ends never and is left out.
pub(super) fn parse_application_credentials(
    body: &[u8],
) -> Result<Vec<CredentialExpiry>, ProviderError> {
    let app: ApplicationCredentials = serde_json::from_slice(body).map_err(|e| {
        ProviderError::InvalidResponse(format!("the application is not the expected JSON: {e}"))
    })?;
    let read = |kind: &'static str,
                c: GraphCredential|
     -> Option<Result<CredentialExpiry, ProviderError>> {
        let end = c.end_date_time?;
        let expires_at =
            match time::OffsetDateTime::parse(&end, &time::format_description::well_known::Rfc3339)
            {
                Ok(at) => at,
                Err(e) => {
                    return Some(Err(ProviderError::InvalidResponse(format!(
                        "the credential's endDateTime {end:?} is not a date: {e}"
                    ))));
                }
            };
        let mut name = c
            .display_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| kind.to_owned());
        if let Some(hint) = c.hint.filter(|h| !h.is_empty()) {
            name.push_str(&format!(" ({hint}…)"));
        }
        if let Some(key_id) = c.key_id {
            name.push_str(&format!(" [key id {key_id}]"));
        }
        Some(Ok(CredentialExpiry {
            kind,
            name,
            expires_at,
        }))
    };
    app.password_credentials
        .into_iter()
        .filter_map(|c| read("client secret", c))
        .chain(
            app.key_credentials
                .into_iter()
                .filter_map(|c| read("certificate", c)),
        )
        .collect()
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
