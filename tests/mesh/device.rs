//! `mesh-device`: one device of a store as a process of its own, for the store mesh test in
//! network namespaces (`tests/mesh_netns_e2e.rs`): the real store (`pos-core`), the real sync
//! engine over HTTP and the real mesh node with mDNS discovery (`pos-sync`).
//!
//! It enrols with `--code` (the cloud must be reachable then), bootstraps, fetches its staff
//! and peer lists, joins the mesh listening on `--listen`, says `ready <device_id>`, then runs
//! one command per line of stdin and answers one line on stdout each:
//!
//! | command | answer |
//! |---|---|
//! | `tab` | `tab <sale>`: a tab opened with one item, fired to the kitchen |
//! | `add <sale>` | `ok` or `err <why>`: one more item on a tab |
//! | `pay <sale>` | `ok` or `err <why>`: the tab paid in cash, with its owner's lease |
//! | `sell` | `sold <sale>`: a one-item cash sale |
//! | `has <sale>` | `yes` or `no` |
//! | `due <sale>` | `due <minor units>` |
//! | `tickets` | `tickets <n>`: open kitchen tickets |
//! | `linked` | `linked <n>`: store devices reached in the last round |
//! | `refresh` | `peers <n>`: the staff and peer lists fetched again (as the app does now and then) |
//! | `sync` | `synced <pending> <carried>` or `unsynced <why>` |
//! | `digest` | `digest <hex>` |
//!
//! ```sh
//! mesh-device --dir D --server http://10.0.0.1:PORT --code CODE --cashier UUID --item UUID \
//!     --listen 10.0.0.10:47420
//! ```

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::bin::{arg as one, say};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::SyncEngine;
use pos_sync::discovery::{Discovery, Interfaces};
use pos_sync::http::{enrol, HttpTransport};
use pos_sync::node::{MeshNode, NodeConfig};
use pos_sync::peer::kept_peers;
use uuid::Uuid;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(one(&args, "--dir"));
    let server = one(&args, "--server");
    let cashier: Uuid = one(&args, "--cashier").parse().expect("--cashier");
    let item: Uuid = one(&args, "--item").parse().expect("--item");
    let listen: std::net::SocketAddr = one(&args, "--listen").parse().expect("--listen");
    std::fs::create_dir_all(&dir).expect("--dir");

    let (e, cred) = enrol(&server, &one(&args, "--code"), "mesh device").expect("enrol");
    let mut store = Store::create(
        &dir.join("device.sqlite"),
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
    let mut engine = SyncEngine::new();
    engine
        .bootstrap(&mut store, &mut http, |_, _| {})
        .expect("bootstrap");
    let me = store.identity().device_id;
    let store_id = store.identity().store_id;
    let actor = store.actor(cashier).expect("the cashier is staff here");
    if store.identity().kind == pos_core::auth::DeviceKind::Till
        && store.open_shift_id().expect("shift").is_none()
    {
        store.open_shift(&actor, 10_000).expect("open shift");
    }
    let currency =
        Currency::from_code(&store.settings().expect("settings").currency).expect("currency");
    let peers = kept_peers(&store).expect("peers");
    let store = Arc::new(Mutex::new(store));
    let node = MeshNode::start(
        store.clone(),
        cred.signing_key().expect("a key"),
        &peers,
        NodeConfig {
            listen,
            peers: Vec::new(),
            round: Duration::from_millis(500),
        },
        || {},
    )
    .expect("mesh node");
    // Found by mDNS on the namespace's LAN, with no address given.
    let sink = node.address_sink();
    let _discovery = Discovery::start(
        store_id,
        me,
        node.local_addr().port(),
        Interfaces::Lan,
        move |_, addr| sink(addr),
    )
    .expect("discovery");
    let mut cloud_online = true;
    say(&format!("ready {me}"));

    let lock = || store.lock().unwrap_or_else(|p| p.into_inner());
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let sale: Option<Uuid> = words.next().and_then(|w| w.parse().ok());
        let answer = match (cmd, sale) {
            ("tab", _) => {
                let mut s = lock();
                let sale = s.open_sale(&actor, Some("Tab".into())).expect("open");
                s.add_item(&actor, sale, item, 1, &[], 1).expect("add");
                s.fire(&actor, sale, None).expect("fire");
                drop(s);
                node.nudge();
                format!("tab {sale}")
            }
            ("add", Some(sale)) => {
                let r = lock().add_item(&actor, sale, item, 1, &[], 1);
                node.nudge();
                match r {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("err {e}"),
                }
            }
            ("pay", Some(sale)) => {
                let owner = lock().envelope(sale).ok().map(|e| e.created_by_device);
                match owner {
                    None => "err no such sale".to_string(),
                    Some(owner) => match node.hold_for_money(sale, owner, cloud_online) {
                        Err(e) => format!("err {e}"),
                        Ok(hold) => {
                            let r = {
                                let mut s = lock();
                                let due = s.get::<Sale>(sale).and_then(|x| {
                                    x.totals().map_err(pos_core::store::StoreError::from)
                                });
                                due.and_then(|t| {
                                    s.pay(
                                        &actor,
                                        sale,
                                        Tender::Cash,
                                        Money::new(t.due, currency),
                                        None,
                                    )
                                })
                            };
                            node.release(hold);
                            node.nudge();
                            match r {
                                Ok(_) => "ok".to_string(),
                                Err(e) => format!("err {e}"),
                            }
                        }
                    },
                }
            }
            ("sell", _) => {
                let mut s = lock();
                let sale = s.open_sale(&actor, None).expect("open");
                s.add_item(&actor, sale, item, 1, &[], 1).expect("add");
                let due = s
                    .get::<Sale>(sale)
                    .expect("sale")
                    .totals()
                    .expect("totals")
                    .due;
                s.pay(&actor, sale, Tender::Cash, Money::new(due, currency), None)
                    .expect("pay");
                drop(s);
                node.nudge();
                format!("sold {sale}")
            }
            ("has", Some(sale)) => {
                if lock().get::<Sale>(sale).is_ok() {
                    "yes".into()
                } else {
                    "no".into()
                }
            }
            ("due", Some(sale)) => match lock().get::<Sale>(sale).map(|s| s.totals()) {
                Ok(Ok(t)) => format!("due {}", t.due),
                _ => "due -1".into(),
            },
            ("tickets", _) => format!(
                "tickets {}",
                lock()
                    .kitchen_tickets(None, false)
                    .map(|t| t.len())
                    .unwrap_or(0)
            ),
            ("linked", _) => format!("linked {}", node.status().linked.len()),
            ("refresh", _) => match engine.refresh_staff_shared(&store, &mut http) {
                Ok(()) => {
                    let peers = kept_peers(&lock()).expect("peers");
                    node.set_peers(&peers);
                    node.nudge();
                    format!("peers {}", peers.len())
                }
                Err(e) => format!("err {e}"),
            },
            ("sync", _) => match engine.sync_shared(&store, &mut http) {
                Ok(_) => {
                    cloud_online = true;
                    let s = lock();
                    format!(
                        "synced {} {}",
                        s.outbox_len().unwrap_or(-1),
                        s.relay_len().unwrap_or(-1)
                    )
                }
                Err(e) => {
                    cloud_online = false;
                    format!("unsynced {}", e.to_string().replace('\n', " "))
                }
            },
            ("digest", _) => format!("digest {}", lock().projection_digest().expect("digest")),
            _ => format!("err unknown command {line:?}"),
        };
        say(&answer);
    }
}
