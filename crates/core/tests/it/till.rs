//! Issue 17's till features: editing a line after adding it, a price override (a manager's PIN
//! for a cashier), a table's guest count, courses held and fired one after the other.

use pos_core::policy::PolicyError;
use pos_core::sale::{Sale, SaleError};
use pos_core::store::{LineEdit, StoreError};

use crate::common::*;

fn forbidden<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Policy(PolicyError::Forbidden { .. })))
}

#[test]
fn a_line_is_edited_after_it_was_added_quantity_modifiers_and_course() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let latte = f.demo.item("COF-LAT").unwrap();
    let sale = f.store.open_sale(&c, Some("Table 3".into())).unwrap();
    let line = f.store.add_item(&c, sale, latte, 1, &[], 1).unwrap();
    let edit = LineEdit {
        qty: Some(2),
        modifiers: Some(vec![
            ("milk".into(), "oat".into()),
            ("size".into(), "large".into()),
        ]),
        course: Some(2),
    };
    f.store.edit_line(&c, sale, &line, &edit).unwrap();
    let s: Sale = f.store.get(sale).unwrap();
    let l = &s.lines[&line];
    assert_eq!(l.qty, 2);
    assert_eq!(
        l.modifiers
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["Oat milk", "Large"]
    );
    assert_eq!(l.course, 2);
    assert_eq!(s.totals().unwrap().total, 2 * (350 + 40 + 60));

    // Modifiers removed, the rest kept.
    let clear = LineEdit {
        modifiers: Some(vec![]),
        ..LineEdit::default()
    };
    f.store.edit_line(&c, sale, &line, &clear).unwrap();
    let s: Sale = f.store.get(sale).unwrap();
    assert!(s.lines[&line].modifiers.is_empty());
    assert_eq!((s.lines[&line].qty, s.lines[&line].course), (2, 2));

    // An unknown option, a course of 0 and an unknown line are refused, and change nothing.
    let bad = LineEdit {
        modifiers: Some(vec![("milk".into(), "goat".into())]),
        ..LineEdit::default()
    };
    assert!(matches!(
        f.store.edit_line(&c, sale, &line, &bad),
        Err(StoreError::Sale(SaleError::UnknownModifier { .. }))
    ));
    let bad = LineEdit {
        course: Some(0),
        ..LineEdit::default()
    };
    assert!(matches!(
        f.store.edit_line(&c, sale, &line, &bad),
        Err(StoreError::Sale(SaleError::BadCourse(0)))
    ));
    assert!(matches!(
        f.store.edit_line(&c, sale, "nope", &LineEdit::default()),
        Err(StoreError::Sale(SaleError::UnknownLine(_)))
    ));
    assert_eq!(f.store.get::<Sale>(sale).unwrap(), s);

    // A fired line does not change.
    let burger = f.demo.item("KIT-BUR").unwrap();
    let b = f.store.add_item(&c, sale, burger, 1, &[], 1).unwrap();
    f.store.fire(&c, sale, Some(1)).unwrap();
    let more = LineEdit {
        qty: Some(3),
        ..LineEdit::default()
    };
    assert!(matches!(
        f.store.edit_line(&c, sale, &b, &more),
        Err(StoreError::Sale(SaleError::LineFired(_)))
    ));
}

