-- A price conflict stays in the document until someone sets the price again, and every push
-- that touched the item recorded it anew: the same conflict listed once per later edit (a
-- rename, a barcode). It is now recorded once per document, field and set of values; a third
-- concurrent value is a new conflict, and is recorded.
DELETE FROM price_conflicts a USING price_conflicts b
WHERE a.tenant_id = b.tenant_id AND a.doc_id = b.doc_id AND a.field = b.field
  AND a."values" = b."values" AND a.conflict_id > b.conflict_id;
CREATE UNIQUE INDEX price_conflicts_once ON price_conflicts (tenant_id, doc_id, field, "values");
