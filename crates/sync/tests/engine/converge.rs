use pos_core::sale::{Sale, Tender};
use pos_core::store::StockInput;

use crate::common::*;

#[test]
fn a_second_device_bootstraps_the_whole_store() {
    let t = Tenant::new(2);
    let b = &t.devices[1].store;
    assert_eq!(b.settings().unwrap().code, "S01");
    assert_eq!(b.search_items("latte", 5).unwrap().len(), 1);
    assert_eq!(
        b.stock_level(t.demo.item("BAK-CRO").unwrap())
            .unwrap()
            .on_hand,
        24
    );
    assert_eq!(b.staff().unwrap().len(), 4, "staff synced down");
    assert_eq!(t.digests()[0], t.digests()[1]);
}

#[test]
fn devices_selling_offline_converge_and_count_each_sale_once() {
    let mut t = Tenant::new(3);
    for d in t.devices.iter_mut() {
        d.online = false;
    }
    let d = t.demo.clone();
    let mut receipts = Vec::new();
    for (i, dev) in t.devices.iter_mut().enumerate() {
        let c = dev.store.actor(d.cashier.user_id).unwrap();
        for _ in 0..3 {
            let sale = dev.store.open_sale(&c, None).unwrap();
            dev.store
                .add_item(&c, sale, d.item("BAK-CRO").unwrap(), 1 + i as i64, &[], 1)
                .unwrap();
            let due = dev.store.get::<Sale>(sale).unwrap().totals().unwrap().due;
            let out = dev
                .store
                .pay(&c, sale, Tender::Cash, eur(due), None)
                .unwrap();
            receipts.push(out.receipt_no.unwrap());
        }
        assert!(matches!(sync(&t.server, dev), Err(_)), "offline");
        assert!(
            dev.store.outbox_len().unwrap() > 0,
            "nothing lost while offline"
        );
    }
    for dev in t.devices.iter_mut() {
        dev.online = true;
    }
    t.settle();
    let digests = t.digests();
    assert!(
        digests.iter().all(|x| *x == digests[0]),
        "every device shows the same data"
    );
    for dev in &t.devices {
        assert_eq!(dev.store.outbox_len().unwrap(), 0);
        let sales = dev.store.closed_sales(100).unwrap();
        assert_eq!(sales.len(), 9, "every sale exactly once");
        let mut nos: Vec<String> = sales.into_iter().filter_map(|s| s.receipt_no).collect();
        nos.sort();
        let mut expected = receipts.clone();
        expected.sort();
        assert_eq!(nos, expected);
        // 24 croissants, 3 devices selling 3 × (1, 2, 3)
        assert_eq!(
            dev.store
                .stock_level(d.item("BAK-CRO").unwrap())
                .unwrap()
                .on_hand,
            24 - 18
        );
    }
}

#[test]
fn selling_the_last_unit_on_two_offline_devices_is_accepted_and_flagged() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let mug = d.item("RET-MUG").unwrap();
    let m = d.manager;
    let on_hand = t.devices[0].store.stock_level(mug).unwrap().on_hand;
    // leave exactly one mug
    t.devices[0]
        .store
        .adjust_stock(
            &m,
            "display",
            &[StockInput {
                item_id: mug,
                qty: -(on_hand - 1),
                unit_cost: None,
            }],
        )
        .unwrap();
    t.settle();
    for dev in t.devices.iter_mut() {
        dev.online = false;
        let c = dev.store.actor(d.cashier.user_id).unwrap();
        let sale = dev.store.open_sale(&c, None).unwrap();
        dev.store.add_item(&c, sale, mug, 1, &[], 1).unwrap();
        dev.store
            .pay(&c, sale, Tender::Card, eur(1200), Some("R".into()))
            .unwrap();
        dev.online = true;
    }
    t.settle();
    for dev in &t.devices {
        let level = dev.store.stock_level(mug).unwrap();
        assert_eq!(level.on_hand, -1);
        assert!(level.oversold);
        assert!(
            dev.store.sync_problems().unwrap().is_empty(),
            "oversold is not a rejection"
        );
    }
}

