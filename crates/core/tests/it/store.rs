use pos_core::catalog::CatalogError;
use pos_core::refund::RefundRequest;
use pos_core::sale::{Sale, SaleError, SaleStatus, Tender};
use pos_core::store::{StockFilter, StockInput, Store, StoreError};
use uuid::Uuid;

use crate::common::*;

fn count(store: &Store, table: &str) -> i64 {
    let digest_probe = store.projection_digest().unwrap();
    assert_eq!(digest_probe.len(), 64);
    rows(store, table)
}

fn rows(store: &Store, table: &str) -> i64 {
    // Reading through a second connection proves the data is committed, not just cached.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let mut f = demo_store();
    let (docs, outbox, sales) = (
        rows(&f.store, "documents"),
        rows(&f.store, "outbox"),
        rows(&f.store, "p_sales"),
    );
    let settings = f.store.settings().unwrap().clone();
    let cashier = f.demo.cashier;
    let mut created = None;
    let r: Result<(), StoreError> = f.store.write(&cashier, |w| {
        let sale = Sale::open(
            pos_core::sale::SaleKind::Quick,
            &settings,
            None,
            None,
            cashier.user_id,
            w.now(),
        )?;
        created = Some(w.create(sale)?);
        Err(SaleError::Empty.into()) // something later in the same write fails
    });
    assert!(r.is_err());
    assert_eq!(rows(&f.store, "documents"), docs);
    assert_eq!(rows(&f.store, "outbox"), outbox);
    assert_eq!(count(&f.store, "p_sales"), sales);
    assert!(matches!(
        f.store.get::<Sale>(created.unwrap()),
        Err(StoreError::UnknownDocument(_))
    ));
}

#[test]
fn a_refused_change_is_forgotten_and_the_next_one_works() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sale = f.store.open_sale(&c, None).unwrap();
    let line = f.store.scan(&c, sale, &f.demo.barcodes["RET-MUG"]).unwrap();
    let outbox = rows(&f.store, "outbox");
    assert!(f.store.override_price(&c, sale, &line, Some(1)).is_err());
    assert_eq!(
        f.store.get::<Sale>(sale).unwrap().lines[&line].price_override,
        None
    );
    assert_eq!(rows(&f.store, "outbox"), outbox);
    f.store.set_line_qty(&c, sale, &line, 2).unwrap();
    assert_eq!(rows(&f.store, "outbox"), outbox + 1);
    // and the document on disk agrees with memory
    let path = f.store.path().to_path_buf();
    drop(f.store);
    let mut reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.get::<Sale>(sale).unwrap().lines[&line].qty, 2);
}

#[test]
fn every_change_goes_to_the_outbox_once_and_no_op_writes_add_nothing() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let before = f.store.outbox_len().unwrap();
    let sale = f.store.open_sale(&c, None).unwrap();
    let line = f.store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
    f.store.set_line_note(&c, sale, &line, "hot").unwrap();
    assert_eq!(f.store.outbox_len().unwrap(), before + 3);
    f.store.set_line_note(&c, sale, &line, "hot").unwrap();
    assert_eq!(
        f.store.outbox_len().unwrap(),
        before + 3,
        "an unchanged document makes no change"
    );
}

#[test]
fn an_open_sale_survives_a_restart_and_receipts_continue_gapless() {
    let f = demo_store();
    let path = f.store.path().to_path_buf();
    let (c, m) = (f.demo.cashier, f.demo.manager);
    let mut store = f.store;
    let first = store.open_sale(&c, None).unwrap();
    store.scan(&c, first, &f.demo.barcodes["COF-ESP"]).unwrap();
    let r1 = store.pay(&c, first, Tender::Cash, eur(1000), None).unwrap();
    assert_eq!(r1.receipt_no.as_deref(), Some("S01-T1-000001"));
    // a refund refused mid-write must not burn a receipt number
    let line = store
        .get::<Sale>(first)
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    let req = [RefundRequest {
        sale_line_id: line,
        qty: 1,
        restock: true,
    }];
    assert!(store
        .refund(&c, first, &req, Tender::Cash, None, "x")
        .is_err());
    let open = store.open_sale(&c, Some("Table 9".into())).unwrap();
    store.scan(&c, open, &f.demo.barcodes["KIT-BUR"]).unwrap();
    drop(store); // the app is killed

    let mut store = Store::open(&path).unwrap();
    let open_sales = store.open_sales().unwrap();
    assert_eq!(open_sales.len(), 1);
    assert_eq!(open_sales[0].id, open);
    assert_eq!(open_sales[0].ticket.as_deref(), Some("Table 9"));
    assert_eq!(store.sale_status(open).unwrap(), SaleStatus::Open);
    let refund = store
        .refund(&m, first, &req, Tender::Cash, None, "x")
        .unwrap();
    let no: String = store
        .get::<pos_core::refund::Refund>(refund)
        .unwrap()
        .receipt_no;
    assert_eq!(no, "S01-T1-000002");
    let r3 = store.pay(&c, open, Tender::Cash, eur(2000), None).unwrap();
    assert_eq!(r3.receipt_no.as_deref(), Some("S01-T1-000003"));
}

