-- Cheaper writes on the push path (docs/benchmarks.md, "sustained").
--
-- 1. A change-log row is checked against its document only. The document's own foreign key
--    already ties its (tenant, store) to a store of the same tenant, and `change_log.store_id`
--    is a copy of the document's envelope kept for the pull index. A second per-row check
--    against `stores` bought nothing and cost a trigger query for every accepted change.
ALTER TABLE change_log DROP CONSTRAINT IF EXISTS change_log_tenant_id_store_id_fkey;

-- 2. Audit events of a busy sale (a dozen changes and their fields) pass the 2 kB TOAST
--    threshold; lz4 compresses them several times faster than the default pglz. A server
--    built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE audit_events ALTER COLUMN diff SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
