//! Every change the issue says the server must refuse, each as its own test, against the real
//! server on a real PostgreSQL with real devices over HTTP (the in-memory engine tests in
//! `crates/sync/tests/engine/hostile.rs` run the same rules without a database). Each test also
//! checks that the master is untouched: the tenant's change log, its store's digest (documents
//! and projections) and, where it matters, the one value the change went after.
//!
//! Not here because they are refused before any change is read, and tested in the server's own
//! suite (`apps/sync-server/tests/it`): malformed and oversized bodies (`ops.rs`), expired,
//! tampered and `alg: none` tokens (`auth.rs`), a revoked device (`devices.rs`).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use e2e::{TestDevice, TestServer};
use pos_core::auth::{DeviceKind, Role};
use pos_core::doc::{DocType, Envelope};
use pos_core::money::{Currency, Money};
use pos_core::policy::PolicyError;
use pos_core::refund::RefundRequest;
use pos_core::sale::{Sale, SaleError, Tender};
use pos_core::store::StoreError;
use pos_sync::device::Transport;
use pos_sync::headoffice::HeadOffice;
use pos_sync::wire::{Author, PushRequest, PushResult, WireChange, PROTOCOL_VERSION};
use pos_sync_testkit::forge_cash_payment;
use serde_json::json;
use uuid::Uuid;

use e2e::OWNER_PASSWORD as PW;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").unwrap())
}

/// One tenant with a store, its staff, a catalog and two enrolled, bootstrapped tills.
struct Shop {
    server: TestServer,
    _dir: tempfile::TempDir,
    owner: HeadOffice,
    tenant: Uuid,
    store: Uuid,
    manager: Uuid,
    cashier: Uuid,
    kitchen: Uuid,
    latte: Uuid,
    burger: Uuid,
    mug: Uuid,
    tills: Vec<TestDevice>,
}

fn shop() -> Shop {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tenant, owner, store) = server.tenant_with_store("Alpha", "owner@alpha.test");
    let manager = owner
        .create_staff(store, "Maria", "manager", "2222")
        .unwrap();
    let cashier = owner
        .create_staff(store, "Carl", "cashier", "3333")
        .unwrap();
    let kitchen = owner.create_staff(store, "Kim", "kitchen", "4444").unwrap();
    let item = |sku: &str, price: i64, station: Option<&str>| {
        owner
            .publish_item(
                json!({"sku": sku, "name": sku, "currency": "EUR", "price": price,
                "tax_class": "standard", "station": station, "track_stock": false}),
            )
            .unwrap()
    };
    let (latte, burger, mug) = (
        item("LAT", 350, Some("bar")),
        item("BUR", 1290, Some("grill")),
        item("MUG", 1200, None),
    );
    let tills = (1..=2)
        .map(|n| {
            TestDevice::enrol(
                &server.url,
                &owner.enrolment_code(store).unwrap(),
                dir.path(),
                &format!("till-{n}"),
            )
        })
        .collect();
    Shop {
        server,
        _dir: dir,
        owner,
        tenant,
        store,
        manager,
        cashier,
        kitchen,
        latte,
        burger,
        mug,
        tills,
    }
}

impl Shop {
    /// Syncs every till until nothing moves.
    fn settle(&mut self) {
        for _ in 0..4 {
            for d in &mut self.tills {
                d.sync().expect("sync");
            }
        }
    }

    /// What must not move when a change is refused: the tenant's change-log length and the
    /// store's digest (every document and projection row a till replicates).
    fn master(&self) -> (i64, String) {
        (
            self.server.count(
                "SELECT count(*) FROM change_log WHERE tenant_id = $1",
                self.tenant,
            ),
            self.server.store_digest(self.tenant, self.store),
        )
    }

    /// A change made by `edit` on the server's copy of `doc`, authored by `user` on till 2.
    fn craft(&mut self, doc: Uuid, user: Uuid, edit: impl FnOnce(&mut AutoCommit)) -> WireChange {
        self.craft_on(1, doc, user, edit)
    }