#[test]
fn projections_rebuilt_from_documents_are_identical() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sale = f.store.open_sale(&c, Some("Table 3".into())).unwrap();
    f.store
        .add_item(&c, sale, f.demo.item("KIT-BUR").unwrap(), 2, &[], 1)
        .unwrap();
    f.store.fire(&c, sale, None).unwrap();
    f.store
        .pay(&c, sale, Tender::Card, eur(2580), Some("R-1".into()))
        .unwrap();
    let before = f.store.projection_digest().unwrap();
    f.store.rebuild_projections().unwrap();
    assert_eq!(f.store.projection_digest().unwrap(), before);
}

#[test]
fn search_finds_items_by_name_prefix_sku_and_barcode() {
    let mut f = demo_store();
    let names = |store: &Store, q: &str| -> Vec<String> {
        store
            .search_items(q, 10)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    assert_eq!(names(&f.store, "lat"), vec!["Latte"]);
    assert_eq!(names(&f.store, "coff bea"), vec!["Coffee beans 500 g"]);
    assert_eq!(names(&f.store, "KIT-SAL"), vec!["Caesar salad"]);
    assert_eq!(
        names(&f.store, &f.demo.barcodes["BAK-MUF"]),
        vec!["Blueberry muffin"]
    );
    assert!(
        names(&f.store, "\"*:()").is_empty(),
        "FTS syntax in input is not an error"
    );
    assert!(names(&f.store, "zzz").is_empty());
    let muffin = f.demo.item("BAK-MUF").unwrap();
    f.store
        .update_item(&f.demo.owner, muffin, |i| {
            i.active = false;
            Ok(())
        })
        .unwrap();
    assert!(
        names(&f.store, "muffin").is_empty(),
        "inactive items are not offered"
    );
}

#[test]
fn an_unknown_barcode_is_a_typed_error() {
    let mut f = demo_store();
    let sale = f.store.open_sale(&f.demo.cashier, None).unwrap();
    match f.store.scan(&f.demo.cashier, sale, "4006381333931") {
        Err(StoreError::Catalog(CatalogError::UnknownBarcode(code))) => {
            assert_eq!(code, "4006381333931")
        }
        other => panic!("expected an unknown barcode, got {other:?}"),
    }
    assert!(f.store.get::<Sale>(sale).unwrap().lines.is_empty());
}

#[test]
fn selling_the_last_unit_twice_is_accepted_and_flagged_oversold() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let mug = f.demo.item("RET-MUG").unwrap();
    let on_hand = f.store.stock_level(mug).unwrap().on_hand;
    let sale = f.store.open_sale(&c, None).unwrap();
    f.store
        .add_item(&c, sale, mug, on_hand + 1, &[], 1)
        .unwrap();
    f.store
        .pay(
            &c,
            sale,
            Tender::Card,
            eur((on_hand + 1) * 1200),
            Some("R".into()),
        )
        .unwrap();
    let level = f.store.stock_level(mug).unwrap();
    assert_eq!(level.on_hand, -1);
    assert!(level.oversold);
    let oversold = f.store.stock_levels(StockFilter::Oversold).unwrap();
    assert_eq!(
        oversold.iter().map(|r| r.item_id).collect::<Vec<_>>(),
        vec![mug]
    );
    assert_eq!(f.store.movements_sum(mug).unwrap(), -1);
}

