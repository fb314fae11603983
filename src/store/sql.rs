//! What the SQL stores share: the schema version, error mapping, the reseal report.

use crate::error::{SealError, StoreError};
use crate::seal::Sealer;

/// The newest schema version this crate writes and understands.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// The largest page a SQL store returns; bigger requests are capped.
pub(crate) const MAX_PAGE: usize = 10_000;

/// Records read per batch by `reseal_all`.
pub(crate) const RESEAL_BATCH: i64 = 500;

/// What `reseal_all` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResealReport {
    /// Records moved to the current key.
    pub resealed: u64,
    /// Records that changed while being resealed (their writer sealed them with its own key;
    /// run `reseal_all` again if the writer had an older keyring).
    pub changed_concurrently: u64,
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
