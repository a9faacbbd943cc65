-- Receipts emailed from the tills (issue: email receipts).
--
-- The address is personal data: it is kept here, never in a document (automerge history
-- cannot be erased). A row is written when the server accepts a device's request, in the same
-- transaction as its audit event, after the message was put into the mail spool directory
-- (`--mail-spool-dir`), from which a mail transfer agent sends it.

CREATE TABLE receipt_emails (
    tenant_id uuid NOT NULL,
    -- Chosen by the device: a request sent again with the same id is not queued twice.
    email_id uuid NOT NULL,
    store_id uuid NOT NULL,
    device_id uuid NOT NULL,
    -- The closed sale or the refund.
    doc_id uuid NOT NULL,
    recipient text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    subject text NOT NULL,
    body text NOT NULL,
    -- 'queued': written to the spool; sending is the mail transfer agent's job.
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued')),
    -- The spool file's name (`<email_id>.eml`).
    spool_file text NOT NULL,
    created_at bigint NOT NULL DEFAULT now_ms(),
    PRIMARY KEY (tenant_id, email_id),
    FOREIGN KEY (tenant_id, doc_id) REFERENCES documents (tenant_id, doc_id),
    FOREIGN KEY (tenant_id, store_id) REFERENCES stores (tenant_id, store_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id)
);
CREATE INDEX receipt_emails_recent ON receipt_emails (tenant_id, created_at DESC);
CREATE INDEX receipt_emails_doc ON receipt_emails (tenant_id, doc_id);
