//! Integration tests of the sync server against a real PostgreSQL (a throwaway cluster per test
//! binary, a database per test: see `pos_sync_server::pg::testing`).
//!
//! Where tests go:
//! - `edge.rs`: security headers, the metrics token, CORS, the concurrency limit and timeout.
//! - `api_fuzz.rs`: the exact OpenAPI document, and the defects the schema-driven fuzzer
//!   (`tests/fuzz/run.sh`) found, one `regression_<what>` test each.
//! - `ops.rs`: health, metrics, error shape, OpenAPI, schema contract, real sockets.
//! - `auth.rs`: login, tokens, refresh, lockout, rate limits.
//! - `devices.rs`: enrolment, device tokens, revocation, staff sync, tenant isolation.
//! - `admin.rs`: the admin API and the audit log.
//! - `sync.rs`: push, pull, bootstrap, live.
//! - `emails.rs`: receipt emails from the tills: checks, the mail spool, the admin list.
//! - `mail_delivery.rs`: the spool sent over SMTP to a real relay on loopback (aiosmtpd):
//!   STARTTLS, 5xx, 4xx, dropped and refused connections, the circuit breaker, a crash between
//!   claim and send, two senders.
//! - `abuse.rs`: issue 16's defects found by the load-and-abuse benchmark (a client that never
//!   reads its answers, large bodies before any token); abuse regressions go here.
//! - `outside.rs`: issue 15's defects found from outside (NUL text, lockout races, client-keyed
//!   memory, rank, schema names in errors, slow clients); hostile-input regressions go here.
//! - `reports.rs`: head office's reports: scope and bad input on every route, CSV, cursors,
//!   freshness (their figures are proved in `tests/reports_e2e.rs`).
//! - `console.rs`: the head-office console: cookie sessions and CSRF, its files and CSP, the
//!   checked-in OpenAPI document (`console/openapi.json`), the reports' documented shape, the
//!   catalog list and CSV import.
//! - `replica.rs`: reports on a real streaming replica (`pg_basebackup` standby on loopback).
//! - `modules.rs`: module entitlements per tenant: switching, closed routes, refused documents.
//! - `personal.rs`: personal data at rest: sealed emails and names, the blind index, rotation,
//!   rows sealed at start, and a server run whose whole log names no one.
//! - `webhooks.rs`: events written by pushes and their webhook deliveries to a real receiver on
//!   loopback (500, hang, redirect, recovery): signature, order per entity, dead letter, replay,
//!   the endpoints' admin API.
//! - `backup.rs`: backups proven by restoring: WAL archiving and full/incremental backups
//!   with pgBackRest to a real S3 server on loopback (s3s-fs behind stunnel4), the repository
//!   lost mid-backup or answering errors and "full" (a fault proxy), a point-in-time restore
//!   found whole by digest, another major version.
//! - `relay.rs`: the store mesh's server side: changes carried by another device of the store,
//!   accepted only with their author's valid signature and authorized as their author; forged,
//!   unsigned, tampered, revoked and other-store changes refused; the peers list.
//! - `tenants.rs`: a leaving tenant's export (exactly its data) and delete (every row, audited).
//! - `twofactor.rs`: TOTP two-factor login: enrolment, the second step, codes used once,
//!   recovery codes, the shared lockout, compulsory 2FA for admin roles, the sealed secret.

mod common;

mod abuse;
mod admin;
mod api_fuzz;
mod auth;
mod backup;
mod console;
mod devices;
mod edge;
mod emails;
mod mail_delivery;
mod modules;
mod ops;
mod outside;
mod personal;
mod relay;
mod replica;
mod reports;
mod sync;
mod tenants;
mod twofactor;
mod webhooks;
