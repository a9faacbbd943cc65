//! The fuzz targets: one function per target, taking the fuzzer's bytes down the real path a
//! hostile input takes, and checking what must hold whatever the bytes (no panic, no hang, one
//! answer per pushed change, nothing accepted twice, a refused store file left untouched...).
//!
//! AFL++ calls these from `fuzz/afl` (a crate outside the workspace, built with `cargo afl`);
//! `tests/replay.rs` runs every checked-in corpus entry and crashing input through the same
//! functions in `cargo test`. `scripts/fuzz.sh` builds and runs the fuzzers.

pub mod csv;
pub mod printer;
pub mod seeds;
pub mod store;
pub mod sync;

/// A fuzz target: its name (the folder of its corpus) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target. The names are the folders under `fuzz/corpora` and `fuzz/regressions`, and the
/// binaries of `fuzz/afl`.
pub const TARGETS: &[Target] = &[
    ("push_body", sync::push_body),
    ("merge_changes", sync::merge_changes),
    ("printer_status", printer::printer_status),
    ("catalog_csv", csv::catalog_csv),
    ("store_file", store::store_file),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