#[test]
fn a_count_records_the_difference_from_the_expected_level() {
    let mut f = demo_store();
    let m = f.demo.manager;
    let beans = f.demo.item("RET-BEA").unwrap();
    assert_eq!(f.store.stock_level(beans).unwrap().on_hand, 8);
    let count = f.store.start_count(&m).unwrap();
    f.store.count_item(&m, count, beans, 5).unwrap();
    assert_eq!(
        f.store.stock_level(beans).unwrap().on_hand,
        8,
        "a draft count moves nothing"
    );
    f.store.post_count(&m, count).unwrap();
    let level = f.store.stock_level(beans).unwrap();
    assert_eq!(level.on_hand, 5);
    assert!(level.low_stock);
    assert!(
        f.store.post_count(&m, count).is_err(),
        "a posted count is frozen"
    );
    f.store
        .receive_stock(
            &m,
            "PO-77",
            &[StockInput {
                item_id: beans,
                qty: 10,
                unit_cost: Some(700),
            }],
        )
        .unwrap();
    f.store
        .transfer_out(
            &m,
            Uuid::now_v7(),
            &[StockInput {
                item_id: beans,
                qty: 3,
                unit_cost: None,
            }],
        )
        .unwrap();
    assert_eq!(f.store.stock_level(beans).unwrap().on_hand, 12);
    assert_eq!(f.store.movements_sum(beans).unwrap(), 12);
    assert!(f
        .store
        .receive_stock(
            &m,
            "",
            &[StockInput {
                item_id: beans,
                qty: 1,
                unit_cost: Some(1)
            }]
        )
        .is_err());
    assert!(
        f.store
            .adjust_stock(
                &f.demo.cashier,
                "theft",
                &[StockInput {
                    item_id: beans,
                    qty: -1,
                    unit_cost: None
                }]
            )
            .is_err(),
        "a cashier may not adjust stock"
    );
}

#[test]
fn a_document_with_many_changes_is_compacted_and_reloads_identically() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sale = f.store.open_sale(&c, None).unwrap();
    let line = f.store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
    for q in 2..60 {
        f.store.set_line_qty(&c, sale, &line, q).unwrap();
    }
    let in_memory: Sale = f.store.get(sale).unwrap();
    let path = f.store.path().to_path_buf();
    drop(f.store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM doc_changes WHERE doc_id = ?1",
            [sale.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        pending < 32,
        "changes were folded into a snapshot ({pending} left)"
    );
    let mut reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.get::<Sale>(sale).unwrap(), in_memory);
}

#[test]
fn closing_a_shift_takes_a_numbered_z_report_and_a_second_close_is_refused() {
    let mut f = demo_store();
    let (m, c) = (f.demo.manager, f.demo.cashier);
    f.store.open_shift(&m, 10_000).unwrap();
    assert!(matches!(
        f.store.open_shift(&m, 0),
        Err(StoreError::ShiftAlreadyOpen)
    ));
    let sale = f.store.open_sale(&c, None).unwrap();
    f.store.scan(&c, sale, &f.demo.barcodes["COF-LAT"]).unwrap();
    f.store.pay(&c, sale, Tender::Cash, eur(500), None).unwrap();
    let outbox = f.store.outbox_len().unwrap();
    let x = f.store.x_report().unwrap();
    assert_eq!(
        f.store.outbox_len().unwrap(),
        outbox,
        "an X report writes nothing"
    );
    assert_eq!(x.expected_cash, 10_350);
    let counts = [
        ("5000".to_string(), 2),
        ("200".to_string(), 1),
        ("100".to_string(), 1),
    ]
    .into();
    let (_, z1) = f.store.close_shift(&m, counts).unwrap();
    let z: pos_core::shift::ZReport = f.store.get(z1).unwrap();
    assert_eq!(
        (z.number, z.expected_cash, z.counted_cash, z.over_short),
        (1, 10_350, 10_300, -50)
    );
    assert!(matches!(
        f.store.close_shift(&m, Default::default()),
        Err(StoreError::NoOpenShift)
    ));
    f.store.open_shift(&m, 0).unwrap();
    let (_, z2) = f.store.close_shift(&m, Default::default()).unwrap();
    assert_eq!(
        f.store.get::<pos_core::shift::ZReport>(z2).unwrap().number,
        2
    );
    assert_eq!(f.store.z_reports().unwrap().len(), 2);
}

