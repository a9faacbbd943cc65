//! Integration tests of pos-core, compiled as one binary.
//!
//! Where new tests go:
//! - `sale.rs`: the sale lifecycle, discounts, payments, void.
//! - `refund.rs`: refunds and their bounds.
//! - `shift.rs`: shifts, cash counts, X and Z reports.
//! - `inventory.rs`: the stock ledger and its flags.
//! - `kitchen.rs`: routing to stations and the ticket lifecycle.
//! - `policy.rs`: the document policy (who may change what), including hostile edits.
//! - `store.rs`: the local replica: one write path, atomicity, outbox, reopen, receipts, the
//!   queue of receipts to email, catalog import from CSV.
//! - `store_files.rs`: corrupt, foreign and older store files.
//! - `props.rs`: property tests over random operation sequences.
//! - `till.rs`: editing a line, price overrides, guests, courses held and fired (issue 17).
//! - `split.rs`: a bill split by item or evenly, tables moved and merged (issue 17).
//!
//! Regression tests are named after the bug they pin down. Shared helpers are in `common.rs`.

mod common;
mod inventory;
mod kitchen;
mod policy;
mod props;
mod refund;
mod sale;
mod shift;
mod split;
mod store;
mod store_files;
mod till;
