//! Build script: embeds the head-office console (`console/dist`, built by `npm run build` in
//! `console/`) into the binary, so the server serves it with no files beside it.
//!
//! It writes `$OUT_DIR/console_assets.rs`: one `include_bytes!` per file of `console/dist` (of a
//! copy in `$OUT_DIR/console`), with its content type. When the console has not been built (a fresh clone; `cargo test` before
//! `npm run build`), the table holds one placeholder `index.html` that says how to build it, and
//! the empty `console/dist` folder is created so that Cargo watches it: a later `npm run build`
//! makes the next `cargo build` embed the real files (Cargo scans a watched folder's files).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>POS head office</title>\
<body><h1>The console was not built</h1>\
<p>Run <code>npm ci &amp;&amp; npm run build</code> in <code>console/</code>, then rebuild the \
server (<code>./test.sh</code> does both).</p>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, root, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, p.canonicalize().unwrap_or(p)));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let dist = manifest.join("../../console/dist");
    if !dist.exists() {
        // Watched even when empty, so that the console's build triggers a rebuild (a missing
        // path would make Cargo run this script, and rebuild the crate, every time).
        if let Err(e) = std::fs::create_dir_all(&dist) {
            println!("cargo:warning=cannot create console/dist: {e}");
        }
    }
    println!("cargo:rerun-if-changed=../../console/dist");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        walk(&dist, &dist, &mut files);
    }
    let mut src = String::from(
        "/// The console's files: path under `console/dist`, content type, bytes.\n\
         pub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    if files.is_empty() {
        let _ = writeln!(
            src,
            "    (\"index.html\", \"text/html; charset=utf-8\", {PLACEHOLDER:?}.as_bytes()),"
        );
    }
    // The files are copied into OUT_DIR and embedded from there: Cargo may reuse this script's
    // output for a checkout at another path (a shared target folder, as CI's), and a path into
    // the first checkout would then break the build once that checkout is gone.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let copies = out_dir.join("console");
    let _ = std::fs::remove_dir_all(&copies);
    for (i, (rel, abs)) in files.iter().enumerate() {
        let copy = copies.join(format!("{i}"));
        if let Err(e) = std::fs::create_dir_all(&copies).and_then(|_| std::fs::copy(abs, &copy)) {
            panic!("cannot copy {} into OUT_DIR: {e}", abs.display());
        }
        let _ = writeln!(
            src,
            "    ({rel:?}, {:?}, include_bytes!({:?})),",
            content_type(rel),
            copy.display().to_string()
        );
    }
    src.push_str("];\n");
    let _ = writeln!(
        src,
        "/// Whether `console/dist` was built (otherwise `ASSETS` holds a placeholder page).\n\
         pub const BUILT: bool = {};",
        !files.is_empty()
    );
    let out = out_dir.join("console_assets.rs");
    std::fs::write(&out, src).expect("write console_assets.rs");
}
