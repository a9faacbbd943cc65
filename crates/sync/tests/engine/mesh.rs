//! The store mesh on the devices: a peer's signed changes received over a real link (TLS with
//! raw public keys on loopback), judged by the same merge the server runs, applied or refused.

use std::net::TcpListener;

use pos_core::auth::DeviceKind;
use pos_core::sale::{Sale, Tender};
use pos_sync::merge::RelayAuthors;
use pos_sync::mesh::{MeshTls, PeerSet};
use pos_sync::peer::{receive, PeerReport};
use pos_sync::signing::{DeviceKey, PublicKey};
use pos_sync::wire::WireChange;
use uuid::Uuid;

use crate::common::*;

/// Sells one closed cash sale on device `i` (offline); returns its id.
fn sell(t: &mut Tenant, i: usize) -> Uuid {
    let d = t.demo.clone();
    let dev = &mut t.devices[i];
    let c = dev.store.actor(d.cashier.user_id).unwrap();
    let sale = dev.store.open_sale(&c, None).unwrap();
    dev.store
        .add_item(&c, sale, d.item("BAK-CRO").unwrap(), 2, &[], 1)
        .unwrap();
    let due = dev.store.get::<Sale>(sale).unwrap().totals().unwrap().due;
    dev.store
        .pay(&c, sale, Tender::Cash, eur(due), None)
        .unwrap();
    sale
}

/// Device `i`'s outbox as it hands it to a peer: each change signed with its key.
fn signed_outbox(t: &Tenant, i: usize, key: &DeviceKey) -> Vec<WireChange> {
    pos_sync::peer::outgoing(&t.devices[i].store, key, 1000, |_| false).unwrap()
}

fn authors(list: &[(Uuid, DeviceKind, &DeviceKey)]) -> RelayAuthors {
    let mut a = RelayAuthors::new();
    for (id, kind, key) in list {
        a.insert(
            *id,
            *kind,
            PublicKey::from_bytes(&key.public_key()).unwrap(),
        );
    }
    a
}

fn has_sale(t: &mut Tenant, i: usize, sale: Uuid) -> bool {
    t.devices[i].store.get::<Sale>(sale).is_ok()
}

#[test]
fn a_sale_sent_over_a_link_is_applied_on_the_peer_as_on_its_author() {
    let mut t = Tenant::new(2);
    let (k0, k1) = (DeviceKey::generate(), DeviceKey::generate());
    let (id0, id1) = (t.devices[0].scope.device_id, t.devices[1].scope.device_id);
    let sale = sell(&mut t, 0);
    let batch = signed_outbox(&t, 0, &k0);

    // Device 1 listens; device 0 connects and sends its outbox as one frame.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = MeshTls::new(&k1, PeerSet::new([(id0, k0.public_key())])).unwrap();
    let client = MeshTls::new(&k0, PeerSet::new([(id1, k1.public_key())])).unwrap();
    let sender = std::thread::spawn(move || {
        let mut link = client.connect(addr).unwrap();
        link.send(&serde_json::to_vec(&batch).unwrap()).unwrap();
        link.receive().unwrap()
    });
    let mut link = server.accept(&listener).unwrap();
    assert_eq!(link.peer, id0);
    let frame = link.receive().unwrap().unwrap();
    let received: Vec<WireChange> = serde_json::from_slice(&frame).unwrap();
    let report = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Till, &k0)]),
        &received,
    )
    .unwrap();
    link.send(b"ok").unwrap();
    assert_eq!(sender.join().unwrap().unwrap(), b"ok");
    assert_eq!(
        report,
        PeerReport {
            applied: received.len(),
            ..PeerReport::default()
        }
    );
    let here = t.devices[1].store.get::<Sale>(sale).unwrap();
    let there = t.devices[0].store.get::<Sale>(sale).unwrap();
    assert_eq!(here.totals().unwrap(), there.totals().unwrap());
    // Sent again (a replay): nothing twice.
    let again = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Till, &k0)]),
        &received,
    )
    .unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(again.duplicates, received.len());
}

