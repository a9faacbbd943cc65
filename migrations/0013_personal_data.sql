-- Issue 13: personal data sealed at rest by the application (AES-256-GCM), never in clear in
-- Postgres: head-office users' emails and names, receipt email addresses. The keys: one or more
-- data keys per tenant and the email index key, each wrapped by the master key, which lives
-- outside the database (apps/sync-server/src/keys.rs).

-- No foreign key to tenants: a tenant's first key is made and committed on its own, before the
-- transaction that creates the tenant's rows commits (a key cached in memory must exist).
CREATE TABLE tenant_keys (
    tenant_id uuid NOT NULL,
    key_id integer NOT NULL CHECK (key_id > 0),
    wrapped bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE platform_keys (
    name text PRIMARY KEY,
    wrapped bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms()
);

-- The clear columns stay only until the server seals what they hold at its next start
-- (keys::seal_clear_rows); nothing writes them after.
ALTER TABLE users
    ADD COLUMN email_sealed bytea,
    ADD COLUMN email_index bytea,
    ADD COLUMN name_sealed bytea,
    ALTER COLUMN name DROP NOT NULL;
CREATE UNIQUE INDEX users_tenant_email_index_unique ON users (tenant_id, email_index)
    WHERE email_index IS NOT NULL;
CREATE INDEX users_by_email_index ON users (email_index) WHERE email_index IS NOT NULL;

ALTER TABLE receipt_emails
    ADD COLUMN recipient_sealed bytea,
    ALTER COLUMN recipient DROP NOT NULL;
