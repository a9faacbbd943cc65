-- Issue 14: the server sends the mail spool over SMTP itself (`smtp.rs`).
--
-- The spool file stays the message (its content, its stable Message-ID, its recipient); this
-- table is the delivery state of every spooled mail, receipts and daily summaries alike, so
-- several server instances share one queue. A sender claims due rows with
-- `FOR UPDATE SKIP LOCKED`, marking them `sending` until `next_attempt_at` (its lease); a
-- sender that dies mid-send leaves the row `sending`, and once the lease has passed any sender
-- takes it again (at least once: the resend carries the same Message-ID).
--
--   queued ──claim──► sending ──250──► sent
--      ▲                 │ 4xx, connection refused/dropped, timeout
--      └── retrying ◄────┤ (backoff with jitter; `failed` after --smtp-max-attempts)
--                        └── 5xx ──► failed
CREATE TABLE mail_deliveries (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    -- The receipt email's id (`receipt_emails.email_id`) or a daily summary's message id.
    mail_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('receipt', 'daily_summary')),
    -- The spool file (`<mail_id>.eml`), in `--mail-spool-dir`.
    spool_file text NOT NULL,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'retrying', 'sent', 'failed')),
    -- Tries so far (a claim counts one).
    attempts integer NOT NULL DEFAULT 0,
    -- When the row is due: the next try (`queued`, `retrying`) or the end of a claim's lease
    -- (`sending`).
    next_attempt_at bigint NOT NULL DEFAULT now_ms(),
    -- The claim that is sending it: a sender records its result only under its own claim.
    claim uuid,
    -- The relay's answer or the transport error of the last failed try (never an address).
    last_error text,
    sent_at bigint,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, mail_id)
);
CREATE INDEX mail_deliveries_due ON mail_deliveries (next_attempt_at)
    WHERE status IN ('queued', 'retrying', 'sending');

-- Receipts queued before this migration are in the spool already: they are sent now.
INSERT INTO mail_deliveries (tenant_id, mail_id, kind, spool_file, created_at)
SELECT tenant_id, email_id, 'receipt', spool_file, created_at FROM receipt_emails;

-- The status lives in one place: the delivery row.
ALTER TABLE receipt_emails DROP COLUMN status;
