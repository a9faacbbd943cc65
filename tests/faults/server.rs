//! `fault-server`: the sync server's own `main` (`apps/sync-server/src/main.rs`: the same
//! allocator, configuration, JSON logs and `app::run`), built in this package so that the fault
//! campaign (`tests/faults_e2e.rs`) gets its path from Cargo (`CARGO_BIN_EXE_fault-server`),
//! always as fresh as the code under test, and can `kill -9` it as a process.

use clap::Parser;
use pos_sync_server::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    pos_sync_server::tune_allocator();
    let config = Config::parse();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = pos_sync_server::app::run(config).await {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}
