-- A sale closed on one till while another till, which had it half-synced, added a line to it:
-- both changes are accepted (each was right on its author's view; refusing the close would make
-- a paid sale and its printed receipt vanish), and the merged sale is closed with something
-- left to pay. Head office settles these; this view lists them, like `p_oversold` for stock.
CREATE VIEW p_closed_sales_with_balance AS
    SELECT tenant_id, doc_id, store_id, receipt_no, total, paid, total - paid AS balance
    FROM p_sales WHERE status = 'closed' AND total <> paid;
