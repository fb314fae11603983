//! Browser sign-in on a standard server: the authorization request (RFC 6749 §4.1.1, PKCE
//! S256 from RFC 7636, OpenID Connect Core §3.1.2.1) whose code the engine redeems.

use url::Url;

use super::config::OidcConfig;
use super::consent::authorization_endpoint;
use super::discovery::Endpoints;
use crate::error::ProviderError;
use crate::ports::AuthorizationRequest;

/// The `prompt` of a sign-in for `scopes` (the configured scope parameter).
///
/// `login` makes the person at the browser authenticate now, rather than the server reusing
/// whatever session that browser holds (a colleague's on a shared machine): the engine is
/// about to store a long-lived grant for the invited administrator, and `login_hint` names
/// them. `select_account` would be gentler but is optional in OpenID Connect and oidc-provider,
/// for one, refuses it as `invalid_request`; `login` is universally understood.
///
/// `consent` is added only when `offline_access` is asked for: OpenID Connect Core §11 says a
/// request for offline access MUST carry `prompt=consent`, and servers enforce it by dropping
/// `offline_access` (so no refresh token) otherwise. Without it, whether to show a consent
/// page is the server's call, unlike the consent step, whose whole point is the grant.
fn prompt(scopes: &str) -> &'static str {
    if scopes.split(' ').any(|s| s == "offline_access") {
        "login consent"
    } else {
        "login"
    }
}

/// The authorization request URL for a browser sign-in, as the configured client.
pub(super) fn authorization_url(
    config: &OidcConfig,
    endpoints: &Endpoints,
    request: &AuthorizationRequest,
) -> Result<Url, ProviderError> {
    let mut url = authorization_endpoint(endpoints)?;
    let scope = config.scope_param();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", request.redirect_uri.as_str())
            .append_pair("scope", &scope)
            .append_pair("state", request.state.expose_secret())
            .append_pair("code_challenge", &request.code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", prompt(&scope));
        if let Some(hint) = &request.login_hint {
            query.append_pair("login_hint", hint);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_is_prompted_only_for_offline_access() {
        assert_eq!(prompt("openid offline_access"), "login consent");
        assert_eq!(prompt("openid"), "login");
        // A scope that merely contains the word is not it.
        assert_eq!(prompt("openid offline_access_extra"), "login");
    }
}