#[test]
fn concurrent_price_edits_converge_and_the_loser_stays_visible() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let latte = d.item("COF-LAT").unwrap();
    for (dev, price) in t.devices.iter_mut().zip([390, 410]) {
        dev.online = false;
        let m = dev.store.actor(d.manager.user_id).unwrap();
        dev.store
            .update_item(&m, latte, |i| {
                i.price = price;
                Ok(())
            })
            .unwrap();
        dev.online = true;
    }
    t.settle();
    let p0 = t.devices[0]
        .store
        .item_by_barcode(&d.barcodes["COF-LAT"])
        .unwrap()
        .price;
    let p1 = t.devices[1]
        .store
        .item_by_barcode(&d.barcodes["COF-LAT"])
        .unwrap()
        .price;
    assert_eq!(p0, p1, "both devices agree");
    assert!(p0 == 390 || p0 == 410);
    let server = t.server.lock().unwrap();
    let conflicts = server
        .conflicts
        .get(&latte)
        .expect("the conflict is recorded");
    let mut values: Vec<i64> = conflicts[0]
        .values
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    values.sort();
    assert_eq!(
        (conflicts[0].field.as_str(), values),
        ("price", vec![390, 410])
    );
}

#[test]
fn two_terminals_editing_one_open_ticket_merge_their_lines() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let c0 = t.devices[0].store.actor(d.cashier.user_id).unwrap();
    let ticket = t.devices[0]
        .store
        .open_sale(&c0, Some("Table 5".into()))
        .unwrap();
    t.settle();
    for (i, dev) in t.devices.iter_mut().enumerate() {
        dev.online = false;
        let c = dev.store.actor(d.cashier.user_id).unwrap();
        let sku = if i == 0 { "KIT-BUR" } else { "KIT-SAL" };
        dev.store
            .add_item(&c, ticket, d.item(sku).unwrap(), 1, &[], 1)
            .unwrap();
        dev.online = true;
    }
    t.settle();
    for dev in t.devices.iter_mut() {
        let sale: Sale = dev.store.get(ticket).unwrap();
        let mut names: Vec<String> = sale.lines.values().map(|l| l.name.clone()).collect();
        names.sort();
        assert_eq!(names, vec!["Caesar salad", "Cheeseburger"]);
    }
    let digests = t.digests();
    assert_eq!(digests[0], digests[1]);
}

/// The memory server's bootstrap in pages of three documents (page tokens are page numbers).
fn paged(
    inner: &mut pos_sync::memory::MemoryTransport<'_>,
    page: Option<&str>,
) -> Result<pos_sync::wire::BootstrapPage, pos_sync::device::TransportError> {
    use pos_sync::device::Transport;
    let n: usize = page.map(|p| p.parse().unwrap()).unwrap_or(0);
    let mut all = inner.bootstrap(None)?;
    let docs: Vec<_> = all.docs.drain(..).skip(n * 3).take(3).collect();
    let next = ((n + 1) * 3 < all.total as usize).then(|| (n + 1).to_string());
    Ok(pos_sync::wire::BootstrapPage {
        docs,
        cursor: all.cursor,
        next,
        total: all.total,
    })
}

/// Bootstrap fetches a page ahead on another thread; a failure half-way must end it with the
/// transport's error (no hang, no cursor recorded), and a second attempt must complete.
#[test]
fn a_bootstrap_cut_off_half_way_fails_cleanly_and_a_retry_completes() {
    let t = Tenant::new(1);
    let mut d = device(&t.dir, t.tenant_id, t.store_id, 1);
    // The network is cut before page 2 while `cut` is set.
    let cut = std::sync::atomic::AtomicBool::new(true);
    let mut tr = Hooked::new(pos_sync::memory::MemoryTransport {
        server: &t.server,
        scope: d.scope,
        online: true,
    });
    tr.bootstrap = Some(Box::new(|inner, page| {
        if cut.load(std::sync::atomic::Ordering::Relaxed) && page == Some("2") {
            return Err(pos_sync::device::TransportError::Unreachable(
                "cable pulled".into(),
            ));
        }
        paged(inner, page)
    }));
    let mut seen = Vec::new();
    let err = d
        .engine
        .bootstrap(&mut d.store, &mut tr, |done, total| {
            seen.push((done, total))
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            pos_sync::device::SyncError::Transport(pos_sync::device::TransportError::Unreachable(
                _
            ))
        ),
        "{err:?}"
    );
    assert_eq!(seen.len(), 2, "two pages imported before the cut: {seen:?}");
    assert_eq!(
        d.store.sync_cursor().unwrap(),
        0,
        "no cursor after a failed bootstrap"
    );

    cut.store(false, std::sync::atomic::Ordering::Relaxed);
    d.engine
        .bootstrap(&mut d.store, &mut tr, |done, total| {
            seen.push((done, total))
        })
        .unwrap();
    let (done, total) = *seen.last().unwrap();
    assert_eq!(done, total, "the progress bar ends full");
    assert!(total > 6, "more than two pages: {total}");
    assert_eq!(
        d.store.projection_digest().unwrap(),
        t.devices[0].store.projection_digest().unwrap()
    );
}

