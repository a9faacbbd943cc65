//! The store mesh's server side (issue 12): a change carried to the server by another device of
//! the store is accepted only with a valid signature of its author's registered key, and is
//! authorized as its author; each refusal in its own test, the master checked untouched.

use axum::http::StatusCode;
use base64::Engine;
use pos_core::money::{Currency, Money};
use pos_core::sale::Tender;
use pos_sync::signing::{DeviceKey, SignedFields};
use pos_sync::wire::{PushResult, WireChange, PROTOCOL_VERSION};
use serde_json::json;
use sqlx_core::query_scalar::query_scalar;
use uuid::Uuid;

use crate::common::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A till enrolled with `key`'s public half (as `kind`), with its cashier.
async fn keyed_till(app: &TestApp, t: &Tenant, key: &DeviceKey, kind: &str) -> Till {
    let device = app
        .device_enrolled_with(
            t,
            json!({"public_key": b64(&key.public_key()), "code_body": {"kind": kind}}),
        )
        .await;
    till_of(app, t, device).await
}

/// Sells one closed cash sale on `till` without pushing it; returns the sale id.
fn sell_offline(till: &mut Till, item: Uuid) -> Uuid {
    let c = till.cashier;
    let sale = till.store.open_sale(&c, None).expect("open");
    till.store.add_item(&c, sale, item, 2, &[], 1).expect("add");
    let due = till
        .store
        .get::<pos_core::sale::Sale>(sale)
        .expect("sale")
        .totals()
        .expect("totals")
        .due;
    let eur = Currency::from_code("EUR").expect("EUR");
    till.store
        .pay(&c, sale, Tender::Cash, Money::new(due, eur), None)
        .expect("pay");
    sale
}

/// `till`'s outbox as its device would hand it to a peer: authored by it, signed by `key`.
fn signed_outbox(till: &Till, key: &DeviceKey) -> Vec<WireChange> {
    pos_sync::peer::outgoing(&till.store, key, 1000, |_| false).expect("outbox")
}

