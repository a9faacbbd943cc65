//! AFL++ target `merge_changes`: `pos_fuzz::sync::merge_changes` (fuzz/src/sync.rs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        pos_fuzz::sync::merge_changes(data);
    });
}
