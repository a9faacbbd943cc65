-- The sync server's master schema (issue 3).
--
-- Rules:
-- * tenant_id leads every key, and every reference between tenant-owned rows is a composite
--   foreign key (tenant_id, x) -> parent (tenant_id, x), so no row can point into another tenant.
-- * Ids are UUIDs. Times are milliseconds since the Unix epoch (bigint), as in pos-core.
-- * Secrets are stored hashed: passwords and PINs as argon2id PHC strings, refresh tokens,
--   enrolment codes and device secrets (all high-entropy or short-lived) as SHA-256.

CREATE FUNCTION now_ms() RETURNS bigint LANGUAGE sql VOLATILE
    AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE TABLE tenants (
    tenant_id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at bigint NOT NULL DEFAULT now_ms()
);

-- The per-tenant server sequence: every accepted change takes the next numbers. The row lock
-- taken by the UPDATE is held until commit, so sequence order is commit order.
CREATE TABLE tenant_seq (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    last_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE stores (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    store_id uuid NOT NULL,
    code text NOT NULL CHECK (code ~ '^[A-Za-z0-9]{1,8}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Next device number: devices are T1, T2, ...
    next_device_no integer NOT NULL DEFAULT 1,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, store_id),
    CONSTRAINT stores_code_unique UNIQUE (tenant_id, code)
);

CREATE TABLE devices (
    tenant_id uuid NOT NULL,
    device_id uuid NOT NULL,
    store_id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    last_seen_at bigint,
    revoked_at bigint,
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id) ON DELETE CASCADE,
    CONSTRAINT devices_code_unique UNIQUE (tenant_id, store_id, code)
);
-- A device presents only its id when it asks for a token.
CREATE UNIQUE INDEX devices_by_id ON devices (device_id);

CREATE TABLE users (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    -- Head-office login; NULL for store staff who only use a PIN.
    email text CHECK (email IS NULL OR email = lower(email)),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text,
    is_superadmin boolean NOT NULL DEFAULT false,
    -- pos_core::auth::Throttle, persisted.
    failed_logins bigint NOT NULL DEFAULT 0,
    locked_until bigint,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX users_email_unique ON users (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_by_id ON users (user_id);

CREATE TABLE memberships (
    tenant_id uuid NOT NULL,
    membership_id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- NULL: tenant-wide (head office).
    store_id uuid,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'cashier', 'kitchen')),
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, membership_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id) ON DELETE CASCADE,
    CONSTRAINT memberships_unique UNIQUE NULLS NOT DISTINCT (tenant_id, user_id, store_id)
);

CREATE TABLE staff_pins (
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    pin_hash text NOT NULL,
    updated_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE refresh_tokens (
    tenant_id uuid NOT NULL,
    token_id uuid NOT NULL,
    user_id uuid NOT NULL,
    -- Every token issued by rotation from one login shares its family.
    family_id uuid NOT NULL,
    token_hash bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    expires_at bigint NOT NULL,
    -- Set when this token was traded for the next one; presenting it again is reuse.
    rotated_at bigint,
    revoked_at bigint,
    PRIMARY KEY (tenant_id, token_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

CREATE TABLE enrolment_codes (
    tenant_id uuid NOT NULL,
    code_id uuid NOT NULL,
    store_id uuid NOT NULL,
    code_hash bytea NOT NULL,
    created_by uuid NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    expires_at bigint NOT NULL,
    used_at bigint,
    device_id uuid,
    PRIMARY KEY (tenant_id, code_id),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, user_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id)
);
CREATE UNIQUE INDEX enrolment_codes_hash ON enrolment_codes (code_hash);

CREATE TABLE audit_events (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    -- UUIDv7: time-ordered, the cursor of the paged audit log.
    event_id uuid NOT NULL,
    at bigint NOT NULL DEFAULT now_ms(),
    actor_user uuid,
    actor_device uuid,
    action text NOT NULL,
    target text NOT NULL,
    diff jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, event_id)
);

-- One row per automerge document, with its immutable envelope. The document's state is
-- `snapshot` (automerge save(), or NULL) plus the change_log rows of the document with
-- seq > snapshot_seq, in seq order. It is compacted only now and then.
CREATE TABLE documents (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    doc_id uuid NOT NULL,
    doc_type text NOT NULL CHECK (doc_type IN ('store_settings', 'category', 'item', 'sale',
        'refund', 'kitchen_ticket', 'stock', 'shift', 'z_report')),
    -- NULL for tenant-wide documents (the catalog).
    store_id uuid,
    created_by_device uuid NOT NULL,
    snapshot bytea,
    snapshot_seq bigint NOT NULL DEFAULT 0,
    -- Changes in change_log after the snapshot.
    changes_since_snapshot integer NOT NULL DEFAULT 0,
    -- Current heads, hex.
    heads text[] NOT NULL DEFAULT '{}',
    created_at bigint NOT NULL DEFAULT now_ms(),
    updated_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, doc_id),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id),
    CHECK ((doc_type IN ('item', 'category')) = (store_id IS NULL))
);
CREATE INDEX documents_scope ON documents (tenant_id, store_id, doc_type);

