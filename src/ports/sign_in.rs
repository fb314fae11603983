//! Browser sign-in (authorization code with PKCE): what the authorization request asks for,
//! what the redirect back brings, and how a refusal on that redirect reads. Shared by every
//! provider.

use url::Url;

use crate::error::{InputError, ProviderDetail, ProviderError};
use crate::model::{AuthorizationCode, PkceVerifier, SignInState};

use super::consent::aadsts_codes;

/// What the authorization URL of a browser sign-in asks for
/// ([`IdentityProvider::authorization_url`](super::IdentityProvider::authorization_url)).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The portal's registered redirect URI.
    pub redirect_uri: Url,
    /// The single-use `state` the redirect must carry back.
    pub state: SignInState,
    /// The PKCE S256 challenge (`base64url(SHA-256(verifier))`).
    pub code_challenge: String,
    /// The invited administrator's address (`login_hint`), so the right account signs in.
    pub login_hint: Option<String>,
}

/// What redeeming a browser sign-in's code sends besides the code
/// ([`IdentityProvider::redeem_code`](super::IdentityProvider::redeem_code)).
#[derive(Debug, Clone, Copy)]
pub struct CodeRedemption<'a> {
    /// The code the redirect brought.
    pub code: &'a AuthorizationCode,
    /// The redirect URI the authorization request named.
    pub redirect_uri: &'a Url,
    /// The PKCE verifier whose challenge the request carried.
    pub verifier: &'a PkceVerifier,
}

/// The query parameters a browser sign-in's redirect brings back to the portal.
#[derive(Debug, Clone, Default)]
pub struct SignInCallback {
    /// The authorization code, on success.
    pub code: Option<AuthorizationCode>,
    /// The `state` the request carried.
    pub state: Option<SignInState>,
    /// The OAuth error (`access_denied`, `consent_required`, …), on failure.
    pub error: Option<String>,
    /// The error's description (Entra puts its `AADSTSnnnn` code there).
    pub error_description: Option<String>,
}

impl SignInCallback {
    /// Reads the callback from the redirect's query string (with or without the leading `?`).
    /// Entra ID's `session_state` and other parameters are ignored.
    ///
    /// ```
    /// use tenant_access::ports::SignInCallback;
    /// let cb = SignInCallback::from_query("code=0.AXk&state=abc&session_state=x").unwrap();
    /// assert!(cb.code.is_some() && cb.error.is_none());
    /// let cancelled = SignInCallback::from_query(
    ///     "error=access_denied&error_description=AADSTS65004%3A+declined&state=abc",
    /// ).unwrap();
    /// assert_eq!(cancelled.error.as_deref(), Some("access_denied"));
    /// assert!(SignInCallback::from_query("code=0.AXk").is_err());
    /// ```
    pub fn from_query(query: &str) -> Result<Self, InputError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut callback = SignInCallback::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "code" => callback.code = Some(AuthorizationCode::new(value)),
                "state" => callback.state = Some(SignInState::new(value)),
                "error" => callback.error = Some(value),
                "error_description" => callback.error_description = Some(value),
                _ => {}
            }
        }
        if callback.state.is_none() {
            return Err(InputError::SignInCallback("has no state parameter"));
        }
        if callback.code.is_none() && callback.error.is_none() {
            return Err(InputError::SignInCallback(
                "has neither a code nor an error",
            ));
        }
        Ok(callback)
    }

    /// Reads the callback from the full redirect URL.
    pub fn from_url(url: &Url) -> Result<Self, InputError> {
        Self::from_query(url.query().unwrap_or(""))
    }

    /// The refusal the callback carries, read as every provider's redirect reads: `None` when
    /// it carries no `error`. See [`sign_in_refusal`].
    pub fn refusal(&self) -> Option<ProviderError> {
        let error = self.error.as_deref()?;
        Some(sign_in_refusal(
            error,
            self.error_description.as_deref().unwrap_or(""),
        ))
    }
}

/// Reads an `error` on a sign-in redirect, on the codes Entra ID puts in the description
/// (`AADSTSnnnn`) first, then on the OAuth `error`:
///
/// - AADSTS90094 / 90095: the customer asked a reviewer to approve the application (admin
///   consent workflow): [`ProviderError::AdminApprovalRequired`];
/// - AADSTS53000–53004, or `error=access_denied` naming one: Conditional Access:
///   [`ProviderError::ConditionalAccessBlocked`];
/// - AADSTS65001, or `consent_required`: [`ProviderError::ConsentRequired`];
/// - `access_denied` (cancelled, or permissions declined, AADSTS65004):
///   [`ProviderError::SignInCancelled`];
/// - anything else (`interaction_required`, `login_required`, `server_error`, an unknown
///   error): [`ProviderError::Other`], which keeps the error and codes.
///
/// Entra ID does not document what the redirect carries after an approval request; reading
/// 90094/90095 in the description is what entra-wire.md advises (**uncertain**).
pub fn sign_in_refusal(error: &str, description: &str) -> ProviderError {
    let mut detail = ProviderDetail::new(error, description);
    detail.codes = aadsts_codes(description);
    let has = |wanted: &[u32]| detail.codes.iter().any(|c| wanted.contains(c));
    if has(&[90094, 90095]) {
        ProviderError::AdminApprovalRequired(detail)
    } else if has(&[53000, 53001, 53002, 53003, 53004]) {
        ProviderError::ConditionalAccessBlocked(detail)
    } else if has(&[65001]) || error == "consent_required" {
        ProviderError::ConsentRequired(detail)
    } else if error == "access_denied" {
        ProviderError::SignInCancelled(detail)
    } else {
        ProviderError::Other(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_codes_before_the_error() {
        let read = |q: &str| SignInCallback::from_query(q).unwrap().refusal().unwrap();
        assert!(matches!(
            read("state=s&error=access_denied&error_description=AADSTS90095%3A+approval"),
            ProviderError::AdminApprovalRequired(_)
        ));
        assert!(matches!(
            read("state=s&error=access_denied&error_description=AADSTS53003%3A+blocked"),
            ProviderError::ConditionalAccessBlocked(_)
        ));
        assert!(matches!(
            read("state=s&error=consent_required&error_description=x"),
            ProviderError::ConsentRequired(_)
        ));
        match read("state=s&error=access_denied&error_description=AADSTS65004%3A+declined") {
            ProviderError::SignInCancelled(d) => assert_eq!(d.codes, vec![65004]),
            other => panic!("{other:?}"),
        }
        match read("state=s&error=server_error&error_description=boom") {
            ProviderError::Other(d) => assert_eq!(d.error, "server_error"),
            other => panic!("{other:?}"),
        }
        assert!(
            SignInCallback::from_query("state=s&code=c")
                .unwrap()
                .refusal()
                .is_none()
        );
    }
}
