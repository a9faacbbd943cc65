//! A server and three devices of one store, plus one device of another tenant, over real HTTP
//! against the real server on a throwaway PostgreSQL. The devices sell offline, fire orders to
//! the kitchen, refund, count stock and close a shift; two edit the same open ticket and the
//! same price; the network drops requests and loses answers at (seeded) random points. Then
//! every device's projections equal the server's by digest, every sale exists exactly once,
//! and the other tenant sees nothing.

use std::collections::BTreeSet;

use e2e::{TestDevice, TestServer};
use pos_core::money::{Currency, Money};
use pos_core::refund::RefundRequest;
use pos_core::sale::{Sale, Tender};
use pos_core::store::{KitchenAction, StockFilter, StockInput};
use pos_sync::headoffice::HeadOffice;
use pos_sync_testkit::{Fate, Flaky};
use serde_json::json;
use uuid::Uuid;

use e2e::OWNER_PASSWORD as PW;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").unwrap())
}

/// A deterministic pseudo-random sequence (the test must be repeatable).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Syncs through a network cut at random points: a request lost on the way (one in six), or
/// an answer lost after the server processed it (one in six): pushes, pulls and the document
/// fetches of a reset.
fn flaky_sync(d: &mut TestDevice, rng: &mut Rng) {
    let fates = std::iter::from_fn(|| {
        Some(match rng.next() % 6 {
            0 => Fate::DropRequest,
            1 => Fate::DropAnswer,
            _ => Fate::Deliver,
        })
    });
    let mut t = Flaky::new(&mut d.http, fates);
    // Failures are expected; nothing may be lost, which the end of the test checks.
    let _ = d.engine.sync_once(&mut d.store, &mut t);
}

fn settle(devices: &mut [&mut TestDevice]) {
    for _ in 0..6 {
        let mut moved = 0;
        for d in devices.iter_mut() {
            let r = d.sync().expect("sync on a good network");
            moved += r.pushed + r.pulled;
        }
        if moved == 0 {
            return;
        }
    }
    panic!("devices did not settle");
}

struct Staff {
    manager: Uuid,
    cashier: Uuid,
    kitchen: Uuid,
}

fn store_settings(code: &str, name: &str) -> serde_json::Value {
    json!({"code": code, "name": name, "currency": "EUR", "tax_mode": "Inclusive",
           "tax_rates": {"standard": 1900, "reduced": 700}, "discount_threshold_bp": 2000,
           "receipt_header": "Welcome", "receipt_footer": "Thank you"})
}

fn item(
    sku: &str,
    name: &str,
    price: i64,
    station: Option<&str>,
    tracked: bool,
) -> serde_json::Value {
    json!({"sku": sku, "name": name, "currency": "EUR", "price": price, "tax_class": "standard",
           "station": station, "track_stock": tracked, "low_stock_threshold": 2})
}

fn sell(d: &mut TestDevice, cashier: Uuid, items: &[Uuid], tender: Tender) -> String {
    let c = d.store.actor(cashier).unwrap();
    let sale = d.store.open_sale(&c, None).unwrap();
    for i in items {
        d.store.add_item(&c, sale, *i, 1, &[], 1).unwrap();
    }
    let due = d.store.get::<Sale>(sale).unwrap().totals().unwrap().due;
    let reference = (tender == Tender::Card).then(|| "AUTH-1".to_string());
    d.store
        .pay(&c, sale, tender, eur(due), reference)
        .unwrap()
        .receipt_no
        .unwrap()
}