#[test]
fn pin_login_works_offline_and_locks_out_after_five_failures() {
    let mut f = demo_store();
    let carl = f.demo.cashier.user_id;
    assert_eq!(f.store.login(carl, "3333").unwrap(), f.demo.cashier);
    for left in (1..5).rev() {
        match f.store.login(carl, "0000") {
            Err(StoreError::WrongPin { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("expected a wrong PIN, got {other:?}"),
        }
    }
    assert!(matches!(
        f.store.login(carl, "0000"),
        Err(StoreError::LockedOut { .. })
    ));
    // even the right PIN is refused while locked
    assert!(matches!(
        f.store.login(carl, "3333"),
        Err(StoreError::LockedOut { .. })
    ));
    // others are not affected
    assert!(f.store.login(f.demo.manager.user_id, "2222").is_ok());
    assert!(matches!(
        f.store.set_pin(carl, "12"),
        Err(StoreError::Secret(_))
    ));
    assert!(matches!(
        f.store.login(Uuid::now_v7(), "1234"),
        Err(StoreError::UnknownUser(_))
    ));
    let names: Vec<String> = f.store.staff().unwrap().into_iter().map(|s| s.1).collect();
    assert_eq!(names.len(), 4);
}

/// Head office takes someone off the store: after the next staff refresh they cannot log in on
/// the device, even offline; the others keep their PINs and a lockout in progress stays.
#[test]
fn replaced_staff_list_removes_people_head_office_took_off_the_store() {
    let mut f = demo_store();
    let (carl, mia) = (f.demo.cashier.user_id, f.demo.manager.user_id);
    for _ in 0..5 {
        let _ = f.store.login(mia, "0000");
    }
    assert!(matches!(
        f.store.login(mia, "2222"),
        Err(StoreError::LockedOut { .. })
    ));
    let hash = pos_core::secret::hash_secret("2468").unwrap();
    let keep: Vec<_> = [&f.demo.owner, &f.demo.manager, &f.demo.kitchen]
        .iter()
        .map(|a| {
            let name = f
                .store
                .staff()
                .unwrap()
                .into_iter()
                .find(|s| s.0 == a.user_id)
                .unwrap()
                .1;
            (a.user_id, name, a.role, Some(hash.clone()))
        })
        .collect();
    f.store.replace_staff(&keep).unwrap();
    assert!(matches!(
        f.store.login(carl, "3333"),
        Err(StoreError::UnknownUser(_))
    ));
    assert_eq!(f.store.staff().unwrap().len(), 3);
    assert!(
        matches!(
            f.store.login(mia, "2468"),
            Err(StoreError::LockedOut { .. })
        ),
        "a lockout in progress survives a refresh"
    );
    assert_eq!(
        f.store.login(f.demo.owner.user_id, "2468").unwrap(),
        f.demo.owner,
        "new PIN hashes take effect"
    );
}

#[test]
fn all_day_counts_per_station_follow_bumps() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    for table in ["T1", "T2"] {
        let sale = f.store.open_sale(&c, Some(table.into())).unwrap();
        f.store
            .add_item(&c, sale, f.demo.item("KIT-BUR").unwrap(), 2, &[], 1)
            .unwrap();
        f.store
            .add_item(&c, sale, f.demo.item("KIT-SAL").unwrap(), 1, &[], 1)
            .unwrap();
        f.store.fire(&c, sale, None).unwrap();
    }
    assert_eq!(
        f.store.all_day("grill").unwrap(),
        vec![("Cheeseburger".to_string(), 4)]
    );
    assert_eq!(
        f.store.all_day("cold").unwrap(),
        vec![("Caesar salad".to_string(), 2)]
    );
    let first = f.store.kitchen_tickets(Some("grill"), false).unwrap()[0].id;
    f.store
        .kitchen(&f.demo.kitchen, first, pos_core::store::KitchenAction::Bump)
        .unwrap();
    assert_eq!(
        f.store.all_day("grill").unwrap(),
        vec![("Cheeseburger".to_string(), 2)]
    );
    f.store.open_shift(&f.demo.manager, 5000).unwrap();
    let shifts = f.store.shifts(10).unwrap();
    assert_eq!(
        (shifts.len(), shifts[0].status.as_str(), shifts[0].float),
        (1, "Open", 5000)
    );
}

#[test]
fn a_receipt_email_is_queued_for_a_closed_sale_or_refund_and_not_for_anything_else() {
    let mut f = demo_store();
    let (c, m) = (f.demo.cashier, f.demo.manager);
    let sale = f.store.open_sale(&c, None).unwrap();
    f.store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
    // an open sale has no receipt yet
    assert!(matches!(
        f.store.queue_receipt_email(sale, "ann@shop.example"),
        Err(StoreError::NotAReceipt(id)) if id == sale
    ));
    f.store
        .pay(&c, sale, Tender::Cash, eur(1000), None)
        .unwrap();
    // a bad address is a typed error, and nothing is queued
    assert!(matches!(
        f.store.queue_receipt_email(sale, "ann at shop"),
        Err(StoreError::Email(pos_core::email::EmailError::Shape))
    ));
    assert_eq!(rows(&f.store, "receipt_emails"), 0);
    // not a receipt: a shift, an unknown document
    let shift = f.store.open_shift(&m, 0).unwrap();
    assert!(matches!(
        f.store.queue_receipt_email(shift, "ann@shop.example"),
        Err(StoreError::NotAReceipt(_))
    ));
    assert!(f
        .store
        .queue_receipt_email(Uuid::now_v7(), "ann@shop.example")
        .is_err());

    let q = f
        .store
        .queue_receipt_email(sale, " Ann@Shop.Example ")
        .unwrap();
    assert_eq!(q.email, "Ann@shop.example");
    assert_eq!(q.status, "pending");
    assert_eq!(q.doc_type, "sale");
    let line = f
        .store
        .get::<Sale>(sale)
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    let req = [RefundRequest {
        sale_line_id: line,
        qty: 1,
        restock: true,
    }];
    let refund = f
        .store
        .refund(&m, sale, &req, Tender::Cash, None, "cold")
        .unwrap();
    let r = f
        .store
        .queue_receipt_email(refund, "bo@shop.example")
        .unwrap();
    assert_eq!(r.doc_type, "refund");
    // nothing in the email queue is a document change: the outbox holds none of it
    let outbox: Vec<_> = f.store.outbox_batch(1000).unwrap();
    assert!(outbox
        .iter()
        .all(|e| !String::from_utf8_lossy(&e.bytes).contains("shop.example")));
    assert_eq!(f.store.receipt_email_counts().unwrap(), (2, 0));
    // committed, and it survives a restart
    assert_eq!(rows(&f.store, "receipt_emails"), 2);
    let path = f.store.path().to_path_buf();
    drop(f.store);
    let store = Store::open(&path).unwrap();
    let all = store.receipt_emails(10).unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![r.id, q.id]
    );
}

