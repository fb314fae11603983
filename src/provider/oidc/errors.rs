//! How a standards-only server's refusals read: RFC 6749 §5.2 and RFC 8628 §3.5 `error`
//! values, with the few readings the grant or the HTTP status decides.

use crate::error::ProviderError;
use crate::ports::DevicePoll;
use crate::provider::oauth::{Dialect, OAuthError, Request, classify_standard, standard_poll};

/// The grant layer's reading of this server's refusals.
pub(super) const DIALECT: Dialect = Dialect {
    refusal: classify,
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
