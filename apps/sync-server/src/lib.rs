//! `pos-sync-server`: the multi-tenant sync server of the offline-first POS.
//!
//! Map:
//! - [`config`]: flags and environment.
//! - [`app`]: start (database or local cluster, migrations, JWT secret), serve, shut down.
//! - [`routes`]: the router and thin handlers; [`error`]: the one error type and its mapping.
//! - [`auth`]: login, refresh, extractors, permission checks; [`jwt`]: tokens.
//! - [`devices`]: enrolment, device tokens, staff sync.
//! - [`admin`]: the head-office admin API; [`openapi`]: its generated document.
//! - [`sync`]: push (through `pos_sync::merge`), pull, bootstrap, live.
//! - [`transfers`]: the tenant's stores and the stock transfers sent to a store.
//! - [`mail`]: emailed receipts: checks, the mail spool, the admin list.
//! - [`docs`]: master documents in Postgres and the generic projection writer.
//! - [`db`]: connection, embedded migrations, sequences, audit, NOTIFY.
//! - [`pg`]: the managed local PostgreSQL cluster and the test harness.
//! - `metrics`: Prometheus.

#![allow(clippy::type_complexity)] // database rows are read as tuples

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod devices;
pub mod docs;
pub mod error;
pub mod jwt;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod pg;
pub mod routes;
pub mod state;
pub mod sync;
pub mod transfers;

pub use config::Config;
pub use routes::router;
pub use state::AppState;
