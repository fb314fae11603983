//! The typestate journey: [`Onboarding<S>`], one type per stage, transitions that consume the
//! stage and return the next, and [`Rejected`], which hands the unchanged stage back.
//!
//! Transitions are written against the [`Ports`] (store, provider, mailer, clock, actor),
//! never the engine: each takes `&impl AsRef<Ports>`, which the engine gives.

mod advance;
mod any;
mod browser;
mod connection;
mod consent;
mod device;
mod invitation;
mod slot;
mod switch;
mod tenant;

/// The stage types live in [`model`](crate::model); they are re-exported beside the journey
/// they type.
pub use crate::model::{
    ApprovalRequested, BrowserSignIn, Claimed, ConsentRequired, DeviceCodeIssued, Expired,
    InvitationSent, Invited, ReauthRequired, Reinvitable, Resendable, Revocable, Revoked,
    SignInStart, Stage, StageKind, StageType, TokenAcquired, Validated,
};
pub use advance::{Advanced, Next, Step};
pub use any::{AnyOnboarding, OnboardingPage, WrongStage};
pub use browser::SignInOutcome;
pub use connection::RefreshOutcome;
pub(crate) use connection::ScopedRefresh;
pub(crate) use connection::{prove_token, renewal_failed};
pub use consent::Consented;
pub(crate) use consent::app_credentials;
pub use device::PollOutcome;

use std::fmt;

pub(crate) use slot::Slot;
use slot::{Beside, SWITCH_WRITE_RETRIES};

use crate::error::{Error, StoreError};
use crate::model::{Customer, CustomerId, JourneyId, PendingSwitch, Version};
use crate::ports::{Ports, Record, Target};

/// One customer's journey, in stage `S`: the customer's own, or the journey of a method
/// switch under way beside the connection it will replace ([`is_switch`](Self::is_switch)).
///
/// Transitions are methods that exist only on the stages they apply to: they consume the
/// value, store the next stage (compare-and-swap on the version), record an audit event and
/// return the next stage. On failure they return [`Rejected`], which holds this value
/// unchanged.
///
/// Values come only from the engine and the store: there is no public constructor, so a
/// stage cannot be forged.
pub struct Onboarding<S: StageType> {
    customer: Customer,
    stage: S,
    version: Version,
    slot: Slot,
}

impl<S: StageType> Onboarding<S> {
    /// The customer's facts (tenant, email, method, invitation, token, verification). For a
    /// method switch, the new method's facts.
    pub fn customer(&self) -> &Customer {
        &self.customer
    }

    /// The customer's id.
    pub fn id(&self) -> &CustomerId {
        &self.customer.id
    }

    /// This stage's data.
    pub fn stage(&self) -> &S {
        &self.stage
    }

    /// This stage's name.
    pub fn kind(&self) -> StageKind {
        S::KIND
    }

    /// The stored version of the customer's record this value was read or written at.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether this is the journey of a method switch (not the customer's own).
    pub fn is_switch(&self) -> bool {
        matches!(self.slot, Slot::Switch(_))
    }

    /// The random id of the method switch this journey is, if it is one.
    pub fn switch_journey(&self) -> Option<&JourneyId> {
        match &self.slot {
            Slot::Switch(beside) => Some(&beside.journey),
            Slot::Connection(_) => None,
        }
    }

    /// For the customer's own journey, the method switch under way beside it, if any.
    pub fn pending_switch(&self) -> Option<&PendingSwitch> {
        match &self.slot {
            Slot::Connection(switch) => switch.as_deref(),
            Slot::Switch(_) => None,
        }
    }

    /// The record a store keeps for this value.
    pub fn into_record(self) -> Record {
        let stage = self.stage.into_stage();
        self.slot.into_record(self.customer, stage, self.version)
    }

    pub(crate) fn from_parts(customer: Customer, stage: S, version: Version, slot: Slot) -> Self {
        Self {
            customer,
            stage,
            version,
            slot,
        }
    }

    /// The whole stored record as this value read it.
    pub(crate) fn clone_record(&self) -> Record {
        self.slot.clone().into_record(
            self.customer.clone(),
            self.stage.clone().into_stage(),
            self.version,
        )
    }

