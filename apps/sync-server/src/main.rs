//! `pos-sync-server`: parses the configuration, sets up JSON logs and runs the server.

use clap::Parser;
use pos_sync_server::Config;

/// mimalloc: a merge allocates per change (automerge, JSON); glibc's malloc cost ~15% more CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
    pos_sync_server::app::run(config).await?;
    Ok(())
}