    /// A change made by `edit` on the server's copy of `doc`, authored by `user` on
    /// `self.tills[device]`.
    fn craft_on(
        &mut self,
        device: usize,
        doc: Uuid,
        user: Uuid,
        edit: impl FnOnce(&mut AutoCommit),
    ) -> WireChange {
        let device_id = self.tills[device].store.identity().device_id;
        let snap = self.tills[device]
            .http
            .document(doc)
            .unwrap()
            .expect("document on the server");
        let mut am = AutoCommit::load(&snap.bytes).unwrap();
        am.set_actor(automerge::ActorId::from(Uuid::now_v7().as_bytes().to_vec()));
        edit(&mut am);
        am.commit();
        let ch = am.get_last_local_change().unwrap().clone();
        WireChange {
            envelope: snap.envelope,
            hash: ch.hash().to_string(),
            bytes: ch.raw_bytes().to_vec(),
            author: Author {
                user_id: user,
                device_id,
            },
            signature: None,
        }
    }

    /// Pushes `changes` from till 2, as they are.
    fn push(&mut self, changes: Vec<WireChange>) -> Vec<PushResult> {
        self.push_from(1, changes)
    }

    /// Pushes `changes` from `self.tills[device]`, as they are.
    fn push_from(&mut self, device: usize, changes: Vec<WireChange>) -> Vec<PushResult> {
        self.tills[device]
            .http
            .push(&PushRequest {
                protocol: PROTOCOL_VERSION,
                changes,
            })
            .expect("push answered")
            .results
    }

    /// Pushes one change from till 2 and returns the code it was refused with; the master must
    /// not move.
    fn refused(&mut self, change: WireChange) -> String {
        self.refused_from(1, change)
    }

