use std::collections::HashMap;

use automerge::{transaction::Transactable, AutoCommit, ROOT};
use pos_core::auth::{Actor, Permission, Role};
use pos_core::catalog::StoreSettings;
use pos_core::doc::{patch_paths, AnyDoc, DocType, Document, Envelope};
use pos_core::money::TaxMode;
use pos_core::policy::{authorize, PolicyContext, PolicyError};
use pos_core::refund::{Refund, RefundRequest};
use pos_core::sale::{Discount, Sale, Tender};
use pos_core::shift::{Shift, ShiftReport, ZReport};
use pos_core::store::StoreError;
use uuid::Uuid;

use crate::common::*;

/// A policy context answering from memory, as a server would from Postgres.
#[derive(Default)]
struct Ctx {
    settings: Option<StoreSettings>,
    roles: HashMap<String, Role>,
    sale: Option<(Sale, Vec<(Uuid, Refund)>)>,
}

impl PolicyContext for Ctx {
    fn module_enabled(&self, _: pos_core::modules::Module) -> bool {
        true
    }
    fn settings(&self, _: Uuid) -> Option<StoreSettings> {
        self.settings.clone()
    }
    fn role_of(&self, user: &str) -> Option<Role> {
        self.roles.get(user).copied()
    }
    fn sale_and_refunds(&self, _: Uuid, _: Uuid) -> Option<(Sale, Vec<(Uuid, Refund)>)> {
        self.sale.clone()
    }
}

fn actor(role: Role) -> Actor {
    Actor {
        user_id: Uuid::now_v7(),
        role,
        device_id: Uuid::now_v7(),
    }
}

fn env(doc_type: DocType) -> Envelope {
    Envelope {
        doc_id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        store_id: (!doc_type.is_tenant_wide()).then(Uuid::now_v7),
        doc_type,
        created_by_device: Uuid::now_v7(),
    }
}

/// Applies `before` then `after` to an automerge document, as a device would, and runs the
/// policy on the patches between them.
fn check<D: Document + std::fmt::Debug + PartialEq>(
    ctx: &Ctx,
    who: &Actor,
    before: &D,
    after: &D,
) -> Result<(), PolicyError> {
    check_raw(
        ctx,
        who,
        before,
        |am| {
            let b = before.clone().into_any().to_json();
            after.clone().into_any().write_into(am, &b).unwrap()
        },
        after,
    )
}

fn check_raw<D: Document + std::fmt::Debug + PartialEq>(
    ctx: &Ctx,
    who: &Actor,
    before: &D,
    edit: impl FnOnce(&mut AutoCommit),
    typed_after: &D,
) -> Result<(), PolicyError> {
    let mut am = AutoCommit::new();
    before
        .clone()
        .into_any()
        .write_into(&mut am, &serde_json::json!({}))
        .unwrap();
    am.commit();
    let h0 = am.get_heads();
    edit(&mut am);
    am.commit();
    let h1 = am.get_heads();
    let patches = patch_paths(&am.diff(&h0, &h1));
    let after = AnyDoc::hydrate(D::TYPE, &am).unwrap();
    assert_eq!(
        &D::from_any(after.clone()).unwrap(),
        typed_after,
        "the edit should produce the typed value"
    );
    authorize(
        ctx,
        who,
        &env(D::TYPE),
        Some(&before.clone().into_any()),
        &after,
        &patches,
    )
}

fn ctx() -> Ctx {
    Ctx {
        settings: Some(settings(TaxMode::Inclusive)),
        ..Ctx::default()
    }
}

fn closed_sale() -> Sale {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("A", 500, "standard", None), 2, &s);
    sale.add_payment(Tender::Cash, eur(1000), None, Uuid::now_v7(), 1)
        .unwrap();
    sale.close("S01-T1-000001".into(), 2).unwrap();
    sale
}