#[test]
fn a_receipt_email_waits_for_its_sale_to_leave_the_outbox_then_is_marked_sent_or_refused() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sell = |store: &mut Store| {
        let sale = store.open_sale(&c, None).unwrap();
        store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
        store.pay(&c, sale, Tender::Cash, eur(1000), None).unwrap();
        sale
    };
    let s1 = sell(&mut f.store);
    let s2 = sell(&mut f.store);
    let e1 = f.store.queue_receipt_email(s1, "a@shop.example").unwrap();
    let e2 = f.store.queue_receipt_email(s2, "b@shop.example").unwrap();
    assert_eq!(f.store.receipt_emails_to_send(10).unwrap(), vec![]);
    // the first sale reaches the server
    let hashes: Vec<String> = f
        .store
        .outbox_batch(1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.envelope.doc_id == s1)
        .map(|e| e.hash)
        .collect();
    f.store.outbox_done(&hashes).unwrap();
    let ready = f.store.receipt_emails_to_send(10).unwrap();
    assert_eq!(ready.iter().map(|e| e.id).collect::<Vec<_>>(), vec![e1.id]);
    f.store.receipt_emails_sent(&[e1.id]).unwrap();
    let all: Vec<String> = f
        .store
        .outbox_batch(1000)
        .unwrap()
        .into_iter()
        .map(|e| e.hash)
        .collect();
    f.store.outbox_done(&all).unwrap();
    assert_eq!(
        f.store
            .receipt_emails_to_send(10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![e2.id]
    );
    f.store
        .receipt_email_refused(e2.id, "bad_address", "the domain is not valid")
        .unwrap();
    assert_eq!(f.store.receipt_emails_to_send(10).unwrap(), vec![]);
    let sent = f.store.receipt_email(e1.id).unwrap().unwrap();
    assert_eq!(sent.status, "sent");
    assert!(sent.sent_at.is_some());
    let refused = f.store.receipt_email(e2.id).unwrap().unwrap();
    assert_eq!(refused.status, "refused");
    assert_eq!(refused.code.as_deref(), Some("bad_address"));
    // a refused email is never turned into a sent one
    f.store.receipt_emails_sent(&[e2.id]).unwrap();
    assert_eq!(
        f.store.receipt_email(e2.id).unwrap().unwrap().status,
        "refused"
    );
    assert_eq!(f.store.receipt_email_counts().unwrap(), (0, 1));
}

