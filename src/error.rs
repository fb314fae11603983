//! Errors, grouped by what the portal should do about them.
//!
//! One top-level [`Error`] with a variant per source (bad input, configuration, invitation,
//! journey, identity provider, store, mailer). Every error answers [`Error::action`]: retry
//! (and when), ask the customer, fix the configuration, reload, fix the input, or not found —
//! the mapping a portal needs to show the right message. A failed transition wraps its error in
//! [`Rejected`](crate::Rejected), which also hands back the unchanged stage.

use std::fmt;

use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{CustomerId, Method, StageKind, Version};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value supplied by the caller is malformed.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// The engine is configured wrongly or incompletely.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The invitation link is unknown, expired, revoked, superseded or already used. On
    /// purpose this says nothing about which, nor whether the customer exists.
    #[error("this invitation link is not valid or has expired")]
    InvalidInvitation,
    /// The step asked for does not fit the customer's journey now.
    #[error("journey: {0}")]
    Flow(#[from] FlowError),
    /// The identity provider refused or failed.
    #[error("identity provider: {0}")]
    Provider(#[from] ProviderError),
    /// The store refused or failed; the stored record is as it was.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The invitation email could not be sent.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

/// What a portal should do about an [`Error`].
///
/// Only [`Action::Retry`] and [`Action::Reload`] are worth trying again as they are
/// ([`Error::is_retryable`]); every other action is terminal for that request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A passing fault: try the same step again, not before `after` has passed.
    ///
    /// `after` is what the source said (`Retry-After`, a device code's next poll time), cut
    /// to [`Action::MAX_RETRY_AFTER`]; when it said nothing, [`Action::DEFAULT_RETRY_AFTER`]
    /// (transport failures, 5xx, store and mail failures) or [`Action::SLOW_RETRY_AFTER`]
    /// (throttling without `Retry-After`, answers that could not be understood).
    Retry {
        /// How long to wait before trying again, from when the error was made.
        after: Duration,
    },
    /// The customer (or their admin) must act: sign in again, consent, use another method.
    AskCustomer,
    /// The MSP's configuration or app registration is wrong; retrying will not help.
    FixConfiguration,
    /// Someone else changed the record first: load it again and decide anew.
    Reload,
    /// The caller passed a malformed value or called a step out of turn.
    FixInput,
    /// What was asked for (a customer, a method switch under way) does not exist: a portal
    /// answers 404.
    NotFound,
}

impl Action {
    /// The wait a [`Action::Retry`] says when its source named none: 5 seconds (a transport
    /// failure, a 5xx without `Retry-After`, a store backend or mail server failure).
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
    /// The wait after throttling without `Retry-After`, or an answer that could not be
    /// understood (malformed or oversized): 30 seconds, so a broken server is not hammered.
    pub const SLOW_RETRY_AFTER: Duration = Duration::from_secs(30);
    /// The longest wait a [`Action::Retry`] says: one hour (MSAL's bound too). A longer
    /// `Retry-After` is cut to it.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

    /// A retry after what the source said, or `default` when it said nothing; at most
    /// [`Action::MAX_RETRY_AFTER`].
    fn retry(after: Option<Duration>, default: Duration) -> Action {
        Action::Retry {
            after: after.unwrap_or(default).min(Action::MAX_RETRY_AFTER),
        }
    }
}

impl Error {
    /// The provider's error codes (Entra's AADSTS numbers) this error carries, if any.
    pub fn provider_codes(&self) -> &[u32] {
        match self {
            Error::Provider(p) => p.detail().map_or(&[], |d| d.codes.as_slice()),
            _ => &[],
        }
    }

    /// The attention [`Reason`](crate::model::Reason) this failure is evidence of, if any:
    /// by the provider's codes first (65001 and 700016: consent revoked; 53000–53004:
    /// Conditional Access; 700082, 50173, 70008, 70043, 50078: the refresh token is dead),
    /// then by the kind of refusal.
    pub fn attention_reason(&self) -> Option<crate::model::Reason> {
        use crate::model::Reason;
        let codes = self.provider_codes();
        let has = |wanted: &[u32]| codes.iter().any(|c| wanted.contains(c));
        if has(&[65001, 700016]) {
            return Some(Reason::ConsentRevoked);
        }
        if codes.iter().any(|c| (53000..=53004).contains(c)) {
            return Some(Reason::BlockedByPolicy);
        }
        if has(&[700082, 50173, 70008, 70043, 50078]) {
            return Some(Reason::RefreshTokenDead);
        }
        match self {
            Error::Provider(ProviderError::ReauthenticationRequired(_)) => {
                Some(Reason::RefreshTokenDead)
            }
            Error::Provider(
                ProviderError::ConsentRequired(_) | ProviderError::AppNotInTenant(_),
            ) => Some(Reason::ConsentRevoked),
            Error::Provider(ProviderError::ConditionalAccessBlocked(_)) => {
                Some(Reason::BlockedByPolicy)
            }
            _ => None,
        }
    }

    /// What the portal should do about this error.
    pub fn action(&self) -> Action {
        match self {
            Error::Input(_) => Action::FixInput,
            Error::Config(_) => Action::FixConfiguration,
            Error::InvalidInvitation => Action::AskCustomer,
            Error::Flow(e) => e.action(),
            Error::Provider(e) => e.action(),
            Error::Store(e) => e.action(),
            Error::Mail(e) => e.action(),
        }
    }

    /// Whether trying the same step again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.action(), Action::Retry { .. } | Action::Reload)
    }
}

pub use crate::model::InputError;

