//! Webhook delivery latency (issue 14): events committed at a sustained rate, delivered by the
//! worker to a receiver on 127.0.0.1; the time from each event's commit (`occurred_at`, taken
//! just before the commit) to its arrival at the receiver.
//!
//! Run: `cargo bench -p pos-sync-server --bench webhooks`. `WEBHOOK_RATE` (events/s, default
//! 1000) and `WEBHOOK_SECS` (default 10). The database is the tests' throwaway cluster
//! (`pg::testing`); events are inserted by `webhooks::insert_events` (the push's own insert) in
//! batches every 10 ms over 500 entities, and each batch's commit wakes the worker as a push's
//! NOTIFY does (the live channel's "more").

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pos_sync_server::db::now_ms;
use pos_sync_server::state::Notice;
use pos_sync_server::webhooks::{self, NewEvent, WebhookConfig, Worker};
use uuid::Uuid;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate: usize = std::env::var("WEBHOOK_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let secs: u64 = std::env::var("WEBHOOK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let db = pos_sync_server::pg::testing::test_db().await.expect("db");
        let tenant = Uuid::now_v7();
        sqlx_core::query::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Bench')")
            .bind(tenant)
            .execute(&db.pool)
            .await
            .expect("tenant");
        // The receiver: latency of each arrival from its event's occurred_at.
        let lat: Arc<Mutex<Vec<i64>>> = Arc::default();
        let l2 = lat.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let l = l2.clone();
                async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                    let at = v["occurred_at"].as_i64().expect("occurred_at");
                    l.lock().unwrap().push(now_ms() - at);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let sealer = pos_sync_server::crypto::Sealer::random();
        let endpoint = Uuid::now_v7();
        sqlx_core::query::query(
            "INSERT INTO webhook_endpoints (tenant_id, endpoint_id, url, secret_sealed) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(endpoint)
        .bind(&url)
        .bind(sealer.seal(b"whsec_bench", &webhooks::secret_aad(tenant, endpoint)))
        .execute(&db.pool)
        .await
        .expect("endpoint");
        let cfg = WebhookConfig {
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            retry_base: Duration::from_millis(1000),
            retry_max: Duration::from_secs(60),
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(500),
            batch: 200,
            concurrency: 16,
            allow_private: true,
            retention: None,
        };
        let (live, _) = tokio::sync::broadcast::channel(1024);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let worker = Arc::new(Worker::new(db.pool.clone(), sealer, cfg).expect("worker"));
        worker.spawn(live.subscribe(), stop);

        let entities: Vec<Uuid> = (0..500).map(|_| Uuid::now_v7()).collect();
        let per_tick = (rate / 100).max(1);
        let total = per_tick * 100 * secs as usize;
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut version = 0i64;
        let mut sent = 0usize;
        while sent < total {
            tick.tick().await;
            let mut tx = db.pool.begin().await.expect("tx");
            let events: Vec<NewEvent> = (0..per_tick)
                .map(|i| {
                    version += 1;
                    NewEvent {
                        event_type: webhooks::SALE_CLOSED,
                        entity_id: entities[(sent + i) % entities.len()],
                        version,
                        data: serde_json::json!({ "total": 1234, "status": "closed" }),
                    }
                })
                .collect();
            webhooks::insert_events(&mut tx, tenant, &events, now_ms())
                .await
                .expect("insert");
            tx.commit().await.expect("commit");
            let _ = live.send(Notice::More {
                tenant,
                store: None,
                seq: version,
            });
            sent += per_tick;
        }
        let produced = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(60);
        while lat.lock().unwrap().len() < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut v = lat.lock().unwrap().clone();
        v.sort_unstable();
        let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        println!(
            "webhooks: {total} events at {:.0}/s over {:.1} s; delivered {}; latency commit→delivery ms: p50 {} p95 {} p99 {} max {}",
            total as f64 / produced.as_secs_f64(),
            produced.as_secs_f64(),
            v.len(),
            q(0.50),
            q(0.95),
            q(0.99),
            v[v.len() - 1]
        );
    });
}
