//! One type per stage of a journey, the closed [`Stage`] enum that stores them, and
//! [`StageKind`], their names.

use std::fmt;

use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use super::secret::{ConsentState, DeviceCode, PkceVerifier, SignInState};

/// The customer was created and has a pending invitation that has not been mailed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited;

/// The invitation email was accepted by the mail server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationSent;

/// The customer opened the invitation link and may start authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed;

/// A device code was issued; the customer signs in at the verification URI while the portal
/// polls.
#[derive(Debug, Clone)]
pub struct DeviceCodeIssued {
    /// The device code (secret; only the portal sends it, to the token endpoint).
    pub device_code: DeviceCode,
    /// The code the customer types at the verification URI.
    pub user_code: String,
    /// Where the customer signs in (`https://microsoft.com/devicelogin`).
    pub verification_uri: Url,
    /// The sign-in page with the user code filled in, when the provider sent one (RFC 8628
    /// §3.3.1; Entra ID never does): offer it as a one-click link.
    pub verification_uri_complete: Option<Url>,
    /// The provider's ready-made instruction for the customer, if any.
    pub message: Option<String>,
    /// When the device code was issued.
    pub issued_at: OffsetDateTime,
    /// When the device code stops working.
    pub expires_at: OffsetDateTime,
    /// The minimum time between two polls (widened by `slow_down`).
    pub interval: Duration,
    /// The earliest moment the next poll is allowed.
    pub next_poll_at: OffsetDateTime,
}

impl DeviceCodeIssued {
    /// The code the customer types.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the customer types it.
    pub fn verification_uri(&self) -> &Url {
        &self.verification_uri
    }

    /// The one-click sign-in link (the user code already filled in), if the provider sent
    /// one; else offer [`verification_uri`](Self::verification_uri) and the user code.
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.verification_uri_complete.as_ref()
    }
}

/// The customer was sent to the provider's sign-in page in a browser (authorization code with
/// PKCE, "Sign in with Microsoft"); the journey waits for the redirect back to the portal's
/// callback, until [`expires_at`](Self::expires_at).
///
/// Its `Debug` leaves out the URL's query, which carries the state and the PKCE challenge.
#[derive(Clone)]
pub struct BrowserSignIn {
    /// The provider's authorization URL the customer's browser opens.
    pub authorize_url: Url,
    /// The `state` in that URL: the callback must carry it back, once.
    pub state: SignInState,
    /// The PKCE verifier whose S256 challenge is in that URL (secret: sent only when the
    /// code is redeemed).
    pub verifier: PkceVerifier,
    /// The redirect URI the request named; redeeming the code must name it again.
    pub redirect_uri: Url,
    /// When the sign-in was started.
    pub started_at: OffsetDateTime,
    /// When the state stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for BrowserSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = self.authorize_url.clone();
        url.set_query(Some("[REDACTED]"));
        f.debug_struct("BrowserSignIn")
            .field("authorize_url", &url.as_str())
            .field("state", &self.state)
            .field("verifier", &self.verifier)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("started_at", &self.started_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl BrowserSignIn {
    /// The URL to send the customer's browser to.
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }
}

/// The customer may not consent alone and has asked for approval through the tenant's admin
/// consent workflow; a reviewer must approve before the customer authenticates again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequested {
    /// When the request was made.
    pub requested_at: OffsetDateTime,
}

/// An administrator must grant consent through the admin-consent URL (password and
/// app-registration journeys).
///
/// Its `Debug` leaves out the URL's query, which carries the state.
#[derive(Clone)]
pub struct ConsentRequired {
    /// The URL the administrator opens.
    pub admin_consent_url: Url,
    /// The `state` in that URL; the callback must carry it back.
    pub state: ConsentState,
    /// When the URL was made.
    pub requested_at: OffsetDateTime,
}

impl fmt::Debug for ConsentRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = self.admin_consent_url.clone();
        url.set_query(Some("[REDACTED]"));
        f.debug_struct("ConsentRequired")
            .field("admin_consent_url", &url.as_str())
            .field("state", &self.state)
            .field("requested_at", &self.requested_at)
            .finish()
    }
}

impl ConsentRequired {
    /// The URL the customer's administrator opens to consent for the organisation.
    pub fn admin_consent_url(&self) -> &Url {
        &self.admin_consent_url
    }
}

/// A token was acquired but not yet proven to work for the invited tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAcquired;