/// Wrong or missing configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The builder was not given a required part.
    #[error("no {0} was given to the builder")]
    Missing(&'static str),
    /// The portal base URL cannot carry invitation links.
    #[error("the portal URL {0}")]
    PortalUrl(String),
    /// A lifetime or interval is zero or negative.
    #[error("{0} must be positive")]
    NotPositive(&'static str),
    /// Admin consent needs the MSP's client id, and none is configured.
    #[error(
        "the password journey needs an admin-consent client id: set ConfigBuilder::consent_client_id"
    )]
    MissingConsentClientId,
    /// Admin consent needs a redirect URL, and none is configured.
    #[error("admin consent needs a redirect URL: set ConfigBuilder::consent_redirect_url")]
    MissingConsentRedirectUrl,
    /// The browser sign-in needs the portal's registered redirect URI, and none is configured.
    #[error("the browser sign-in needs a redirect URI: set ConfigBuilder::sign_in_redirect_url")]
    MissingSignInRedirectUrl,
}

/// A step that does not fit the journey as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// No customer has this id.
    #[error("no customer {0}")]
    NotFound(CustomerId),
    /// The device code may not be polled yet (RFC 8628 interval). Its action is
    /// [`Action::Retry`] after `retry_after`.
    #[error("polled too early: the next poll is allowed at {next_poll_at}")]
    PollTooEarly {
        /// When the next poll is allowed.
        next_poll_at: OffsetDateTime,
        /// The time left until `next_poll_at` when the poll was refused, by the engine's
        /// clock (kept here because [`Error::action`] has no clock).
        retry_after: Duration,
    },
    /// The step belongs to another connection method.
    #[error("this step is for the {expected} method, but the customer uses {actual}")]
    WrongMethod {
        /// The method the step needs.
        expected: Method,
        /// The customer's method.
        actual: Method,
    },
    /// The stored record lacks something its stage needs (a hand-edited or damaged record).
    #[error("the stored record is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// A token belongs to another tenant than the invited one: its `tid` claim, or the
    /// tenant the validating call proved (Graph's organization `id`), is not the invited
    /// tenant's GUID. A token refused for its `tid` is not stored.
    #[error("the token belongs to tenant {actual}, not the invited {expected}")]
    TenantMismatch {
        /// The invited tenant.
        expected: String,
        /// The tenant the token proved.
        actual: String,
    },
    /// The admin-consent callback names another tenant than the invited one (compared with
    /// the tenant's GUID): consent was given in the wrong tenant. Refused before any token
    /// is requested; the stored journey is unchanged.
    #[error("admin consent was given in tenant {actual}, not the invited {expected}")]
    ConsentTenantMismatch {
        /// The invited tenant's GUID.
        expected: String,
        /// The tenant the callback named.
        actual: String,
    },
    /// The admin-consent callback does not belong to a pending consent request.
    #[error("the admin-consent callback does not match a pending request")]
    ConsentStateMismatch,
    /// The browser sign-in callback does not belong to a sign-in under way: an unknown,
    /// forged, or already used (replayed) `state`. Nothing was sent or written.
    #[error("the sign-in callback does not match a sign-in under way")]
    SignInStateMismatch,
    /// The customer's app-registration credential (client secret or certificate) has
    /// expired: nothing was sent with it. The customer makes a new one, and the MSP switches
    /// the customer to it
    /// ([`TenantAccess::switch_to_app_registration`](crate::TenantAccess::switch_to_app_registration)).
    #[error("the {credential} expired at {expired_at}: a new credential is needed")]
    CredentialExpired {
        /// Which credential (`client secret`, `certificate CN=… (thumbprint)`).
        credential: String,
        /// When it expired.
        expired_at: OffsetDateTime,
    },
    /// The browser sign-in's `state` is past its lifetime: the customer starts the sign-in
    /// again. Nothing was sent or written.
    #[error("the browser sign-in expired at {expired_at}; start it again")]
    SignInExpired {
        /// When the state stopped being accepted.
        expired_at: OffsetDateTime,
    },
    /// The customer has no working connection (not yet validated, or it needs
    /// re-authentication).
    #[error("customer {customer} has no working connection (stage {stage})")]
    NotConnected {
        /// The customer.
        customer: CustomerId,
        /// The stage they are in.
        stage: StageKind,
    },
    /// A method switch is already under way for this customer: cancel it first
    /// ([`TenantAccess::cancel_switch`](crate::TenantAccess::cancel_switch)).
    #[error("customer {customer} is already switching to the {method} method")]
    SwitchInProgress {
        /// The customer.
        customer: CustomerId,
        /// The method the switch under way goes to.
        method: Method,
    },
    /// No method switch is under way for this customer.
    #[error("customer {0} has no method switch under way")]
    NoSwitchInProgress(CustomerId),
    /// The journey is at a stage with no invitation to send again (see
    /// [`TenantAccess::resend_invitation`](crate::TenantAccess::resend_invitation)).
    #[error("customer {customer} is in stage {stage}: there is no invitation to resend")]
    NothingToResend {
        /// The customer.
        customer: CustomerId,
        /// The stage they are in.
        stage: StageKind,
    },
    /// The stored stage is not the one the caller expected.
    #[error("the customer is in stage {actual}, not {expected}")]
    UnexpectedStage {
        /// The stage the caller needed.
        expected: StageKind,
        /// The stage stored.
        actual: StageKind,
    },

    // ---- poll timing (issue 17, items 1-2) -------------------------------------------------
    /// A device-code poll went out and met a passing fault (transport, 429, 5xx, an
    /// unreadable answer). It counted as a poll: the next one is allowed at `next_poll_at`
    /// (the interval on, or the provider's `Retry-After` if later), which is stored.
    #[error("the device-code poll failed ({source}); the next poll is allowed at {next_poll_at}")]
    PollFailed {
        /// When the next poll is allowed (stored in the stage).
        next_poll_at: OffsetDateTime,
        /// How long after the failure that is.
        after: Duration,
        /// What the provider call met.
        source: Box<ProviderError>,
    },
}

