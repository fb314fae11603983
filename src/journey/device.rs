//! The device-code part of the journey (RFC 8628): start, poll once, wait, and continue after
//! the admin consent workflow.

use std::time::Duration;

use super::{Onboarding, Rejected};
use crate::error::{Error, FlowError, ProviderError};
use crate::model::Method;
use crate::model::TokenSet;
use crate::model::*;
use crate::ports::Ports;
use crate::ports::{DeviceAuthorization, DevicePoll, TokenResponse};

/// RFC 8628 §3.5: on `slow_down` the interval grows by 5 seconds for this and every later poll.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// What one poll of the token endpoint found.
#[derive(Debug)]
#[non_exhaustive]
pub enum PollOutcome {
    /// The customer has not finished; poll again at
    /// [`next_poll_at`](DeviceCodeIssued::next_poll_at).
    Pending(Onboarding<DeviceCodeIssued>),
    /// The provider asked to slow down; the interval grew by 5 seconds.
    SlowDown(Onboarding<DeviceCodeIssued>),
    /// The customer asked an administrator to approve the application; continue with
    /// [`continue_authentication`](Onboarding::continue_authentication) once approved.
    ApprovalRequested(Onboarding<ApprovalRequested>),
    /// The customer signed in, but the application has no consent in the tenant and the
    /// customer could not give it (AADSTS65001): offer the stage's
    /// [`admin_consent_url`](ConsentRequired::admin_consent_url) to an administrator. After
    /// [`consent_given`](Onboarding::consent_given) the customer signs in again.
    ConsentRequired(Onboarding<ConsentRequired>),
    /// The customer signed in and consented: a token was acquired.
    Authenticated(Onboarding<TokenAcquired>),
    /// The device code expired (or is no longer known); the customer can start again.
    Expired(Onboarding<Claimed>),
    /// The customer declined; they can start again.
    Declined(Onboarding<Claimed>),
    /// A Conditional Access policy of the customer's tenant blocks the sign-in (AADSTS53003
    /// on the poll; many tenants block the device-code flow itself): back to the start with
    /// the refusal as the customer's last error. Offer the browser sign-in
    /// ([`start_browser_sign_in`](Onboarding::start_browser_sign_in)).
    Blocked(Onboarding<Claimed>),
}

impl PollOutcome {
    /// Whether polling should go on (pending or slow down).
    pub fn is_pending(&self) -> bool {
        matches!(self, PollOutcome::Pending(_) | PollOutcome::SlowDown(_))
    }
}

impl TokenSet {
    /// A token set from a provider answer received at `now`.
    pub(crate) fn from_response(response: TokenResponse, now: time::OffsetDateTime) -> Self {
        TokenSet {
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            expires_at: now + response.expires_in,
            obtained_at: now,
            scope: response.scope,
        }
    }
}

pub(super) async fn issue<S: StageType>(
    from: Onboarding<S>,
    ports: &Ports,
) -> Result<Onboarding<DeviceCodeIssued>, Rejected<S>> {
    if from.customer.method != Method::DeviceCode {
        let actual = from.customer.method;
        return Err(from.reject(FlowError::WrongMethod {
            expected: Method::DeviceCode,
            actual,
        }));
    }
    let authorization: DeviceAuthorization =
        match ports.provider().device_authorization(&from.target()).await {
            Ok(a) => a,
            Err(error) => return Err(from.fail(ports, error).await),
        };
    let now = ports.clock().now();
    let interval = if !authorization.interval.is_zero() {
        authorization.interval
    } else {
        Duration::from_secs(5)
    };
    let stage = DeviceCodeIssued {
        device_code: authorization.device_code,
        user_code: authorization.user_code,
        verification_uri: authorization.verification_uri,
        verification_uri_complete: authorization.verification_uri_complete,
        message: authorization.message,
        issued_at: now,
        expires_at: now + authorization.expires_in,
        interval,
        next_poll_at: now + interval,
    };
    let customer = from.customer.clone();
    from.transition(ports, customer, stage, None).await
}

