//! [`AnyOnboarding`]: a journey in whichever stage the store says, to match on.

use std::fmt;

use super::Onboarding;
use crate::error::{Error, FlowError};
use crate::model::Customer;
use crate::model::*;
use crate::model::{CustomerId, Version};
use crate::ports::{Filter, PageRequest, Ports, Record};

macro_rules! any_onboarding {
    ($($name:ident),* $(,)?) => {
        /// A journey loaded from the store, in whichever stage it is. Match on it to get the
        /// typed [`Onboarding`] back, or ask for one stage with
        /// [`try_into_stage`](Self::try_into_stage).
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum AnyOnboarding {
            $(
                #[doc = concat!("In stage [`", stringify!($name), "`].")]
                $name(Onboarding<$name>),
            )*
        }

        impl AnyOnboarding {
            /// Wraps a stored record.
            pub fn from_record(record: Record) -> Self {
                let Record { customer, stage, version } = record;
                match stage {
                    $(Stage::$name(s) => AnyOnboarding::$name(Onboarding::from_parts(customer, s, version)),)*
                }
            }

            /// The record a store keeps for it.
            pub fn into_record(self) -> Record {
                match self {
                    $(AnyOnboarding::$name(o) => o.into_record(),)*
                }
            }

            /// The stage's name.
            pub fn kind(&self) -> StageKind {
                match self {
                    $(AnyOnboarding::$name(_) => StageKind::$name,)*
                }
            }

            /// The customer's facts.
            pub fn customer(&self) -> &Customer {
                match self {
                    $(AnyOnboarding::$name(o) => o.customer(),)*
                }
            }

            /// The stored version.
            pub fn version(&self) -> Version {
                match self {
                    $(AnyOnboarding::$name(o) => o.version(),)*
                }
            }
        }

        $(
            impl From<Onboarding<$name>> for AnyOnboarding {
                fn from(o: Onboarding<$name>) -> Self {
                    AnyOnboarding::$name(o)
                }
            }
        )*
    };
}

any_onboarding!(
    Invited,
    InvitationSent,
    Claimed,
    DeviceCodeIssued,
    ApprovalRequested,
    ConsentRequired,
    TokenAcquired,
    Validated,
    ReauthRequired,
    Revoked,
    Expired,
);

impl AnyOnboarding {
    /// The customer's id.
    pub fn id(&self) -> &CustomerId {
        &self.customer().id
    }

    /// The journey as stage `S`, or the journey back inside the error if it is in another one.
    ///
    /// ```
    /// # async fn f(ports: tenant_access::TenantAccess, id: tenant_access::CustomerId) -> Result<(), tenant_access::Error> {
    /// use tenant_access::journey::Validated;
    /// let connected = ports.load(&id).await?.try_into_stage::<Validated>()?;
    /// # Ok(()) }
    /// ```
    pub fn try_into_stage<S: StageType>(self) -> Result<Onboarding<S>, WrongStage> {
        if self.kind() != S::KIND {
            return Err(WrongStage {
                expected: S::KIND,
                found: Box::new(self),
            });
        }
        let Record {
            customer,
            stage,
            version,
        } = self.into_record();
        let stage = S::from_stage(stage).expect("kind checked above");
        Ok(Onboarding::from_parts(customer, stage, version))
    }
}

/// [`AnyOnboarding::try_into_stage`] found another stage; the journey is inside.
pub struct WrongStage {
    /// The stage asked for.
    pub expected: StageKind,
    /// The journey as it is.
    pub found: Box<AnyOnboarding>,
}

impl fmt::Debug for WrongStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrongStage")
            .field("expected", &self.expected)
            .field("found", &self.found.kind())
            .finish()
    }
}

impl fmt::Display for WrongStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "customer {} is in stage {}, not {}",
            self.found.id(),
            self.found.kind(),
            self.expected
        )
    }
}

impl std::error::Error for WrongStage {}

impl From<WrongStage> for Error {
    fn from(w: WrongStage) -> Self {
        Error::Flow(FlowError::UnexpectedStage {
            expected: w.expected,
            actual: w.found.kind(),
        })
    }
}
/// One page of journeys from [`TenantAccess::list`](crate::TenantAccess::list).
#[derive(Debug)]
pub struct OnboardingPage {
    /// The journeys, in customer-id order.
    pub items: Vec<AnyOnboarding>,
    /// The request for the next page, if there may be more.
    pub next: Option<PageRequest>,
}

impl Ports {
    /// Loads a customer's journey in whatever stage it is; match on it to get the typed stage.
    pub(crate) async fn load(&self, customer: &CustomerId) -> Result<AnyOnboarding, Error> {
        match self.store().load(customer).await? {
            Some(record) => Ok(AnyOnboarding::from_record(record)),
            None => Err(FlowError::NotFound(customer.clone()).into()),
        }
    }

    /// One page of journeys matching `filter`.
    pub(crate) async fn list(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<OnboardingPage, Error> {
        let page = self.store().list(filter, page).await?;
        Ok(OnboardingPage {
            items: page
                .records
                .into_iter()
                .map(AnyOnboarding::from_record)
                .collect(),
            next: page.next,
        })
    }
}
