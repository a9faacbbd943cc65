//! Every change the server must refuse, each as its own test. Each also checks that the master
//! is untouched.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use pos_core::auth::Role;
use pos_core::catalog::Item;
use pos_core::doc::{AnyDoc, DocType, Envelope};
use pos_core::refund::RefundRequest;
use pos_core::sale::{Sale, Tender};
use pos_sync::memory::MemoryTransport;
use pos_sync::wire::{Author, PushRequest, PushResult, WireChange, PROTOCOL_VERSION};
use uuid::Uuid;

use crate::common::*;

/// A change made on the server's copy of `doc_id` by `edit`, authored by `user` on device 1.
fn craft(t: &Tenant, doc_id: Uuid, user: Uuid, edit: impl FnOnce(&mut AutoCommit)) -> WireChange {
    let snap = t
        .server
        .lock()
        .unwrap()
        .document(doc_id)
        .expect("document on the server");
    let mut am = AutoCommit::load(&snap.bytes).unwrap();
    am.set_actor(automerge::ActorId::from(Uuid::now_v7().as_bytes().to_vec()));
    edit(&mut am);
    am.commit();
    let ch = am.get_last_local_change().unwrap();
    WireChange {
        envelope: snap.envelope,
        hash: ch.hash().to_string(),
        bytes: ch.raw_bytes().to_vec(),
        author: Author {
            user_id: user,
            device_id: t.devices[1].scope.device_id,
        },
        signature: None,
    }
}

fn push(t: &Tenant, changes: Vec<WireChange>) -> Vec<PushResult> {
    let scope = t.devices[1].scope;
    t.server
        .lock()
        .unwrap()
        .push(
            &scope,
            &PushRequest {
                protocol: PROTOCOL_VERSION,
                changes,
            },
        )
        .results
}

fn rejected_code(r: &PushResult) -> &str {
    match r {
        PushResult::Rejected { code, .. } => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn log_len(t: &Tenant) -> usize {
    t.server.lock().unwrap().log.len()
}

fn price_on_server(t: &Tenant, item: Uuid) -> i64 {
    match t.server.lock().unwrap().typed(item) {
        Some(AnyDoc::Item(i)) => i.price,
        other => panic!("no item: {other:?}"),
    }
}

/// One item (by SKU) sold and paid in cash on device 0, synced everywhere: the sale and its
/// one line.
fn sold_in_cash(t: &mut Tenant, sku: &str, price: i64) -> (Uuid, String) {
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.devices[0]
        .store
        .scan(&c0, sale, &t.demo.barcodes[sku])
        .unwrap();
    t.devices[0]
        .store
        .pay(&c0, sale, Tender::Cash, eur(price), None)
        .unwrap();
    t.settle();
    let line = t.devices[0]
        .store
        .get::<Sale>(sale)
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    (sale, line)
}

/// A mug sold and paid in cash on device 0, synced; returns the sale and the request that
/// refunds the mug (restocked).
fn a_sold_mug_and_its_refund(t: &mut Tenant) -> (Uuid, [RefundRequest; 1]) {
    let (sale, line) = sold_in_cash(t, "RET-MUG", 1200);
    let req = [RefundRequest {
        sale_line_id: line,
        qty: 1,
        restock: true,
    }];
    (sale, req)
}

#[test]
fn a_cashier_changing_a_price_is_rejected() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let before = log_len(&t);
    let c = craft(&t, latte, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "price", 1).unwrap()
    });
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "forbidden");
    assert_eq!(price_on_server(&t, latte), 350);
    assert_eq!(log_len(&t), before);
}

#[test]
fn a_change_for_another_tenant_is_rejected() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let mut c = craft(&t, latte, t.demo.manager.user_id, |am| {
        am.put(ROOT, "price", 360).unwrap()
    });
    c.envelope.tenant_id = Uuid::now_v7();
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "wrong_tenant");
    assert_eq!(price_on_server(&t, latte), 350);
}

#[test]
fn a_change_for_another_store_is_rejected() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.settle();
    let mut c = craft(&t, sale, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "ticket", "X").unwrap()
    });
    c.envelope.store_id = Some(Uuid::now_v7());
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "wrong_store");
}

#[test]
fn a_change_whose_envelope_was_altered_is_rejected() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.settle();
    let mut c = craft(&t, sale, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "ticket", "X").unwrap()
    });
    c.envelope.created_by_device = t.devices[1].scope.device_id;
    assert_eq!(
        rejected_code(&push(&t, vec![c.clone()])[0]),
        "envelope_mismatch"
    );
    c.envelope = Envelope {
        doc_type: DocType::Shift,
        ..c.envelope
    };
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "envelope_mismatch");
}

