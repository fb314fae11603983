//! Connection health: why a customer needs attention ([`Attention`]), what clears it
//! ([`Remedy`]), and the [`Notice`](super::Notice) that tells the MSP when a reason appears or clears.
//!
//! Reasons are computed by [`assess`](super::assess) from what the record already holds (the stage, the last
//! failure's provider codes, the credential's end, the token's permissions, the invitation's
//! dates), so the same record always gives the same reasons at the same moment.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Why a customer needs attention. Each has one [`Remedy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The refresh token is dead (AADSTS700082, 50173, 70008, 70043, 50078 or any
    /// re-authentication answer): the customer must sign in again.
    RefreshTokenDead,
    /// Consent was revoked or the application removed from the tenant (AADSTS65001, 700016 at
    /// refresh or verify).
    ConsentRevoked,
    /// A Conditional Access policy blocks the sign-in or the token (AADSTS53000–53004).
    BlockedByPolicy,
    /// The connection's credential (an app registration's secret or certificate) expires
    /// within the warning window.
    CredentialExpiring,
    /// The connection's credential has expired.
    CredentialExpired,
    /// The token lacks permissions the MSP requires (`scp` for delegated tokens, `roles` for
    /// app-only ones).
    PermissionsMissing,
    /// Verification has failed several times in a row.
    VerificationFailing,
    /// The invitation was sent days ago and the customer has not finished.
    InvitationUnanswered,
    /// A method switch has been under way for days without finishing.
    SwitchStalled,
}

impl Reason {
    /// Every reason, in report order.
    pub const ALL: [Reason; 9] = [
        Reason::RefreshTokenDead,
        Reason::ConsentRevoked,
        Reason::BlockedByPolicy,
        Reason::CredentialExpired,
        Reason::CredentialExpiring,
        Reason::PermissionsMissing,
        Reason::VerificationFailing,
        Reason::InvitationUnanswered,
        Reason::SwitchStalled,
    ];

    /// A short, stable name (`refresh_token_dead`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RefreshTokenDead => "refresh_token_dead",
            Reason::ConsentRevoked => "consent_revoked",
            Reason::BlockedByPolicy => "blocked_by_policy",
            Reason::CredentialExpiring => "credential_expiring",
            Reason::CredentialExpired => "credential_expired",
            Reason::PermissionsMissing => "permissions_missing",
            Reason::VerificationFailing => "verification_failing",
            Reason::InvitationUnanswered => "invitation_unanswered",
            Reason::SwitchStalled => "switch_stalled",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The one action that clears this reason.
    pub fn remedy(self) -> Remedy {
        match self {
            Reason::RefreshTokenDead | Reason::BlockedByPolicy => Remedy::Reinvite,
            Reason::ConsentRevoked | Reason::PermissionsMissing => Remedy::Reconsent,
            Reason::CredentialExpiring | Reason::CredentialExpired => Remedy::NewCredential,
            Reason::VerificationFailing => Remedy::Wait,
            Reason::InvitationUnanswered => Remedy::ResendInvitation,
            Reason::SwitchStalled => Remedy::FinishOrCancelSwitch,
        }
    }

    /// One line for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::RefreshTokenDead => "the refresh token no longer works",
            Reason::ConsentRevoked => "consent was revoked or the application removed",
            Reason::BlockedByPolicy => "a Conditional Access policy blocks the connection",
            Reason::CredentialExpiring => "the credential expires soon",
            Reason::CredentialExpired => "the credential has expired",
            Reason::PermissionsMissing => "the token lacks required permissions",
            Reason::VerificationFailing => "verification keeps failing",
            Reason::InvitationUnanswered => "the invitation has not been answered",
            Reason::SwitchStalled => "the method switch has stalled",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What clears a [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Remedy {
    /// Invite the customer again (a new sign-in).
    Reinvite,
    /// Send the invitation again.
    ResendInvitation,
    /// Send the customer's admin the admin-consent link.
    Reconsent,
    /// Give the connection a new credential (switch to a new secret or certificate).
    NewCredential,
    /// Finish the method switch or cancel it.
    FinishOrCancelSwitch,
    /// Nothing but wait: the next successful verification clears it.
    Wait,
}

impl Remedy {
    /// A short, stable name (`reinvite`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Remedy::Reinvite => "reinvite",
            Remedy::ResendInvitation => "resend_invitation",
            Remedy::Reconsent => "reconsent",
            Remedy::NewCredential => "new_credential",
            Remedy::FinishOrCancelSwitch => "finish_or_cancel_switch",
            Remedy::Wait => "wait",
        }
    }

