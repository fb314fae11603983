//! The shared store: PostgreSQL, for many portal replicas (feature `postgres`).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor as _, Postgres, QueryBuilder, Row};

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
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_switch_in_record.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_key_canary.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_health_outbox.sql"),
    ),
];

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The connection URL (`postgres://user@host:5432/db`).
    pub url: String,
    /// The schema to keep the tables in (created if missing); `None` for the connection's
    /// default search path.
    pub schema: Option<String>,
    /// Connections in this process's pool.
    pub max_connections: u32,
    /// The `application_name` the connections report (seen in `pg_stat_activity`).
    pub application_name: Option<String>,
}

impl PostgresOptions {
    /// Options for `url`, in the default schema, with a pool of 8 connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
            application_name: None,
        }
    }

    /// Keeps the tables in `schema` (letters, digits and `_`, created if missing).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Names the connections in `pg_stat_activity` (for example after the replica).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets the pool size.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// A [`Store`](super::Store) in PostgreSQL, shared by many portal replicas: every update is a
/// compare-and-swap on the version column, so two replicas racing on one customer never both
/// win. Secrets are sealed by the [`Sealer`] it is opened with. Pages are capped at 10,000
/// records; walk everything with [`Pager`](super::Pager).
///
/// ```no_run
/// # async fn f() -> Result<(), tenant_access::error::StoreError> {
/// use tenant_access::seal::{Keyring, SealingKey};
/// use tenant_access::store::{PostgresOptions, PostgresStore};
///
/// let key = SealingKey::from_base64("2026-01", &std::env::var("TENANT_ACCESS_KEY").unwrap())?;
/// let store = PostgresStore::open(
///     PostgresOptions::new("postgres://portal@db:5432/portal").schema("tenant_access"),
///     Keyring::new(key),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sealer: Sealer,
}

impl PostgresStore {
    /// Connects, creates the schema if needed and applies this crate's migrations (under an
    /// advisory lock, so replicas starting together migrate once).
    ///
    /// Refuses to open ([`StoreError::Seal`]) a database holding records the sealer cannot
    /// open or a keyring with the wrong bytes under a known key id
    /// ([`SealError::WrongKey`](crate::error::SealError::WrongKey), found by the key's sealed
    /// canary), and a database from a newer crate ([`StoreError::SchemaTooNew`]).
    pub async fn open(
        options: PostgresOptions,
        sealer: impl Into<Sealer>,
    ) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(&options.url).map_err(backend)?;
        if let Some(name) = &options.application_name {
            connect = connect.application_name(name);
        }
        if let Some(schema) = &options.schema {
            if schema.is_empty()
                || schema.len() > 63
                || !schema
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::Backend(
                    "the schema name must be 1 to 63 letters, digits or '_'".into(),
                ));
            }
            let setup = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(connect.clone())
                .await
                .map_err(backend)?;
            setup
                .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await
                .or_else(|e| match &e {
                    // Two replicas creating the schema at once: the loser sees a duplicate.
                    sqlx::Error::Database(d) if d.is_unique_violation() => Ok(Default::default()),
                    _ => Err(e),
                })
                .map_err(backend)?;
            setup.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .connect_with(connect)
            .await
            .map_err(backend)?;
        migrate(&pool).await?;
        let sealer = sealer.into();
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
                 WHERE key_id IS DISTINCT FROM $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3",
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
                    "UPDATE tenant_access_customers SET secrets = $1, key_id = $2 \
                     WHERE customer_id = $3 AND version = $4",
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
            "SELECT convert_to(customer_id, 'UTF8'), convert_to(stage, 'UTF8'), \
             convert_to(method, 'UTF8'), convert_to(COALESCE(verification_status, ''), 'UTF8'), \
             COALESCE(invitation_hash, ''::bytea), convert_to(COALESCE(key_id, ''), 'UTF8'), \
             convert_to(body, 'UTF8'), secrets FROM tenant_access_customers",
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

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(backend)?;
    (&mut *conn)
        .execute("BEGIN; SELECT pg_advisory_xact_lock(7243417461)")
        .await
        .map_err(backend)?;
    let result = migrate_steps(&mut conn).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    (&mut *conn).execute(end).await.map_err(backend)?;
    result
}

async fn migrate_steps(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    (&mut *conn)
        .execute(
            "CREATE TABLE IF NOT EXISTS tenant_access_schema (\
             version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
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
                "INSERT INTO tenant_access_schema (version, applied_at) VALUES ($1, now())",
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

super::sql::sql_store_impl!(PostgresStore, Postgres, " FOR UPDATE SKIP LOCKED");