/// Pushes `changes` with `pusher`'s token; the server's result per change.
async fn push_through(app: &TestApp, pusher: &Till, changes: &[WireChange]) -> Vec<PushResult> {
    let r = app
        .post(
            "/v1/sync/push",
            Some(&pusher.device.token),
            json!({"protocol": PROTOCOL_VERSION, "changes": changes}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    serde_json::from_value(r.body["results"].clone()).expect("results")
}

async fn doc_in_master(app: &TestApp, doc: Uuid) -> bool {
    query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM change_log WHERE doc_id = $1)")
        .bind(doc)
        .fetch_one(&app.state.pool)
        .await
        .expect("query")
}

/// Revokes `device` as the tenant's owner.
async fn revoke(app: &TestApp, t: &Tenant, device: Uuid) {
    let r = app
        .post(
            &format!("/v1/admin/devices/{device}/revoke"),
            Some(&t.owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// The tenant's second store, `S02`, as a [`Tenant`] whose devices enrol there.
async fn other_store(app: &TestApp, t: &Tenant) -> Tenant {
    let r = app
        .post(
            "/v1/admin/stores",
            Some(&t.owner),
            json!({"code": "S02", "name": "Other", "currency": "EUR", "tax_mode": "Inclusive"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    Tenant {
        tenant_id: t.tenant_id,
        owner_id: t.owner_id,
        owner: t.owner.clone(),
        store_id: serde_json::from_value(r.body["store_id"].clone()).expect("store id"),
    }
}

fn codes(results: &[PushResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            PushResult::Rejected { code, .. } => code.clone(),
            PushResult::Accepted { .. } => "accepted".into(),
            PushResult::Duplicate { .. } => "duplicate".into(),
            PushResult::RetryAfter { .. } => "retry_after".into(),
        })
        .collect()
}

#[tokio::test]
async fn a_dead_tills_signed_sales_carried_by_another_till_land_once_as_its_author() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let key = DeviceKey::generate();
    let mut dead = keyed_till(&app, &t, &key, "till").await;
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let sale = sell_offline(&mut dead, item);
    let carried = signed_outbox(&dead, &key);
    assert!(!carried.is_empty());

    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "accepted"),
        "{results:?}"
    );
    // Recorded as the author's, not the carrier's.
    let authors: Vec<Option<Uuid>> = sqlx_core::query_scalar::query_scalar(
        "SELECT author_device FROM change_log WHERE doc_id = $1",
    )
    .bind(sale)
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    assert!(!authors.is_empty());
    assert!(authors
        .iter()
        .all(|a| *a == Some(dead.device.enrol.device_id)));

    // Carried again (a replayed batch), and pushed later by the author itself: once.
    let again = push_through(&app, &carrier, &carried).await;
    assert!(codes(&again).iter().all(|c| c == "duplicate"), "{again:?}");
    let own = push_through(&app, &dead, &carried).await;
    assert!(codes(&own).iter().all(|c| c == "duplicate"), "{own:?}");
    let n: i64 = query_scalar("SELECT count(*) FROM change_log WHERE doc_id = $1")
        .bind(sale)
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(
        n as usize,
        carried.iter().filter(|c| c.envelope.doc_id == sale).count()
    );
}

#[tokio::test]
async fn a_tampered_signature_is_refused_and_nothing_is_applied() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let key = DeviceKey::generate();
    let mut author = keyed_till(&app, &t, &key, "till").await;
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let sale = sell_offline(&mut author, item);
    let mut carried = signed_outbox(&author, &key);
    for c in &mut carried {
        let sig = c.signature.as_mut().unwrap();
        sig[10] ^= 1;
    }
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "bad_signature"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);

    // A valid signature over other fields (the author user swapped) is as bad.
    let mut swapped = signed_outbox(&author, &key);
    for c in &mut swapped {
        c.author.user_id = Uuid::now_v7();
    }
    let results = push_through(&app, &carrier, &swapped).await;
    assert!(
        codes(&results).iter().all(|c| c == "bad_signature"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);
}

#[tokio::test]
async fn an_unsigned_change_of_another_device_is_refused() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let key = DeviceKey::generate();
    let mut author = keyed_till(&app, &t, &key, "till").await;
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let sale = sell_offline(&mut author, item);
    let mut carried = signed_outbox(&author, &key);
    for c in &mut carried {
        c.signature = None;
    }
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "unsigned"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);
}

#[tokio::test]
async fn a_forged_peer_unknown_or_of_another_store_is_refused() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;

    // A real device of this store, but the changes signed by a key nobody registered.
    let mut author = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let sale = sell_offline(&mut author, item);
    let forged = signed_outbox(&author, &DeviceKey::generate());
    let results = push_through(&app, &carrier, &forged).await;
    assert!(
        codes(&results).iter().all(|c| c == "bad_signature"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);

    // A device enrolled without a key: nothing of it can be relayed.
    let mut keyless = till(&app, &t).await;
    let sale = sell_offline(&mut keyless, item);
    let carried = signed_outbox(&keyless, &DeviceKey::generate());
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "device_mismatch"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);

    // A device of the tenant's other store, with its own valid signature.
    let other_store = other_store(&app, &t).await;
    // Its key is valid and registered, but for the other store: changes it signs as their
    // author are not this store's devices' to carry.
    let key = DeviceKey::generate();
    let elsewhere = app
        .device_enrolled_with(&other_store, json!({"public_key": b64(&key.public_key())}))
        .await;
    let mut maker = till(&app, &t).await;
    let sale = sell_offline(&mut maker, item);
    let carried: Vec<WireChange> = signed_outbox(&maker, &key)
        .into_iter()
        .map(|mut c| {
            c.author.device_id = elsewhere.enrol.device_id;
            c.signature = Some(key.sign(&SignedFields::of(&c)));
            c
        })
        .collect();
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results)
            .iter()
            .all(|c| c == "device_mismatch" || c == "wrong_store"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);
}

