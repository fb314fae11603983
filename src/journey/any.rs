//! [`AnyOnboarding`]: a journey in whichever stage the store says, to match on.

use std::fmt;

use super::Onboarding;
use super::slot::{Beside, Slot};
use crate::error::{Error, FlowError};
use crate::model::Customer;
use crate::model::*;
use crate::model::{CustomerId, Version};
use crate::ports::{Filter, PageRequest, Ports, Record, Unreadable};

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
            /// The customer's own journey in a stored record.
            pub(crate) fn from_record(record: Record) -> Self {
                let Record { customer, stage, version, switch } = record;
                let slot = Slot::Connection(switch);
                match stage {
                    $(Stage::$name(s) => AnyOnboarding::$name(Onboarding::from_parts(customer, s, version, slot)),)*
                }
            }

            /// The journey of the method switch under way in a stored record, if any.
            pub(crate) fn switch_from_record(record: Record) -> Option<Self> {
                let Record { customer: connection, stage: connection_stage, version, switch } = record;
                let PendingSwitch { journey, version: switch_version, customer, stage } = *switch?;
                let slot = Slot::Switch(Box::new(Beside {
                    journey,
                    version: switch_version,
                    connection,
                    connection_stage,
                }));
                Some(match stage {
                    $(Stage::$name(s) => AnyOnboarding::$name(Onboarding::from_parts(customer, s, version, slot)),)*
                })
            }

            /// For the customer's own journey, the method switch under way beside it, if any.
            pub fn pending_switch(&self) -> Option<&PendingSwitch> {
                match self {
                    $(AnyOnboarding::$name(o) => o.pending_switch(),)*
                }
            }

            /// Whether this is the journey of a method switch.
            pub fn is_switch(&self) -> bool {
                match self {
                    $(AnyOnboarding::$name(o) => o.is_switch(),)*
                }
            }

            /// The random id of the method switch this journey is, if it is one.
            pub fn switch_journey(&self) -> Option<&JourneyId> {
                match self {
                    $(AnyOnboarding::$name(o) => o.switch_journey(),)*
                }
            }

            /// The journey as stage `S`, or the journey back inside the error if it is in
            /// another one.
            ///
            /// ```
            /// # async fn f(ta: tenant_access::TenantAccess, id: tenant_access::CustomerId) -> Result<(), tenant_access::Error> {
            /// use tenant_access::journey::Validated;
            /// let connected = ta.load(&id).await?.try_into_stage::<Validated>()?;
            /// # Ok(()) }
            /// ```
            pub fn try_into_stage<S: StageType>(self) -> Result<Onboarding<S>, WrongStage> {
                if self.kind() != S::KIND {
                    return Err(WrongStage {
                        expected: S::KIND,
                        found: Box::new(self),
                    });
                }
                Ok(match self {
                    $(AnyOnboarding::$name(o) => retype(o),)*
                })
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
    BrowserSignIn,
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
}

/// The same journey, typed as `T` (its stage is `T`: the caller checked the kind).
fn retype<S: StageType, T: StageType>(o: Onboarding<S>) -> Onboarding<T> {
    let Onboarding {
        customer,
        stage,
        version,
        slot,
    } = o;
    let stage = T::from_stage(stage.into_stage()).expect("the kind was checked");
    Onboarding::from_parts(customer, stage, version, slot)
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
    /// The customers of this page whose records could not be read (with why, and
    /// [`Unreadable::action`]): listed beside the others instead of failing the page.
    pub unreadable: Vec<Unreadable>,
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
            unreadable: page.unreadable,
            next: page.next,
        })
    }
}