impl FlowError {
    fn action(&self) -> Action {
        match self {
            FlowError::NotFound(_) | FlowError::NoSwitchInProgress(_) => Action::NotFound,
            FlowError::WrongMethod { .. }
            | FlowError::SwitchInProgress { .. }
            | FlowError::NothingToResend { .. } => Action::FixInput,
            FlowError::PollTooEarly { retry_after, .. } => Action::Retry {
                after: (*retry_after).min(Action::MAX_RETRY_AFTER),
            },
            FlowError::Inconsistent(_) => Action::FixConfiguration,
            FlowError::TenantMismatch { .. }
            | FlowError::ConsentTenantMismatch { .. }
            | FlowError::ConsentStateMismatch
            | FlowError::SignInStateMismatch
            | FlowError::SignInExpired { .. }
            | FlowError::CredentialExpired { .. }
            | FlowError::NotConnected { .. } => Action::AskCustomer,
            FlowError::UnexpectedStage { .. } => Action::Reload,
            // ---- poll timing (issue 17, items 1-2)
            FlowError::PollFailed { after, .. } => Action::Retry { after: *after },
        }
    }
}

/// The raw answer of an identity provider: its `error`, numeric codes, description,
/// `suberror` and `claims` challenge.
///
/// Decisions are made on `error` and `codes`; `description` is kept for people; `suberror` and
/// `claims` are kept so a portal can act on an MFA enrolment (AADSTS50079) or a Conditional
/// Access challenge (for example by asking for a new sign-in with those claims).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderDetail {
    /// The OAuth `error` field (`invalid_grant`, …).
    pub error: String,
    /// Numeric codes (Entra's `error_codes`, the AADSTS numbers).
    pub codes: Vec<u32>,
    /// The human-readable description.
    pub description: String,
    /// The rarely sent parts, boxed so that every `Result` carrying an [`Error`] stays small.
    extra: Option<Box<DetailExtra>>,
}

/// What only some refusals carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct DetailExtra {
    suberror: Option<String>,
    claims: Option<ClaimsChallenge>,
}

/// A `claims` challenge as the provider sent it: a JSON document carried in a string (such as
/// `{"access_token":{"capolids":{"essential":true,"values":["…"]}}}`).
///
/// The raw string is kept as it came, because it must be passed back as it is (in an
/// authorization request's `claims` parameter); the parsed value is there when it parses.
///
/// ```
/// use tenant_access::error::ClaimsChallenge;
///
/// let claims = ClaimsChallenge::new(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#);
/// assert_eq!(claims.parsed().unwrap()["access_token"]["acrs"]["value"], "c1");
/// assert!(ClaimsChallenge::new("not json").parsed().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsChallenge {
    raw: String,
    parsed: Option<serde_json::Value>,
}

impl ClaimsChallenge {
    /// The challenge in `raw`, parsed when it is JSON.
    pub fn new(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        let parsed = serde_json::from_str(&raw).ok();
        Self { raw, parsed }
    }

    /// The string exactly as the provider sent it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The challenge as JSON, if the string parses.
    pub fn parsed(&self) -> Option<&serde_json::Value> {
        self.parsed.as_ref()
    }
}

impl ProviderDetail {
    /// A detail with an error name and description and no codes.
    pub fn new(error: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            description: description.into(),
            ..Self::default()
        }
    }

    /// The same detail with a numeric code added.
    pub fn with_code(mut self, code: u32) -> Self {
        self.codes.push(code);
        self
    }

    /// The same detail with Entra's `suberror`.
    pub fn with_suberror(mut self, suberror: impl Into<String>) -> Self {
        self.extra.get_or_insert_default().suberror = Some(suberror.into());
        self
    }

    /// The same detail with a `claims` challenge.
    pub fn with_claims(mut self, claims: ClaimsChallenge) -> Self {
        self.extra.get_or_insert_default().claims = Some(claims);
        self
    }

    /// Entra's `suberror` (`basic_action`, `consent_required`, `token_expired`, …), if the
    /// provider sent one.
    pub fn suberror(&self) -> Option<&str> {
        self.extra.as_ref()?.suberror.as_deref()
    }

    /// The `claims` challenge (Conditional Access, MFA enrolment), if the provider sent one.
    pub fn claims(&self) -> Option<&ClaimsChallenge> {
        self.extra.as_ref()?.claims.as_ref()
    }
}

impl fmt::Display for ProviderDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        for code in &self.codes {
            // Entra's descriptions usually start with the code already; say it once.
            if !self.description.contains(&format!("AADSTS{code}")) {
                write!(f, " AADSTS{code}")?;
            }
        }
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        Ok(())
    }
}

