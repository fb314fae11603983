//! Walking every matching record page by page, with memory bounded by the page size.

use super::store::{Filter, PageRequest, Record, Store};
use crate::error::StoreError;

/// Walks all records matching a filter in customer-id order, one page at a time (keyset
/// pagination), so listing every customer needs memory for one page only, however many are
/// stored.
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
pub struct Pager<'a, S: Store + ?Sized> {
    store: &'a S,
    filter: Filter,
    next: Option<PageRequest>,
}

impl<'a, S: Store + ?Sized> Pager<'a, S> {
    /// A pager over `store` with pages of `page_size` records.
    pub fn new(store: &'a S, filter: Filter, page_size: usize) -> Self {
        Self {
            store,
            filter,
            next: Some(PageRequest::first(page_size)),
        }
    }

    /// The next non-empty page, or `None` when every record has been seen.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Record>>, StoreError> {
        while let Some(request) = self.next.take() {
            let page = self.store.list(&self.filter, &request).await?;
            self.next = page.next;
            if !page.records.is_empty() {
                return Ok(Some(page.records));
            }
        }
        Ok(None)
    }
}
