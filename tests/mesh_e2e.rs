//! The store mesh against the real server (issue 12): a till that dies during an outage after
//! its sales reached another device; that device carries them to the cloud, where they land
//! once, as the dead till's, checked against its registered key.

use e2e::{TestDevice, TestServer};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_sync::peer::{authors_from, kept_peers, outgoing, receive};
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
    carrier
        .engine
        .refresh_staff(&mut carrier.store, &mut carrier.http)
        .unwrap();
    let dying_id = dying.store.identity().device_id;

    // The cloud is away: the till sells and hands its changes to the other till over the LAN.
    let sales: Vec<Uuid> = (0..3).map(|_| sell(&mut dying, cashier, item)).collect();
    let key = dying
        .http
        .credential()
        .signing_key()
        .expect("enrolment made a key");
    let batch = outgoing(&dying.store, &key, 1000, |_| false).unwrap();
    let authors = authors_from(&kept_peers(&carrier.store).unwrap());
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

/// Waits (up to 30 s) until `done` holds, polling; panics with `what` otherwise.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// A device of the store on the mesh: its replica, its node, and its way to the cloud.
struct Member {
    store: std::sync::Arc<std::sync::Mutex<pos_core::store::Store>>,
    engine: pos_sync::device::SyncEngine,
    http: pos_sync::http::HttpTransport,
    node: Option<pos_sync::node::MeshNode>,
}

impl Member {
    fn with<R>(&self, f: impl FnOnce(&mut pos_core::store::Store) -> R) -> R {
        f(&mut self.store.lock().unwrap())
    }
}

