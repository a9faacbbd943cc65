//! Test support for sync, shared by the engine's property test (`crates/sync/tests/engine`,
//! against the in-memory reference server) and the end-to-end property test
//! (`tests/props_e2e.rs`, against the real server on PostgreSQL), so that both run the same
//! operations through the same misbehaving network:
//!
//! - [`Flaky`], a [`Transport`] wrapper that drops requests, loses answers, delivers twice or
//!   reverses a batch, one [`Fate`] per request;
//! - [`Op`], a random till operation, its proptest strategy [`op`], and [`apply`], which runs
//!   one on a device's store;
//! - [`forge_cash_payment`], what a hacked device would write into a sale, for the hostile
//!   tests of both suites.
//!
//! Not for production code: nothing here is used outside tests and benches.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{Store, StoreError};
use pos_sync::device::{Transport, TransportError};
use pos_sync::wire::{
    BootstrapPage, DocSnapshot, PullResponse, PushRequest, PushResponse, ReceiptEmailRequest,
    ReceiptEmailResponse, StaffRecord,
};
use proptest::prelude::*;
use uuid::Uuid;

/// What the network does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    /// Lost on the way: the server never sees it.
    DropRequest,
    /// The server processes it, the answer is lost.
    DropAnswer,
    /// Delivered twice (a retrying proxy); the device sees the second answer.
    Duplicate,
    /// The batch's changes arrive in reverse order (later changes before the ones they depend
    /// on: those are answered "retry after" and sent again).
    Reorder,
}

/// Mostly delivered; each misfortune about one request in nine.
pub fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        5 => Just(Fate::Deliver),
        1 => Just(Fate::DropRequest),
        1 => Just(Fate::DropAnswer),
        1 => Just(Fate::Duplicate),
        1 => Just(Fate::Reorder),
    ]
}

/// A transport whose pushes, pulls and document fetches meet the given fates in turn (then
/// [`Fate::Deliver`] when they run out). A document fetch is only ever lost, either way;
/// bootstrap, staff and receipt e-mails pass through.
pub struct Flaky<'a> {
    inner: &'a mut dyn Transport,
    fates: Box<dyn Iterator<Item = Fate> + 'a>,
}

impl<'a> Flaky<'a> {
    /// `fates` may be endless (drawn from a seeded generator) or a list from a strategy.
    pub fn new(
        inner: &'a mut dyn Transport,
        fates: impl IntoIterator<Item = Fate> + 'a,
    ) -> Flaky<'a> {
        Flaky {
            inner,
            fates: Box::new(fates.into_iter()),
        }
    }

    fn fate(&mut self) -> Fate {
        self.fates.next().unwrap_or(Fate::Deliver)
    }
}

impl Transport for Flaky<'_> {
    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        match self.fate() {
            Fate::Deliver => self.inner.push(req),
            Fate::DropRequest => Err(TransportError::Unreachable("dropped".into())),
            Fate::DropAnswer => {
                self.inner.push(req)?;
                Err(TransportError::Unreachable("answer lost".into()))
            }
            Fate::Duplicate => {
                self.inner.push(req)?;
                self.inner.push(req)
            }
            Fate::Reorder => {
                let mut reversed = req.clone();
                reversed.changes.reverse();
                let mut answer = self.inner.push(&reversed)?;
                answer.results.reverse();
                Ok(answer)
            }
        }
    }

    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError> {
        match self.fate() {
            Fate::DropRequest => Err(TransportError::Unreachable("dropped".into())),
            Fate::DropAnswer => {
                // Read on the server, lost on the way back: the device pulls it again.
                self.inner.pull(cursor, limit)?;
                Err(TransportError::Unreachable("answer lost".into()))
            }
            _ => self.inner.pull(cursor, limit),
        }
    }

    fn document(&mut self, id: Uuid) -> Result<Option<DocSnapshot>, TransportError> {
        match self.fate() {
            Fate::DropRequest => Err(TransportError::Unreachable("dropped".into())),
            Fate::DropAnswer => {
                self.inner.document(id)?;
                Err(TransportError::Unreachable("answer lost".into()))
            }
            _ => self.inner.document(id),
        }
    }

    fn bootstrap(&mut self, page: Option<&str>) -> Result<BootstrapPage, TransportError> {
        self.inner.bootstrap(page)
    }

    fn staff(&mut self) -> Result<Vec<StaffRecord>, TransportError> {
        self.inner.staff()
    }

    fn receipt_emails(
        &mut self,
        req: &ReceiptEmailRequest,
    ) -> Result<ReceiptEmailResponse, TransportError> {
        self.inner.receipt_emails(req)
    }
}

