//! An in-memory [`Store`]: real compare-and-swap, safe under concurrent tasks, gone when the
//! process ends. For tests, demos and single-process tools.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::AuditEvent;
use crate::model::CodeHash;
use crate::model::{CustomerId, Version};
use crate::model::{Notice, NoticeId};
use crate::ports::{Claim, OutboxEntry, OutboxQuery, OutboxState, Settlement, newest_first};
use crate::ports::{
    ConnectionPage, Filter, ListedConnection, Page, PageRequest, Record, Store, VerifiedConnection,
    verification_target,
};

/// An in-memory store. Cheap to clone; clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By id: a lookup is one probe on the id's precomputed hash, not a walk down a tree
    /// comparing texts (every write and every verification looks one up).
    records: HashMap<CustomerId, Record, foldhash::fast::RandomState>,
    /// The ids in order, for listing.
    order: BTreeSet<CustomerId>,
    by_code: HashMap<CodeHash, CustomerId>,
    events: HashMap<CustomerId, Vec<AuditEvent>>,
    /// The outbox, oldest first.
    outbox: Vec<OutboxEntry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many customers are stored.
    pub fn len(&self) -> usize {
        self.read().records.len()
    }

    /// Whether no customer is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// One page of the records matching `filter`, each made into a `T` by `take`, whether
    /// there are more, and the limit used.
    fn select<T>(
        &self,
        filter: &Filter,
        page: &PageRequest,
        take: impl Fn(&Record) -> T,
    ) -> (Vec<T>, bool, usize) {
        let inner = self.read();
        let start = match &page.after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let limit = page.limit.max(1);
        let mut selected = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        for id in inner
            .order
            .range::<CustomerId, _>((start, Bound::Unbounded))
        {
            let Some(record) = inner.records.get(id) else {
                continue;
            };
            if !filter.matches(record) {
                continue;
            }
            if selected.len() == limit {
                more = true;
                break;
            }
            selected.push(take(record));
        }
        (selected, more, limit)
    }
}

impl Inner {
    fn push_event(&mut self, event: &AuditEvent) {
        match self.events.get_mut(&event.customer) {
            Some(events) => events.push(event.clone()),
            None => {
                self.events
                    .insert(event.customer.clone(), vec![event.clone()]);
            }
        }
    }
}

