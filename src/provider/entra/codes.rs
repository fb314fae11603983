//! How Entra ID's refusals read: by the AADSTS numbers in `error_codes` first (never the
//! description text), then by the OAuth `error`; an unknown code stays raw
//! ([`ProviderError::Other`]).

use crate::error::{CodeRefusal, ProviderDetail, ProviderError};
use crate::ports::DevicePoll;
use crate::provider::oauth::{
    Dialect, OAuthError, Request, classify_standard, client_refusal, standard_poll,
};

/// How Entra ID's refusals read: by their AADSTS codes first.
pub(super) const DIALECT: Dialect = Dialect {
    refusal: classify,
    poll: classify_poll,
};

const REAUTH_CODES: &[u32] = &[70000, 700082, 50173, 70008, 70043, 700084, 50078, 50132];
const MFA_CODES: &[u32] = &[50076, 50079, 50158];
const ACCOUNT_CODES: &[u32] = &[50055, 50053, 50057];
const APPROVAL_CODES: &[u32] = &[90094, 90095, 900941, 900981];
/// Conditional Access: blocked (53003), or a compliant (53000), domain-joined (53001) or
/// approved-app (53002) device required, or security-info registration required (53004).
const CONDITIONAL_ACCESS_CODES: &[u32] = &[53000, 53001, 53002, 53003, 53004];
const THROTTLE_CODES: &[u32] = &[50196, 90055];
const MISCONFIGURED_CODES: &[u32] = &[900144, 700025, 7000218, 50011, 90002, 700054];
/// A client that failed to authenticate: secret wrong (7000215) or expired (7000222), app not
/// found (700016), assertion signature (700027) or validity (700024).
const CLIENT_CODES: &[u32] = &[7000215, 7000222, 700016, 700027, 700024];

/// Maps one AADSTS code onto an error kind, if the code is known.
fn by_code(request: Request, code: u32, detail: &ProviderDetail) -> Option<ProviderError> {
    let d = || detail.clone();
    if request == Request::AuthorizationCode
        && let Some(reason) = code_refusal(code)
    {
        return Some(ProviderError::CodeRefused {
            reason,
            detail: d(),
        });
    }
    Some(match code {
        c if REAUTH_CODES.contains(&c) => ProviderError::ReauthenticationRequired(d()),
        // On a refresh, a demand for stronger sign-in means the customer must sign in again.
        c if MFA_CODES.contains(&c) && request == Request::Refresh => {
            ProviderError::ReauthenticationRequired(d())
        }
        c if MFA_CODES.contains(&c) => ProviderError::MfaRequired(d()),
        50126 => ProviderError::InvalidCredentials(d()),
        c if ACCOUNT_CODES.contains(&c) => ProviderError::AccountUnusable(d()),
        65001 => ProviderError::ConsentRequired(d()),
        65004 => ProviderError::ConsentDeclined(d()),
        c if APPROVAL_CODES.contains(&c) => ProviderError::AdminApprovalRequired(d()),
        50020 | 50034 => ProviderError::UserNotInTenant(d()),
        7000215 => ProviderError::InvalidClientSecret(d()),
        7000222 => ProviderError::ClientSecretExpired(d()),
        700016 => ProviderError::AppNotInTenant(d()),
        c if CONDITIONAL_ACCESS_CODES.contains(&c) => ProviderError::ConditionalAccessBlocked(d()),
        c if THROTTLE_CODES.contains(&c) => ProviderError::Throttled { retry_after: None },
        c if MISCONFIGURED_CODES.contains(&c) => ProviderError::Misconfigured(d()),
        _ => return None,
    })
}

/// Why a browser sign-in's code was refused, for the codes only a redemption gets. 70008 is
/// here because on a redemption it is the code that expired; on a refresh the same number
/// (the refresh token expired) stays reauthentication.
fn code_refusal(code: u32) -> Option<CodeRefusal> {
    Some(match code {
        54005 => CodeRefusal::AlreadyRedeemed,
        70008 => CodeRefusal::Expired,
        50148 => CodeRefusal::VerifierMismatch,
        _ => return None,
    })
}

/// Maps a refused token request onto a [`ProviderError`]: by the AADSTS codes when there are
/// any (an unknown code is [`ProviderError::Other`]), else by the OAuth `error`.
///
/// The MSP's own client failing to authenticate (`invalid_client`, HTTP 401, or a client code
/// such as 7000215, 7000222, 700016) on any request but a customer's client-credentials grant
/// is [`ProviderError::Misconfigured`]: the MSP's configuration, whatever the code.
pub(super) fn classify(request: Request, error: OAuthError) -> ProviderError {
    let client_code = error.detail.codes.iter().any(|c| CLIENT_CODES.contains(c));
    let client_rejected = error.client_rejected();
    if request != Request::ClientCredentials && (client_rejected || client_code) {
        return ProviderError::Misconfigured(error.detail);
    }
    let detail = error.detail;
    if let Some(known) = detail
        .codes
        .iter()
        .find_map(|&c| by_code(request, c, &detail))
    {
        return known;
    }
    if !detail.codes.is_empty() {
        return if client_rejected {
            client_refusal(request, detail)
        } else {
            ProviderError::Other(detail)
        };
    }
    let consent = detail.suberror() == Some("consent_required");
    classify_standard(request, consent, OAuthError { detail, ..error })
}

