//! AFL++ target `printer_status`: `pos_fuzz::printer::printer_status` (fuzz/src/printer.rs).

// `fuzz_nohook`: a panic that the library contains (automerge's, inside
// `pos_core::doc::apply_changes`) is not a crash; any panic that reaches here still aborts.
fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        pos_fuzz::printer::printer_status(data);
    });
}