#[test]
fn a_cashier_overrides_a_price_only_with_a_managers_approval_for_that_line() {
    let mut f = demo_store();
    let (c, m, k) = (f.demo.cashier, f.demo.manager, f.demo.kitchen);
    let store = &mut f.store;
    let sale = store.open_sale(&c, None).unwrap();
    let esp = f.demo.item("COF-ESP").unwrap();
    let cro = f.demo.item("BAK-CRO").unwrap();
    let a = store.add_item(&c, sale, esp, 1, &[], 1).unwrap();
    let b = store.add_item(&c, sale, cro, 1, &[], 1).unwrap();

    assert!(forbidden(store.override_price(&c, sale, &a, Some(100))));
    // The kitchen may not override prices, so its "approval" is none.
    assert!(forbidden(store.override_price_approved(
        &c,
        sale,
        &a,
        Some(100),
        Some(k.user_id)
    )));
    store
        .override_price_approved(&c, sale, &a, Some(100), Some(m.user_id))
        .unwrap();
    let s: Sale = store.get(sale).unwrap();
    assert_eq!(s.lines[&a].price_override, Some(100));
    assert_eq!(s.lines[&a].price_override_by, Some(m.user_id.to_string()));
    assert_eq!(s.lines[&a].unit_price().unwrap(), 100);
    // The approval of line a opens no other line's price.
    assert!(forbidden(store.override_price(&c, sale, &b, Some(0))));
    // A manager overrides without anyone's PIN, and clears it.
    store.override_price(&m, sale, &b, Some(0)).unwrap();
    store.override_price(&m, sale, &a, None).unwrap();
    let s: Sale = store.get(sale).unwrap();
    assert_eq!(s.lines[&a].price_override, None);
    assert_eq!(s.lines[&b].price_override, Some(0));
    assert_eq!(s.totals().unwrap().total, s.lines[&a].catalog_price);
    // A negative price is refused.
    assert!(matches!(
        store.override_price(&m, sale, &a, Some(-1)),
        Err(StoreError::Sale(SaleError::NegativePrice(-1)))
    ));
}

#[test]
fn a_table_has_a_guest_count_and_sales_written_before_load_without_one() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let sale = f.store.open_sale(&c, Some("Table 4".into())).unwrap();
    assert_eq!(f.store.get::<Sale>(sale).unwrap().guests, 0);
    f.store.set_guests(&c, sale, 4).unwrap();
    assert_eq!(f.store.get::<Sale>(sale).unwrap().guests, 4);
    assert!(matches!(
        f.store.set_guests(&c, sale, -1),
        Err(StoreError::Sale(SaleError::BadGuests(-1)))
    ));
    // The kitchen may not sell, so it may not seat guests either.
    assert!(forbidden(f.store.set_guests(&f.demo.kitchen, sale, 2)));

    // A sale document from before guests (and before price_override_by) still loads.
    let mut json = serde_json::to_value(f.store.get::<Sale>(sale).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("guests");
    let old: Sale = serde_json::from_value(json).unwrap();
    assert_eq!(old.guests, 0);
}

#[test]
fn course_two_is_held_while_course_one_fires_and_reaches_the_kitchen_as_course_two() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let burger = f.demo.item("KIT-BUR").unwrap();
    let cake = f.demo.item("KIT-CAK").unwrap();
    let sale = f.store.open_sale(&c, Some("Table 9".into())).unwrap();
    f.store.set_guests(&c, sale, 2).unwrap();
    f.store.add_item(&c, sale, burger, 1, &[], 1).unwrap();
    let dessert = f.store.add_item(&c, sale, cake, 1, &[], 1).unwrap();
    let to_two = LineEdit {
        course: Some(2),
        ..LineEdit::default()
    };
    f.store.edit_line(&c, sale, &dessert, &to_two).unwrap();
    let s: Sale = f.store.get(sale).unwrap();
    assert_eq!(s.next_course(), Some(1));

    f.store.fire(&c, sale, s.next_course()).unwrap();
    let tickets = f.store.kitchen_tickets_of_sale(&sale.to_string()).unwrap();
    assert_eq!(
        tickets
            .iter()
            .map(|t| (t.station.as_str(), t.course))
            .collect::<Vec<_>>(),
        [("grill", 1)],
        "course 2 is held"
    );
    let s: Sale = f.store.get(sale).unwrap();
    assert!(s.lines[&dessert].fired_at.is_none());
    assert_eq!(s.next_course(), Some(2));

    f.store.fire(&c, sale, s.next_course()).unwrap();
    let mut tickets: Vec<_> = f
        .store
        .kitchen_tickets_of_sale(&sale.to_string())
        .unwrap()
        .into_iter()
        .map(|t| (t.station, t.course))
        .collect();
    tickets.sort();
    assert_eq!(
        tickets,
        [("cold".to_string(), 2), ("grill".to_string(), 1)],
        "the dessert reaches the cold station as course 2"
    );
    assert_eq!(f.store.get::<Sale>(sale).unwrap().next_course(), None);
    // Each ticket carries the table's guests (the KDS shows them in its header).
    for t in f.store.kitchen_tickets_of_sale(&sale.to_string()).unwrap() {
        let doc: pos_core::kitchen::KitchenTicket = f.store.get(t.id).unwrap();
        assert_eq!(doc.guests, 2);
    }
}