#[test]
fn a_tampered_or_unsigned_change_from_a_peer_is_refused_and_listed() {
    let mut t = Tenant::new(2);
    let k0 = DeviceKey::generate();
    let id0 = t.devices[0].scope.device_id;
    let sale = sell(&mut t, 0);
    let mut tampered = signed_outbox(&t, 0, &k0);
    tampered[0].signature.as_mut().unwrap()[0] ^= 1;
    let r = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Till, &k0)]),
        &tampered,
    )
    .unwrap();
    assert_eq!(r.applied, 0, "{r:?}");
    assert!(
        r.refused.iter().any(|(_, code, _)| code == "bad_signature"),
        "{r:?}"
    );
    assert!(!has_sale(&mut t, 1, sale));
    let problems = t.devices[1].store.sync_problems().unwrap();
    assert!(
        problems.iter().any(|p| p.code == "bad_signature"),
        "{problems:?}"
    );

    let mut unsigned = signed_outbox(&t, 0, &k0);
    for c in &mut unsigned {
        c.signature = None;
    }
    let r = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Till, &k0)]),
        &unsigned,
    )
    .unwrap();
    assert_eq!(r.applied, 0);
    assert!(
        r.refused.iter().all(|(_, code, _)| code == "unsigned"),
        "{r:?}"
    );
    assert!(!has_sale(&mut t, 1, sale));
}

#[test]
fn a_change_of_a_device_not_on_the_peer_list_is_refused() {
    let mut t = Tenant::new(2);
    let k0 = DeviceKey::generate();
    let sale = sell(&mut t, 0);
    let batch = signed_outbox(&t, 0, &k0);
    // Device 1's list does not have device 0 (revoked, or never enrolled with a key).
    let r = receive(&mut t.devices[1].store, &RelayAuthors::new(), &batch).unwrap();
    assert_eq!(r.applied, 0);
    assert!(
        r.refused
            .iter()
            .all(|(_, code, _)| code == "device_mismatch"),
        "{r:?}"
    );
    assert!(!has_sale(&mut t, 1, sale));
}

#[test]
fn a_peers_change_is_authorized_with_its_authors_kind() {
    let mut t = Tenant::new(2);
    let k0 = DeviceKey::generate();
    let id0 = t.devices[0].scope.device_id;
    let sale = sell(&mut t, 0);
    let batch = signed_outbox(&t, 0, &k0);
    // Device 0 is a kitchen screen on the store's list: its sale with a cash payment is not
    // something a kitchen screen may write, whatever its own store let it do.
    let r = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Kitchen, &k0)]),
        &batch,
    )
    .unwrap();
    assert!(
        r.refused.iter().any(|(_, code, _)| code == "forbidden"),
        "{r:?}"
    );
    let paid = t.devices[1]
        .store
        .get::<Sale>(sale)
        .map(|s| s.payments.len())
        .unwrap_or(0);
    assert_eq!(paid, 0, "no kitchen payment applied: {r:?}");
}

#[test]
fn a_change_claiming_to_be_the_receivers_own_is_refused() {
    let mut t = Tenant::new(2);
    let k0 = DeviceKey::generate();
    let id1 = t.devices[1].scope.device_id;
    let sale = sell(&mut t, 0);
    // Device 0's changes relabelled as device 1's (no signature needed for one's own).
    let forged: Vec<WireChange> = signed_outbox(&t, 0, &k0)
        .into_iter()
        .map(|mut c| {
            c.author.device_id = id1;
            c.signature = None;
            c
        })
        .collect();
    let r = receive(&mut t.devices[1].store, &RelayAuthors::new(), &forged).unwrap();
    assert_eq!(r.applied, 0, "{r:?}");
    assert!(!has_sale(&mut t, 1, sale));
}

