//! The token requests both providers make, each one request (never a hidden loop): device
//! authorization and device-code polls (RFC 8628), refresh, refresh for other scopes, the
//! password and client-credentials grants, and redeeming an authorization code (RFC 6749,
//! RFC 7636), with the parsers of what a server answers.
//!
//! A refusal is read through the provider's [`Dialect`]; everything else is the same for
//! every server.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::client_auth::Client;
use super::error::{Dialect, OAuthError, Request, parse_error};
use super::http::HttpClient;
use super::json::{bounded_seconds, parse_json};
use crate::error::ProviderError;
use crate::model::{AccessToken, DeviceCode, Password, RefreshToken};
use crate::ports::{DeviceAuthorization, DevicePoll, TokenResponse};

/// The RFC 8628 device-code grant type.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Starts a device authorization (RFC 8628 §3.1) at `url` for `scope`.
pub(crate) async fn device_authorization(
    http: &HttpClient,
    url: &Url,
    client: Client<'_>,
    scope: &str,
    dialect: Dialect,
) -> Result<DeviceAuthorization, ProviderError> {
    let answer = client.post(http, url, vec![("scope", scope)]).await?;
    if answer.status == 200 {
        parse_device_authorization(&answer.body)
    } else {
        let error = parse_error(answer.status, &answer.body)?;
        Err((dialect.refusal)(Request::DeviceAuthorization, error))
    }
}

/// A token endpoint, the client asking at it, and how its refusals read.
#[derive(Clone, Copy)]
pub(crate) struct TokenEndpoint<'a> {
    pub(crate) http: &'a HttpClient,
    pub(crate) url: &'a Url,
    pub(crate) client: Client<'a>,
    pub(crate) dialect: Dialect,
}

