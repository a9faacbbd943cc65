-- Lighter writes on the push path (docs/benchmarks.md, "sustained").
--
-- 1. A change is a duplicate when its document already holds it, and the push finds that in
--    the document it loads and locks anyway (`pos_sync::merge`: the document's own change
--    hashes). The tenant-wide unique index on the hash repeated that check: one random-order
--    index entry per accepted change, and a lookup of every pushed hash before the merge
--    (about 10 µs a change of PostgreSQL time). A duplicate's sequence is now looked up by its
--    document, only for the duplicates.
--
--    What the tenant-wide index also caught: a device pushing a change it had pushed for one
--    document again under a new document's envelope. Only a document's first change (it has no
--    dependencies) can apply to another, and the result is a new document of that device with
--    the same contents, which the device may create anyway; every other change misses its
--    dependencies there and is answered "retry after".
ALTER TABLE change_log DROP CONSTRAINT IF EXISTS change_log_hash_unique;

-- 2. Projection rows that belong to a document's main row (its lines, payments, taxes, stock
--    movements, barcodes, store prices, kitchen items, shift events) are no longer checked one
--    by one against `tenants`. Each check is a trigger query and a row lock: 5–9 µs a row,
--    measured in psql on 14,000 sale lines (plain insert 2.8 µs a row, with the check 7.4), and
--    a busy sale has about twenty such rows. Projections are derived data, written only by the
--    server's one writer in the transaction that writes their document, whose row is checked
--    against its tenant and store; the main projection rows (one per document) keep their
--    check. (Their `ON DELETE CASCADE` from `tenants` went with the check; tenants are never
--    deleted: there is no such operation, and the change log's rows would block it.)
ALTER TABLE p_item_barcodes DROP CONSTRAINT IF EXISTS p_item_barcodes_tenant_id_fkey;
ALTER TABLE p_item_store_prices DROP CONSTRAINT IF EXISTS p_item_store_prices_tenant_id_fkey;
ALTER TABLE p_sale_lines DROP CONSTRAINT IF EXISTS p_sale_lines_tenant_id_fkey;
ALTER TABLE p_sale_payments DROP CONSTRAINT IF EXISTS p_sale_payments_tenant_id_fkey;
ALTER TABLE p_sale_taxes DROP CONSTRAINT IF EXISTS p_sale_taxes_tenant_id_fkey;
ALTER TABLE p_refund_lines DROP CONSTRAINT IF EXISTS p_refund_lines_tenant_id_fkey;
ALTER TABLE p_stock_movements DROP CONSTRAINT IF EXISTS p_stock_movements_tenant_id_fkey;
ALTER TABLE p_kitchen_items DROP CONSTRAINT IF EXISTS p_kitchen_items_tenant_id_fkey;
ALTER TABLE p_shift_events DROP CONSTRAINT IF EXISTS p_shift_events_tenant_id_fkey;