/// Waits (up to 20 s) until `done` holds, polling; panics with `what` otherwise.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn three_devices_work_one_tab_over_the_lan_with_no_server() {
    let mut t = Tenant::new(3);
    let d = t.demo.clone();
    let (stores, nodes, _) = lan(&mut t, std::time::Duration::from_millis(200));
    let sale_of = |i: usize, sale: Uuid| stores[i].lock().unwrap().get::<Sale>(sale).ok();

    // Till 0 opens a tab and fires a latte to the bar.
    let sale = {
        let mut s = stores[0].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let sale = s.open_sale(&c, Some("Tab 7".into())).unwrap();
        s.add_item(&c, sale, d.item("COF-LAT").unwrap(), 1, &[], 1)
            .unwrap();
        s.fire(&c, sale, None).unwrap();
        sale
    };
    nodes[0].nudge();
    // The ticket reaches the other devices' kitchen boards.
    eventually("the bar ticket on device 2", || {
        !stores[2]
            .lock()
            .unwrap()
            .kitchen_tickets(Some("bar"), false)
            .unwrap()
            .is_empty()
    });
    // Till 1 adds a croissant to the tab.
    eventually("the tab on device 1", || sale_of(1, sale).is_some());
    {
        let mut s = stores[1].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        s.add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1, &[], 1)
            .unwrap();
    }
    nodes[1].nudge();
    // Till 2 pays the whole tab.
    eventually("both lines on device 2", || {
        sale_of(2, sale).is_some_and(|s| s.lines.len() == 2)
    });
    {
        let mut s = stores[2].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let due = s.get::<Sale>(sale).unwrap().totals().unwrap().due;
        s.pay(&c, sale, Tender::Cash, eur(due), None).unwrap();
    }
    nodes[2].nudge();
    eventually("the tab paid on every device", || {
        (0..3).all(|i| sale_of(i, sale).is_some_and(|s| s.totals().unwrap().due == 0))
    });
    eventually("every device equal by digest", || {
        let digests: Vec<String> = stores
            .iter()
            .map(|s| s.lock().unwrap().projection_digest().unwrap())
            .collect();
        digests.windows(2).all(|w| w[0] == w[1])
    });
    for n in &nodes {
        assert_eq!(n.status().refused, 0, "{:?}", n.status());
    }
}

#[test]
fn devices_of_a_store_find_each_other_by_mdns_and_ignore_other_stores() {
    use pos_sync::discovery::{Discovery, Interfaces};
    use pos_sync::node::{MeshNode, NodeConfig};
    use pos_sync::wire::PeerRecord;
    use std::sync::{Arc, Mutex};

    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let store_id = t.store_id;
    let devices = std::mem::take(&mut t.devices);
    let keys: Vec<DeviceKey> = devices.iter().map(|_| DeviceKey::generate()).collect();
    let ids: Vec<Uuid> = devices.iter().map(|d| d.scope.device_id).collect();
    let stores: Vec<Arc<Mutex<pos_core::store::Store>>> = devices
        .into_iter()
        .map(|dev| Arc::new(Mutex::new(dev.store)))
        .collect();
    // A device of another store announced itself on the same network first.
    let stranger = Uuid::now_v7();
    let _other_store = Discovery::start(
        Uuid::now_v7(),
        stranger,
        47999,
        Interfaces::Loopback,
        |_, _| {},
    )
    .unwrap();
    let found: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let mut nodes = Vec::new();
    let mut announcements = Vec::new();
    for i in 0..2 {
        let other = 1 - i;
        let peers = vec![PeerRecord {
            device_id: ids[other],
            name: "till".into(),
            kind: DeviceKind::Till,
            public_key: keys[other].public_key().to_vec(),
        }];
        let node = MeshNode::start(
            stores[i].clone(),
            DeviceKey::from_secret(&keys[i].secret()).unwrap(),
            &peers,
            NodeConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                peers: Vec::new(),
                round: std::time::Duration::from_millis(200),
            },
            || {},
        )
        .unwrap();
        let sink = node.address_sink();
        let seen = found.clone();
        announcements.push(
            Discovery::start(
                store_id,
                ids[i],
                node.local_addr().port(),
                Interfaces::Loopback,
                move |device, addr| {
                    seen.lock().unwrap().push(device);
                    sink(addr);
                },
            )
            .unwrap(),
        );
        nodes.push(node);
    }
    let sale = {
        let mut s = stores[0].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let sale = s.open_sale(&c, None).unwrap();
        s.add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1, &[], 1)
            .unwrap();
        sale
    };
    nodes[0].nudge();
    eventually("the sale found on device 1 through discovery alone", || {
        stores[1].lock().unwrap().get::<Sale>(sale).is_ok()
    });
    // Each found the other (one link is enough to carry the sale; the other side's discovery
    // may come a moment later).
    eventually("each device found by the other", || {
        let seen = found.lock().unwrap();
        seen.contains(&ids[0]) && seen.contains(&ids[1])
    });
    let seen = found.lock().unwrap().clone();
    assert!(
        !seen.contains(&stranger),
        "another store's device is not a peer"
    );
}

