//! `push_body` and `merge_changes`: what a device (or anyone holding a device token) can send
//! the server's push route, through the route's own decoding (`wire::decode_json`,
//! `PushRequest::check`) and the merge engine (`merge::merge`, run by the in-memory server,
//! which answers with the Postgres server's `merge::answers`) against a store that has a catalog, stock, a shift,
//! a closed sale, a refund of it and an open sale.
//!
//! The store is `fixtures/server.json`: the pushes a demo till made (recorded once by
//! `fuzz-seeds fixture`), replayed into a fresh in-memory server once per process, so every run
//! sees the same documents and the same change hashes.
//!
//! After each push: one answer per change, in order, for its hash; the change log grew by the
//! accepted changes exactly, holds no change twice for a document, and holds every change
//! answered accepted or duplicate (a device drops those from its outbox: anything else is a lost
//! sale); every document the push touched still loads; and the same push sent again accepts
//! nothing it accepted before (a doubled sale), answering each with the sequence it got.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use automerge::AutoCommit;
use pos_core::auth::Role;
use pos_core::doc::{DocType, Envelope};
use pos_sync::memory::MemoryServer;
use pos_sync::merge::{load_master, Scope};
use pos_sync::wire::{self, Author, PushRequest, PushResult, WireChange, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a demo till pushed: its identity, the store's staff, and its pushes in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerFixture {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    pub staff: Vec<(Uuid, String, Role)>,
    pub pushes: Vec<PushRequest>,
}

/// The fixture, replayed into a server.
pub struct Built {
    pub server: MemoryServer,
    pub scope: Scope,
    /// Every document, by id.
    pub docs: Vec<Envelope>,
    pub users: Vec<Uuid>,
    /// Every change the server holds, in log order.
    pub hashes: Vec<String>,
}

const FIXTURE: &str = include_str!("../fixtures/server.json");

/// The fixture's server, built once per process.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let f: ServerFixture = serde_json::from_str(FIXTURE).expect("fixtures/server.json");
        build(&f)
    })
}

/// Replays a fixture into a new in-memory server; every change must be accepted.
pub fn build(f: &ServerFixture) -> Built {
    let mut server = MemoryServer::new(f.tenant_id);
    for (id, name, role) in &f.staff {
        server.add_staff(f.store_id, *id, name, *role, None);
    }
    let scope = Scope {
        tenant_id: f.tenant_id,
        store_id: f.store_id,
        device_id: f.device_id,
        kind: pos_core::auth::DeviceKind::Till,
    };
    // One change a push: the in-memory server reads a store's settings from what it holds
    // before the batch.
    for c in f.pushes.iter().flat_map(|p| &p.changes) {
        let one = PushRequest {
            protocol: PROTOCOL_VERSION,
            changes: vec![c.clone()],
        };
        for r in server.push(&scope, &one).results {
            assert!(
                matches!(r, PushResult::Accepted { .. }),
                "fixture change refused: {r:?}"
            );
        }
    }
    let mut docs: Vec<Envelope> = server.docs.values().map(|d| d.envelope).collect();
    docs.sort_by_key(|e| e.doc_id);
    let hashes = server.log.iter().map(|l| l.2.clone()).collect();
    Built {
        users: f.staff.iter().map(|s| s.0).collect(),
        server,
        scope,
        docs,
        hashes,
    }
}

/// A push body as the push route reads it: decoded, checked, merged.
pub fn push_body(data: &[u8]) {
    let Ok(req) = wire::decode_json::<PushRequest>(data) else {
        return;
    };
    if req.check().is_err() {
        return;
    }
    let b = built();
    let mut server = b.server.clone();
    check_push(&mut server, &b.scope, &req);
}

/// A document id the fixture does not have, for a new document of the `n`th kind.
fn new_doc(b: &Built, n: usize) -> Envelope {
    let doc_type = DocType::ALL[n % DocType::ALL.len()];
    let catalog = matches!(doc_type, DocType::Category | DocType::Item);
    Envelope {
        doc_id: Uuid::from_u128(0x5eed_0000_0000_7000_8000_0000_0000_0000 + n as u128),
        tenant_id: b.scope.tenant_id,
        store_id: (!catalog).then_some(b.scope.store_id),
        doc_type,
        created_by_device: b.scope.device_id,
    }
}