/// Issue 17, "merging identical lines": a table keeps two tills' lines of one item apart as
/// they are added; asked to, the sale combines identical plain lines (same item, price,
/// modifiers and course), leaves fired, noted and discounted lines alone, and the total does
/// not move.
#[test]
fn a_tables_identical_lines_are_combined_when_asked_and_nothing_else_moves() {
    let mut f = demo_store();
    let c = f.demo.cashier;
    let burger = f.demo.item("KIT-BUR").unwrap();
    let fries = f.demo.item("KIT-FRI").unwrap();
    let sale = f.store.open_sale(&c, Some("Table 4".into())).unwrap();
    let first = f.store.add_item(&c, sale, burger, 1, &[], 1).unwrap();
    f.store.fire(&c, sale, None).unwrap();
    f.store.add_item(&c, sale, burger, 1, &[], 1).unwrap();
    f.store.add_item(&c, sale, burger, 2, &[], 1).unwrap();
    f.store.add_item(&c, sale, fries, 1, &[], 1).unwrap();
    let noted = f.store.add_item(&c, sale, fries, 1, &[], 1).unwrap();
    f.store.set_line_note(&c, sale, &noted, "no salt").unwrap();
    f.store.add_item(&c, sale, burger, 1, &[], 2).unwrap();
    let before: Sale = f.store.get(sale).unwrap();
    assert_eq!(
        before.lines.len(),
        6,
        "a table's lines stay apart as they are added"
    );
    let total = before.totals().unwrap().total;
    let gone = f.store.merge_identical_lines(&c, sale).unwrap();
    assert_eq!(gone, 1, "the two unfired course-1 burgers become one");
    let after: Sale = f.store.get(sale).unwrap();
    assert_eq!(after.lines.len(), 5);
    assert_eq!(after.totals().unwrap().total, total);
    let burgers: Vec<_> = after
        .lines
        .values()
        .filter(|l| l.item_id == burger.to_string())
        .map(|l| (l.qty, l.fired_at.is_some(), l.course))
        .collect();
    assert!(
        burgers.contains(&(1, true, 1)),
        "the fired one stays: {burgers:?}"
    );
    assert!(
        burgers.contains(&(3, false, 1)),
        "1 + 2 unfired: {burgers:?}"
    );
    assert!(
        burgers.contains(&(1, false, 2)),
        "course 2 stays apart: {burgers:?}"
    );
    assert!(after.lines.contains_key(&first));
    assert_eq!(
        f.store.merge_identical_lines(&c, sale).unwrap(),
        0,
        "nothing left to combine"
    );
    // A closed sale is not changed.
    let paid = f.store.open_sale(&c, None).unwrap();
    f.store.add_item(&c, paid, fries, 1, &[], 1).unwrap();
    f.store
        .pay(&c, paid, pos_core::sale::Tender::Cash, eur(10_000), None)
        .unwrap();
    assert!(matches!(
        f.store.merge_identical_lines(&c, paid),
        Err(StoreError::Sale(SaleError::NotOpen(_)))
    ));
}
