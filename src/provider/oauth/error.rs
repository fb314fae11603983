//! Refused requests: the OAuth error body (RFC 6749 §5.2, with Entra's extra fields), the
//! standard reading of its `error`, and the [`Dialect`] through which a provider reads its own
//! server's refusals.

use oauth2::DeviceCodeErrorResponseType;
use oauth2::basic::BasicErrorResponseType;
use serde::Deserialize;
use serde_json::Value;

use super::json::lenient_u32;
use crate::error::{ClaimsChallenge, ProviderDetail, ProviderError};
use crate::ports::DevicePoll;

/// Which request a refusal answers; the same `error` means different things in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// The device authorization request (RFC 8628 §3.1).
    DeviceAuthorization,
    /// A device-code token request (RFC 8628 §3.4).
    DevicePoll,
    /// The resource-owner password grant.
    Password,
    /// The client-credentials grant, always with a customer's own app registration (never
    /// the MSP's client): the one request whose failing client authentication is the
    /// customer's to fix.
    ClientCredentials,
    /// The refresh-token grant.
    Refresh,
    /// The authorization-code grant (redeeming a consent callback's code).
    AuthorizationCode,
    /// Any other client-authenticated request (revocation, introspection, userinfo).
    Other,
}

impl Request {
    /// Every request, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) const ALL: [Request; 7] = [
        Request::DeviceAuthorization,
        Request::DevicePoll,
        Request::Password,
        Request::ClientCredentials,
        Request::Refresh,
        Request::AuthorizationCode,
        Request::Other,
    ];
}

/// How one provider reads its server's refusals: the part of the grant layer that differs
/// between servers.
#[derive(Clone, Copy)]
pub(crate) struct Dialect {
    /// A refused request onto a [`ProviderError`].
    pub(crate) refusal: fn(Request, OAuthError) -> ProviderError,
    /// A refused device-code poll onto a [`DevicePoll`] answer, or an error.
    pub(crate) poll: fn(OAuthError) -> Result<DevicePoll, ProviderError>,
}

/// An OAuth error answer (RFC 6749 §5.2): the HTTP status and the parsed body.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) detail: ProviderDetail,
}

/// An OAuth error body, with Entra's extra fields.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Value>,
    #[serde(default)]
    suberror: Option<String>,
    /// A JSON document in a string (Entra); tolerated as an object too.
    #[serde(default)]
    claims: Option<Value>,
}

/// Parses an OAuth error body. HTTP 404 without one is a wrong endpoint (configuration).
pub(crate) fn parse_error(status: u16, body: &[u8]) -> Result<OAuthError, ProviderError> {
    let parsed: ErrorBody = serde_json::from_slice(body).map_err(|e| {
        if status == 404 {
            ProviderError::Misconfigured(ProviderDetail::new(
                "not_found",
                "HTTP 404: no such endpoint; check the authority host",
            ))
        } else {
            ProviderError::InvalidResponse(format!(
                "HTTP {status} without an OAuth error body: {e}"
            ))
        }
    })?;
    let codes = match parsed.error_codes {
        Some(Value::Array(items)) => items.iter().filter_map(lenient_u32).collect(),
        Some(other) => lenient_u32(&other).into_iter().collect(),
        None => Vec::new(),
    };
    let mut detail =
        ProviderDetail::new(parsed.error, parsed.error_description.unwrap_or_default());
    detail.codes = codes;
    if let Some(suberror) = parsed.suberror {
        detail = detail.with_suberror(suberror);
    }
    let claims = parsed.claims.and_then(|claims| match claims {
        Value::String(raw) => Some(ClaimsChallenge::new(raw)),
        Value::Null => None,
        other => Some(ClaimsChallenge::new(other.to_string())),
    });
    if let Some(claims) = claims {
        detail = detail.with_claims(claims);
    }
    Ok(OAuthError { status, detail })
}