/// Regression: the sync thread held the shared store for a whole round, network calls
/// included, so a silent server froze the till for up to the connect timeout on every retry.
#[test]
fn regression_the_sync_thread_never_holds_the_store_during_a_network_call() {
    let mut t = Tenant::new(1);
    let dev = t.devices.remove(0);
    let scope = dev.scope;
    let mut engine = dev.engine;
    let store = std::sync::Mutex::new(dev.store);
    let c = t.demo.cashier;
    let croissant = t.demo.item("BAK-CRO").unwrap();
    // Something to push.
    {
        let mut s = store.lock().unwrap();
        let sale = s.open_sale(&c, None).unwrap();
        s.add_item(&c, sale, croissant, 1, &[], 1).unwrap();
    }
    let (sold, till_sold) = std::sync::mpsc::channel();
    let (pushing, push_started) = std::sync::mpsc::channel();
    let report = std::thread::scope(|sc| {
        let syncing = sc.spawn(|| {
            let mut tr = Hooked::new(pos_sync::memory::MemoryTransport {
                server: &t.server,
                scope,
                online: true,
            });
            // The first push is a "network call" that lasts until the till has sold (or 10 s:
            // the test fails); the ones after it go straight through.
            let mut till_sold = Some(till_sold);
            tr.before_push = Box::new(move || {
                if let Some(till_sold) = till_sold.take() {
                    let _ = pushing.send(());
                    till_sold
                        .recv_timeout(std::time::Duration::from_secs(10))
                        .map_err(|_| {
                            pos_sync::device::TransportError::Unreachable("no sale".into())
                        })?;
                }
                Ok(())
            });
            engine.sync_shared(&store, &mut tr)
        });
        push_started
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the engine pushed");
        // The till sells while the push is "on the wire"; try_lock with a deadline, so a held
        // lock fails the test instead of hanging it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut s = loop {
            if let Ok(s) = store.try_lock() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the store stayed locked while the sync thread waited on the network"
            );
            std::thread::yield_now();
        };
        let sale = s.open_sale(&c, None).unwrap();
        s.add_item(&c, sale, croissant, 2, &[], 1).unwrap();
        drop(s);
        sold.send(()).unwrap();
        syncing.join().unwrap()
    })
    .unwrap();
    assert!(report.accepted >= 2, "{report:?}");
}

/// Regression (property test, `Reorder`): a till sold and paid a sale offline; its changes
/// reached the server out of order, so only the sale's opening was accepted at first. A second
/// till pulled the sale as open and added a line to it. The first till's remaining changes
/// (its line, its payment) must still be accepted: the sale and its receipt may not vanish.
#[test]
fn regression_a_paid_sale_seen_half_synced_by_another_till_keeps_its_payment() {
    use pos_sync::wire::{PushRequest, PROTOCOL_VERSION};
    let mut t = Tenant::new(3);
    let d = t.demo.clone();
    let c2 = t.devices[2].store.actor(d.cashier.user_id).unwrap();
    let sale = t.devices[2].store.open_sale(&c2, None).unwrap();
    t.devices[2]
        .store
        .add_item(&c2, sale, d.item("COF-LAT").unwrap(), 1, &[], 1)
        .unwrap();
    let due = t.devices[2]
        .store
        .get::<Sale>(sale)
        .unwrap()
        .totals()
        .unwrap()
        .due;
    let receipt = t.devices[2]
        .store
        .pay(&c2, sale, Tender::Card, eur(due), Some("R".into()))
        .unwrap()
        .receipt_no
        .unwrap();
    // Only the opening reaches the server: the rest comes in reverse, missing its dependencies.
    let mut changes = pos_sync::device::wire_changes(
        &t.devices[2].store.outbox_batch(100).unwrap(),
        t.devices[2].scope.device_id,
    );
    changes.reverse();
    let r = t
        .server
        .lock()
        .unwrap()
        .push(
            &t.devices[2].scope,
            &PushRequest {
                protocol: PROTOCOL_VERSION,
                changes,
            },
        )
        .results;
    assert!(
        matches!(r.last(), Some(pos_sync::wire::PushResult::Accepted { .. })),
        "only the opening is accepted: {r:?}"
    );
    t.sync(0).unwrap();
    let c0 = t.devices[0].store.actor(d.cashier.user_id).unwrap();
    let open = t.devices[0].store.open_sales().unwrap();
    assert_eq!(open.len(), 1, "till 0 sees the half-synced sale as open");
    t.devices[0]
        .store
        .add_item(&c0, open[0].id, d.item("COF-LAT").unwrap(), 1, &[], 1)
        .unwrap();
    t.settle();
    for dev in &mut t.devices {
        assert!(dev.store.sync_problems().unwrap().is_empty());
        let merged = dev.store.get::<Sale>(sale).unwrap();
        assert_eq!(
            merged.totals().unwrap().due,
            due,
            "closed, with the concurrent line left to settle"
        );
    }
    let digests = t.digests();
    assert!(digests.iter().all(|x| *x == digests[0]));
    for dev in &t.devices {
        let receipts: Vec<String> = dev
            .store
            .closed_sales(10)
            .unwrap()
            .into_iter()
            .filter_map(|s| s.receipt_no)
            .collect();
        assert_eq!(receipts, [receipt.clone()]);
    }
}