/// The connection works: a real call with the token reached the invited tenant.
///
/// A stored `Validated` is a claim about the past; call
/// [`Onboarding::<Validated>::verify`](crate::Onboarding::verify) to prove it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// When validation last succeeded.
    pub validated_at: OffsetDateTime,
}

/// The refresh token died (expired, revoked, password changed): the customer must go through
/// the journey again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReauthRequired {
    /// When this was found.
    pub since: OffsetDateTime,
    /// The provider's reason.
    pub reason: String,
}

/// The MSP revoked the customer's journey. Terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// When.
    pub revoked_at: OffsetDateTime,
}

/// The invitation expired before the journey finished. Terminal for this invitation;
/// [`reinvite`](crate::Onboarding::reinvite) starts a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// When the expiry was noticed.
    pub expired_at: OffsetDateTime,
}

/// The name of a stage, without its data: for filters, audit events and reports.
///
/// Serialized (serde) as its [`as_str`](Self::as_str) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StageKind {
    /// [`Invited`].
    Invited,
    /// [`InvitationSent`].
    InvitationSent,
    /// [`Claimed`].
    Claimed,
    /// [`DeviceCodeIssued`].
    DeviceCodeIssued,
    /// [`BrowserSignIn`].
    BrowserSignIn,
    /// [`ApprovalRequested`].
    ApprovalRequested,
    /// [`ConsentRequired`].
    ConsentRequired,
    /// [`TokenAcquired`].
    TokenAcquired,
    /// [`Validated`].
    Validated,
    /// [`ReauthRequired`].
    ReauthRequired,
    /// [`Revoked`].
    Revoked,
    /// [`Expired`].
    Expired,
}

impl StageKind {
    /// Every stage, in journey order.
    pub const ALL: [StageKind; 12] = [
        StageKind::Invited,
        StageKind::InvitationSent,
        StageKind::Claimed,
        StageKind::DeviceCodeIssued,
        StageKind::BrowserSignIn,
        StageKind::ApprovalRequested,
        StageKind::ConsentRequired,
        StageKind::TokenAcquired,
        StageKind::Validated,
        StageKind::ReauthRequired,
        StageKind::Revoked,
        StageKind::Expired,
    ];

    /// A short, stable name (`invited`, `device_code_issued`, …) for storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Invited => "invited",
            StageKind::InvitationSent => "invitation_sent",
            StageKind::Claimed => "claimed",
            StageKind::DeviceCodeIssued => "device_code_issued",
            StageKind::BrowserSignIn => "browser_sign_in",
            StageKind::ApprovalRequested => "approval_requested",
            StageKind::ConsentRequired => "consent_required",
            StageKind::TokenAcquired => "token_acquired",
            StageKind::Validated => "validated",
            StageKind::ReauthRequired => "reauth_required",
            StageKind::Revoked => "revoked",
            StageKind::Expired => "expired",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether no transition leads out of this stage except a fresh invitation.
    pub fn is_terminal(self) -> bool {
        matches!(self, StageKind::Revoked | StageKind::Expired)
    }

    /// Whether [`TenantAccess::resend_invitation`](crate::TenantAccess::resend_invitation)
    /// mails a new link in this stage: while the journey waits for the customer, and from an
    /// expired invitation or a dead refresh token (which start over).
    pub fn can_resend_invitation(self) -> bool {
        matches!(
            self,
            StageKind::Invited
                | StageKind::InvitationSent
                | StageKind::Claimed
                | StageKind::DeviceCodeIssued
                | StageKind::BrowserSignIn
                | StageKind::ApprovalRequested
                | StageKind::Expired
                | StageKind::ReauthRequired
        )
    }

    /// Whether a customer in this stage may switch method: a working connection, or one
    /// that needs re-authentication.
    pub(crate) fn may_switch_method(self) -> bool {
        matches!(self, StageKind::Validated | StageKind::ReauthRequired)
    }

    /// Whether the invitation link still opens the journey in this stage.
    pub(crate) fn accepts_invitation_link(self) -> bool {
        matches!(
            self,
            StageKind::InvitationSent
                | StageKind::Claimed
                | StageKind::DeviceCodeIssued
                | StageKind::BrowserSignIn
                | StageKind::ApprovalRequested
        )
    }
}

