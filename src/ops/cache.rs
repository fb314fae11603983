//! The per-process access-token cache behind
//! [`TenantAccess::access_token`](crate::TenantAccess::access_token).
//!
//! The cached-hit path is what a portal pays on every Graph call it makes for a customer, so
//! it is laid out to touch as little memory as possible:
//!
//! - the map is split into shards, each behind its own cache-line-aligned `RwLock`, so
//!   concurrent readers on different cores rarely share a lock word;
//! - a shard's entry is 32 bytes (the id's text, the token's `Arc` and the expiry as Unix
//!   nanoseconds), so one lookup reads one control group and one bucket line;
//! - the hash is the one the [`CustomerId`] carries (computed once, when the id was made, with
//!   a per-process seed): a lookup reads neither the id's text nor a hasher; the same hash
//!   picks the shard and the bucket;
//! - ids compare by pointer first (`Arc<str>`), so an id cloned from the store is never
//!   dereferenced to compare;
//! - a hit clones the token's `Arc` (no string copy) and compares one `i64`.
//!
//! What remains at large sizes is memory latency: the bucket and the token's reference count
//! are each one cache line (and one page) that may not be in the CPU cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::HashTable;

use time::OffsetDateTime;

use crate::model::AccessToken;
use crate::model::CustomerId;

/// Shards of the token map (a power of two).
const SHARDS: usize = 64;

type Map = HashTable<Cached>;

/// One shard, alone on its cache line(s) so readers on other shards never share its lock word.
#[repr(align(128))]
#[derive(Default)]
struct Shard(RwLock<Map>);

/// A cached token and the moment it expires.
struct Cached {
    /// The id's text (its hash is the table's).
    customer: Arc<str>,
    /// `expires_at` as Unix nanoseconds: one integer compare on the hot path.
    expires_ns: i64,
    token: AccessToken,
}

/// Whether a cached entry's id is `customer`: by pointer first (an id cloned from the store
/// shares its text), by text otherwise.
fn same_text(cached: &Arc<str>, customer: &CustomerId) -> bool {
    let text = customer.shared_text();
    Arc::ptr_eq(cached, text) || **cached == **text
}

/// Unix nanoseconds, saturating (tokens never expire outside ±292 years of 1970).
fn unix_ns(at: OffsetDateTime) -> i64 {
    saturate(at.unix_timestamp_nanos())
}

fn saturate(ns: i128) -> i64 {
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// Access tokens known to this process, and one lock per customer so concurrent callers share
/// a single refresh.
pub(crate) struct TokenCache {
    shards: Box<[Shard]>,
    flights: Mutex<HashMap<CustomerId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            flights: Mutex::default(),
        }
    }
}

impl TokenCache {
    /// The id's hash, and the shard it lives in. The shard takes bits 32..38: the table inside
    /// uses the low bits for the bucket and the top seven as tags, so these stay independent.
    fn locate(&self, customer: &CustomerId) -> (u64, &RwLock<Map>) {
        let hash = customer.precomputed_hash();
        (hash, &self.shards[(hash >> 32) as usize % SHARDS].0)
    }

    /// The cached token if it is still valid at `fresh_until`.
    pub(crate) fn fresh(
        &self,
        customer: &CustomerId,
        fresh_until: OffsetDateTime,
    ) -> Option<AccessToken> {
        self.fresh_ns(customer, unix_ns(fresh_until))
    }

    /// The cached token if it is still valid `margin` after `now_ns` (Unix nanoseconds, as
    /// [`Clock::now_unix_nanos`](crate::ports::Clock::now_unix_nanos) gives): the hot path,
    /// with no calendar arithmetic.
    pub(crate) fn fresh_at(
        &self,
        customer: &CustomerId,
        now_ns: i128,
        margin: std::time::Duration,
    ) -> Option<AccessToken> {
        let margin = i128::try_from(margin.as_nanos()).unwrap_or(i128::MAX);
        self.fresh_ns(customer, saturate(now_ns.saturating_add(margin)))
    }

    fn fresh_ns(&self, customer: &CustomerId, fresh_until: i64) -> Option<AccessToken> {
        let (hash, shard) = self.locate(customer);
        let shard = shard.read().unwrap_or_else(|e| e.into_inner());
        match shard.find(hash, |c| same_text(&c.customer, customer)) {
            Some(c) if c.expires_ns > fresh_until => Some(c.token.clone()),
            _ => None,
        }
    }