#[test]
fn three_devices_and_another_tenant_converge_through_the_real_server() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let root = server.root();

    // Head office sets up tenant A: a store, staff with PINs, a catalog.
    let tenant_a = root.create_tenant("Alpha", "owner@alpha.test", PW).unwrap();
    let owner_a = HeadOffice::login(&server.url, "owner@alpha.test", PW).unwrap();
    let store_a = owner_a
        .create_store(store_settings("S01", "Alpha Café"))
        .unwrap();
    let staff = Staff {
        manager: owner_a
            .create_staff(store_a, "Maria", "manager", "2222")
            .unwrap(),
        cashier: owner_a
            .create_staff(store_a, "Carl", "cashier", "3333")
            .unwrap(),
        kitchen: owner_a
            .create_staff(store_a, "Kim", "kitchen", "4444")
            .unwrap(),
    };
    let latte = owner_a
        .publish_item(item("LAT", "Latte", 350, Some("bar"), false))
        .unwrap();
    let burger = owner_a
        .publish_item(item("BUR", "Burger", 1290, Some("grill"), false))
        .unwrap();
    let croissant = owner_a
        .publish_item(item("CRO", "Croissant", 250, None, true))
        .unwrap();
    let mug = owner_a
        .publish_item(item("MUG", "Mug", 1200, None, true))
        .unwrap();

    // Tenant B: its own store, staff, item and device.
    let tenant_b = root.create_tenant("Beta", "owner@beta.test", PW).unwrap();
    let owner_b = HeadOffice::login(&server.url, "owner@beta.test", PW).unwrap();
    let store_b = owner_b
        .create_store(store_settings("B01", "Beta Bar"))
        .unwrap();
    owner_b
        .create_staff(store_b, "Bob", "cashier", "5555")
        .unwrap();
    owner_b
        .publish_item(item("SECRET", "Beta secret recipe", 999, None, false))
        .unwrap();
    let mut dev_b = TestDevice::enrol(
        &server.url,
        &owner_b.enrolment_code(store_b).unwrap(),
        dir.path(),
        "beta-1",
    );

    // Three devices of store A enrol with one-time codes and bootstrap.
    let mut d1 = TestDevice::enrol(
        &server.url,
        &owner_a.enrolment_code(store_a).unwrap(),
        dir.path(),
        "till-1",
    );
    let mut d2 = TestDevice::enrol(
        &server.url,
        &owner_a.enrolment_code(store_a).unwrap(),
        dir.path(),
        "till-2",
    );
    let mut d3 = TestDevice::enrol(
        &server.url,
        &owner_a.enrolment_code(store_a).unwrap(),
        dir.path(),
        "kitchen",
    );
    assert_eq!(d1.store.identity().device_code, "T1");
    assert_eq!(d3.store.identity().device_code, "T3");
    assert_eq!(d2.store.settings().unwrap().name, "Alpha Café");
    // staff log in with their PINs, offline, on any device
    assert_eq!(
        d2.store.login(staff.cashier, "3333").unwrap().user_id,
        staff.cashier
    );
    assert!(d3.store.login(staff.kitchen, "0000").is_err());

    // Opening stock and a shift on till 1.
    let m1 = d1.store.actor(staff.manager).unwrap();
    d1.store
        .receive_stock(
            &m1,
            "PO-1",
            &[
                StockInput {
                    item_id: croissant,
                    qty: 20,
                    unit_cost: Some(80),
                },
                StockInput {
                    item_id: mug,
                    qty: 2,
                    unit_cost: Some(400),
                },
            ],
        )
        .unwrap();
    d1.store.open_shift(&m1, 10_000).unwrap();
    let c1 = d1.store.actor(staff.cashier).unwrap();
    let table = d1.store.open_sale(&c1, Some("Table 1".into())).unwrap();
    d1.store.add_item(&c1, table, burger, 1, &[], 1).unwrap();
    settle(&mut [&mut d1, &mut d2, &mut d3]);

    // Offline, with the network cutting in and out.
    let mut rng = Rng(0x5eed);
    let mut receipts: BTreeSet<String> = BTreeSet::new();
    for round in 0..3 {
        receipts.insert(sell(
            &mut d1,
            staff.cashier,
            &[latte, croissant],
            Tender::Cash,
        ));
        receipts.insert(sell(
            &mut d2,
            staff.cashier,
            &[croissant, croissant],
            Tender::Card,
        ));
        flaky_sync(&mut d1, &mut rng);
        receipts.insert(sell(&mut d2, staff.cashier, &[burger], Tender::Cash));
        flaky_sync(&mut d2, &mut rng);
        if round == 0 {
            // Two terminals add to the same open ticket, and two managers change one price.
            let c2 = d2.store.actor(staff.cashier).unwrap();
            d1.store.add_item(&c1, table, latte, 2, &[], 1).unwrap();
            d2.store.add_item(&c2, table, croissant, 1, &[], 2).unwrap();
            let m2 = d2.store.actor(staff.manager).unwrap();
            d1.store
                .update_item(&m1, latte, |i| {
                    i.price = 390;
                    Ok(())
                })
                .unwrap();
            d2.store
                .update_item(&m2, latte, |i| {
                    i.price = 410;
                    Ok(())
                })
                .unwrap();
            // Both tills sell a mug; with stock for two, a third makes it oversold.
            receipts.insert(sell(&mut d1, staff.cashier, &[mug, mug], Tender::Card));
            receipts.insert(sell(&mut d2, staff.cashier, &[mug], Tender::Card));
        }
        flaky_sync(&mut d3, &mut rng);
        flaky_sync(&mut d1, &mut rng);
    }

    // The kitchen fires and bumps; a manager refunds a sale made on another till; a count.
    d1.store.fire(&c1, table, Some(1)).unwrap();
    settle(&mut [&mut d1, &mut d2, &mut d3]);
    let k3 = d3.store.actor(staff.kitchen).unwrap();
    let tickets = d3.store.kitchen_tickets(None, false).unwrap();
    assert!(
        !tickets.is_empty(),
        "the fired order reached the kitchen device"
    );
    for t in &tickets {
        d3.store.kitchen(&k3, t.id, KitchenAction::Start).unwrap();
        d3.store.kitchen(&k3, t.id, KitchenAction::Bump).unwrap();
    }
    let a_sale_of_d1 = d2
        .store
        .sale_by_receipt(receipts.iter().find(|r| r.contains("-T1-")).unwrap())
        .unwrap();
    let line = d2
        .store
        .get::<Sale>(a_sale_of_d1)
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    let m2 = d2.store.actor(staff.manager).unwrap();
    d2.store
        .refund(
            &m2,
            a_sale_of_d1,
            &[RefundRequest {
                sale_line_id: line,
                qty: 1,
                restock: true,
            }],
            Tender::Cash,
            None,
            "cold",
        )
        .unwrap();
    let m3 = d3.store.actor(staff.manager).unwrap();
    let count = d3.store.start_count(&m3).unwrap();
    d3.store.count_item(&m3, count, croissant, 7).unwrap();
    d3.store.post_count(&m3, count).unwrap();
    flaky_sync(&mut d2, &mut rng);
    flaky_sync(&mut d3, &mut rng);
    // Close the shift on till 1 with a Z report.
    d1.store
        .close_shift(&m1, [("5000".to_string(), 2)].into())
        .unwrap();

    settle(&mut [&mut d1, &mut d2, &mut d3, &mut dev_b]);

    // Every device shows what the server has, byte for byte.
    let server_digest = server.store_digest(tenant_a, store_a);
    for d in [&d1, &d2, &d3] {
        assert_eq!(
            d.store.projection_digest().unwrap(),
            server_digest,
            "device {}",
            d.store.identity().device_code
        );
        assert_eq!(d.store.outbox_len().unwrap(), 0);
        assert!(
            d.store.sync_problems().unwrap().is_empty(),
            "{:?}",
            d.store.sync_problems()
        );
    }
    // Every sale exactly once, everywhere.
    for d in [&d1, &d2, &d3] {
        let seen: BTreeSet<String> = d
            .store
            .closed_sales(1000)
            .unwrap()
            .into_iter()
            .filter_map(|s| s.receipt_no)
            .collect();
        assert_eq!(seen, receipts);
    }
    assert_eq!(
        server.count(
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
            tenant_a
        ),
        receipts.len() as i64
    );
    assert_eq!(
        server.count(
            "SELECT count(*) - count(DISTINCT hash) FROM change_log WHERE tenant_id = $1",
            tenant_a
        ),
        0,
        "no change counted twice"
    );
    // The ticket both tills edited has both edits; the price converged; the loser is visible.
    let t: Sale = d3.store.get(table).unwrap();
    assert_eq!(t.lines.values().map(|l| l.qty).sum::<i64>(), 1 + 2 + 1);
    let prices: BTreeSet<i64> = [&d1, &d2, &d3]
        .iter()
        .map(|d| d.store.search_items("latte", 1).unwrap()[0].price)
        .collect();
    assert_eq!(prices.len(), 1);
    let conflicts = owner_a.get("/v1/admin/price-conflicts").unwrap();
    assert!(
        conflicts.to_string().contains("410") && conflicts.to_string().contains("390"),
        "{conflicts}"
    );
    // Selling the last mugs twice is accepted and flagged.
    assert_eq!(
        d3.store.stock_levels(StockFilter::Oversold).unwrap().len(),
        1
    );
    assert_eq!(
        server.count(
            "SELECT count(*) FROM p_oversold WHERE tenant_id = $1",
            tenant_a
        ),
        1,
        "head office sees the oversold item too"
    );
    assert_eq!(d3.store.z_reports().unwrap().len(), 1);

    // The other tenant sees nothing of tenant A, and A nothing of B.
    assert!(dev_b.store.search_items("latte", 5).unwrap().is_empty());
    assert!(dev_b.store.closed_sales(10).unwrap().is_empty());
    assert_eq!(dev_b.store.search_items("secret", 5).unwrap().len(), 1);
    assert!(d1.store.search_items("secret", 5).unwrap().is_empty());
    assert_eq!(
        dev_b.store.projection_digest().unwrap(),
        server.store_digest(tenant_b, store_b),
        "tenant B's device holds exactly tenant B's store"
    );
    assert_eq!(
        server.count(
            "SELECT count(*) FROM documents WHERE tenant_id = $1",
            tenant_b
        ),
        2,
        "tenant B's master holds its store settings and its item, nothing of tenant A"
    );
}

