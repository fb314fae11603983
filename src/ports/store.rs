//! The [`Store`] port: where journeys are kept, the [`Record`] it stores, filters and pages.
//!
//! Every write is a compare-and-swap on the record's [`Version`]: two portal replicas racing
//! on one customer never both win, and a failed write leaves the stored record as it was.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::notify::{Claim, OutboxEntry, OutboxQuery, Settlement};
use crate::error::StoreError;
use crate::model::{
    AccessToken, AuditEvent, CodeHash, Customer, CustomerId, Method, PendingSwitch, Stage,
    StageKind, StageType, TenantId, TenantInfo, Validated, Verification, VerificationStatus,
    Version,
};
use crate::model::{Notice, NoticeId, Reason};

/// One customer as stored: the customer's facts, the stage data, the method switch under way
/// (if any) and the version.
#[derive(Debug)]
pub struct Record {
    /// The facts every stage shares.
    pub customer: Customer,
    /// The current stage and its data.
    pub stage: Stage,
    /// The version this record was read at ([`Version::NEW`] before the first write).
    pub version: Version,
    /// A method switch under way: its own journey, beside the connection it will replace.
    pub switch: Option<Box<PendingSwitch>>,
}

crate::model::clone_by_field!(Record {
    customer,
    stage,
    version,
    switch
});

impl Record {
    /// The customer's id.
    pub fn id(&self) -> &CustomerId {
        &self.customer.id
    }

    /// A new customer's record (at [`Version::NEW`], no switch under way).
    pub fn new(customer: Customer, stage: Stage) -> Self {
        Self {
            customer,
            stage,
            version: Version::NEW,
            switch: None,
        }
    }

    /// The hash of the live invitation code, if any: stores index this.
    pub fn invitation_hash(&self) -> Option<CodeHash> {
        self.customer.invitation.as_ref().and_then(|i| i.code_hash)
    }

    /// The hash of the live invitation code of the method switch under way, if any: stores
    /// index this too, and [`Store::load_by_invitation`] finds the record by either hash.
    pub fn switch_invitation_hash(&self) -> Option<CodeHash> {
        let switch = self.switch.as_ref()?;
        switch
            .customer
            .invitation
            .as_ref()
            .and_then(|i| i.code_hash)
    }
}