impl TokenEndpoint<'_> {
    /// Exactly one device-code token request (RFC 8628 §3.4): no transient fault is retried
    /// inside the call, since every token request for a device code is a poll (§3.5) and the
    /// journey decides when the next one may go out.
    pub(crate) async fn poll_device_code(
        self,
        device_code: &DeviceCode,
    ) -> Result<DevicePoll, ProviderError> {
        let fields = vec![
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code.expose_secret()),
        ];
        let http = self.http.single_attempt();
        let once = TokenEndpoint {
            http: &http,
            ..self
        };
        match once.request(Request::DevicePoll, fields).await? {
            Ok(token) => Ok(DevicePoll::Granted(token)),
            Err(error) => (self.dialect.poll)(error),
        }
    }

    /// The resource-owner password grant (RFC 6749 §4.3).
    pub(crate) async fn password(
        self,
        scope: &str,
        username: &str,
        password: &Password,
    ) -> Result<TokenResponse, ProviderError> {
        let fields = vec![
            ("grant_type", "password"),
            ("scope", scope),
            ("username", username),
            ("password", password.expose_secret()),
        ];
        self.grant(Request::Password, fields).await
    }

    /// The client-credentials grant (RFC 6749 §4.4); without `scope`, the server's default.
    pub(crate) async fn client_credentials(
        self,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ProviderError> {
        let mut fields = vec![("grant_type", "client_credentials")];
        fields.extend(scope.map(|scope| ("scope", scope)));
        self.grant(Request::ClientCredentials, fields).await
    }

    /// The refresh-token grant (RFC 6749 §6). With `scope`, the access token is for those
    /// scopes: a subset of the granted ones on a standard server, any consented resource on
    /// Entra ID (refresh for other scopes).
    pub(crate) async fn refresh(
        self,
        refresh_token: &RefreshToken,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ProviderError> {
        let mut fields = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        fields.extend(scope.map(|scope| ("scope", scope)));
        self.grant(Request::Refresh, fields).await
    }

    /// Redeems an authorization code (RFC 6749 §4.1.3) with its PKCE verifier (RFC 7636).
    pub(crate) async fn authorization_code(
        self,
        code: &str,
        redirect_uri: &Url,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        self.authorization_code_for(code, redirect_uri, code_verifier, None)
            .await
    }

    /// The same, with `scope` when given: Entra ID's v2 token endpoint wants the scopes again
    /// on a redemption (the resource whose access token it issues).
    pub(crate) async fn authorization_code_for(
        self,
        code: &str,
        redirect_uri: &Url,
        code_verifier: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, ProviderError> {
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", code_verifier),
        ];
        fields.extend(scope.map(|scope| ("scope", scope)));
        self.grant(Request::AuthorizationCode, fields).await
    }

    async fn grant(
        self,
        request: Request,
        fields: Vec<(&str, &str)>,
    ) -> Result<TokenResponse, ProviderError> {
        match self.request(request, fields).await? {
            Ok(token) => Ok(token),
            Err(error) => Err((self.dialect.refusal)(request, error)),
        }
    }

    /// One token request: the tokens, or the server's refusal as it said it.
    async fn request(
        self,
        request: Request,
        fields: Vec<(&str, &str)>,
    ) -> Result<Result<TokenResponse, OAuthError>, ProviderError> {
        let answer = self.client.post(self.http, self.url, fields).await?;
        if answer.status == 200 {
            Ok(Ok(parse_token_response(&answer.body)?))
        } else {
            let error = parse_error(answer.status, &answer.body)?;
            tracing::debug!(
                ?request,
                error = %error.detail,
                "{} token endpoint refused",
                self.http.label()
            );
            Ok(Err(error))
        }
    }
}

/// A token response: RFC 6749 §5.1 plus Entra's `ext_expires_in`, with numbers that older
/// Entra endpoints send as strings.
#[derive(Debug, Deserialize)]
struct WireTokenResponse {
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Parses a token endpoint's success body. Only `Bearer` tokens are accepted.
pub(crate) fn parse_token_response(body: &[u8]) -> Result<TokenResponse, ProviderError> {
    let parsed: WireTokenResponse = parse_json(body)?;
    if parsed.access_token.is_empty() {
        return Err(ProviderError::InvalidResponse(
            "the token response has an empty access_token".into(),
        ));
    }
    if let Some(kind) = &parsed.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(ProviderError::InvalidResponse(format!(
            "unsupported token_type {kind:?}"
        )));
    }
    Ok(TokenResponse {
        access_token: AccessToken::new(parsed.access_token),
        refresh_token: parsed
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        expires_in: bounded_seconds(parsed.expires_in.as_ref(), 3600, 366 * 86_400),
        scope: parsed.scope,
    })
}

#[derive(Debug, Deserialize)]
struct DeviceCodeBody {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    interval: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

/// Parses a device authorization response (RFC 8628 §3.2); `interval` defaults to 5 s.
pub(crate) fn parse_device_authorization(
    body: &[u8],
) -> Result<DeviceAuthorization, ProviderError> {
    let parsed: DeviceCodeBody = parse_json(body)?;
    if parsed.device_code.is_empty() || parsed.user_code.is_empty() {
        return Err(ProviderError::InvalidResponse(
            "the device authorization has an empty code".into(),
        ));
    }
    let web_url = |raw: &str| {
        Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
    };
    let verification_uri = web_url(&parsed.verification_uri).ok_or_else(|| {
        ProviderError::InvalidResponse("verification_uri is not an http(s) URL".into())
    })?;
    // Optional: a malformed one is left out rather than failing the sign-in that works
    // without it.
    let verification_uri_complete = parsed
        .verification_uri_complete
        .as_deref()
        .and_then(web_url);
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(parsed.device_code),
        user_code: parsed.user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: bounded_seconds(parsed.expires_in.as_ref(), 900, 86_400),
        interval: bounded_seconds(parsed.interval.as_ref(), 5, 3600),
        message: parsed.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn string_typed_numbers_are_read() {
        let t = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","access_token":"a"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(3599));
        assert!(t.refresh_token.is_none());
        let huge = parse_token_response(br#"{"expires_in":1e300,"access_token":"a"}"#).unwrap();
        assert_eq!(huge.expires_in, Duration::from_secs(366 * 86_400));
    }
}
