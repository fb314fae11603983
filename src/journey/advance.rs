//! One step for stateless handlers: [`AnyOnboarding::advance`] takes the step that is due now
//! (one poll once its interval has passed, validation once a token arrived, expiry of an
//! invitation whose time ran out) and says when to come back. The web wizard uses it, and so
//! can any integrator's handler; nobody re-implements "what is due" elsewhere.

use time::OffsetDateTime;

use super::{AnyOnboarding, PollOutcome};
use crate::error::{Error, FlowError, StoreError};
use crate::model::{CustomerId, JourneyId};
use crate::ports::Ports;

/// What [`AnyOnboarding::advance`] (or [`TenantAccess::advance`](crate::TenantAccess::advance))
/// did, the journey as stored afterwards, and when to call again.
#[derive(Debug)]
pub struct Advanced {
    /// The journey as it stands now.
    pub journey: AnyOnboarding,
    /// The step taken.
    pub step: Step,
    /// When another step may be due.
    pub next: Next,
}

/// The step [`AnyOnboarding::advance`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Nothing was due (or another caller took the step first: the journey is as stored).
    Nothing,
    /// One poll: the customer has not finished signing in.
    Polled,
    /// One poll: the provider asked to slow down; the interval grew.
    SlowedDown,
    /// One poll: the customer asked an administrator to approve the application.
    ApprovalRequested,
    /// One poll: the customer signed in, but an administrator must consent first (the
    /// journey waits in [`ConsentRequired`](crate::model::ConsentRequired) with the URL).
    ConsentRequired,
    /// One poll: the customer signed in; a token was acquired (validating it is due now).
    Authenticated,
    /// The device code expired before the customer signed in: back to the start.
    DeviceCodeExpired,
    /// The customer declined at the sign-in page: back to the start.
    Declined,
    /// One poll: a Conditional Access policy blocked the device-code sign-in: back to the
    /// start, where the browser sign-in may pass.
    Blocked,
    /// A browser sign-in's time ran out before the customer came back: back to the start.
    SignInExpired,
    /// The token was proven with one real call: the connection is validated (for a method
    /// switch, it took over the customer's connection).
    Validated,
    /// The invitation's time ran out: the journey is [`Expired`](crate::model::Expired).
    InvitationExpired,
}

/// When [`AnyOnboarding::advance`] may have something to do again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// A step is due at once (a token waits to be validated).
    Now,
    /// Call again at this moment (the next device-code poll).
    At(OffsetDateTime),
    /// Nothing is due until someone acts: the customer (open the link, start, continue), an
    /// administrator (consent), or the MSP (send, resend, reinvite).
    Waiting,
}

impl Next {
    /// When the journey next has something due, for the stage it is in.
    fn for_journey(journey: &AnyOnboarding) -> Self {
        match journey {
            AnyOnboarding::DeviceCodeIssued(device) => Next::At(device.stage().next_poll_at),
            AnyOnboarding::BrowserSignIn(browser) => Next::At(browser.stage().expires_at),
            AnyOnboarding::TokenAcquired(_) => Next::Now,
            _ => Next::Waiting,
        }
    }
}

impl From<PollOutcome> for AnyOnboarding {
    fn from(outcome: PollOutcome) -> Self {
        match outcome {
            PollOutcome::Pending(o) | PollOutcome::SlowDown(o) => o.into(),
            PollOutcome::ApprovalRequested(o) => o.into(),
            PollOutcome::ConsentRequired(o) => o.into(),
            PollOutcome::Authenticated(o) => o.into(),
            PollOutcome::Expired(o) | PollOutcome::Declined(o) | PollOutcome::Blocked(o) => {
                o.into()
            }
        }
    }
}

