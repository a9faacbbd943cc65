use pos_core::inventory::{flags, levels, MovementKind, StockDoc, StockDocKind, StockError};
use uuid::Uuid;

fn posted(kind: StockDocKind, fill: impl FnOnce(&mut StockDoc)) -> Result<StockDoc, StockError> {
    let by = Uuid::now_v7();
    let mut d = StockDoc::new(kind, by, 1);
    fill(&mut d);
    d.post(by, 2)?;
    Ok(d)
}

#[test]
fn the_level_is_the_sum_of_the_movements() {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let receive = posted(StockDocKind::Receive, |d| {
        d.supplier_ref = Some("PO-1".into());
        d.set_line(a, "A", 10, Some(120)).unwrap();
        d.set_line(b, "B", 4, Some(80)).unwrap();
    })
    .unwrap();
    let adjust = posted(StockDocKind::Adjust, |d| {
        d.reason = Some("breakage".into());
        d.set_line(a, "A", -3, None).unwrap();
    })
    .unwrap();
    let count = posted(StockDocKind::Count, |d| {
        d.set_count(b, "B", 4, 6).unwrap(); // found two more than expected
    })
    .unwrap();
    let out = posted(StockDocKind::TransferOut, |d| {
        d.other_store_id = Some(Uuid::now_v7().to_string());
        d.set_line(a, "A", 2, None).unwrap();
    })
    .unwrap();
    let all: Vec<_> = [&receive, &adjust, &count, &out]
        .iter()
        .flat_map(|d| d.movements())
        .collect();
    let kinds: Vec<MovementKind> = all.iter().map(|m| m.kind).collect();
    assert!(kinds.contains(&MovementKind::Count));
    let l = levels(&all);
    assert_eq!(l[&a.to_string()], 10 - 3 - 2);
    assert_eq!(l[&b.to_string()], 6);
}

#[test]
fn each_kind_needs_its_fields() {
    let a = Uuid::now_v7();
    assert_eq!(
        posted(StockDocKind::Receive, |d| d
            .set_line(a, "A", 1, Some(1))
            .unwrap()),
        Err(StockError::MissingSupplierRef)
    );
    assert_eq!(
        posted(StockDocKind::Receive, |d| {
            d.supplier_ref = Some("PO".into());
            d.set_line(a, "A", 1, None).unwrap()
        }),
        Err(StockError::MissingUnitCost(a.to_string()))
    );
    assert_eq!(
        posted(StockDocKind::Adjust, |d| d
            .set_line(a, "A", -1, None)
            .unwrap()),
        Err(StockError::MissingReason)
    );
    assert_eq!(
        posted(StockDocKind::TransferOut, |d| d
            .set_line(a, "A", 1, None)
            .unwrap()),
        Err(StockError::MissingOtherStore)
    );
    assert_eq!(
        posted(StockDocKind::Adjust, |d| d.reason = Some("x".into())),
        Err(StockError::Empty)
    );
    let mut d = StockDoc::new(StockDocKind::Receive, Uuid::now_v7(), 0);
    assert_eq!(
        d.set_line(a, "A", 0, Some(1)),
        Err(StockError::BadQuantity(0))
    );
    assert_eq!(
        d.set_line(a, "A", -2, Some(1)),
        Err(StockError::BadQuantity(-2))
    );
    assert_eq!(
        d.set_line(a, "A", 1, Some(-1)),
        Err(StockError::NegativeCost(-1))
    );
    assert_eq!(
        d.set_count(a, "A", 0, 1),
        Err(StockError::WrongKind(StockDocKind::Receive))
    );
    let mut c = StockDoc::new(StockDocKind::Count, Uuid::now_v7(), 0);
    assert_eq!(
        c.set_count(a, "A", 3, -1),
        Err(StockError::NegativeCount(-1))
    );
    let mut adj = StockDoc::new(StockDocKind::Adjust, Uuid::now_v7(), 0);
    assert_eq!(
        adj.set_line(a, "A", 0, None),
        Err(StockError::ZeroAdjustment)
    );
}

#[test]
fn a_posted_document_is_frozen_and_a_draft_moves_nothing() {
    let a = Uuid::now_v7();
    let mut d = StockDoc::new(StockDocKind::Count, Uuid::now_v7(), 0);
    d.set_count(a, "A", 5, 2).unwrap();
    assert!(
        d.movements().is_empty(),
        "a draft count sheet moves no stock"
    );
    d.post(Uuid::now_v7(), 1).unwrap();
    assert_eq!(d.movements()[0].qty, -3);
    assert_eq!(d.set_count(a, "A", 5, 5), Err(StockError::AlreadyPosted));
    assert_eq!(d.post(Uuid::now_v7(), 2), Err(StockError::AlreadyPosted));
}

#[test]
fn low_stock_and_oversold_flags() {
    assert!(flags(2, 2).low_stock);
    assert!(!flags(3, 2).low_stock);
    assert!(flags(-1, 2).oversold);
    assert!(!flags(-1, 2).low_stock, "oversold is its own flag");
    assert!(flags(0, 0).low_stock);
}
