//! AFL++ target `push_body`: `pos_fuzz::sync::push_body` (fuzz/src/sync.rs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        pos_fuzz::sync::push_body(data);
    });
}