/// What an identity provider answered when it did not hand out a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Too many requests; wait before the next one.
    #[error("throttled{}", retry_hint(retry_after))]
    Throttled {
        /// How long the provider asked to wait.
        retry_after: Option<Duration>,
    },
    /// The provider failed (5xx) or is down.
    #[error("unavailable (HTTP {status}){}", retry_hint(retry_after))]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// How long the provider asked to wait.
        retry_after: Option<Duration>,
    },
    /// The request did not complete (timeout, connection reset, DNS).
    #[error("transport: {0}")]
    Transport(String),
    /// The answer could not be understood (malformed JSON, too large, missing fields).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The refresh token is dead (expired, revoked, password changed): the customer must
    /// authenticate again.
    #[error("re-authentication required: {0}")]
    ReauthenticationRequired(ProviderDetail),
    /// Multi-factor or stronger authentication is required, which the password journey cannot
    /// do: use the device-code journey instead.
    #[error(
        "multi-factor authentication is required, which the password journey cannot satisfy; use the device-code journey: {0}"
    )]
    MfaRequired(ProviderDetail),
    /// Wrong username or password.
    #[error("invalid username or password: {0}")]
    InvalidCredentials(ProviderDetail),
    /// The account cannot sign in (password expired, locked, disabled).
    #[error("the account cannot sign in: {0}")]
    AccountUnusable(ProviderDetail),
    /// Nobody has consented to the application in this tenant yet.
    #[error("admin consent is required: {0}")]
    ConsentRequired(ProviderDetail),
    /// The administrator declined consent.
    #[error("consent was declined: {0}")]
    ConsentDeclined(ProviderDetail),
    /// An administrator must approve the application (admin consent workflow).
    #[error("an administrator must approve the application: {0}")]
    AdminApprovalRequired(ProviderDetail),
    /// The user does not belong to the tenant.
    #[error("the user is not in this tenant: {0}")]
    UserNotInTenant(ProviderDetail),
    /// The customer's app registration's client secret is wrong (client-credentials grant
    /// only; the MSP's own client failing is [`ProviderError::Misconfigured`]).
    #[error("invalid client secret: {0}")]
    InvalidClientSecret(ProviderDetail),
    /// The customer's app registration's client secret has expired (client-credentials grant
    /// only; the MSP's own client failing is [`ProviderError::Misconfigured`]).
    #[error("the client secret has expired: {0}")]
    ClientSecretExpired(ProviderDetail),
    /// The customer's app registration is not in (or not consented in) the tenant
    /// (client-credentials grant only; the MSP's own client is
    /// [`ProviderError::Misconfigured`]).
    #[error("the application is not in this tenant: {0}")]
    AppNotInTenant(ProviderDetail),
    /// A Conditional Access policy blocked the sign-in.
    #[error("blocked by Conditional Access: {0}")]
    ConditionalAccessBlocked(ProviderDetail),
    /// The customer cancelled the browser sign-in or declined the permissions
    /// (`access_denied` on the redirect back).
    #[error("the customer cancelled the sign-in: {0}")]
    SignInCancelled(ProviderDetail),
    /// The authorization code of a browser sign-in was not redeemed; `reason` says why and
    /// decides the action.
    #[error("the sign-in code was refused ({reason}): {detail}")]
    CodeRefused {
        /// Why (already redeemed, expired, PKCE verifier mismatch).
        reason: CodeRefusal,
        /// The provider's answer.
        detail: ProviderDetail,
    },
    /// The resource refused the access token as inactive, revoked or invalid (Graph's HTTP 401
    /// `InvalidAuthenticationToken`, a userinfo 401, introspection's `active: false`); the raw
    /// code and description are kept.
    ///
    /// Asks the customer: the engine's own verification refreshes the token once and tries
    /// again before it reports this, so what reaches a portal is a freshly issued token
    /// refused too. The grant behind it no longer works for the resource (access revoked, a
    /// Continuous Access Evaluation or Conditional Access policy), and only the customer can
    /// restore it by connecting again: retrying sends the same refused token, and nothing in
    /// the MSP's configuration would change the answer.
    #[error("the access token was rejected: {0}")]
    TokenRejected(ProviderDetail),
    /// The MSP's client configuration is wrong: its own client failed to authenticate
    /// (`invalid_client`, HTTP 401: wrong or expired secret, unknown or deleted app) on any
    /// request but a customer's client-credentials grant, or a bad scope, grant or redirect.
    #[error("client misconfigured: {0}")]
    Misconfigured(ProviderDetail),
    /// The admin-consent callback is not a valid grant for the expected tenant.
    #[error("admin-consent callback rejected: {0}")]
    ConsentCallback(&'static str),
    /// Any other refusal (an unknown `error` or AADSTS code); the raw error and codes are
    /// kept. Terminal for the request: the customer is asked (never a retry as it is).
    #[error("{0}")]
    Other(ProviderDetail),
    /// The provider cannot do what was asked (for example tokens for other scopes).
    #[error("not supported by this provider: {0}")]
    Unsupported(&'static str),
}

/// Why an authorization code was not redeemed ([`ProviderError::CodeRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeRefusal {
    /// The code was redeemed already (Entra AADSTS54005): another tab or replica handling the
    /// same callback got there first. [`Action::Reload`]: the journey has moved on.
    AlreadyRedeemed,
    /// The code lived out its minutes before it was redeemed (AADSTS70008):
    /// [`Action::AskCustomer`] to sign in again.
    Expired,
    /// The code was not issued for this sign-in's PKCE challenge (AADSTS50148, or
    /// `invalid_grant` naming the verifier): a code from another sign-in, never accepted.
    /// [`Action::AskCustomer`] to sign in again.
    VerifierMismatch,
}

impl CodeRefusal {
    fn action(self) -> Action {
        match self {
            CodeRefusal::AlreadyRedeemed => Action::Reload,
            CodeRefusal::Expired | CodeRefusal::VerifierMismatch => Action::AskCustomer,
        }
    }
}

impl fmt::Display for CodeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeRefusal::AlreadyRedeemed => "already redeemed",
            CodeRefusal::Expired => "expired",
            CodeRefusal::VerifierMismatch => "PKCE verifier mismatch",
        })
    }
}

/// "; retry after 30s" when the provider said how long to wait, else nothing.
fn retry_hint(after: &Option<Duration>) -> String {
    match after {
        Some(after) => format!("; retry after {after:?}"),
        None => String::new(),
    }
}