/// A price list imported from CSV: new SKUs are created, known ones updated, a second import of
/// the same file changes nothing; a file with one bad line imports nothing and names the line;
/// a cashier may not import.
#[test]
fn a_csv_price_list_imports_whole_or_not_at_all() {
    let mut f = demo_store();
    let m = f.demo.manager;
    let items_before = f.store.search_items("imported", 50).unwrap().len();
    assert_eq!(items_before, 0);
    let outbox = f.store.outbox_len().unwrap();
    let mut csv = String::from("sku,name,price,category,track_stock,barcodes\n");
    for n in 0..600 {
        csv.push_str(&format!(
            "IMP-{n:04},Imported {n},{}.{:02},Bakery,yes,\n",
            1 + n % 9,
            n % 100
        ));
    }
    // An existing item's price, by its SKU.
    csv.push_str("BAK-CRO,Croissant,2.70,Bakery,yes,\n");
    let mut seen = Vec::new();
    let r = f
        .store
        .import_items(&m, &csv, |done, total| seen.push((done, total)))
        .unwrap();
    assert_eq!((r.created, r.updated, r.done), (600, 1, 601));
    assert_eq!(seen, [(250, 601), (500, 601), (601, 601)]);
    let cro = f.demo.item("BAK-CRO").unwrap();
    assert_eq!(
        f.store.get::<pos_core::catalog::Item>(cro).unwrap().price,
        270
    );
    assert_eq!(f.store.search_items("imported 599", 5).unwrap().len(), 1);
    // Again: nothing new to write.
    let written = f.store.outbox_len().unwrap();
    assert!(written > outbox);
    f.store.import_items(&m, &csv, |_, _| {}).unwrap();
    assert_eq!(
        f.store.outbox_len().unwrap(),
        written,
        "a second import changes nothing"
    );

    // One bad line (line 3: no name; line 4: bad price): nothing imported, both lines named.
    let bad = "sku,name,price\nNEW-1,Fine,1.00\nNEW-2,,1.00\nNEW-3,Odd,1.2.3\n";
    match f.store.import_items(&m, bad, |_, _| {}) {
        Err(StoreError::Import(pos_core::import::ImportError::BadLines(lines))) => {
            assert_eq!(lines.iter().map(|l| l.line).collect::<Vec<_>>(), [3, 4]);
        }
        other => panic!("expected bad lines, got {other:?}"),
    }
    assert_eq!(f.store.search_items("fine", 5).unwrap().len(), 0);
    assert_eq!(f.store.outbox_len().unwrap(), written);

    // A cashier may not change the catalog.
    assert!(matches!(
        f.store.import_items(
            &f.demo.cashier,
            "sku,name,price\nNEW-9,Nine,1.00\n",
            |_, _| {}
        ),
        Err(StoreError::Policy(_))
    ));
}

/// Issue 17, defect 15: the same item added twice showed as two "1×" lines on the cart and the
/// KDS. On a counter sale it is one line of two; a table keeps its lines apart (two tills adding
/// to one table at once must both count), and a fired, noted or discounted line is not joined.
#[test]
fn regression_the_same_item_added_twice_is_one_line_of_two_on_a_counter_sale() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let croissant = f.demo.item("BAK-CRO").unwrap();
    let sale = f.store.open_sale(&c, None).unwrap();
    let first = f.store.add_item(&c, sale, croissant, 1, &[], 1).unwrap();
    let second = f.store.add_item(&c, sale, croissant, 2, &[], 1).unwrap();
    assert_eq!(first, second, "joined the first line");
    let s: Sale = f.store.get(sale).unwrap();
    assert_eq!(s.lines.len(), 1);
    assert_eq!(s.lines[&first].qty, 3);
    // A note makes a line its own: the next one is new.
    f.store.set_line_note(&c, sale, &first, "warm it").unwrap();
    let third = f.store.add_item(&c, sale, croissant, 1, &[], 1).unwrap();
    assert_ne!(third, first);
    // Another course is another line.
    let fourth = f.store.add_item(&c, sale, croissant, 1, &[], 2).unwrap();
    assert_ne!(fourth, third);
    assert_eq!(f.store.get::<Sale>(sale).unwrap().lines.len(), 3);

    // A table: two adds, two lines.
    let m = f.demo.manager;
    let table = f.store.open_sale(&m, Some("T7".into())).unwrap();
    let a = f.store.add_item(&m, table, croissant, 1, &[], 1).unwrap();
    let b = f.store.add_item(&m, table, croissant, 1, &[], 1).unwrap();
    assert_ne!(a, b);
}

