//! The per-process access-token cache behind
//! [`TenantAccess::access_token`](crate::TenantAccess::access_token) and
//! [`TenantAccess::access_token_for`](crate::TenantAccess::access_token_for): one cache keyed
//! by customer and [`Resource`], one single-flight lock per customer, one `forget`.
//!
//! The cached hit of the connection's own token is what a portal pays on every Graph call it
//! makes for a customer, so it is laid out to touch as little memory as possible:
//!
//! - the map is split into shards, each behind its own cache-line-aligned `RwLock`, so
//!   concurrent readers on different cores rarely share a lock word;
//! - a shard holds two tables under that one lock: the connections' own tokens, whose entries
//!   stay 32 bytes (the id's text, the token's `Arc` and the moment it is due for refresh as
//!   Unix nanoseconds, worked out once when it is cached) so one
//!   lookup reads one control group and one bucket line, and the tokens for other scopes,
//!   whose entries also carry the scopes. The own-token lookup never reads the other table,
//!   and a customer's tokens all sit in one shard, so `forget` drops them under one lock;
//! - the hash is the one the [`CustomerId`] carries (computed once, when the id was made, with
//!   a per-process seed): a lookup reads neither the id's text nor a hasher; the same hash
//!   picks the shard and the bucket in both tables (so a customer's tokens for other scopes
//!   share one probe sequence, which is what `forget` walks);
//! - ids compare by pointer first (`Arc<str>`), so an id cloned from the store is never
//!   dereferenced to compare;
//! - a hit clones the token's `Arc` (no string copy) and compares one `i64`: the refresh-ahead
//!   rule ([`TokenSet::refresh_due_at`](crate::model::TokenSet::refresh_due_at)) was applied
//!   when the token was cached, so the lookup does no arithmetic.
//!
//! What remains at large sizes is memory latency: the bucket and the token's reference count
//! are each one cache line (and one page) that may not be in the CPU cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::HashTable;

use time::OffsetDateTime;

use crate::model::AccessToken;
use crate::model::{CustomerId, Scopes};

/// Shards of the token map (a power of two).
const SHARDS: usize = 64;

/// Which of a customer's tokens: the key's second half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource<'a> {
    /// The connection's own token (what `access_token` serves).
    Own,
    /// A token for other scopes from the same refresh token (`access_token_for`).
    Scopes(&'a Scopes),
}

/// One shard, alone on its cache line(s) so readers on other shards never share its lock word.
#[repr(align(128))]
#[derive(Default)]
struct Shard(RwLock<Tables>);

/// A shard's tokens. `repr(C)`: the hot path's table comes first, beside the lock word.
#[repr(C)]
#[derive(Default)]
struct Tables {
    /// The connections' own tokens.
    own: HashTable<Cached<()>>,
    /// Tokens for other scopes, hashed by the customer alone.
    scoped: HashTable<Cached<Scopes>>,
}

#[cfg(test)]
impl Tables {
    fn is_empty(&self) -> bool {
        self.own.is_empty() && self.scoped.is_empty()
    }
}

/// A cached token, the rest of its key (`()` for the connection's own), and when it is due
/// for refresh.
struct Cached<R> {
    /// The id's text (its hash is the table's).
    customer: Arc<str>,
    resource: R,
    /// When refresh-ahead renews the token, as Unix nanoseconds: one integer compare on the
    /// hot path. It is served strictly before this moment.
    due_ns: i64,
    token: AccessToken,
}

impl<R: PartialEq> Cached<R> {
    fn is(&self, customer: &CustomerId, resource: &R) -> bool {
        same_text(&self.customer, customer) && self.resource == *resource
    }
}

/// Whether a cached entry's id is `customer`: by pointer first (an id cloned from the store
/// shares its text), by text otherwise.
fn same_text(cached: &Arc<str>, customer: &CustomerId) -> bool {
    let text = customer.shared_text();
    Arc::ptr_eq(cached, text) || **cached == **text
}

/// Inserts or replaces the token in `table` for (`customer`, `resource`).
fn upsert<R: PartialEq>(
    table: &mut HashTable<Cached<R>>,
    hash: u64,
    customer: &CustomerId,
    resource: R,
    token: AccessToken,
    due_ns: i64,
) {
    match table.entry(
        hash,
        |c| c.is(customer, &resource),
        |c| crate::model::id_hash(&c.customer),
    ) {
        hashbrown::hash_table::Entry::Occupied(mut slot) => {
            let cached = slot.get_mut();
            cached.due_ns = due_ns;
            cached.token = token;
        }
        hashbrown::hash_table::Entry::Vacant(slot) => {
            slot.insert(Cached {
                customer: Arc::clone(customer.shared_text()),
                resource,
                due_ns,
                token,
            });
        }
    }
}

/// Removes every entry of `customer` from `table`.
fn remove_all<R>(table: &mut HashTable<Cached<R>>, hash: u64, customer: &CustomerId) {
    while let Ok(slot) = table.find_entry(hash, |c| same_text(&c.customer, customer)) {
        slot.remove();
    }
}