#[tokio::test]
async fn a_revoked_devices_changes_are_refused_when_carried() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let key = DeviceKey::generate();
    let mut author = keyed_till(&app, &t, &key, "till").await;
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let sale = sell_offline(&mut author, item);
    let carried = signed_outbox(&author, &key);
    revoke(&app, &t, author.device.enrol.device_id).await;
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "device_mismatch"),
        "{results:?}"
    );
    assert!(!doc_in_master(&app, sale).await);
}

#[tokio::test]
async fn a_carried_change_is_authorized_as_its_author_not_its_carrier() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    // A kitchen screen may not take a payment. Its (signed) sale with a payment, carried by a
    // till that could take one itself, is refused: the kitchen's kind caps the role.
    let key = DeviceKey::generate();
    let device = app
        .device_enrolled_with(
            &t,
            json!({"public_key": b64(&key.public_key()), "code_body": {"kind": "kitchen"}}),
        )
        .await;
    let mut kitchen = till_posing_as(&app, &t, device, pos_core::auth::DeviceKind::Till).await;
    let sale = sell_offline(&mut kitchen, item);
    let carrier = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    let carried = signed_outbox(&kitchen, &key);
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().any(|c| c == "forbidden"),
        "{results:?}"
    );
    let paid: i64 = query_scalar("SELECT count(*) FROM p_sale_payments WHERE doc_id = $1")
        .bind(sale.to_string())
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(paid, 0, "no payment of a kitchen screen reached the master");
}