/// A persistence backend for journeys.
///
/// Implementations must be safe to share between tasks and processes: `update` is a
/// compare-and-swap on [`Record::version`], and `create`/`update` store the audit event in the
/// same atomic step as the record where the backend allows it. `update` stores the outbox
/// notices in that same step (always: a notice lost or written without its record breaks
/// the notifier's promise), and the outbox methods claim and settle them by
/// compare-and-swap. The conformance kit (`testing::conformance`) checks all of it.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores a new customer. `record.version` must be [`Version::NEW`]; returns the stored
    /// version ([`Version`]`(1)`). Fails with [`StoreError::AlreadyExists`] if the id is taken.
    async fn create(&self, record: &Record, event: &AuditEvent) -> Result<Version, StoreError>;

    /// Loads a customer by id.
    async fn load(&self, customer: &CustomerId) -> Result<Option<Record>, StoreError>;

    /// Loads the customer whose live invitation code, or whose pending switch's live
    /// invitation code, has this hash.
    async fn load_by_invitation(&self, hash: &CodeHash) -> Result<Option<Record>, StoreError>;

    /// Replaces the record if the stored version still equals `record.version`, and returns
    /// the new version (one higher). Otherwise fails with [`StoreError::Conflict`] and changes
    /// nothing.
    ///
    /// `notices` (the changes of the customer's attention reasons this write records) go into
    /// the outbox as pending entries
    /// ([`OutboxState::Pending`](super::OutboxState::Pending)) in the same atomic step: stored with
    /// the record, or not at all.
    async fn update(
        &self,
        record: &Record,
        event: Option<&AuditEvent>,
        notices: &[Notice],
    ) -> Result<Version, StoreError>;

    /// Removes a customer if the stored version still equals `expected` (compare-and-swap),
    /// storing `event` in the same atomic step where the backend allows it. The customer's
    /// invitation stops working; its audit events stay. Otherwise fails with
    /// [`StoreError::Conflict`] and changes nothing.
    async fn delete(
        &self,
        customer: &CustomerId,
        expected: Version,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// One page of customers matching `filter`, in customer-id order.
    async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<Page, StoreError>;

    /// The same customers as [`list`](Store::list), as [`ListedConnection`]s: what a
    /// verification needs and no more. "Verify all" reads the store through this.
    ///
    /// The default lists whole records and keeps their connection facts; a store that can
    /// hand them out without copying a whole record (the memory store) overrides it.
    async fn list_connections(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<ConnectionPage, StoreError> {
        let page = self.list(filter, page).await?;
        Ok(ConnectionPage {
            connections: page
                .records
                .iter()
                .map(ListedConnection::from_record)
                .collect(),
            unreadable: page.unreadable,
            next: page.next,
        })
    }

    /// Stores a successful verification of the validated customer at version `expected`
    /// (compare-and-swap, as [`update`](Store::update)), and returns the new version. Only
    /// the verification's facts change (see [`VerifiedConnection::apply_to`]); a record
    /// that moved, is gone or is not validated fails with [`StoreError::Conflict`] and
    /// changes nothing.
    ///
    /// The default loads the record, applies the verification and updates it; a store that
    /// can write the facts in place (the memory store) overrides it.
    async fn record_verification(
        &self,
        customer: &CustomerId,
        expected: Version,
        verified: &VerifiedConnection,
    ) -> Result<Version, StoreError> {
        let mut stored = self.load(customer).await?;
        let record = verification_target(customer, expected, stored.as_mut())?;
        verified.apply_to(record);
        self.update(record, None, &[]).await
    }

    /// Appends an event that is not part of a write (for example a failed attempt).
    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// The customer's events, oldest first.
    async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, StoreError>;

    /// Claims up to `claim.limit` outbox entries of `claim.channel` that are pending, due
    /// (`next_attempt_at <= now`) and not claimed (or whose claim lapsed), oldest first, for
    /// `claim.holder` until `claim.until`, counting a try on each. Two dispatchers never
    /// claim the same entry while a claim holds (compare-and-swap). Returns the entries as
    /// claimed.
    async fn claim_notices(&self, claim: &Claim<'_>) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Settles the entry `id` that `holder` claimed: delivered, to be retried, or dead.
    /// Returns `false`, changing nothing, when `holder` no longer holds it (the claim lapsed
    /// and another dispatcher took it over) or it is not pending.
    async fn settle_notice(
        &self,
        id: &NoticeId,
        holder: &str,
        settlement: &Settlement,
    ) -> Result<bool, StoreError>;

    /// Outbox entries in one state, newest first (for the admin pages).
    async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError>;
}

/// Which customers' attention reasons to select ([`Filter::attention`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionFilter {
    /// Customers with any reason.
    Any,
    /// Customers with this reason.
    Reason(Reason),
    /// Customers with no reason.
    None,
}

impl AttentionFilter {
    /// Whether `health`'s stored reasons match.
    pub fn matches(self, health: &crate::model::Health) -> bool {
        match self {
            AttentionFilter::Any => !health.attention.is_empty(),
            AttentionFilter::None => health.attention.is_empty(),
            AttentionFilter::Reason(r) => health.attention.iter().any(|a| a.reason == r),
        }
    }
}

/// Which customers to list. Empty fields match everything; set fields must all match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these stages.
    pub stages: Option<Vec<StageKind>>,
    /// Only these methods.
    pub methods: Option<Vec<Method>>,
    /// Only customers whose last verification had this status.
    pub verification: Option<VerificationStatus>,
    /// Only customers whose access token expires before this moment.
    pub token_expires_before: Option<OffsetDateTime>,
    /// Only customers not verified since this moment (or never).
    pub not_verified_since: Option<OffsetDateTime>,
    /// Only customers whose stored attention reasons match (customers that need attention).
    pub attention: Option<AttentionFilter>,
}

impl Filter {
    /// Every customer.
    pub fn all() -> Self {
        Self::default()
    }

