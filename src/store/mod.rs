//! The [`Store`] adapters: [`MemoryStore`], and with their features the SQLite and PostgreSQL
//! stores and the sealed record codec they share.
//!
//! The port itself ([`Store`], [`Record`], [`Filter`], pages) lives in
//! [`ports`](crate::ports); it is re-exported here, beside its implementations.

#[cfg(feature = "seal")]
#[cfg_attr(docsrs, doc(cfg(feature = "seal")))]
pub mod codec;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use sql::ResealReport;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

pub use crate::ports::{
    AttentionFilter, Claim, ConnectionPage, Connections, Filter, Listed, ListedConnection, Listing,
    OutboxEntry, OutboxQuery, OutboxState, Page, PageRequest, Pager, Record, Records, Settlement,
    Store, Unreadable, VerifiedConnection,
};
