//! The typestate journey: [`Onboarding<S>`], one type per stage, transitions that consume the
//! stage and return the next, and [`Rejected`], which hands the unchanged stage back.
//!
//! Transitions are written against the [`Ports`] (store, provider, mailer, clock, actor),
//! never the engine: each takes `&impl AsRef<Ports>`, which the engine gives.

mod any;
mod connection;
mod consent;
mod device;
mod invitation;

/// The stage types live in [`model`](crate::model); they are re-exported beside the journey
/// they type.
pub use crate::model::{
    ApprovalRequested, Claimed, ConsentRequired, DeviceCodeIssued, Expired, InvitationSent,
    Invited, ReauthRequired, Reinvitable, Resendable, Revocable, Revoked, Stage, StageKind,
    StageType, TokenAcquired, Validated,
};
pub use any::{AnyOnboarding, OnboardingPage, WrongStage};
pub use connection::RefreshOutcome;
pub(crate) use connection::ScopedRefresh;
pub(crate) use connection::prove_token;
pub(crate) use consent::app_credentials;
pub use device::PollOutcome;

use std::fmt;

use crate::error::Error;
use crate::model::{Customer, CustomerId, Version};
use crate::ports::{Ports, Record, Target};

/// One customer's journey, in stage `S`.
///
/// Transitions are methods that exist only on the stages they apply to: they consume the
/// value, store the next stage (compare-and-swap on the version), record an audit event and
/// return the next stage. On failure they return [`Rejected`], which holds this value
/// unchanged.
pub struct Onboarding<S: StageType> {
    customer: Customer,
    stage: S,
    version: Version,
}

impl<S: StageType> Onboarding<S> {
    /// The customer's facts (tenant, email, method, invitation, token, verification).
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

    /// The stored version this value was read or written at.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The record a store keeps for this value.
    pub fn into_record(self) -> Record {
        Record {
            customer: self.customer,
            stage: self.stage.into_stage(),
            version: self.version,
        }
    }

    pub(crate) fn from_parts(customer: Customer, stage: S, version: Version) -> Self {
        Self {
            customer,
            stage,
            version,
        }
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

    /// Stores `customer` in stage `next` (compare-and-swap on this value's version) with an
    /// audit event, and returns the new stage. On failure nothing is stored and `self` comes
    /// back inside the error.
    pub(crate) async fn transition<T: StageType>(
        self,
        ports: &Ports,
        mut customer: Customer,
        next: T,
        note: Option<String>,
    ) -> Result<Onboarding<T>, Rejected<S>> {
        customer.updated_at = ports.clock().now();
        let event = ports.event(&customer.id, Some(S::KIND), T::KIND, note);
        let record = Record {
            customer,
            stage: next.into_stage(),
            version: self.version,
        };
        match ports.store().update(&record, Some(&event)).await {
            Ok(version) => {
                tracing::info!(
                    customer = %record.customer.id,
                    from = %S::KIND,
                    to = %T::KIND,
                    actor = %event.actor,
                    "transition"
                );
                let Record {
                    customer, stage, ..
                } = record;
                let stage = T::from_stage(stage).expect("the stage just wrapped");
                Ok(Onboarding::from_parts(customer, stage, version))
            }
            Err(error) => Err(self.reject(error)),
        }
    }

    /// Stores a change that keeps the stage (no audit event): a new poll time, a verification
    /// result. On failure `self` comes back unchanged.
    pub(crate) async fn save(
        self,
        ports: &Ports,
        mut customer: Customer,
        stage: S,
    ) -> Result<Onboarding<S>, Rejected<S>> {
        customer.updated_at = ports.clock().now();
        let record = Record {
            customer,
            stage: stage.into_stage(),
            version: self.version,
        };
        match ports.store().update(&record, None).await {
            Ok(version) => {
                let Record {
                    customer, stage, ..
                } = record;
                let stage = S::from_stage(stage).expect("the stage just wrapped");
                Ok(Onboarding::from_parts(customer, stage, version))
            }
            Err(error) => Err(self.reject(error)),
        }
    }

    /// Rejects with `error`, first recording it as the customer's last error when the store
    /// allows (the returned stage is then the stored one, at its new version; otherwise it is
    /// `self` as it was).
    /// A refresh lease the journey held ends with the failure.
    pub(crate) async fn fail(self, ports: &Ports, error: impl Into<Error>) -> Rejected<S> {
        let error = error.into();
        let mut customer = self.customer.clone();
        customer.last_error = Some(error.to_string());
        customer.refresh_lease = None;
        let stage = self.stage.clone();
        match self.save(ports, customer, stage).await {
            Ok(saved) => saved.reject(error),
            Err(rejected) => rejected.into_onboarding().reject(error),
        }
    }
}

impl<S: StageType> fmt::Debug for Onboarding<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Onboarding")
            .field("customer", &self.customer)
            .field("stage", &self.stage)
            .field("version", &self.version)
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