/// Rewrites an automerge chunk's checksum to match its contents (when it has a chunk header),
/// so the fuzzer gets past the checksum into the change decoder.
pub fn fix_checksum(bytes: &mut [u8]) {
    if bytes.len() < 10 || bytes[..4] != [0x85, 0x6f, 0x4a, 0x83] {
        return;
    }
    let mut at = 9;
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let Some(b) = bytes.get(at) else { return };
        at += 1;
        if shift > 56 {
            return;
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let Some(data) = usize::try_from(len)
        .ok()
        .and_then(|l| bytes.get(at..at.checked_add(l)?))
    else {
        return;
    };
    let mut h = Sha256::new();
    h.update([bytes[8]]);
    let mut n = len;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            h.update([b]);
            break;
        }
        h.update([b | 0x80]);
    }
    h.update(data);
    let sum = h.finalize();
    bytes[4..8].copy_from_slice(&sum[..4]);
}

/// One record of a `merge_changes` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Which document: an index into the fixture's documents, or past them a new document.
    pub doc: u8,
    /// bit 0: fix the chunk checksum; bits 1-2: the hash sent (0, 1 the change's own, 2 a
    /// change the server holds, 3 not hex); bits 3-5: the author (a staff member, or past
    /// them someone unknown); bit 6: sent from another device; bit 7: unused.
    pub flags: u8,
    pub bytes: Vec<u8>,
}

/// Splits an input into records: `doc`, `flags`, a little-endian `u16` length, that many bytes
/// (fewer at the end of the input). At most [`wire::MAX_PUSH_CHANGES`] records.
pub fn records(mut data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while data.len() >= 4 && out.len() < wire::MAX_PUSH_CHANGES {
        let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
        let end = (4 + len).min(data.len());
        out.push(Record {
            doc: data[0],
            flags: data[1],
            bytes: data[4..end].to_vec(),
        });
        data = &data[end..];
    }
    out
}

/// The inverse of [`records`].
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.push(r.doc);
        out.push(r.flags);
        out.extend_from_slice(&(r.bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(&r.bytes);
    }
    out
}

/// Turns records into the changes of a push.
pub fn changes(b: &Built, records: &[Record]) -> Vec<WireChange> {
    let stranger = Uuid::from_u128(0x5eed_0000_0000_7000_8000_0000_0000_ffff);
    let other_device = Uuid::from_u128(0x5eed_0000_0000_7000_8000_0000_0000_fffe);
    records
        .iter()
        .map(|r| {
            let n = usize::from(r.doc);
            let envelope = match b.docs.get(n) {
                Some(e) => *e,
                None => new_doc(b, n - b.docs.len()),
            };
            let mut bytes = r.bytes.clone();
            if r.flags & 1 != 0 {
                fix_checksum(&mut bytes);
            }
            let hash = match (r.flags >> 1) & 3 {
                2 if !b.hashes.is_empty() => b.hashes[n % b.hashes.len()].clone(),
                3 => "not a hash".to_string(),
                _ => match pos_core::doc::change_from_bytes(bytes.clone()) {
                    Ok(c) => c.hash().to_string(),
                    Err(_) => hex::encode(Sha256::digest(&bytes)),
                },
            };
            let who = usize::from((r.flags >> 3) & 7);
            WireChange {
                envelope,
                hash,
                bytes,
                author: Author {
                    user_id: b.users.get(who).copied().unwrap_or(stranger),
                    device_id: if r.flags & 0x40 != 0 {
                        other_device
                    } else {
                        b.scope.device_id
                    },
                },
                signature: None,
            }
        })
        .collect()
}

/// Raw change bytes (see [`records`]) pushed as changes of the fixture's documents and of new
/// ones.
pub fn merge_changes(data: &[u8]) {
    let b = built();
    let req = PushRequest {
        protocol: PROTOCOL_VERSION,
        changes: changes(b, &records(data)),
    };
    let mut server = b.server.clone();
    check_push(&mut server, &b.scope, &req);
}

/// Pushes `req` twice and checks the answers and the server (see the module docs).
pub fn check_push(server: &mut MemoryServer, scope: &Scope, req: &PushRequest) {
    let before = server.log.len();
    let first = server.push(scope, req).results;
    check_answers(server, req, &first);
    let accepted = first
        .iter()
        .filter(|r| matches!(r, PushResult::Accepted { .. }))
        .count();
    assert_eq!(
        server.log.len(),
        before + accepted,
        "the change log grew by the accepted changes"
    );
    let mid = server.log.len();
    let again = server.push(scope, req).results;
    check_answers(server, req, &again);
    for (i, (a, b)) in first.iter().zip(&again).enumerate() {
        if let PushResult::Accepted { seq, .. } = a {
            match b {
                PushResult::Duplicate { seq: s, .. } => {
                    assert_eq!(s, seq, "change {i}: a resend names the sequence it got")
                }
                other => panic!("change {i} accepted, then on resend: {other:?}"),
            }
        }
    }
    let newly = again
        .iter()
        .filter(|r| matches!(r, PushResult::Accepted { .. }))
        .count();
    assert_eq!(server.log.len(), mid + newly);
}

