//! The embedded store: one SQLite file in WAL mode (feature `sqlite`).

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Executor as _, QueryBuilder, Row, Sqlite};

use super::codec::{self, EncodedRecord};
use super::sql::{
    MAX_PAGE, RESEAL_BATCH, ResealReport, SCHEMA_VERSION, STORED_KEYS, backend, check_keys,
    check_schema,
};
use crate::error::{SealError, StoreError};
use crate::model::AuditEvent;
use crate::model::CodeHash;
use crate::model::{CustomerId, Version};
use crate::ports::{Filter, Page, PageRequest, Record};
use crate::seal::Sealer;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_switch_in_record.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_key_canary.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_health_outbox.sql"),
    ),
];

/// A [`Store`](super::Store) in one SQLite file (WAL journal, full sync): the embedded default for a
/// single portal process. Secrets are sealed by the [`Sealer`] it is opened with.
///
/// Pages are capped at 10,000 records; walk everything with [`Pager`](super::Pager).
///
/// # Durability
///
/// The store sets `PRAGMA journal_mode = WAL` and `PRAGMA synchronous = FULL`. Every write is
/// one transaction, atomic whatever happens to the process (a crash, `SIGKILL`). With `FULL`,
/// SQLite also syncs the write-ahead log to disk at every commit, so a write this store
/// reported as done survives an operating-system crash or a power loss too, as far as the disk
/// honours the sync. `NORMAL` would sync only at checkpoints: still never corrupt, but the last
/// commits before a power loss could roll back, and with them a journal's step (a consumed
/// invitation link, an acquired token the provider will not hand out again). The price is one
/// sync per write; reads are unaffected. (PostgreSQL's durability is its server's:
/// `synchronous_commit`, `fsync`.)
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tenant_access::seal::{Keyring, SealingKey};
/// use tenant_access::store::SqliteStore;
///
/// let dir = std::env::temp_dir().join(format!("ta-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// // In production the key comes from a secret manager: SealingKey::from_base64("2026-01", ..).
/// let key = SealingKey::generate("2026-01").unwrap();
/// let store = SqliteStore::open(dir.join("tenant-access.db"), Keyring::new(key)).await.unwrap();
/// assert_eq!(store.schema_version().await.unwrap(), 4);
/// # store.close().await;
/// # std::fs::remove_dir_all(&dir).ok();
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sealer: Sealer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies this crate's
    /// migrations. Secrets are sealed with `sealer` (a [`Keyring`](crate::seal::Keyring)
    /// converts into one).
    ///
    /// Refuses to open ([`StoreError::Seal`]) a database holding records the sealer cannot
    /// open (a key id missing from the keyring, sealed records in plaintext mode, plaintext
    /// records under a keyring, a key whose bytes are not the ones the database was sealed
    /// with, [`SealError::WrongKey`], found by the key's sealed canary), and a database from a
    /// newer crate ([`StoreError::SchemaTooNew`]).
    pub async fn open(
        path: impl AsRef<Path>,
        sealer: impl Into<Sealer>,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(backend)?;
        Self::with_pool(pool, sealer.into()).await
    }

    /// A private in-memory database, gone when the store is dropped: for tests.
    pub async fn in_memory(sealer: impl Into<Sealer>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(backend)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(backend)?;
        Self::with_pool(pool, sealer.into()).await
    }

    async fn with_pool(pool: SqlitePool, sealer: Sealer) -> Result<Self, StoreError> {
        migrate(&pool).await?;
        let stored: Vec<Option<String>> = sqlx::query_scalar(STORED_KEYS)
            .fetch_all(&pool)
            .await
            .map_err(backend)?;
        check_keys(&sealer, &stored)?;
        let store = Self { pool, sealer };
        store.check_canaries().await?;
        store.fold_legacy_switches().await?;
        Ok(store)
    }

    /// The schema version stored in the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM tenant_access_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    /// Re-seals every record not sealed under the keyring's current key, so older keys can
    /// be retired. Safe while the store is in use (each row is compare-and-swapped). A record
    /// whose secrets do not open is left as it is and reported in
    /// [`ResealReport::unreadable`]; the others are resealed all the same.
    pub async fn reseal_all(&self) -> Result<ResealReport, StoreError> {
        let current = self
            .sealer
            .current_key_id()
            .ok_or(SealError::NoKey)?
            .to_owned();
        let mut report = ResealReport::default();
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "SELECT customer_id, version, body, secrets FROM tenant_access_customers \
                 WHERE key_id IS NOT ? AND customer_id > ? ORDER BY customer_id LIMIT ?",
            )
            .bind(&current)
            .bind(&after)
            .bind(RESEAL_BATCH)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            let Some(last) = rows.last() else {
                return Ok(report);
            };
            after = last.try_get("customer_id").map_err(backend)?;
            for row in rows {
                let id: String = row.try_get("customer_id").map_err(backend)?;
                let version: i64 = row.try_get("version").map_err(backend)?;
                let sealed: Vec<u8> = row.try_get("secrets").map_err(backend)?;
                let body: String = row.try_get("body").map_err(backend)?;
                let aad = codec::associated_data(&id, &body);
                let plain = match self.sealer.open(&sealed, &aad) {
                    Ok(plain) => plain,
                    // Left as it is, and reported: the others are resealed all the same.
                    Err(error) => {
                        report.unreadable.push(super::sql::unreadable(&id, error)?);
                        continue;
                    }
                };
                let resealed = self.sealer.seal(&plain, &aad)?;
                let done = sqlx::query(
                    "UPDATE tenant_access_customers SET secrets = ?, key_id = ? \
                     WHERE customer_id = ? AND version = ?",
                )
                .bind(resealed)
                .bind(&current)
                .bind(&id)
                .bind(version)
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected();
                if done == 1 {
                    report.resealed += 1;
                } else {
                    report.changed_concurrently += 1;
                }
            }
        }
    }

    /// Every stored byte of every customer and event row, concatenated: for tests that check
    /// no secret is stored in plaintext (the conformance kit's raw hook).
    pub async fn raw_contents(&self) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        let rows = sqlx::query(
            "SELECT CAST(customer_id AS BLOB), CAST(stage AS BLOB), CAST(method AS BLOB), \
             CAST(COALESCE(verification_status, '') AS BLOB), COALESCE(invitation_hash, X''), \
             CAST(COALESCE(key_id, '') AS BLOB), CAST(body AS BLOB), secrets \
             FROM tenant_access_customers",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in rows {
            for i in 0..8 {
                let bytes: Vec<u8> = row.try_get(i).map_err(backend)?;
                out.extend_from_slice(&bytes);
                out.push(0);
            }
        }
        let rows = sqlx::query(
            "SELECT customer_id, COALESCE(from_stage, ''), to_stage, actor, COALESCE(note, '') \
             FROM tenant_access_events",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in rows {
            for i in 0..5 {
                let text: String = row.try_get(i).map_err(backend)?;
                out.extend_from_slice(text.as_bytes());
                out.push(0);
            }
        }
        Ok(out)
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(backend)?;
    (&mut *conn)
        .execute("BEGIN IMMEDIATE")
        .await
        .map_err(backend)?;
    let result = migrate_steps(&mut conn).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    (&mut *conn).execute(end).await.map_err(backend)?;
    result
}

async fn migrate_steps(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    (&mut *conn)
        .execute(
            "CREATE TABLE IF NOT EXISTS tenant_access_schema (\
             version INTEGER PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL)",
        )
        .await
        .map_err(backend)?;
    let found: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM tenant_access_schema")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    check_schema(found)?;
    for (version, sql) in MIGRATIONS {
        if *version > found {
            (&mut *conn).execute(*sql).await.map_err(backend)?;
            sqlx::query(
                    "INSERT INTO tenant_access_schema (version, applied_at) VALUES (?, datetime('now'))",
                )
                .bind(version)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
        }
    }
    debug_assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    Ok(())
}

super::sql::sql_store_impl!(SqliteStore, Sqlite, "");

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability the docs promise: WAL, and a sync at every commit.
    #[tokio::test]
    async fn opens_in_wal_mode_with_full_sync() {
        let dir = std::env::temp_dir().join(format!("ta-sqlite-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(
            dir.join("t.db"),
            Sealer::insecure_plaintext_for_tests_only(),
        )
        .await
        .unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "2 is FULL");
        drop(conn);
        store.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
}