#[test]
fn a_cashier_cannot_change_a_price() {
    let mut f = demo_store();
    let latte = f.demo.item("COF-LAT").unwrap();
    let r = f.store.update_item(&f.demo.cashier, latte, |i| {
        i.price = 1;
        Ok(())
    });
    assert!(matches!(
        r,
        Err(StoreError::Policy(PolicyError::Forbidden {
            permission: Permission::PriceEdit,
            ..
        }))
    ));
    f.store
        .update_item(&f.demo.manager, latte, |i| {
            i.price = 390;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        f.store
            .item_by_barcode(&f.demo.barcodes["COF-LAT"])
            .unwrap()
            .price,
        390
    );
}

#[test]
fn a_zero_price_override_needs_permission() {
    let mut f = demo_store();
    let sale = f.store.open_sale(&f.demo.cashier, None).unwrap();
    let line = f
        .store
        .scan(&f.demo.cashier, sale, &f.demo.barcodes["RET-MUG"])
        .unwrap();
    let r = f
        .store
        .override_price(&f.demo.cashier, sale, &line, Some(0));
    assert!(matches!(
        r,
        Err(StoreError::Policy(PolicyError::Forbidden {
            permission: Permission::PriceOverride,
            ..
        }))
    ));
    assert_eq!(
        f.store.get::<Sale>(sale).unwrap().totals().unwrap().total,
        1200,
        "nothing changed"
    );
    f.store
        .override_price(&f.demo.manager, sale, &line, Some(0))
        .unwrap();
    assert_eq!(
        f.store.get::<Sale>(sale).unwrap().totals().unwrap().total,
        0
    );
}

#[test]
fn a_kitchen_screen_cannot_touch_payments() {
    let mut f = demo_store();
    let sale = f.store.open_sale(&f.demo.cashier, None).unwrap();
    f.store
        .scan(&f.demo.cashier, sale, &f.demo.barcodes["COF-ESP"])
        .unwrap();
    let r = f
        .store
        .pay(&f.demo.kitchen, sale, Tender::Cash, eur(500), None);
    assert!(matches!(
        r,
        Err(StoreError::Policy(PolicyError::Forbidden {
            role: Role::Kitchen,
            permission: Permission::SaleTender,
            ..
        }))
    ));
    assert!(f.store.get::<Sale>(sale).unwrap().payments.is_empty());
}

#[test]
fn a_closed_sale_is_frozen() {
    let before = closed_sale();
    let mut after = before.clone();
    after.ticket = Some("sneaky".into());
    assert_eq!(
        check(&ctx(), &actor(Role::Owner), &before, &after),
        Err(PolicyError::Frozen {
            doc_type: DocType::Sale,
            state: "closed"
        })
    );
}

#[test]
fn a_z_report_is_frozen() {
    let eur_c = pos_core::money::Currency::from_code("EUR").unwrap();
    let by = Uuid::now_v7();
    let mut shift = Shift::open(Uuid::now_v7(), eur_c, 0, by, 0).unwrap();
    let r = ShiftReport::compute(Uuid::now_v7(), &shift, &[], &[], 1).unwrap();
    shift.close(Default::default(), &r, by, 2).unwrap();
    let z = ZReport::take(1, Uuid::now_v7(), &shift, r, by, 3).unwrap();
    let mut edited = z.clone();
    edited.counted_cash += 1000;
    assert_eq!(
        check(&ctx(), &actor(Role::Owner), &z, &edited),
        Err(PolicyError::Frozen {
            doc_type: DocType::ZReport,
            state: "issued"
        })
    );
}

#[test]
fn an_unknown_field_smuggled_into_a_document_is_refused() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    add(&mut sale, &item("A", 500, "standard", None), 1, &s);
    let r = check_raw(
        &ctx(),
        &actor(Role::Owner),
        &sale,
        |am| {
            am.put(ROOT, "discount_for_friends", 100).unwrap();
        },
        &sale,
    );
    assert_eq!(
        r,
        Err(PolicyError::UnknownField(
            "discount_for_friends".into(),
            DocType::Sale
        ))
    );
}

#[test]
fn an_existing_payment_cannot_be_rewritten() {
    let s = settings(TaxMode::Inclusive);
    let mut before = open_sale(&s);
    add(&mut before, &item("A", 500, "standard", None), 2, &s);
    let pid = before
        .add_payment(Tender::Card, eur(500), Some("R".into()), Uuid::now_v7(), 1)
        .unwrap();
    let mut after = before.clone();
    after.payments.get_mut(&pid).unwrap().amount = 1000;
    assert_eq!(
        check(&ctx(), &actor(Role::Owner), &before, &after),
        Err(PolicyError::Immutable(format!("payments.{pid}.amount")))
    );
}

#[test]
fn removing_a_fired_line_needs_void_permission() {
    let mut f = demo_store();
    let sale = f
        .store
        .open_sale(&f.demo.cashier, Some("Table 1".into()))
        .unwrap();
    let burger = f.demo.item("KIT-BUR").unwrap();
    let line = f
        .store
        .add_item(&f.demo.cashier, sale, burger, 1, &[], 1)
        .unwrap();
    f.store.fire(&f.demo.cashier, sale, None).unwrap();
    assert!(matches!(
        f.store.remove_line(&f.demo.cashier, sale, &line),
        Err(StoreError::Policy(PolicyError::Forbidden {
            permission: Permission::SaleVoid,
            ..
        }))
    ));
    f.store.remove_line(&f.demo.manager, sale, &line).unwrap();
}

