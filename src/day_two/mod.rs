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
//!   method's journey runs (as `customer#switch`) while the old connection keeps serving; once
//!   validated it takes over in one write. [`cancel_switch`](crate::TenantAccess::cancel_switch)
//!   keeps the old one.
//! - The status report lives in [`report`](crate::report): rows, a table, CSV and JSON.

mod access;
mod cache;
mod maintain;
mod resource;
mod switch;
mod verify;

pub(crate) use cache::TokenCache;
pub use maintain::{Maintainer, MaintenancePolicy, PassReport};
pub(crate) use resource::ResourceCache;
pub use verify::{VerifyOutcome, VerifyProgress};

use crate::error::{Error, FlowError};
use crate::flow::StageKind;
use crate::ids::CustomerId;

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
    use crate::customer::Customer;
    use crate::flow::{AnyOnboarding, Stage, Validated};
    use crate::store::{MemoryStore, Record};
    use crate::{Config, Method, NewCustomer, TenantAccess, Version};

    fn engine() -> TenantAccess {
        TenantAccess::builder()
            .config(Config::new("https://portal.example.com").unwrap())
            .store(MemoryStore::new())
            .mailer(crate::mail::CaptureMailer::new())
            .provider(crate::provider::mock::MockProvider::new())
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
        let record = Record {
            customer: Customer::new(new, Method::DeviceCode, now),
            stage: Stage::Validated(Validated { validated_at: now }),
            version: Version::NEW,
        };
        let connected = || match AnyOnboarding::from_record(record.clone()) {
            AnyOnboarding::Validated(connected) => connected,
            other => panic!("{:?}", other.kind()),
        };
        let one = size_of(&connected().verify(&ta));
        let listed = crate::store::ListedConnection::from_record(&record);
        let in_run = size_of(&ta.verify_listed(listed, Default::default()));
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
