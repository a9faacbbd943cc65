//! Prometheus metrics: one recorder per process, rendered at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const CHANGES: &str = "pos_sync_changes_total";
pub const PUSH_SECONDS: &str = "pos_sync_push_duration_seconds";
pub const PULL_SECONDS: &str = "pos_sync_pull_duration_seconds";
pub const CONNECTED_DEVICES: &str = "pos_sync_connected_devices";
/// Connections closed at accept: over the cap per address or in all (`listen`).
pub const CONNECTIONS_REFUSED: &str = "pos_http_connections_refused_total";
/// Connections closed because the client read nothing of its answer in time (`listen`).
pub const WRITES_TIMED_OUT: &str = "pos_http_writes_timed_out_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle (installed on first use). `None` if another recorder was
/// installed first.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let h = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .ok()?;
            // Make the series exist before the first event, so dashboards see zeros.
            for outcome in ["accepted", "rejected", "duplicate", "retry"] {
                metrics::counter!(CHANGES, "outcome" => outcome).increment(0);
            }
            metrics::gauge!(CONNECTED_DEVICES).set(0.0);
            Some(h)
        })
        .clone()
}

pub fn changes(outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(CHANGES, "outcome" => outcome).increment(n);
    }
}