    pub(crate) fn target(&self) -> Target {
        Target {
            customer: self.customer.id.clone(),
            tenant: self.customer.tenant.clone(),
        }
    }

    pub(crate) fn reject(self, error: impl Into<Error>) -> Rejected<S> {
        Rejected {
            onboarding: Box::new(self),
            error: error.into(),
        }
    }

    /// The audit event of a step of this journey; a method switch's steps say so.
    pub(crate) fn event(
        &self,
        ports: &Ports,
        to: StageKind,
        note: Option<String>,
    ) -> crate::model::AuditEvent {
        let note = match (&self.slot, note) {
            (Slot::Connection(_), note) => note,
            (Slot::Switch(_), None) => Some(format!("method switch to {}", self.customer.method)),
            (Slot::Switch(_), Some(note)) => {
                Some(format!("method switch to {}: {note}", self.customer.method))
            }
        };
        ports.event(&self.customer.id, Some(S::KIND), to, note)
    }

    /// Stores `customer` in stage `next` (compare-and-swap on this value's version) with an
    /// audit event, and returns the new stage. On failure nothing is stored and `self` comes
    /// back inside the error.
    pub(crate) async fn transition<T: StageType>(
        self,
        ports: &Ports,
        customer: Customer,
        next: T,
        note: Option<String>,
    ) -> Result<Onboarding<T>, Rejected<S>> {
        let event = self.event(ports, T::KIND, note);
        let written = self.write(ports, customer, next, Some(event)).await?;
        tracing::info!(
            customer = %written.customer.id,
            from = %S::KIND,
            to = %T::KIND,
            switch = written.is_switch(),
            actor = %ports.actor(),
            "transition"
        );
        Ok(written)
    }

    /// Stores a change that keeps the stage (no audit event): a new poll time, a verification
    /// result. On failure `self` comes back unchanged.
    pub(crate) async fn save(
        self,
        ports: &Ports,
        customer: Customer,
        stage: S,
    ) -> Result<Onboarding<S>, Rejected<S>> {
        self.write(ports, customer, stage, None).await
    }

    /// Writes `customer` in stage `next` to this journey's part of the record, keeping the
    /// other part as it was read. A method switch's write that lost the compare-and-swap to
    /// a change of the connection beside it (a token refresh, a verification) is applied
    /// again to the newer record, as long as the switch itself has not moved.
    async fn write<T: StageType>(
        self,
        ports: &Ports,
        mut customer: Customer,
        next: T,
        event: Option<crate::model::AuditEvent>,
    ) -> Result<Onboarding<T>, Rejected<S>> {
        customer.updated_at = ports.clock().now();
        let mut record = self
            .slot
            .record_with(&customer, next.clone().into_stage(), self.version);
        let mut retries = 0;
        loop {
            // The connection's attention reasons, reassessed on the record as written: their
            // changes go into the outbox with the record, or not at all.
            let notices = ports.reassess(&mut record).unwrap_or_default();
            match ports
                .store()
                .update(&record, event.as_ref(), &notices)
                .await
            {
                Ok(version) => {
                    let Record {
                        customer: connection,
                        stage: connection_stage,
                        switch,
                        ..
                    } = record;
                    let (customer, slot) = match switch {
                        Some(switch) if self.is_switch() => (
                            customer,
                            Slot::Switch(Box::new(Beside {
                                journey: switch.journey,
                                version: switch.version,
                                connection,
                                connection_stage,
                            })),
                        ),
                        // The record's customer is this journey's, with its reasons.
                        switch => (connection, Slot::Connection(switch)),
                    };
                    return Ok(Onboarding::from_parts(customer, next, version, slot));
                }
                Err(StoreError::Conflict { .. })
                    if self.is_switch() && retries < SWITCH_WRITE_RETRIES =>
                {
                    retries += 1;
                    match ports.store().load(&customer.id).await {
                        Ok(Some(fresh)) if self.slot.same_switch(&fresh) => {
                            record.customer = fresh.customer;
                            record.stage = fresh.stage;
                            record.version = fresh.version;
                        }
                        Ok(_) => {
                            let actual = None;
                            let expected = self.version;
                            let id = customer.id.clone();
                            return Err(self.reject(StoreError::Conflict {
                                customer: id,
                                expected,
                                actual,
                            }));
                        }
                        Err(error) => return Err(self.reject(error)),
                    }
                }
                Err(error) => return Err(self.reject(error)),
            }
        }
    }

