//! Walking everything that matches a filter page by page, with memory bounded by the page
//! size: the crate's one paging loop, over records, connections or journeys.

use std::future::Future;
use std::marker::PhantomData;

use super::store::{Filter, ListedConnection, PageRequest, Record, Store, Unreadable};
use crate::error::StoreError;

/// What a [`Pager`] lists from a source `S`: how to read the page a [`PageRequest`] asks for,
/// and what its items are.
///
/// Sealed: the crate lists [`Records`] and [`Connections`] from any [`Store`], and
/// [`Journeys`] from a [`TenantAccess`](crate::TenantAccess).
pub trait Listing<S: ?Sized>: sealed::Sealed {
    /// What a page holds.
    type Item;
    /// Why a page could not be read.
    type Error;

    /// Reads the page `request` asks for: its items, in customer-id order, the customers of
    /// the page whose records could not be read, and the request for the next page, if there
    /// may be more.
    fn page<'a>(
        source: &'a S,
        filter: &'a Filter,
        request: &'a PageRequest,
    ) -> impl Future<Output = Result<Listed<Self::Item>, Self::Error>> + Send + 'a;
}

/// One page as a [`Listing`] reads it.
#[derive(Debug)]
pub struct Listed<T> {
    /// The items, in customer-id order.
    pub items: Vec<T>,
    /// The customers of the page whose records could not be read.
    pub unreadable: Vec<Unreadable>,
    /// The request for the next page, if there may be more.
    pub next: Option<PageRequest>,
}

pub(crate) mod sealed {
    /// Keeps [`Listing`](super::Listing) to the crate's own listings.
    pub trait Sealed {}
}

/// Whole [`Record`]s, read with [`Store::list`]: what [`Pager::new`] walks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records;

/// [`ListedConnection`]s, read with [`Store::list_connections`]: what [`Pager::connections`]
/// walks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connections;

/// Journeys as [`AnyOnboarding`](crate::AnyOnboarding)s, read with
/// [`TenantAccess::list`](crate::TenantAccess::list): what
/// [`TenantAccess::pages`](crate::TenantAccess::pages) walks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Journeys;

impl sealed::Sealed for Records {}
impl sealed::Sealed for Connections {}
impl sealed::Sealed for Journeys {}

impl<S: Store + ?Sized> Listing<S> for Records {
    type Item = Record;
    type Error = StoreError;

    async fn page<'a>(
        store: &'a S,
        filter: &'a Filter,
        request: &'a PageRequest,
    ) -> Result<Listed<Record>, StoreError> {
        let page = store.list(filter, request).await?;
        Ok(Listed {
            items: page.records,
            unreadable: page.unreadable,
            next: page.next,
        })
    }
}

impl<S: Store + ?Sized> Listing<S> for Connections {
    type Item = ListedConnection;
    type Error = StoreError;

    async fn page<'a>(
        store: &'a S,
        filter: &'a Filter,
        request: &'a PageRequest,
    ) -> Result<Listed<ListedConnection>, StoreError> {
        let page = store.list_connections(filter, request).await?;
        Ok(Listed {
            items: page.connections,
            unreadable: page.unreadable,
            next: page.next,
        })
    }
}

/// Walks everything matching a filter in customer-id order, one page at a time (keyset
/// pagination), so listing every customer needs memory for one page only, however many are
/// stored. What it walks is its [`Listing`]: [`Records`] ([`Pager::new`]),
/// [`Connections`] ([`Pager::connections`]) or [`Journeys`]
/// ([`TenantAccess::pages`](crate::TenantAccess::pages)).
///
/// A record that cannot be read (tampered with, damaged) does not stop the walk: its customer
/// and error are kept aside, and [`take_unreadable`](Pager::take_unreadable) hands them out.
///
/// ```
/// # tokio_test_block(async {
/// use tenant_access::store::{Filter, MemoryStore, Pager};
/// let store = MemoryStore::new();
/// let mut pager = Pager::new(&store, Filter::all(), 100);
/// let mut seen = 0;
/// while let Some(page) = pager.next_page().await.unwrap() {
///     seen += page.len();
/// }
/// assert_eq!(seen, 0);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Pager<'a, S: ?Sized, L = Records> {
    source: &'a S,
    filter: Filter,
    next: Option<PageRequest>,
    unreadable: Vec<Unreadable>,
    listing: PhantomData<fn() -> L>,
}

impl<'a, S: Store + ?Sized> Pager<'a, S> {
    /// A pager over the [`Record`]s of `store`, in pages of `page_size`.
    pub fn new(store: &'a S, filter: Filter, page_size: usize) -> Self {
        Self::listing(store, filter, page_size)
    }
}

impl<'a, S: Store + ?Sized> Pager<'a, S, Connections> {
    /// A pager over the connections of `store` ([`Store::list_connections`]), in pages of
    /// `page_size`: the few facts a verification needs instead of whole records.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tenant_access::store::{Filter, MemoryStore, Pager};
    /// let store = MemoryStore::new();
    /// let mut pager = Pager::connections(&store, Filter::all(), 100);
    /// assert!(pager.next_page().await.unwrap().is_none());
    /// # });
    /// ```
    pub fn connections(store: &'a S, filter: Filter, page_size: usize) -> Self {
        Self::listing(store, filter, page_size)
    }
}

impl<'a, S: ?Sized, L: Listing<S>> Pager<'a, S, L> {
    /// A pager over what `L` lists from `source`, in pages of `page_size`.
    pub(crate) fn listing(source: &'a S, filter: Filter, page_size: usize) -> Self {
        Self {
            source,
            filter,
            next: Some(PageRequest::first(page_size)),
            unreadable: Vec::new(),
            listing: PhantomData,
        }
    }

    /// The next non-empty page, or `None` when everything has been seen. After an error the
    /// same page is not asked for again: the walk ends. The customers whose records could
    /// not be read are not items: [`take_unreadable`](Self::take_unreadable) has them.
    pub async fn next_page(&mut self) -> Result<Option<Vec<L::Item>>, L::Error> {
        while let Some(request) = self.next.take() {
            let page = L::page(self.source, &self.filter, &request).await?;
            self.next = page.next;
            self.unreadable.extend(page.unreadable);
            if !page.items.is_empty() {
                return Ok(Some(page.items));
            }
        }
        Ok(None)
    }

    /// The customers whose records could not be read, met by the pages read since the last
    /// call (in customer-id order), with why; empty when every record was readable.
    pub fn take_unreadable(&mut self) -> Vec<Unreadable> {
        std::mem::take(&mut self.unreadable)
    }
}
