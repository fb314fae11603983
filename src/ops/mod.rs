//! Day Two: what a portal calls every day once customers are connected.
//!
//! - [`TenantAccess::access_token`](crate::TenantAccess::access_token): a valid access token,
//!   refreshed ahead of expiry, one refresh per customer at a time in this process and
//!   compare-and-swap across replicas; no store round trip while the cached token is valid.
//! - [`TenantAccess::access_token_for`](crate::TenantAccess::access_token_for): a token for
//!   another resource from the same refresh token, where the provider allows it.
//! - [`TenantAccess::refresh_now`](crate::TenantAccess::refresh_now): refresh one customer now.
//! - [`TenantAccess::verify`](crate::TenantAccess::verify) and
//!   [`TenantAccess::verify_all`](crate::TenantAccess::verify_all): prove connections with
//!   bounded concurrency, honouring the provider's `Retry-After` for the whole run.
//! - [`TenantAccess::maintenance_pass`](crate::TenantAccess::maintenance_pass) and
//!   [`TenantAccess::spawn_maintainer`](crate::TenantAccess::spawn_maintainer): refresh tokens
//!   before they expire and re-verify on a schedule, with graceful shutdown.
//! - [`TenantAccess::switch_to_device_code`](crate::TenantAccess::switch_to_device_code),
//!   [`switch_to_password`](crate::TenantAccess::switch_to_password) and
//!   [`switch_to_app_registration`](crate::TenantAccess::switch_to_app_registration): a new
//!   method's journey runs, kept in the customer's record beside the old connection, which
//!   keeps serving; once validated it takes over in one write. [`cancel_switch`](crate::TenantAccess::cancel_switch)
//!   keeps the old one.
//! - The status report: [`StatusReport`], its [`StatusRow`]s and [`PendingSwitchStatus`], as a
//!   table, CSV and JSON, and the customers whose records could not be read.
//!
//! - Bulk onboarding ([`bulk`]): many invitations from one CSV file, every row checked before
//!   anything is created, mail sending paced, and a report of what was created and refused.
//!
//! Day Two is written against the [`journey`](crate::journey) and the [`Ports`]; the engine
//! is a thin facade over it.

mod access;
pub mod bulk;
mod cache;
mod health;
mod maintain;
mod report;
mod resource;
mod switch;
mod verify;

pub use health::{DispatchReport, HealthReport};
pub use maintain::{Maintainer, MaintenancePolicy, PassReport};
pub use report::{PendingSwitchStatus, StatusReport, StatusRow};
pub use verify::{VerifyOutcome, VerifyProgress};

use std::ops::Deref;
use std::sync::Arc;

use cache::TokenCache;

use crate::error::{Error, FlowError};
use crate::model::{Actor, CustomerId, StageKind};
use crate::ports::Ports;

/// Day Two over one set of ports: the token cache, the engine instance's id, and every
/// operation a portal runs on connected customers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct DayTwo {
    ports: Ports,
    shared: Arc<Shared>,
}

/// What every clone of one [`DayTwo`] shares.
struct Shared {
    tokens: TokenCache,
    instance: String,
}

impl DayTwo {
    /// Day Two over `ports`, with an empty token cache and a fresh random instance id. The
    /// cache drops a customer's tokens when the journey replaces or ends its connection.
    pub(crate) fn new(ports: Ports) -> Self {
        let shared = Arc::new(Shared {
            tokens: TokenCache::default(),
            instance: new_instance_id(),
        });
        let cache = Arc::clone(&shared);
        let renewing = Arc::clone(&shared);
        let ports = ports
            .on_connection_changed(Arc::new(move |customer: &CustomerId| {
                cache.tokens.forget(customer);
            }))
            // A verification renews an expired or refused token through this Day Two's single
            // flight and lease. The hook holds the shared part only, never the ports (which
            // hold the hook): it gets them, with their actor, from its caller.
            .on_renew_token(Arc::new(
                move |ports: &Ports, customer: &CustomerId, old| {
                    let day_two = DayTwo {
                        ports: ports.clone(),
                        shared: Arc::clone(&renewing),
                    };
                    let customer = customer.clone();
                    Box::pin(async move {
                        day_two
                            .renew_token(&customer, old)
                            .await
                            .map(crate::Onboarding::into_record)
                    })
                },
            ));
        Self { ports, shared }
    }