impl ProviderError {
    /// The provider's answer, for the refusals that carry one.
    pub fn detail(&self) -> Option<&ProviderDetail> {
        use ProviderError::*;
        match self {
            ReauthenticationRequired(d)
            | MfaRequired(d)
            | InvalidCredentials(d)
            | AccountUnusable(d)
            | ConsentRequired(d)
            | ConsentDeclined(d)
            | AdminApprovalRequired(d)
            | UserNotInTenant(d)
            | InvalidClientSecret(d)
            | ClientSecretExpired(d)
            | AppNotInTenant(d)
            | ConditionalAccessBlocked(d)
            | SignInCancelled(d)
            | TokenRejected(d)
            | Misconfigured(d)
            | Other(d)
            | CodeRefused { detail: d, .. } => Some(d),
            Throttled { .. }
            | Unavailable { .. }
            | Transport(_)
            | InvalidResponse(_)
            | ConsentCallback(_)
            | Unsupported(_) => None,
        }
    }

    fn action(&self) -> Action {
        use ProviderError::*;
        match self {
            Throttled { retry_after } => Action::retry(*retry_after, Action::SLOW_RETRY_AFTER),
            Unavailable { retry_after, .. } => {
                Action::retry(*retry_after, Action::DEFAULT_RETRY_AFTER)
            }
            Transport(_) => Action::retry(None, Action::DEFAULT_RETRY_AFTER),
            InvalidResponse(_) => Action::retry(None, Action::SLOW_RETRY_AFTER),
            ReauthenticationRequired(_)
            | MfaRequired(_)
            | InvalidCredentials(_)
            | AccountUnusable(_)
            | ConsentRequired(_)
            | ConsentDeclined(_)
            | AdminApprovalRequired(_)
            | UserNotInTenant(_)
            | ConditionalAccessBlocked(_)
            | SignInCancelled(_)
            | ConsentCallback(_)
            | TokenRejected(_)
            | Other(_) => Action::AskCustomer,
            InvalidClientSecret(_) | ClientSecretExpired(_) | AppNotInTenant(_) => {
                Action::AskCustomer
            }
            Misconfigured(_) | Unsupported(_) => Action::FixConfiguration,
            CodeRefused { reason, .. } => reason.action(),
        }
    }

    /// Whether this is a passing fault (throttling, 5xx, transport, an answer that could not
    /// be understood) worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self.action(), Action::Retry { .. })
    }
}

/// A store failure. A failed write leaves the stored record as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Compare-and-swap lost: the record changed since it was read.
    #[error(
        "customer {customer} was changed by someone else (expected {expected}, found {actual:?})"
    )]
    Conflict {
        /// The customer.
        customer: CustomerId,
        /// The version the writer read.
        expected: Version,
        /// The version stored now (`None` if the record is gone).
        actual: Option<Version>,
    },
    /// A record for this customer exists already.
    #[error("customer {0} exists already")]
    AlreadyExists(CustomerId),
    /// A stored record cannot be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed (connection, I/O, constraint).
    #[error("backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The database was written by a newer version of this crate: upgrade the crate (never
    /// downgrade a database that newer replicas may already use).
    #[error(
        "the database schema is version {found}, newer than the {supported} this crate understands: upgrade tenant-access"
    )]
    SchemaTooNew {
        /// The schema version found in the database.
        found: i64,
        /// The newest schema version this crate knows.
        supported: i64,
    },
    /// A sealed secret could not be sealed or opened (wrong key, tampering, no key).
    #[error("sealed secrets: {0}")]
    Seal(#[from] SealError),
}

/// Why secrets could not be sealed or opened. Never carries a secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The record was sealed under a key id that is not in the keyring.
    #[error("no key with id {0:?} in the keyring")]
    UnknownKey(String),
    /// Authentication failed: the ciphertext was changed, moved to another record, or sealed
    /// under a different key with the same id.
    #[error("sealed data failed authentication (tampered, moved, or a different key)")]
    Tampered,
    /// The sealed data is not in a format this crate writes.
    #[error("sealed data is malformed: {0}")]
    Malformed(&'static str),
    /// The record holds plaintext secrets but the store requires sealing (or the reverse).
    #[error("the stored secrets are in plaintext, but this store seals secrets")]
    Plaintext,
    /// The keyring has a key with this id, but not the key bytes the database was sealed
    /// with (its canary does not open): a wrong or mistyped key.
    #[error("the key with id {0:?} is not the key this database was sealed with")]
    WrongKey(String),
    /// The stored secrets are sealed but the store was opened in plaintext test mode.
    #[error("the stored secrets are sealed, but this store was opened without a key")]
    NoKey,
    /// A key is unusable (wrong length, bad id, bad encoding).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

impl StoreError {
    /// What the portal should do about this error (as [`Error::action`] says for
    /// [`Error::Store`]).
    pub fn action(&self) -> Action {
        match self {
            StoreError::Conflict { .. } => Action::Reload,
            StoreError::AlreadyExists(_) => Action::FixInput,
            StoreError::Corrupt(_) => Action::FixConfiguration,
            StoreError::Backend(_) => Action::retry(None, Action::DEFAULT_RETRY_AFTER),
            StoreError::SchemaTooNew { .. } | StoreError::Seal(_) => Action::FixConfiguration,
        }
    }
}

/// A mail failure. The invitation stays unsent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mail server refused the message or the recipient for good.
    #[error("refused: {0}")]
    Refused(String),
    /// A passing failure (connection, timeout, 4xx); resend later.
    #[error("transient: {0}")]
    Transient(String),
    /// The mailer is configured wrongly (bad credentials, bad sender).
    #[error("misconfigured: {0}")]
    Misconfigured(String),
}