/// Unix nanoseconds, saturating (tokens never expire outside ±292 years of 1970).
fn unix_ns(at: OffsetDateTime) -> i64 {
    saturate(at.unix_timestamp_nanos())
}

fn saturate(ns: i128) -> i64 {
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// Access tokens known to this process, keyed by customer and [`Resource`] (the connection's
/// own is also in the store; the others are cheap to get again from the stored refresh
/// token), and one lock per customer so concurrent callers share a single refresh, whichever
/// resource they asked for.
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
    /// The id's hash, and the shard it lives in. The shard takes bits 32..38: the tables inside
    /// use the low bits for the bucket and the top seven as tags, so these stay independent.
    fn locate(&self, customer: &CustomerId) -> (u64, &RwLock<Tables>) {
        let hash = customer.precomputed_hash();
        (hash, &self.shards[(hash >> 32) as usize % SHARDS].0)
    }

    /// The connection's own token if it is not yet due for refresh at `at`.
    pub(crate) fn fresh(&self, customer: &CustomerId, at: OffsetDateTime) -> Option<AccessToken> {
        self.find(customer, |t| &t.own, &(), unix_ns(at))
    }

    /// The connection's own token if it is not yet due for refresh at `now_ns` (Unix
    /// nanoseconds, as [`Clock::now_unix_nanos`](crate::ports::Clock::now_unix_nanos) gives):
    /// the hot path, with no calendar arithmetic. It goes to the own-token table directly,
    /// so its code has no branch on the resource.
    pub(crate) fn fresh_at(&self, customer: &CustomerId, now_ns: i128) -> Option<AccessToken> {
        self.find(customer, |t| &t.own, &(), saturate(now_ns))
    }

    /// The cached token of `customer` for `resource` if it is not yet due for refresh at
    /// `now_ns`, as [`fresh_at`](Self::fresh_at) decides it for the connection's own.
    pub(crate) fn fresh_token(
        &self,
        customer: &CustomerId,
        resource: Resource<'_>,
        now_ns: i128,
    ) -> Option<AccessToken> {
        let now = saturate(now_ns);
        match resource {
            Resource::Own => self.find(customer, |t| &t.own, &(), now),
            Resource::Scopes(scopes) => self.find(customer, |t| &t.scoped, scopes, now),
        }
    }

    /// The token in the `table` of `customer`'s shard for (`customer`, `resource`) if it is
    /// not yet due at `now`. Generic over the table, so each has its own code.
    fn find<R: PartialEq>(
        &self,
        customer: &CustomerId,
        table: impl FnOnce(&Tables) -> &HashTable<Cached<R>>,
        resource: &R,
        now: i64,
    ) -> Option<AccessToken> {
        let (hash, shard) = self.locate(customer);
        let tables = shard.read().unwrap_or_else(|e| e.into_inner());
        match table(&tables).find(hash, |c| c.is(customer, resource)) {
            Some(c) if c.due_ns > now => Some(c.token.clone()),
            _ => None,
        }
    }

    /// Caches `token` as the connection's own token of `customer`, served until `due_at`
    /// (its [`refresh_due_at`](crate::model::TokenSet::refresh_due_at)).
    pub(crate) fn put(&self, customer: &CustomerId, token: AccessToken, due_at: OffsetDateTime) {
        self.put_token(customer, Resource::Own, token, due_at);
    }

    /// Caches `token` for `customer` and `resource`, served until `due_at`.
    pub(crate) fn put_token(
        &self,
        customer: &CustomerId,
        resource: Resource<'_>,
        token: AccessToken,
        due_at: OffsetDateTime,
    ) {
        let due_ns = unix_ns(due_at);
        let (hash, shard) = self.locate(customer);
        let mut tables = shard.write().unwrap_or_else(|e| e.into_inner());
        match resource {
            Resource::Own => upsert(&mut tables.own, hash, customer, (), token, due_ns),
            Resource::Scopes(scopes) => upsert(
                &mut tables.scoped,
                hash,
                customer,
                scopes.clone(),
                token,
                due_ns,
            ),
        }
    }

    /// Drops every cached token of `customer`, its own and those for other scopes
    /// (re-authentication, revocation, a method switch), in one write.
    pub(crate) fn forget(&self, customer: &CustomerId) {
        let (hash, shard) = self.locate(customer);
        let mut tables = shard.write().unwrap_or_else(|e| e.into_inner());
        remove_all(&mut tables.own, hash, customer);
        remove_all(&mut tables.scoped, hash, customer);
    }

    /// The lock one refresh of `customer` holds, whichever of its tokens it refreshes.
    pub(crate) fn flight(&self, customer: &CustomerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(flights.entry(customer.clone()).or_default())
    }

    /// How many tokens are cached, of every resource.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let tables = s.0.read().unwrap_or_else(|e| e.into_inner());
                tables.own.len() + tables.scoped.len()
            })
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
        cache.put(
            &id("contoso"),
            AccessToken::new("t1"),
            at + Duration::minutes(55),
        );
        for now in [
            at,
            at + Duration::minutes(55) - Duration::nanoseconds(1),
            at + Duration::minutes(55),
            at + Duration::hours(2),
        ] {
            assert_eq!(
                cache
                    .fresh_at(&id("contoso"), now.unix_timestamp_nanos())
                    .is_some(),
                cache.fresh(&id("contoso"), now).is_some(),
                "{now}"
            );
        }
        assert!(
            cache
                .fresh_at(&id("contoso"), at.unix_timestamp_nanos())
                .is_some()
        );
        assert!(
            cache
                .fresh_at(
                    &id("contoso"),
                    (at + Duration::minutes(55)).unix_timestamp_nanos()
                )
                .is_none()
        );
    }

    /// Issue 17 item 13: the cache serves a token until its refresh-ahead moment, which for a
    /// short-lived token is half-way through its life, not never (a 5-minute margin against
    /// a 60 s token).
    #[test]
    fn a_short_token_is_served_for_half_its_life() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        let margin = std::time::Duration::from_secs(5 * 60);
        let short = crate::model::TokenSet {
            access_token: AccessToken::new("short"),
            refresh_token: None,
            expires_at: at + Duration::seconds(60),
            obtained_at: at,
            scope: None,
        };
        cache.put(
            &id("contoso"),
            short.access_token.clone(),
            short.refresh_due_at(margin),
        );
        let served = |after: Duration| {
            cache
                .fresh_at(&id("contoso"), (at + after).unix_timestamp_nanos())
                .is_some()
        };
        assert!(served(Duration::ZERO));
        assert!(served(Duration::seconds(30) - Duration::nanoseconds(1)));
        assert!(!served(Duration::seconds(30)));
    }

    #[test]
    fn expiry_far_outside_the_i64_range_saturates() {
        assert_eq!(unix_ns(datetime!(1970-01-01 0:00 UTC)), 0);
        assert_eq!(unix_ns(datetime!(2500-01-01 0:00 UTC)), i64::MAX);
        assert_eq!(unix_ns(datetime!(1600-01-01 0:00 UTC)), i64::MIN);
    }

    fn scopes(s: &str) -> Scopes {
        Scopes::new([s]).unwrap()
    }

    #[test]
    fn own_and_scoped_tokens_are_separate_keys() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        let now = at.unix_timestamp_nanos();
        let arm = scopes("https://management.azure.com/.default");
        let exo = scopes("https://outlook.office365.com/.default");
        cache.put_token(
            &id("contoso"),
            Resource::Scopes(&arm),
            AccessToken::new("arm"),
            at + Duration::hours(1),
        );
        // A scoped token is not the connection's own, nor another scope's.
        assert!(cache.fresh_at(&id("contoso"), now).is_none());
        assert!(
            cache
                .fresh_token(&id("contoso"), Resource::Scopes(&exo), now)
                .is_none()
        );
        cache.put(
            &id("contoso"),
            AccessToken::new("own"),
            at + Duration::hours(1),
        );
        cache.put_token(
            &id("contoso"),
            Resource::Scopes(&exo),
            AccessToken::new("exo"),
            at + Duration::minutes(5),
        );
        let get = |resource| {
            cache
                .fresh_token(&id("contoso"), resource, now)
                .map(|t| t.expose_secret().to_owned())
        };
        assert_eq!(get(Resource::Own).as_deref(), Some("own"));
        assert_eq!(get(Resource::Scopes(&arm)).as_deref(), Some("arm"));
        assert_eq!(get(Resource::Scopes(&exo)).as_deref(), Some("exo"));
        // The same rule for every resource: served until it is due.
        let late = (at + Duration::minutes(5)).unix_timestamp_nanos();
        assert!(
            cache
                .fresh_token(&id("contoso"), Resource::Scopes(&exo), late)
                .is_none()
        );
        cache.put_token(
            &id("contoso"),
            Resource::Scopes(&exo),
            AccessToken::new("exo2"),
            at + Duration::hours(1),
        );
        assert_eq!(get(Resource::Scopes(&exo)).as_deref(), Some("exo2"));
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn forget_drops_every_token_of_one_customer_only() {
        let cache = TokenCache::default();
        let at = datetime!(2026-11-24 10:00 UTC);
        let until = at + Duration::hours(1);
        let all: Vec<Scopes> = (0..20)
            .map(|i| scopes(&format!("api://{i}/.default")))
            .collect();
        for name in ["contoso", "fabrikam"] {
            cache.put(&id(name), AccessToken::new("own"), until);
            for s in &all {
                cache.put_token(&id(name), Resource::Scopes(s), AccessToken::new("s"), until);
            }
        }
        assert_eq!(cache.len(), 42);
        cache.forget(&id("contoso"));
        assert_eq!(cache.len(), 21);
        assert!(cache.fresh(&id("contoso"), at).is_none());
        let now = at.unix_timestamp_nanos();
        for s in &all {
            let scoped = Resource::Scopes(s);
            assert!(cache.fresh_token(&id("contoso"), scoped, now).is_none());
            assert!(cache.fresh_token(&id("fabrikam"), scoped, now).is_some());
        }
        assert!(cache.fresh(&id("fabrikam"), at).is_some());
    }

    #[test]
    fn the_own_entry_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Cached<()>>(), 32);
        assert!(std::mem::size_of::<Shard>() <= 128);
    }
}