/// Issue 17, defect 13: the newest held sale went to whoever logged in next, and every till
/// listed every hold. A held counter sale belongs to its cashier: only they, or a manager (who
/// may void it), see it; a table is the store's, listed for everyone; the list names who opened
/// each one.
#[test]
fn defect_13_a_held_sale_belongs_to_its_cashier() {
    let mut f = demo_store();
    let (c, m, k) = (f.demo.cashier, f.demo.manager, f.demo.kitchen);
    let held = f.store.open_sale(&c, None).unwrap();
    f.store.scan(&c, held, &f.demo.barcodes["KIT-BUR"]).unwrap();
    let managers = f.store.open_sale(&m, None).unwrap();
    let table = f.store.open_sale(&m, Some("Table 2".into())).unwrap();

    let ids = |v: Vec<pos_core::store::SaleSummary>| {
        let mut ids = v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(f.store.open_sales_for(&c).unwrap()),
        sorted(vec![held, table])
    );
    assert_eq!(ids(f.store.open_sales_for(&k).unwrap()), vec![table]);
    assert_eq!(
        ids(f.store.open_sales_for(&m).unwrap()),
        sorted(vec![held, managers, table])
    );
    let all = f.store.open_sales_for(&c).unwrap();
    let mine = all.iter().find(|s| s.id == held).unwrap();
    assert_eq!(
        mine.opened_by.as_deref(),
        Some(c.user_id.to_string().as_str())
    );
    assert_eq!(mine.opened_by_name.as_deref(), Some("Carl Cashier"));
}

/// Issue 17, defect 15: an item in no category (or in one that is gone) was on no tile of the
/// Sell grid. `items_without_category` lists them for its "Other".
#[test]
fn defect_15_items_without_a_category_are_listed_for_other() {
    let mut f = demo_store();
    let m = f.demo.manager;
    assert!(
        f.store.items_without_category().unwrap().is_empty(),
        "the demo files every item"
    );
    let loose = f
        .store
        .create_item(&m, item("Gift card", 1000, "standard", None))
        .unwrap();
    let mut stray = item("Postcard", 150, "standard", None);
    stray.category_id = Some(Uuid::now_v7().to_string());
    let stray = f.store.create_item(&m, stray).unwrap();
    let ids: Vec<Uuid> = f
        .store
        .items_without_category()
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![loose, stray]);
}