    /// Pushes one change from `self.tills[device]` and returns the code it was refused with;
    /// the master must not move.
    fn refused_from(&mut self, device: usize, change: WireChange) -> String {
        let before = self.master();
        let r = self.push_from(device, vec![change]);
        let code = match &r[0] {
            PushResult::Rejected { code, .. } => code.clone(),
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(
            self.master(),
            before,
            "the master moved for a refused change"
        );
        code
    }

    /// An open sale of one burger on till 1, not synced yet; returns its id.
    fn open_burger_sale(&mut self) -> Uuid {
        let c = self.tills[0].store.actor(self.cashier).unwrap();
        let sale = self.tills[0].store.open_sale(&c, None).unwrap();
        self.tills[0]
            .store
            .add_item(&c, sale, self.burger, 1, &[], 1)
            .unwrap();
        sale
    }

    /// How many payments head office's projections hold for the tenant.
    fn payments_at_head_office(&self) -> i64 {
        self.server.count(
            "SELECT count(*) FROM p_sale_payments WHERE tenant_id = $1",
            self.tenant,
        )
    }

    /// A sale of `items` on till 1 paid in cash, synced; returns its id.
    fn paid_sale(&mut self, items: &[Uuid]) -> Uuid {
        let c = self.tills[0].store.actor(self.cashier).unwrap();
        let sale = self.tills[0].store.open_sale(&c, None).unwrap();
        for i in items {
            self.tills[0]
                .store
                .add_item(&c, sale, *i, 1, &[], 1)
                .unwrap();
        }
        let due = self.tills[0]
            .store
            .get::<Sale>(sale)
            .unwrap()
            .totals()
            .unwrap()
            .due;
        self.tills[0]
            .store
            .pay(&c, sale, Tender::Cash, eur(due), None)
            .unwrap();
        self.settle();
        sale
    }

    fn item_price(&self, sku: &str) -> i64 {
        self.server.count(
            &format!("SELECT price FROM p_items WHERE tenant_id = $1 AND sku = '{sku}'"),
            self.tenant,
        )
    }
}

#[test]
fn a_change_for_another_tenant_is_rejected() {
    let mut s = shop();
    let other = s
        .server
        .root()
        .create_tenant("Beta", "owner@beta.test", PW)
        .unwrap();
    let latte = s.latte;
    let mut c = s.craft(latte, s.manager, |am| am.put(ROOT, "price", 1).unwrap());
    c.envelope.tenant_id = other;
    let beta_log = "SELECT count(*) FROM change_log WHERE tenant_id = $1";
    let beta_before = s.server.count(beta_log, other);
    assert_eq!(s.refused(c), "wrong_tenant");
    assert_eq!(s.server.count(beta_log, other), beta_before);
    assert_eq!(s.item_price("LAT"), 350);
}

#[test]
fn a_change_for_another_store_is_rejected() {
    let mut s = shop();
    let second = s
        .owner
        .create_store(json!({"code": "S02", "name": "Alpha two", "currency": "EUR",
            "tax_mode": "Inclusive", "tax_rates": {"standard": 1900}, "discount_threshold_bp": 2000}))
        .unwrap();
    let c0 = s.tills[0].store.actor(s.cashier).unwrap();
    let sale = s.tills[0].store.open_sale(&c0, None).unwrap();
    s.settle();
    let cashier = s.cashier;
    let mut c = s.craft(sale, cashier, |am| am.put(ROOT, "ticket", "X").unwrap());
    c.envelope.store_id = Some(second);
    let docs = "SELECT count(*) FROM documents WHERE tenant_id = $1 AND store_id IS NOT NULL";
    let before = s.server.count(docs, s.tenant);
    assert_eq!(s.refused(c), "wrong_store");
    assert_eq!(s.server.count(docs, s.tenant), before);
}

#[test]
fn a_change_whose_envelope_was_altered_is_rejected() {
    let mut s = shop();
    let c0 = s.tills[0].store.actor(s.cashier).unwrap();
    let sale = s.tills[0].store.open_sale(&c0, None).unwrap();
    s.settle();
    let cashier = s.cashier;
    let c = s.craft(sale, cashier, |am| am.put(ROOT, "ticket", "X").unwrap());
    let mut other_creator = c.clone();
    other_creator.envelope.created_by_device = s.tills[1].store.identity().device_id;
    assert_eq!(s.refused(other_creator), "envelope_mismatch");
    let other_type = WireChange {
        envelope: Envelope {
            doc_type: DocType::Shift,
            ..c.envelope
        },
        ..c
    };
    assert_eq!(s.refused(other_type), "envelope_mismatch");
}

#[test]
fn a_cashier_changing_a_price_is_rejected() {
    let mut s = shop();
    let (latte, cashier) = (s.latte, s.cashier);
    let c = s.craft(latte, cashier, |am| am.put(ROOT, "price", 1).unwrap());
    assert_eq!(s.refused(c), "forbidden");
    assert_eq!(s.item_price("LAT"), 350);
}

#[test]
fn a_kitchen_device_touching_payments_is_rejected() {
    let mut s = shop();
    let sale = s.open_burger_sale();
    s.settle();
    let kitchen = s.kitchen;
    let c = s.craft(sale, kitchen, |am| {
        forge_cash_payment(am, 1290, "kim").unwrap()
    });
    assert_eq!(s.refused(c), "forbidden");
    assert_eq!(s.payments_at_head_office(), 0);
}

/// A negative "payment" hands cash out of the drawer with a record of it: it is accepted only
/// as the return of an overpayment, never on a sale that is not overpaid.
#[test]
fn a_negative_payment_on_a_sale_that_is_not_overpaid_is_rejected() {
    let mut s = shop();
    let sale = s.open_burger_sale();
    s.settle();
    let c = s.tills[0].store.actor(s.cashier).unwrap();
    let local = s.tills[0]
        .store
        .return_overpayment(&c, sale, Tender::Cash, None);
    assert!(
        matches!(
            local,
            Err(StoreError::Sale(SaleError::NothingToReturn { due: 1290 }))
        ),
        "{local:?}"
    );
    let cashier = s.cashier;
    let forged = s.craft(sale, cashier, |am| {
        forge_cash_payment(am, -500, "carl").unwrap()
    });
    assert_eq!(s.refused(forged), "bad_return");
    assert_eq!(s.payments_at_head_office(), 0);
}

/// A kitchen screen (enrolled with a kitchen code) acts with the kitchen role's rights whoever
/// logs in on it: the device caps its own actor, and the server caps the author of every
/// change the screen pushes, so a manager's PIN typed on the pass cannot take a payment there.
#[test]
fn a_kitchen_screen_cannot_take_a_payment_even_with_a_managers_pin() {
    let mut s = shop();
    let sale = s.open_burger_sale();
    let code = s
        .owner
        .enrolment_code_for(s.store, DeviceKind::Kitchen)
        .unwrap();
    let pass = TestDevice::enrol(&s.server.url, &code, s._dir.path(), "pass");
    assert_eq!(pass.store.identity().kind, DeviceKind::Kitchen);
    s.tills.push(pass);
    s.settle();
    // On the device: the manager's PIN gives the kitchen's rights, and paying is refused.
    let on_pass = s.tills[2].store.actor(s.manager).unwrap();
    assert_eq!(on_pass.role, Role::Kitchen);
    let local = s.tills[2]
        .store
        .pay(&on_pass, sale, Tender::Cash, eur(1290), None);
    assert!(
        matches!(
            local,
            Err(StoreError::Policy(PolicyError::Forbidden { .. }))
        ),
        "{local:?}"
    );
    // On the server: a screen that names the manager on a payment anyway is refused.
    let manager = s.manager;
    let forged = s.craft_on(2, sale, manager, |am| {
        forge_cash_payment(am, 1290, "maria").unwrap()
    });
    assert_eq!(s.refused_from(2, forged), "forbidden");
    assert_eq!(s.payments_at_head_office(), 0);
    // The same payment from a till is accepted: the screen's kind refused it, nothing else.
    let from_till = s.craft_on(1, sale, manager, |am| {
        forge_cash_payment(am, 1290, "maria").unwrap()
    });
    let r = s.push_from(1, vec![from_till]);
    assert!(matches!(r[0], PushResult::Accepted { .. }), "{r:?}");
    assert_eq!(s.payments_at_head_office(), 1);
}

#[test]
fn any_edit_to_a_closed_sale_is_rejected() {
    let mut s = shop();
    let latte = s.latte;
    let sale = s.paid_sale(&[latte]);
    let manager = s.manager;
    let receipt = s.craft(sale, manager, |am| {
        am.put(ROOT, "receipt_no", "FAKE").unwrap()
    });
    assert_eq!(s.refused(receipt), "frozen");
    let ticket = s.craft(sale, manager, |am| {
        am.put(ROOT, "ticket", "Table 9").unwrap()
    });
    assert_eq!(s.refused(ticket), "frozen");
}

#[test]
fn any_edit_to_a_z_report_is_rejected() {
    let mut s = shop();
    let m = s.tills[0].store.actor(s.manager).unwrap();
    s.tills[0].store.open_shift(&m, 0).unwrap();
    let (_, z) = s.tills[0]
        .store
        .close_shift(&m, Default::default())
        .unwrap();
    s.settle();
    let manager = s.manager;
    let c = s.craft(z, manager, |am| {
        am.put(ROOT, "counted_cash", 99_999).unwrap()
    });
    assert_eq!(s.refused(c), "frozen");
}

/// Two tills refund the one mug sold, each offline: the first to sync is accepted, the second
/// refused, and that till drops its refund and shows the problem.
#[test]
fn a_refund_beyond_what_was_sold_is_rejected() {
    let mut s = shop();
    let mug = s.mug;
    let sale = s.paid_sale(&[mug]);
    for d in &mut s.tills {
        d.sync().unwrap();
    }
    let line = s.tills[0]
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
        restock: false,
    }];
    let manager = s.manager;
    let mut refunds = Vec::new();
    for d in &mut s.tills {
        let m = d.store.actor(manager).unwrap();
        refunds.push(
            d.store
                .refund(&m, sale, &req, Tender::Cash, None, "broken")
                .unwrap(),
        );
    }
    assert_eq!(s.tills[0].sync().unwrap().rejected, 0);
    let before = s.master();
    let second = s.tills[1].sync().unwrap();
    assert_eq!(
        second.rejected, 1,
        "the second refund of the one mug is refused"
    );
    assert_eq!(
        s.tills[1].store.sync_problems().unwrap()[0].code,
        "refund_exceeds_sale"
    );
    assert!(s.tills[1]
        .store
        .get::<pos_core::refund::Refund>(refunds[1])
        .is_err());
    // The second till's pull may have moved nothing on the server: only its own refusal.
    assert_eq!(
        s.master().0,
        before.0,
        "nothing of the refused refund was stored"
    );
    let refunded = "SELECT count(*) FROM p_refunds WHERE tenant_id = $1";
    assert_eq!(s.server.count(refunded, s.tenant), 1);
}

