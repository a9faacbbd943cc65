-- Issue 11: what head office's reports read.
--
-- * Projection columns and tables (pos_core::projection VERSION 2): the store's time zone and
--   business-day start, when a sale was voided, who refunded, a refund's taxes per rate and its
--   tenders. Existing rows get them when the server re-projects its documents at start
--   (`reproject::run`, driven by server_meta.projections).
-- * Report indexes: refunds by store and time, voided sales by store and time, shift events,
--   Z reports by store and time.
-- * A device's last push and last pull, for the reports' freshness: a device's round pushes its
--   whole outbox before it pulls, so its data is complete up to the later of the two.

CREATE TABLE server_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
-- The projection shape the rows were written with; the server re-projects when it is older
-- than the binary's.
INSERT INTO server_meta (key, value) VALUES ('projections', '1');

ALTER TABLE p_settings ADD COLUMN time_zone text, ADD COLUMN business_day_start text;
ALTER TABLE p_sales ADD COLUMN voided_at bigint;
ALTER TABLE p_refunds ADD COLUMN refunded_by text;
CREATE TABLE p_refund_taxes (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    rate_bp bigint, net bigint, tax bigint, gross bigint);
CREATE INDEX p_refund_taxes_doc ON p_refund_taxes (tenant_id, doc_id);
CREATE TABLE p_refund_tenders (tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE, doc_id text NOT NULL,
    payment_id text NOT NULL, tender text, amount bigint,
    PRIMARY KEY (tenant_id, doc_id, payment_id));

CREATE INDEX p_refunds_store_created ON p_refunds (tenant_id, store_id, created_at);
CREATE INDEX p_sales_store_voided ON p_sales (tenant_id, store_id, voided_at) WHERE voided_at IS NOT NULL;
CREATE INDEX p_shifts_store_opened ON p_shifts (tenant_id, store_id, opened_at);
CREATE INDEX p_z_reports_store_created ON p_z_reports (tenant_id, store_id, created_at);
CREATE INDEX p_shift_events_doc ON p_shift_events (tenant_id, doc_id);

ALTER TABLE devices ADD COLUMN last_push_at bigint, ADD COLUMN last_pull_at bigint;