/// Issue 17, defect 12: a cashier may not void or refund, but may with a manager's PIN; the
/// approver goes into the document and the policy checks the approver's role, not the
/// cashier's. Another cashier's "approval" is refused, and an approver written on an open sale
/// opens nothing.
#[test]
fn regression_a_cashier_voids_and_refunds_with_a_managers_approval() {
    use pos_core::policy::PolicyError;
    let mut f = demo_store();
    let (c, m, k) = (f.demo.cashier, f.demo.manager, f.demo.kitchen);
    let store = &mut f.store;
    fn forbidden<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Policy(PolicyError::Forbidden { .. })))
    }

    // void
    let sale = store.open_sale(&c, None).unwrap();
    store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
    assert!(forbidden(store.void_sale(&c, sale, "left")));
    assert!(forbidden(store.void_sale_approved(
        &c,
        sale,
        "left",
        Some(k.user_id)
    )));
    assert_eq!(store.sale_status(sale).unwrap(), SaleStatus::Open);
    // An approver written on an open sale is a void field: the cashier cannot write it.
    let r: Result<(), StoreError> = store.write(&c, |w| {
        w.update(sale, |s: &mut Sale| {
            s.void_approved_by = Some(m.user_id.to_string());
            Ok::<(), SaleError>(())
        })
    });
    assert!(forbidden(r));
    store
        .void_sale_approved(&c, sale, "left", Some(m.user_id))
        .unwrap();
    let voided: Sale = store.get(sale).unwrap();
    assert_eq!(voided.status, SaleStatus::Voided);
    assert_eq!(voided.void_approved_by, Some(m.user_id.to_string()));

    // refund
    let sale = store.open_sale(&c, None).unwrap();
    store.scan(&c, sale, &f.demo.barcodes["COF-ESP"]).unwrap();
    store.pay(&c, sale, Tender::Cash, eur(1000), None).unwrap();
    let line = store
        .get::<Sale>(sale)
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    let req = [RefundRequest {
        sale_line_id: line,
        qty: 1,
        restock: false,
    }];
    assert!(forbidden(store.refund(
        &c,
        sale,
        &req,
        Tender::Cash,
        None,
        "x"
    )));
    assert!(forbidden(store.refund_approved(
        &c,
        sale,
        &req,
        Tender::Cash,
        None,
        "x",
        Some(c.user_id)
    )));
    let rid = store
        .refund_approved(&c, sale, &req, Tender::Cash, None, "x", Some(m.user_id))
        .unwrap();
    let refund: pos_core::refund::Refund = store.get(rid).unwrap();
    assert_eq!(refund.approved_by, Some(m.user_id.to_string()));
    assert_eq!(refund.by, c.user_id.to_string());
}

/// Issue 13: with the KDS module off (the server's entitlements, kept on the device), a paid
/// counter sale is paid without sending anything to a kitchen screen, and firing is refused by
/// the policy with the module named; catalog changes still pass, and on again, firing works.
#[test]
fn without_the_kds_module_a_sale_is_paid_and_nothing_is_fired() {
    use pos_core::modules::{Entitlements, Module};
    use pos_core::policy::PolicyError;
    let mut f = demo_store();
    let (c, m) = (f.demo.cashier, f.demo.manager);
    let store = &mut f.store;
    assert!(store.entitlements().unwrap().enabled(Module::Kds));
    store
        .set_entitlements(&Entitlements {
            off: [Module::Kds].into(),
        })
        .unwrap();
    assert!(!store.entitlements().unwrap().enabled(Module::Kds));
    let shift = store.open_shift_id().unwrap_or(None);
    if shift.is_none() {
        store.open_shift(&m, 10_000).unwrap();
    }
    let sale = store.open_sale(&c, None).unwrap();
    store.scan(&c, sale, &f.demo.barcodes["COF-LAT"]).unwrap();
    store.pay(&c, sale, Tender::Cash, eur(1000), None).unwrap();
    assert_eq!(store.sale_status(sale).unwrap(), SaleStatus::Closed);
    assert!(store
        .kitchen_tickets_of_sale(&sale.to_string())
        .unwrap()
        .is_empty());
    let table = store.open_sale(&c, Some("Table 2".into())).unwrap();
    store.scan(&c, table, &f.demo.barcodes["KIT-BUR"]).unwrap();
    match store.fire(&c, table, None) {
        Err(StoreError::Policy(PolicyError::ModuleOff(Module::Kds))) => {}
        other => panic!("fired with the KDS module off: {other:?}"),
    }
    store.set_entitlements(&Entitlements::default()).unwrap();
    store.fire(&c, table, None).unwrap();
    assert_eq!(
        store
            .kitchen_tickets_of_sale(&table.to_string())
            .unwrap()
            .len(),
        1
    );
}

/// Found by the backup benchmark: a sale failed with "database is locked" while the WAL
/// checkpointer held the file's write lock for a moment (a RESTART checkpoint). A write
/// transaction now takes the lock when it begins and waits for it, as long as the busy timeout.
#[test]
fn regression_a_sale_waits_for_another_connection_holding_the_write_lock() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sale = f.store.open_sale(&c, None).unwrap();
    let path = f.store.path().to_path_buf();
    let (locked, wait) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    wait.recv().unwrap();
    f.store
        .scan(&c, sale, &f.demo.barcodes["RET-MUG"])
        .expect("the sale waits for the lock instead of failing");
    holder.join().unwrap();
    assert_eq!(f.store.get::<Sale>(sale).unwrap().lines.len(), 1);
}