impl OAuthError {
    /// Whether the client failed to authenticate: `invalid_client` (RFC 6749 §5.2) or HTTP 401.
    pub(crate) fn client_rejected(&self) -> bool {
        self.detail.error == "invalid_client" || self.status == 401
    }
}

/// A refusal of the client's authentication: the customer's app registration on a
/// client-credentials grant ([`ProviderError::InvalidClientSecret`], ask the customer), else
/// the MSP's own client ([`ProviderError::Misconfigured`], fix the configuration).
pub(crate) fn client_refusal(request: Request, detail: ProviderDetail) -> ProviderError {
    if request == Request::ClientCredentials {
        ProviderError::InvalidClientSecret(detail)
    } else {
        ProviderError::Misconfigured(detail)
    }
}

/// The RFC 8628 §3.5 answer a refused device-code poll names, if it is one of them.
pub(crate) fn standard_poll(error: &str) -> Option<DevicePoll> {
    let kind: DeviceCodeErrorResponseType =
        serde_json::from_value(Value::String(error.to_owned())).ok()?;
    Some(match kind {
        DeviceCodeErrorResponseType::AuthorizationPending => DevicePoll::Pending,
        DeviceCodeErrorResponseType::SlowDown => DevicePoll::SlowDown,
        DeviceCodeErrorResponseType::ExpiredToken => DevicePoll::Expired,
        DeviceCodeErrorResponseType::AccessDenied => DevicePoll::Declined,
        _ => return None,
    })
}

/// Maps a refused request onto a [`ProviderError`] by its RFC 6749 §5.2 `error`.
///
/// `invalid_grant` on a refresh is [`ProviderError::ReauthenticationRequired`]; with
/// `consent` (Entra's `suberror=consent_required`) it is [`ProviderError::ConsentRequired`].
/// A client that failed to authenticate is [`client_refusal`]. Any other `error` is terminal
/// ([`ProviderError::Other`]) but `temporarily_unavailable`; 429 and 5xx never get here (the
/// HTTP layer answers them).
pub(crate) fn classify_standard(
    request: Request,
    consent: bool,
    error: OAuthError,
) -> ProviderError {
    let refresh = request == Request::Refresh;
    if error.client_rejected() {
        return client_refusal(request, error.detail);
    }
    let detail = error.detail;
    let kind: BasicErrorResponseType = serde_json::from_value(Value::String(detail.error.clone()))
        .unwrap_or_else(|_| BasicErrorResponseType::Extension(detail.error.clone()));
    match kind {
        BasicErrorResponseType::InvalidGrant if refresh => {
            ProviderError::ReauthenticationRequired(detail)
        }
        BasicErrorResponseType::InvalidGrant if consent => ProviderError::ConsentRequired(detail),
        BasicErrorResponseType::InvalidClient => client_refusal(request, detail),
        BasicErrorResponseType::UnauthorizedClient
        | BasicErrorResponseType::InvalidScope
        | BasicErrorResponseType::UnsupportedGrantType
        | BasicErrorResponseType::InvalidRequest => ProviderError::Misconfigured(detail),
        BasicErrorResponseType::Extension(ref e) if e == "interaction_required" => {
            if refresh {
                ProviderError::ReauthenticationRequired(detail)
            } else {
                ProviderError::MfaRequired(detail)
            }
        }
        BasicErrorResponseType::Extension(ref e) if e == "temporarily_unavailable" => {
            ProviderError::Unavailable {
                status: error.status,
                retry_after: None,
            }
        }
        _ => ProviderError::Other(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_poll_errors() {
        assert!(matches!(
            standard_poll("authorization_pending"),
            Some(DevicePoll::Pending)
        ));
        assert!(matches!(
            standard_poll("slow_down"),
            Some(DevicePoll::SlowDown)
        ));
        assert!(matches!(
            standard_poll("access_denied"),
            Some(DevicePoll::Declined)
        ));
        assert!(matches!(
            standard_poll("expired_token"),
            Some(DevicePoll::Expired)
        ));
        assert!(standard_poll("invalid_grant").is_none());
    }
}
