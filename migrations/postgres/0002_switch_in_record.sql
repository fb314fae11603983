-- tenant-access schema 2 (PostgreSQL): a method switch lives in its customer's record, beside
-- the connection. Applied by the crate on open; do not edit.
ALTER TABLE tenant_access_customers ADD COLUMN switch_invitation_hash BYTEA;
CREATE INDEX tenant_access_customers_switch_invitation
    ON tenant_access_customers (switch_invitation_hash);
-- Schema 1 kept a switch as a row of its own, named `<customer>#switch`. Its secrets are
-- sealed, so the store folds each into its customer's record in code, right after this
-- migration, and deletes it from this list.
CREATE TABLE tenant_access_legacy_switches (
    journey_id  TEXT COLLATE "C" PRIMARY KEY,
    customer_id TEXT COLLATE "C" NOT NULL
);
INSERT INTO tenant_access_legacy_switches (journey_id, customer_id)
    SELECT customer_id, left(customer_id, length(customer_id) - 7)
    FROM tenant_access_customers
    WHERE customer_id LIKE '%#switch' AND length(customer_id) > 7;