/// Issue 13: the platform turns the KDS module off for a tenant; its till learns it with the
/// staff list and then, offline too, refuses to fire (the policy names the module) while it
/// keeps selling, and the server refuses a ticket pushed anyway. On again, the till fires.
#[test]
fn a_till_learns_its_tenants_modules_with_the_staff_list_and_keeps_to_them() {
    use pos_core::modules::Module;
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let root = server.root();
    let tenant = root.create_tenant("Gamma", "owner@gamma.test", PW).unwrap();
    let owner = HeadOffice::login(&server.url, "owner@gamma.test", PW).unwrap();
    let store = owner
        .create_store(store_settings("G01", "Gamma Grill"))
        .unwrap();
    let cashier = owner.create_staff(store, "Cid", "cashier", "3333").unwrap();
    let burger = owner
        .publish_item(item("BUR", "Burger", 1290, Some("grill"), false))
        .unwrap();
    let code = owner.enrolment_code(store).unwrap();
    let mut till = TestDevice::enrol(&server.url, &code, dir.path(), "till");
    till.engine
        .refresh_staff(&mut till.store, &mut till.http)
        .unwrap();
    assert!(till.store.entitlements().unwrap().enabled(Module::Kds));

    root.put(
        &format!("/v1/admin/tenants/{tenant}/modules"),
        serde_json::json!({"modules": {"kds": false}}),
    )
    .unwrap();
    till.engine
        .refresh_staff(&mut till.store, &mut till.http)
        .unwrap();
    assert!(!till.store.entitlements().unwrap().enabled(Module::Kds));
    let c = till.store.actor(cashier).unwrap();
    let table = till.store.open_sale(&c, Some("Table 1".into())).unwrap();
    till.store.add_item(&c, table, burger, 1, &[], 1).unwrap();
    assert!(
        matches!(
            till.store.fire(&c, table, None),
            Err(pos_core::store::StoreError::Policy(
                pos_core::policy::PolicyError::ModuleOff(Module::Kds)
            ))
        ),
        "the till refuses to fire"
    );
    till.sync().unwrap();
    assert_eq!(
        server.count(
            "SELECT count(*) FROM documents WHERE tenant_id = $1 AND doc_type = 'kitchen_ticket'",
            tenant
        ),
        0
    );
    root.put(
        &format!("/v1/admin/tenants/{tenant}/modules"),
        serde_json::json!({"modules": {"kds": true}}),
    )
    .unwrap();
    till.engine
        .refresh_staff(&mut till.store, &mut till.http)
        .unwrap();
    till.store.fire(&c, table, None).unwrap();
    till.sync().unwrap();
    assert_eq!(
        server.count(
            "SELECT count(*) FROM documents WHERE tenant_id = $1 AND doc_type = 'kitchen_ticket'",
            tenant
        ),
        1
    );
}

