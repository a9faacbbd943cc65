//! Throughput of the merge engine alone (authorization, apply, diff, projection rows), on
//! realistic changes: a device sells a busy offline day, then pushes it in batches.
//! Run: `cargo bench -p pos-sync --bench merge`. The Postgres-backed figure is the server's.

use std::sync::Mutex;

/// The server's allocator (see apps/sync-server/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{wire_changes, SyncEngine, Transport};
use pos_sync::memory::{MemoryServer, MemoryTransport};
use pos_sync::merge::Scope;
use pos_sync::wire::{PushRequest, WireChange, PROTOCOL_VERSION};
use uuid::Uuid;

const SALES: usize = 1_000;
const BATCH: usize = 500;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (tenant_id, store_id) = (Uuid::now_v7(), Uuid::now_v7());
    let ident = |n: usize| DeviceIdentity {
        tenant_id,
        store_id,
        device_id: Uuid::now_v7(),
        store_code: "S01".into(),
        device_code: format!("T{n}"),
        kind: pos_core::auth::DeviceKind::Till,
    };
    // Device 1 seeds the store and pushes it.
    let mut seed = Store::create(&dir.path().join("seed.sqlite"), ident(1)).expect("store");
    let d = pos_core::demo::seed_store(&mut seed).expect("seed");
    let mut server = MemoryServer::new(tenant_id);
    for (id, name, role) in seed.staff().expect("staff") {
        server.add_staff(store_id, id, &name, role, None);
    }
    let server = Mutex::new(server);
    let seed_scope = Scope {
        tenant_id,
        store_id,
        device_id: seed.identity().device_id,
        kind: seed.identity().kind,
    };
    SyncEngine::new()
        .sync_once(
            &mut seed,
            &mut MemoryTransport {
                server: &server,
                scope: seed_scope,
                online: true,
            },
        )
        .expect("seed sync");

    // Device 2 sells a busy offline day.
    let mut dev = Store::create(&dir.path().join("dev.sqlite"), ident(2)).expect("store");
    let scope = Scope {
        tenant_id,
        store_id,
        device_id: dev.identity().device_id,
        kind: dev.identity().kind,
    };
    let mut engine = SyncEngine::new();
    engine
        .bootstrap(
            &mut dev,
            &mut MemoryTransport {
                server: &server,
                scope,
                online: true,
            },
            |_, _| {},
        )
        .expect("bootstrap");
    let c = dev.actor(d.cashier.user_id).expect("cashier");
    let eur = Currency::from_code("EUR").expect("eur");
    let skus = [
        "COF-LAT", "BAK-CRO", "KIT-BUR", "RET-MUG", "TEA-GRN", "COF-ESP",
    ];
    let t = Instant::now();
    for n in 0..SALES {
        let sale = dev
            .open_sale(
                &c,
                if n % 5 == 0 {
                    Some(format!("Table {}", n % 12))
                } else {
                    None
                },
            )
            .expect("open");
        for k in 0..7 {
            dev.add_item(
                &c,
                sale,
                d.item(skus[(n + k) % skus.len()]).expect("item"),
                1,
                &[],
                1,
            )
            .expect("add");
        }
        let due = dev
            .get::<Sale>(sale)
            .expect("sale")
            .totals()
            .expect("totals")
            .due;
        dev.pay(
            &c,
            sale,
            Tender::Card,
            Money::new(due - 100, eur),
            Some("R".into()),
        )
        .expect("pay card");
        dev.pay(&c, sale, Tender::Cash, Money::new(500, eur), None)
            .expect("pay cash");
    }
    let selling = t.elapsed();
    let entries = dev.outbox_batch(usize::MAX >> 1).expect("outbox");
    let changes: Vec<WireChange> = wire_changes(&entries, scope.device_id);
    println!(
        "offline day: {SALES} sales, {} changes, written locally in {:.2} s",
        changes.len(),
        selling.as_secs_f64()
    );

    // Baselines in the same run, one change at a time, on one core: automerge apply + diff of
    // before and after (the anchor, a scan of the document), and apply + the indexed
    // incremental diff that the merge engine uses.
    let t = Instant::now();
    let mut docs: std::collections::HashMap<Uuid, automerge::AutoCommit> = Default::default();
    for c in changes.iter().take(2_000) {
        let am = docs.entry(c.envelope.doc_id).or_default();
        let before = am.get_heads();
        am.apply_changes([automerge::Change::from_bytes(c.bytes.clone()).expect("change")])
            .expect("apply");
        let after = am.get_heads();
        let _ = am.diff(&before, &after);
    }
    let full_per = t.elapsed().as_secs_f64() / 2_000f64;
    let t = Instant::now();
    let mut docs: std::collections::HashMap<Uuid, automerge::AutoCommit> = Default::default();
    for c in changes.iter().take(2_000) {
        let am = docs.entry(c.envelope.doc_id).or_insert_with(|| {
            let mut am = automerge::AutoCommit::new();
            am.update_diff_cursor();
            am
        });
        am.apply_changes([automerge::Change::from_bytes(c.bytes.clone()).expect("change")])
            .expect("apply");
        let _ = am.diff_incremental();
    }
    let base_per = t.elapsed().as_secs_f64() / 2_000f64;
    println!(
        "baseline: apply + diff of before and after, one core: {:.1} µs per change",
        full_per * 1e6
    );
    println!(
        "baseline: apply + incremental (indexed) diff, one core: {:.1} µs per change",
        base_per * 1e6
    );

    // The merge engine, in batches, on a fresh server copy.
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let mut accepted = 0;
    {
        let mut tr = MemoryTransport {
            server: &server,
            scope,
            online: true,
        };
        for chunk in changes.chunks(BATCH) {
            let r = tr
                .push(&PushRequest {
                    protocol: PROTOCOL_VERSION,
                    changes: chunk.to_vec(),
                })
                .expect("push");
            accepted += r
                .results
                .iter()
                .filter(|x| matches!(x, pos_sync::wire::PushResult::Accepted { .. }))
                .count();
        }
    }
    let el = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(accepted, changes.len(), "every change accepted");
    println!(
        "merge engine (authorize + apply + diff + projection rows, in memory), batches of {BATCH}: {:.0} changes/s ({:.1} µs per change, {:.1}× the apply + incremental diff baseline)",
        changes.len() as f64 / el,
        el / changes.len() as f64 * 1e6,
        (el / changes.len() as f64) / base_per
    );
    println!(
        "  process CPU time during the merge (both cores): {:.1} µs per change",
        cpu / changes.len() as f64 * 1e6
    );
}

/// User + system CPU seconds of this process so far, from /proc (10 ms resolution). Wall time
/// on a shared 2-core machine is noisy; CPU time shows what the work costs.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (in parentheses), utime is the 12th field and stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}
