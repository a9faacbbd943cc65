//! The store mesh against the real server (issue 12): a till that dies during an outage after
//! its sales reached another device; that device carries them to the cloud, where they land
//! once, as the dead till's, checked against its registered key.

use e2e::{TestDevice, TestServer};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_sync::peer::{authors_from, outgoing, receive};
use serde_json::json;
use uuid::Uuid;

fn sell(d: &mut TestDevice, cashier: Uuid, item: Uuid) -> Uuid {
    let c = d.store.actor(cashier).unwrap();
    let sale = d.store.open_sale(&c, None).unwrap();
    d.store.add_item(&c, sale, item, 2, &[], 1).unwrap();
    let due = d.store.get::<Sale>(sale).unwrap().totals().unwrap().due;
    let eur = Currency::from_code("EUR").unwrap();
    d.store
        .pay(&c, sale, Tender::Cash, Money::new(due, eur), None)
        .unwrap();
    sale
}

#[test]
fn a_dead_tills_sales_reach_the_master_through_another_till_exactly_once() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tenant, owner, store) = server.tenant_with_store("Mesh", "owner@mesh.test");
    let cashier = owner
        .create_staff(store, "Carl", "cashier", "3333")
        .unwrap();
    let item = owner
        .publish_item(json!({"sku": "CRO", "name": "Croissant", "currency": "EUR",
            "price": 250, "tax_class": "standard"}))
        .unwrap();
    let mut dying = TestDevice::enrol(
        &server.url,
        &owner.enrolment_code(store).unwrap(),
        dir.path(),
        "t1",
    );
    let mut carrier = TestDevice::enrol(
        &server.url,
        &owner.enrolment_code(store).unwrap(),
        dir.path(),
        "t2",
    );
    dying.sync().unwrap();
    carrier.sync().unwrap();
    let dying_id = dying.store.identity().device_id;

    // The cloud is away: the till sells and hands its changes to the other till over the LAN.
    let sales: Vec<Uuid> = (0..3).map(|_| sell(&mut dying, cashier, item)).collect();
    let key = dying
        .http
        .credential()
        .signing_key()
        .expect("enrolment made a key");
    let batch = outgoing(&dying.store, &key, 1000).unwrap();
    let authors = authors_from(&carrier.http.peers().unwrap());
    let report = receive(&mut carrier.store, &authors, &batch).unwrap();
    assert_eq!(report.applied, batch.len(), "{report:?}");
    for s in &sales {
        assert!(carrier.store.get::<Sale>(*s).is_ok());
    }
    // Then it dies for good, its sales never pushed by itself.
    drop(dying);

    // The link returns: the carrier's round pushes what it carries.
    let r = carrier.sync().unwrap();
    assert_eq!(r.relayed, batch.len(), "{r:?}");
    assert_eq!(carrier.store.relay_len().unwrap(), 0);
    let closed = server.count(
        "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
        tenant,
    );
    assert_eq!(closed, 3);
    let by_dead_till = server.count(
        &format!(
            "SELECT count(DISTINCT doc_id) FROM change_log WHERE tenant_id = $1 AND author_device = '{dying_id}'"
        ),
        tenant,
    );
    assert_eq!(by_dead_till, 3, "recorded as the dead till's changes");
    // Carried again (another device had them too): nothing twice.
    let r = receive(&mut carrier.store, &authors, &batch).unwrap();
    assert_eq!(r.applied, 0);
    carrier.sync().unwrap();
    assert_eq!(
        server.count(
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
            tenant
        ),
        3
    );
    assert_eq!(
        carrier.store.projection_digest().unwrap(),
        server.store_digest(tenant, store)
    );
}
