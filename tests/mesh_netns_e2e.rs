//! The store mesh with every device a process of its own in its own network namespace
//! (issue 12): three tills and a kitchen screen on a LAN made for the test (veth pairs on a
//! bridge, multicast on), the real server reached through one more veth pair. The devices find
//! each other by mDNS with no address given; with the cloud's link down, a tab opened on till 1
//! fires to the kitchen screen, gets an item on till 2 and is paid on till 3 under till 1's lease;
//! till 2 sells, its sales reach till 3, and till 2 is killed for good. The link comes back:
//! every sale is in the master exactly once and every living device equals it by digest.
//!
//! Needs root (`ip netns`); elsewhere it says why and does nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use e2e::TestServer;
use pos_core::auth::DeviceKind;
use serde_json::json;
use uuid::Uuid;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A LAN of `n` namespaces on a bridge (in a namespace of its own), and a veth pair from the
/// root namespace to it: the cloud's link. Removed when dropped.
struct Lan {
    tag: String,
    /// 10.231.<octet>.0/24
    octet: u32,
    n: usize,
}

impl Lan {
    fn new(n: usize) -> Option<Lan> {
        let root = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&root.stdout).trim() != "0" {
            return None;
        }
        Command::new("ip").arg("-V").output().ok()?;
        let pid = std::process::id();
        let lan = Lan {
            tag: format!("pm{}", pid % 100_000),
            octet: 100 + pid % 100,
            n,
        };
        let sw = lan.switch();
        let subnet = |host: u32| format!("10.231.{}.{host}/24", lan.octet);
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        let cloud = lan.cloud_if();
        ip(&[
            "link", "add", &cloud, "type", "veth", "peer", "name", "up0", "netns", &sw,
        ]);
        ip(&["-n", &sw, "link", "set", "up0", "master", "br0", "up"]);
        ip(&["addr", "add", &subnet(1), "dev", &cloud]);
        ip(&["link", "set", &cloud, "up"]);
        for i in 0..n {
            let ns = lan.ns(i);
            let port = format!("p{i}");
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ]);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &subnet(10 + i as u32),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        Some(lan)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.tag)
    }
    fn ns(&self, i: usize) -> String {
        format!("{}d{i}", self.tag)
    }
    fn cloud_if(&self) -> String {
        format!("{}c", self.tag)
    }
    fn host(&self, host: u32) -> String {
        format!("10.231.{}.{host}", self.octet)
    }
    /// The cloud's link up or down.
    fn cloud(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.cloud_if(),
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for i in 0..self.n {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch()])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.cloud_if()])
            .output();
    }
}

/// A `mesh-device` process in a namespace, spoken to one line at a time.
struct Device {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    id: Uuid,
}