#[test]
fn a_change_with_missing_dependencies_is_answered_retry_after() {
    let mut s = shop();
    let (latte, manager) = (s.latte, s.manager);
    let device_id = s.tills[1].store.identity().device_id;
    let snap = s.tills[1].http.document(latte).unwrap().unwrap();
    let mut am = AutoCommit::load(&snap.bytes).unwrap();
    am.set_actor(automerge::ActorId::from(Uuid::now_v7().as_bytes().to_vec()));
    am.put(ROOT, "price", 360).unwrap();
    am.commit();
    let first = am.get_last_local_change().unwrap().clone();
    am.put(ROOT, "price", 370).unwrap();
    am.commit();
    let second = am.get_last_local_change().unwrap().clone();
    let wc = |ch: &automerge::Change| WireChange {
        envelope: snap.envelope,
        hash: ch.hash().to_string(),
        bytes: ch.raw_bytes().to_vec(),
        author: Author {
            user_id: manager,
            device_id,
        },
        signature: None,
    };
    let before = s.master();
    match &s.push(vec![wc(&second)])[0] {
        PushResult::RetryAfter { missing, .. } => {
            assert_eq!(missing, &vec![first.hash().to_string()])
        }
        other => panic!("expected retry after, got {other:?}"),
    }
    assert_eq!(s.master(), before);
    let r = s.push(vec![wc(&first), wc(&second)]);
    assert!(
        r.iter().all(|x| matches!(x, PushResult::Accepted { .. })),
        "{r:?}"
    );
    assert_eq!(s.item_price("LAT"), 370);
}