impl serde::Serialize for StageKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for StageKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown stage {name:?}")))
    }
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data of whichever stage a customer is in: what a store keeps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Stage {
    /// See [`Invited`].
    Invited(Invited),
    /// See [`InvitationSent`].
    InvitationSent(InvitationSent),
    /// See [`Claimed`].
    Claimed(Claimed),
    /// See [`DeviceCodeIssued`].
    DeviceCodeIssued(DeviceCodeIssued),
    /// See [`BrowserSignIn`].
    BrowserSignIn(BrowserSignIn),
    /// See [`ApprovalRequested`].
    ApprovalRequested(ApprovalRequested),
    /// See [`ConsentRequired`].
    ConsentRequired(ConsentRequired),
    /// See [`TokenAcquired`].
    TokenAcquired(TokenAcquired),
    /// See [`Validated`].
    Validated(Validated),
    /// See [`ReauthRequired`].
    ReauthRequired(ReauthRequired),
    /// See [`Revoked`].
    Revoked(Revoked),
    /// See [`Expired`].
    Expired(Expired),
}

/// Implemented by every stage type, and only by them (sealed): ties a type to its
/// [`StageKind`] and its [`Stage`] variant.
pub trait StageType: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    /// This stage's name.
    const KIND: StageKind;
    /// Wraps the stage's data for storage.
    fn into_stage(self) -> Stage;
    /// Takes the data back out, if `stage` is this stage.
    fn from_stage(stage: Stage) -> Option<Self>;
}

mod sealed {
    pub trait Sealed {}
}

/// Stages from which the invitation can be sent again with a new code
/// ([`Onboarding::resend`](crate::Onboarding::resend)).
pub trait Resendable: StageType {}
impl Resendable for InvitationSent {}
impl Resendable for Claimed {}
impl Resendable for DeviceCodeIssued {}
impl Resendable for BrowserSignIn {}
impl Resendable for ApprovalRequested {}

/// Stages that can be revoked ([`Onboarding::revoke`](crate::Onboarding::revoke)): all but
/// [`Revoked`].
pub trait Revocable: StageType {}
impl Revocable for Invited {}
impl Revocable for InvitationSent {}
impl Revocable for Claimed {}
impl Revocable for DeviceCodeIssued {}
impl Revocable for BrowserSignIn {}
impl Revocable for ApprovalRequested {}
impl Revocable for ConsentRequired {}
impl Revocable for TokenAcquired {}
impl Revocable for Validated {}
impl Revocable for ReauthRequired {}
impl Revocable for Expired {}

/// Stages a sign-in can start from: [`Claimed`], after approval ([`ApprovalRequested`]), and
/// in place of a sign-in under way ([`DeviceCodeIssued`], [`BrowserSignIn`]), which it
/// abandons ([`Onboarding::start_browser_sign_in`](crate::Onboarding::start_browser_sign_in)).
pub trait SignInStart: StageType {}
impl SignInStart for Claimed {}
impl SignInStart for ApprovalRequested {}
impl SignInStart for DeviceCodeIssued {}
impl SignInStart for BrowserSignIn {}

/// Stages that a fresh device-code invitation starts over from
/// ([`Onboarding::reinvite`](crate::Onboarding::reinvite)).
pub trait Reinvitable: StageType {}
impl Reinvitable for Expired {}
impl Reinvitable for ReauthRequired {}

macro_rules! stage_types {
    ($($name:ident),* $(,)?) => {
        $(
            impl sealed::Sealed for $name {}
            impl StageType for $name {
                const KIND: StageKind = StageKind::$name;
                fn into_stage(self) -> Stage {
                    Stage::$name(self)
                }
                fn from_stage(stage: Stage) -> Option<Self> {
                    match stage {
                        Stage::$name(s) => Some(s),
                        _ => None,
                    }
                }
            }
        )*

        impl Stage {
            /// The stage's name.
            pub fn kind(&self) -> StageKind {
                match self {
                    $(Stage::$name(_) => StageKind::$name,)*
                }
            }
        }
    };
}

stage_types!(
    Invited,
    InvitationSent,
    Claimed,
    DeviceCodeIssued,
    BrowserSignIn,
    ApprovalRequested,
    ConsentRequired,
    TokenAcquired,
    Validated,
    ReauthRequired,
    Revoked,
    Expired,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in StageKind::ALL {
            assert_eq!(StageKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(StageKind::parse("bogus"), None);
    }

    #[test]
    fn stage_type_round_trips() {
        let s = Validated {
            validated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let any = s.clone().into_stage();
        assert_eq!(any.kind(), StageKind::Validated);
        assert_eq!(Validated::from_stage(any.clone()), Some(s));
        assert_eq!(Invited::from_stage(any), None);
    }
}