/// Maps one refused device-code poll onto [`DevicePoll`], or an error.
pub(super) fn classify_poll(error: OAuthError) -> Result<DevicePoll, ProviderError> {
    let codes = &error.detail.codes;
    let has = |list: &[u32]| codes.iter().any(|c| list.contains(c));
    if let Some(poll) = standard_poll(&error.detail.error) {
        return Ok(poll);
    }
    let name = error.detail.error.as_str();
    Ok(match () {
        _ if name == "authorization_declined" => DevicePoll::Declined,
        _ if name == "bad_verification_code" => DevicePoll::Expired,
        _ if has(&[70016]) => DevicePoll::Pending,
        _ if has(&[70018, 70019, 70020, 90120]) => DevicePoll::Expired,
        // The approval workflow first: a request for approval may also say consent_required.
        _ if has(&[90094, 90095]) => DevicePoll::ApprovalRequested,
        _ if has(&[65001]) => DevicePoll::ConsentRequired,
        _ if codes.is_empty() && error.detail.suberror() == Some("consent_required") => {
            DevicePoll::ConsentRequired
        }
        _ => return Err(classify(Request::DevicePoll, error)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(error: &str, codes: &[u32]) -> OAuthError {
        OAuthError {
            status: 400,
            detail: codes.iter().fold(
                ProviderDetail::new(error, "text that must not matter: AADSTS50126"),
                |detail, &code| detail.with_code(code),
            ),
        }
    }

    #[test]
    fn refresh_context_turns_mfa_into_reauthentication() {
        assert!(matches!(
            classify(Request::Password, err("invalid_grant", &[50076])),
            ProviderError::MfaRequired(_)
        ));
        assert!(matches!(
            classify(Request::Refresh, err("invalid_grant", &[50076])),
            ProviderError::ReauthenticationRequired(_)
        ));
    }

    /// One row per code a browser sign-in's redemption must tell apart.
    #[test]
    fn authorization_code_refusals_are_typed() {
        let redeem =
            |error: &str, code: u32| classify(Request::AuthorizationCode, err(error, &[code]));
        let refused = |e: ProviderError| match e {
            ProviderError::CodeRefused { reason, detail } => {
                assert_eq!(detail.error, "invalid_grant");
                Some(reason)
            }
            _ => None,
        };
        assert_eq!(
            refused(redeem("invalid_grant", 54005)),
            Some(CodeRefusal::AlreadyRedeemed)
        );
        assert_eq!(
            refused(redeem("invalid_grant", 70008)),
            Some(CodeRefusal::Expired)
        );
        assert_eq!(
            refused(redeem("invalid_grant", 50148)),
            Some(CodeRefusal::VerifierMismatch)
        );
        assert!(matches!(
            redeem("invalid_grant", 65001),
            ProviderError::ConsentRequired(_)
        ));
        for code in 53000..=53004 {
            assert!(matches!(
                redeem("invalid_grant", code),
                ProviderError::ConditionalAccessBlocked(_)
            ));
        }
        for code in [90094, 90095] {
            assert!(matches!(
                redeem("invalid_grant", code),
                ProviderError::AdminApprovalRequired(_)
            ));
        }
        assert!(matches!(
            redeem("invalid_grant", 50076),
            ProviderError::MfaRequired(_)
        ));
        assert!(matches!(
            redeem("interaction_required", 50079),
            ProviderError::MfaRequired(_)
        ));
        assert!(matches!(
            redeem("invalid_client", 7000215),
            ProviderError::Misconfigured(_)
        ));
        let no_code = OAuthError {
            status: 401,
            detail: ProviderDetail::new("invalid_client", "bad secret"),
        };
        assert!(matches!(
            classify(Request::AuthorizationCode, no_code),
            ProviderError::Misconfigured(_)
        ));
    }

    #[test]
    fn code_numbers_keep_their_meaning_outside_a_redemption() {
        assert!(matches!(
            classify(Request::Refresh, err("invalid_grant", &[70008])),
            ProviderError::ReauthenticationRequired(_)
        ));
        assert!(matches!(
            classify(Request::Refresh, err("invalid_grant", &[54005])),
            ProviderError::Other(_)
        ));
    }

    #[test]
    fn suberror_and_claims_survive_a_redemption_refusal() {
        let mut e = err("interaction_required", &[53003]);
        e.detail = e
            .detail
            .with_suberror("basic_action")
            .with_claims(crate::error::ClaimsChallenge::new("{\"access_token\":{}}"));
        match classify(Request::AuthorizationCode, e) {
            ProviderError::ConditionalAccessBlocked(d) => {
                assert_eq!(d.suberror(), Some("basic_action"));
                assert!(d.claims().is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_win_over_description_and_unknown_codes_stay_raw() {
        match classify(Request::Password, err("invalid_grant", &[12345])) {
            ProviderError::Other(d) => {
                assert_eq!(d.codes, vec![12345]);
                assert_eq!(d.error, "invalid_grant");
            }
            other => panic!("{other:?}"),
        }
    }
}
