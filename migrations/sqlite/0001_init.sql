-- tenant-access schema 1 (SQLite). Applied by the crate on open; do not edit.
CREATE TABLE tenant_access_customers (
    customer_id         TEXT PRIMARY KEY NOT NULL,
    version             INTEGER NOT NULL,
    stage               TEXT NOT NULL,
    method              TEXT NOT NULL,
    verification_status TEXT,
    last_verified_at    INTEGER,
    token_expires_at    INTEGER,
    invitation_hash     BLOB,
    key_id              TEXT,
    body                TEXT NOT NULL,
    secrets             BLOB NOT NULL
);
CREATE INDEX tenant_access_customers_invitation ON tenant_access_customers (invitation_hash);
CREATE INDEX tenant_access_customers_token_expiry ON tenant_access_customers (token_expires_at);
CREATE INDEX tenant_access_customers_last_verified ON tenant_access_customers (last_verified_at);
CREATE INDEX tenant_access_customers_stage ON tenant_access_customers (stage, customer_id);
CREATE INDEX tenant_access_customers_key ON tenant_access_customers (key_id);
CREATE TABLE tenant_access_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    from_stage  TEXT,
    to_stage    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX tenant_access_events_customer ON tenant_access_events (customer_id, seq);
