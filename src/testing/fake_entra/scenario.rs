//! Per-tenant behaviours a test turns on with [`FakeEntra::scenario`]: the answers of a real
//! tenant that the default fake does not give (an unknown error code, consent missing on a
//! poll, an MFA enrolment challenge, a consent callback naming another tenant, short-lived or
//! inactive tokens, a slow endpoint), and how its browser sign-in page answers.
//!
//! [`FakeEntra::scenario`]: super::FakeEntra::scenario

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::serde_fields;

/// What one tenant of the fake does differently. Everything is off by default.
///
/// In JSON (the control API's `PATCH /_control/tenants/{tenant}/scenario`, the state file)
/// the fields keep their names; durations are seconds, the cloud is its
/// [`Cloud::as_str`](crate::model::Cloud::as_str) name, the sign-in answer is `approve`,
/// `cancel`, `request_approval` or `blocked`, and an unknown field is an error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Scenario {
    /// Device-code polls and password grants for this tenant answer `invalid_grant` with this
    /// AADSTS code, which no client knows (such as 99999999).
    pub unknown_error_code: Option<u32>,
    /// A device sign-in without consent ends in `invalid_grant` AADSTS65001 (suberror
    /// `consent_required`) on the next poll instead of the approval workflow.
    pub consent_required_on_poll: bool,
    /// A password grant for an MFA user answers `interaction_required` AADSTS50079 (MFA
    /// enrolment) with a `claims` challenge instead of AADSTS50076.
    pub mfa_enrolment_claims: bool,
    /// The admin-consent redirect names this tenant (a GUID or a domain) instead of the one
    /// consent was given in.
    pub consent_callback_tenant: Option<String>,
    /// Tokens issued in this tenant name this tenant (a GUID or a domain, written as its GUID)
    /// in their `tid` claims, access and id token, and Graph answers for it: as when the
    /// domain a request names was moved to another tenant after the invitation. Refresh
    /// tokens stay this tenant's.
    pub token_tenant: Option<String>,
    /// Access tokens issued in this tenant (every grant) live this long instead of
    /// [`ACCESS_TOKEN_LIFETIME`](super::ACCESS_TOKEN_LIFETIME): their `expires_in` says so,
    /// and Graph refuses them from then on.
    #[serde(with = "serde_fields::seconds_option")]
    pub access_token_lifetime: Option<Duration>,
    /// Graph refuses every token of this tenant as inactive (HTTP 401
    /// `InvalidAuthenticationToken`), those issued later included, as when a Continuous
    /// Access Evaluation policy keeps revoking the user's sessions. To revoke only the tokens
    /// issued so far, use [`FakeEntra::revoke_access_tokens`](super::FakeEntra::revoke_access_tokens).
    pub inactive_tokens: bool,
    /// The device authorization answers also carry `verification_uri_complete` (which Entra
    /// itself never sends; standards servers do).
    pub verification_uri_complete: bool,
    /// Every answer for this tenant is held back this long, by the real clock (a slow
    /// endpoint, for deadlines).
    #[serde(with = "serde_fields::seconds_option")]
    pub latency: Option<Duration>,
    /// The browser sign-in page answers at once with this choice (`GET .../authorize`
    /// redirects straight back, HTTP 302), for tests and examples without a browser. `None`:
    /// the page is shown and waits for a button.
    pub sign_in_answer: Option<SignInAnswer>,
    /// A Conditional Access policy blocks browser sign-ins: the page shows the block and
    /// only "Back to the app", which redirects with AADSTS53003.
    pub sign_in_blocked: bool,
    /// A Conditional Access policy blocks the device-code flow: a device-code poll answers
    /// `invalid_grant` AADSTS53003. Whether real Entra ends such a poll this way or in
    /// `expired_token` is uncertain (entra-wire.md); this is what is modelled.
    pub device_code_blocked: bool,
    /// Tenant discovery (the OpenID configuration) says this tenant lives in this cloud
    /// (its `cloud_instance_name` and `msgraph_host`) instead of the server's own, as the
    /// public cloud's authority answers for a US Government tenant.
    #[serde(with = "serde_fields::cloud_option")]
    pub cloud: Option<crate::model::Cloud>,
}

/// A choice on the browser sign-in page, scripted with [`Scenario::sign_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignInAnswer {
    /// "Accept": signed in and consented, a code comes back. Where users may not consent
    /// and nobody has, the page offers only "Request approval", so this requests it.
    Approve,
    /// "Cancel": `error=access_denied`, AADSTS65004.
    Cancel,
    /// "Request approval" (the admin consent workflow): the request is recorded for a
    /// reviewer, and the redirect carries `access_denied` with AADSTS90095.
    RequestApproval,
    /// Conditional Access blocked the sign-in: `access_denied` with AADSTS53003.
    Blocked,
}

impl Scenario {
    /// The sign-in page answers `answer` at once (see [`Scenario::sign_in_answer`]).
    pub fn sign_in(&mut self, answer: SignInAnswer) {
        self.sign_in_answer = Some(answer);
    }

    /// A Conditional Access policy blocks the device-code flow in this tenant (see
    /// [`Scenario::device_code_blocked`]).
    pub fn conditional_access_blocks_device_code(&mut self) {
        self.device_code_blocked = true;
    }

    /// A Conditional Access policy blocks browser sign-ins in this tenant (see
    /// [`Scenario::sign_in_blocked`]).
    pub fn conditional_access_blocks_sign_in(&mut self) {
        self.sign_in_blocked = true;
    }
}