#[test]
fn a_peer_that_dies_mid_transfer_leaves_nothing_half_applied() {
    use pos_sync::node::{MeshNode, NodeConfig};
    use pos_sync::wire::PeerRecord;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    let mut t = Tenant::new(2);
    let (k0, k1) = (DeviceKey::generate(), DeviceKey::generate());
    let (id0, id1) = (t.devices[0].scope.device_id, t.devices[1].scope.device_id);
    let sale = sell(&mut t, 0);
    let batch = signed_outbox(&t, 0, &k0);
    let devices = std::mem::take(&mut t.devices);
    let mut stores = devices.into_iter().map(|d| d.store);
    let _sender_store = stores.next().unwrap();
    let receiver = Arc::new(Mutex::new(stores.next().unwrap()));
    let before = receiver.lock().unwrap().projection_digest().unwrap();
    let node = MeshNode::start(
        receiver.clone(),
        DeviceKey::from_secret(&k1.secret()).unwrap(),
        &[PeerRecord {
            device_id: id0,
            name: "till".into(),
            kind: DeviceKind::Till,
            public_key: k0.public_key().to_vec(),
        }],
        NodeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: Vec::new(),
            round: std::time::Duration::from_secs(60),
        },
        || {},
    )
    .unwrap();
    // The sender links, announces a whole batch, writes half of it and is gone (as a process
    // killed mid-write: the socket closes with the frame cut).
    let sender = MeshTls::new(&k0, PeerSet::new([(id1, k1.public_key())])).unwrap();
    let frame = serde_json::to_vec(&batch).unwrap();
    {
        let link = sender.connect(node.local_addr()).unwrap();
        let mut raw = link.into_stream();
        raw.write_all(&(frame.len() as u32).to_be_bytes()).unwrap();
        raw.write_all(&frame[..frame.len() / 2]).unwrap();
        raw.flush().unwrap();
    }
    // The receiver dropped the cut link, applied nothing, and still takes a whole batch from
    // the same peer afterwards.
    eventually("the cut link dropped", || node.status().failed_links == 1);
    assert_eq!(
        receiver.lock().unwrap().projection_digest().unwrap(),
        before
    );
    assert!(receiver.lock().unwrap().get::<Sale>(sale).is_err());
    let mut link = sender.connect(node.local_addr()).unwrap();
    link.send(&frame).unwrap();
    let _their_batch = link.receive().unwrap();
    eventually("the whole batch applied", || {
        receiver.lock().unwrap().get::<Sale>(sale).is_ok()
    });
}

/// Opens a tab with one line on device `i` (offline); returns its id.
fn open_tab(t: &mut Tenant, i: usize) -> Uuid {
    let d = t.demo.clone();
    let dev = &mut t.devices[i];
    let c = dev.store.actor(d.cashier.user_id).unwrap();
    let sale = dev.store.open_sale(&c, None).unwrap();
    dev.store
        .add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1, &[], 1)
        .unwrap();
    sale
}

/// Adds a line to `sale` on device `i`.
fn add_line(t: &mut Tenant, i: usize, sale: Uuid) {
    let d = t.demo.clone();
    let dev = &mut t.devices[i];
    let c = dev.store.actor(d.cashier.user_id).unwrap();
    dev.store
        .add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1, &[], 1)
        .unwrap();
}

