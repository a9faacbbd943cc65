//! `pos-core`: the domain of the point of sale, its documents and role policies, and the
//! device's local SQLite replica.
//!
//! **Architecture invariant: this crate knows nothing of Tauri, axum, HTTP or Postgres.** The
//! server and the desktop app both depend on it; it depends on neither.
//!
//! Map:
//! - [`calendar`]: store time: the store's zone and business day (jiff).
//! - [`metrics`]: the metric dictionary: every figure a report shows, defined once.
//! - [`money`]: integer minor units, currencies, tax in basis points, the one rounding rule.
//! - [`catalog`]: items, barcodes, modifiers, categories, store settings.
//! - [`sale`], [`refund`]: the sale lifecycle and refunds.
//! - [`kitchen`]: kitchen tickets, routing to stations, all-day counts.
//! - [`shift`]: shifts, cash counts, X and Z reports.
//! - [`inventory`]: the stock ledger.
//! - [`receipt`]: receipt numbers.
//! - [`auth`]: roles, permissions, `can`.
//! - [`email`]: the one rule for email addresses (emailed receipts).
//! - [`doc`]: document types, envelopes, automerge glue.
//! - [`policy`]: who may change which field of which document, in which state.
//! - [`projection`]: the pure document → rows mapping.
//! - [`store`]: the local replica: documents, projections, outbox, one write path.
//! - [`text`]: the one rule for storable text (no NUL, length caps), at every edge.

pub mod auth;
pub mod calendar;
pub mod catalog;
pub mod demo;
pub mod doc;
pub mod email;
pub mod import;
pub mod inventory;
pub mod kitchen;
pub mod metrics;
pub mod modules;
pub mod money;
pub mod policy;
pub mod projection;
pub mod receipt;
pub mod refund;
pub mod sale;
pub mod secret;
pub mod shift;
pub mod store;
pub mod text;
