-- The store mesh (issue 12): every change the server refuses in a push, as a notice to the
-- devices of the pusher's store (`GET /v1/sync/refusals`). A change applied by peers on the
-- LAN is tentative until the cloud has it; when the cloud refuses it, every device that had
-- it learns it here and undoes it with what was built on it. One notice per change hash.
-- Notices are numbered while the push holds its tenant's sequence row, so they are numbered
-- in commit order per tenant and a device reading "after N" never misses one.
CREATE TABLE change_refusals (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    refusal_id bigint GENERATED ALWAYS AS IDENTITY,
    store_id uuid NOT NULL,
    doc_id uuid NOT NULL,
    change_hash text NOT NULL,
    author_device uuid NOT NULL,
    pushed_by uuid NOT NULL,
    code text NOT NULL,
    message text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (tenant_id, refusal_id),
    CONSTRAINT change_refusals_hash_unique UNIQUE (tenant_id, change_hash)
);
CREATE INDEX change_refusals_store ON change_refusals (tenant_id, store_id, refusal_id);