/// Oversold stock is accepted and flagged, not refused: two tills sell the last mug offline.
#[test]
fn oversold_stock_is_accepted_and_flagged() {
    let mut s = shop();
    let mug = s
        .owner
        .publish_item(
            json!({"sku": "MUG2", "name": "Tracked mug", "currency": "EUR", "price": 1200,
            "tax_class": "standard", "track_stock": true}),
        )
        .unwrap();
    s.settle();
    let m = s.tills[0].store.actor(s.manager).unwrap();
    s.tills[0]
        .store
        .receive_stock(
            &m,
            "PO-1",
            &[pos_core::store::StockInput {
                item_id: mug,
                qty: 1,
                unit_cost: Some(500),
            }],
        )
        .unwrap();
    s.settle();
    let cashier = s.cashier;
    for d in &mut s.tills {
        let c = d.store.actor(cashier).unwrap();
        let sale = d.store.open_sale(&c, None).unwrap();
        d.store.add_item(&c, sale, mug, 1, &[], 1).unwrap();
        d.store
            .pay(&c, sale, Tender::Cash, eur(1200), None)
            .unwrap();
    }
    let a = s.tills[0].sync().unwrap();
    let b = s.tills[1].sync().unwrap();
    assert_eq!((a.rejected, b.rejected), (0, 0), "both sales stand");
    let oversold = format!(
        "SELECT count(*) FROM p_oversold WHERE tenant_id = $1 AND item_id = '{mug}' AND on_hand = -1"
    );
    assert_eq!(
        s.server.count(&oversold, s.tenant),
        1,
        "flagged for head office"
    );
}

/// A till sells and takes payment offline; its changes reach the server out of order, so only
/// the sale's opening is there when the other till pulls it and adds a line to the "open"
/// ticket. The payment and the close are still accepted (the sale and its printed receipt may
/// not vanish), every till converges on the closed sale, and head office sees the balance left
/// by the concurrent line.
#[test]
fn a_sale_closed_while_another_till_added_to_it_is_kept_and_flagged() {
    let mut s = shop();
    let (latte, cashier) = (s.latte, s.cashier);
    let c = s.tills[1].store.actor(cashier).unwrap();
    let sale = s.tills[1].store.open_sale(&c, None).unwrap();
    s.tills[1]
        .store
        .add_item(&c, sale, latte, 1, &[], 1)
        .unwrap();
    let receipt = s.tills[1]
        .store
        .pay(&c, sale, Tender::Cash, eur(350), None)
        .unwrap()
        .receipt_no
        .unwrap();
    let device_id = s.tills[1].store.identity().device_id;
    let mut reversed =
        pos_sync::device::wire_changes(&s.tills[1].store.outbox_batch(100).unwrap(), device_id);
    reversed.reverse();
    let r = s.push(reversed);
    assert!(
        matches!(r.last(), Some(PushResult::Accepted { .. })),
        "only the opening is accepted: {r:?}"
    );
    s.tills[0].sync().unwrap();
    let c0 = s.tills[0].store.actor(cashier).unwrap();
    s.tills[0]
        .store
        .add_item(&c0, sale, latte, 1, &[], 1)
        .unwrap();
    s.tills[0].sync().unwrap();
    s.settle();
    let digest = s.server.store_digest(s.tenant, s.store);
    for d in &s.tills {
        assert!(d.store.sync_problems().unwrap().is_empty());
        assert_eq!(d.store.projection_digest().unwrap(), digest);
        let receipts: Vec<String> = d
            .store
            .closed_sales(10)
            .unwrap()
            .into_iter()
            .filter_map(|x| x.receipt_no)
            .collect();
        assert_eq!(receipts, [receipt.clone()]);
    }
    let flagged = format!(
        "SELECT balance FROM p_closed_sales_with_balance WHERE tenant_id = $1 AND receipt_no = '{receipt}'"
    );
    assert_eq!(s.server.count(&flagged, s.tenant), 350);
}
