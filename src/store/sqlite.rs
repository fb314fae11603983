//! The embedded store: one SQLite file in WAL mode (feature `sqlite`).

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Executor as _, QueryBuilder, Row, Sqlite};

use super::codec::{self, EncodedRecord};
use super::sql::{
    MAX_PAGE, RESEAL_BATCH, ResealReport, SCHEMA_VERSION, STORED_KEYS, backend, check_keys,
    check_schema,
};
use super::{Filter, Page, PageRequest, Record, Store};
use crate::audit::AuditEvent;
use crate::error::{SealError, StoreError};
use crate::ids::{CustomerId, Version};
use crate::invitation::CodeHash;
use crate::seal::Sealer;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/sqlite/0001_init.sql"))];

/// A [`Store`] in one SQLite file (WAL journal, full sync): the embedded default for a
/// single portal process. Secrets are sealed by the [`Sealer`] it is opened with.
///
/// Pages are capped at 10,000 records; walk everything with [`Pager`](super::Pager).
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
/// assert_eq!(store.schema_version().await.unwrap(), 1);
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
    /// records under a keyring), and a database from a newer crate
    /// ([`StoreError::SchemaTooNew`]).
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
        Ok(Self { pool, sealer })
    }

    /// The schema version stored in the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM tenant_access_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    /// Re-seals every record not sealed under the keyring's current key, so older keys can
    /// be retired. Safe while the store is in use (each row is compare-and-swapped).
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
                let plain = self.sealer.open(&sealed, &aad)?;
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

    fn decode(&self, row: &SqliteRow) -> Result<Record, StoreError> {
        let id: String = row.try_get("customer_id").map_err(backend)?;
        let version: i64 = row.try_get("version").map_err(backend)?;
        let body: String = row.try_get("body").map_err(backend)?;
        let secrets: Vec<u8> = row.try_get("secrets").map_err(backend)?;
        codec::decode(&id, version, &body, &secrets, &self.sealer)
    }

    async fn insert_event(
        conn: &mut sqlx::SqliteConnection,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let e = codec::encode_event(event)?;
        sqlx::query(
            "INSERT INTO tenant_access_events (customer_id, from_stage, to_stage, at, actor, note) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(e.customer_id)
        .bind(e.from_stage)
        .bind(e.to_stage)
        .bind(e.at)
        .bind(e.actor)
        .bind(e.note)
        .execute(conn)
        .await
        .map_err(backend)?;
        Ok(())
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

fn bind_columns<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    e: &'q EncodedRecord,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(e.stage)
        .bind(e.method)
        .bind(e.verification_status)
        .bind(e.last_verified_at)
        .bind(e.token_expires_at)
        .bind(e.invitation_hash.as_deref())
        .bind(e.key_id.as_deref())
        .bind(e.body.as_str())
        .bind(e.secrets.as_slice())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, record: &Record, event: &AuditEvent) -> Result<Version, StoreError> {
        let e = codec::encode(record, &self.sealer)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let q = sqlx::query(
            "INSERT INTO tenant_access_customers (stage, method, verification_status, \
             last_verified_at, token_expires_at, invitation_hash, key_id, body, secrets, \
             customer_id, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) \
             ON CONFLICT (customer_id) DO NOTHING",
        );
        let inserted = bind_columns(q, &e)
            .bind(e.customer_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(record.id().clone()));
        }
        if record.version != Version::NEW {
            return Err(StoreError::Conflict {
                customer: record.id().clone(),
                expected: record.version,
                actual: None,
            });
        }
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Version::NEW.next())
    }

    async fn load(&self, customer: &CustomerId) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, version, body, secrets FROM tenant_access_customers \
             WHERE customer_id = ?",
        )
        .bind(customer.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| self.decode(&r)).transpose()
    }

    async fn load_by_invitation(&self, hash: &CodeHash) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT customer_id, version, body, secrets FROM tenant_access_customers \
             WHERE invitation_hash = ? LIMIT 1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| self.decode(&r)).transpose()
    }

    async fn update(
        &self,
        record: &Record,
        event: Option<&AuditEvent>,
    ) -> Result<Version, StoreError> {
        let e = codec::encode(record, &self.sealer)?;
        let expected = i64::try_from(record.version.0)
            .map_err(|_| StoreError::Corrupt("version out of range".into()))?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let q = sqlx::query(
            "UPDATE tenant_access_customers SET stage = ?, method = ?, verification_status = ?, \
             last_verified_at = ?, token_expires_at = ?, invitation_hash = ?, key_id = ?, \
             body = ?, secrets = ?, version = version + 1 \
             WHERE customer_id = ? AND version = ?",
        );
        let updated = bind_columns(q, &e)
            .bind(e.customer_id.as_str())
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if updated == 0 {
            let actual: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM tenant_access_customers WHERE customer_id = ?",
            )
            .bind(e.customer_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            return Err(StoreError::Conflict {
                customer: record.id().clone(),
                expected: record.version,
                actual: actual.map(|v| Version(v as u64)),
            });
        }
        if let Some(event) = event {
            Self::insert_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(record.version.next())
    }

    async fn delete(
        &self,
        customer: &CustomerId,
        expected: Version,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let expected_db = i64::try_from(expected.0)
            .map_err(|_| StoreError::Corrupt("version out of range".into()))?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query(
            "DELETE FROM tenant_access_customers WHERE customer_id = ? AND version = ?",
        )
        .bind(customer.as_str())
        .bind(expected_db)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if deleted == 0 {
            let actual: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM tenant_access_customers WHERE customer_id = ?",
            )
            .bind(customer.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            return Err(StoreError::Conflict {
                customer: customer.clone(),
                expected,
                actual: actual.map(|v| Version(v as u64)),
            });
        }
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<Page, StoreError> {
        let limit = page.limit.clamp(1, MAX_PAGE);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT customer_id, version, body, secrets FROM tenant_access_customers WHERE 1 = 1",
        );
        if let Some(stages) = &filter.stages {
            if stages.is_empty() {
                return Ok(Page {
                    records: Vec::new(),
                    next: None,
                });
            }
            qb.push(" AND stage IN (");
            let mut list = qb.separated(", ");
            for s in stages {
                list.push_bind(s.as_str());
            }
            qb.push(")");
        }
        if let Some(methods) = &filter.methods {
            if methods.is_empty() {
                return Ok(Page {
                    records: Vec::new(),
                    next: None,
                });
            }
            qb.push(" AND method IN (");
            let mut list = qb.separated(", ");
            for m in methods {
                list.push_bind(m.as_str());
            }
            qb.push(")");
        }
        if let Some(v) = filter.verification {
            qb.push(" AND verification_status = ").push_bind(v.as_str());
        }
        if let Some(t) = filter.token_expires_before {
            qb.push(" AND token_expires_at < ")
                .push_bind(codec::timestamp(t)?);
        }
        if let Some(t) = filter.not_verified_since {
            qb.push(" AND (last_verified_at IS NULL OR last_verified_at < ")
                .push_bind(codec::timestamp(t)?)
                .push(")");
        }
        if let Some(after) = &page.after {
            qb.push(" AND customer_id > ")
                .push_bind(after.as_str().to_owned());
        }
        qb.push(" ORDER BY customer_id LIMIT ")
            .push_bind((limit + 1) as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(backend)?;
        let more = rows.len() > limit;
        let records = rows
            .iter()
            .take(limit)
            .map(|r| self.decode(r))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            records.last().map(|r| PageRequest {
                after: Some(r.id().clone()),
                limit,
            })
        } else {
            None
        };
        Ok(Page { records, next })
    }

    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        Self::insert_event(&mut conn, event).await
    }

    async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, from_stage, to_stage, at, actor, note FROM tenant_access_events \
             WHERE customer_id = ? ORDER BY seq",
        )
        .bind(customer.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                codec::decode_event(
                    &r.try_get::<String, _>(0).map_err(backend)?,
                    r.try_get::<Option<String>, _>(1)
                        .map_err(backend)?
                        .as_deref(),
                    &r.try_get::<String, _>(2).map_err(backend)?,
                    r.try_get(3).map_err(backend)?,
                    &r.try_get::<String, _>(4).map_err(backend)?,
                    r.try_get(5).map_err(backend)?,
                )
            })
            .collect()
    }
}