    /// Customers in one of these stages.
    pub fn stages(stages: impl IntoIterator<Item = StageKind>) -> Self {
        Self {
            stages: Some(stages.into_iter().collect()),
            ..Self::default()
        }
    }

    /// Customers that need attention (any reason).
    pub fn needs_attention() -> Self {
        Self {
            attention: Some(AttentionFilter::Any),
            ..Self::default()
        }
    }

    /// Whether `record` matches. Stores that cannot filter in their query language can use it.
    pub fn matches(&self, record: &Record) -> bool {
        let c = &record.customer;
        self.stages
            .as_ref()
            .is_none_or(|s| s.contains(&record.stage.kind()))
            && self.methods.as_ref().is_none_or(|m| m.contains(&c.method))
            && self.verification.is_none_or(|v| {
                c.last_verification
                    .as_ref()
                    .is_some_and(|last| last.status == v)
            })
            && self
                .token_expires_before
                .is_none_or(|t| c.token.as_ref().is_some_and(|token| token.expires_at < t))
            && self
                .not_verified_since
                .is_none_or(|t| c.last_verification.as_ref().is_none_or(|last| last.at < t))
            && self.attention.is_none_or(|a| a.matches(&c.health))
    }
}

/// Where a page starts and how long it is (keyset pagination on customer id).
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Start after this customer id (`None` for the first page).
    pub after: Option<CustomerId>,
    /// At most this many records (at least 1; stores may cap it).
    pub limit: usize,
}

impl PageRequest {
    /// The first page of `limit` records.
    pub fn first(limit: usize) -> Self {
        Self {
            after: None,
            limit: limit.max(1),
        }
    }
}

/// A customer as [`Store::list_connections`] lists it: the facts one verification call
/// needs. The ids and the token are shared with the stored record, not copied.
#[derive(Debug, Clone)]
pub struct ListedConnection {
    /// The customer.
    pub customer: CustomerId,
    /// The customer's tenant, as invited.
    pub tenant: TenantId,
    /// The customer's stage (verification needs [`StageKind::Validated`]).
    pub stage: StageKind,
    /// The current access token, if the customer has one.
    pub access_token: Option<AccessToken>,
    /// When the current access token expires: a verification renews an expired one before
    /// it calls the provider.
    pub access_token_expires_at: Option<OffsetDateTime>,
    /// The version these facts were read at.
    pub version: Version,
}

impl ListedConnection {
    /// The connection facts of `record`.
    pub fn from_record(record: &Record) -> Self {
        let customer = &record.customer;
        Self {
            customer: customer.id.clone(),
            tenant: customer.tenant.clone(),
            stage: record.stage.kind(),
            access_token: customer.token.as_ref().map(|t| t.access_token.clone()),
            access_token_expires_at: customer.token.as_ref().map(|t| t.expires_at),
            version: record.version,
        }
    }
}

/// One page of [`ListedConnection`]s.
#[derive(Debug)]
pub struct ConnectionPage {
    /// The connections, in customer-id order.
    pub connections: Vec<ListedConnection>,
    /// The customers of this page whose records could not be read, in customer-id order.
    pub unreadable: Vec<Unreadable>,
    /// The request for the next page, if there may be more.
    pub next: Option<PageRequest>,
}

impl ConnectionPage {
    /// A page of `connections` read for a request of `limit`; `more` says whether the store
    /// saw a customer beyond them (then the next request starts after the last one).
    pub fn new(connections: Vec<ListedConnection>, more: bool, limit: usize) -> Self {
        Self::with_unreadable(connections, Vec::new(), more, limit)
    }

    /// As [`new`](Self::new), with the customers of the page whose records could not be read
    /// (the next request starts after the last customer of either list).
    pub fn with_unreadable(
        connections: Vec<ListedConnection>,
        unreadable: Vec<Unreadable>,
        more: bool,
        limit: usize,
    ) -> Self {
        let last = last_of(
            connections.last().map(|c| &c.customer),
            unreadable.last().map(|u| &u.customer),
        );
        let next = next_page(last, more, limit);
        Self {
            connections,
            unreadable,
            next,
        }
    }
}