    /// Caches `token` for `customer` until `expires_at`.
    pub(crate) fn put(
        &self,
        customer: &CustomerId,
        token: AccessToken,
        expires_at: OffsetDateTime,
    ) {
        let expires_ns = unix_ns(expires_at);
        let (hash, shard) = self.locate(customer);
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        match shard.entry(
            hash,
            |c| same_text(&c.customer, customer),
            |c| crate::model::id_hash(&c.customer),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                let cached = slot.get_mut();
                cached.expires_ns = expires_ns;
                cached.token = token;
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(Cached {
                    customer: Arc::clone(customer.shared_text()),
                    expires_ns,
                    token,
                });
            }
        }
    }

    /// Drops the cached token of `customer`.
    pub(crate) fn forget(&self, customer: &CustomerId) {
        let (hash, shard) = self.locate(customer);
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        if let Ok(slot) = shard.find_entry(hash, |c| same_text(&c.customer, customer)) {
            slot.remove();
        }
    }

    /// The lock one refresh of `customer` holds.
    pub(crate) fn flight(&self, customer: &CustomerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(flights.entry(customer.clone()).or_default())
    }

    /// How many tokens are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    fn id(s: &str) -> CustomerId {
        CustomerId::new(s).unwrap()
    }

    #[test]
    fn a_hit_is_the_token_until_the_deadline() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        cache.put(
            &id("contoso"),
            AccessToken::new("t1"),
            at + Duration::hours(1),
        );
        let hit = cache.fresh(&id("contoso"), at).unwrap();
        assert_eq!(hit.expose_secret(), "t1");
        // One nanosecond before expiry is fresh; at expiry it is not.
        assert!(
            cache
                .fresh(
                    &id("contoso"),
                    at + Duration::hours(1) - Duration::nanoseconds(1)
                )
                .is_some()
        );
        assert!(
            cache
                .fresh(&id("contoso"), at + Duration::hours(1))
                .is_none()
        );
        assert!(cache.fresh(&id("fabrikam"), at).is_none());
    }

    #[test]
    fn put_replaces_and_forget_removes() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        cache.put(&id("contoso"), AccessToken::new("t1"), at);
        cache.put(
            &id("contoso"),
            AccessToken::new("t2"),
            at + Duration::hours(1),
        );
        assert_eq!(
            cache.fresh(&id("contoso"), at).unwrap().expose_secret(),
            "t2"
        );
        assert_eq!(cache.len(), 1);
        cache.forget(&id("contoso"));
        assert!(cache.fresh(&id("contoso"), at).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn many_customers_spread_over_shards_and_all_hit() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        for i in 0..5_000 {
            let c = id(&format!("customer-{i}"));
            cache.put(
                &c,
                AccessToken::new(format!("t{i}")),
                at + Duration::hours(1),
            );
        }
        assert_eq!(cache.len(), 5_000);
        let used = cache
            .shards
            .iter()
            .filter(|s| !s.0.read().unwrap().is_empty())
            .count();
        assert_eq!(used, SHARDS);
        for i in (0..5_000).step_by(97) {
            let c = id(&format!("customer-{i}"));
            assert_eq!(
                cache.fresh(&c, at).unwrap().expose_secret(),
                format!("t{i}")
            );
        }
    }

    #[test]
    fn the_hot_path_agrees_with_the_calendar_one() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        let margin = std::time::Duration::from_secs(5 * 60);
        cache.put(
            &id("contoso"),
            AccessToken::new("t1"),
            at + Duration::hours(1),
        );
        for now in [
            at,
            at + Duration::minutes(55) - Duration::nanoseconds(1),
            at + Duration::minutes(55),
            at + Duration::hours(2),
        ] {
            assert_eq!(
                cache
                    .fresh_at(&id("contoso"), now.unix_timestamp_nanos(), margin)
                    .is_some(),
                cache.fresh(&id("contoso"), now + margin).is_some(),
                "{now}"
            );
        }
        assert!(
            cache
                .fresh_at(&id("contoso"), at.unix_timestamp_nanos(), margin)
                .is_some()
        );
        assert!(
            cache
                .fresh_at(
                    &id("contoso"),
                    (at + Duration::minutes(55)).unix_timestamp_nanos(),
                    margin
                )
                .is_none()
        );
    }

    #[test]
    fn expiry_far_outside_the_i64_range_saturates() {
        assert_eq!(unix_ns(datetime!(1970-01-01 0:00 UTC)), 0);
        assert_eq!(unix_ns(datetime!(2500-01-01 0:00 UTC)), i64::MAX);
        assert_eq!(unix_ns(datetime!(1600-01-01 0:00 UTC)), i64::MIN);
    }
}
