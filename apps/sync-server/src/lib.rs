//! `pos-sync-server`: the multi-tenant sync server of the offline-first POS.
//!
//! Map:
//! - [`config`]: flags and environment.
//! - [`app`]: start (database or local cluster, migrations, JWT secret), serve, shut down.
//! - [`listen`]: the accept loop (header timeout, connections per address).
//! - [`edge`]: security headers, request timeout and concurrency limit, CORS, metrics token.
//! - [`routes`]: the router and thin handlers; [`error`]: the one error type and its mapping.
//! - [`auth`]: login, refresh, extractors, permission checks; [`jwt`]: tokens.
//! - [`twofactor`]: TOTP enrolment, the second login step, recovery codes.
//! - [`crypto`]: secrets sealed at rest under the master key (AES-256-GCM).
//! - [`modules`]: module entitlements per tenant (the registry is `pos_core::modules`).
//! - [`keys`]: personal data at rest: tenant data keys, the email blind index, rotation.
//! - [`devices`]: enrolment, device tokens, staff sync.
//! - [`tenant_data`]: a leaving tenant's export (JSON Lines) and delete, audited.
//! - [`admin`]: the head-office admin API; [`openapi`]: its generated document.
//! - [`catalog`]: the catalog list and CSV import; [`console`]: the head-office web console
//!   (embedded files, cookie sessions); [`report_types`]: the reports' JSON shape.
//! - [`sync`]: push (through `pos_sync::merge`), pull, bootstrap, live.
//! - [`transfers`]: the tenant's stores and the stock transfers sent to a store.
//! - [`daily`]: the daily summary email per store to those who read its reports.
//! - [`mail`]: emailed receipts: checks, the mail spool, the admin list.
//! - [`smtp`]: the mail spool sent over SMTP (claims, retries, the circuit breaker).
//! - [`webhooks`]: events written by pushes (the outbox), webhook endpoints, the delivery worker.
//! - [`reports`]: head office's reports (the metric dictionary in SQL, store time, CSV).
//! - [`reproject`]: projections rebuilt from documents when their shape changed.
//! - [`docs`]: master documents in Postgres and the generic projection writer.
//! - [`db`]: connection, embedded migrations, sequences, audit, NOTIFY.
//! - [`pg`]: the managed local PostgreSQL cluster and the test harness.
//! - [`backup`]: continuous backup of that cluster to S3 with pgBackRest, and restore.
//! - `metrics`: Prometheus.

#![allow(clippy::type_complexity)] // database rows are read as tuples

pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod config;
pub mod console;
pub mod crypto;
pub mod daily;
pub mod db;
pub mod devices;
pub mod docs;
pub mod edge;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod listen;
pub mod mail;
pub mod metrics;
pub mod modules;
pub mod openapi;
pub mod pg;
pub mod report_types;
pub mod reports;
pub mod reproject;
pub mod routes;
pub mod smtp;
pub mod state;
pub mod sync;
pub mod tenant_data;
pub mod transfers;
pub mod twofactor;
pub mod webhooks;
pub mod webhooks_routes;
pub mod wire_schema;

pub use config::Config;
pub use routes::router;
pub use state::AppState;

/// Tunes mimalloc (the binary's allocator) for a busy server: memory it frees stays with the
/// process for the next push instead of going back to the system. With mimalloc's default
/// (purge after a second), pages were handed back and faulted in, zeroed by the kernel, again:
/// 0.6 page faults per merged change and 5 to 9% of the server's CPU under sustained load; a
/// ten-second delay did not change that, only no purging did (docs/benchmarks.md). The cost is
/// that the server's RSS stays at its high-water mark, as with glibc's malloc arenas.
pub fn tune_allocator() {
    /// `mi_option_purge_delay` of mimalloc v3 (`mimalloc.h`); the Rust bindings name only the
    /// options around it (`eager_commit_delay` = 14, `use_numa_nodes` = 16).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one process-wide integer option; mimalloc reads it on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    /// Option 15 is the purge delay: its default is mimalloc v3's 1,000 ms, and tuning sets it
    /// to "never". A mimalloc upgrade that renumbers the options fails here.
    #[test]
    fn tune_allocator_turns_off_mimallocs_purging() {
        // SAFETY: reads a process-wide option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(15) };
        assert!(matches!(get(), 1000 | -1), "option 15 is {}", get());
        super::tune_allocator();
        assert_eq!(get(), -1);
    }
}
