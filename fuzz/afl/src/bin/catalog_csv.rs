//! AFL++ target `catalog_csv`: `pos_fuzz::csv::catalog_csv` (fuzz/src/csv.rs).

// `fuzz_nohook`: a panic that the library contains (automerge's, inside
// `pos_core::doc::apply_changes`) is not a crash; any panic that reaches here still aborts.
fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        pos_fuzz::csv::catalog_csv(data);
    });
}
