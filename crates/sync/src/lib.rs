//! `pos-sync`: the wire protocol between devices and the server, the device sync engine and
//! the server's merge engine.
//!
//! **Architecture invariant: the merge engine knows nothing of HTTP or Postgres.** The server
//! loads what a batch needs, calls [`merge`], and writes what it returns in one transaction; so
//! the engine can be tested and benchmarked alone.

pub mod device;
pub mod discovery;
pub mod headoffice;
pub mod http;
pub mod lease;
pub mod mail;
pub mod memory;
pub mod merge;
pub mod mesh;
pub mod node;
pub mod peer;
pub mod runner;
pub mod signing;
pub mod wire;