#[test]
fn a_store_keeps_working_over_its_lan_while_the_cloud_is_away_then_converges() {
    use pos_core::auth::DeviceKind;
    use pos_core::store::KitchenAction;
    use pos_sync::node::{MeshNode, NodeConfig};

    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tenant, owner, store) = server.tenant_with_store("Lan", "owner@lan.test");
    let cashier = owner
        .create_staff(store, "Carl", "cashier", "3333")
        .unwrap();
    let cook = owner.create_staff(store, "Kim", "kitchen", "4444").unwrap();
    let manager = owner
        .create_staff(store, "Maria", "manager", "2222")
        .unwrap();
    let latte = owner
        .publish_item(
            json!({"sku": "LAT", "name": "Latte", "currency": "EUR", "price": 350,
            "tax_class": "standard", "station": "bar"}),
        )
        .unwrap();
    let burger = owner
        .publish_item(
            json!({"sku": "BUR", "name": "Burger", "currency": "EUR", "price": 1290,
            "tax_class": "standard", "station": "grill"}),
        )
        .unwrap();
    // One back office, three tills, two kitchen screens (bar and grill).
    let kinds = [
        DeviceKind::Till,
        DeviceKind::Till,
        DeviceKind::Till,
        DeviceKind::Till,
        DeviceKind::Kitchen,
        DeviceKind::Kitchen,
    ];
    let (office, tills, bar, grill) = (0, [1, 2, 3], 4, 5);
    let mut members: Vec<Member> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let code = owner.enrolment_code_for(store, *kind).unwrap();
            let d = TestDevice::enrol(&server.url, &code, dir.path(), &format!("d{i}"));
            Member {
                store: std::sync::Arc::new(std::sync::Mutex::new(d.store)),
                engine: d.engine,
                http: d.http,
                node: None,
            }
        })
        .collect();
    for m in &mut members {
        m.engine.sync_shared(&m.store, &mut m.http).unwrap();
    }
    // The peer lists come with the staff list (the app refreshes it every few minutes): the
    // first devices' lists did not have the later ones yet.
    for m in &mut members {
        m.engine
            .refresh_staff_shared(&m.store, &mut m.http)
            .unwrap();
    }
    for m in &mut members {
        let peers = m.with(|s| kept_peers(s).unwrap());
        assert_eq!(
            peers.len(),
            5,
            "every other device of the store, with its key"
        );
        let key = m.http.credential().signing_key().unwrap();
        m.node = Some(
            MeshNode::start(
                m.store.clone(),
                key,
                &peers,
                NodeConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    peers: Vec::new(),
                    round: std::time::Duration::from_millis(250),
                },
                || {},
            )
            .unwrap(),
        );
    }
    let addrs: Vec<_> = members
        .iter()
        .map(|m| m.node.as_ref().unwrap().local_addr())
        .collect();
    for m in &members {
        for a in &addrs {
            m.node.as_ref().unwrap().add_address(*a);
        }
    }
    let nudge = |m: &Member| m.node.as_ref().unwrap().nudge();

    // From here on the cloud is away: no device syncs with it.
    // Each till fires an order: a latte for the bar, a burger for the grill.
    let mut orders = Vec::new();
    for &t in &tills {
        let sale = members[t].with(|s| {
            let c = s.actor(cashier).unwrap();
            let sale = s.open_sale(&c, Some(format!("T{t}"))).unwrap();
            s.add_item(&c, sale, latte, 1, &[], 1).unwrap();
            s.add_item(&c, sale, burger, 1, &[], 1).unwrap();
            s.fire(&c, sale, None).unwrap();
            sale
        });
        nudge(&members[t]);
        orders.push((t, sale));
    }
    eventually(
        "three tickets on each kitchen screen, at the right station",
        || {
            members[bar].with(|s| s.kitchen_tickets(Some("bar"), false).unwrap().len()) == 3
                && members[grill].with(|s| s.kitchen_tickets(Some("grill"), false).unwrap().len())
                    == 3
        },
    );
    // The bar bumps its tickets; the tills see it.
    let bumped = members[bar].with(|s| {
        let k = s.actor(cook).unwrap();
        let tickets = s.kitchen_tickets(Some("bar"), false).unwrap();
        for t in &tickets {
            s.kitchen(&k, t.id, KitchenAction::Bump).unwrap();
        }
        tickets.len()
    });
    assert_eq!(bumped, 3);
    nudge(&members[bar]);
    eventually("the bumps on till 1", || {
        members[tills[0]].with(|s| s.kitchen_tickets(Some("bar"), false).unwrap().is_empty())
    });
    // Each till is paid for its own order.
    for &(t, sale) in &orders {
        members[t].with(|s| {
            let c = s.actor(cashier).unwrap();
            let due = s.get::<Sale>(sale).unwrap().totals().unwrap().due;
            let eur = Currency::from_code("EUR").unwrap();
            s.pay(&c, sale, Tender::Cash, Money::new(due, eur), None)
                .unwrap();
        });
        nudge(&members[t]);
    }
    // A tab opened on till 1 gets a line on till 2 and is paid on till 3.
    let tab = members[tills[0]].with(|s| {
        let c = s.actor(cashier).unwrap();
        let sale = s.open_sale(&c, Some("Tab".into())).unwrap();
        s.add_item(&c, sale, latte, 2, &[], 1).unwrap();
        sale
    });
    nudge(&members[tills[0]]);
    eventually("the tab on till 2", || {
        members[tills[1]].with(|s| s.get::<Sale>(tab).is_ok())
    });
    members[tills[1]].with(|s| {
        let c = s.actor(cashier).unwrap();
        s.add_item(&c, tab, burger, 1, &[], 1).unwrap();
    });
    nudge(&members[tills[1]]);
    eventually("both lines of the tab on till 3", || {
        members[tills[2]].with(|s| s.get::<Sale>(tab).is_ok_and(|t| t.lines.len() == 2))
    });
    members[tills[2]].with(|s| {
        let c = s.actor(cashier).unwrap();
        let due = s.get::<Sale>(tab).unwrap().totals().unwrap().due;
        assert_eq!(due, 2 * 350 + 1290);
        let eur = Currency::from_code("EUR").unwrap();
        s.pay(&c, tab, Tender::Cash, Money::new(due, eur), None)
            .unwrap();
    });
    nudge(&members[tills[2]]);
    eventually("the back office sees the day: four closed sales", || {
        members[office].with(|s| {
            orders.iter().map(|(_, id)| *id).chain([tab]).all(|id| {
                s.get::<Sale>(id)
                    .is_ok_and(|x| x.totals().unwrap().due == 0)
            })
        })
    });
    let _ = manager;

    // The cloud is back: every device pushes its own changes (and what it carries) and pulls.
    for _ in 0..3 {
        for m in &mut members {
            m.engine.sync_shared(&m.store, &mut m.http).unwrap();
        }
    }
    let master = server.store_digest(tenant, store);
    for (i, m) in members.iter().enumerate() {
        assert_eq!(
            m.with(|s| s.projection_digest().unwrap()),
            master,
            "device {i} equals the master"
        );
        assert_eq!(m.node.as_ref().unwrap().status().refused, 0);
    }
    assert_eq!(
        server.count(
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
            tenant
        ),
        4,
        "every sale exactly once"
    );
    assert_eq!(
        server.count(
            "SELECT count(*) - count(DISTINCT hash) FROM change_log WHERE tenant_id = $1",
            tenant
        ),
        0,
        "no change twice in the change log"
    );
}