    /// A sign-in (device code or browser) that Conditional Access refused: back to
    /// [`Claimed`], the refusal kept as the customer's last error, so the other way of
    /// signing in can be offered.
    pub(crate) async fn blocked_by_policy(
        self,
        ports: &Ports,
        refusal: crate::error::ProviderError,
        sign_in: &str,
    ) -> Result<Onboarding<Claimed>, Rejected<S>> {
        let mut customer = self.customer.clone();
        let error = Error::from(refusal);
        note_failure(&mut customer, &error, ports.clock().now());
        let note = Some(format!("Conditional Access blocked the {sign_in} sign-in"));
        self.transition(ports, customer, Claimed, note).await
    }

    /// Rejects with `error`, first recording it as the customer's last error when the store
    /// allows (the returned stage is then the stored one, at its new version; otherwise it is
    /// `self` as it was).
    /// A refresh lease the journey held ends with the failure.
    pub(crate) async fn fail(self, ports: &Ports, error: impl Into<Error>) -> Rejected<S> {
        let stage = self.stage.clone();
        self.fail_in(ports, error, stage).await
    }

    /// [`fail`](Self::fail), keeping the stage as `stage` (a device-code poll's next poll
    /// time). When the store refuses, the stage handed back still carries `stage` (at the
    /// version read), so a caller cannot act on the old one.
    pub(crate) async fn fail_in(
        self,
        ports: &Ports,
        error: impl Into<Error>,
        stage: S,
    ) -> Rejected<S> {
        let error = error.into();
        let mut customer = self.customer.clone();
        note_failure(&mut customer, &error, ports.clock().now());
        customer.refresh_lease = None;
        match self.save(ports, customer, stage.clone()).await {
            Ok(saved) => saved.reject(error),
            Err(rejected) => {
                let mut onboarding = rejected.into_onboarding();
                onboarding.stage = stage;
                onboarding.reject(error)
            }
        }
    }
}

impl<S: StageType> fmt::Debug for Onboarding<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Onboarding")
            .field("customer", &self.customer)
            .field("stage", &self.stage)
            .field("version", &self.version)
            .field("switch_journey", &self.switch_journey())
            .finish()
    }
}

/// A transition that failed: the error, and the stage exactly as it was (nothing is lost).
///
/// `?` turns it into an [`Error`], dropping the stage; keep it with
/// [`into_onboarding`](Self::into_onboarding) to retry.
pub struct Rejected<S: StageType> {
    onboarding: Box<Onboarding<S>>,
    error: Error,
}

impl<S: StageType> Rejected<S> {
    /// Why the transition failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The unchanged stage, to retry or take another path.
    pub fn onboarding(&self) -> &Onboarding<S> {
        &self.onboarding
    }

    /// Takes the unchanged stage back.
    pub fn into_onboarding(self) -> Onboarding<S> {
        *self.onboarding
    }

    /// The stage and the error.
    pub fn into_parts(self) -> (Onboarding<S>, Error) {
        (*self.onboarding, self.error)
    }
}

impl<S: StageType> fmt::Debug for Rejected<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("stage", &S::KIND)
            .field("customer", &self.onboarding.customer.id)
            .field("error", &self.error)
            .finish()
    }
}

impl<S: StageType> fmt::Display for Rejected<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "customer {} stays in stage {}: {}",
            self.onboarding.customer.id,
            S::KIND,
            self.error
        )
    }
}

impl<S: StageType> std::error::Error for Rejected<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<S: StageType> From<Rejected<S>> for Error {
    fn from(rejected: Rejected<S>) -> Self {
        rejected.error
    }
}

/// Records `error` as the customer's last error and as a failed step of its health (with the
/// provider's codes and the attention reason they show).
pub(crate) fn note_failure(customer: &mut Customer, error: &Error, now: time::OffsetDateTime) {
    customer.last_error = Some(error.to_string());
    customer.health.failed(
        now,
        error.provider_codes().to_vec(),
        error.attention_reason(),
    );
}

/// Records a successful step: no last error, the failure streak ends.
pub(crate) fn note_success(customer: &mut Customer) {
    customer.last_error = None;
    customer.health.succeeded();
}