#[test]
fn a_kitchen_device_touching_payments_is_rejected() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.devices[0]
        .store
        .add_item(&c0, sale, t.demo.item("KIT-BUR").unwrap(), 1, &[], 1)
        .unwrap();
    t.settle();
    let c = craft(&t, sale, t.demo.kitchen.user_id, |am| {
        pos_sync_testkit::forge_cash_payment(am, 1290, "kim").unwrap()
    });
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "forbidden");
}

#[test]
fn any_edit_to_a_closed_sale_is_rejected() {
    let mut t = Tenant::new(2);
    let (sale, _) = sold_in_cash(&mut t, "COF-ESP", 220);
    let c = craft(&t, sale, t.demo.owner.user_id, |am| {
        am.put(ROOT, "receipt_no", "FAKE").unwrap()
    });
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "frozen");
}

/// Closing a sale that is not fully paid is refused, whether the change saw the whole sale or
/// was made on an older state of it (a concurrent change is judged on its author's view, and
/// there the sale was not paid either).
#[test]
fn closing_an_unpaid_sale_is_rejected() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.devices[0]
        .store
        .scan(&c0, sale, &t.demo.barcodes["COF-ESP"])
        .unwrap();
    t.settle();
    let stale = t.server.lock().unwrap().document(sale).unwrap();
    let close = |am: &mut AutoCommit| {
        am.put(ROOT, "status", "Closed").unwrap();
        am.put(ROOT, "receipt_no", "S01-T2-999999").unwrap();
    };
    let before = log_len(&t);
    let c = craft(&t, sale, t.demo.owner.user_id, close);
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "invalid_document");
    // Another line is added and synced; then a close made on the state before it.
    t.devices[0]
        .store
        .scan(&c0, sale, &t.demo.barcodes["COF-ESP"])
        .unwrap();
    t.settle();
    let mut am = AutoCommit::load(&stale.bytes).unwrap();
    am.set_actor(automerge::ActorId::from(Uuid::now_v7().as_bytes().to_vec()));
    close(&mut am);
    am.commit();
    let ch = am.get_last_local_change().unwrap().clone();
    let concurrent = WireChange {
        envelope: stale.envelope,
        hash: ch.hash().to_string(),
        bytes: ch.raw_bytes().to_vec(),
        author: Author {
            user_id: t.demo.owner.user_id,
            device_id: t.devices[1].scope.device_id,
        },
        signature: None,
    };
    let logged = log_len(&t);
    assert_eq!(
        rejected_code(&push(&t, vec![concurrent])[0]),
        "invalid_document"
    );
    assert_eq!(log_len(&t), logged);
    assert!(logged > before, "the second line was accepted");
    let server = t.server.lock().unwrap();
    match server.typed(sale) {
        Some(AnyDoc::Sale(s)) => assert_eq!(s.status, pos_core::sale::SaleStatus::Open),
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_edit_to_a_z_report_is_rejected() {
    let mut t = Tenant::new(2);
    let m = t.demo.manager;
    t.devices[0].store.open_shift(&m, 0).unwrap();
    let (_, z) = t.devices[0]
        .store
        .close_shift(&m, Default::default())
        .unwrap();
    t.settle();
    let c = craft(&t, z, t.demo.owner.user_id, |am| {
        am.put(ROOT, "counted_cash", 99_999).unwrap()
    });
    assert_eq!(rejected_code(&push(&t, vec![c])[0]), "frozen");
}

#[test]
fn a_refund_beyond_what_was_sold_is_rejected_and_the_device_resets() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let (sale, req) = a_sold_mug_and_its_refund(&mut t);
    let mut refunds = Vec::new();
    for dev in t.devices.iter_mut() {
        dev.online = false;
        let m = dev.store.actor(d.manager.user_id).unwrap();
        refunds.push(
            dev.store
                .refund(&m, sale, &req, Tender::Cash, None, "broken")
                .unwrap(),
        );
        dev.online = true;
    }
    let r0 = t.sync(0).unwrap();
    assert_eq!(r0.rejected, 0);
    let r1 = t.sync(1).unwrap();
    assert_eq!(
        r1.rejected, 1,
        "the second refund of the same mug is refused"
    );
    let problems = t.devices[1].store.sync_problems().unwrap();
    assert_eq!(problems[0].code, "refund_exceeds_sale");
    assert_eq!(
        t.devices[1].store.outbox_len().unwrap(),
        0,
        "the refused change is not retried"
    );
    assert!(
        t.devices[1]
            .store
            .get::<pos_core::refund::Refund>(refunds[1])
            .is_err(),
        "the refused refund is gone"
    );
    t.settle();
    let again = t.sync(1).unwrap();
    assert_eq!(again.pushed, 0, "nothing is sent again");
    let digests = t.digests();
    assert_eq!(digests[0], digests[1]);
}

