//! AFL++ target `printer_status`: `pos_fuzz::printer::printer_status` (fuzz/src/printer.rs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        pos_fuzz::printer::printer_status(data);
    });
}