/// A customer whose stored record could not be read (tampered with, sealed under a key the
/// keyring lacks, damaged): listed beside the readable ones instead of failing their page.
/// [`Store::load`] of the customer fails with the same error.
#[derive(Debug)]
pub struct Unreadable {
    /// The customer whose record it is.
    pub customer: CustomerId,
    /// Why it could not be read.
    pub error: StoreError,
}

impl Unreadable {
    /// What the portal should do about it ([`StoreError::action`]).
    pub fn action(&self) -> crate::error::Action {
        self.error.action()
    }
}

/// A successful verification, as [`Store::record_verification`] stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedConnection {
    /// When the connection was proven.
    pub at: OffsetDateTime,
    /// The tenant the proof answered for.
    pub tenant_info: TenantInfo,
}

impl VerifiedConnection {
    /// Writes the verification into `record`: the tenant as proven, last verified now with
    /// [`VerificationStatus::Ok`], no last error, updated and validated now. Nothing else
    /// changes (the version is the store's to set).
    pub fn apply_to(&self, record: &mut Record) {
        self.apply_to_customer(&mut record.customer);
        record.stage = Validated {
            validated_at: self.at,
        }
        .into_stage();
    }

    /// The customer's part of [`apply_to`](Self::apply_to).
    pub(crate) fn apply_to_customer(&self, customer: &mut Customer) {
        // An unchanged tenant keeps its allocations.
        match &mut customer.tenant_info {
            Some(info) if *info == self.tenant_info => {}
            info => *info = Some(self.tenant_info.clone()),
        }
        customer.last_verification = Some(Verification {
            at: self.at,
            status: VerificationStatus::Ok,
        });
        customer.last_error = None;
        customer.health.succeeded();
        customer.updated_at = self.at;
    }
}

/// The stored record a verification of `customer` at version `expected` may be written on:
/// there, at that version and validated; otherwise the [`StoreError::Conflict`] to report.
pub(crate) fn verification_target<'r>(
    customer: &CustomerId,
    expected: Version,
    stored: Option<&'r mut Record>,
) -> Result<&'r mut Record, StoreError> {
    match stored {
        Some(record)
            if record.version == expected && record.stage.kind() == StageKind::Validated =>
        {
            Ok(record)
        }
        other => Err(StoreError::Conflict {
            customer: customer.clone(),
            expected,
            actual: other.map(|r| r.version),
        }),
    }
}

/// One page of records.
#[derive(Debug)]
pub struct Page {
    /// The records, in customer-id order.
    pub records: Vec<Record>,
    /// The customers of this page whose records could not be read, in customer-id order:
    /// one bad record does not fail the page.
    pub unreadable: Vec<Unreadable>,
    /// The request for the next page, if there may be more.
    pub next: Option<PageRequest>,
}

impl Page {
    /// A page of `records` read for a request of `limit`; `more` says whether the store saw
    /// a record beyond them (then the next request starts after the last one).
    pub fn new(records: Vec<Record>, more: bool, limit: usize) -> Self {
        Self::with_unreadable(records, Vec::new(), more, limit)
    }

    /// As [`new`](Self::new), with the customers of the page whose records could not be read
    /// (the next request starts after the last customer of either list).
    pub fn with_unreadable(
        records: Vec<Record>,
        unreadable: Vec<Unreadable>,
        more: bool,
        limit: usize,
    ) -> Self {
        let last = last_of(
            records.last().map(Record::id),
            unreadable.last().map(|u| &u.customer),
        );
        let next = next_page(last, more, limit);
        Page {
            records,
            unreadable,
            next,
        }
    }

    /// A page with no records and nothing after it.
    pub fn empty() -> Self {
        Page::new(Vec::new(), false, 1)
    }
}

/// The greater of two customer ids, either of which may be missing.
fn last_of<'a>(a: Option<&'a CustomerId>, b: Option<&'a CustomerId>) -> Option<&'a CustomerId> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.as_str() >= b.as_str() { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The request after a page that ended at `last`, if the store saw more.
fn next_page(last: Option<&CustomerId>, more: bool, limit: usize) -> Option<PageRequest> {
    match last {
        Some(last) if more => Some(PageRequest {
            after: Some(last.clone()),
            limit,
        }),
        _ => None,
    }
}
