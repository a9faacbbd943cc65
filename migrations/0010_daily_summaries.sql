-- Issue 11: the daily summary email per store and business day, sent once (whichever server
-- instance claims the row first writes the mail).
CREATE TABLE daily_summaries (
    tenant_id uuid NOT NULL,
    store_id uuid NOT NULL,
    business_day date NOT NULL,
    recipients integer NOT NULL DEFAULT 0,
    sent_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, store_id, business_day),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id) ON DELETE CASCADE
);