impl AnyOnboarding {
    /// Takes the one step that is due now, stores it, and says when to come back:
    ///
    /// - an invitation whose time ran out (while the journey waits for the customer) expires;
    /// - [`DeviceCodeIssued`](crate::model::DeviceCodeIssued) once
    ///   [`next_poll_at`](crate::model::DeviceCodeIssued::next_poll_at) has passed on the
    ///   engine's clock: exactly one poll (never earlier, so a portal calling this on every
    ///   request never polls too often);
    /// - [`BrowserSignIn`](crate::model::BrowserSignIn) past its
    ///   [`expires_at`](crate::model::BrowserSignIn::expires_at): back to
    ///   [`Claimed`](crate::model::Claimed) (the redirect back itself is
    ///   [`TenantAccess::complete_sign_in`](crate::TenantAccess::complete_sign_in), never a
    ///   step of its own);
    /// - [`TokenAcquired`](crate::model::TokenAcquired): validation (for a method switch, the
    ///   take-over);
    /// - anything else: nothing.
    ///
    /// If another replica or tab took the step first (a compare-and-swap conflict), the
    /// journey is read again and returned as stored, with [`Step::Nothing`]. A failed step
    /// returns the error, whose [`Action`](crate::Action) says what to do; the stored record
    /// is as it was.
    pub async fn advance(self, ports: &impl AsRef<Ports>) -> Result<Advanced, Error> {
        let ports = ports.as_ref();
        let now = ports.clock().now();
        let switch = self.switch_journey().cloned();
        let id = self.id().clone();
        let invitation_over = self
            .customer()
            .invitation
            .as_ref()
            .is_some_and(|i| now >= i.expires_at);
        if invitation_over && self.kind().accepts_invitation_link() {
            let journey = ports.expire(self).await;
            return settle(
                ports,
                &id,
                switch.as_ref(),
                journey,
                Step::InvitationExpired,
            )
            .await;
        }
        match self {
            AnyOnboarding::DeviceCodeIssued(device) if now >= device.stage().next_poll_at => {
                let outcome = device.poll(ports).await.map_err(Error::from);
                let step = match &outcome {
                    Ok(PollOutcome::Pending(_)) => Step::Polled,
                    Ok(PollOutcome::SlowDown(_)) => Step::SlowedDown,
                    Ok(PollOutcome::ApprovalRequested(_)) => Step::ApprovalRequested,
                    Ok(PollOutcome::ConsentRequired(_)) => Step::ConsentRequired,
                    Ok(PollOutcome::Authenticated(_)) => Step::Authenticated,
                    Ok(PollOutcome::Expired(_)) => Step::DeviceCodeExpired,
                    Ok(PollOutcome::Declined(_)) => Step::Declined,
                    Ok(PollOutcome::Blocked(_)) => Step::Blocked,
                    Err(_) => Step::Nothing,
                };
                settle(ports, &id, switch.as_ref(), outcome.map(Into::into), step).await
            }
            AnyOnboarding::BrowserSignIn(browser) if now >= browser.stage().expires_at => {
                let abandoned = browser.abandon(ports).await;
                let journey = abandoned.map(Into::into).map_err(Error::from);
                settle(ports, &id, switch.as_ref(), journey, Step::SignInExpired).await
            }
            AnyOnboarding::TokenAcquired(token) => {
                let validated = token.validate(ports).await.map(Into::into);
                settle(
                    ports,
                    &id,
                    switch.as_ref(),
                    validated.map_err(Error::from),
                    Step::Validated,
                )
                .await
            }
            other => {
                let next = Next::for_journey(&other);
                Ok(Advanced {
                    journey: other,
                    step: Step::Nothing,
                    next,
                })
            }
        }
    }
}

/// The result of a step: the journey it stored, or, when another writer came first, the
/// journey as stored now.
async fn settle(
    ports: &Ports,
    customer: &CustomerId,
    switch: Option<&JourneyId>,
    stepped: Result<AnyOnboarding, Error>,
    step: Step,
) -> Result<Advanced, Error> {
    match stepped {
        Ok(journey) => {
            let next = Next::for_journey(&journey);
            Ok(Advanced {
                journey,
                step,
                next,
            })
        }
        Err(Error::Store(StoreError::Conflict { .. })) => {
            let journey = ports.load_journey(customer, switch).await?;
            let next = Next::for_journey(&journey);
            Ok(Advanced {
                journey,
                step: Step::Nothing,
                next,
            })
        }
        Err(error) => Err(error),
    }
}

impl Ports {
    /// The customer's own journey (`switch` is `None`), or the method switch with that id.
    /// Fails with [`FlowError::NotFound`] for an unknown customer and with
    /// [`FlowError::NoSwitchInProgress`] when that switch is no longer under way (it was
    /// cancelled or took over).
    pub(crate) async fn load_journey(
        &self,
        customer: &CustomerId,
        switch: Option<&JourneyId>,
    ) -> Result<AnyOnboarding, Error> {
        let Some(wanted) = switch else {
            return self.load(customer).await;
        };
        let record = self
            .store()
            .load(customer)
            .await?
            .ok_or_else(|| FlowError::NotFound(customer.clone()))?;
        AnyOnboarding::switch_from_record(record)
            .filter(|journey| journey.switch_journey() == Some(wanted))
            .ok_or_else(|| FlowError::NoSwitchInProgress(customer.clone()).into())
    }

    /// [`TenantAccess::advance`](crate::TenantAccess::advance).
    pub(crate) async fn advance(
        &self,
        customer: &CustomerId,
        switch: Option<&JourneyId>,
    ) -> Result<Advanced, Error> {
        self.load_journey(customer, switch)
            .await?
            .advance(self)
            .await
    }
}
