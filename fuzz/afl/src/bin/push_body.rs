//! AFL++ target `push_body`: `pos_fuzz::sync::push_body` (fuzz/src/sync.rs).

// `fuzz_nohook`: a panic that the library contains (automerge's, inside
// `pos_core::doc::apply_changes`) is not a crash; any panic that reaches here still aborts.
fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        pos_fuzz::sync::push_body(data);
    });
}