#[tokio::test]
async fn peers_lists_the_stores_other_keyed_devices_and_drops_the_revoked() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let (ka, kb) = (DeviceKey::generate(), DeviceKey::generate());
    let a = keyed_till(&app, &t, &ka, "till").await;
    let b = keyed_till(&app, &t, &kb, "kitchen").await;
    let _keyless = app.device(&t).await;
    let r = app.get("/v1/sync/peers", &a.device.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!([{"device_id": b.device.enrol.device_id, "name": "till", "kind": "kitchen",
                "public_key": b64(&kb.public_key())}])
    );
    revoke(&app, &t, b.device.enrol.device_id).await;
    let r = app.get("/v1/sync/peers", &a.device.token).await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn a_public_key_that_is_not_an_ed25519_key_is_refused_at_enrolment() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    for bad in [b64(&[1; 31]), "not base64!".to_string()] {
        let code = app.enrolment_code(&t).await;
        let r = app
            .post(
                "/v1/devices/enrol",
                None,
                json!({"code": code, "name": "till", "public_key": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
}

/// The "tentative until the cloud has it", on the real server: a revoked till's sale,
/// applied by two peers over the LAN, is carried to the cloud and refused. The refusal becomes
/// a notice to every device of the store (not of another store) and an audit event for head
/// office; a peer that applied the sale undoes it from the notice and the cloud's state, and
/// ends with no trace of it in its replica.
#[tokio::test]
async fn a_refused_carried_change_is_a_notice_to_the_store_and_is_undone_on_the_peers() {
    let app = app().await;
    let t = app.tenant("Relay").await;
    let item = publish_item(&app, &t, 350).await;
    let key = DeviceKey::generate();
    let mut author = keyed_till(&app, &t, &key, "till").await;
    let carrier_key = DeviceKey::generate();
    let mut carrier = keyed_till(&app, &t, &carrier_key, "till").await;
    let mut peer = keyed_till(&app, &t, &DeviceKey::generate(), "till").await;
    peer.store
        .upsert_staff(
            author.cashier.user_id,
            "Cas",
            pos_core::auth::Role::Cashier,
            None,
        )
        .unwrap();
    let before = peer.store.projection_digest().unwrap();
    let sale = sell_offline(&mut author, item);
    let carried = signed_outbox(&author, &key);
    let mut authors = pos_sync::merge::RelayAuthors::new();
    authors.insert(
        author.device.enrol.device_id,
        pos_core::auth::DeviceKind::Till,
        pos_sync::signing::PublicKey::from_bytes(&key.public_key()).unwrap(),
    );
    for till in [&mut carrier, &mut peer] {
        // The author's cashier works in this store: the staff list has them.
        till.store
            .upsert_staff(
                author.cashier.user_id,
                "Cas",
                pos_core::auth::Role::Cashier,
                None,
            )
            .unwrap();
        let r = pos_sync::peer::receive(&mut till.store, &authors, &carried).unwrap();
        assert_eq!(r.applied, carried.len(), "{r:?}");
        assert!(till.store.get::<pos_core::sale::Sale>(sale).is_ok());
    }
    revoke(&app, &t, author.device.enrol.device_id).await;
    let results = push_through(&app, &carrier, &carried).await;
    assert!(
        codes(&results).iter().all(|c| c == "device_mismatch"),
        "{results:?}"
    );

    // Every device of the store reads the notices, once each, in order.
    let r = app.get("/v1/sync/refusals", &peer.device.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let page: pos_sync::wire::RefusalsPage = serde_json::from_value(r.body).unwrap();
    assert_eq!(page.refusals.len(), carried.len(), "{page:?}");
    assert!(!page.more);
    for (n, c) in page.refusals.iter().zip(&carried) {
        assert_eq!(n.hash, c.hash);
        assert_eq!(n.doc_id, sale);
        assert_eq!(n.author_device, author.device.enrol.device_id);
        assert_eq!(n.pushed_by, carrier.device.enrol.device_id);
        assert_eq!(n.code, "device_mismatch");
    }
    assert!(page.refusals.windows(2).all(|w| w[0].id < w[1].id));
    let last = page.refusals.last().unwrap().id;
    let r = app
        .get(
            &format!("/v1/sync/refusals?after={last}"),
            &peer.device.token,
        )
        .await;
    assert_eq!(r.body["refusals"], json!([]), "{:?}", r.body);
    let r = app
        .get("/v1/sync/refusals?after=-1", &peer.device.token)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    // Pushed again (another carrier, a replay): still one notice per change.
    push_through(&app, &peer, &carried).await;
    let r = app.get("/v1/sync/refusals", &peer.device.token).await;
    assert_eq!(r.body["refusals"].as_array().unwrap().len(), carried.len());

    // Not another store's business.
    let other_store = other_store(&app, &t).await;
    let elsewhere = app.device(&other_store).await;
    let r = app.get("/v1/sync/refusals", &elsewhere.token).await;
    assert_eq!(r.body["refusals"], json!([]), "{:?}", r.body);

    // Head office sees it in the audit trail.
    let audit: i64 = query_scalar(
        "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'sync.refused'",
    )
    .bind(t.tenant_id)
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(audit as usize, carried.len());

    // The peer undoes it, from the notice and the cloud's state (none: the cloud never had
    // the sale), as its sync engine does.
    let r = app
        .get(&format!("/v1/sync/doc/{sale}"), &peer.device.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let first = &page.refusals[0];
    let undone = peer
        .store
        .undo_refused(first.doc_id, &first.hash, None, &first.code, &first.message)
        .unwrap();
    assert!(undone.removed, "{undone:?}");
    assert_eq!(undone.dropped.len(), carried.len());
    assert!(peer.store.get::<pos_core::sale::Sale>(sale).is_err());
    assert_eq!(peer.store.relay_len().unwrap(), 0);
    assert_eq!(
        peer.store.projection_digest().unwrap(),
        before,
        "the peer's replica is as before the sale reached it"
    );
    assert!(peer
        .store
        .sync_problems()
        .unwrap()
        .iter()
        .any(|p| p.doc_id == sale && p.message.contains("undone")));
}
