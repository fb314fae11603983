//! Tenant discovery: a verified domain (or a GUID) to its tenant GUID and cloud, from the
//! tenant's anonymous OpenID configuration
//! (`GET {authority}/{tenant}/v2.0/.well-known/openid-configuration`).

use serde::Deserialize;
use url::Url;

use crate::error::ProviderError;
use crate::model::DiscoveredTenant;
use crate::ports::TenantDiscovery;
use crate::provider::oauth::{parse_error, parse_json};

/// The AADSTS codes that say no such tenant exists: 90002 (tenant not found) and 900023
/// (neither a valid directory name nor a verified domain).
const UNKNOWN_TENANT_CODES: &[u32] = &[90002, 900023];

/// The parts of the OpenID configuration discovery reads.
#[derive(Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
    #[serde(default)]
    cloud_instance_name: Option<String>,
    #[serde(default)]
    msgraph_host: Option<String>,
    #[serde(default)]
    tenant_region_scope: Option<String>,
}

/// What an answer to the OpenID configuration request says: the tenant found (HTTP 200), or
/// unknown (400 `invalid_tenant` / AADSTS90002); any other refusal is an error.
pub(super) fn read_discovery(status: u16, body: &[u8]) -> Result<TenantDiscovery, ProviderError> {
    if status == 200 {
        return parse_openid_configuration(body).map(TenantDiscovery::Found);
    }
    let refused = parse_error(status, body)?;
    let detail = refused.detail;
    let unknown = detail.error == "invalid_tenant"
        || detail
            .codes
            .iter()
            .any(|c| UNKNOWN_TENANT_CODES.contains(c));
    if status == 400 && unknown {
        Ok(TenantDiscovery::Unknown(detail))
    } else {
        Err(ProviderError::Other(detail))
    }
}

/// The tenant an OpenID configuration describes: the GUID is the first path segment of its
/// `issuer` (`https://login.microsoftonline.com/{tid}/v2.0`).
pub(super) fn parse_openid_configuration(body: &[u8]) -> Result<DiscoveredTenant, ProviderError> {
    let config: OpenIdConfiguration = parse_json(body)?;
    let bad_issuer = || {
        ProviderError::InvalidResponse(format!(
            "the OpenID configuration's issuer {:?} names no tenant GUID",
            config.issuer
        ))
    };
    let issuer = Url::parse(&config.issuer).map_err(|_| bad_issuer())?;
    let tid = issuer
        .path_segments()
        .and_then(|mut segments| segments.next())
        .ok_or_else(bad_issuer)?;
    let mut found = DiscoveredTenant::new(tid).map_err(|_| bad_issuer())?;
    let text = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    found.cloud_instance_name = text(config.cloud_instance_name);
    found.msgraph_host = text(config.msgraph_host);
    found.tenant_region_scope = text(config.tenant_region_scope);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn the_guid_and_cloud_come_from_the_openid_configuration() {
        let body = format!(
            r#"{{"token_endpoint":"https://login.microsoftonline.com/{GUID}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],
            "issuer":"https://login.microsoftonline.com/{GUID}/v2.0",
            "tenant_region_scope":"EU","cloud_instance_name":"microsoftonline.com",
            "msgraph_host":"graph.microsoft.com","rbac_url":"https://pas.windows.net"}}"#
        );
        let found = parse_openid_configuration(body.as_bytes()).unwrap();
        assert_eq!(found.id, GUID);
        assert_eq!(
            found.cloud_instance_name.as_deref(),
            Some("microsoftonline.com")
        );
        assert_eq!(found.msgraph_host.as_deref(), Some("graph.microsoft.com"));
        assert_eq!(found.tenant_region_scope.as_deref(), Some("EU"));
    }

    #[test]
    fn an_issuer_without_a_guid_is_an_invalid_response() {
        for issuer in [
            "https://login.microsoftonline.com/contoso.com/v2.0",
            "not a url",
            "https://sts.example/",
        ] {
            let body = format!(r#"{{"issuer":"{issuer}"}}"#);
            assert!(matches!(
                parse_openid_configuration(body.as_bytes()),
                Err(ProviderError::InvalidResponse(_))
            ));
        }
    }

    #[test]
    fn invalid_tenant_is_unknown_and_other_refusals_are_errors() {
        let body = br#"{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant 'nope.example' not found.","error_codes":[90002]}"#;
        match read_discovery(400, body).unwrap() {
            TenantDiscovery::Unknown(detail) => assert_eq!(detail.codes, [90002]),
            other => panic!("{other:?}"),
        }
        let other = br#"{"error":"invalid_request","error_codes":[900144]}"#;
        assert!(matches!(
            read_discovery(400, other),
            Err(ProviderError::Other(_))
        ));
    }
}
