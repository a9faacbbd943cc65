-- Issue 13: TOTP two-factor login (RFC 6238) for head-office users.

-- A user's TOTP secret, sealed under the server's master key (AES-256-GCM, the row bound as
-- associated data); never stored in the clear. `confirmed_at` NULL: enrolment begun, not yet
-- confirmed by a first code. `last_step`: the last time step whose code was accepted; a code is
-- accepted once (UPDATE ... WHERE last_step < $step).
CREATE TABLE user_totp (
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    secret_sealed bytea NOT NULL,
    confirmed_at bigint,
    last_step bigint NOT NULL DEFAULT -1,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- One-time recovery codes: `lookup` is the code's first group (kept to find the row), `hash` the
-- argon2id PHC string of the whole code.
CREATE TABLE recovery_codes (
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    lookup text NOT NULL,
    hash text NOT NULL,
    used_at bigint,
    PRIMARY KEY (tenant_id, user_id, lookup),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- The short-lived token between a right password and the second factor (SHA-256 of it).
CREATE TABLE login_challenges (
    token_hash bytea PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    expires_at bigint NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);
