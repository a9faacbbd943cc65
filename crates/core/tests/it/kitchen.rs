use pos_core::kitchen::{all_day, route, KitchenError, TicketStatus};
use pos_core::money::TaxMode;
use uuid::Uuid;

use crate::common::*;

#[test]
fn fired_lines_are_routed_to_their_stations_per_course() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    sale.ticket = Some("Table 7".into());
    let burger = item("Burger", 1290, "standard", Some("grill"));
    let fries = item("Fries", 450, "standard", Some("grill"));
    let salad = item("Salad", 990, "standard", Some("cold"));
    let mug = item("Mug", 1200, "standard", None);
    let by = Uuid::now_v7();
    for (i, course) in [
        (&burger, 1),
        (&fries, 1),
        (&salad, 1),
        (&mug, 1),
        (&salad, 2),
    ] {
        sale.add_line(Uuid::now_v7(), i, Uuid::now_v7(), &s, 1, &[], course, by)
            .unwrap();
    }
    let fired = sale.fire(Some(1), 100).unwrap();
    let tickets = route(Uuid::now_v7(), &sale, &fired, 100).unwrap();
    let mut shape: Vec<(String, i64, usize)> = tickets
        .iter()
        .map(|t| (t.station.clone(), t.course, t.items.len()))
        .collect();
    shape.sort();
    assert_eq!(
        shape,
        vec![("cold".into(), 1, 1), ("grill".into(), 1, 2)],
        "the mug has no station"
    );
    assert!(tickets
        .iter()
        .all(|t| t.ticket.as_deref() == Some("Table 7") && t.status == TicketStatus::New));
    let unfired: Vec<String> = sale
        .lines
        .iter()
        .filter(|(_, l)| l.fired_at.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    assert!(matches!(
        route(Uuid::now_v7(), &sale, &unfired, 1),
        Err(KitchenError::NotFired(_))
    ));
}

#[test]
fn ticket_lifecycle_bump_items_and_recall() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let by = Uuid::now_v7();
    let a = sale
        .add_line(
            Uuid::now_v7(),
            &item("Burger", 1, "standard", Some("grill")),
            Uuid::now_v7(),
            &s,
            2,
            &[],
            1,
            by,
        )
        .unwrap();
    let b = sale
        .add_line(
            Uuid::now_v7(),
            &item("Fries", 1, "standard", Some("grill")),
            Uuid::now_v7(),
            &s,
            1,
            &[],
            1,
            by,
        )
        .unwrap();
    let fired = sale.fire(None, 1_000).unwrap();
    let mut t = route(Uuid::now_v7(), &sale, &fired, 1_000)
        .unwrap()
        .remove(0);
    assert_eq!(
        t.ready(1_100),
        Err(KitchenError::BadTransition {
            from: TicketStatus::New,
            to: TicketStatus::Ready
        })
    );
    t.start(1_200).unwrap();
    assert_eq!(all_day([&t], "grill").get("Burger"), Some(&2));
    t.bump_item(&a, 1_300).unwrap();
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(
        all_day([&t], "grill").get("Burger"),
        None,
        "a bumped item leaves the all-day count"
    );
    t.bump_item(&b, 1_400).unwrap();
    assert_eq!(
        t.status,
        TicketStatus::Bumped,
        "the last item bumps the ticket"
    );
    assert_eq!(t.age_ms(99_999), 400);
    assert!(all_day([&t], "grill").is_empty());
    t.recall(1_500).unwrap();
    assert_eq!(t.status, TicketStatus::InProgress);
    assert_eq!(t.recalled_at, Some(1_500));
    assert_eq!(all_day([&t], "grill").get("Fries"), Some(&1));
    assert!(matches!(
        t.bump_item("ghost", 1),
        Err(KitchenError::UnknownItem(_))
    ));
    assert!(matches!(
        t.recall(1),
        Err(KitchenError::BadTransition { .. })
    ));
    assert_eq!(t.started_at, Some(1_200));
}

/// Issue 17: a ticket says what kind of order it is and who took it; a ticket written before
/// these fields existed still loads, with neither.
#[test]
fn a_ticket_carries_the_order_type_and_the_server_and_old_tickets_still_load() {
    let s = settings(TaxMode::Inclusive);
    let mut sale = open_sale(&s);
    let burger = item("Burger", 1290, "standard", Some("grill"));
    let by = Uuid::now_v7();
    sale.add_line(Uuid::now_v7(), &burger, Uuid::now_v7(), &s, 1, &[], 1, by)
        .unwrap();
    let fired = sale.fire(None, 100).unwrap();
    let t = route(Uuid::now_v7(), &sale, &fired, 100).unwrap().remove(0);
    assert_eq!(t.order_type(), Some("counter"));
    assert_eq!(t.server.as_deref(), Some(sale.opened_by.as_str()));
    sale.kind = pos_core::sale::SaleKind::Ticket;
    let t2 = route(Uuid::now_v7(), &sale, &fired, 100).unwrap().remove(0);
    assert_eq!(t2.order_type(), Some("table"));

    let mut old = serde_json::to_value(&t).unwrap();
    let o = old.as_object_mut().unwrap();
    o.remove("kind");
    o.remove("server");
    let old: pos_core::kitchen::KitchenTicket = serde_json::from_value(old).unwrap();
    assert_eq!(old.order_type(), None);
    assert_eq!(old.server, None);
    assert_eq!(old.items, t.items);
}
