//! Where a server's endpoints are: its metadata (OpenID Connect Discovery 1.0, RFC 8414), or
//! endpoints given by hand.

use serde::Deserialize;
use url::Url;

use super::config::misconfigured;
use crate::error::ProviderError;
use crate::provider::oauth::{HttpClient, parse_json};

/// The endpoints of a server, from its metadata (or given by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// The issuer identifier the metadata declares (the `iss` of its tokens).
    pub issuer: String,
    /// `token_endpoint` (required).
    pub token: Url,
    /// `device_authorization_endpoint` (RFC 8628).
    pub device_authorization: Option<Url>,
    /// `authorization_endpoint` (the consent step).
    pub authorization: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation: Option<Url>,
    /// `userinfo_endpoint` (OpenID Connect).
    pub userinfo: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    pub introspection: Option<Url>,
    /// `code_challenge_methods_supported` (empty when not advertised).
    pub code_challenge_methods: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (empty when not advertised).
    pub token_endpoint_auth_methods: Vec<String>,
}

impl Endpoints {
    /// Endpoints given by hand for a server without discovery: only the token endpoint.
    pub fn new(issuer: impl Into<String>, token: Url) -> Self {
        Self {
            issuer: issuer.into(),
            token,
            device_authorization: None,
            authorization: None,
            revocation: None,
            userinfo: None,
            introspection: None,
            code_challenge_methods: Vec::new(),
            token_endpoint_auth_methods: Vec::new(),
        }
    }

    /// Reads server metadata (OpenID Connect Discovery §3 / RFC 8414 §2).
    pub fn from_metadata(body: &[u8]) -> Result<Self, ProviderError> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            token_endpoint: Option<String>,
            device_authorization_endpoint: Option<String>,
            authorization_endpoint: Option<String>,
            revocation_endpoint: Option<String>,
            userinfo_endpoint: Option<String>,
            introspection_endpoint: Option<String>,
            #[serde(default)]
            code_challenge_methods_supported: Vec<String>,
            #[serde(default)]
            token_endpoint_auth_methods_supported: Vec<String>,
        }
        let m: Metadata = parse_json(body)?;
        let url = |v: Option<String>, name: &str| -> Result<Option<Url>, ProviderError> {
            v.map(|text| {
                Url::parse(&text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        ProviderError::InvalidResponse(format!(
                            "the metadata's {name} {text:?} is not an http(s) URL"
                        ))
                    })
            })
            .transpose()
        };
        let token = url(m.token_endpoint, "token_endpoint")?
            .ok_or_else(|| missing_endpoint("token_endpoint"))?;
        Ok(Self {
            issuer: m.issuer,
            token,
            device_authorization: url(
                m.device_authorization_endpoint,
                "device_authorization_endpoint",
            )?,
            authorization: url(m.authorization_endpoint, "authorization_endpoint")?,
            revocation: url(m.revocation_endpoint, "revocation_endpoint")?,
            userinfo: url(m.userinfo_endpoint, "userinfo_endpoint")?,
            introspection: url(m.introspection_endpoint, "introspection_endpoint")?,
            code_challenge_methods: m.code_challenge_methods_supported,
            token_endpoint_auth_methods: m.token_endpoint_auth_methods_supported,
        })
    }
}

/// The error for a call that needs an endpoint the server does not advertise.
pub(super) fn missing_endpoint(name: &str) -> ProviderError {
    misconfigured(
        "missing_endpoint",
        format!("the server's metadata has no {name}"),
    )
}

/// The endpoint, or the error for a server that does not advertise it.
pub(super) fn need<'a>(endpoint: &'a Option<Url>, name: &str) -> Result<&'a Url, ProviderError> {
    endpoint.as_ref().ok_or_else(|| missing_endpoint(name))
}

/// Fetches the server's metadata: OpenID Connect Discovery
/// (`{issuer}/.well-known/openid-configuration`), then RFC 8414
/// (`{origin}/.well-known/oauth-authorization-server{path}`). The metadata's `issuer` must be
/// `issuer`.
pub(super) async fn fetch(http: &HttpClient, issuer: &Url) -> Result<Endpoints, ProviderError> {
    let mut oidc = issuer.clone();
    oidc.path_segments_mut()
        .expect("checked to be a base URL")
        .pop_if_empty()
        .extend([".well-known", "openid-configuration"]);
    let mut rfc8414 = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut last = None;
    for url in [oidc, rfc8414] {
        let answer = http.get(&url, None).await?;
        if answer.status == 200 {
            let endpoints = Endpoints::from_metadata(&answer.body)?;
            if endpoints.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
                return Err(misconfigured(
                    "issuer_mismatch",
                    format!(
                        "the metadata at {url} is for issuer {:?}, not {:?}",
                        endpoints.issuer,
                        issuer.as_str()
                    ),
                ));
            }
            return Ok(endpoints);
        }
        last = Some((url, answer.status));
    }
    let (url, status) = last.expect("two URLs tried");
    Err(misconfigured(
        "discovery_failed",
        format!("no server metadata at the issuer (last tried {url}: HTTP {status})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_without_token_endpoint_is_misconfigured() {
        match Endpoints::from_metadata(br#"{"issuer":"https://id.example.com"}"#) {
            Err(ProviderError::Misconfigured(d)) => {
                assert!(d.description.contains("token_endpoint"))
            }
            other => panic!("{other:?}"),
        }
    }
}