/// The "tentative until the cloud has it": a tab opened on device 0 reaches devices 1
/// and 2 over the LAN, device 1 adds a line to it and also opens a tab of its own; device 1
/// carries device 0's changes to the cloud, which refuses them (device 0 is not a device it
/// will take carried changes of). Every device that had them undoes them and what was built
/// on them (device 1's line), keeps what did not depend on them (device 1's own tab), lists
/// the refusal, ends equal to the cloud, and a peer cannot bring the refused change back.
#[test]
fn a_change_the_cloud_refuses_is_undone_on_every_device_that_had_it() {
    let mut t = Tenant::new(3);
    let keys = [
        DeviceKey::generate(),
        DeviceKey::generate(),
        DeviceKey::generate(),
    ];
    let id0 = t.devices[0].scope.device_id;
    let from_0 = authors(&[(id0, DeviceKind::Till, &keys[0])]);
    let tab = open_tab(&mut t, 0);
    let batch = signed_outbox(&t, 0, &keys[0]);
    for i in [1, 2] {
        let r = receive(&mut t.devices[i].store, &from_0, &batch).unwrap();
        assert_eq!(r.applied, batch.len(), "device {i}: {r:?}");
        assert!(has_sale(&mut t, i, tab));
    }
    add_line(&mut t, 1, tab);
    let own = open_tab(&mut t, 1);
    assert_eq!(t.devices[1].store.relay_len().unwrap(), batch.len() as i64);

    let r = t.sync(1).unwrap();
    assert_eq!(r.relayed, batch.len(), "{r:?}");
    assert!(r.undone > batch.len(), "{r:?}");
    let r = t.sync(2).unwrap();
    assert!(r.undone >= batch.len(), "{r:?}");
    for i in [1, 2] {
        assert!(
            !has_sale(&mut t, i, tab),
            "device {i} still has the refused tab"
        );
        let problems = t.devices[i].store.sync_problems().unwrap();
        assert!(
            problems.iter().any(|p| p.doc_id == tab
                && p.code == "device_mismatch"
                && p.message.contains("undone")),
            "device {i}: {problems:?}"
        );
    }
    assert_eq!(t.devices[1].store.relay_len().unwrap(), 0);
    // Device 1's own tab did not depend on the refused changes: kept, and it reached the
    // cloud; its line on the refused tab went with the tab.
    assert!(has_sale(&mut t, 1, own));
    // Device 0 stays away (a dead till); the others settle with the cloud.
    t.devices[0].online = false;
    t.settle();
    assert!(has_sale(&mut t, 2, own));
    assert_eq!(t.devices[1].store.outbox_len().unwrap(), 0);
    let d = t.digests();
    assert_eq!(d[1], d[2], "devices 1 and 2 equal after the undo");
    // The cloud's state, through a device bootstrapped from it now.
    let mut fresh = device(&t.dir, t.tenant_id, t.store_id, 9);
    let mut transport = pos_sync::memory::MemoryTransport {
        server: &t.server,
        scope: fresh.scope,
        online: true,
    };
    fresh
        .engine
        .bootstrap(&mut fresh.store, &mut transport, |_, _| {})
        .unwrap();
    assert_eq!(
        fresh.store.projection_digest().unwrap(),
        d[1],
        "equal to the cloud"
    );
    assert!(t.server.lock().unwrap().typed(tab).is_none());

    // Device 0, which has not heard of the refusal, sends the tab again: refused.
    let again = receive(&mut t.devices[2].store, &from_0, &batch).unwrap();
    assert_eq!(again.applied, 0, "{again:?}");
    assert!(again
        .refused
        .iter()
        .all(|(_, code, _)| code == "refused_by_cloud"));
    assert!(!has_sale(&mut t, 2, tab));
}