/// How many catalog items the operations pick from.
pub const ITEMS: usize = 5;

/// Who and what the operations use: the store's cashier and manager, and [`ITEMS`] items.
#[derive(Debug, Clone, Copy)]
pub struct Cast {
    pub cashier: Uuid,
    pub manager: Uuid,
    pub items: [Uuid; ITEMS],
}

/// One thing that happens on one of three devices.
#[derive(Debug, Clone)]
pub enum Op {
    /// The cashier sells `qty` of a catalog item (index) and takes a card payment.
    Sell { dev: usize, item: usize, qty: i64 },
    /// The cashier opens a ticket and leaves it open.
    OpenTicket { dev: usize, item: usize },
    /// The cashier adds to the oldest open ticket the device knows.
    AddToTicket { dev: usize, item: usize },
    /// A manager on the device changes a price.
    Price { dev: usize, item: usize, price: i64 },
    /// The device syncs through a network with these fates.
    Sync { dev: usize, fates: Vec<Fate> },
}

/// Operations on three devices, syncing about a third of the time.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3, 0usize..ITEMS, 1i64..4).prop_map(|(dev, item, qty)| Op::Sell { dev, item, qty }),
        1 => (0usize..3, 0usize..ITEMS).prop_map(|(dev, item)| Op::OpenTicket { dev, item }),
        2 => (0usize..3, 0usize..ITEMS).prop_map(|(dev, item)| Op::AddToTicket { dev, item }),
        1 => (0usize..3, 0usize..ITEMS, 100i64..2000).prop_map(|(dev, item, price)| Op::Price { dev, item, price }),
        3 => (0usize..3, proptest::collection::vec(fate(), 0..6)).prop_map(|(dev, fates)| Op::Sync { dev, fates }),
    ]
}

/// Runs a till operation on `store` (the caller picks the store by `dev`, and runs
/// [`Op::Sync`] itself with a [`Flaky`] transport, which this ignores). Returns the receipt
/// number of a sale it closed.
pub fn apply(op: &Op, store: &mut Store, cast: &Cast) -> Result<Option<String>, StoreError> {
    match *op {
        Op::Sell { item, qty, .. } => {
            let c = store.actor(cast.cashier)?;
            let sale = store.open_sale(&c, None)?;
            store.add_item(&c, sale, cast.items[item], qty, &[], 1)?;
            let sale_doc = store.get::<Sale>(sale)?;
            let due = sale_doc.totals()?.due;
            let out = store.pay(&c, sale, Tender::Card, eur(due)?, Some("R".into()))?;
            Ok(out.receipt_no)
        }
        Op::OpenTicket { dev, item } => {
            let c = store.actor(cast.cashier)?;
            let sale = store.open_sale(&c, Some(format!("T{dev}")))?;
            store.add_item(&c, sale, cast.items[item], 1, &[], 1)?;
            Ok(None)
        }
        Op::AddToTicket { item, .. } => {
            let c = store.actor(cast.cashier)?;
            if let Some(open) = store.open_sales()?.first() {
                store.add_item(&c, open.id, cast.items[item], 1, &[], 1)?;
            }
            Ok(None)
        }
        Op::Price { item, price, .. } => {
            let m = store.actor(cast.manager)?;
            store.update_item(&m, cast.items[item], |i| {
                i.price = price;
                Ok(())
            })?;
            Ok(None)
        }
        Op::Sync { .. } => Ok(None),
    }
}

/// `minor` euro cents.
fn eur(minor: i64) -> Result<Money, StoreError> {
    Ok(Money::new(minor, Currency::from_code("EUR")?))
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("the document has no payments map")]
    NoPayments,
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
}

/// Writes a cash payment of `amount` (exact, no change) by `by` straight into a sale's
/// automerge document, as a hacked device could, bypassing the store and its policy.
pub fn forge_cash_payment(am: &mut AutoCommit, amount: i64, by: &str) -> Result<(), ForgeError> {
    let payments = match am.get(ROOT, "payments")? {
        Some((automerge::Value::Object(_), id)) => id,
        _ => return Err(ForgeError::NoPayments),
    };
    let p = am.put_object(&payments, "p1", ObjType::Map)?;
    am.put(&p, "tender", "Cash")?;
    am.put(&p, "amount", amount)?;
    am.put(&p, "tendered", amount)?;
    am.put(&p, "change", 0)?;
    am.put(&p, "reference", ScalarValue::Null)?;
    am.put(&p, "label", ScalarValue::Null)?;
    am.put(&p, "at", 1)?;
    am.put(&p, "by", by)?;
    Ok(())
}
