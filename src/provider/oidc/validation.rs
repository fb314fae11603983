//! Proving a token works: the userinfo endpoint (OpenID Connect) or token introspection
//! (RFC 7662), and reading the tenant from the claims they answer.

use serde_json::Value;
use url::Url;

use super::config::OidcConfig;
use super::discovery::Endpoints;
use super::errors::classify;
use crate::error::{ProviderDetail, ProviderError};
use crate::model::{AccessToken, TenantInfo};
use crate::provider::oauth::{Client, HttpClient, Request, bearer, parse_error, parse_json};

/// RFC 7662 introspection of `token` at `url` as `client`; an inactive token is an error.
pub(super) async fn introspect(
    http: &HttpClient,
    url: &Url,
    client: Client<'_>,
    token: &AccessToken,
) -> Result<Value, ProviderError> {
    let fields = vec![
        ("token", token.expose_secret()),
        ("token_type_hint", "access_token"),
    ];
    let answer = client.post(http, url, fields).await?;
    if answer.status != 200 {
        return Err(classify(
            Request::Other,
            parse_error(answer.status, &answer.body)?,
        ));
    }
    let claims: Value = parse_json(&answer.body)?;
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Err(ProviderError::TokenRejected(ProviderDetail::new(
            "invalid_token",
            "introspection says the token is not active",
        )));
    }
    Ok(claims)
}

/// The userinfo endpoint's claims for `token`.
pub(super) async fn userinfo(
    http: &HttpClient,
    url: &Url,
    token: &AccessToken,
) -> Result<Value, ProviderError> {
    let authorization = bearer(token)?;
    let answer = http.get(url, Some(&authorization)).await?;
    match answer.status {
        200 => parse_json(&answer.body),
        // RFC 6750 §3.1: the server's error body when it sent one (oidc-provider does),
        // else what the status says.
        401 | 403 => Err(ProviderError::TokenRejected(
            parse_error(answer.status, &answer.body)
                .map(|refusal| refusal.detail)
                .unwrap_or_else(|_| {
                    ProviderDetail::new(
                        "invalid_token",
                        format!("userinfo refused the token (HTTP {})", answer.status),
                    )
                }),
        )),
        status => Err(classify(Request::Other, parse_error(status, &answer.body)?)),
    }
}

/// Turns validated claims into the tenant (see the module docs of [`oidc`](super)).
pub(super) fn tenant_info(
    config: &OidcConfig,
    endpoints: &Endpoints,
    claims: &Value,
) -> Result<TenantInfo, ProviderError> {
    if let Some(iss) = claims.get("iss").and_then(Value::as_str)
        && iss.trim_end_matches('/') != endpoints.issuer.trim_end_matches('/')
    {
        return Err(ProviderError::InvalidResponse(format!(
            "the token's issuer {iss:?} is not {:?}",
            endpoints.issuer
        )));
    }
    let host = config.issuer.host_str().unwrap_or_default().to_owned();
    let id = match &config.tenant_claim {
        Some(claim) => match claims.get(claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ProviderError::InvalidResponse(format!(
                    "the token's claims have no tenant claim {claim:?}"
                )));
            }
        },
        None => host.clone(),
    };
    let mut domains = vec![id.clone()];
    if host != id {
        domains.push(host);
    }
    Ok(TenantInfo {
        id,
        display_name: endpoints.issuer.clone(),
        domains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn metadata_and_claims_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Endpoints::from_metadata(&body);
            let config = OidcConfig::new("https://id.example", "c").unwrap().tenant_claim("tid");
            let endpoints = Endpoints::new("https://id.example", "https://id.example/token".parse().unwrap());
            if let Ok(claims) = serde_json::from_slice::<Value>(&body) {
                let _ = tenant_info(&config, &endpoints, &claims);
            }
        }
    }
}