/// The devices of `t` on a loopback mesh, everyone knowing everyone's address, linking in
/// rounds `round` apart and when nudged; their stores shared with the nodes, and their scopes
/// (for syncing with the cloud afterwards).
fn lan(
    t: &mut Tenant,
    round: std::time::Duration,
) -> (
    Vec<std::sync::Arc<std::sync::Mutex<pos_core::store::Store>>>,
    Vec<pos_sync::node::MeshNode>,
    Vec<pos_sync::merge::Scope>,
) {
    use pos_sync::node::{MeshNode, NodeConfig};
    use pos_sync::wire::PeerRecord;
    use std::sync::{Arc, Mutex};
    let devices = std::mem::take(&mut t.devices);
    let keys: Vec<DeviceKey> = devices.iter().map(|_| DeviceKey::generate()).collect();
    let records: Vec<PeerRecord> = devices
        .iter()
        .zip(&keys)
        .map(|(dev, k)| PeerRecord {
            device_id: dev.scope.device_id,
            name: "till".into(),
            kind: DeviceKind::Till,
            public_key: k.public_key().to_vec(),
        })
        .collect();
    let scopes = devices.iter().map(|d| d.scope).collect();
    let stores: Vec<Arc<Mutex<pos_core::store::Store>>> = devices
        .into_iter()
        .map(|dev| Arc::new(Mutex::new(dev.store)))
        .collect();
    let nodes: Vec<MeshNode> = stores
        .iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (store, key))| {
            let others: Vec<PeerRecord> = records
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, r)| r.clone())
                .collect();
            MeshNode::start(
                store.clone(),
                key,
                &others,
                NodeConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    peers: Vec::new(),
                    round,
                },
                || {},
            )
            .unwrap()
        })
        .collect();
    for n in &nodes {
        for m in &nodes {
            n.add_address(m.local_addr());
        }
    }
    for n in &nodes {
        n.nudge();
    }
    (stores, nodes, scopes)
}

