-- Issue 13: module entitlements per tenant (pos_core::modules). No row: the module is on.
-- Turning a module off writes a row and deletes nothing else.
CREATE TABLE tenant_modules (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    module text NOT NULL CHECK (module IN ('pos', 'kds', 'inventory', 'transfers',
        'email_receipts', 'reports', 'multi_store')),
    enabled boolean NOT NULL,
    changed_at bigint NOT NULL DEFAULT now_ms(),
    changed_by uuid,
    PRIMARY KEY (tenant_id, module)
);
