-- tenant-access schema 4 (SQLite): each customer's attention reasons as an index column
-- (",reason,reason,", NULL when none) and the notification outbox, written in the same
-- transaction as the record whose reasons changed. Applied by the crate on open; do not edit.
ALTER TABLE tenant_access_customers ADD COLUMN attention TEXT;
CREATE INDEX tenant_access_customers_attention ON tenant_access_customers (attention);
CREATE TABLE tenant_access_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id       TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    settled_at      INTEGER,
    body            TEXT NOT NULL
);
CREATE INDEX tenant_access_outbox_due ON tenant_access_outbox (channel, state, next_attempt_at, seq);
CREATE INDEX tenant_access_outbox_state ON tenant_access_outbox (state, created_at);
