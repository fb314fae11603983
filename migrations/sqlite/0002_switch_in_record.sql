-- tenant-access schema 2 (SQLite): a method switch lives in its customer's record, beside the
-- connection. Applied by the crate on open; do not edit.
ALTER TABLE tenant_access_customers ADD COLUMN switch_invitation_hash BLOB;
CREATE INDEX tenant_access_customers_switch_invitation
    ON tenant_access_customers (switch_invitation_hash);
-- Schema 1 kept a switch as a row of its own, named `<customer>#switch`. Its secrets are
-- sealed, so the store folds each into its customer's record in code, right after this
-- migration, and deletes it from this list.
CREATE TABLE tenant_access_legacy_switches (
    journey_id  TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL
);
INSERT INTO tenant_access_legacy_switches (journey_id, customer_id)
    SELECT customer_id, substr(customer_id, 1, length(customer_id) - 7)
    FROM tenant_access_customers
    WHERE customer_id LIKE '%#switch' AND length(customer_id) > 7;