/// Points the invitation-code index at `id` for `new` instead of `old`.
fn reindex(
    by_code: &mut HashMap<CodeHash, CustomerId>,
    old: Option<CodeHash>,
    new: Option<CodeHash>,
    id: &CustomerId,
) {
    if old != new {
        if let Some(old) = old {
            by_code.remove(&old);
        }
        if let Some(new) = new {
            by_code.insert(new, id.clone());
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, record: &Record, event: &AuditEvent) -> Result<Version, StoreError> {
        let mut inner = self.write();
        if inner.records.contains_key(record.id()) {
            return Err(StoreError::AlreadyExists(record.id().clone()));
        }
        if record.version != Version::NEW {
            return Err(StoreError::Conflict {
                customer: record.id().clone(),
                expected: record.version,
                actual: None,
            });
        }
        let mut stored = record.clone();
        stored.version = Version::NEW.next();
        reindex(
            &mut inner.by_code,
            None,
            stored.invitation_hash(),
            record.id(),
        );
        reindex(
            &mut inner.by_code,
            None,
            stored.switch_invitation_hash(),
            record.id(),
        );
        inner.records.insert(record.id().clone(), stored);
        inner.order.insert(record.id().clone());
        inner.push_event(event);
        Ok(Version::NEW.next())
    }

    async fn load(&self, customer: &CustomerId) -> Result<Option<Record>, StoreError> {
        Ok(self.read().records.get(customer).cloned())
    }

    async fn load_by_invitation(&self, hash: &CodeHash) -> Result<Option<Record>, StoreError> {
        let inner = self.read();
        Ok(inner
            .by_code
            .get(hash)
            .and_then(|id| inner.records.get(id))
            .cloned())
    }

    async fn update(
        &self,
        record: &Record,
        event: Option<&AuditEvent>,
        notices: &[Notice],
    ) -> Result<Version, StoreError> {
        let mut inner = self.write();
        let Inner {
            records, by_code, ..
        } = &mut *inner;
        // One lookup: the slot is checked, re-indexed and overwritten in place (its
        // allocations reused, see `Record::clone_from`).
        let Some(slot) = records.get_mut(record.id()) else {
            return Err(StoreError::Conflict {
                customer: record.id().clone(),
                expected: record.version,
                actual: None,
            });
        };
        if slot.version != record.version {
            return Err(StoreError::Conflict {
                customer: record.id().clone(),
                expected: record.version,
                actual: Some(slot.version),
            });
        }
        reindex(
            by_code,
            slot.invitation_hash(),
            record.invitation_hash(),
            record.id(),
        );
        reindex(
            by_code,
            slot.switch_invitation_hash(),
            record.switch_invitation_hash(),
            record.id(),
        );
        let version = record.version.next();
        slot.clone_from(record);
        slot.version = version;
        if let Some(event) = event {
            inner.push_event(event);
        }
        inner
            .outbox
            .extend(notices.iter().cloned().map(OutboxEntry::new));
        Ok(version)
    }

    async fn delete(
        &self,
        customer: &CustomerId,
        expected: Version,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut inner = self.write();
        let actual = inner.records.get(customer).map(|r| r.version);
        if actual != Some(expected) {
            return Err(StoreError::Conflict {
                customer: customer.clone(),
                expected,
                actual,
            });
        }
        if let Some(record) = inner.records.remove(customer) {
            inner.order.remove(customer);
            reindex(&mut inner.by_code, record.invitation_hash(), None, customer);
            reindex(
                &mut inner.by_code,
                record.switch_invitation_hash(),
                None,
                customer,
            );
        }
        inner.push_event(event);
        Ok(())
    }

    async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<Page, StoreError> {
        let (records, more, limit) = self.select(filter, page, Record::clone);
        Ok(Page::new(records, more, limit))
    }

    async fn list_connections(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<ConnectionPage, StoreError> {
        // No record is copied: the ids and the token are shared.
        let (connections, more, limit) = self.select(filter, page, ListedConnection::from_record);
        Ok(ConnectionPage::new(connections, more, limit))
    }

    async fn record_verification(
        &self,
        customer: &CustomerId,
        expected: Version,
        verified: &VerifiedConnection,
    ) -> Result<Version, StoreError> {
        let mut inner = self.write();
        let record = verification_target(customer, expected, inner.records.get_mut(customer))?;
        // In place: only the verification's facts are written (the invitation, the only
        // indexed fact, is not among them).
        verified.apply_to(record);
        record.version = expected.next();
        Ok(record.version)
    }

    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write().push_event(event);
        Ok(())
    }

    async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .read()
            .events
            .get(customer)
            .cloned()
            .unwrap_or_default())
    }

    async fn claim_notices(&self, claim: &Claim<'_>) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut inner = self.write();
        let mut claimed = Vec::new();
        for entry in inner.outbox.iter_mut() {
            if claimed.len() == claim.limit.max(1) {
                break;
            }
            if entry.claimable(claim.channel, claim.now) {
                entry.claim = Some((claim.holder.to_owned(), claim.until));
                entry.attempts += 1;
                claimed.push(entry.clone());
            }
        }
        Ok(claimed)
    }

    async fn settle_notice(
        &self,
        id: &NoticeId,
        holder: &str,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let Some(entry) = inner.outbox.iter_mut().find(|e| &e.notice.id == id) else {
            return Ok(false);
        };
        let held = entry.state == OutboxState::Pending
            && entry.claim.as_ref().is_some_and(|(h, _)| h == holder);
        if held {
            entry.settle(settlement);
        }
        Ok(held)
    }

    async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(newest_first(self.read().outbox.iter(), query))
    }
}