/// Two refunds of the one mug sold, in one push (two tills' offline refunds, relabelled and
/// sent by one device): the refunds of a sale are merged one after the other, so the second
/// sees the first and is refused, even though documents otherwise merge in parallel.
#[test]
fn two_refunds_of_one_sale_in_one_push_cannot_exceed_it() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let (sale, req) = a_sold_mug_and_its_refund(&mut t);
    let pusher = t.devices[1].scope.device_id;
    let mut batch = Vec::new();
    for dev in t.devices.iter_mut() {
        let m = dev.store.actor(d.manager.user_id).unwrap();
        dev.store
            .refund(&m, sale, &req, Tender::Cash, None, "broken")
            .unwrap();
        for mut c in pos_sync::device::wire_changes(&dev.store.outbox_batch(100).unwrap(), pusher) {
            c.envelope.created_by_device = pusher;
            batch.push(c);
        }
    }
    let before = log_len(&t);
    let r = push(&t, batch);
    let accepted = r
        .iter()
        .filter(|x| matches!(x, PushResult::Accepted { .. }))
        .count();
    let refused: Vec<&str> = r
        .iter()
        .filter(|x| matches!(x, PushResult::Rejected { .. }))
        .map(rejected_code)
        .collect();
    assert!(accepted >= 1, "{r:?}");
    assert!(refused.contains(&"refund_exceeds_sale"), "{r:?}");
    assert_eq!(log_len(&t), before + accepted);
    let refunded_docs = t
        .server
        .lock()
        .unwrap()
        .log
        .iter()
        .skip(before)
        .filter(|c| c.1.doc_type == DocType::Refund)
        .map(|c| c.1.doc_id)
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(refunded_docs.len(), 1, "one refund of the one mug");
}

#[test]
fn a_change_with_missing_dependencies_is_answered_retry_after() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let snap = t.server.lock().unwrap().document(latte).unwrap();
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
            user_id: t.demo.manager.user_id,
            device_id: t.devices[1].scope.device_id,
        },
        signature: None,
    };
    match &push(&t, vec![wc(&second)])[0] {
        PushResult::RetryAfter { missing, .. } => {
            assert_eq!(missing, &vec![first.hash().to_string()])
        }
        other => panic!("expected retry after, got {other:?}"),
    }
    assert_eq!(price_on_server(&t, latte), 350);
    let r = push(&t, vec![wc(&first), wc(&second)]);
    assert!(
        r.iter().all(|x| matches!(x, PushResult::Accepted { .. })),
        "{r:?}"
    );
    assert_eq!(price_on_server(&t, latte), 370);
}

#[test]
fn a_duplicate_push_is_answered_with_the_first_sequence() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let c = craft(&t, latte, t.demo.manager.user_id, |am| {
        am.put(ROOT, "price", 360).unwrap()
    });
    let seq = match &push(&t, vec![c.clone()])[0] {
        PushResult::Accepted { seq, .. } => *seq,
        other => panic!("{other:?}"),
    };
    let before = log_len(&t);
    assert_eq!(
        push(&t, vec![c.clone(), c.clone()]),
        vec![
            PushResult::Duplicate {
                hash: c.hash.clone(),
                seq
            },
            PushResult::Duplicate {
                hash: c.hash.clone(),
                seq
            },
        ]
    );
    assert_eq!(log_len(&t), before, "counted once");
}

