use std::time::Duration;

use axum::http::StatusCode;
use futures_util::StreamExt;
use pos_core::catalog::Item;
use pos_core::doc::{DocType, Envelope};
use pos_sync::merge::author_change;
use pos_sync::wire::{
    Author, PullResponse, PushResponse, PushResult, WireChange, PROTOCOL_VERSION,
};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

/// A device-authored change creating an item.
pub(crate) fn new_item_change(t: &Tenant, d: &Device, user: Uuid, it: &Item) -> WireChange {
    let env = Envelope {
        doc_id: Uuid::now_v7(),
        tenant_id: t.tenant_id,
        store_id: None,
        doc_type: DocType::Item,
        created_by_device: d.enrol.device_id,
    };
    let (hash, bytes) = author_change(env, None, it, Uuid::new_v4().as_bytes()).expect("change");
    WireChange {
        envelope: env,
        hash,
        bytes,
        author: Author {
            user_id: user,
            device_id: d.enrol.device_id,
        },
        signature: None,
    }
}

pub(crate) async fn push(app: &TestApp, d: &Device, changes: Vec<WireChange>) -> PushResponse {
    let r = app
        .post(
            "/v1/sync/push",
            Some(&d.token),
            json!({"protocol": PROTOCOL_VERSION, "changes": changes}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body).expect("push response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_through_the_router() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let cashier = app.staff(&t, "Cass", "cashier").await;
    let d1 = app.device(&t).await;
    let d2 = app.device(&t).await;

    let good = new_item_change(&t, &d1, manager, &item("Latte", 350));
    let forbidden = new_item_change(&t, &d1, cashier, &item("Free", 0));
    let res = push(&app, &d1, vec![good.clone(), forbidden.clone()]).await;
    let seq = match &res.results[0] {
        PushResult::Accepted { hash, seq } => {
            assert_eq!(hash, &good.hash);
            *seq
        }
        other => panic!("expected accepted, got {other:?}"),
    };
    match &res.results[1] {
        PushResult::Rejected { code, .. } => assert_eq!(code, "forbidden"),
        other => panic!("a cashier cannot create items: {other:?}"),
    }

    // Idempotent by hash.
    let again = push(&app, &d1, vec![good.clone()]).await;
    assert_eq!(
        again.results,
        vec![PushResult::Duplicate {
            hash: good.hash.clone(),
            seq
        }]
    );

    // The other device of the store pulls it (after the store settings), byte for byte.
    let r = app.get("/v1/sync/pull?cursor=0&limit=1", &d2.token).await;
    let page: PullResponse = serde_json::from_value(r.body).expect("pull");
    assert_eq!(page.changes.len(), 1);
    assert!(page.more);
    let r = app
        .get(&format!("/v1/sync/pull?cursor={}", page.cursor), &d2.token)
        .await;
    let page: PullResponse = serde_json::from_value(r.body).expect("pull");
    assert!(!page.more);
    let pulled = page
        .changes
        .iter()
        .find(|c| c.hash == good.hash)
        .expect("pulled");
    assert_eq!(pulled.seq, seq);
    assert_eq!(pulled.bytes, good.bytes);
    assert_eq!(pulled.envelope, good.envelope);
    assert!(
        page.changes.iter().all(|c| c.hash != forbidden.hash),
        "rejected never pulled"
    );

    // Projection, change log and audit were written together.
    let (name,): (String,) = sqlx_core::query_as::query_as(
        "SELECT name FROM p_items WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(good.envelope.doc_id.to_string())
    .fetch_one(&app.db.pool)
    .await
    .expect("projection row");
    assert_eq!(name, "Latte");
    let (n,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'sync.change' AND actor_user = $2",
    )
    .bind(t.tenant_id)
    .bind(manager)
    .fetch_one(&app.db.pool)
    .await
    .expect("audit");
    assert_eq!(n, 1);

    // Bootstrap and the doc endpoint give the current state as an automerge snapshot.
    let r = app
        .get(&format!("/v1/sync/doc/{}", good.envelope.doc_id), &d2.token)
        .await;
    let snap: pos_sync::wire::DocSnapshot = serde_json::from_value(r.body).expect("snapshot");
    let am = automerge::AutoCommit::load(&snap.bytes).expect("loads");
    let doc = pos_core::doc::AnyDoc::hydrate(DocType::Item, &am).expect("item");
    assert!(matches!(doc, pos_core::doc::AnyDoc::Item(ref i) if i.name == "Latte"));
    let r = app.get("/v1/sync/bootstrap", &d2.token).await;
    assert_eq!(r.body["total"], 2, "settings + item");
    assert_eq!(r.body["cursor"], seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_for_another_tenant_or_another_device_is_rejected() {
    let app = app().await;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    let manager = app.staff(&a, "Mia", "manager").await;
    let da = app.device(&a).await;
    let db = app.device(&b).await;
    let mut c = new_item_change(&a, &da, manager, &item("Tea", 200));
    c.envelope.tenant_id = b.tenant_id;
    let res = push(&app, &da, vec![c]).await;
    assert!(
        matches!(&res.results[0], PushResult::Rejected { code, .. } if code == "wrong_tenant"),
        "{res:?}"
    );
    // Pushed by another device than its author.
    let c = new_item_change(&a, &da, manager, &item("Tea", 200));
    let res = push(&app, &db, vec![c]).await;
    assert!(
        matches!(&res.results[0], PushResult::Rejected { .. }),
        "{res:?}"
    );
    let r = app
        .post(
            "/v1/sync/push",
            Some(&da.token),
            json!({"protocol": 99, "changes": []}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "VALIDATION");
}

/// The value of one Prometheus sample line of `/metrics` (0 if absent).
async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let r = app
        .call(axum::http::Method::GET, "/metrics", None, None)
        .await;
    r.body
        .as_str()
        .expect("text")
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Pushes and pulls move the counters and the latency histograms (the recorder is the
/// process's, shared with tests running alongside, so the checks are "at least").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_pulls_move_the_metrics() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let cashier = app.staff(&t, "Cass", "cashier").await;
    let d = app.device(&t).await;
    let accepted = r#"pos_sync_changes_total{outcome="accepted"}"#;
    let rejected = r#"pos_sync_changes_total{outcome="rejected"}"#;
    let duplicate = r#"pos_sync_changes_total{outcome="duplicate"}"#;
    let pushes = "pos_sync_push_duration_seconds_count";
    let pulls = "pos_sync_pull_duration_seconds_count";
    let before = [
        metric(&app, accepted).await,
        metric(&app, rejected).await,
        metric(&app, duplicate).await,
        metric(&app, pushes).await,
        metric(&app, pulls).await,
    ];
    let good = new_item_change(&t, &d, manager, &item("Latte", 350));
    let bad = new_item_change(&t, &d, cashier, &item("Free", 0));
    push(&app, &d, vec![good.clone(), bad]).await;
    push(&app, &d, vec![good]).await;
    let r = app.get("/v1/sync/pull?cursor=0", &d.token).await;
    assert_eq!(r.status, StatusCode::OK);
    let after = [
        metric(&app, accepted).await,
        metric(&app, rejected).await,
        metric(&app, duplicate).await,
        metric(&app, pushes).await,
        metric(&app, pulls).await,
    ];
    let moved: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert!(moved[0] >= 1.0, "accepted {moved:?}");
    assert!(moved[1] >= 1.0, "rejected {moved:?}");
    assert!(moved[2] >= 1.0, "duplicate {moved:?}");
    assert!(moved[3] >= 2.0, "push latency observations {moved:?}");
    assert!(moved[4] >= 1.0, "pull latency observations {moved:?}");
}

type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves `router` on a real socket and opens the live channel there with `token`.
async fn live_socket(router: axum::Router, token: &str) -> LiveSocket {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/v1/sync/live"),
    )
    .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect")
        .0
}

/// Reads the `more` the live channel sends at connect, then publishes items through `app` until
/// a notice of a later sequence arrives on `ws` (the LISTEN connection may start after a
/// publish). Fails after ten seconds.
async fn publish_until_live_notice(app: &TestApp, t: &Tenant, ws: &mut LiveSocket) {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("ok");
    let pos_sync::wire::LiveMessage::More { seq: first } =
        serde_json::from_str(msg.to_text().expect("text")).expect("live message");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .post("/v1/admin/items", Some(&t.owner), json!({"sku": "L", "name": "Latte", "currency": "EUR", "price": 350, "tax_class": "std"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let seq = r.body["seq"].as_i64().expect("seq");
        let got = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        if let Ok(Some(Ok(msg))) = got {
            let pos_sync::wire::LiveMessage::More { seq: s } =
                serde_json::from_str(msg.to_text().expect("text")).expect("message");
            assert!(s > first && s <= seq, "{s} after {first}, up to {seq}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no live notice");
    }
}

/// The live channel on a real socket: a published item tells the store's devices there is more,
/// through Postgres NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_channel_says_more_after_a_change_via_listen_notify() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    pos_sync_server::app::spawn_listener(
        app.state.pool.clone(),
        app.state.live.clone(),
        app.state.shutdown.clone(),
    );
    let mut ws = live_socket(app.router.clone(), &d.token).await;
    publish_until_live_notice(&app, &t, &mut ws).await;
    let r = app
        .call(axum::http::Method::GET, "/metrics", None, None)
        .await;
    assert!(r
        .body
        .as_str()
        .expect("text")
        .contains("pos_sync_connected_devices"));

    // Revoking the device closes its open socket (the notice comes back through NOTIFY).
    let r = app.revoke(&t, d.enrol.device_id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the socket closes in time")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => {
                break
            }
            Some(Ok(_)) => {} // a `more` sent before the revocation
        }
    }
}

/// Behind several instances: a change pushed through one instance reaches a device whose live
/// socket is on another, through Postgres NOTIFY and the other's LISTEN task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_channel_works_across_server_instances() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let d = app.device(&t).await;
    let (other, _keep) = app.second_instance().await;
    let mut ws = live_socket(other, &d.token).await;
    // Published through the first instance (its router, no LISTEN task of its own).
    publish_until_live_notice(&app, &t, &mut ws).await;
}

/// Two devices change the same price offline: both changes are accepted, the document converges
/// on one value, and head office sees every value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_price_edits_converge_and_the_losing_value_stays_visible() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d1 = app.device(&t).await;
    let d2 = app.device(&t).await;
    let r = app
        .post("/v1/admin/items", Some(&t.owner), json!({"sku": "LAT", "name": "Latte", "currency": "EUR", "price": 350, "tax_class": "std"}))
        .await;
    let doc_id: Uuid = serde_json::from_value(r.body["doc_id"].clone()).expect("id");
    let r = app.get(&format!("/v1/sync/doc/{doc_id}"), &d1.token).await;
    let snap: pos_sync::wire::DocSnapshot = serde_json::from_value(r.body).expect("snapshot");
    let base = pos_sync::merge::MasterDoc {
        envelope: snap.envelope,
        snapshot: Some(snap.bytes),
        changes: vec![],
    };
    let edit = |d: &Device, price: i64| {
        let mut it = item("Latte", price);
        it.sku = "LAT".into();
        let (hash, bytes) =
            author_change(snap.envelope, Some(&base), &it, Uuid::new_v4().as_bytes())
                .expect("change");
        WireChange {
            envelope: snap.envelope,
            hash,
            bytes,
            author: Author {
                user_id: manager,
                device_id: d.enrol.device_id,
            },
            signature: None,
        }
    };
    let c1 = edit(&d1, 380);
    let c2 = edit(&d2, 390);
    let r1 = push(&app, &d1, vec![c1]).await;
    let r2 = push(&app, &d2, vec![c2]).await;
    assert!(
        matches!(r1.results[0], PushResult::Accepted { .. }),
        "{r1:?}"
    );
    assert!(
        matches!(r2.results[0], PushResult::Accepted { .. }),
        "{r2:?}"
    );
    let r = app.get("/v1/admin/price-conflicts", &t.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let conflicts = r.body.as_array().expect("list");
    let c = conflicts
        .iter()
        .find(|c| c["field"] == "price")
        .expect("price conflict recorded");
    let mut values: Vec<i64> = c["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    values.sort();
    assert_eq!(values, vec![380, 390]);
    let (price,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT price FROM p_items WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(doc_id.to_string())
    .fetch_one(&app.db.pool)
    .await
    .expect("projection");
    assert_eq!(
        serde_json::json!(price),
        c["winner"],
        "the projection shows the winner"
    );
    // A later edit of the item (its name) leaves the conflict in the document; it stays listed
    // once, not once more per push that touches the item.
    let mut renamed = item("Latte grande", 350);
    renamed.sku = "LAT".into();
    let (hash, bytes) = author_change(
        snap.envelope,
        Some(&base),
        &renamed,
        Uuid::new_v4().as_bytes(),
    )
    .expect("rename");
    let r3 = push(
        &app,
        &d1,
        vec![WireChange {
            envelope: snap.envelope,
            hash,
            bytes,
            author: Author {
                user_id: manager,
                device_id: d1.enrol.device_id,
            },
            signature: None,
        }],
    )
    .await;
    assert!(
        matches!(r3.results[0], PushResult::Accepted { .. }),
        "{r3:?}"
    );
    let r = app.get("/v1/admin/price-conflicts", &t.owner).await;
    let listed = r
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["field"] == "price")
        .count();
    assert_eq!(listed, 1, "{:?}", r.body);
}

/// A large batch is merged and written in one go: every change accepted with consecutive
/// sequences, every projection row written, and pulled back in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_thousand_changes_is_accepted_with_consecutive_sequences() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d = app.device(&t).await;
    let changes: Vec<WireChange> = (0..1000)
        .map(|i| new_item_change(&t, &d, manager, &item(&format!("Item{i}"), 100 + i)))
        .collect();
    let started = std::time::Instant::now();
    let res = push(&app, &d, changes).await;
    eprintln!("1000 changes pushed in {:?}", started.elapsed());
    let seqs: Vec<i64> = res
        .results
        .iter()
        .map(|r| match r {
            PushResult::Accepted { seq, .. } => *seq,
            other => panic!("not accepted: {other:?}"),
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive, in batch order"
    );
    let (n,): (i64,) =
        sqlx_core::query_as::query_as("SELECT count(*) FROM p_items WHERE tenant_id = $1")
            .bind(t.tenant_id)
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
    assert_eq!(n, 1000);
    let other = app.device(&t).await;
    let pull_all = |d: &Device| {
        let token = d.token.clone();
        let app = &app;
        async move {
            let (mut cursor, mut pulled, mut pages) = (0, 0, 0);
            loop {
                let r = app
                    .get(&format!("/v1/sync/pull?cursor={cursor}&limit=300"), &token)
                    .await;
                let page: PullResponse = serde_json::from_value(r.body).expect("pull");
                pulled += page.changes.len();
                pages += 1;
                cursor = page.cursor;
                if !page.more {
                    break;
                }
            }
            (pulled, cursor, pages)
        }
    };
    let (pulled, cursor, pages) = pull_all(&other).await;
    assert_eq!(pulled, 1001, "the store settings and the thousand items");
    assert_eq!(pages, 4);
    let last = *seqs.last().expect("seqs");
    assert_eq!(cursor, last);
    // The pushing device is not sent its own changes back, yet its cursor moves past them.
    let (pulled, cursor, pages) = pull_all(&d).await;
    assert_eq!(pulled, 1, "only the store settings, which the server wrote");
    assert_eq!((cursor, pages), (last, 1));
}

/// A device that lost the answer to a push sends the batch again with something new: each
/// change it had sent is a duplicate carrying its own first sequence (found by its document,
/// not a tenant-wide hash index), the new one is accepted, and nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_batch_answers_each_change_with_its_first_sequence() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d = app.device(&t).await;
    let created = new_item_change(&t, &d, manager, &item("Latte", 350));
    let mut base = pos_sync::merge::MasterDoc {
        envelope: created.envelope,
        snapshot: None,
        changes: vec![created.bytes.clone()],
    };
    let mut edits = Vec::new();
    for price in [360, 370, 380] {
        let (hash, bytes) = author_change(
            created.envelope,
            Some(&base),
            &item("Latte", price),
            Uuid::new_v4().as_bytes(),
        )
        .expect("edit");
        base.changes.push(bytes.clone());
        edits.push(WireChange {
            envelope: created.envelope,
            hash,
            bytes,
            author: created.author,
            signature: None,
        });
    }
    let first = push(
        &app,
        &d,
        vec![created.clone(), edits[0].clone(), edits[1].clone()],
    )
    .await;
    let seqs: Vec<i64> = first
        .results
        .iter()
        .map(|r| match r {
            PushResult::Accepted { seq, .. } => *seq,
            other => panic!("expected accepted, got {other:?}"),
        })
        .collect();
    let again = push(
        &app,
        &d,
        vec![
            edits[1].clone(),
            created.clone(),
            edits[0].clone(),
            edits[2].clone(),
        ],
    )
    .await;
    assert_eq!(
        again.results[..3],
        [
            PushResult::Duplicate {
                hash: edits[1].hash.clone(),
                seq: seqs[2]
            },
            PushResult::Duplicate {
                hash: created.hash.clone(),
                seq: seqs[0]
            },
            PushResult::Duplicate {
                hash: edits[0].hash.clone(),
                seq: seqs[1]
            },
        ]
    );
    assert!(
        matches!(&again.results[3], PushResult::Accepted { seq, .. } if *seq > seqs[2]),
        "{again:?}"
    );
    let stored: i64 = sqlx_core::query_scalar::query_scalar(
        "SELECT count(*) FROM change_log WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(created.envelope.doc_id)
    .fetch_one(&app.db.pool)
    .await
    .expect("count");
    assert_eq!(stored, 4);
}

/// A push's audit trail: one event per document and author, listing that document's accepted
/// changes (a dozen changes of one sale make one event, not twelve).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_push_makes_one_audit_event_per_document_and_author() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d = app.device(&t).await;
    let created = new_item_change(&t, &d, manager, &item("Latte", 350));
    let base = pos_sync::merge::MasterDoc {
        envelope: created.envelope,
        snapshot: None,
        changes: vec![created.bytes.clone()],
    };
    let (hash, bytes) = author_change(
        created.envelope,
        Some(&base),
        &item("Latte", 380),
        Uuid::new_v4().as_bytes(),
    )
    .expect("edit");
    let edited = WireChange {
        envelope: created.envelope,
        hash,
        bytes,
        author: created.author,
        signature: None,
    };
    let other = new_item_change(&t, &d, manager, &item("Mocha", 420));
    let r = push(&app, &d, vec![created.clone(), edited.clone(), other]).await;
    assert!(
        r.results
            .iter()
            .all(|x| matches!(x, PushResult::Accepted { .. })),
        "{r:?}"
    );
    let events: Vec<(String, serde_json::Value)> = sqlx_core::query_as::query_as(
        "SELECT target, diff FROM audit_events WHERE tenant_id = $1 AND action = 'sync.change' ORDER BY target",
    )
    .bind(t.tenant_id)
    .fetch_all(&app.db.pool)
    .await
    .expect("audit");
    assert_eq!(events.len(), 2, "{events:?}");
    let latte = events
        .iter()
        .find(|(target, _)| target.ends_with(&created.envelope.doc_id.to_string()))
        .expect("the latte's event");
    let hashes: Vec<&str> = latte.1["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(hashes, [created.hash.as_str(), edited.hash.as_str()]);
    assert!(latte.1["changes"][1]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .any(|f| f == "price"));
}

/// Past `COMPACT_AFTER` stored changes a document is compacted into a snapshot; later pushes
/// load it as that snapshot plus only the changes stored after it, and keep merging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_document_keeps_merging_from_its_snapshot_and_later_changes() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d = app.device(&t).await;
    let first = new_item_change(&t, &d, manager, &item("Latte", 300));
    let env = first.envelope;
    let actor = Uuid::new_v4();
    let mut local = pos_sync::merge::MasterDoc {
        envelope: env,
        snapshot: None,
        changes: vec![first.bytes.clone()],
    };
    let res = push(&app, &d, vec![first]).await;
    assert!(
        matches!(res.results[0], PushResult::Accepted { .. }),
        "{res:?}"
    );
    let total = pos_sync::merge::COMPACT_AFTER + 20;
    let mut price = 300;
    for _ in 0..total.div_ceil(10) {
        let mut batch = Vec::new();
        for _ in 0..10 {
            price += 1;
            let mut it = item("Latte", price);
            it.sku = "SKU-Latte".into();
            let (hash, bytes) =
                author_change(env, Some(&local), &it, actor.as_bytes()).expect("change");
            local.changes.push(bytes.clone());
            batch.push(WireChange {
                envelope: env,
                hash,
                bytes,
                author: Author {
                    user_id: manager,
                    device_id: d.enrol.device_id,
                },
                signature: None,
            });
        }
        let res = push(&app, &d, batch).await;
        for r in &res.results {
            assert!(matches!(r, PushResult::Accepted { .. }), "{r:?}");
        }
    }
    let (snapshot, since): (Option<Vec<u8>>, i32) = sqlx_core::query_as::query_as(
        "SELECT snapshot, changes_since_snapshot FROM documents WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(env.doc_id)
    .fetch_one(&app.db.pool)
    .await
    .expect("document row");
    assert!(snapshot.is_some(), "compacted");
    assert!(
        (since as usize) < pos_sync::merge::COMPACT_AFTER,
        "changes after the snapshot: {since}"
    );
    let (stored,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT price FROM p_items WHERE tenant_id = $1 AND doc_id = $2",
    )
    .bind(t.tenant_id)
    .bind(env.doc_id.to_string())
    .fetch_one(&app.db.pool)
    .await
    .expect("projection");
    assert_eq!(stored, price);
    let r = app
        .get(&format!("/v1/sync/doc/{}", env.doc_id), &d.token)
        .await;
    let snap: pos_sync::wire::DocSnapshot = serde_json::from_value(r.body).expect("snapshot");
    let (_, doc) = pos_sync::merge::load_master(&pos_sync::merge::MasterDoc {
        envelope: env,
        snapshot: Some(snap.bytes),
        changes: vec![],
    })
    .expect("loads");
    let pos_core::doc::AnyDoc::Item(it) = doc else {
        panic!("not an item: {doc:?}")
    };
    assert_eq!(it.price, price);
}

/// Bootstrap in pages: every document exactly once, the same cursor and total on every page
/// (counted once, carried in the page token), and a malformed token refused with the error
/// shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_pages_cover_every_document_once_with_one_total() {
    let app = app().await;
    let t = app.tenant("Acme").await;
    let manager = app.staff(&t, "Mia", "manager").await;
    let d = app.device(&t).await;
    let n = pos_sync_server::sync::BOOTSTRAP_PAGE as usize * 2 + 7;
    let changes: Vec<WireChange> = (0..n)
        .map(|i| new_item_change(&t, &d, manager, &item(&format!("Item{i}"), 100)))
        .collect();
    let res = push(&app, &d, changes).await;
    assert!(res
        .results
        .iter()
        .all(|r| matches!(r, PushResult::Accepted { .. })));
    let other = app.device(&t).await;
    let (mut seen, mut pages, mut page, mut totals, mut cursors) = (
        std::collections::HashSet::new(),
        0,
        None::<String>,
        vec![],
        vec![],
    );
    loop {
        let q = page
            .as_deref()
            .map(|p| format!("?page={p}"))
            .unwrap_or_default();
        let r = app
            .get(&format!("/v1/sync/bootstrap{q}"), &other.token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let p: pos_sync::wire::BootstrapPage = serde_json::from_value(r.body).expect("page");
        pages += 1;
        totals.push(p.total);
        cursors.push(p.cursor);
        for doc in &p.docs {
            assert!(seen.insert(doc.envelope.doc_id), "a document came twice");
        }
        match p.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    // The items and the store's settings.
    assert_eq!(seen.len(), n + 1);
    assert_eq!(pages, 3);
    assert!(totals.iter().all(|&x| x == (n + 1) as i64), "{totals:?}");
    assert!(cursors.windows(2).all(|w| w[0] == w[1]), "{cursors:?}");
    for bad in [
        "x",
        "1.not-a-uuid",
        "1.00000000-0000-0000-0000-000000000000.x",
        "1.00000000-0000-0000-0000-000000000000.5.9",
    ] {
        let r = app
            .get(&format!("/v1/sync/bootstrap?page={bad}"), &other.token)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"]["code"], "VALIDATION", "{:?}", r.body);
    }
}
