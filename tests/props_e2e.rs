//! The property test of `crates/sync/tests/engine/props.rs`, against the real server on
//! PostgreSQL instead of the in-memory reference server: random operations on three tills,
//! random delivery (requests dropped, answers lost, batches delivered twice or reversed), then
//! every till equals the server by digest (documents and projections), every sale exists
//! exactly once on every till and in head office's projections, and no change is in the
//! server's log twice. Fewer cases than the engine's test: each one starts a server, a tenant
//! and three enrolled tills.

use std::collections::BTreeSet;

use e2e::{TestDevice, TestServer};
use pos_sync_testkit::{apply, op, Cast, Flaky, Op, ITEMS};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

/// A server with one tenant, its store, a cashier and a manager, [`ITEMS`] items, and three
/// enrolled, bootstrapped tills.
struct Shop {
    server: TestServer,
    _dir: tempfile::TempDir,
    tenant: Uuid,
    store: Uuid,
    cast: Cast,
    tills: Vec<TestDevice>,
}

fn shop() -> Shop {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tenant, owner, store) = server.tenant_with_store("Alpha", "owner@alpha.test");
    let cashier = owner
        .create_staff(store, "Carl", "cashier", "3333")
        .unwrap();
    let manager = owner
        .create_staff(store, "Maria", "manager", "2222")
        .unwrap();
    let items: [Uuid; ITEMS] = std::array::from_fn(|n| {
        owner
            .publish_item(
                json!({"sku": format!("SKU-{n}"), "name": format!("Item {n}"),
                "currency": "EUR", "price": 150 + 100 * n as i64, "tax_class": "standard",
                "station": if n % 2 == 0 { Some("grill") } else { None }, "track_stock": false}),
            )
            .unwrap()
    });
    let tills = (1..=3)
        .map(|n| {
            let code = owner.enrolment_code(store).unwrap();
            TestDevice::enrol(&server.url, &code, dir.path(), &format!("till-{n}"))
        })
        .collect();
    Shop {
        server,
        _dir: dir,
        tenant,
        store,
        cast: Cast {
            cashier,
            manager,
            items,
        },
        tills,
    }
}

impl Shop {
    /// Syncs every till on a good network until nothing moves.
    fn settle(&mut self) {
        for _ in 0..8 {
            let mut moved = 0;
            for d in &mut self.tills {
                let r = d.sync().expect("sync on a good network");
                moved += r.pushed + r.pulled;
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the tills did not settle");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn tills_and_the_server_agree_whatever_the_network_does(ops in proptest::collection::vec(op(), 1..30)) {
        let mut s = shop();
        let mut sold: BTreeSet<String> = BTreeSet::new();
        for op in &ops {
            match op {
                Op::Sync { dev, fates } => {
                    let d = &mut s.tills[*dev];
                    let mut t = Flaky::new(&mut d.http, fates.clone());
                    // A failed round is fine: nothing may be lost, which the end checks.
                    let _ = d.engine.sync_once(&mut d.store, &mut t);
                }
                Op::Sell { dev, .. } | Op::OpenTicket { dev, .. } | Op::AddToTicket { dev, .. } | Op::Price { dev, .. } => {
                    if let Some(receipt) = apply(op, &mut s.tills[*dev].store, &s.cast).unwrap() {
                        sold.insert(receipt);
                    }
                }
            }
        }
        s.settle();
        let server = s.server.store_digest(s.tenant, s.store);
        for d in &s.tills {
            prop_assert_eq!(d.store.projection_digest().unwrap(), server.clone(), "a till differs from the server");
            prop_assert_eq!(d.store.outbox_len().unwrap(), 0);
            // The one refusal these operations can earn (see the engine's property test): a
            // line added to a ticket another till had closed meanwhile.
            for p in d.store.sync_problems().unwrap() {
                prop_assert_eq!(p.code.as_str(), "frozen", "{:?}", p);
            }
            let receipts: BTreeSet<String> = d.store.closed_sales(10_000).unwrap()
                .into_iter().filter_map(|x| x.receipt_no).collect();
            prop_assert_eq!(&receipts, &sold, "every sale exactly once, on every till");
        }
        let closed = s.server.count("SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'", s.tenant);
        prop_assert_eq!(closed, sold.len() as i64, "every sale exactly once at head office");
        let log = s.server.count("SELECT count(*) FROM change_log WHERE tenant_id = $1", s.tenant);
        let distinct = s.server.count("SELECT count(DISTINCT hash) FROM change_log WHERE tenant_id = $1", s.tenant);
        prop_assert_eq!(log, distinct, "no change in the server's log twice");
    }
}