/// Issue 17: a bill split on one till (fired lines moved with a manager's PIN, part of a line
/// too), a table merged into another and moved: the server accepts every change, the other
/// till sees both sales with the same lines and fired states, and the kitchen got nothing twice.
#[test]
fn a_split_bill_and_merged_tables_sync_and_the_server_accepts_them() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let root = server.root();
    let tenant = root.create_tenant("Delta", "owner@delta.test", PW).unwrap();
    let owner = HeadOffice::login(&server.url, "owner@delta.test", PW).unwrap();
    let store = owner
        .create_store(store_settings("D01", "Delta Diner"))
        .unwrap();
    let manager = owner.create_staff(store, "Mia", "manager", "2222").unwrap();
    let cashier = owner.create_staff(store, "Cal", "cashier", "3333").unwrap();
    let latte = owner
        .publish_item(item("LAT", "Latte", 350, Some("bar"), false))
        .unwrap();
    let burger = owner
        .publish_item(item("BUR", "Burger", 1290, Some("grill"), false))
        .unwrap();
    let croissant = owner
        .publish_item(item("CRO", "Croissant", 250, None, false))
        .unwrap();
    let mut t1 = TestDevice::enrol(
        &server.url,
        &owner.enrolment_code(store).unwrap(),
        dir.path(),
        "till-1",
    );
    let mut t2 = TestDevice::enrol(
        &server.url,
        &owner.enrolment_code(store).unwrap(),
        dir.path(),
        "till-2",
    );
    for t in [&mut t1, &mut t2] {
        t.engine.refresh_staff(&mut t.store, &mut t.http).unwrap();
    }
    let c = t1.store.actor(cashier).unwrap();
    t1.store.open_shift(&c, 10_000).unwrap();
    let table = t1.store.open_sale(&c, Some("Table 4".into())).unwrap();
    let l = t1.store.add_item(&c, table, latte, 1, &[], 1).unwrap();
    t1.store.set_line_qty(&c, table, &l, 2).unwrap();
    t1.store.add_item(&c, table, burger, 1, &[], 1).unwrap();
    t1.store.fire(&c, table, None).unwrap();
    let total = t1.store.get::<Sale>(table).unwrap().totals().unwrap().total;

    // One latte of two, fired, goes on its own bill with the manager's PIN, and is paid.
    let part = t1
        .store
        .split_sale_approved(&c, table, &[(l.clone(), 1)], Some(manager))
        .unwrap();
    let part_sale: Sale = t1.store.get(part).unwrap();
    assert_eq!(
        part_sale.totals().unwrap().total
            + t1.store.get::<Sale>(table).unwrap().totals().unwrap().total,
        total
    );
    t1.store
        .pay(
            &c,
            part,
            Tender::Cash,
            eur(part_sale.totals().unwrap().due),
            None,
        )
        .unwrap();
    // Table 6 joins table 4, which then moves to table 10.
    let other = t1.store.open_sale(&c, Some("Table 6".into())).unwrap();
    t1.store.add_item(&c, other, croissant, 1, &[], 1).unwrap();
    t1.store.merge_sales(&c, other, table, None).unwrap();
    t1.store.move_ticket(&c, table, "Table 10").unwrap();

    let r = t1.sync().unwrap();
    assert_eq!((r.rejected, r.retry_later), (0, 0), "{r:?}");
    assert!(r.accepted > 0);
    assert_eq!(
        server.count(
            "SELECT count(*) FROM documents WHERE tenant_id = $1 AND doc_type = 'sale'",
            tenant
        ),
        3
    );
    assert_eq!(
        server.count(
            "SELECT count(*) FROM documents WHERE tenant_id = $1 AND doc_type = 'kitchen_ticket'",
            tenant
        ),
        2,
        "bar and grill once each: moving fired lines sends nothing again"
    );
    t2.sync().unwrap();
    for id in [table, part, other] {
        assert_eq!(
            t2.store.get::<Sale>(id).unwrap(),
            t1.store.get::<Sale>(id).unwrap()
        );
    }
    let moved: Sale = t2.store.get(table).unwrap();
    assert_eq!(moved.ticket.as_deref(), Some("Table 10"));
    assert_eq!(moved.lines.len(), 3);
    assert_eq!(
        moved
            .lines
            .values()
            .filter(|l| l.fired_at.is_some())
            .count(),
        2
    );

    // A second till's cashier, without the PIN, cannot move a fired line off the table: refused
    // on the till, as the server would.
    let c2 = t2.store.actor(cashier).unwrap();
    assert!(t2.store.split_sale(&c2, table, &[(l, 1)]).is_err());
}
