//! The consent step on a standard server: an authorization request with PKCE (RFC 7636, S256)
//! whose code is redeemed to prove the grant (see the module docs of [`oidc`](super)).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use url::Url;

use super::config::{OidcConfig, misconfigured};
use super::discovery::{Endpoints, need};
use crate::error::{ProviderDetail, ProviderError};
use crate::model::{AuthorizationCode, ConsentState};
use crate::ports::{AdminConsentRequest, ConsentCallback};

/// The PKCE code verifier for a consent `state`: base64url(HMAC-SHA256(key, state)).
pub(super) fn pkce_verifier(config: &OidcConfig, state: &ConsentState) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(
        &config.pkce_key,
        state.expose_secret().as_bytes(),
    ))
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The authorization endpoint, for a request with a PKCE S256 challenge: a server that lists
/// `code_challenge_methods_supported` without S256 would refuse the request in the customer's
/// browser, where nobody can fix it, so it is refused here as a configuration fault. A server
/// that lists nothing is trusted to support it (RFC 8414 makes the list optional).
pub(super) fn authorization_endpoint(endpoints: &Endpoints) -> Result<Url, ProviderError> {
    let url = need(&endpoints.authorization, "authorization_endpoint")?.clone();
    if !endpoints.code_challenge_methods.is_empty()
        && !endpoints.code_challenge_methods.iter().any(|m| m == "S256")
    {
        return Err(misconfigured(
            "pkce_unsupported",
            "the server does not support PKCE with S256",
        ));
    }
    Ok(url)
}

/// The authorization request URL for `request`, as the configured client.
pub(super) fn consent_url(
    config: &OidcConfig,
    endpoints: &Endpoints,
    request: &AdminConsentRequest,
) -> Result<Url, ProviderError> {
    let mut url = authorization_endpoint(endpoints)?;
    if request.client_id != config.client_id {
        tracing::debug!(
            requested = %request.client_id,
            configured = %config.client_id,
            "OIDC consent is asked for the configured client, the only one that can redeem the code"
        );
    }
    let verifier = pkce_verifier(config, &request.state);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", request.redirect_uri.as_str())
        .append_pair("scope", &config.scope_param())
        .append_pair("state", request.state.expose_secret())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "consent");
    Ok(url)
}

/// What redeeming a consent callback's code sends besides the code.
pub(super) struct Redemption<'a> {
    pub(super) code: &'a AuthorizationCode,
    pub(super) redirect_uri: &'a Url,
    pub(super) verifier: String,
}

/// Checks the callback's state and maps its `error` to [`ProviderError::ConsentDeclined`];
/// what is left is the code to redeem, with the redirect URI and the PKCE verifier. Nothing
/// is sent before the callback is known to be this request's.
pub(super) fn check_callback<'a>(
    config: &'a OidcConfig,
    expected_state: &ConsentState,
    callback: &'a ConsentCallback,
) -> Result<Redemption<'a>, ProviderError> {
    if !callback
        .state
        .as_ref()
        .is_some_and(|s| s.ct_eq(expected_state))
    {
        return Err(ProviderError::ConsentCallback(
            "the state does not match the request",
        ));
    }
    if let Some(error) = &callback.error {
        return Err(ProviderError::ConsentDeclined(ProviderDetail::new(
            error.clone(),
            callback.error_description.clone().unwrap_or_default(),
        )));
    }
    let code = callback
        .code
        .as_ref()
        .ok_or(ProviderError::ConsentCallback("no authorization code"))?;
    let redirect_uri = config.redirect_uri.as_ref().ok_or_else(|| {
        misconfigured(
            "missing_redirect_uri",
            "redeeming the consent code needs OidcConfig::redirect_uri",
        )
    })?;
    Ok(Redemption {
        code,
        redirect_uri,
        verifier: pkce_verifier(config, expected_state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifier_is_a_valid_rfc_7636_verifier_and_depends_on_key_and_state() {
        let config = OidcConfig::new("https://id.example", "c")
            .unwrap()
            .pkce_key([1; 32]);
        let v = pkce_verifier(&config, &ConsentState::new("a"));
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(v, pkce_verifier(&config, &ConsentState::new("a")));
        assert_ne!(v, pkce_verifier(&config, &ConsentState::new("b")));
        assert_ne!(
            v,
            pkce_verifier(&config.clone().pkce_key([2; 32]), &ConsentState::new("a"))
        );
    }

    #[test]
    fn hmac_sha256_matches_a_reference_value() {
        // HMAC-SHA256 with a 32-byte key of 0x0b and "Hi There" (the message of RFC 4231 test
        // case 1 with a longer key); the value was computed with Python's hmac module.
        let key = [0x0bu8; 32];
        let mac = hmac_sha256(&key, b"Hi There");
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }
}
