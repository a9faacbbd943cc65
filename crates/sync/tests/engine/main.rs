//! Tests of the merge engine and the device sync engine, against the in-memory server
//! (`pos_sync::memory`). The end-to-end tests against the real server live in `tests/` at the
//! workspace root.
//!
//! Where new tests go:
//! - `converge.rs`: devices that sell offline and converge.
//! - `hostile.rs`: changes the server must refuse, each as its own test.
//! - `props.rs`: random operations, delivery order, duplicates and drops (the operations and
//!   the misbehaving network are `pos-sync-testkit`'s, shared with `tests/props_e2e.rs`).
//! - `mesh.rs`: the store mesh on the devices: a peer's signed changes over a real link,
//!   judged by the server's merge, applied or refused and listed.
//! - `emails.rs`: receipts queued for email on a device and handed to the server.
//!
//! Helpers are in `common.rs`.

mod common;
mod converge;
mod emails;
mod hostile;
mod mesh;
mod props;