fn check_answers(server: &MemoryServer, req: &PushRequest, results: &[PushResult]) {
    assert_eq!(results.len(), req.changes.len(), "one answer per change");
    // Once per document. (The same change under two documents, in two pushes, is not caught
    // by the merge, which never looks up hashes tenant-wide: the Postgres server's unique key
    // on the tenant's change hashes refuses that second push whole.)
    let mut seen = HashSet::new();
    let logged: HashMap<(Uuid, &str), i64> = server
        .log
        .iter()
        .map(|l| {
            assert!(
                seen.insert((l.1.doc_id, &l.2)),
                "change {} logged twice for document {}",
                l.2,
                l.1.doc_id
            );
            ((l.1.doc_id, l.2.as_str()), l.0)
        })
        .collect();
    for (i, (r, c)) in results.iter().zip(&req.changes).enumerate() {
        assert_eq!(r.hash(), c.hash, "answer {i} is for change {i}");
        if let PushResult::Accepted { seq, .. } | PushResult::Duplicate { seq, .. } = r {
            // The device drops it from its outbox: the server must hold it, under that number.
            assert_eq!(
                logged.get(&(c.envelope.doc_id, c.hash.as_str())),
                Some(seq),
                "change {i} answered {r:?} but the change log holds it not so"
            );
        }
    }
    let touched: HashSet<Uuid> = req.changes.iter().map(|c| c.envelope.doc_id).collect();
    for id in touched {
        if let Some(d) = server.docs.get(&id) {
            if let Err(e) = load_master(d) {
                panic!("document {id} no longer loads: {e}");
            }
        }
    }
}

/// Records the fixture: a demo till's store (staff, settings, catalog, stock), a shift, a sale
/// paid in cash, a refund of one of its lines, and a sale left open, as the till pushes them.
pub fn record_fixture() -> ServerFixture {
    use pos_core::money::{Currency, Money};
    use pos_core::refund::RefundRequest;
    use pos_core::sale::Tender;
    use pos_core::store::{DeviceIdentity, Store};

    let dir = tempfile::tempdir().expect("tempdir");
    let (tenant_id, store_id, device_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut store = Store::create(
        &dir.path().join("till.sqlite"),
        DeviceIdentity {
            tenant_id,
            store_id,
            device_id,
            store_code: "S01".into(),
            device_code: "T1".into(),
            kind: pos_core::auth::DeviceKind::Till,
        },
    )
    .expect("create");
    let demo = pos_core::demo::seed_store(&mut store).expect("seed");
    let eur = |minor| Money::new(minor, Currency::from_code("EUR").expect("EUR"));
    let cashier = demo.cashier;
    store.open_shift(&cashier, 10_000).expect("shift");
    let skus: Vec<Uuid> = demo.items.values().copied().take(3).collect();
    let sale = store.open_sale(&cashier, None).expect("sale");
    for item in &skus[..2] {
        store
            .add_item(&cashier, sale, *item, 2, &[], 0)
            .expect("line");
    }
    store
        .pay(&cashier, sale, Tender::Cash, eur(100_000), None)
        .expect("pay");
    let line = store
        .get::<pos_core::sale::Sale>(sale)
        .expect("the sale")
        .lines
        .keys()
        .next()
        .cloned()
        .expect("a line");
    store
        .refund(
            &demo.manager,
            sale,
            &[RefundRequest {
                sale_line_id: line,
                qty: 1,
                restock: true,
            }],
            Tender::Cash,
            None,
            "fixture",
        )
        .expect("refund");
    let open = store.open_sale(&cashier, None).expect("open sale");
    store
        .add_item(&cashier, open, skus[2], 1, &[], 0)
        .expect("line");
    let staff = store.staff().expect("staff");
    let changes: Vec<WireChange> = store
        .outbox_batch(wire::MAX_PUSH_CHANGES)
        .expect("outbox")
        .into_iter()
        .map(|e| WireChange {
            envelope: e.envelope,
            hash: e.hash,
            bytes: e.bytes,
            author: Author {
                user_id: e.user_id,
                device_id,
            },
            signature: None,
        })
        .collect();
    ServerFixture {
        tenant_id,
        store_id,
        device_id,
        staff,
        pushes: vec![PushRequest {
            protocol: PROTOCOL_VERSION,
            changes,
        }],
    }
}

/// Loads a document of the fixture's server for editing, under a fixed actor.
pub fn editable(b: &Built, doc_id: Uuid) -> Option<AutoCommit> {
    let d = b.server.docs.get(&doc_id)?;
    let (mut am, _) = load_master(d).ok()?;
    am.set_actor(automerge::ActorId::from(vec![0x5e; 16]));
    Some(am)
}