/// The "money stays bounded": while the cloud is away, a sale's payments and refunds
/// are serialised by the device that created it. Two tills cannot pay one open ticket, nor
/// refund one sale, at once; the second learns the first's payment or refund with its lease
/// and cannot spend the sale again; the owner itself waits for a lease another device holds;
/// with the owner gone the operation is refused with a message that says where to take it.
/// Back with the cloud, the master holds no more refunded than sold.
#[test]
fn two_tills_cannot_spend_one_sale_over_the_lan() {
    use pos_core::refund::{Refund, RefundRequest};
    use pos_sync::lease::LeaseError;
    use pos_sync::node::MoneyHold;

    let mut t = Tenant::new(3);
    let d = t.demo.clone();
    // Rounds a minute apart: between the nudges below, changes move only with the leases.
    let (stores, mut nodes, scopes) = lan(&mut t, std::time::Duration::from_secs(60));
    let ids: Vec<Uuid> = scopes.iter().map(|s| s.device_id).collect();
    let sale_of = |i: usize, sale: Uuid| stores[i].lock().unwrap().get::<Sale>(sale).ok();
    // Every device has linked with every other (the owner is asked at its address).
    eventually("every device linked", || {
        nodes.iter().all(|n| n.status().linked.len() == 2)
    });

    // An open ticket of device 0.
    let tab = {
        let mut s = stores[0].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let sale = s.open_sale(&c, Some("Tab 9".into())).unwrap();
        s.add_item(&c, sale, d.item("COF-LAT").unwrap(), 2, &[], 1)
            .unwrap();
        sale
    };
    nodes[0].nudge();
    eventually("the tab on devices 1 and 2", || {
        sale_of(1, tab).is_some() && sale_of(2, tab).is_some()
    });
    let hold = nodes[1].hold_for_money(tab, ids[0], false).unwrap();
    assert!(matches!(hold, MoneyHold::Remote { .. }), "{hold:?}");
    assert_eq!(
        nodes[2].hold_for_money(tab, ids[0], false),
        Err(LeaseError::Held { by: ids[1] })
    );
    assert_eq!(
        nodes[0].hold_for_money(tab, ids[0], false),
        Err(LeaseError::Held { by: ids[1] }),
        "the owner waits too"
    );
    {
        let mut s = stores[1].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let due = s.get::<Sale>(tab).unwrap().totals().unwrap().due;
        s.pay(&c, tab, Tender::Card, eur(due), Some("card".into()))
            .unwrap();
    }
    nodes[1].release(hold);
    assert_eq!(nodes[0].lease_holder(tab), None);
    // Device 2's lease comes with the payment: the tab is paid there at once.
    let hold = nodes[2].hold_for_money(tab, ids[0], false).unwrap();
    assert_eq!(sale_of(2, tab).unwrap().totals().unwrap().due, 0);
    {
        let mut s = stores[2].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        assert!(
            s.pay(&c, tab, Tender::Cash, eur(100), None).is_err(),
            "a paid ticket takes no second payment"
        );
    }
    nodes[2].release(hold);

    // A closed sale of device 0, refunded on device 1, then asked for on device 2.
    let (sale, line) = {
        let mut s = stores[0].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let sale = s.open_sale(&c, None).unwrap();
        let line = s
            .add_item(&c, sale, d.item("RET-MUG").unwrap(), 1, &[], 1)
            .unwrap();
        let due = s.get::<Sale>(sale).unwrap().totals().unwrap().due;
        s.pay(&c, sale, Tender::Cash, eur(due), None).unwrap();
        (sale, line)
    };
    nodes[0].nudge();
    eventually("the sale on devices 1 and 2", || {
        sale_of(1, sale).is_some() && sale_of(2, sale).is_some()
    });
    let req = [RefundRequest {
        sale_line_id: line,
        qty: 1,
        restock: true,
    }];
    let refund = |i: usize| {
        let mut s = stores[i].lock().unwrap();
        let m = s.actor(d.manager.user_id).unwrap();
        s.refund(&m, sale, &req, Tender::Cash, None, "broken")
    };
    let hold = nodes[1].hold_for_money(sale, ids[0], false).unwrap();
    assert_eq!(
        nodes[2].hold_for_money(sale, ids[0], false),
        Err(LeaseError::Held { by: ids[1] })
    );
    refund(1).unwrap();
    nodes[1].release(hold);
    let hold = nodes[2].hold_for_money(sale, ids[0], false).unwrap();
    assert!(
        refund(2).is_err(),
        "the mug was refunded on device 1 already"
    );
    nodes[2].release(hold);

    // The owner gone: refused, with where to take it.
    let other = {
        let mut s = stores[0].lock().unwrap();
        let c = s.actor(d.cashier.user_id).unwrap();
        let sale = s.open_sale(&c, None).unwrap();
        s.add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1, &[], 1)
            .unwrap();
        sale
    };
    nodes[0].nudge();
    eventually("the last sale on device 1", || sale_of(1, other).is_some());
    drop(nodes.remove(0));
    let refused = nodes[0].hold_for_money(other, ids[0], false).unwrap_err();
    assert_eq!(refused, LeaseError::OwnerUnreachable { owner: ids[0] });
    assert!(refused
        .to_string()
        .contains("take the payment or refund on that device"));
    // With the cloud reachable, another device needs no lease: the cloud serialises.
    assert_eq!(
        nodes[0].hold_for_money(other, ids[0], true),
        Ok(MoneyHold::None)
    );

    // Back to the cloud: every device pushes and pulls; the master holds one refund of the mug.
    drop(nodes);
    for _ in 0..3 {
        for (store, scope) in stores.iter().zip(&scopes) {
            let mut transport = pos_sync::memory::MemoryTransport {
                server: &t.server,
                scope: *scope,
                online: true,
            };
            pos_sync::device::SyncEngine::new()
                .sync_shared(store, &mut transport)
                .unwrap();
        }
    }
    let server = t.server.lock().unwrap();
    let refunds: Vec<&Refund> = server
        .docs
        .keys()
        .filter_map(|id| match server.typed(*id) {
            Some(pos_core::doc::AnyDoc::Refund(r)) if r.sale_id == sale.to_string() => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(refunds.len(), 1, "one refund of the mug in the master");
    let sold = match server.typed(sale) {
        Some(pos_core::doc::AnyDoc::Sale(s)) => s.totals().unwrap().total,
        other => panic!("{other:?}"),
    };
    let refunded: i64 = refunds.iter().map(|r| r.totals().unwrap().total).sum();
    assert!(refunded <= sold, "refunded {refunded} of {sold}");
}

/// A line of a tab that reaches a device before the tab itself (another path was faster) is
/// kept and applied when the tab arrives, although its sender counts it delivered and will not
/// send it again.
#[test]
fn a_change_that_arrives_before_what_it_builds_on_is_applied_when_that_arrives() {
    use pos_sync::node::{MeshNode, NodeConfig};
    use pos_sync::wire::PeerRecord;
    use std::sync::{Arc, Mutex};

    let mut t = Tenant::new(2);
    let (ka, kb) = (DeviceKey::generate(), DeviceKey::generate());
    let (ida, idb) = (t.devices[0].scope.device_id, t.devices[1].scope.device_id);
    let tab = open_tab(&mut t, 0);
    add_line(&mut t, 0, tab);
    let outbox = signed_outbox(&t, 0, &ka);
    let (first, rest): (Vec<WireChange>, Vec<WireChange>) =
        outbox.into_iter().partition(|c| c.envelope.doc_id != tab);
    assert!(rest.len() >= 2, "the tab's creation and its lines");
    let (creation, later) = rest.split_at(1);
    let b = t.devices.remove(1);
    let store_b = Arc::new(Mutex::new(b.store));
    let node = MeshNode::start(
        store_b.clone(),
        DeviceKey::from_secret(&kb.secret()).unwrap(),
        &[PeerRecord {
            device_id: ida,
            name: "till 1".into(),
            kind: DeviceKind::Till,
            public_key: ka.public_key().to_vec(),
        }],
        NodeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            peers: Vec::new(),
            round: std::time::Duration::from_secs(60),
        },
        || {},
    )
    .unwrap();
    let client = MeshTls::new(&ka, PeerSet::new([(idb, kb.public_key())])).unwrap();
    let send = |batch: Vec<WireChange>| {
        let mut link = client.connect(node.local_addr()).unwrap();
        link.send(&serde_json::to_vec(&batch).unwrap()).unwrap();
        link.receive().unwrap().unwrap();
    };
    send(first);
    send(later.to_vec());
    assert!(store_b.lock().unwrap().get::<Sale>(tab).is_err(), "not yet");
    send(creation.to_vec());
    let qty: i64 = store_b
        .lock()
        .unwrap()
        .get::<Sale>(tab)
        .unwrap()
        .lines
        .values()
        .map(|l| l.qty)
        .sum();
    assert_eq!(qty, 2, "the croissants that came first are there too");
    assert_eq!(node.status().refused, 0);
}