    /// The same Day Two (same token cache), recording `actor` in audit events.
    pub(crate) fn acting_as(&self, actor: Actor) -> Self {
        Self {
            ports: self.ports.acting_as(actor),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The ports.
    pub(crate) fn ports(&self) -> &Ports {
        &self.ports
    }

    /// This instance's random id: the holder named in the refresh leases it takes.
    pub(crate) fn instance_id(&self) -> &str {
        &self.shared.instance
    }

    fn tokens(&self) -> &TokenCache {
        &self.shared.tokens
    }

    /// Forgets every cached token of `customer`, its own and those for other scopes.
    pub(crate) fn forget_tokens(&self, customer: &CustomerId) {
        self.tokens().forget(customer);
    }
}

impl Deref for DayTwo {
    type Target = Ports;

    fn deref(&self) -> &Ports {
        &self.ports
    }
}

impl AsRef<Ports> for DayTwo {
    fn as_ref(&self) -> &Ports {
        &self.ports
    }
}

/// A random id for one engine instance: 64 bits from the OS, hex.
fn new_instance_id() -> String {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the OS random source is unavailable");
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// The error for a Day Two call on a customer whose journey is not connected.
fn not_connected(customer: &CustomerId, stage: StageKind) -> Error {
    FlowError::NotConnected {
        customer: customer.clone(),
        stage,
    }
    .into()
}

/// The hot paths' futures: a caller pins, boxes or spawns them, which copies all of them.
#[cfg(test)]
mod future_sizes {
    use crate::journey::{AnyOnboarding, Stage, Validated};
    use crate::model::Customer;
    use crate::ports::Record;
    use crate::store::MemoryStore;
    use crate::{Config, Method, NewCustomer, TenantAccess};

    fn engine() -> TenantAccess {
        TenantAccess::builder()
            .config(Config::new("https://portal.example.com").unwrap())
            .store(MemoryStore::new())
            .mailer(crate::testing::CaptureMailer::new())
            .provider(crate::testing::mock::MockProvider::new())
            .build()
            .unwrap()
    }

    fn size_of<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// verify_all keeps `concurrency` of these in flight and moves each once into its box:
    /// they must not grow back to the 5-8 KB they were before the arguments stopped being
    /// held twice and the failure paths were boxed.
    #[test]
    fn verification_futures_stay_small() {
        let ta = engine();
        let new = NewCustomer::new("contoso", "contoso.com", "admin@contoso.com").unwrap();
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let record = Record::new(
            Customer::new(new, Method::DeviceCode, now),
            Stage::Validated(Validated { validated_at: now }),
        );
        let connected = || match AnyOnboarding::from_record(record.clone()) {
            AnyOnboarding::Validated(connected) => connected,
            other => panic!("{:?}", other.kind()),
        };
        let one = size_of(&connected().verify(&ta));
        let listed = crate::ports::ListedConnection::from_record(&record);
        let day_two = super::DayTwo::new(ta.ports().clone());
        let in_run = size_of(&day_two.verify_listed(listed, Default::default()));
        assert!(one <= 2048, "Onboarding::verify's future is {one} bytes");
        assert!(in_run <= 1024, "a verify_all task is {in_run} bytes");
    }

    /// A cached `access_token` is the hot path: a caller pinning or spawning its future copies
    /// all of it, so the refresh path is boxed and the future stays a few words (it was
    /// kilobytes, and copying them cost more than the lookup).
    #[test]
    fn the_access_token_future_is_a_few_words() {
        let ta = engine();
        let id = crate::CustomerId::new("contoso").unwrap();
        let scopes = crate::Scopes::new(["https://management.azure.com/.default"]).unwrap();
        let plain = size_of(&ta.access_token(&id));
        let scoped = size_of(&ta.access_token_for(&id, &scopes));
        assert!(plain <= 128, "access_token's future is {plain} bytes");
        assert!(scoped <= 192, "access_token_for's future is {scoped} bytes");
    }
}