/// One till takes a burger off a ticket while another, not seeing it yet, takes a card payment
/// of more than what is left: the merged ticket is open and overpaid, which no till can pay or
/// close. The paying till hands the difference back (a negative payment, exactly what it shows
/// as overpaid) and the sale closes; every till converges, with nothing refused.
#[test]
fn an_overpaid_ticket_after_a_merge_is_settled_by_handing_the_difference_back() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let c0 = t.devices[0].store.actor(d.cashier.user_id).unwrap();
    let sale = t.devices[0]
        .store
        .open_sale(&c0, Some("T4".into()))
        .unwrap();
    for sku in ["COF-LAT", "KIT-BUR"] {
        t.devices[0]
            .store
            .add_item(&c0, sale, d.item(sku).unwrap(), 1, &[], 1)
            .unwrap();
    }
    t.settle();
    let total = |dev: &mut Device| dev.store.get::<Sale>(sale).unwrap().totals().unwrap();
    let before = total(&mut t.devices[0]).total;
    // Offline: till 1 takes the burger off; till 0 takes a card payment of what is left plus
    // one euro, less than the ticket's total on its screen, so the ticket stays open there.
    let c1 = t.devices[1].store.actor(d.cashier.user_id).unwrap();
    let burger_line = t.devices[1]
        .store
        .get::<Sale>(sale)
        .unwrap()
        .lines
        .iter()
        .find(|(_, l)| l.sku == "KIT-BUR")
        .map(|(id, _)| id.clone())
        .unwrap();
    t.devices[1]
        .store
        .remove_line(&c1, sale, &burger_line)
        .unwrap();
    let left = total(&mut t.devices[1]).total;
    assert!(left + 100 < before);
    let paid = t.devices[0]
        .store
        .pay(
            &c0,
            sale,
            Tender::Card,
            eur(left + 100),
            Some("AUTH-7".into()),
        )
        .unwrap();
    assert_eq!(paid.receipt_no, None, "still open on till 0");
    t.settle();
    for dev in &mut t.devices {
        assert!(dev.store.sync_problems().unwrap().is_empty());
        assert_eq!(total(dev).due, -100, "open and overpaid by one euro");
    }
    // Till 0 cannot take another payment, and hands the euro back in cash.
    assert!(t.devices[0]
        .store
        .pay(&c0, sale, Tender::Cash, eur(100), None)
        .is_err());
    let back = t.devices[0]
        .store
        .return_overpayment(&c0, sale, Tender::Cash, None)
        .unwrap();
    assert!(back.receipt_no.is_some(), "the sale closes");
    t.settle();
    let digests = t.digests();
    assert!(digests.iter().all(|x| *x == digests[0]));
    for dev in &mut t.devices {
        assert!(dev.store.sync_problems().unwrap().is_empty());
        let s = dev.store.get::<Sale>(sale).unwrap();
        assert_eq!(s.status, pos_core::sale::SaleStatus::Closed);
        assert_eq!(s.totals().unwrap().due, 0);
        let returned: Vec<i64> = s
            .payments
            .values()
            .filter(|p| p.amount < 0)
            .map(|p| p.amount)
            .collect();
        assert_eq!(returned, [-100]);
    }
}