impl MailError {
    fn action(&self) -> Action {
        match self {
            MailError::Refused(_) => Action::FixInput,
            MailError::Transient(_) => Action::retry(None, Action::DEFAULT_RETRY_AFTER),
            MailError::Misconfigured(_) => Action::FixConfiguration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_read_well() {
        let throttled = ProviderError::Throttled {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(throttled.to_string(), "throttled; retry after 30s");
        let bare = ProviderError::Unavailable {
            status: 503,
            retry_after: None,
        };
        assert_eq!(bare.to_string(), "unavailable (HTTP 503)");
    }

    #[test]
    fn actions_group_errors_for_the_portal() {
        let throttled = Error::from(ProviderError::Throttled {
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(
            throttled.action(),
            Action::Retry {
                after: Duration::from_secs(7)
            }
        );
        assert!(throttled.is_retryable());
        let mfa = Error::from(ProviderError::MfaRequired(ProviderDetail::default()));
        assert_eq!(mfa.action(), Action::AskCustomer);
        assert!(mfa.to_string().contains("device-code journey"));
        assert_eq!(
            Error::from(ConfigError::MissingConsentClientId).action(),
            Action::FixConfiguration
        );
        assert_eq!(Error::InvalidInvitation.action(), Action::AskCustomer);
    }

    /// The one expected [`Action`] of every variant, by name. Exhaustive and without a
    /// wildcard on purpose: a new variant does not compile until it has its row here (and a
    /// sample in [`every_variant`]).
    fn table(error: &Error) -> (&'static str, Action) {
        use Action::*;
        const SOON: Action = Action::Retry {
            after: Action::DEFAULT_RETRY_AFTER,
        };
        const SLOW: Action = Action::Retry {
            after: Action::SLOW_RETRY_AFTER,
        };
        match error {
            Error::Input(e) => match e {
                InputError::CustomerId(_) => ("Input::CustomerId", FixInput),
                InputError::Tenant(_) => ("Input::Tenant", FixInput),
                InputError::UnknownTenant(_) => ("Input::UnknownTenant", FixInput),
                InputError::CloudMismatch { .. } => ("Input::CloudMismatch", FixInput),
                InputError::Email(_) => ("Input::Email", FixInput),
                InputError::Url(_) => ("Input::Url", FixInput),
                InputError::ConsentCallback(_) => ("Input::ConsentCallback", FixInput),
                InputError::SignInCallback(_) => ("Input::SignInCallback", FixInput),
                InputError::Certificate(_) => ("Input::Certificate", FixInput),
                InputError::Scopes(_) => ("Input::Scopes", FixInput),
                InputError::Credentials(_) => ("Input::Credentials", FixInput),
            },
            Error::Config(e) => match e {
                ConfigError::Missing(_) => ("Config::Missing", FixConfiguration),
                ConfigError::PortalUrl(_) => ("Config::PortalUrl", FixConfiguration),
                ConfigError::NotPositive(_) => ("Config::NotPositive", FixConfiguration),
                ConfigError::MissingConsentClientId => {
                    ("Config::MissingConsentClientId", FixConfiguration)
                }
                ConfigError::MissingConsentRedirectUrl => {
                    ("Config::MissingConsentRedirectUrl", FixConfiguration)
                }
                ConfigError::MissingSignInRedirectUrl => {
                    ("Config::MissingSignInRedirectUrl", FixConfiguration)
                }
            },
            Error::InvalidInvitation => ("InvalidInvitation", AskCustomer),
            Error::Flow(e) => match e {
                FlowError::NotFound(_) => ("Flow::NotFound", NotFound),
                FlowError::PollTooEarly { .. } => (
                    "Flow::PollTooEarly",
                    Retry {
                        after: Duration::from_secs(3),
                    },
                ),
                FlowError::WrongMethod { .. } => ("Flow::WrongMethod", FixInput),
                FlowError::Inconsistent(_) => ("Flow::Inconsistent", FixConfiguration),
                FlowError::TenantMismatch { .. } => ("Flow::TenantMismatch", AskCustomer),
                FlowError::ConsentTenantMismatch { .. } => {
                    ("Flow::ConsentTenantMismatch", AskCustomer)
                }
                FlowError::ConsentStateMismatch => ("Flow::ConsentStateMismatch", AskCustomer),
                FlowError::SignInStateMismatch => ("Flow::SignInStateMismatch", AskCustomer),
                FlowError::SignInExpired { .. } => ("Flow::SignInExpired", AskCustomer),
                FlowError::CredentialExpired { .. } => ("Flow::CredentialExpired", AskCustomer),
                FlowError::NotConnected { .. } => ("Flow::NotConnected", AskCustomer),
                FlowError::SwitchInProgress { .. } => ("Flow::SwitchInProgress", FixInput),
                FlowError::NoSwitchInProgress(_) => ("Flow::NoSwitchInProgress", NotFound),
                FlowError::NothingToResend { .. } => ("Flow::NothingToResend", FixInput),
                FlowError::UnexpectedStage { .. } => ("Flow::UnexpectedStage", Reload),
                FlowError::PollFailed { .. } => (
                    "Flow::PollFailed",
                    Retry {
                        after: Duration::from_secs(5),
                    },
                ),
            },
            Error::Provider(e) => match e {
                ProviderError::Throttled { retry_after: None } => ("Provider::Throttled", SLOW),
                ProviderError::Throttled {
                    retry_after: Some(_),
                } => (
                    "Provider::Throttled(Retry-After)",
                    Retry {
                        after: Duration::from_secs(7),
                    },
                ),
                ProviderError::Unavailable {
                    retry_after: None, ..
                } => ("Provider::Unavailable", SOON),
                ProviderError::Unavailable {
                    retry_after: Some(_),
                    ..
                } => (
                    "Provider::Unavailable(Retry-After, cut to an hour)",
                    Retry {
                        after: Action::MAX_RETRY_AFTER,
                    },
                ),
                ProviderError::Transport(_) => ("Provider::Transport", SOON),
                ProviderError::InvalidResponse(_) => ("Provider::InvalidResponse", SLOW),
                ProviderError::ReauthenticationRequired(_) => {
                    ("Provider::ReauthenticationRequired", AskCustomer)
                }
                ProviderError::MfaRequired(_) => ("Provider::MfaRequired", AskCustomer),
                ProviderError::InvalidCredentials(_) => {
                    ("Provider::InvalidCredentials", AskCustomer)
                }
                ProviderError::AccountUnusable(_) => ("Provider::AccountUnusable", AskCustomer),
                ProviderError::ConsentRequired(_) => ("Provider::ConsentRequired", AskCustomer),
                ProviderError::ConsentDeclined(_) => ("Provider::ConsentDeclined", AskCustomer),
                ProviderError::AdminApprovalRequired(_) => {
                    ("Provider::AdminApprovalRequired", AskCustomer)
                }
                ProviderError::UserNotInTenant(_) => ("Provider::UserNotInTenant", AskCustomer),
                ProviderError::InvalidClientSecret(_) => {
                    ("Provider::InvalidClientSecret", AskCustomer)
                }
                ProviderError::ClientSecretExpired(_) => {
                    ("Provider::ClientSecretExpired", AskCustomer)
                }
                ProviderError::AppNotInTenant(_) => ("Provider::AppNotInTenant", AskCustomer),
                ProviderError::ConditionalAccessBlocked(_) => {
                    ("Provider::ConditionalAccessBlocked", AskCustomer)
                }
                ProviderError::TokenRejected(_) => ("Provider::TokenRejected", AskCustomer),
                ProviderError::SignInCancelled(_) => ("Provider::SignInCancelled", AskCustomer),
                ProviderError::CodeRefused {
                    reason: CodeRefusal::AlreadyRedeemed,
                    ..
                } => ("Provider::CodeRefused(already redeemed)", Reload),
                ProviderError::CodeRefused {
                    reason: CodeRefusal::Expired,
                    ..
                } => ("Provider::CodeRefused(expired)", AskCustomer),
                ProviderError::CodeRefused {
                    reason: CodeRefusal::VerifierMismatch,
                    ..
                } => ("Provider::CodeRefused(verifier mismatch)", AskCustomer),
                ProviderError::Misconfigured(_) => ("Provider::Misconfigured", FixConfiguration),
                ProviderError::ConsentCallback(_) => ("Provider::ConsentCallback", AskCustomer),
                ProviderError::Other(_) => ("Provider::Other", AskCustomer),
                ProviderError::Unsupported(_) => ("Provider::Unsupported", FixConfiguration),
            },
            Error::Store(e) => match e {
                StoreError::Conflict { .. } => ("Store::Conflict", Reload),
                StoreError::AlreadyExists(_) => ("Store::AlreadyExists", FixInput),
                StoreError::Corrupt(_) => ("Store::Corrupt", FixConfiguration),
                StoreError::Backend(_) => ("Store::Backend", SOON),
                StoreError::SchemaTooNew { .. } => ("Store::SchemaTooNew", FixConfiguration),
                StoreError::Seal(e) => match e {
                    SealError::UnknownKey(_) => ("Seal::UnknownKey", FixConfiguration),
                    SealError::Tampered => ("Seal::Tampered", FixConfiguration),
                    SealError::WrongKey(_) => ("Seal::WrongKey", FixConfiguration),
                    SealError::Malformed(_) => ("Seal::Malformed", FixConfiguration),
                    SealError::Plaintext => ("Seal::Plaintext", FixConfiguration),
                    SealError::NoKey => ("Seal::NoKey", FixConfiguration),
                    SealError::InvalidKey(_) => ("Seal::InvalidKey", FixConfiguration),
                },
            },
            Error::Mail(e) => match e {
                MailError::Refused(_) => ("Mail::Refused", FixInput),
                MailError::Transient(_) => ("Mail::Transient", SOON),
                MailError::Misconfigured(_) => ("Mail::Misconfigured", FixConfiguration),
            },
        }
    }

    /// One sample of every variant (and of every row of [`table`]).
    fn every_variant() -> Vec<Error> {
        let id = || CustomerId::new("contoso").unwrap();
        let d = ProviderDetail::default;
        let now = OffsetDateTime::UNIX_EPOCH;
        vec![
            InputError::CustomerId("x").into(),
            InputError::Tenant("x").into(),
            InputError::UnknownTenant("contoso.invalid".into()).into(),
            InputError::CloudMismatch {
                tenant: "contoso.us".into(),
                chosen: crate::model::Cloud::UsGovL4,
                discovered: crate::model::Cloud::Global,
            }
            .into(),
            InputError::Email("x").into(),
            InputError::Url("x".into()).into(),
            InputError::ConsentCallback("x").into(),
            InputError::SignInCallback("x").into(),
            InputError::Certificate("x".into()).into(),
            InputError::Scopes("x").into(),
            InputError::Credentials("x").into(),
            ConfigError::Missing("x").into(),
            ConfigError::PortalUrl("x".into()).into(),
            ConfigError::NotPositive("x").into(),
            ConfigError::MissingConsentClientId.into(),
            ConfigError::MissingConsentRedirectUrl.into(),
            ConfigError::MissingSignInRedirectUrl.into(),
            Error::InvalidInvitation,
            FlowError::NotFound(id()).into(),
            FlowError::PollTooEarly {
                next_poll_at: now,
                retry_after: Duration::from_secs(3),
            }
            .into(),
            FlowError::WrongMethod {
                expected: Method::Password,
                actual: Method::DeviceCode,
            }
            .into(),
            FlowError::Inconsistent("x").into(),
            FlowError::TenantMismatch {
                expected: "a".into(),
                actual: "b".into(),
            }
            .into(),
            FlowError::ConsentTenantMismatch {
                expected: "a".into(),
                actual: "b".into(),
            }
            .into(),
            FlowError::ConsentStateMismatch.into(),
            FlowError::SignInStateMismatch.into(),
            FlowError::SignInExpired {
                expired_at: OffsetDateTime::UNIX_EPOCH,
            }
            .into(),
            FlowError::CredentialExpired {
                credential: "client secret".into(),
                expired_at: OffsetDateTime::UNIX_EPOCH,
            }
            .into(),
            FlowError::NotConnected {
                customer: id(),
                stage: StageKind::Claimed,
            }
            .into(),
            FlowError::SwitchInProgress {
                customer: id(),
                method: Method::AppRegistration,
            }
            .into(),
            FlowError::NoSwitchInProgress(id()).into(),
            FlowError::NothingToResend {
                customer: id(),
                stage: StageKind::Validated,
            }
            .into(),
            FlowError::UnexpectedStage {
                expected: StageKind::Claimed,
                actual: StageKind::Validated,
            }
            .into(),
            FlowError::PollFailed {
                next_poll_at: now,
                after: Duration::from_secs(5),
                source: Box::new(ProviderError::Unavailable {
                    status: 503,
                    retry_after: None,
                }),
            }
            .into(),
            ProviderError::Throttled { retry_after: None }.into(),
            ProviderError::Throttled {
                retry_after: Some(Duration::from_secs(7)),
            }
            .into(),
            ProviderError::Unavailable {
                status: 503,
                retry_after: None,
            }
            .into(),
            ProviderError::Unavailable {
                status: 503,
                retry_after: Some(Duration::from_secs(86_400)),
            }
            .into(),
            ProviderError::Transport("x".into()).into(),
            ProviderError::InvalidResponse("x".into()).into(),
            ProviderError::ReauthenticationRequired(d()).into(),
            ProviderError::MfaRequired(d()).into(),
            ProviderError::InvalidCredentials(d()).into(),
            ProviderError::AccountUnusable(d()).into(),
            ProviderError::ConsentRequired(d()).into(),
            ProviderError::ConsentDeclined(d()).into(),
            ProviderError::AdminApprovalRequired(d()).into(),
            ProviderError::UserNotInTenant(d()).into(),
            ProviderError::InvalidClientSecret(d()).into(),
            ProviderError::ClientSecretExpired(d()).into(),
            ProviderError::AppNotInTenant(d()).into(),
            ProviderError::ConditionalAccessBlocked(d()).into(),
            ProviderError::SignInCancelled(d()).into(),
            ProviderError::CodeRefused {
                reason: CodeRefusal::AlreadyRedeemed,
                detail: d(),
            }
            .into(),
            ProviderError::CodeRefused {
                reason: CodeRefusal::Expired,
                detail: d(),
            }
            .into(),
            ProviderError::CodeRefused {
                reason: CodeRefusal::VerifierMismatch,
                detail: d(),
            }
            .into(),
            ProviderError::TokenRejected(d()).into(),
            ProviderError::Misconfigured(d()).into(),
            ProviderError::ConsentCallback("x").into(),
            ProviderError::Other(ProviderDetail::new("invalid_grant", "x").with_code(99_999_999))
                .into(),
            ProviderError::Unsupported("x").into(),
            StoreError::Conflict {
                customer: id(),
                expected: Version(1),
                actual: Some(Version(2)),
            }
            .into(),
            StoreError::AlreadyExists(id()).into(),
            StoreError::Corrupt("x".into()).into(),
            StoreError::Backend("x".into()).into(),
            StoreError::SchemaTooNew {
                found: 9,
                supported: 1,
            }
            .into(),
            StoreError::Seal(SealError::UnknownKey("k".into())).into(),
            StoreError::Seal(SealError::Tampered).into(),
            StoreError::Seal(SealError::WrongKey("k".into())).into(),
            StoreError::Seal(SealError::Malformed("x")).into(),
            StoreError::Seal(SealError::Plaintext).into(),
            StoreError::Seal(SealError::NoKey).into(),
            StoreError::Seal(SealError::InvalidKey("x")).into(),
            MailError::Refused("x".into()).into(),
            MailError::Transient("x".into()).into(),
            MailError::Misconfigured("x".into()).into(),
        ]
    }

    /// The number of rows in [`table`]: raise it with each new row (and sample).
    const ROWS: usize = 76;

    #[test]
    fn every_variant_has_its_one_action() {
        let samples = every_variant();
        let mut names = std::collections::BTreeSet::new();
        for error in &samples {
            let (name, expected) = table(error);
            assert!(names.insert(name), "{name} sampled twice");
            assert_eq!(error.action(), expected, "{name}: {error}");
            assert_eq!(
                error.is_retryable(),
                matches!(expected, Action::Retry { .. } | Action::Reload),
                "{name}"
            );
            if let Action::Retry { after } = expected {
                assert!(
                    after > Duration::ZERO && after <= Action::MAX_RETRY_AFTER,
                    "{name}"
                );
            }
            if let Error::Provider(e) = error {
                assert_eq!(
                    e.is_transient(),
                    matches!(expected, Action::Retry { .. }),
                    "{name}"
                );
            }
        }
        assert_eq!(
            names.len(),
            ROWS,
            "a row of the table has no sample: {names:?}"
        );
    }

    #[test]
    fn detail_display_keeps_codes() {
        let d = ProviderDetail::new("invalid_grant", "AADSTS50126: bad").with_code(50126);
        assert_eq!(d.to_string(), "invalid_grant: AADSTS50126: bad");
        let d = ProviderDetail::new("invalid_grant", "bad").with_code(50126);
        assert_eq!(d.to_string(), "invalid_grant AADSTS50126: bad");
    }

    #[test]
    fn error_is_small() {
        assert!(
            std::mem::size_of::<Error>() <= 96,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
