//! [`assess`]: the attention reasons a customer's record shows at a given moment.

use std::time::Duration;

use time::OffsetDateTime;

use super::customer::{Customer, VerificationStatus};
use super::health::{Attention, Evidence, Failure, HealthPolicy, Reason, granted_permissions};
use super::stage::{Stage, StageKind};
use super::switch::PendingSwitch;

/// The reasons `customer` in `stage` (with `switch` under way) needs attention at `now`, in
/// [`Reason::ALL`]'s order, each `since` now. [`reconcile`](super::reconcile) keeps the `since` of reasons
/// already reported.
pub fn assess(
    customer: &Customer,
    stage: &Stage,
    switch: Option<&PendingSwitch>,
    now: OffsetDateTime,
    policy: &HealthPolicy,
) -> Vec<Attention> {
    let kind = stage.kind();
    let mut out = Vec::new();
    if kind == StageKind::Revoked {
        return out;
    }
    let mut add = |reason: Reason, evidence: Evidence| {
        if !out.iter().any(|a: &Attention| a.reason == reason) {
            out.push(Attention {
                reason,
                since: now,
                evidence,
            });
        }
    };
    let failure = customer.health.last_failure.as_ref();
    let failure_evidence = |f: &Failure| Evidence {
        codes: f.codes.clone(),
        date: Some(f.at),
        ..Evidence::default()
    };
    // What the last failure shows, where the stage still stands on it.
    if let Some(f) = failure {
        match f.reason {
            Some(reason @ (Reason::ConsentRevoked | Reason::RefreshTokenDead))
                if matches!(kind, StageKind::Validated | StageKind::ReauthRequired) =>
            {
                add(reason, failure_evidence(f));
            }
            Some(Reason::BlockedByPolicy) if kind != StageKind::Expired => {
                add(Reason::BlockedByPolicy, failure_evidence(f));
            }
            _ => {}
        }
    }
    let specific = failure.is_some_and(|f| {
        matches!(
            f.reason,
            Some(Reason::ConsentRevoked | Reason::BlockedByPolicy)
        )
    });
    if let Stage::ReauthRequired(r) = stage
        && !specific
    {
        add(
            Reason::RefreshTokenDead,
            Evidence {
                codes: failure.map(|f| f.codes.clone()).unwrap_or_default(),
                date: Some(r.since),
                ..Evidence::default()
            },
        );
    }
    if matches!(kind, StageKind::Validated | StageKind::ReauthRequired)
        && let Some(expiry) = customer.credential_expiry()
    {
        let warning =
            time::Duration::try_from(policy.credential_warning).unwrap_or(time::Duration::MAX);
        let evidence = Evidence {
            date: Some(expiry.expires_at),
            ..Evidence::default()
        };
        if expiry.expires_at <= now {
            add(Reason::CredentialExpired, evidence);
        } else if expiry.expires_at - warning <= now {
            add(Reason::CredentialExpiring, evidence);
        }
    }
    let checks_permissions =
        !policy.delegated_permissions.is_empty() || !policy.application_permissions.is_empty();
    if kind == StageKind::Validated
        && checks_permissions
        && let Some(token) = &customer.token
        && let Some(granted) = granted_permissions(token.access_token.expose_secret())
    {
        let missing = granted.missing(policy);
        if !missing.is_empty() {
            add(
                Reason::PermissionsMissing,
                Evidence {
                    missing,
                    date: Some(token.obtained_at),
                    ..Evidence::default()
                },
            );
        }
    }
    if kind == StageKind::Validated
        && customer.health.failures >= policy.failing_after.max(1)
        && customer
            .last_verification
            .as_ref()
            .is_some_and(|v| v.status != VerificationStatus::Ok)
    {
        add(
            Reason::VerificationFailing,
            Evidence {
                count: customer.health.failures,
                codes: failure.map(|f| f.codes.clone()).unwrap_or_default(),
                date: failure.map(|f| f.at),
                ..Evidence::default()
            },
        );
    }
    if let Some(sent) = unanswered_since(customer, kind)
        && now - sent >= to_time(policy.unanswered_after)
    {
        add(
            Reason::InvitationUnanswered,
            Evidence {
                date: Some(sent),
                ..Evidence::default()
            },
        );
    }
    if let Some(switch) = switch
        && now - switch.customer.created_at >= to_time(policy.switch_stalled_after)
    {
        add(
            Reason::SwitchStalled,
            Evidence {
                date: Some(switch.customer.created_at),
                ..Evidence::default()
            },
        );
    }
    out.sort_by_key(|a| Reason::ALL.iter().position(|r| *r == a.reason));
    out
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// When the invitation of a customer still on its way to a connection was sent (or issued,
/// if never sent).
fn unanswered_since(customer: &Customer, kind: StageKind) -> Option<OffsetDateTime> {
    let waiting = matches!(
        kind,
        StageKind::Invited
            | StageKind::InvitationSent
            | StageKind::Claimed
            | StageKind::DeviceCodeIssued
            | StageKind::ApprovalRequested
            | StageKind::BrowserSignIn
            | StageKind::Expired
    );
    let invitation = customer.invitation.as_ref().filter(|_| waiting)?;
    Some(
        invitation
            .delivery
            .as_ref()
            .map_or(invitation.issued_at, |d| d.sent_at),
    )
}