    /// One line for an operator.
    pub fn describe(self) -> &'static str {
        match self {
            Remedy::Reinvite => "invite the customer again",
            Remedy::ResendInvitation => "resend the invitation",
            Remedy::Reconsent => "send the admin-consent link",
            Remedy::NewCredential => "switch to a new secret or certificate",
            Remedy::FinishOrCancelSwitch => "finish or cancel the method switch",
            Remedy::Wait => "nothing: wait for the next verification",
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What shows a reason: the provider's codes, a date, the missing permissions, a count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The provider's error codes (the AADSTS numbers), when a refusal shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u32>,
    /// The date that matters (the credential's end, the invitation's sending, the switch's
    /// start, the failure).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<OffsetDateTime>,
    /// The permissions the token lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Failures in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One reason a customer needs attention, since when, and what shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    /// Why.
    pub reason: Reason,
    /// When it was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// What shows it.
    pub evidence: Evidence,
}

impl Attention {
    /// The one action that clears it.
    pub fn remedy(&self) -> Remedy {
        self.reason.remedy()
    }
}

/// The last failure a step met, as the health assessment reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The provider's error codes, if it sent any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u32>,
    /// The reason the failure is evidence of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// A customer's health as kept in the record: the reasons last reported, and the failures
/// that reasons are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The reasons as last assessed and reported (a [`Notice`](super::Notice) was written for each change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<Attention>,
    /// Failed steps in a row since the last success.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// The last failure, until a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
}

impl Health {
    /// Whether nothing is recorded (no reason, no failure).
    pub fn is_empty(&self) -> bool {
        self.attention.is_empty() && self.failures == 0 && self.last_failure.is_none()
    }

    /// Records a failed step at `at` with the provider's `codes` and the reason it shows.
    pub fn failed(&mut self, at: OffsetDateTime, codes: Vec<u32>, reason: Option<Reason>) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(Failure { at, codes, reason });
    }

    /// Records a success: the failure streak ends.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.last_failure = None;
    }

    /// The stored reasons' names, comma-separated with a comma at both ends
    /// (`,consent_revoked,`), or `None` when there is none: what SQL stores index.
    pub fn attention_index(&self) -> Option<String> {
        if self.attention.is_empty() {
            return None;
        }
        let mut out = String::from(",");
        for a in &self.attention {
            out.push_str(a.reason.as_str());
            out.push(',');
        }
        Some(out)
    }
}

/// The thresholds and requirements the assessment uses
/// ([`Config::health`](crate::Config::health)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Failed verifications in a row before [`Reason::VerificationFailing`] (default 3).
    pub failing_after: u32,
    /// How long after its sending an unfinished invitation is
    /// [`Reason::InvitationUnanswered`] (default 7 days).
    pub unanswered_after: Duration,
    /// How long a method switch may be under way before [`Reason::SwitchStalled`] (default
    /// 7 days).
    pub switch_stalled_after: Duration,
    /// How long before a credential's end it is [`Reason::CredentialExpiring`] (default 30
    /// days; [`Config::credential_warning`](crate::Config::credential_warning)).
    pub credential_warning: Duration,
    /// Delegated permissions every delegated token must carry in `scp` (such as
    /// `Directory.Read.All`); empty: not checked.
    pub delegated_permissions: Vec<String>,
    /// Application permissions every app-only token must carry in `roles`; empty: not
    /// checked.
    pub application_permissions: Vec<String>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failing_after: 3,
            unanswered_after: Duration::from_secs(7 * 86_400),
            switch_stalled_after: Duration::from_secs(7 * 86_400),
            credential_warning: Duration::from_secs(30 * 86_400),
            delegated_permissions: Vec::new(),
            application_permissions: Vec::new(),
        }
    }
}

