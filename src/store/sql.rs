//! What the SQL stores share: the schema version, error mapping, the reseal report.

use crate::error::{SealError, StoreError};
use crate::seal::Sealer;

/// The newest schema version this crate writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// The largest page a SQL store returns; bigger requests are capped.
pub(crate) const MAX_PAGE: usize = 10_000;

/// Records read per batch by `reseal_all`.
pub(crate) const RESEAL_BATCH: i64 = 500;

/// What `reseal_all` did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ResealReport {
    /// Records moved to the current key.
    pub resealed: u64,
    /// Records that changed while being resealed (their writer sealed them with its own key;
    /// run `reseal_all` again if the writer had an older keyring).
    pub changed_concurrently: u64,
    /// Records that could not be resealed because their sealed secrets do not open
    /// (tampered with, damaged): left as they are, with why. The others are resealed.
    pub unreadable: Vec<crate::ports::Unreadable>,
}

/// The stored customer `id` whose record could not be read, with why.
pub(crate) fn unreadable(
    id: &str,
    error: impl Into<StoreError>,
) -> Result<crate::ports::Unreadable, StoreError> {
    let customer = crate::model::CustomerId::new(id)
        .map_err(|_| StoreError::Corrupt(format!("stored customer id {id:?} is not valid")))?;
    let error = error.into();
    tracing::warn!(customer = %customer, %error, "stored record cannot be read");
    Ok(crate::ports::Unreadable { customer, error })
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Checks a stored schema version against this crate's.
pub(crate) fn check_schema(found: i64) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        })
    } else {
        Ok(())
    }
}