-- Every accepted change, raw, with its per-tenant server sequence.
CREATE TABLE change_log (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    doc_id uuid NOT NULL,
    -- The document's store (NULL: tenant-wide), copied from its envelope for pulls.
    store_id uuid,
    hash text NOT NULL,
    bytes bytea NOT NULL,
    author_user uuid,
    -- NULL for changes the server made itself (published catalog, store settings).
    author_device uuid,
    received_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, seq),
    CONSTRAINT change_log_hash_unique UNIQUE (tenant_id, hash),
    FOREIGN KEY (tenant_id, doc_id) REFERENCES documents (tenant_id, doc_id),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id)
);
CREATE INDEX change_log_doc ON change_log (tenant_id, doc_id, seq);
CREATE INDEX change_log_scope ON change_log (tenant_id, store_id, seq);

-- Concurrent edits of an item's price: the deterministic winner is in the document, and every
-- value stays visible here for head office.
CREATE TABLE price_conflicts (
    tenant_id uuid NOT NULL,
    conflict_id uuid NOT NULL,
    doc_id uuid NOT NULL,
    field text NOT NULL,
    "values" jsonb NOT NULL,
    winner jsonb,
    seq bigint,
    detected_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, conflict_id),
    FOREIGN KEY (tenant_id, doc_id) REFERENCES documents (tenant_id, doc_id)
);
CREATE INDEX price_conflicts_doc ON price_conflicts (tenant_id, doc_id);

-- Projections for head office: the tables and columns of pos_core::projection::TABLES with
-- tenant_id first, written by one generic writer (delete by doc_id, insert the new rows).
CREATE TABLE p_settings (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, name text, code text, currency text, tax_mode text, discount_threshold_bp bigint,
    receipt_header text, receipt_footer text, address text, tax_id text,
    PRIMARY KEY (tenant_id, doc_id));
CREATE TABLE p_categories (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    name text, pos bigint, color text,
    PRIMARY KEY (tenant_id, doc_id));
CREATE TABLE p_items (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    sku text, name text, category_id text, currency text, price bigint, tax_class text, station text,
    track_stock bigint, low_stock_threshold bigint, active bigint, barcodes text,
    PRIMARY KEY (tenant_id, doc_id));
CREATE INDEX p_items_sku ON p_items (tenant_id, sku);
CREATE TABLE p_item_barcodes (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    barcode text NOT NULL);
CREATE INDEX p_item_barcodes_doc ON p_item_barcodes (tenant_id, doc_id);
CREATE INDEX p_item_barcodes_code ON p_item_barcodes (tenant_id, barcode);
CREATE TABLE p_item_store_prices (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text NOT NULL, price bigint,
    PRIMARY KEY (tenant_id, doc_id, store_id));
CREATE TABLE p_sales (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, device_id text, kind text, status text, ticket text, shift_id text, opened_at bigint,
    opened_by text, closed_at bigint, receipt_no text, currency text, subtotal bigint, discount bigint,
    tax bigint, total bigint, paid bigint, change_given bigint, line_count bigint,
    PRIMARY KEY (tenant_id, doc_id));
