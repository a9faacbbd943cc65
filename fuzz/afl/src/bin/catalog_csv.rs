//! AFL++ target `catalog_csv`: `pos_fuzz::csv::catalog_csv` (fuzz/src/csv.rs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        pos_fuzz::csv::catalog_csv(data);
    });
}