/// The "what flows": besides tickets, tabs, sales and refunds (tested above), a price a
/// manager changed in the store, a stock delivery, and a shift closed with its Z report reach a
/// peer over a link and are applied there as on their author.
#[test]
fn prices_stock_and_z_reports_travel_over_a_link() {
    use pos_core::store::StockInput;
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let k0 = DeviceKey::generate();
    let id0 = t.devices[0].scope.device_id;
    let latte = d.item("COF-LAT").unwrap();
    let mug = d.item("RET-MUG").unwrap();
    let stock_before = t.devices[1].store.stock_level(mug).unwrap().on_hand;
    let zs_before = t.devices[1].store.z_reports().unwrap().len();
    {
        let s = &mut t.devices[0].store;
        let m = s.actor(d.manager.user_id).unwrap();
        s.update_item(&m, latte, |i| {
            i.price = 395;
            Ok(())
        })
        .unwrap();
        s.receive_stock(
            &m,
            "delivery 42",
            &[StockInput {
                item_id: mug,
                qty: 12,
                unit_cost: Some(400),
            }],
        )
        .unwrap();
        if s.open_shift_id().unwrap().is_none() {
            s.open_shift(&m, 10_000).unwrap();
        }
        s.close_shift(&m, Default::default()).unwrap();
    }
    let batch = signed_outbox(&t, 0, &k0);
    let r = receive(
        &mut t.devices[1].store,
        &authors(&[(id0, DeviceKind::Till, &k0)]),
        &batch,
    )
    .unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    let s = &mut t.devices[1].store;
    assert_eq!(
        s.get::<pos_core::catalog::Item>(latte).unwrap().price,
        395,
        "the manager's price"
    );
    assert_eq!(s.stock_level(mug).unwrap().on_hand, stock_before + 12);
    assert_eq!(s.z_reports().unwrap().len(), zs_before + 1, "the Z report");
}
