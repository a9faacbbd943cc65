-- Issue 14: events and webhooks (a transactional outbox).
--
-- The push that closes a sale, creates a refund or a Z report, or takes a tracked item's stock
-- to its low-stock threshold writes an event here in its own transaction (`sync.rs`,
-- `webhooks::events_of`), and one delivery row per webhook endpoint of the tenant with it. The
-- webhook worker (`webhooks.rs`) POSTs each delivery, in order per endpoint and entity.

CREATE TABLE events (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    -- 'pos.sale.closed', 'pos.refund.created', 'pos.shift.closed', 'inventory.stock.low'
    type text NOT NULL,
    -- The sale, refund or Z report document; the item for stock.
    entity_id uuid NOT NULL,
    -- The tenant's change sequence that made it (commit order, so increasing per entity).
    version bigint NOT NULL,
    occurred_at bigint NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX events_recent ON events (tenant_id, occurred_at DESC);

CREATE TABLE webhook_endpoints (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    endpoint_id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    -- The signing secret, sealed under the master key (crypto.rs), bound to this row.
    secret_sealed bytea NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, endpoint_id)
);

CREATE TABLE webhook_deliveries (
    tenant_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    -- Copied from the event: the order key.
    entity_id uuid NOT NULL,
    version bigint NOT NULL,
    -- 'pending' (due at next_attempt_at; while a worker holds it, that is the end of its
    -- lease), 'delivered' (a 2xx answer), 'dead' (out of tries).
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_status integer,
    last_error text,
    delivered_at bigint,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, endpoint_id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, event_id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- "Is an earlier version of this entity still pending for this endpoint?"
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (tenant_id, endpoint_id, entity_id, version)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (tenant_id, created_at DESC);
