//! Stock sent from one store to another of the same tenant, through the real server: the
//! receiving store's device lists what was sent to it (it never pulls the other store's
//! documents), receives it with a transfer-in of its own, and both stores' levels move.

use e2e::{TestDevice, TestServer};
use pos_core::store::StockInput;
use pos_sync::headoffice::HeadOffice;
use serde_json::json;

use e2e::OWNER_PASSWORD as PW;

fn settings(code: &str, name: &str) -> serde_json::Value {
    json!({"code": code, "name": name, "currency": "EUR", "tax_mode": "Inclusive",
           "tax_rates": {"standard": 1900}, "discount_threshold_bp": 2000})
}

#[test]
fn stock_sent_to_another_store_is_listed_there_once_and_received() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    server
        .root()
        .create_tenant("Alpha", "owner@alpha.test", PW)
        .unwrap();
    let ho = HeadOffice::login(&server.url, "owner@alpha.test", PW).unwrap();
    let store_a = ho.create_store(settings("S01", "Alpha Café")).unwrap();
    let store_b = ho.create_store(settings("S02", "Alpha Bar")).unwrap();
    let mia = ho.create_staff(store_a, "Mia", "manager", "2222").unwrap();
    let bo = ho.create_staff(store_b, "Bo", "manager", "2323").unwrap();
    let mug = ho
        .publish_item(
            json!({"sku": "MUG", "name": "Mug", "currency": "EUR", "price": 1200,
            "tax_class": "standard", "track_stock": true}),
        )
        .unwrap();
    let mut a = TestDevice::enrol(
        &server.url,
        &ho.enrolment_code(store_a).unwrap(),
        dir.path(),
        "a",
    );
    let mut b = TestDevice::enrol(
        &server.url,
        &ho.enrolment_code(store_b).unwrap(),
        dir.path(),
        "b",
    );

    // Store A receives ten mugs and sends four to store B.
    let m = a.store.actor(mia).unwrap();
    let line = |qty| StockInput {
        item_id: mug,
        qty,
        unit_cost: None,
    };
    a.store
        .receive_stock(
            &m,
            "PO-1",
            &[StockInput {
                unit_cost: Some(400),
                ..line(10)
            }],
        )
        .unwrap();
    let sent = a.store.transfer_out(&m, store_b, &[line(4)]).unwrap();
    a.sync().unwrap();

    let stores = b.http.stores().unwrap();
    assert_eq!(
        stores.iter().map(|s| s.code.as_str()).collect::<Vec<_>>(),
        ["S01", "S02"]
    );
    assert!(
        a.http.incoming_transfers().unwrap().is_empty(),
        "nothing was sent to store A"
    );
    let incoming = b.http.incoming_transfers().unwrap();
    assert_eq!(incoming.len(), 1);
    let t = &incoming[0];
    assert_eq!((t.transfer_out_id, t.from_store_id), (sent, store_a));
    assert_eq!(t.from_store, "S01 Alpha Café");
    assert_eq!(
        t.lines
            .iter()
            .map(|l| (l.item_id, l.qty))
            .collect::<Vec<_>>(),
        [(mug, 4)]
    );

    // Store B receives it; it is no longer listed, and both levels moved.
    let bo = b.store.actor(bo).unwrap();
    let lines: Vec<StockInput> = t.lines.iter().map(|l| line(l.qty)).collect();
    b.store
        .transfer_in(&bo, t.from_store_id, t.transfer_out_id, &lines)
        .unwrap();
    b.sync().unwrap();
    assert!(b.http.incoming_transfers().unwrap().is_empty());
    assert_eq!(a.store.stock_level(mug).unwrap().on_hand, 6);
    assert_eq!(b.store.stock_level(mug).unwrap().on_hand, 4);
}