impl Device {
    #[allow(clippy::too_many_arguments)]
    fn start(
        lan: &Lan,
        i: usize,
        dir: &std::path::Path,
        server: &str,
        code: &str,
        cashier: Uuid,
        item: Uuid,
    ) -> Device {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.ns(i),
                env!("CARGO_BIN_EXE_mesh-device"),
            ])
            .args(["--dir", &dir.join(format!("d{i}")).display().to_string()])
            .args(["--server", server, "--code", code])
            .args([
                "--cashier",
                &cashier.to_string(),
                "--item",
                &item.to_string(),
            ])
            .args(["--listen", &format!("{}:47420", lan.host(10 + i as u32))])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("mesh-device");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let ready = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the device says ready");
        let id = ready
            .strip_prefix("ready ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("device {i}: {ready}"));
        Device {
            child,
            stdin,
            lines,
            id,
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write");
        self.stdin.flush().expect("flush");
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no answer to {command}"))
    }

    fn until(&mut self, command: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let a = self.ask(command);
            if done(&a) {
                return a;
            }
            assert!(Instant::now() < deadline, "timed out: {what} (last: {a})");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn devices_in_their_own_namespaces_keep_the_store_working_without_the_cloud() {
    let Some(lan) = Lan::new(4) else {
        eprintln!("skipped: network namespaces need root and iproute2");
        return;
    };
    let server = TestServer::start_on(&format!("{}:0", lan.host(1)));
    let dir = tempfile::tempdir().unwrap();
    let (tenant, owner, store) = server.tenant_with_store("Netns", "owner@netns.test");
    let cashier = owner
        .create_staff(store, "Carl", "cashier", "3333")
        .unwrap();
    let cook = owner.create_staff(store, "Kim", "kitchen", "4444").unwrap();
    let burger = owner
        .publish_item(
            json!({"sku": "BUR", "name": "Burger", "currency": "EUR", "price": 1290,
            "tax_class": "standard", "station": "grill"}),
        )
        .unwrap();
    let mut devices: Vec<Device> = (0..4)
        .map(|i| {
            let kind = if i == 3 {
                DeviceKind::Kitchen
            } else {
                DeviceKind::Till
            };
            let code = owner.enrolment_code_for(store, kind).unwrap();
            let who = if i == 3 { cook } else { cashier };
            Device::start(&lan, i, dir.path(), &server.url, &code, who, burger)
        })
        .collect();
    // Each device's peer list, as its next staff refresh brings it (the later enrolled ones).
    for d in devices.iter_mut() {
        assert_eq!(d.ask("refresh"), "peers 3");
    }
    for d in devices.iter_mut() {
        d.until(
            "linked",
            "every device found the three others by mDNS",
            |a| a == "linked 3",
        );
    }

    // The cloud's link goes down.
    lan.cloud(false);
    let (t1, t2, t3, kds) = (0, 1, 2, 3);
    let tab: Uuid = devices[t1]
        .ask("tab")
        .strip_prefix("tab ")
        .and_then(|s| s.parse().ok())
        .expect("a tab");
    devices[kds].until("tickets", "the ticket on the kitchen screen", |a| {
        a == "tickets 1"
    });
    devices[t2].until(&format!("has {tab}"), "the tab on till 2", |a| a == "yes");
    assert_eq!(devices[t2].ask(&format!("add {tab}")), "ok");
    devices[t3].until(&format!("due {tab}"), "both burgers on till 3", |a| {
        a == "due 2580"
    });
    assert!(
        devices[t3].ask("sync").starts_with("unsynced"),
        "the cloud is away"
    );
    assert_eq!(
        devices[t3].ask(&format!("pay {tab}")),
        "ok",
        "paid under till 1's lease"
    );
    for i in [t1, t2] {
        devices[i].until(&format!("due {tab}"), "the tab paid everywhere", |a| {
            a == "due 0"
        });
    }
    // Till 2 sells; its sales reach till 3; till 2 dies for good.
    let sold: Vec<Uuid> = (0..3)
        .map(|_| {
            devices[t2]
                .ask("sell")
                .strip_prefix("sold ")
                .and_then(|s| s.parse().ok())
                .expect("sold")
        })
        .collect();
    for s in &sold {
        devices[t3].until(&format!("has {s}"), "till 2's sale on till 3", |a| {
            a == "yes"
        });
    }
    let dead = devices.remove(t2);
    let dead_id = dead.id;
    drop(dead); // kill -9

    // The link comes back: the living devices push (what they carry too) and pull.
    lan.cloud(true);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answers: Vec<String> = devices.iter_mut().map(|d| d.ask("sync")).collect();
        if answers.iter().all(|a| a == "synced 0 0") {
            break;
        }
        // Each round is a round trip to the cloud: no pause needed between them.
        assert!(Instant::now() < deadline, "not converged: {answers:?}");
    }
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.ask("sync");
        }
    }
    let sales = server.count("SELECT count(*) FROM p_sales WHERE tenant_id = $1", tenant);
    assert_eq!(sales, 4, "the tab and till 2's three sales, once each");
    let ids = sold
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(",");
    let landed = server.count(
        &format!("SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND doc_id IN ({ids})"),
        tenant,
    );
    assert_eq!(landed, 3, "the dead till's three sales, carried by till 3");
    let not_its_own = server.count(
        &format!(
            "SELECT count(*) FROM change_log WHERE tenant_id = $1 AND doc_id IN ({ids}) \
             AND author_device <> '{dead_id}'"
        ),
        tenant,
    );
    assert_eq!(not_its_own, 0, "recorded as the dead till's own changes");
    let master = server.store_digest(tenant, store);
    for d in devices.iter_mut() {
        assert_eq!(d.ask("digest"), format!("digest {master}"));
    }
}