/// Refuses to open a database whose records `sealer` cannot open: sealed records without a
/// key, plaintext records under a keyring, or key ids missing from the keyring.
pub(crate) fn check_keys(sealer: &Sealer, stored: &[Option<String>]) -> Result<(), StoreError> {
    for id in stored {
        match id {
            None if !sealer.is_plaintext() => return Err(SealError::Plaintext.into()),
            Some(_) if sealer.is_plaintext() => return Err(SealError::NoKey.into()),
            Some(id) if !sealer.has_key(id) => {
                return Err(SealError::UnknownKey(id.clone()).into());
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) const STORED_KEYS: &str = "SELECT DISTINCT key_id FROM tenant_access_customers";

/// What a key canary seals: fixed, so that opening it proves the key bytes, not just the id.
pub(crate) const CANARY: &[u8] = b"tenant-access key canary v1";

/// The associated data of the canary of key `id`: binds it to its row.
pub(crate) fn canary_aad(id: &str) -> Vec<u8> {
    format!("tenant_access_key_canaries:{id}").into_bytes()
}

/// Checks the stored canaries against the keyring: each one sealed under a key id the keyring
/// has must open to [`CANARY`] (else the key bytes differ: [`SealError::WrongKey`]); canaries
/// of key ids the keyring no longer has are left alone.
pub(crate) fn check_canary_rows(
    sealer: &Sealer,
    rows: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    for (id, sealed) in rows {
        if !sealer.has_key(id) {
            continue;
        }
        match sealer.open(sealed, &canary_aad(id)) {
            Ok(plain) if plain.as_slice() == CANARY => {}
            _ => return Err(SealError::WrongKey(id.clone()).into()),
        }
    }
    Ok(())
}

/// The whole [`Store`](crate::ports::Store) implementation of a SQL store, written once for
/// SQLite and PostgreSQL. The SQL uses `$n` placeholders, which both understand (SQLite
/// numbers `$n` parameters by first appearance, and they appear in order). The store type
/// has `pool` and `sealer` fields; the calling module has `backend`, `MAX_PAGE`, `codec`,
/// `Row` and the store's types in scope.
macro_rules! sql_store_impl {
    ($store:ty, $db:ty, $skip_locked:literal) => {
        impl $store {
            fn decode(&self, row: &<$db as sqlx::Database>::Row) -> Result<Record, StoreError> {
                let id: String = row.try_get("customer_id").map_err(backend)?;
                let version: i64 = row.try_get("version").map_err(backend)?;
                let body: String = row.try_get("body").map_err(backend)?;
                let secrets: Vec<u8> = row.try_get("secrets").map_err(backend)?;
                let version = codec::version_from_column(version)?;
                codec::decode(&id, version, &body, &secrets, &self.sealer)
            }

            /// Decodes a listed row: its record, or its customer as [`Unreadable`] when the
            /// record cannot be read (sealed secrets that do not open, a damaged body).
            /// Fails only when the row does not even name its customer.
            fn decode_listed(
                &self,
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<Result<Record, $crate::ports::Unreadable>, StoreError> {
                match self.decode(row) {
                    Ok(record) => Ok(Ok(record)),
                    Err(error) => {
                        let id: String = row.try_get("customer_id").map_err(backend)?;
                        Ok(Err($crate::store::sql::unreadable(&id, error)?))
                    }
                }
            }

            /// Refuses a keyring whose key bytes are not the ones the database was sealed
            /// with (checked against each stored canary), then stores the canary of the
            /// current key if it has none yet. A replica racing to store it keeps the first
            /// one, which it then checks like any other. Plaintext mode has no canary.
            async fn check_canaries(&self) -> Result<(), StoreError> {
                let Some(current) = self.sealer.current_key_id().map(str::to_owned) else {
                    return Ok(());
                };
                let select = "SELECT key_id, sealed FROM tenant_access_key_canaries";
                let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(select)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                $crate::store::sql::check_canary_rows(&self.sealer, &rows)?;
                if rows.iter().any(|(id, _)| *id == current) {
                    return Ok(());
                }
                let aad = $crate::store::sql::canary_aad(&current);
                let sealed = self.sealer.seal($crate::store::sql::CANARY, &aad)?;
                sqlx::query(
                    "INSERT INTO tenant_access_key_canaries (key_id, sealed) VALUES ($1, $2) \
                     ON CONFLICT (key_id) DO NOTHING",
                )
                .bind(&current)
                .bind(sealed)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(select)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                $crate::store::sql::check_canary_rows(&self.sealer, &rows)
            }

            /// Folds each method switch a schema-1 database kept as a row of its own (listed
            /// by migration 2 in `tenant_access_legacy_switches`) into its customer's record,
            /// with a fresh random journey id, and moves its audit events to the customer.
            /// One transaction per switch; a replica that finds the row already claimed by
            /// another leaves it to that one.
            async fn fold_legacy_switches(&self) -> Result<(), StoreError> {
                let pending: Vec<(String, String)> = sqlx::query_as(
                    "SELECT journey_id, customer_id FROM tenant_access_legacy_switches",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                for (journey_id, customer_id) in pending {
                    let mut tx = self.pool.begin().await.map_err(backend)?;
                    let claimed = sqlx::query(
                        "DELETE FROM tenant_access_legacy_switches WHERE journey_id = $1",
                    )
                    .bind(&journey_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                    if claimed == 0 {
                        continue;
                    }
                    let load = |id: String| {
                        sqlx::query(
                            "SELECT customer_id, version, body, secrets FROM tenant_access_customers \
                             WHERE customer_id = $1",
                        )
                        .bind(id)
                    };
                    let journey = load(journey_id.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let owner = load(customer_id.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if let (Some(journey), Some(owner)) = (journey, owner) {
                        let journey = self.decode(&journey)?;
                        let mut owner = self.decode(&owner)?;
                        if owner.switch.is_none() {
                            let mut customer = journey.customer;
                            customer.id = owner.customer.id.clone();
                            owner.switch = Some(Box::new($crate::model::PendingSwitch {
                                journey: $crate::model::JourneyId::generate(),
                                version: journey.version,
                                customer,
                                stage: journey.stage,
                            }));
                            let e = codec::encode(&owner, &self.sealer)?;
                            let q = sqlx::query(
                                "UPDATE tenant_access_customers SET stage = $1, method = $2, \
                                 verification_status = $3, last_verified_at = $4, \
                                 token_expires_at = $5, invitation_hash = $6, \
                                 switch_invitation_hash = $7, attention = $8, key_id = $9, \
                                 body = $10, secrets = $11, version = version + 1 \
                                 WHERE customer_id = $12 AND version = $13",
                            );
                            let version = i64::try_from(owner.version.0)
                                .map_err(|_| StoreError::Corrupt("version out of range".into()))?;
                            let moved = bind_columns(q, &e)
                                .bind(e.customer_id.as_str())
                                .bind(version)
                                .execute(&mut *tx)
                                .await
                                .map_err(backend)?
                                .rows_affected();
                            if moved == 0 {
                                // The customer changed meanwhile: leave the switch listed
                                // for the next open.
                                tx.rollback().await.map_err(backend)?;
                                continue;
                            }
                            sqlx::query(
                                "UPDATE tenant_access_events SET customer_id = $1 WHERE customer_id = $2",
                            )
                            .bind(&customer_id)
                            .bind(&journey_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                        }
                    }
                    // The row of the switch goes, folded or orphaned (its customer is gone).
                    sqlx::query("DELETE FROM tenant_access_customers WHERE customer_id = $1")
                        .bind(&journey_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    tracing::info!(customer = %customer_id, "method switch moved into its customer's record");
                }
                Ok(())
            }

            async fn insert_event(
                conn: &mut <$db as sqlx::Database>::Connection,
                event: &AuditEvent,
            ) -> Result<(), StoreError> {
                let e = codec::encode_event(event)?;
                sqlx::query(
                    "INSERT INTO tenant_access_events (customer_id, from_stage, to_stage, at, actor, note) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
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

        impl $store {
            async fn insert_notice(
                conn: &mut <$db as sqlx::Database>::Connection,
                notice: &$crate::model::Notice,
            ) -> Result<(), StoreError> {
                let body = serde_json::to_string(notice)
                    .map_err(|e| StoreError::Corrupt(format!("notice: {e}")))?;
                let at = codec::timestamp(notice.at)?;
                sqlx::query(
                    "INSERT INTO tenant_access_outbox (notice_id, channel, customer_id, created_at, \
                     state, attempts, next_attempt_at, body) \
                     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)",
                )
                .bind(notice.id.as_str())
                .bind(notice.channel.as_str())
                .bind(notice.customer.as_str())
                .bind(at)
                .bind(at)
                .bind(body)
                .execute(conn)
                .await
                .map_err(backend)?;
                Ok(())
            }

            fn outbox_entry(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<$crate::ports::OutboxEntry, StoreError> {
                let body: String = row.try_get("body").map_err(backend)?;
                let notice: $crate::model::Notice = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("stored notice: {e}")))?;
                let state: String = row.try_get("state").map_err(backend)?;
                let state = $crate::ports::OutboxState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("outbox state {state:?}")))?;
                let attempts: i32 = row.try_get("attempts").map_err(backend)?;
                let next: i64 = row.try_get("next_attempt_at").map_err(backend)?;
                let holder: Option<String> = row.try_get("claimed_by").map_err(backend)?;
                let until: Option<i64> = row.try_get("claimed_until").map_err(backend)?;
                let settled: Option<i64> = row.try_get("settled_at").map_err(backend)?;
                Ok($crate::ports::OutboxEntry {
                    notice,
                    state,
                    attempts: attempts.max(0) as u32,
                    next_attempt_at: codec::from_timestamp(next)?,
                    claim: match (holder, until) {
                        (Some(h), Some(u)) => Some((h, codec::from_timestamp(u)?)),
                        _ => None,
                    },
                    last_error: row.try_get("last_error").map_err(backend)?,
                    settled_at: settled.map(codec::from_timestamp).transpose()?,
                })
            }
        }

        /// Binds the index columns and the sealed body, in the order the SQL names them.
        fn bind_columns<'q>(
            q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            e: &'q EncodedRecord,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            q.bind(e.stage)
                .bind(e.method)
                .bind(e.verification_status)
                .bind(e.last_verified_at)
                .bind(e.token_expires_at)
                .bind(e.invitation_hash.as_deref())
                .bind(e.switch_invitation_hash.as_deref())
                .bind(e.attention.as_deref())
                .bind(e.key_id.as_deref())
                .bind(e.body.as_str())
                .bind(e.secrets.as_slice())
        }

        #[async_trait::async_trait]
        impl $crate::ports::Store for $store {
            async fn create(&self, record: &Record, event: &AuditEvent) -> Result<Version, StoreError> {
                let e = codec::encode(record, &self.sealer)?;
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let q = sqlx::query(
                    "INSERT INTO tenant_access_customers (stage, method, verification_status, \
                     last_verified_at, token_expires_at, invitation_hash, switch_invitation_hash, \
                     attention, key_id, body, secrets, customer_id, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1) \
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
                     WHERE customer_id = $1",
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
                     WHERE invitation_hash = $1 OR switch_invitation_hash = $2 LIMIT 1",
                )
                .bind(&hash.0[..])
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
                notices: &[$crate::model::Notice],
            ) -> Result<Version, StoreError> {
                let e = codec::encode(record, &self.sealer)?;
                let expected = i64::try_from(record.version.0)
                    .map_err(|_| StoreError::Corrupt("version out of range".into()))?;
                let mut tx = self.pool.begin().await.map_err(backend)?;
                let q = sqlx::query(
                    "UPDATE tenant_access_customers SET stage = $1, method = $2, verification_status = $3, \
                     last_verified_at = $4, token_expires_at = $5, invitation_hash = $6, \
                     switch_invitation_hash = $7, attention = $8, key_id = $9, body = $10, \
                     secrets = $11, version = version + 1 WHERE customer_id = $12 AND version = $13",
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
                        "SELECT version FROM tenant_access_customers WHERE customer_id = $1",
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
                for notice in notices {
                    Self::insert_notice(&mut tx, notice).await?;
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
                    "DELETE FROM tenant_access_customers WHERE customer_id = $1 AND version = $2",
                )
                .bind(customer.as_str())
                .bind(expected_db)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
                if deleted == 0 {
                    let actual: Option<i64> = sqlx::query_scalar(
                        "SELECT version FROM tenant_access_customers WHERE customer_id = $1",
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
                let mut qb: sqlx::QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT customer_id, version, body, secrets FROM tenant_access_customers WHERE 1 = 1",
                );
                if let Some(stages) = &filter.stages {
                    if stages.is_empty() {
                        return Ok(Page::empty());
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
                        return Ok(Page::empty());
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
                match filter.attention {
                    None => {}
                    Some($crate::ports::AttentionFilter::Any) => {
                        qb.push(" AND attention IS NOT NULL");
                    }
                    Some($crate::ports::AttentionFilter::None) => {
                        qb.push(" AND attention IS NULL");
                    }
                    Some($crate::ports::AttentionFilter::Reason(r)) => {
                        qb.push(" AND attention LIKE ")
                            .push_bind(format!("%,{},%", r.as_str()));
                    }
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
                let mut records = Vec::with_capacity(rows.len().min(limit));
                let mut unreadable = Vec::new();
                for row in rows.iter().take(limit) {
                    match self.decode_listed(row)? {
                        Ok(record) => records.push(record),
                        Err(u) => unreadable.push(u),
                    }
                }
                Ok(Page::with_unreadable(records, unreadable, more, limit))
            }

            async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
                let mut conn = self.pool.acquire().await.map_err(backend)?;
                Self::insert_event(&mut conn, event).await
            }

            async fn events(&self, customer: &CustomerId) -> Result<Vec<AuditEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT customer_id, from_stage, to_stage, at, actor, note FROM tenant_access_events \
                     WHERE customer_id = $1 ORDER BY seq",
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

            async fn claim_notices(
                &self,
                claim: &$crate::ports::Claim<'_>,
            ) -> Result<Vec<$crate::ports::OutboxEntry>, StoreError> {
                let now = codec::timestamp(claim.now)?;
                let until = codec::timestamp(claim.until)?;
                let limit = claim.limit.clamp(1, MAX_PAGE) as i64;
                // The due notices are picked once (a materialised CTE: PostgreSQL would run
                // an `IN (... LIMIT)` subquery again per row and claim more than the limit),
                // and the conditions are checked again on each row: a claimer that waited on
                // another's row lock sees the row as that one left it.
                let sql = concat!(
                    "WITH picked AS MATERIALIZED (SELECT seq FROM tenant_access_outbox \
                     WHERE channel = $1 AND state = 'pending' AND next_attempt_at <= $2 \
                     AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY seq LIMIT $4",
                    $skip_locked,
                    ") UPDATE tenant_access_outbox SET claimed_by = $5, claimed_until = $6, \
                     attempts = attempts + 1 WHERE seq IN (SELECT seq FROM picked) \
                     AND state = 'pending' AND (claimed_until IS NULL OR claimed_until <= $7) \
                     RETURNING seq, notice_id, state, attempts, next_attempt_at, claimed_by, \
                     claimed_until, last_error, settled_at, body"
                );
                let rows = sqlx::query(sql)
                    .bind(claim.channel)
                    .bind(now)
                    .bind(now)
                    .bind(limit)
                    .bind(claim.holder)
                    .bind(until)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in &rows {
                    let seq: i64 = row.try_get("seq").map_err(backend)?;
                    claimed.push((seq, Self::outbox_entry(row)?));
                }
                claimed.sort_by_key(|(seq, _)| *seq);
                Ok(claimed.into_iter().map(|(_, e)| e).collect())
            }

            async fn settle_notice(
                &self,
                id: &$crate::model::NoticeId,
                holder: &str,
                settlement: &$crate::ports::Settlement,
            ) -> Result<bool, StoreError> {
                use $crate::ports::Settlement;
                let (state, next, error, settled) = match settlement {
                    Settlement::Delivered { at } => {
                        ("delivered", None, None, Some(codec::timestamp(*at)?))
                    }
                    Settlement::Retry { at, error } => {
                        ("pending", Some(codec::timestamp(*at)?), Some(error.as_str()), None)
                    }
                    Settlement::Dead { at, error } => {
                        ("dead", None, Some(error.as_str()), Some(codec::timestamp(*at)?))
                    }
                };
                let settled_rows = sqlx::query(
                    "UPDATE tenant_access_outbox SET state = $1, \
                     next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3, \
                     settled_at = $4, claimed_by = NULL, claimed_until = NULL \
                     WHERE notice_id = $5 AND state = 'pending' AND claimed_by = $6",
                )
                .bind(state)
                .bind(next)
                .bind(error)
                .bind(settled)
                .bind(id.as_str())
                .bind(holder)
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected();
                Ok(settled_rows == 1)
            }

            async fn outbox(
                &self,
                query: &$crate::ports::OutboxQuery,
            ) -> Result<Vec<$crate::ports::OutboxEntry>, StoreError> {
                let rows = sqlx::query(
                    "SELECT seq, notice_id, state, attempts, next_attempt_at, claimed_by, \
                     claimed_until, last_error, settled_at, body FROM tenant_access_outbox \
                     WHERE state = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(query.state.as_str())
                .bind(query.limit.clamp(1, MAX_PAGE) as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.iter().map(Self::outbox_entry).collect()
            }
        }
    };
}

pub(crate) use sql_store_impl;
