//! Shared helpers for the SQL store tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use tenant_access::seal::{Keyring, Sealer, SealingKey};

/// A keyring with one fixed test key.
pub fn keyring(id: &str, byte: u8) -> Keyring {
    Keyring::new(SealingKey::new(id, [byte; 32]).unwrap())
}

pub fn sealer() -> Sealer {
    Sealer::new(keyring("test-key-1", 0x42))
}

/// The PostgreSQL URL, or a loud note that PostgreSQL tests are skipped.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("TENANT_ACCESS_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the stderr handle directly, which the test harness does not capture,
            // so the skip shows even when the test passes.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! {test}: TENANT_ACCESS_PG_URL is not set: the PostgreSQL tests were NOT run !!!"
            );
            None
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A schema name no other run uses.
pub fn unique_schema(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "ta_{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops schemas made by a test run.
pub async fn drop_schemas(url: &str, schemas: &[String]) {
    use sqlx::Executor as _;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    for s in schemas {
        pool.execute(format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE").as_str())
            .await
            .unwrap();
    }
    pool.close().await;
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tenant-access-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}