/// The permissions a token grants: `scp` (delegated, space-separated) or `roles` (app-only),
/// read from a JWT access token's payload without checking its signature (it came from the
/// provider over TLS; this only reads what it says). `None` for a token that is not a JWT.
pub fn granted_permissions(token: &str) -> Option<Granted> {
    let bytes = super::tenant::jwt_payload(token)?;
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        scp: Option<String>,
        #[serde(default)]
        roles: Option<Vec<String>>,
    }
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(Granted {
        delegated: claims
            .scp
            .map(|s| s.split_whitespace().map(str::to_owned).collect()),
        application: claims.roles,
    })
}

/// What [`granted_permissions`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    /// `scp`, split, when present.
    pub delegated: Option<Vec<String>>,
    /// `roles`, when present.
    pub application: Option<Vec<String>>,
}

impl Granted {
    /// The required permissions this grant lacks (compared case-insensitively). A delegated
    /// token is checked against `delegated`, an app-only one against `application`.
    pub fn missing(&self, policy: &HealthPolicy) -> Vec<String> {
        let (have, want) = match (&self.delegated, &self.application) {
            (Some(scp), _) => (scp, &policy.delegated_permissions),
            (None, Some(roles)) => (roles, &policy.application_permissions),
            (None, None) if !policy.delegated_permissions.is_empty() => {
                return policy.delegated_permissions.clone();
            }
            (None, None) => return Vec::new(),
        };
        want.iter()
            .filter(|w| !have.iter().any(|h| h.eq_ignore_ascii_case(w)))
            .cloned()
            .collect()
    }
}

/// A reason gained or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The customer gained the reason.
    Gained,
    /// The reason cleared.
    Cleared,
}

impl Change {
    /// `gained` or `cleared`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Gained => "gained",
            Change::Cleared => "cleared",
        }
    }
}

/// Merges a fresh assessment into the reasons last reported: a reason still there keeps its
/// `since` (its evidence is refreshed), a new one is gained, a missing one cleared. Returns
/// the reasons to store and the changes to report, gained and cleared in reason order.
pub fn reconcile(
    reported: &[Attention],
    current: Vec<Attention>,
) -> (Vec<Attention>, Vec<(Change, Attention)>) {
    let mut changes = Vec::new();
    let mut kept = Vec::with_capacity(current.len());
    for mut now in current {
        match reported.iter().find(|r| r.reason == now.reason) {
            Some(before) => now.since = before.since,
            None => changes.push((Change::Gained, now.clone())),
        }
        kept.push(now);
    }
    for before in reported {
        if !kept.iter().any(|k| k.reason == before.reason) {
            changes.push((Change::Cleared, before.clone()));
        }
    }
    (kept, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn jwt(payload: &str) -> String {
        format!("h.{}.s", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn granted_permissions_read_scp_and_roles() {
        let policy = HealthPolicy {
            delegated_permissions: vec!["Directory.Read.All".into(), "User.Read".into()],
            application_permissions: vec!["Directory.Read.All".into()],
            ..HealthPolicy::default()
        };
        let delegated = granted_permissions(&jwt(r#"{"scp":"user.read openid"}"#)).unwrap();
        assert_eq!(delegated.missing(&policy), vec!["Directory.Read.All"]);
        let app = granted_permissions(&jwt(r#"{"roles":["Directory.Read.All"]}"#)).unwrap();
        assert!(app.missing(&policy).is_empty());
        assert_eq!(granted_permissions("opaque-token"), None);
    }

    #[test]
    fn reconcile_keeps_since_and_reports_each_change_once() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t1 = t0 + time::Duration::days(1);
        let a = |reason, since| Attention {
            reason,
            since,
            evidence: Evidence::default(),
        };
        let (kept, changes) = reconcile(&[], vec![a(Reason::ConsentRevoked, t0)]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, Change::Gained);
        let (again, none) = reconcile(&kept, vec![a(Reason::ConsentRevoked, t1)]);
        assert!(none.is_empty());
        assert_eq!(again[0].since, t0);
        let (cleared, changes) = reconcile(&again, Vec::new());
        assert!(cleared.is_empty());
        assert_eq!(changes[0].0, Change::Cleared);
    }

    #[test]
    fn reason_names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