impl Onboarding<Claimed> {
    /// "Start authentication": asks the provider for a device code and user code.
    pub async fn start_device_code(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<DeviceCodeIssued>, Rejected<Claimed>> {
        let ports = ports.as_ref();
        issue(self, ports).await
    }
}

impl Onboarding<ApprovalRequested> {
    /// "Click here to continue the authentication process": after an administrator approved
    /// the application, the customer signs in once more with a new device code.
    pub async fn continue_authentication(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<Onboarding<DeviceCodeIssued>, Rejected<ApprovalRequested>> {
        let ports = ports.as_ref();
        issue(self, ports).await
    }
}

impl Onboarding<DeviceCodeIssued> {
    /// Makes exactly one token request and stores what it found. No hidden loop, and no
    /// retry inside the call: every token request for a device code is a poll (RFC 8628
    /// §3.5).
    ///
    /// Polling before [`next_poll_at`](DeviceCodeIssued::next_poll_at) is refused with
    /// [`FlowError::PollTooEarly`] and sends nothing. A device code past its expiry yields
    /// [`PollOutcome::Expired`] without a request.
    ///
    /// A poll that failed still moves `next_poll_at` on, by the interval or to the
    /// provider's `Retry-After` if that is later, and stores it (with the error as the
    /// customer's last error); the stage handed back in [`Rejected`] is the stored one. A
    /// passing fault (transport, 429, 5xx, an unreadable answer) is
    /// [`FlowError::PollFailed`], whose [`Action`](crate::error::Action) is to retry at that
    /// `next_poll_at`.
    pub async fn poll(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<PollOutcome, Rejected<DeviceCodeIssued>> {
        let ports = ports.as_ref();
        let now = ports.clock().now();
        if now < self.stage.next_poll_at {
            let next_poll_at = self.stage.next_poll_at;
            let retry_after = (next_poll_at - now).try_into().unwrap_or_default();
            return Err(self.reject(FlowError::PollTooEarly {
                next_poll_at,
                retry_after,
            }));
        }
        if now >= self.stage.expires_at {
            return self
                .back_to_claimed(ports, "device code expired")
                .await
                .map(PollOutcome::Expired);
        }
        let answer = ports
            .provider()
            .poll_device_code(&self.target(), &self.stage.device_code)
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(blocked @ ProviderError::ConditionalAccessBlocked(_)) => {
                return self
                    .blocked_by_policy(ports, blocked, "device-code")
                    .await
                    .map(PollOutcome::Blocked);
            }
            Err(error) => return Err(self.poll_failed(ports, error).await),
        };
        let now = ports.clock().now();
        match answer {
            DevicePoll::Pending => {
                let mut stage = self.stage.clone();
                stage.next_poll_at = now + stage.interval;
                let customer = self.customer.clone();
                self.save(ports, customer, stage)
                    .await
                    .map(PollOutcome::Pending)
            }
            DevicePoll::SlowDown => {
                let mut stage = self.stage.clone();
                stage.interval += SLOW_DOWN_STEP;
                stage.next_poll_at = now + stage.interval;
                let customer = self.customer.clone();
                self.save(ports, customer, stage)
                    .await
                    .map(PollOutcome::SlowDown)
            }
            DevicePoll::ApprovalRequested => {
                let customer = self.customer.clone();
                self.transition(
                    ports,
                    customer,
                    ApprovalRequested { requested_at: now },
                    None,
                )
                .await
                .map(PollOutcome::ApprovalRequested)
            }
            DevicePoll::ConsentRequired => super::consent::ask_admin_consent(self, ports)
                .await
                .map(PollOutcome::ConsentRequired),
            DevicePoll::Declined => self
                .back_to_claimed(ports, "the customer declined")
                .await
                .map(PollOutcome::Declined),
            DevicePoll::Expired => self
                .back_to_claimed(ports, "device code expired")
                .await
                .map(PollOutcome::Expired),
            DevicePoll::Granted(response) => {
                // A token of another tenant is not kept (issue 17, item 12).
                let tenant = &self.customer.tenant;
                if let Err(error) =
                    super::tenant::check_token_tenant(tenant, &response.access_token)
                {
                    return Err(self.fail(ports, error).await);
                }
                let mut customer = self.customer.clone();
                customer.token = Some(TokenSet::from_response(response, now));
                customer.device_authenticated_at = Some(now);
                super::note_success(&mut customer);
                self.transition(ports, customer, TokenAcquired, None)
                    .await
                    .map(PollOutcome::Authenticated)
            }
        }
    }

    /// Polls until the journey leaves [`DeviceCodeIssued`], waiting between polls with the
    /// engine's clock (so a [`ManualClock`](crate::testing::ManualClock) makes it instant).
    /// Never returns [`PollOutcome::Pending`] or [`PollOutcome::SlowDown`]; a provider error
    /// stops it and hands the stage back.
    ///
    /// # Cancel safety
    /// Dropping the future between polls loses nothing: every poll's result is stored before
    /// the next wait, and [`TenantAccess::load`](crate::TenantAccess::load) resumes the journey.
    pub async fn poll_until_done(
        self,
        ports: &impl AsRef<Ports>,
    ) -> Result<PollOutcome, Rejected<DeviceCodeIssued>> {
        let ports = ports.as_ref();
        let mut current = self;
        loop {
            ports.clock().sleep_until(current.stage.next_poll_at).await;
            match current.poll(ports).await? {
                PollOutcome::Pending(next) | PollOutcome::SlowDown(next) => current = next,
                done => return Ok(done),
            }
        }
    }

    /// A poll that went out and failed: the next one waits the interval, or the
    /// `Retry-After` if longer, and that time is stored.
    async fn poll_failed(self, ports: &Ports, error: ProviderError) -> Rejected<DeviceCodeIssued> {
        let now = ports.clock().now();
        let interval = self.stage.interval;
        let (wait, passing) = match &error {
            ProviderError::Throttled { retry_after }
            | ProviderError::Unavailable { retry_after, .. } => (
                retry_after.map_or(interval, |after| after.max(interval)),
                true,
            ),
            ProviderError::Transport(_) | ProviderError::InvalidResponse(_) => (interval, true),
            _ => (interval, false),
        };
        let mut stage = self.stage.clone();
        stage.next_poll_at = now + wait;
        let error: Error = if passing {
            FlowError::PollFailed {
                next_poll_at: stage.next_poll_at,
                after: wait,
                source: Box::new(error),
            }
            .into()
        } else {
            error.into()
        };
        self.fail_in(ports, error, stage).await
    }

    async fn back_to_claimed(
        self,
        ports: &Ports,
        note: &str,
    ) -> Result<Onboarding<Claimed>, Rejected<DeviceCodeIssued>> {
        let customer = self.customer.clone();
        self.transition(ports, customer, Claimed, Some(note.to_owned()))
            .await
    }
}
