//! How a standards-only server's refusals read: RFC 6749 §5.2 and RFC 8628 §3.5 `error`
//! values, with the few readings the grant or the HTTP status decides.

use crate::error::{CodeRefusal, ProviderError};
use crate::ports::DevicePoll;
use crate::provider::oauth::{Dialect, OAuthError, Request, classify_standard, standard_poll};

/// The grant layer's reading of this server's refusals.
pub(super) const DIALECT: Dialect = Dialect {
    refusal: classify,
    poll: classify_poll,
};

/// The reading of a browser sign-in's code redemption: as [`DIALECT`], but a refused code is
/// [`ProviderError::CodeRefused`] (the consent step's redemption keeps
/// [`ProviderError::ConsentCallback`], which its journey reads).
pub(super) const SIGN_IN_DIALECT: Dialect = Dialect {
    refusal: classify_sign_in,
    poll: classify_poll,
};

/// Maps a refused request onto a [`ProviderError`].
pub(super) fn classify(request: Request, error: OAuthError) -> ProviderError {
    let invalid_grant = error.detail.error == "invalid_grant";
    if request == Request::Password && invalid_grant {
        return ProviderError::InvalidCredentials(error.detail);
    }
    if request == Request::AuthorizationCode && invalid_grant {
        return ProviderError::ConsentCallback("the server refused the authorization code");
    }
    classify_standard(request, false, error)
}

/// Maps a refused request of a browser sign-in onto a [`ProviderError`].
///
/// A standard server answers `invalid_grant` (RFC 6749 §5.2) for every dead code alike: used
/// already, expired, issued to another client or redirect URI, or not matching the PKCE
/// verifier; oidc-provider, for one, says only "grant request is invalid". Which
/// [`CodeRefusal`] to report is therefore a choice:
///
/// * a description naming the verifier or PKCE (Keycloak's "PKCE verification failed",
///   Okta's, Auth0's "Failed to verify code verifier") is
///   [`VerifierMismatch`](CodeRefusal::VerifierMismatch);
/// * anything else is [`Expired`](CodeRefusal::Expired), never
///   [`AlreadyRedeemed`](CodeRefusal::AlreadyRedeemed). Both readings ask the customer to
///   sign in again ([`Action::AskCustomer`](crate::Action::AskCustomer)), which is right
///   whatever the cause: the code is dead and only a new sign-in brings another.
///   `AlreadyRedeemed` says [`Action::Reload`](crate::Action::Reload), which only helps when
///   another replica redeemed the same callback and moved the journey on; guessed for a code
///   that merely expired, it would send the portal round a reload to the same dead sign-in.
///
/// The server's own words stay in the detail. `invalid_client` (or HTTP 401) is the MSP's
/// client failing to authenticate: [`ProviderError::Misconfigured`].
pub(super) fn classify_sign_in(request: Request, error: OAuthError) -> ProviderError {
    if request == Request::AuthorizationCode && error.detail.error == "invalid_grant" {
        let description = error.detail.description.to_ascii_lowercase();
        let reason = if description.contains("verifier") || description.contains("pkce") {
            CodeRefusal::VerifierMismatch
        } else {
            CodeRefusal::Expired
        };
        return ProviderError::CodeRefused {
            reason,
            detail: error.detail,
        };
    }
    classify(request, error)
}

/// Maps one refused device-code poll onto [`DevicePoll`], or an error.
fn classify_poll(error: OAuthError) -> Result<DevicePoll, ProviderError> {
    if let Some(poll) = standard_poll(&error.detail.error) {
        return Ok(poll);
    }
    // OpenID Connect Core §3.1.2.6: the user may not consent; an administrator can.
    if error.detail.error == "consent_required" {
        return Ok(DevicePoll::ConsentRequired);
    }
    if error.detail.error == "invalid_grant" {
        // An unknown, consumed or otherwise dead device code.
        return Ok(DevicePoll::Expired);
    }
    Err(classify(Request::DevicePoll, error))
}
