//! Writes a PNG and a text preview of every sample layout, on 80 mm paper, into a folder:
//! `cargo run -p pos-printing --example previews -- OUT_DIR` (default `target/previews`).

use pos_printing::profile::{Paper, PrinterProfile};
use pos_printing::render::{render_png, render_text};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/previews".into());
    std::fs::create_dir_all(&out)?;
    let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858")?;
    for (name, doc) in pos_printing::samples::all_documents() {
        std::fs::write(format!("{out}/{name}.png"), render_png(&doc, &profile)?)?;
        std::fs::write(format!("{out}/{name}.txt"), render_text(&doc, &profile)?)?;
        println!("{out}/{name}.png");
    }
    Ok(())
}