#[test]
fn a_discount_above_the_threshold_needs_a_managers_approval() {
    let mut f = demo_store();
    let sale = f.store.open_sale(&f.demo.cashier, None).unwrap();
    let line = f
        .store
        .scan(&f.demo.cashier, sale, &f.demo.barcodes["RET-MUG"])
        .unwrap();
    // 20 % is the threshold: allowed
    f.store
        .set_line_discount(&f.demo.cashier, sale, &line, Some(Discount::percent(2000)))
        .unwrap();
    // 25 % is above it
    let r = f
        .store
        .set_line_discount(&f.demo.cashier, sale, &line, Some(Discount::percent(2500)));
    assert!(matches!(
        r,
        Err(StoreError::Policy(PolicyError::DiscountNeedsOverride {
            share_bp: 2500,
            threshold_bp: 2000
        }))
    ));
    // a cashier cannot approve it for another cashier
    let other_cashier = f.demo.cashier.user_id;
    let r = f.store.set_line_discount(
        &f.demo.cashier,
        sale,
        &line,
        Some(Discount::percent(2500).approved_by(other_cashier)),
    );
    assert!(matches!(
        r,
        Err(StoreError::Policy(
            PolicyError::DiscountNeedsOverride { .. }
        ))
    ));
    // an order discount by amount is measured against the order
    let r = f
        .store
        .set_order_discount(&f.demo.cashier, sale, Some(Discount::amount(500)));
    assert!(matches!(
        r,
        Err(StoreError::Policy(
            PolicyError::DiscountNeedsOverride { .. }
        ))
    ));
    f.store
        .set_line_discount(
            &f.demo.cashier,
            sale,
            &line,
            Some(Discount::percent(2500).approved_by(f.demo.manager.user_id)),
        )
        .unwrap();
    f.store
        .set_order_discount(&f.demo.manager, sale, Some(Discount::amount(500)))
        .unwrap();
}

#[test]
fn a_refund_beyond_the_sale_is_refused_with_its_own_code() {
    let sale = closed_sale();
    let sale_id = Uuid::now_v7();
    let line = sale.lines.keys().next().unwrap().clone();
    let mut refund = Refund::build(
        sale_id,
        &sale,
        &[],
        &[RefundRequest {
            sale_line_id: line,
            qty: 2,
            restock: true,
        }],
        Tender::Cash,
        None,
        "x",
        "S01-T1-000002".into(),
        None,
        Uuid::now_v7(),
        3,
    )
    .unwrap();
    let c = Ctx {
        sale: Some((sale.clone(), vec![(Uuid::now_v7(), refund.clone())])),
        ..ctx()
    };
    refund.receipt_no = "S01-T1-000003".into();
    let mut e = env(DocType::Refund);
    e.doc_id = Uuid::now_v7();
    let after = refund.clone().into_any();
    let err = authorize(&c, &actor(Role::Manager), &e, None, &after, &[]).unwrap_err();
    assert_eq!(err.code(), "refund_exceeds_sale", "{err}");
    let none = Ctx {
        sale: None,
        ..ctx()
    };
    let err = authorize(&none, &actor(Role::Manager), &e, None, &after, &[]).unwrap_err();
    assert_eq!(err.code(), "missing_dependency");
}

#[test]
fn a_sale_in_another_currency_than_the_store_is_refused() {
    let mut s = settings(TaxMode::Inclusive);
    s.currency = "USD".into();
    let sale = open_sale(&s);
    let err = authorize(
        &ctx(),
        &actor(Role::Cashier),
        &env(DocType::Sale),
        None,
        &sale.into_any(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, PolicyError::SaleSettingsMismatch { .. }));
}

#[test]
fn only_the_kitchen_and_managers_bump_tickets() {
    let mut f = demo_store();
    let sale = f
        .store
        .open_sale(&f.demo.cashier, Some("T2".into()))
        .unwrap();
    f.store
        .add_item(
            &f.demo.cashier,
            sale,
            f.demo.item("KIT-SAL").unwrap(),
            1,
            &[],
            1,
        )
        .unwrap();
    let tickets = f.store.fire(&f.demo.cashier, sale, None).unwrap();
    use pos_core::store::KitchenAction;
    assert!(matches!(
        f.store
            .kitchen(&f.demo.cashier, tickets[0], KitchenAction::Bump),
        Err(StoreError::Policy(PolicyError::Forbidden {
            permission: Permission::KdsBump,
            ..
        }))
    ));
    f.store
        .kitchen(&f.demo.kitchen, tickets[0], KitchenAction::Bump)
        .unwrap();
    assert!(f
        .store
        .kitchen_tickets(Some("cold"), false)
        .unwrap()
        .is_empty());
    f.store
        .kitchen(&f.demo.kitchen, tickets[0], KitchenAction::Recall)
        .unwrap();
    assert_eq!(
        f.store.kitchen_tickets(Some("cold"), false).unwrap().len(),
        1
    );
}

#[test]
fn a_tenant_wide_envelope_naming_a_store_is_refused() {
    let mut e = env(DocType::Item);
    e.store_id = Some(Uuid::now_v7());
    assert!(e.validate().is_err());
    let mut e = env(DocType::Sale);
    e.store_id = None;
    assert!(e.validate().is_err());
}
