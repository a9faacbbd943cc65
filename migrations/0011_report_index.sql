-- Issue 11: the sales summary reads only this index (an index-only scan: what it sums is in
-- the index), never the sale rows, which lie scattered over the table. It replaces
-- p_sales_store_closed, whose key it shares.
CREATE INDEX p_sales_report ON p_sales (tenant_id, store_id, closed_at)
    INCLUDE (status, subtotal, discount, tax, total);
DROP INDEX p_sales_store_closed;
