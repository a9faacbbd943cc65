//! AFL++ target `store_file`: `pos_fuzz::store::store_file` (fuzz/src/store.rs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        pos_fuzz::store::store_file(data);
    });
}
