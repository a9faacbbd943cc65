//! `fault-till`: one till of the fault campaign (`tests/faults_e2e.rs`) as a process of its own,
//! so that the campaign can `kill -9` it at any instant and start it again on the same files.
//!
//! The first start enrols with `--code` (into `enrolling.sqlite`, moved to `till.sqlite` once
//! bootstrapped, then `credential.json` written last); every later start opens `till.sqlite`
//! and the credential. It then sells one-item cash sales with the real store (`pos-core`) until
//! the store holds `--sales` closed sales of this device, syncing with the real engine
//! (`pos-sync`, HTTP) through `--server` every few sales, and finally syncs until its outbox is
//! empty. A sale left open by a kill is paid first, so no sale stays open.
//!
//! It tells the campaign what it does, one line on stdout each (flushed per line):
//! `ready <device_id>`, `write` (a sale's writes begin), `sold <sale_id> <receipt_no>` (its
//! closing write committed), `push` (a sync round begins), `synced <pushed> <duplicates>` or
//! `unsynced <error>`, `done`.
//!
//! ```sh
//! fault-till --dir D --server http://127.0.0.1:PORT --code CODE --cashier UUID --item UUID \
//!     --sales 100 --sync-every 3
//! ```

use std::path::Path;
use std::time::Duration;

use e2e::bin::{arg as one, say};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::SyncEngine;
use pos_sync::http::{enrol, DeviceCredential, HttpTransport};
use uuid::Uuid;

/// Enrols once: the store is bootstrapped under another name and renamed when complete, and
/// the credential, written last, says that enrolment finished.
fn enrol_once(dir: &Path, server: &str, code: &str) -> DeviceCredential {
    let partial = dir.join("enrolling.sqlite");
    for f in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{f}", partial.display()));
    }
    let (e, cred) = enrol(server, code, "fault till").expect("enrol");
    {
        let mut store = Store::create(
            &partial,
            DeviceIdentity {
                tenant_id: e.tenant_id,
                store_id: e.store_id,
                device_id: e.device_id,
                store_code: e.store_code,
                device_code: e.device_code,
                kind: e.kind,
            },
        )
        .expect("store");
        let mut http = HttpTransport::new(cred.clone());
        SyncEngine::new()
            .bootstrap(&mut store, &mut http, |_, _| {})
            .expect("bootstrap");
    }
    std::fs::rename(&partial, dir.join("till.sqlite")).expect("move the store");
    let tmp = dir.join("credential.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&cred).expect("json")).expect("credential");
    std::fs::rename(&tmp, dir.join("credential.json")).expect("credential");
    cred
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(one(&args, "--dir"));
    let server = one(&args, "--server");
    let cashier: Uuid = one(&args, "--cashier").parse().expect("--cashier");
    let item: Uuid = one(&args, "--item").parse().expect("--item");
    let target: usize = one(&args, "--sales").parse().expect("--sales");
    let sync_every: usize = one(&args, "--sync-every").parse().expect("--sync-every");
    std::fs::create_dir_all(&dir).expect("--dir");

    let cred_file = dir.join("credential.json");
    let mut cred: DeviceCredential = match std::fs::read(&cred_file) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("credential.json"),
        Err(_) => enrol_once(&dir, &server, &one(&args, "--code")),
    };
    // The campaign may move the server behind another address (its fault proxy).
    cred.server = server.trim_end_matches('/').to_string();
    let mut store = Store::open(&dir.join("till.sqlite")).expect("open the store");
    let mut http = HttpTransport::new(cred);
    let mut engine = SyncEngine::new();
    let me = store.identity().device_id;
    let actor = store.actor(cashier).expect("the cashier is staff here");
    if store.open_shift_id().expect("shift").is_none() {
        store.open_shift(&actor, 10_000).expect("open shift");
    }
    let currency =
        Currency::from_code(&store.settings().expect("settings").currency).expect("currency");
    say(&format!("ready {me}"));

    // A sale a kill interrupted: pay it (with its item if it has none yet).
    let own_open: Vec<Uuid> = store
        .open_sales()
        .expect("open sales")
        .into_iter()
        .filter(|s| {
            store
                .envelope(s.id)
                .map(|e| e.created_by_device == me)
                .unwrap_or(false)
        })
        .map(|s| s.id)
        .collect();
    for sale in own_open {
        say("write");
        if store.get::<Sale>(sale).expect("sale").lines.is_empty() {
            store
                .add_item(&actor, sale, item, 1, &[], 1)
                .expect("add item");
        }
        let due = store
            .get::<Sale>(sale)
            .expect("sale")
            .totals()
            .expect("totals")
            .due;
        let receipt = store
            .pay(&actor, sale, Tender::Cash, Money::new(due, currency), None)
            .expect("pay")
            .receipt_no
            .expect("a paid sale closes");
        say(&format!("sold {sale} {receipt}"));
    }

    let mine = |store: &Store| -> usize {
        store
            .closed_sales(i64::MAX)
            .expect("closed sales")
            .into_iter()
            .filter(|s| {
                store
                    .envelope(s.id)
                    .map(|e| e.created_by_device == me)
                    .unwrap_or(false)
            })
            .count()
    };
    let mut sold = mine(&store);
    let mut since_sync = 0;
    let mut sync = |store: &mut Store| -> bool {
        say("push");
        match engine.sync_once(store, &mut http) {
            Ok(r) => {
                say(&format!("synced {} {}", r.pushed, r.duplicates));
                true
            }
            Err(e) => {
                say(&format!("unsynced {}", e.to_string().replace('\n', " ")));
                false
            }
        }
    };
    while sold < target {
        say("write");
        let sale = store.open_sale(&actor, None).expect("open sale");
        store
            .add_item(&actor, sale, item, 1, &[], 1)
            .expect("add item");
        let due = store
            .get::<Sale>(sale)
            .expect("sale")
            .totals()
            .expect("totals")
            .due;
        let receipt = store
            .pay(&actor, sale, Tender::Cash, Money::new(due, currency), None)
            .expect("pay")
            .receipt_no
            .expect("a paid sale closes");
        say(&format!("sold {sale} {receipt}"));
        sold += 1;
        since_sync += 1;
        if since_sync >= sync_every {
            since_sync = 0;
            sync(&mut store);
        }
    }
    // Everything up: a failed round (a fault) is tried again after a short backoff.
    let mut backoff = Duration::from_millis(20);
    loop {
        if sync(&mut store) && store.outbox_len().expect("outbox") == 0 {
            break;
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
    assert!(
        store.sync_problems().expect("problems").is_empty(),
        "the server refused a change of this till"
    );
    say("done");
}