/// Two different changes with the same actor and sequence number (a device that reset a document
/// and kept its actor id, or a forged change) would corrupt the operation ids of the server's
/// copy: the second is refused, in the same push or a later one, and the first one stands.
#[test]
fn a_change_reusing_an_actor_sequence_number_is_rejected() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let snap = t.server.lock().unwrap().document(latte).unwrap();
    let actor = automerge::ActorId::from(Uuid::now_v7().as_bytes().to_vec());
    let same_actor_sets_price = |price: i64| {
        let mut am = AutoCommit::load(&snap.bytes).unwrap();
        am.set_actor(actor.clone());
        am.put(ROOT, "price", price).unwrap();
        am.commit();
        let ch = am.get_last_local_change().unwrap();
        WireChange {
            envelope: snap.envelope,
            hash: ch.hash().to_string(),
            bytes: ch.raw_bytes().to_vec(),
            author: Author {
                user_id: t.demo.manager.user_id,
                device_id: t.devices[1].scope.device_id,
            },
            signature: None,
        }
    };
    let (first, twin, later_twin) = (
        same_actor_sets_price(360),
        same_actor_sets_price(1),
        same_actor_sets_price(2),
    );
    assert_ne!(first.hash, twin.hash);
    let r = push(&t, vec![first, twin]);
    assert!(matches!(r[0], PushResult::Accepted { .. }), "{r:?}");
    assert_eq!(rejected_code(&r[1]), "malformed");
    let before = log_len(&t);
    assert_eq!(rejected_code(&push(&t, vec![later_twin])[0]), "malformed");
    assert_eq!(price_on_server(&t, latte), 360);
    assert_eq!(log_len(&t), before);
}

#[test]
fn changes_authored_on_another_device_malformed_or_mislabelled_are_rejected() {
    let t = Tenant::new(2);
    let latte = t.demo.item("COF-LAT").unwrap();
    let mut other_device = craft(&t, latte, t.demo.manager.user_id, |am| {
        am.put(ROOT, "price", 1).unwrap()
    });
    other_device.author.device_id = t.devices[0].scope.device_id;
    let mut garbage = craft(&t, latte, t.demo.manager.user_id, |am| {
        am.put(ROOT, "price", 2).unwrap()
    });
    garbage.bytes = vec![1, 2, 3];
    let mut wrong_hash = craft(&t, latte, t.demo.manager.user_id, |am| {
        am.put(ROOT, "price", 3).unwrap()
    });
    wrong_hash.hash = "00".repeat(32);
    let unknown_user = craft(&t, latte, Uuid::now_v7(), |am| {
        am.put(ROOT, "price", 4).unwrap()
    });
    let smuggled = craft(&t, latte, t.demo.owner.user_id, |am| {
        am.put(ROOT, "free_for_me", true).unwrap()
    });
    let r = push(
        &t,
        vec![other_device, garbage, wrong_hash, unknown_user, smuggled],
    );
    let codes: Vec<&str> = r.iter().map(rejected_code).collect();
    assert_eq!(
        codes,
        vec![
            "device_mismatch",
            "malformed",
            "hash_mismatch",
            "unknown_user",
            "unknown_field"
        ]
    );
    assert_eq!(price_on_server(&t, latte), 350);
}

#[test]
fn a_rejected_change_resets_the_document_on_the_device_and_is_never_resent() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    // The server demotes Maria to cashier; device 1 does not know yet.
    t.server.lock().unwrap().add_staff(
        t.store_id,
        d.manager.user_id,
        "Maria Manager",
        Role::Cashier,
        None,
    );
    let latte = d.item("COF-LAT").unwrap();
    let dev = &mut t.devices[1];
    let m = dev.store.actor(d.manager.user_id).unwrap();
    dev.store
        .update_item(&m, latte, |i| {
            i.price = 1;
            Ok(())
        })
        .unwrap();
    dev.store
        .update_item(&m, latte, |i| {
            i.name = "Cheap latte".into();
            Ok(())
        })
        .unwrap();
    let r = t.sync(1).unwrap();
    assert_eq!(r.rejected, 1);
    let dev = &mut t.devices[1];
    let item: Item = dev.store.get(latte).unwrap();
    assert_eq!(
        (item.price, item.name.as_str()),
        (350, "Latte"),
        "back to the server's state"
    );
    assert_eq!(
        dev.store.outbox_len().unwrap(),
        0,
        "the change built on the refused one went too"
    );
    assert_eq!(dev.store.sync_problems().unwrap().len(), 1);
    let again = t.sync(1).unwrap();
    assert_eq!(again.pushed, 0);
    // and the device keeps working on the document with a fresh actor
    let owner = t.devices[1].store.actor(d.owner.user_id).unwrap();
    t.devices[1]
        .store
        .update_item(&owner, latte, |i| {
            i.price = 355;
            Ok(())
        })
        .unwrap();
    assert_eq!(t.sync(1).unwrap().accepted, 1);
    assert_eq!(price_on_server(&t, latte), 355);
}

