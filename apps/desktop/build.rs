//! Build script: makes sure the UI folder `generate_context!` embeds exists, and declares the
//! app's commands so that capabilities can allow exactly the ones the UI uses.

use std::path::Path;

/// Every command of `src/commands`. The capability in `capabilities/default.json` allows these
/// and nothing else (no core plugin permissions: the UI needs none).
const COMMANDS: &[&str] = &include!("src/command_names.in");

fn main() {
    // `tauri::generate_context!` reads `ui/dist` at compile time. On a fresh clone nobody has run
    // Vite yet, and `cargo test --workspace` must still build: put a placeholder page there that
    // says what to do. `npm run build` replaces it.
    let dist = Path::new("../../ui/dist");
    println!("cargo:rerun-if-changed=../../ui/dist");
    println!("cargo:rerun-if-changed=src/command_names.in");
    if !dist.join("index.html").exists() {
        let page = "<!doctype html><meta charset=utf-8><title>POS</title>\
            <body style=\"font:20px sans-serif;padding:2em\">\
            <h1>The user interface was not built</h1>\
            <p>Run <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then rebuild \
            the app (<code>./test.sh</code> does both).</p>";
        if let Err(e) = std::fs::create_dir_all(dist)
            .and_then(|_| std::fs::write(dist.join("index.html"), page))
        {
            println!("cargo:warning=cannot write the placeholder ui/dist/index.html: {e}");
        }
    }
    let attrs = tauri_build::Attributes::new()
        .config_path("tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attrs) {
        panic!("tauri build failed: {e:#}");
    }
}
