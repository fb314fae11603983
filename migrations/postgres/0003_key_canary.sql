-- tenant-access schema 3 (PostgreSQL): one sealed canary per sealing key id, so a keyring whose
-- key bytes differ from the ones the database was sealed with is refused on open instead of
-- failing every read. Applied by the crate on open; do not edit.
CREATE TABLE tenant_access_key_canaries (
    key_id TEXT PRIMARY KEY NOT NULL,
    sealed BYTEA NOT NULL
);
