use std::sync::Mutex;

use pos_core::sale::{Sale, Tender};
use pos_core::store::Store;
use pos_sync::device::{SyncEngine, Transport, TransportError};
use pos_sync::memory::{MemoryServer, MemoryTransport};
use pos_sync::merge::Scope;
use pos_sync::wire::{
    BootstrapPage, DocSnapshot, PullResponse, PushRequest, PushResponse, ReceiptEmailRequest,
    ReceiptEmailResponse, StaffRecord,
};
use uuid::Uuid;

use crate::common::*;

/// Sells one croissant on device `i`, paid in cash; returns the sale id.
fn sell(t: &mut Tenant, i: usize) -> Uuid {
    let d = t.demo.clone();
    let store = &mut t.devices[i].store;
    let c = store.actor(d.cashier.user_id).unwrap();
    let sale = store.open_sale(&c, None).unwrap();
    store
        .add_item(&c, sale, d.item("BAK-CRO").unwrap(), 2, &[], 1)
        .unwrap();
    let due = store.get::<Sale>(sale).unwrap().totals().unwrap().due;
    store.pay(&c, sale, Tender::Cash, eur(due), None).unwrap();
    sale
}

#[test]
fn a_receipt_emailed_offline_reaches_the_server_after_its_sale_and_only_once() {
    let mut t = Tenant::new(1);
    t.devices[0].online = false;
    let sale = sell(&mut t, 0);
    let e = t.devices[0]
        .store
        .queue_receipt_email(sale, "ann@shop.example")
        .unwrap();
    assert!(t.sync(0).is_err(), "offline");
    assert_eq!(t.devices[0].engine.status().emails_pending, 1);
    assert_eq!(
        t.devices[0]
            .store
            .receipt_email(e.id)
            .unwrap()
            .unwrap()
            .status,
        "pending"
    );

    t.devices[0].online = true;
    let r = t.sync(0).unwrap();
    assert!(r.accepted > 0);
    assert_eq!((r.emails_sent, r.emails_refused), (1, 0));
    {
        let server = t.server.lock().unwrap();
        let (doc, to, text) = &server.receipt_emails[&e.id];
        assert_eq!((*doc, to.as_str()), (sale, "ann@shop.example"));
        assert!(text.subject.contains("S01-T1-000001"), "{}", text.subject);
        assert_eq!(text.total, "5.00 EUR");
    }
    assert_eq!(
        t.devices[0]
            .store
            .receipt_email(e.id)
            .unwrap()
            .unwrap()
            .status,
        "sent"
    );
    let status = t.devices[0].engine.status().clone();
    assert_eq!((status.emails_pending, status.emails_refused), (0, 0));
    let r = t.sync(0).unwrap();
    assert_eq!(r.emails_sent, 0, "never sent twice");
    assert_eq!(t.server.lock().unwrap().receipt_emails.len(), 1);
}

#[test]
fn a_refused_receipt_email_is_kept_with_its_reason_and_never_sent_again() {
    let mut t = Tenant::new(1);
    let sale = sell(&mut t, 0);
    t.sync(0).unwrap();
    let e = t.devices[0]
        .store
        .queue_receipt_email(sale, "ann@shop.example")
        .unwrap();
    // A token of another store: the server does not know the sale in that scope.
    let d = &mut t.devices[0];
    let mut other = MemoryTransport {
        server: &t.server,
        scope: Scope {
            store_id: Uuid::now_v7(),
            ..d.scope
        },
        online: true,
    };
    let r = d.engine.sync_once(&mut d.store, &mut other).unwrap();
    assert_eq!((r.emails_sent, r.emails_refused), (0, 1));
    let row = d.store.receipt_email(e.id).unwrap().unwrap();
    assert_eq!(row.status, "refused");
    assert_eq!(row.code.as_deref(), Some("unknown_document"));
    assert_eq!(d.engine.status().emails_refused, 1);
    // the right store would accept it, but a refused email is not sent again
    let r = t.sync(0).unwrap();
    assert_eq!((r.emails_sent, r.emails_refused), (0, 0));
    assert!(t.server.lock().unwrap().receipt_emails.is_empty());
}

/// The memory server behind a switch for the email call only, which also checks that the
/// engine does not hold the shared store while it waits for the network.
struct EmailsDown<'a> {
    inner: MemoryTransport<'a>,
    store: &'a Mutex<Store>,
    emails_up: bool,
    email_calls: usize,
}

impl Transport for EmailsDown<'_> {
    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError> {
        self.inner.pull(cursor, limit)
    }
    fn document(&mut self, id: Uuid) -> Result<Option<DocSnapshot>, TransportError> {
        self.inner.document(id)
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
        self.email_calls += 1;
        assert!(
            self.store.try_lock().is_ok(),
            "the store is locked during the network call"
        );
        if !self.emails_up {
            return Err(TransportError::Unreachable("cable pulled".into()));
        }
        self.inner.receipt_emails(req)
    }
}

#[test]
fn a_transport_failure_leaves_the_receipt_email_pending_and_the_next_round_sends_it() {
    let mut t = Tenant::new(1);
    let sale = sell(&mut t, 0);
    let e = t.devices[0]
        .store
        .queue_receipt_email(sale, "ann@shop.example")
        .unwrap();
    let dev = t.devices.remove(0);
    let scope = dev.scope;
    let shared = Mutex::new(dev.store);
    let mut engine = SyncEngine::new();
    let mut tr = EmailsDown {
        inner: MemoryTransport {
            server: &t.server,
            scope,
            online: true,
        },
        store: &shared,
        emails_up: false,
        email_calls: 0,
    };
    assert!(matches!(
        engine.sync_shared(&shared, &mut tr),
        Err(pos_sync::device::SyncError::Transport(
            TransportError::Unreachable(_)
        ))
    ));
    assert_eq!(tr.email_calls, 1);
    let pending = |s: &Mutex<Store>| s.lock().unwrap().receipt_email(e.id).unwrap().unwrap();
    assert_eq!(pending(&shared).status, "pending");
    assert_eq!(
        shared.lock().unwrap().outbox_len().unwrap(),
        0,
        "the sale went first"
    );
    assert!(t.server.lock().unwrap().receipt_emails.is_empty());

    tr.emails_up = true;
    let r = engine.sync_shared(&shared, &mut tr).unwrap();
    assert_eq!(r.emails_sent, 1);
    assert_eq!(pending(&shared).status, "sent");
    assert_eq!(
        MemoryServer::clone(&t.server.lock().unwrap())
            .receipt_emails
            .len(),
        1
    );
}