CREATE INDEX p_sales_store_closed ON p_sales (tenant_id, store_id, closed_at);
CREATE INDEX p_sales_receipt ON p_sales (tenant_id, receipt_no);
CREATE TABLE p_sale_lines (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    line_id text NOT NULL, pos bigint, item_id text, sku text, name text, qty bigint, unit_price bigint,
    price_override bigint, gross bigint, discount bigint, total bigint, tax_rate_bp bigint, station text,
    course bigint, fired_at bigint, note text, modifiers text,
    PRIMARY KEY (tenant_id, doc_id, line_id));
CREATE TABLE p_sale_payments (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    payment_id text NOT NULL, tender text, amount bigint, tendered bigint, change_given bigint,
    reference text, at bigint,
    PRIMARY KEY (tenant_id, doc_id, payment_id));
CREATE TABLE p_sale_taxes (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    rate_bp bigint, net bigint, tax bigint, gross bigint);
CREATE INDEX p_sale_taxes_doc ON p_sale_taxes (tenant_id, doc_id);
CREATE TABLE p_refunds (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, device_id text, sale_id text, sale_receipt_no text, receipt_no text, shift_id text,
    created_at bigint, reason text, tax bigint, total bigint,
    PRIMARY KEY (tenant_id, doc_id));
CREATE INDEX p_refunds_sale ON p_refunds (tenant_id, sale_id);
CREATE TABLE p_refund_lines (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    line_id text NOT NULL, sale_line_id text, item_id text, name text, qty bigint, amount bigint,
    restock bigint,
    PRIMARY KEY (tenant_id, doc_id, line_id));
CREATE TABLE p_stock_docs (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, kind text, status text, created_at bigint, posted_at bigint, supplier_ref text,
    reason text, other_store_id text, transfer_out_id text, line_count bigint,
    PRIMARY KEY (tenant_id, doc_id));
CREATE TABLE p_stock_movements (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    seq bigint NOT NULL, store_id text, item_id text, kind text, qty bigint, unit_cost bigint, at bigint,
    PRIMARY KEY (tenant_id, doc_id, seq));
CREATE INDEX p_stock_movements_item ON p_stock_movements (tenant_id, store_id, item_id);
CREATE TABLE p_kitchen_tickets (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, sale_id text, station text, ticket text, course bigint, status text, fired_at bigint,
    started_at bigint, ready_at bigint, bumped_at bigint, recalled_at bigint, item_count bigint,
    PRIMARY KEY (tenant_id, doc_id));
CREATE TABLE p_kitchen_items (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    line_id text NOT NULL, pos bigint, item_id text, name text, qty bigint, modifiers text, note text,
    bumped_at bigint,
    PRIMARY KEY (tenant_id, doc_id, line_id));
CREATE TABLE p_shifts (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, device_id text, status text, opened_at bigint, opened_by text, closed_at bigint,
    float bigint, expected_cash bigint, counted_cash bigint, over_short bigint,
    PRIMARY KEY (tenant_id, doc_id));
CREATE TABLE p_shift_events (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    event_id text NOT NULL, kind text, amount bigint, reason text, at bigint, by text,
    PRIMARY KEY (tenant_id, doc_id, event_id));
CREATE TABLE p_z_reports (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    store_id text, device_id text, number bigint, shift_id text, created_at bigint, sales_count bigint,
    net_total bigint, tax bigint, expected_cash bigint, counted_cash bigint, over_short bigint,
    report_json text,
    PRIMARY KEY (tenant_id, doc_id));

-- Stock levels are the sum of the movements (never stored separately), and oversold stock is
-- flagged, not hidden.
CREATE VIEW p_stock_levels AS
    SELECT tenant_id, store_id, item_id, sum(qty)::bigint AS on_hand
    FROM p_stock_movements GROUP BY tenant_id, store_id, item_id;
CREATE VIEW p_oversold AS
    SELECT tenant_id, store_id, item_id, on_hand FROM p_stock_levels WHERE on_hand < 0;