#[test]
fn a_revoked_device_is_refused_and_keeps_its_outbox() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let c = t.devices[1].store.actor(d.cashier.user_id).unwrap();
    let sale = t.devices[1].store.open_sale(&c, None).unwrap();
    t.devices[1]
        .store
        .scan(&c, sale, &d.barcodes["COF-ESP"])
        .unwrap();
    let dev_id = t.devices[1].scope.device_id;
    t.server.lock().unwrap().revoked.push(dev_id);
    let pending = t.devices[1].store.outbox_len().unwrap();
    let err = t.sync(1).unwrap_err();
    assert!(err.to_string().contains("not authorized"), "{err}");
    assert_eq!(t.devices[1].store.outbox_len().unwrap(), pending);
    assert!(!t.devices[1]
        .engine
        .status()
        .last_error
        .clone()
        .unwrap_or_default()
        .is_empty());
    let _ = MemoryTransport {
        server: &t.server,
        scope: t.devices[1].scope,
        online: true,
    };
}

/// Found by fuzzing (`merge_changes`, fuzz/regressions/merge_changes/): two copies of an
/// unreadable change in one push. The first is refused; the in-memory server answered the second
/// "duplicate", which a device takes as "the server has it" and drops from its outbox. Both
/// servers now answer through `merge::answers`: a copy gets its first copy's answer.
#[test]
fn a_refused_change_sent_twice_in_one_push_is_not_answered_duplicate() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let sale = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.settle();
    let mut c = craft(&t, sale, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "ticket", "X").unwrap()
    });
    c.bytes = Vec::new();
    let before = log_len(&t);
    let results = push(&t, vec![c.clone(), c]);
    assert_eq!(rejected_code(&results[0]), rejected_code(&results[1]));
    assert_eq!(log_len(&t), before);
}

/// Found while fixing the above: a change claiming the hash of another document's change in
/// the same push was answered as that change's duplicate, unread (and, matched by document
/// alone, the same change would be merged into two documents: fuzzing, `merge_changes`). The
/// same hash for another document in one push is refused.
#[test]
fn a_change_claiming_another_documents_change_hash_is_not_its_duplicate() {
    let mut t = Tenant::new(2);
    let c0 = t.devices[0].store.actor(t.demo.cashier.user_id).unwrap();
    let first = t.devices[0].store.open_sale(&c0, None).unwrap();
    let second = t.devices[0].store.open_sale(&c0, None).unwrap();
    t.settle();
    let a = craft(&t, first, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "ticket", "A").unwrap()
    });
    let mut b = craft(&t, second, t.demo.cashier.user_id, |am| {
        am.put(ROOT, "ticket", "B").unwrap()
    });
    b.hash = a.hash.clone();
    let results = push(&t, vec![a, b]);
    assert!(
        matches!(results[0], PushResult::Accepted { .. }),
        "{results:?}"
    );
    assert_eq!(rejected_code(&results[1]), "hash_reused");
}

/// The "a refused refund must not have handed cash out unnoticed": a till refunds a
/// mug in cash offline while another till refunded it already; the cloud refuses the second
/// refund. On its till the refusal is listed, and the drawer's expected cash counts the mug's
/// cash again, so the cash handed out shows as a shortage when the drawer is counted.
#[test]
fn a_refused_cash_refund_is_listed_and_its_cash_is_expected_back_in_the_drawer() {
    let mut t = Tenant::new(2);
    let d = t.demo.clone();
    let (sale, req) = a_sold_mug_and_its_refund(&mut t);
    let m1 = t.devices[1].store.actor(d.manager.user_id).unwrap();
    if t.devices[1].store.open_shift_id().unwrap().is_none() {
        t.devices[1].store.open_shift(&m1, 10_000).unwrap();
    }
    let before = t.devices[1].store.x_report().unwrap().expected_cash;
    let m0 = t.devices[0].store.actor(d.manager.user_id).unwrap();
    t.devices[0]
        .store
        .refund(&m0, sale, &req, Tender::Cash, None, "broken")
        .unwrap();
    t.devices[1].online = false;
    t.devices[1]
        .store
        .refund(&m1, sale, &req, Tender::Cash, None, "broken")
        .unwrap();
    let handed_out = before - t.devices[1].store.x_report().unwrap().expected_cash;
    assert_eq!(handed_out, 1200, "the till paid the mug's price out");
    t.sync(0).unwrap();
    t.devices[1].online = true;
    let r = t.sync(1).unwrap();
    assert_eq!(r.rejected, 1, "{r:?}");
    assert!(t.devices[1]
        .store
        .sync_problems()
        .unwrap()
        .iter()
        .any(|p| p.code == "refund_exceeds_sale"));
    assert_eq!(
        t.devices[1].store.x_report().unwrap().expected_cash,
        before,
        "the drawer is expected to hold the mug's cash again: counting it shows 12.00 short"
    );
}
