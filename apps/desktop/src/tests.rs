//! Command tests on Tauri's mock runtime, with the real config and capabilities
//! (`generate_context!(.., test = true)`), so a command missing from the capability fails here.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

use crate::run_app;
use crate::state::AppState;

struct Harness {
    _app: App<MockRuntime>,
    webview: WebviewWindow<MockRuntime>,
    /// A message per sync-status event the app emits (after each round of its sync runner).
    sync_rounds: mpsc::Receiver<()>,
}

fn harness(dir: &std::path::Path) -> Harness {
    let app = run_app(mock_builder().manage(AppState::open(dir)))
        .build(tauri::generate_context!("tauri.conf.json", test = true))
        .expect("mock app builds");
    // Listening before `on_start`, which starts the sync runner, so no round goes unseen.
    let (tx, sync_rounds) = mpsc::channel();
    app.listen_any(crate::sync::SYNC_STATUS_EVENT, move |_| {
        let _ = tx.send(());
    });
    crate::on_start(app.handle());
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("mock webview");
    Harness {
        _app: app,
        webview,
        sync_rounds,
    }
}

/// `sale_id` → `saleId`: how Tauri names a command's arguments on the JS side.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl Harness {
    /// Invokes `cmd` as the UI's generated bindings do: the tests name arguments as the Rust
    /// parameters (`sale_id`), the IPC carries them in Tauri's camelCase (`saleId`).
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let args = match args {
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (camel_case(&k), v)).collect())
            }
            other => other,
        };
        let req = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.webview, req).map(|b| b.deserialize::<Value>().expect("json"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args.clone())
            .unwrap_or_else(|e| panic!("{cmd}({args}) failed: {e}"))
    }

    fn err_code(&self, cmd: &str, args: Value) -> String {
        match self.call(cmd, args) {
            Ok(v) => panic!("{cmd} should fail, got {v}"),
            Err(e) => e["code"].as_str().unwrap_or("?").to_string(),
        }
    }

    fn staff(&self, role: &str) -> String {
        let staff = self.ok("staff_list", json!({}));
        staff
            .as_array()
            .and_then(|a| a.iter().find(|s| s["role"] == role))
            .and_then(|s| s["id"].as_str())
            .expect("staff member")
            .to_string()
    }

    fn login(&self, role: &str, pin: &str) {
        let id = self.staff(role);
        self.ok("login", json!({ "user_id": id, "pin": pin }));
    }

    /// Logs in and opens a shift (float 100.00) unless one is open: a till sells only in one.
    fn till(&self, role: &str, pin: &str) {
        self.login(role, pin);
        if self.ok("shift_status", json!({}))["open"] != true {
            self.ok("open_shift", json!({ "float": 10000 }));
        }
    }
}

/// The demo's barcode of catalog row `n` (1-based): Latte is 2, Croissant 5.
fn barcode(n: u32) -> String {
    pos_core::catalog::gtin_with_check_digit(&format!("400000000{n:03}")).expect("gtin")
}

fn demo(dir: &std::path::Path) -> Harness {
    let h = harness(dir);
    assert_eq!(h.ok("app_info", json!({}))["set_up"], false);
    let info = h.ok("setup_demo", json!({ "mode": "pos" }));
    assert_eq!(info["set_up"], true);
    assert_eq!(info["mode"], "pos");
    h
}

#[test]
fn capability_lists_every_command() {
    let names = include_str!("command_names.in");
    let perms = include_str!("../permissions/default.toml");
    let mut n = 0;
    for name in names.split('"').skip(1).step_by(2) {
        n += 1;
        let allow = format!("\"allow-{}\"", name.replace('_', "-"));
        assert!(
            perms.contains(&allow),
            "{allow} missing from permissions/default.toml"
        );
    }
    assert_eq!(perms.matches("\"allow-").count(), n);
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `status` and the API's
/// error body (`code`, `message`).
fn refusing_server(status: u16, code: &str, message: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let body = json!({"error": {"code": code, "message": message, "details": null}}).to_string();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            read_whole_request(&mut conn);
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// Reads one HTTP request, headers and `content-length` body, so that closing the connection
/// after answering does not reset it. (Regression: one `read` could stop after the headers;
/// the unread body then made the close a TCP reset, and the client saw "connection reset by
/// peer" instead of the answer, a flaky SERVER_UNREACHABLE in CI.)
fn read_whole_request(conn: &mut std::net::TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if got.len() >= end + 4 + len {
            return;
        }
    }
}

/// Nothing of an enrolment may stay behind when it fails.
fn assert_nothing_enrolled(h: &Harness, dir: &std::path::Path) {
    assert_eq!(h.ok("app_info", json!({}))["set_up"], false);
    for f in [
        "store.sqlite",
        "store.sqlite-wal",
        "credential.json",
        "enrolling",
    ] {
        assert!(!dir.join(f).exists(), "{f} left behind");
    }
}

#[test]
fn enrolment_failures_are_typed_and_leave_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    assert_eq!(h.err_code("staff_list", json!({})), "NOT_SET_UP");
    assert_eq!(
        h.err_code(
            "enrol_device",
            json!({"server": "pos.example.com", "code": "ABC123", "mode": "pos"})
        ),
        "INVALID"
    );
    // Nothing listens there.
    let server = format!("http://127.0.0.1:{}", closed_port());
    let e = h
        .call(
            "enrol_device",
            json!({"server": server, "code": "ABCD-1234", "mode": "pos"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "SERVER_UNREACHABLE", "{e}");
    assert_eq!(e["details"]["server"], server.as_str());
    assert!(e["message"].as_str().unwrap().contains("Cannot reach"));
    assert_nothing_enrolled(&h, dir.path());
    // An expired or unknown code (401), a used one (409).
    for (status, code, msg) in [
        (401, "AUTHN", "this enrolment code has expired"),
        (409, "CONFLICT", "this enrolment code has already been used"),
    ] {
        let url = refusing_server(status, code, msg);
        let e = h
            .call(
                "enrol_device",
                json!({"server": url, "code": "ABCD-1234", "mode": "kds"}),
            )
            .unwrap_err();
        assert_eq!(e["code"], "ENROL_CODE_REFUSED", "{e}");
        assert_eq!(e["details"]["reason"], msg);
        assert!(e["message"].as_str().unwrap().contains("new code"));
        assert_nothing_enrolled(&h, dir.path());
    }
    // Re-enrolling needs a set-up device and a logged-in manager.
    assert_eq!(
        h.err_code(
            "reenrol_device",
            json!({"server": server, "code": "ABCD-1234"})
        ),
        "NOT_LOGGED_IN"
    );
}

#[test]
fn standalone_device_reports_standalone_and_guards_reenrolment() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    h.ok("setup_demo", json!({ "mode": "kds" }));
    assert_eq!(
        h.err_code("setup_demo", json!({ "mode": "pos" })),
        "ALREADY_SET_UP"
    );
    let server = format!("http://127.0.0.1:{}", closed_port());
    assert_eq!(
        h.err_code(
            "enrol_device",
            json!({"server": server, "code": "ABCD-1234", "mode": "pos"})
        ),
        "ALREADY_SET_UP"
    );
    assert_eq!(h.ok("staff_list", json!({})).as_array().unwrap().len(), 4);
    h.login("manager", "2222");
    assert_eq!(
        h.ok("set_mode", json!({"mode": "back_office"}))["mode"],
        "back_office"
    );
    let info = h.ok("app_info", json!({}));
    assert_eq!(info["server"], Value::Null);
    let sync = h.ok("sync_status", json!({}));
    assert_eq!(sync["state"], "standalone");
    assert_eq!(sync["server"], Value::Null);
    assert_eq!(sync["error"], Value::Null);
    assert_eq!(sync["problems"], json!([]));
    assert!(sync["pending_changes"].as_i64().unwrap() > 0);
    // A cashier may not re-enrol the device; a manager may, and a failure keeps the old store.
    h.login("cashier", "3333");
    let body = json!({"server": server, "code": "ABCD-1234"});
    assert_eq!(h.err_code("reenrol_device", body.clone()), "FORBIDDEN");
    h.ok("logout", json!({}));
    h.login("manager", "2222");
    assert_eq!(h.err_code("reenrol_device", body), "SERVER_UNREACHABLE");
    assert_eq!(h.ok("app_info", json!({}))["set_up"], true);
    assert_eq!(h.ok("staff_list", json!({})).as_array().unwrap().len(), 4);
    assert!(!dir.path().join("credential.json").exists());
}

#[test]
fn an_enrolled_device_syncs_from_the_start_and_says_when_the_server_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // A device enrolled earlier: its store and credential are on disk; the server is gone.
    drop(pos_core::demo::seed(&crate::state::store_path(dir.path())).unwrap());
    let server = format!("http://127.0.0.1:{}", closed_port());
    let cred = pos_sync::http::DeviceCredential {
        device_key: None,
        server: server.clone(),
        device_id: uuid::Uuid::now_v7(),
        device_secret: "secret".into(),
    };
    crate::sync::save_credential(dir.path(), &cred).unwrap();
    let h = harness(dir.path());
    assert_eq!(h.ok("app_info", json!({}))["server"], server.as_str());
    // The runner's first round fails at once; its status event says when.
    let sync = loop {
        let s = h.ok("sync_status", json!({}));
        if s["state"] != "connecting"
            || h.sync_rounds.recv_timeout(Duration::from_secs(20)).is_err()
        {
            break s;
        }
    };
    assert_eq!(sync["state"], "offline", "{sync}");
    assert_eq!(sync["server"], server.as_str());
    assert_eq!(sync["error"]["code"], "SERVER_UNREACHABLE", "{sync}");
    assert!(sync["retry_in_ms"].as_u64().unwrap() > 0);
    assert!(
        !sync.to_string().contains("secret"),
        "the secret never reaches the UI"
    );
    // Selling goes on offline; the change waits in the outbox.
    let before = sync["pending_changes"].as_i64().unwrap();
    h.till("cashier", "3333");
    h.ok("open_sale", json!({}));
    let after = h.ok("sync_status", json!({}))["pending_changes"]
        .as_i64()
        .unwrap();
    assert!(after > before, "{before} -> {after}");
}

/// A store on disk like one a kitchen screen's enrolment code made: the demo's data, with the
/// device kind the code set (a kitchen store cannot seed itself: its owner has kitchen rights).
fn kitchen_screen_store(dir: &std::path::Path) {
    let path = crate::state::store_path(dir);
    drop(pos_core::demo::seed(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n = conn
        .execute(
            "UPDATE meta SET value = 'kitchen' WHERE key = 'device_kind'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1, "the store records its device kind");
}

#[test]
fn a_kitchen_screen_stays_a_kds_and_a_manager_on_it_has_kitchen_rights() {
    let dir = tempfile::tempdir().unwrap();
    kitchen_screen_store(dir.path());
    let h = harness(dir.path());
    assert_eq!(h.ok("app_info", json!({}))["device_kind"], "kitchen");
    h.login("manager", "2222");
    assert_eq!(h.ok("set_mode", json!({ "mode": "kds" }))["mode"], "kds");
    for mode in ["pos", "back_office"] {
        assert_eq!(h.err_code("set_mode", json!({ "mode": mode })), "CONFLICT");
    }
    assert_eq!(h.ok("app_info", json!({}))["mode"], "kds");
    let manager = h.staff("manager");
    let me = h.ok("login", json!({ "user_id": manager, "pin": "2222" }));
    assert_eq!(me["role"], "kitchen", "{me}");
    let perms = me["permissions"].as_array().unwrap();
    assert!(!perms.contains(&json!("sale.tender")), "{me}");
    assert_eq!(h.err_code("open_sale", json!({})), "FORBIDDEN");
    // Re-enrolling concerns the device, not the store's documents: the manager's own role
    // counts (a revoked kitchen screen can be brought back), the kitchen's does not.
    assert!(perms.contains(&json!("device.enrol")), "{me}");
    let body =
        json!({"server": format!("http://127.0.0.1:{}", closed_port()), "code": "ABCD-1234"});
    assert_eq!(
        h.err_code("reenrol_device", body.clone()),
        "SERVER_UNREACHABLE"
    );
    h.ok("logout", json!({}));
    h.login("kitchen", "4444");
    assert_eq!(h.err_code("reenrol_device", body), "FORBIDDEN");
}

#[test]
fn credential_file_is_private_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cred = pos_sync::http::DeviceCredential {
        device_key: None,
        server: "http://127.0.0.1:1".into(),
        device_id: uuid::Uuid::now_v7(),
        device_secret: "s3cret-value".into(),
    };
    crate::sync::save_credential(dir.path(), &cred).unwrap();
    let path = crate::sync::credential_path(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        crate::sync::load_credential(dir.path()).unwrap(),
        Some(cred.clone())
    );
    assert!(!format!("{cred:?}").contains("s3cret"));
    // A damaged credential is a message for the first screen, not a crash or a silent reset.
    std::fs::write(&path, b"{oops").unwrap();
    assert_eq!(
        crate::sync::load_credential(dir.path()).unwrap_err().code(),
        "CONFLICT"
    );
}

#[test]
fn sync_failures_map_to_actionable_errors() {
    use crate::sync::status_error;
    let s = "http://127.0.0.1:9";
    assert_eq!(
        status_error(s, false, "server unreachable: connection refused").code(),
        "SERVER_UNREACHABLE"
    );
    let e = status_error(
        s,
        true,
        "not authorized: AUTHN: this device has been revoked",
    );
    assert_eq!(e.code(), "DEVICE_REFUSED");
    assert!(e.to_string().contains("this device has been revoked"));
    assert!(e.to_string().contains("Settings"));
    assert_eq!(
        status_error(s, true, "server error 500: INTERNAL: internal error").code(),
        "SERVER_ERROR"
    );
}

#[test]
fn wrong_pins_count_down_then_lock_out() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    let carl = h.staff("cashier");
    assert_eq!(h.err_code("open_sale", json!({})), "NOT_LOGGED_IN");
    let e = h
        .call("login", json!({"user_id": carl, "pin": "0000"}))
        .unwrap_err();
    assert_eq!(e["code"], "WRONG_PIN");
    assert_eq!(e["details"]["attempts_left"], 4);
    for _ in 0..3 {
        h.call("login", json!({"user_id": carl, "pin": "0000"}))
            .unwrap_err();
    }
    let e = h
        .call("login", json!({"user_id": carl, "pin": "0000"}))
        .unwrap_err();
    assert_eq!(e["code"], "LOCKED_OUT");
    assert!(e["message"].as_str().unwrap().contains("locked until"));
    // Even the right PIN is refused while locked.
    assert_eq!(
        h.err_code("login", json!({"user_id": carl, "pin": "3333"})),
        "LOCKED_OUT"
    );
    let user = h.ok(
        "login",
        json!({"user_id": h.staff("manager"), "pin": "2222"}),
    );
    assert_eq!(user["role"], "manager");
    assert!(user["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("price.edit")));
}

#[test]
fn a_sale_with_discount_approval_split_tender_and_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sale = h.ok("open_sale", json!({}));
    let sid = sale["id"].as_str().unwrap().to_string();
    let e = h
        .call("scan_barcode", json!({"sale_id": sid, "barcode": "123"}))
        .unwrap_err();
    assert_eq!(e["code"], "UNKNOWN_BARCODE");
    assert_eq!(e["details"]["barcode"], "123");
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(2)}),
    );
    let v = h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(5)}),
    );
    assert_eq!(v["lines"].as_array().unwrap().len(), 2);
    assert_eq!(v["total"], 600);
    // 50 % is above the 20 % threshold: needs a manager.
    let half = json!({"kind": "percent", "value": 5000, "reason": "staff"});
    assert_eq!(
        h.err_code(
            "set_order_discount",
            json!({"sale_id": sid, "discount": half})
        ),
        "NEEDS_APPROVAL"
    );
    assert_eq!(
        h.err_code(
            "approve_manager",
            json!({"user_id": h.staff("cashier"), "pin": "3333"})
        ),
        "FORBIDDEN"
    );
    let ok = h.ok(
        "approve_manager",
        json!({"user_id": h.staff("manager"), "pin": "2222"}),
    );
    let mut approved = half.clone();
    approved["approved_by"] = ok["user_id"].clone();
    let v = h.ok(
        "set_order_discount",
        json!({"sale_id": sid, "discount": approved}),
    );
    assert_eq!(v["total"], 300);
    let line = v["lines"][0]["id"].as_str().unwrap().to_string();
    h.ok(
        "set_line_note",
        json!({"sale_id": sid, "line_id": line, "note": "extra hot"}),
    );
    // Split: 1.00 on card (needs a reference), then 5.00 cash for the 2.00 left.
    assert_eq!(
        h.err_code(
            "pay",
            json!({"sale_id": sid, "tender_kind": "card", "amount": 100})
        ),
        "INVALID"
    );
    let p = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "card", "amount": 100, "reference": "AUTH1"}),
    );
    assert_eq!(p["outcome"]["due"], 200);
    // Nothing to hand back while something is due (only merged tills can overpay a sale).
    let e = h
        .call(
            "return_overpayment",
            json!({"sale_id": sid, "tender_kind": "cash"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "INVALID", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("not overpaid"),
        "{e}"
    );
    let p = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 500}),
    );
    assert_eq!(p["outcome"]["change"], 300);
    let no = p["outcome"]["receipt_no"].as_str().unwrap().to_string();
    assert_eq!(p["sale"]["status"], "closed");
    let text = h.ok("receipt_preview", json!({"doc_id": sid}));
    let text = text.as_str().unwrap();
    assert!(text.contains("3.00 EUR") && text.contains(&no), "{text}");
    assert!(text.contains("Note: extra hot"), "{text}");
    assert_eq!(
        h.err_code("print_receipt", json!({"doc_id": sid})),
        "NO_PRINTER"
    );
    // Refund: found by receipt number; more than sold is refused.
    let found = h.ok("find_receipt", json!({"receipt_no": no}));
    assert_eq!(found["lines"][0]["refundable_qty"], 1);
    assert_eq!(
        h.err_code(
            "refund_sale",
            json!({"sale_id": sid, "lines": [{"line_id": line, "qty": 1}], "tender_kind": "cash", "reason": "x"})
        ),
        "FORBIDDEN",
        "a cashier lacks sale.refund"
    );
    h.login("manager", "2222");
    assert_eq!(
        h.err_code(
            "refund_sale",
            json!({"sale_id": sid, "lines": [{"line_id": line, "qty": 2}], "tender_kind": "cash", "reason": "x"})
        ),
        "INVALID"
    );
    let r = h.ok(
        "refund_sale",
        json!({"sale_id": sid, "lines": [{"line_id": line, "qty": 1, "restock": false}], "tender_kind": "cash", "reason": "spilt"}),
    );
    assert!(r["total"].as_i64().unwrap() > 0);
    let found = h.ok("find_receipt", json!({"receipt_no": no}));
    assert_eq!(found["lines"][0]["refundable_qty"], 0);
    let refund_text = h.ok("receipt_preview", json!({"doc_id": r["refund_id"]}));
    assert!(refund_text.as_str().unwrap().contains("REFUND"));
    // The same receipt as the picture of the paper the screen shows.
    let url = h.ok("receipt_image", json!({"doc_id": r["refund_id"]}));
    let b64 = url
        .as_str()
        .unwrap()
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 1000, "a real picture, {} bytes", png.len());
}

/// A fake ESC/POS printer: answers status requests as "ready" and hands back what it received.
fn fake_printer() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    for w in buf[..n].windows(2) {
                        if w == [0x10, 0x04] {
                            let _ = conn.write_all(&[0x12]);
                        }
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let _ = tx.send(got);
            });
        }
    });
    (port, rx)
}

#[test]
fn receipt_and_drawer_reach_a_tcp_printer() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("manager", "2222");
    let (port, rx) = fake_printer();
    let printer = json!({
        "transport": {"kind": "tcp", "host": "127.0.0.1", "port": port},
        "profile": {"paper": "mm80", "columns": 48, "code_page": "PC858",
                    "drawer": {"pin": "pin2", "on_ms": 120, "off_ms": 240}}
    });
    let bad = json!({"transport": {"kind": "tcp", "host": "x"}, "profile": {"paper": "mm80", "columns": 48, "code_page": "KLINGON"}});
    assert_eq!(
        h.err_code("save_printer", json!({"printer": bad})),
        "INVALID"
    );
    assert_eq!(h.ok("save_printer", json!({"printer": printer})), true);
    let sid = h.ok("open_sale", json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(1)}),
    );
    let p = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 220}),
    );
    let no = p["outcome"]["receipt_no"].as_str().unwrap().to_string();
    let job = h.ok("print_receipt", json!({"doc_id": sid}));
    assert_eq!(
        h.ok("print_receipt", json!({"doc_id": sid})),
        job,
        "idempotent per receipt"
    );
    h.ok("open_drawer", json!({}));
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(bytes) = rx.recv_timeout(Duration::from_millis(200)) {
            all.extend(bytes);
        }
        let s = String::from_utf8_lossy(&all);
        if s.contains(&no) && all.windows(5).any(|w| w == [0x1B, b'p', 0, 60, 120]) {
            break;
        }
    }
    let s = String::from_utf8_lossy(&all);
    assert!(s.contains(&no) && s.contains("2.20 EUR"), "{s}");
    assert!(
        all.windows(5).any(|w| w == [0x1B, b'p', 0, 60, 120]),
        "drawer pulse"
    );
    let st = h.ok("printer_status", json!({}));
    assert_eq!(st["configured"], true);
}

#[test]
fn a_count_changes_the_stock_level() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    let levels = h.ok("stock_levels", json!({"filter": "all"}));
    let cro = levels
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sku"] == "BAK-CRO")
        .unwrap()
        .clone();
    assert_eq!(cro["on_hand"], 24);
    let count = h.ok("start_count", json!({}));
    h.ok(
        "count_item",
        json!({"count_id": count, "item_id": cro["item_id"], "counted": 7}),
    );
    h.ok("post_count", json!({"count_id": count}));
    let low = h.ok("stock_levels", json!({"filter": "low_stock"}));
    let row = low
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sku"] == "BAK-CRO")
        .unwrap();
    assert_eq!(row["on_hand"], 7);
    assert_eq!(row["low_stock"], true);
    assert_eq!(
        h.err_code("adjust_stock", json!({"reason": "x", "lines": []})),
        "INVALID"
    );
    h.ok(
        "adjust_stock",
        json!({"reason": "dropped", "lines": [{"item_id": cro["item_id"], "qty": -9}]}),
    );
    let over = h.ok("stock_levels", json!({"filter": "oversold"}));
    assert_eq!(over[0]["on_hand"], -2);
}

#[test]
fn kitchen_fire_bump_recall_and_all_day() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = h.ok("open_sale", json!({"ticket": "Table 4"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(7)}),
    );
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(7)}),
    );
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(9)}),
    );
    let fired = h.ok("fire_sale", json!({"sale_id": sid}));
    assert_eq!(fired["tickets"], 1);
    assert_eq!(h.err_code("fire_sale", json!({"sale_id": sid})), "INVALID");
    h.login("kitchen", "4444");
    let board = h.ok("kitchen_board", json!({}));
    assert_eq!(board["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(board["tickets"][0]["ticket"], "Table 4");
    assert_eq!(board["all_day"]["grill"]["Cheeseburger"], 2);
    let tid = board["tickets"][0]["id"].as_str().unwrap().to_string();
    let line = board["tickets"][0]["items"][0]["line_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = h.ok(
        "kitchen_action",
        json!({"ticket_id": tid, "action": "bump_item", "line_id": line}),
    );
    assert_eq!(b["tickets"][0]["items"][0]["bumped"], true);
    let b = h.ok(
        "kitchen_action",
        json!({"ticket_id": tid, "action": "bump"}),
    );
    assert_eq!(b["tickets"].as_array().unwrap().len(), 0);
    assert_eq!(b["last_bumped"], tid);
    let b = h.ok(
        "kitchen_action",
        json!({"ticket_id": tid, "action": "recall"}),
    );
    assert_eq!(b["tickets"].as_array().unwrap().len(), 1);
    // A kitchen role cannot sell.
    assert_eq!(h.err_code("open_sale", json!({})), "FORBIDDEN");
}

#[test]
fn shift_float_events_and_z_report_with_over_short() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("cashier", "3333");
    assert_eq!(h.err_code("x_report", json!({})), "NO_SHIFT");
    h.ok("open_shift", json!({"float": 10000}));
    assert_eq!(
        h.err_code("open_shift", json!({"float": 10000})),
        "CONFLICT"
    );
    assert_eq!(
        h.err_code(
            "cash_event",
            json!({"kind": "no_sale", "amount": 0, "reason": "change"})
        ),
        "FORBIDDEN"
    );
    h.login("manager", "2222");
    h.ok(
        "cash_event",
        json!({"kind": "paid_out", "amount": 500, "reason": "milk"}),
    );
    h.ok(
        "cash_event",
        json!({"kind": "no_sale", "amount": 0, "reason": "change"}),
    );
    let sid = h.ok("open_sale", json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(1)}),
    );
    h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
    );
    let x = h.ok("x_report", json!({}));
    assert_eq!(x["report"]["expected_cash"], 10000 - 500 + 220);
    assert!(
        x["text"].as_str().unwrap().contains("X   R E P O R T"),
        "{}",
        x["text"]
    );
    // 97.00 counted against 97.20 expected: 0.20 short.
    let z = h.ok(
        "close_shift",
        json!({"counts": {"5000": 1, "2000": 2, "500": 1, "200": 1, "0": 0}}),
    );
    assert_eq!(z["over_short"], -20);
    assert_eq!(z["number"], 1);
    assert!(z["text"].as_str().unwrap().contains("Z0001"));
    let hist = h.ok("z_reports", json!({}));
    assert_eq!(hist.as_array().unwrap().len(), 1);
    assert_eq!(h.ok("shift_status", json!({}))["open"], false);
    // The history shows the Z report again, as printed, and the closed shift with its count.
    let again = h.ok("z_report", json!({"z_id": hist[0]["id"]}));
    assert_eq!(again["text"], z["text"]);
    let shifts = h.ok("shift_history", json!({"limit": 10}));
    assert_eq!(shifts.as_array().unwrap().len(), 1, "{shifts}");
    assert_eq!(shifts[0]["status"], "Closed");
    assert_eq!(
        (&shifts[0]["float"], &shifts[0]["over_short"]),
        (&json!(10000), &json!(-20))
    );
    assert_eq!(
        h.err_code(
            "z_report",
            json!({"z_id": uuid::Uuid::now_v7().to_string()})
        ),
        "NOT_FOUND"
    );
}

#[test]
fn price_fields_follow_the_role_and_the_open_sale_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sid;
    {
        let h = demo(dir.path());
        h.till("cashier", "3333");
        let cats = h.ok("categories", json!({}));
        let items = h.ok("items_in_category", json!({"category_id": cats[0]["id"]}));
        let item_id = items[0]["id"].as_str().unwrap().to_string();
        let d = h.ok("item_detail", json!({"item_id": item_id}));
        assert_eq!(d["can_edit_price"], false);
        let mut item = d["item"].clone();
        item["price"] = json!(1);
        assert_eq!(
            h.err_code("save_item", json!({"item_id": item_id, "item": item})),
            "FORBIDDEN"
        );
        assert!(!h
            .ok("search_items", json!({"query": "lat"}))
            .as_array()
            .unwrap()
            .is_empty());
        sid = h.ok("open_sale", json!({}))["id"]
            .as_str()
            .unwrap()
            .to_string();
        h.ok(
            "add_item",
            json!({"sale_id": sid, "item_id": item_id, "qty": 2, "modifiers": [{"group": "milk", "option": "oat"}]}),
        );
        h.login("manager", "2222");
        let d = h.ok("item_detail", json!({"item_id": item_id}));
        assert_eq!(d["can_edit_price"], true);
        let mut item = d["item"].clone();
        item["price"] = json!(230);
        h.ok("save_item", json!({"item_id": item_id, "item": item}));
    }
    // The app is gone (as if killed); a new one opens the same folder.
    let h = harness(dir.path());
    let info = h.ok("app_info", json!({}));
    assert_eq!(info["set_up"], true);
    assert!(info["user"].is_null(), "a restart locks the screen");
    h.till("cashier", "3333");
    let open = h.ok("open_sales", json!({}));
    assert_eq!(open[0]["id"], sid.as_str());
    let v = h.ok("get_sale", json!({"sale_id": sid}));
    assert_eq!(v["lines"][0]["qty"], 2);
    assert_eq!(v["lines"][0]["modifiers"][0], "Oat milk");
}

/// Issue 17, defect 13: the newest held sale went into the cart of whoever logged in next, and
/// every hold was listed for everyone. The list is the logged-in user's: their own held sales
/// (a manager's: everyone's), every table, each with who opened it; nobody logged in sees none.
#[test]
fn defect_13_held_sales_belong_to_their_cashier() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let held = h.ok("open_sale", json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "scan_barcode",
        json!({"sale_id": held, "barcode": barcode(2)}),
    );
    h.ok("logout", json!({}));
    assert_eq!(h.err_code("open_sales", json!({})), "NOT_LOGGED_IN");
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Another cashier's hold is not the kitchen's, nor anyone's but its cashier's and a manager's.
    h.login("kitchen", "4444");
    assert!(ids(h.ok("open_sales", json!({}))).is_empty());
    h.login("manager", "2222");
    let list = h.ok("open_sales", json!({}));
    assert_eq!(ids(list.clone()), vec![held.clone()]);
    assert_eq!(list[0]["opened_by_name"], "Carl Cashier");
    assert!(list[0]["opened_at"].as_i64().unwrap() > 0);
    h.login("cashier", "3333");
    assert_eq!(ids(h.ok("open_sales", json!({}))), vec![held]);
}

/// Issue 17, defect 15: a retail item (no kitchen station) fired with its table said "sent to
/// kitchen" on the till. Only a line a station received says so.
#[test]
fn defect_15_a_retail_item_is_not_sent_to_the_kitchen() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = h.ok("open_sale", json!({"ticket": "Table 5"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A latte (the bar's) and coffee beans (retail, no station).
    for code in [barcode(2), barcode(11)] {
        h.ok("scan_barcode", json!({"sale_id": sid, "barcode": code}));
    }
    h.ok("fire_sale", json!({"sale_id": sid}));
    let v = h.ok("get_sale", json!({"sale_id": sid}));
    let fired = |name: &str| {
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"].as_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("{name} in {v}"))["fired"]
            .clone()
    };
    assert_eq!(fired("Latte"), true, "the latte went to the bar");
    assert_eq!(fired("beans"), false, "the beans went nowhere");
}

/// Issue 17, defect 15: an item in no category was on no tile of the Sell grid. Asked for no
/// category, `items_in_category` gives them ("Other").
#[test]
fn defect_15_items_without_a_category_show_under_other() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("manager", "2222");
    assert_eq!(
        h.ok("items_in_category", json!({"category_id": null})),
        json!([])
    );
    let cats = h.ok("categories", json!({}));
    let items = h.ok("items_in_category", json!({"category_id": cats[0]["id"]}));
    let mut item = h.ok("item_detail", json!({"item_id": items[0]["id"]}))["item"].clone();
    item["sku"] = json!("GIFT");
    item["name"] = json!("Gift card");
    item["barcodes"] = json!([]);
    item["category_id"] = Value::Null;
    let gift = h.ok("save_item", json!({"item_id": null, "item": item}));
    let other = h.ok("items_in_category", json!({"category_id": null}));
    assert_eq!(other.as_array().unwrap().len(), 1);
    assert_eq!(other[0]["id"], gift);
}

#[test]
fn transfers_between_stores_need_the_server_and_say_so() {
    // Standalone: there is no other store to know of.
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    for cmd in ["transfer_stores", "incoming_transfers"] {
        match h.call(cmd, json!({})) {
            Err(e) => {
                assert_eq!(e["code"], "INVALID", "{e}");
                assert!(
                    e["message"].as_str().unwrap().contains("sync server"),
                    "{e}"
                );
            }
            Ok(v) => panic!("{cmd} should need the server, got {v}"),
        }
    }
    assert_eq!(
        h.err_code(
            "transfer_out",
            json!({"to_store": "somewhere", "lines": [{"item_id": uuid::Uuid::now_v7().to_string(), "qty": 1}]})
        ),
        "INVALID"
    );

    // Enrolled, with the server gone: an actionable "cannot reach the server".
    let dir = tempfile::tempdir().unwrap();
    drop(pos_core::demo::seed(&crate::state::store_path(dir.path())).unwrap());
    let cred = pos_sync::http::DeviceCredential {
        device_key: None,
        server: format!("http://127.0.0.1:{}", closed_port()),
        device_id: uuid::Uuid::now_v7(),
        device_secret: "secret".into(),
    };
    crate::sync::save_credential(dir.path(), &cred).unwrap();
    let h = harness(dir.path());
    h.login("manager", "2222");
    assert_eq!(
        h.err_code("transfer_stores", json!({})),
        "SERVER_UNREACHABLE"
    );
    assert_eq!(
        h.err_code(
            "receive_transfer",
            json!({"transfer_out_id": uuid::Uuid::now_v7().to_string()})
        ),
        "SERVER_UNREACHABLE"
    );
}

/// Sells a croissant paid in cash; returns the closed sale's id.
fn sell_croissant(h: &Harness) -> String {
    let sale = h.ok("open_sale", json!({}));
    let sid = sale["id"].as_str().unwrap().to_string();
    let v = h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(5)}),
    );
    let paid = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": v["total"]}),
    );
    assert!(paid["outcome"]["receipt_no"].is_string(), "{paid}");
    sid
}

#[test]
fn a_standalone_till_checks_the_email_address_then_says_email_needs_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = sell_croissant(&h);
    let e = h
        .call(
            "email_receipt",
            json!({"doc_id": sid, "email": "ann at example"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "INVALID_EMAIL", "{e}");
    assert!(e["message"].as_str().unwrap().contains('@'), "{e}");
    let e = h
        .call(
            "email_receipt",
            json!({"doc_id": sid, "email": "ann@shop.example"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "EMAIL_NEEDS_SERVER", "{e}");
    assert!(e["message"].as_str().unwrap().contains("standalone"), "{e}");
    // nothing was queued
    assert_eq!(h.ok("sync_status", json!({}))["emails_pending"], 0);
    let store = pos_core::store::Store::open(&crate::state::store_path(dir.path())).unwrap();
    assert_eq!(store.receipt_emails(10).unwrap(), vec![]);
}

#[test]
fn an_enrolled_till_queues_a_receipt_email_offline() {
    let dir = tempfile::tempdir().unwrap();
    drop(pos_core::demo::seed(&crate::state::store_path(dir.path())).unwrap());
    let cred = pos_sync::http::DeviceCredential {
        device_key: None,
        server: format!("http://127.0.0.1:{}", closed_port()),
        device_id: uuid::Uuid::now_v7(),
        device_secret: "secret".into(),
    };
    crate::sync::save_credential(dir.path(), &cred).unwrap();
    let h = harness(dir.path());
    h.till("cashier", "3333");
    let sid = sell_croissant(&h);
    assert_eq!(
        h.err_code(
            "email_receipt",
            json!({"doc_id": sid, "email": "ann@localhost"})
        ),
        "INVALID_EMAIL"
    );
    let open = h.ok("open_sale", json!({}));
    assert_eq!(
        h.err_code(
            "email_receipt",
            json!({"doc_id": open["id"], "email": "ann@shop.example"})
        ),
        "INVALID",
        "an open sale has no receipt yet"
    );
    let q = h.ok(
        "email_receipt",
        json!({"doc_id": sid, "email": " Ann@Shop.Example "}),
    );
    assert_eq!(q["email"], "Ann@shop.example");
    assert_eq!(
        q["message"],
        "Queued — will be sent when the till is online."
    );
    // the server is unreachable: it waits, and the sync status counts it
    let s = h.ok("sync_status", json!({}));
    assert_eq!(s["emails_pending"], 1, "{s}");
    assert!(
        !s.to_string().contains("shop.example"),
        "pending addresses are not listed"
    );
}

#[test]
fn a_receipt_email_the_server_refused_is_listed_with_the_sync_problems() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut store, demo) =
            pos_core::demo::seed(&crate::state::store_path(dir.path())).unwrap();
        let c = demo.cashier;
        let sale = store.open_sale(&c, None).unwrap();
        store
            .add_item(&c, sale, demo.item("BAK-CRO").unwrap(), 1, &[], 1)
            .unwrap();
        let eur = pos_core::money::Currency::from_code("EUR").unwrap();
        store
            .pay(
                &c,
                sale,
                pos_core::sale::Tender::Cash,
                pos_core::money::Money::new(250, eur),
                None,
            )
            .unwrap();
        let e = store.queue_receipt_email(sale, "ann@shop.example").unwrap();
        store
            .receipt_email_refused(e.id, "unknown_document", "no document in this store")
            .unwrap();
    }
    let h = harness(dir.path());
    let s = h.ok("sync_status", json!({}));
    let problems = s["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{s}");
    assert_eq!(problems[0]["doc_type"], "receipt_email");
    assert_eq!(problems[0]["code"], "unknown_document");
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("ann@shop.example"));
    assert_eq!(s["emails_pending"], 0);
}

#[test]
fn a_csv_import_reports_bad_lines_and_imports_nothing_or_everything() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    let e = h
        .call(
            "import_items",
            json!({"csv": "sku,name,price\nT-1,Rooibos,2.00\nT-2,,2.00\nT-3,Tisane,two\n"}),
        )
        .unwrap_err();
    assert_eq!(e["code"], "IMPORT_REJECTED", "{e}");
    let lines: Vec<i64> = e["details"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{e}");
    assert_eq!(
        h.ok("search_items", json!({"query": "rooibos"}))
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing imported"
    );
    let r = h.ok(
        "import_items",
        json!({"csv": "sku,name,price,category\nT-1,Rooibos,2.00,Coffee\nT-2,Tisane,2.40,Coffee\n"}),
    );
    assert_eq!((&r["created"], &r["updated"]), (&json!(2), &json!(0)));
    assert_eq!(
        h.ok("search_items", json!({"query": "tisane"}))[0]["price"],
        240
    );
    h.login("cashier", "3333");
    assert_eq!(
        h.err_code("import_items", json!({"csv": "sku,name,price\nT-9,X,1\n"})),
        "FORBIDDEN"
    );
}

// ---------------------------------------------------------------- issue 17: money and correctness

/// Opens a counter sale with the catalog rows `rows` scanned once each; returns its id.
fn counter_sale(h: &Harness, rows: &[u32]) -> String {
    let sid = h.ok("open_sale", json!({}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in rows {
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(*n)}),
        );
    }
    sid
}

/// Defect 2: only Fire sent kitchen lines; a latte paid at the counter never reached the bar.
#[test]
fn regression_a_paid_counter_latte_reaches_the_bar() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = counter_sale(&h, &[2, 5]); // Latte (bar), Croissant (no station)
    let paid = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
    );
    assert!(paid["outcome"]["receipt_no"].is_string(), "{paid}");
    h.login("kitchen", "4444");
    let board = h.ok("kitchen_board", json!({}));
    let tickets = board["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{board}");
    assert_eq!(tickets[0]["station"], "bar");
    assert_eq!(tickets[0]["items"][0]["name"], "Latte");
    assert_eq!(tickets[0]["items"].as_array().unwrap().len(), 1);
}

/// Defect 3: after a Z report the till took four sales that no X or Z report counted.
#[test]
fn regression_no_sale_is_taken_without_an_open_shift() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    assert_eq!(h.err_code("open_sale", json!({})), "NO_SHIFT");
    h.ok("open_shift", json!({"float": 10000}));
    let held = counter_sale(&h, &[5]);
    let table = h.ok("open_sale", json!({"ticket": "Table 2"}))["id"].clone();
    assert!(table.is_string());
    // Closing warns about what is still open, and closes only when confirmed.
    match h.call("close_shift", json!({"counts": {}})) {
        Err(e) => {
            assert_eq!(e["code"], "OPEN_SALES", "{e}");
            assert_eq!(e["details"], json!({"tables": 1, "held": 1}));
        }
        Ok(v) => panic!("closed with open sales: {v}"),
    }
    assert_eq!(
        h.ok("shift_status", json!({}))["open"],
        true,
        "nothing closed"
    );
    let z = h.ok("close_shift", json!({"counts": {}, "confirm": true}));
    assert_eq!(z["number"], 1);
    // After the Z: no new sale, and the held one cannot be paid until a shift is open.
    assert_eq!(h.err_code("open_sale", json!({})), "NO_SHIFT");
    assert_eq!(
        h.err_code(
            "pay",
            json!({"sale_id": held, "tender_kind": "cash", "amount": 1000})
        ),
        "NO_SHIFT"
    );
    h.ok("open_shift", json!({"float": 10000}));
    h.ok(
        "pay",
        json!({"sale_id": held, "tender_kind": "cash", "amount": 1000}),
    );
    assert_eq!(h.ok("x_report", json!({}))["report"]["sales_count"], 1);
}

/// Defect 4: a kitchen or cashier user could change the printer, idle lock, KDS thresholds and
/// the device's mode.
#[test]
fn regression_only_settings_edit_changes_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    let prefs = json!({"kds": {"warn_after_s": 60, "late_after_s": 120, "station": null}, "idle_lock_s": 0});
    for (role, pin) in [("cashier", "3333"), ("kitchen", "4444")] {
        h.login(role, pin);
        assert_eq!(
            h.err_code("save_printer", json!({"printer": null})),
            "FORBIDDEN"
        );
        assert_eq!(h.err_code("save_device_prefs", prefs.clone()), "FORBIDDEN");
        assert_eq!(h.err_code("set_mode", json!({"mode": "kds"})), "FORBIDDEN");
        assert_eq!(h.err_code("test_print", json!({})), "FORBIDDEN");
    }
    assert_eq!(h.ok("app_info", json!({}))["idle_lock_s"], 120, "unchanged");
    h.login("manager", "2222");
    h.ok("save_device_prefs", prefs);
    assert_eq!(h.ok("app_info", json!({}))["idle_lock_s"], 0);
    assert_eq!(h.ok("set_mode", json!({"mode": "kds"}))["mode"], "kds");
}

/// Settings → Store devices: the addresses typed for networks without mDNS are checked, kept
/// in the device's config (a restart starts the mesh with them), and only a manager may change
/// them. A standalone device is in no mesh and lists no devices.
#[test]
fn static_mesh_peers_are_checked_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    let view = h.ok("mesh_view", json!({}));
    assert_eq!(view["joined"], false);
    assert_eq!(view["devices"], json!([]));
    let peers = json!({"peers": ["192.168.1.21", " 10.0.0.5:47500 ", "", "192.168.1.21"]});
    h.login("cashier", "3333");
    assert_eq!(h.err_code("save_mesh_peers", peers.clone()), "FORBIDDEN");
    h.login("manager", "2222");
    let view = h.ok("save_mesh_peers", peers);
    assert_eq!(
        view["static_peers"],
        json!(["192.168.1.21", "10.0.0.5:47500"])
    );
    let kept = crate::config::DeviceConfig::load(dir.path()).unwrap();
    assert_eq!(kept.mesh_peers, vec!["192.168.1.21", "10.0.0.5:47500"]);
    let bad = h
        .call(
            "save_mesh_peers",
            json!({"peers": ["10.0.0.9", "till-2.local"]}),
        )
        .unwrap_err();
    assert_eq!(bad["code"], "INVALID", "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("till-2.local"),
        "{bad}"
    );
    assert_eq!(
        h.ok("mesh_view", json!({}))["static_peers"],
        json!(["192.168.1.21", "10.0.0.5:47500"]),
        "a refused list changes nothing"
    );
    h.ok("save_mesh_peers", json!({"peers": []}));
    assert!(crate::config::DeviceConfig::load(dir.path())
        .unwrap()
        .mesh_peers
        .is_empty());
}

/// Defect 5: a wrong PIN in the approval dialog counted toward the manager's own login lockout;
/// and the approval said "50.05%" when 50% was typed.
#[test]
fn regression_wrong_approval_pins_do_not_lock_the_manager_out() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let manager = h.staff("manager");
    let cashier = h.staff("cashier");
    for _ in 1..pos_core::auth::MAX_FAILURES {
        assert_eq!(
            h.err_code(
                "approve_manager",
                json!({"user_id": manager, "pin": "0000"})
            ),
            "WRONG_PIN"
        );
    }
    assert_eq!(
        h.err_code(
            "approve_manager",
            json!({"user_id": manager, "pin": "0000"})
        ),
        "LOCKED_OUT",
        "approvals lock after five"
    );
    assert_eq!(
        h.err_code(
            "approve_manager",
            json!({"user_id": manager, "pin": "2222"})
        ),
        "LOCKED_OUT",
        "even with the right PIN, for a while"
    );
    // The cashier cannot approve; the manager's own login still works.
    assert_eq!(
        h.err_code(
            "approve_manager",
            json!({"user_id": cashier, "pin": "3333"})
        ),
        "FORBIDDEN"
    );
    h.login("manager", "2222");
    // 50% of an odd amount rounds to a hair over 50%: the message says what was typed.
    h.till("cashier", "3333");
    let sid = counter_sale(&h, &[1]); // Espresso, 2.20
    h.ok(
        "scan_barcode",
        json!({"sale_id": sid, "barcode": barcode(5)}),
    ); // + 2.50 = 4.70
    let line = h.ok("get_sale", json!({"sale_id": sid}))["lines"][1]["id"].clone();
    match h.call(
        "set_line_discount",
        json!({"sale_id": sid, "line_id": line, "discount": {"kind": "percent", "value": 5000, "reason": "x"}}),
    ) {
        Err(e) => {
            assert_eq!(e["code"], "NEEDS_APPROVAL");
            let m = e["message"].as_str().unwrap();
            assert!(m.contains("50%") && !m.contains("50.0"), "{m}");
        }
        Ok(v) => panic!("a 50% discount needs approval: {v}"),
    }
}

/// Defect 6: "Recall last" on the grill column brought back a cold ticket.
#[test]
fn regression_recall_brings_back_this_stations_last_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = h.ok("open_sale", json!({"ticket": "Table 7"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in [7, 8] {
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(n)}),
        );
    }
    h.ok("fire_sale", json!({"sale_id": sid}));
    h.login("kitchen", "4444");
    let board = h.ok("kitchen_board", json!({}));
    let id_of = |station: &str| {
        board["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["station"] == station)
            .and_then(|t| t["id"].as_str())
            .unwrap()
            .to_string()
    };
    let (grill, cold) = (id_of("grill"), id_of("cold"));
    h.ok(
        "kitchen_action",
        json!({"ticket_id": grill, "action": "bump"}),
    );
    std::thread::sleep(Duration::from_millis(5));
    let b = h.ok(
        "kitchen_action",
        json!({"ticket_id": cold, "action": "bump"}),
    );
    assert_eq!(b["last_bumped"], cold.as_str(), "the newest overall");
    assert_eq!(b["last_bumped_by_station"]["grill"], grill.as_str());
    assert_eq!(b["last_bumped_by_station"]["cold"], cold.as_str());
}

/// Defect 7: the refund dialog let the quantity exceed what is refundable, showed no prices or
/// total, and ticked restock for items that track no stock.
#[test]
fn regression_a_refund_is_quoted_before_it_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("manager", "2222");
    let sid = counter_sale(&h, &[5, 1]); // Croissant (tracked) 2.50, Espresso 2.20
    let paid = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
    );
    let no = paid["outcome"]["receipt_no"].as_str().unwrap().to_string();
    // Found from the list of closed sales, without typing the number.
    let recent = h.ok("closed_sales", json!({"limit": 5}));
    assert_eq!(recent[0]["receipt_no"], no.as_str());
    let sale = h.ok("find_receipt", json!({"receipt_no": no}));
    let lines = sale["lines"].as_array().unwrap();
    let croissant = lines.iter().find(|l| l["name"] == "Croissant").unwrap();
    let espresso = lines.iter().find(|l| l["name"] == "Espresso").unwrap();
    assert_eq!(croissant["track_stock"], true);
    assert_eq!(espresso["track_stock"], false);
    assert_eq!(croissant["refundable_qty"], 1);
    let q = h.ok(
        "refund_quote",
        json!({"sale_id": sid, "lines": [{"line_id": croissant["id"], "qty": 1}, {"line_id": espresso["id"], "qty": 1}]}),
    );
    assert_eq!(q["total"], 470);
    assert_eq!(q["lines"][croissant["id"].as_str().unwrap()], 250);
    assert_eq!(
        h.err_code(
            "refund_quote",
            json!({"sale_id": sid, "lines": [{"line_id": croissant["id"], "qty": 2}]})
        ),
        "INVALID",
        "2 of 1 is refused before anything is written"
    );
}

/// A demo store on disk whose settings put it in `zone` (saved by its owner, as the back office
/// would).
fn store_in_zone(dir: &std::path::Path, zone: &str) {
    let (mut store, d) = pos_core::demo::seed(&crate::state::store_path(dir)).unwrap();
    let settings = pos_core::catalog::StoreSettings {
        time_zone: zone.into(),
        ..store.settings().unwrap().clone()
    };
    store.save_settings(&d.owner, settings).unwrap();
}

/// `ms` as Tokyo's wall clock, by hand: Japan keeps UTC+9 all year (no daylight saving).
fn tokyo(ms: i64) -> String {
    pos_core::calendar::StoreClock::utc().date_time(ms + 9 * 3_600_000)
}

/// Issue 11: the till prints the store's time, whatever the device's own zone is.
#[test]
fn a_tokyo_store_prints_tokyo_time_on_receipts_z_reports_and_lockouts() {
    let dir = tempfile::tempdir().unwrap();
    store_in_zone(dir.path(), "Asia/Tokyo");
    let h = harness(dir.path());
    // The screens get the zone too, to show their times like the receipts.
    assert_eq!(h.ok("app_info", json!({}))["time_zone"], "Asia/Tokyo");
    h.till("cashier", "3333");
    let sid = sell_croissant(&h);
    let closed_at = h.ok("get_sale", json!({"sale_id": sid}))["closed_at"]
        .as_i64()
        .expect("a paid sale is closed");
    let receipt = h.ok("receipt_preview", json!({"doc_id": sid}));
    let receipt = receipt.as_str().unwrap();
    assert!(receipt.contains(&tokyo(closed_at)), "{receipt}");
    let utc = pos_core::calendar::StoreClock::utc().date_time(closed_at);
    assert!(!receipt.contains(&utc), "UTC's {utc} on {receipt}");
    // The Z report's period, with the zone's abbreviation.
    h.login("manager", "2222");
    let z = h.ok(
        "close_shift",
        json!({"counts": {"10000": 1, "200": 1, "20": 1}, "confirm": true}),
    );
    let text = z["text"].as_str().unwrap();
    for at in [&z["report"]["opened_at"], &z["report"]["until"]] {
        let at = at.as_i64().unwrap();
        assert!(text.contains(&format!("{} JST", tokyo(at))), "{text}");
    }
    // A lockout says when it ends, in Tokyo's time.
    let carl = h.staff("cashier");
    let e = loop {
        let e = h
            .call("login", json!({"user_id": carl, "pin": "0000"}))
            .unwrap_err();
        if e["code"] != "WRONG_PIN" {
            break e;
        }
    };
    assert_eq!(e["code"], "LOCKED_OUT", "{e}");
    let message = e["message"].as_str().unwrap();
    let until = e["details"]["until"].as_i64().unwrap();
    let hms = pos_core::calendar::StoreClock::utc().time_of_day(until + 9 * 3_600_000);
    let hms = hms.trim_end_matches(" UTC");
    assert!(message.ends_with(&format!("until {hms} JST.")), "{message}");
}

/// Defect 12: a cashier's Void and Refund were disabled with no way through; now they offer a
/// manager's PIN, as discounts do. An approval is needed (naming a manager who entered no PIN is
/// refused), is for one permission, outlives a refused attempt and is used up by the first
/// command that succeeds with it.
#[test]
fn regression_void_and_refund_take_a_managers_pin() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let manager = h.staff("manager");
    let sid = counter_sale(&h, &[1]);
    assert_eq!(
        h.err_code("void_sale", json!({"sale_id": sid, "reason": "x"})),
        "FORBIDDEN"
    );
    // Naming the manager without their PIN does nothing.
    assert_eq!(
        h.err_code(
            "void_sale",
            json!({"sale_id": sid, "reason": "x", "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );
    // An approval for refunds does not void.
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "sale.refund"}),
    );
    assert_eq!(
        h.err_code(
            "void_sale",
            json!({"sale_id": sid, "reason": "x", "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "sale.void"}),
    );
    h.ok(
        "void_sale",
        json!({"sale_id": sid, "reason": "customer left", "approved_by": manager}),
    );
    assert_eq!(
        h.ok("get_sale", json!({"sale_id": sid}))["status"],
        "voided"
    );
    // The void approval is used up.
    let again = counter_sale(&h, &[1]);
    assert_eq!(
        h.err_code(
            "void_sale",
            json!({"sale_id": again, "reason": "x", "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );

    // Refund with the refund approval granted above: a refused quantity keeps it.
    let paid = h.ok(
        "pay",
        json!({"sale_id": again, "tender_kind": "cash", "amount": 1000}),
    );
    assert_eq!(paid["sale"]["status"], "closed", "{paid}");
    let line = h.ok("get_sale", json!({"sale_id": again}))["lines"][0]["id"].clone();
    let refund = |qty: i64| {
        h.call(
            "refund_sale",
            json!({"sale_id": again, "tender_kind": "cash", "reason": "cold", "approved_by": manager,
                   "lines": [{"line_id": line, "qty": qty, "restock": false}]}),
        )
    };
    assert_eq!(refund(2).unwrap_err()["code"], "INVALID");
    let r = refund(1).expect("approved refund");
    assert!(r["receipt_no"].as_str().is_some());
    // Used up: a second refund would need another PIN (and there is nothing left anyway).
    assert_eq!(refund(1).unwrap_err()["code"], "NEEDS_APPROVAL");
    // Logging out forgets approvals.
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "sale.void"}),
    );
    h.ok("logout", json!({}));
    h.till("cashier", "3333");
    let third = counter_sale(&h, &[1]);
    assert_eq!(
        h.err_code(
            "void_sale",
            json!({"sale_id": third, "reason": "x", "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );
}

// ---------------------------------------------------------------- issue 17: KDS and back office

fn board_tickets(b: &Value) -> Vec<Value> {
    b["tickets"].as_array().cloned().unwrap_or_default()
}

/// A ticket says whether the order is a counter sale or a table, and who took it.
#[test]
fn kds_tickets_show_the_order_type_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = counter_sale(&h, &[2]); // Latte (bar)
    h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
    );
    h.till("manager", "2222");
    let table = h.ok("open_sale", json!({"ticket": "Table 7"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "scan_barcode",
        json!({"sale_id": table, "barcode": barcode(7)}),
    );
    h.ok("fire_sale", json!({"sale_id": table}));
    h.login("kitchen", "4444");
    let b = h.ok("kitchen_board", json!({}));
    let tickets = board_tickets(&b);
    let bar = tickets.iter().find(|t| t["station"] == "bar").unwrap();
    assert_eq!(bar["order_type"], "counter", "{bar}");
    assert_eq!(bar["server"], "Carl Cashier");
    let grill = tickets.iter().find(|t| t["station"] == "grill").unwrap();
    assert_eq!(grill["order_type"], "table", "{grill}");
    assert_eq!(grill["ticket"], "Table 7");
    assert_eq!(grill["server"], "Maria Manager");
    assert_eq!(grill["sale_id"], table.as_str());
}

/// A station lists its last ten bumped tickets, newest first, and any of them can be recalled,
/// not only the last.
#[test]
fn kds_lists_the_stations_last_ten_bumped_tickets_and_recalls_any() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    for _ in 0..12 {
        let sid = counter_sale(&h, &[2]);
        h.ok(
            "pay",
            json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
        );
    }
    // A grill ticket, which the bar's list must not show.
    let sid = counter_sale(&h, &[7]);
    h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 5000}),
    );
    h.login("kitchen", "4444");
    let b = h.ok("kitchen_board", json!({}));
    let mut bumped = Vec::new();
    for t in board_tickets(&b) {
        let id = t["id"].as_str().unwrap().to_string();
        h.ok("kitchen_action", json!({"ticket_id": id, "action": "bump"}));
        bumped.push((t["station"].as_str().unwrap().to_string(), id));
        std::thread::sleep(Duration::from_millis(3));
    }
    let b = h.ok("kitchen_board", json!({}));
    assert!(board_tickets(&b).is_empty());
    let recent: Vec<String> = b["recent_bumped"]["bar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let bar: Vec<String> = bumped
        .iter()
        .filter(|(st, _)| st == "bar")
        .map(|(_, id)| id.clone())
        .rev()
        .take(10)
        .collect();
    assert_eq!(recent, bar, "the bar's last ten, newest first");
    assert_eq!(b["recent_bumped"]["grill"].as_array().unwrap().len(), 1);
    // The fifth newest comes back, and leaves the list.
    let b = h.ok(
        "kitchen_action",
        json!({"ticket_id": recent[4], "action": "recall"}),
    );
    let back = board_tickets(&b);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0]["id"], recent[4].as_str());
    assert!(!b["recent_bumped"]["bar"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == recent[4].as_str()));
}

/// The expo shows each order's tickets of every station together: which are done, which not.
#[test]
fn kds_expo_shows_an_orders_tickets_of_every_station() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = h.ok("open_sale", json!({"ticket": "Table 7"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in [7, 8] {
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(n)}),
        );
    }
    h.ok("fire_sale", json!({"sale_id": sid}));
    let other = counter_sale(&h, &[2]);
    h.ok(
        "pay",
        json!({"sale_id": other, "tender_kind": "cash", "amount": 1000}),
    );
    h.login("kitchen", "4444");
    let e = h.ok("kitchen_expo", json!({}));
    let orders = e["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{e}");
    let t7 = orders
        .iter()
        .find(|o| o["sale_id"] == sid.as_str())
        .unwrap();
    assert_eq!(t7["ticket"], "Table 7");
    assert_eq!(t7["order_type"], "table");
    assert_eq!(t7["server"], "Carl Cashier");
    assert_eq!(t7["done"], 0);
    let stations: Vec<&str> = t7["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["station"].as_str().unwrap())
        .collect();
    assert_eq!(stations.len(), 2);
    assert!(stations.contains(&"grill") && stations.contains(&"cold"));
    let grill = t7["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["station"] == "grill")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "kitchen_action",
        json!({"ticket_id": grill, "action": "bump"}),
    );
    let e = h.ok("kitchen_expo", json!({}));
    let t7 = e["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["sale_id"] == sid.as_str())
        .unwrap()
        .clone();
    assert_eq!(t7["done"], 1, "the grill is done, the cold is not: {t7}");
    let status = |st: &str| {
        t7["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["station"] == st)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("grill"), "bumped");
    assert_ne!(status("cold"), "bumped");
    let cold = t7["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["station"] == "cold")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok(
        "kitchen_action",
        json!({"ticket_id": cold, "action": "bump"}),
    );
    let e = h.ok("kitchen_expo", json!({}));
    assert!(
        !e["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["sale_id"] == sid.as_str()),
        "an order all done leaves the expo: {e}"
    );
}

/// A count shows counted against expected per item before it is posted.
#[test]
fn a_count_shows_its_differences_before_it_is_posted() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    let levels = h.ok("stock_levels", json!({"filter": "all"}));
    let row = |sku: &str| {
        levels
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == sku)
            .unwrap()
            .clone()
    };
    let (cro, muf) = (row("BAK-CRO"), row("BAK-MUF"));
    let count = h.ok("start_count", json!({}));
    h.ok(
        "count_item",
        json!({"count_id": count, "item_id": cro["item_id"], "counted": 20}),
    );
    h.ok(
        "count_item",
        json!({"count_id": count, "item_id": muf["item_id"], "counted": 15}),
    );
    let sheet = h.ok("count_sheet", json!({"count_id": count}));
    assert_eq!(sheet["posted"], false);
    let line = |name: &str| {
        sheet["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()
            .clone()
    };
    let c = line("Croissant");
    assert_eq!(
        (
            c["expected"].clone(),
            c["counted"].clone(),
            c["difference"].clone()
        ),
        (json!(24), json!(20), json!(-4))
    );
    let m = line("Blueberry muffin");
    assert_eq!(m["difference"], 3, "{m}");
    // Nothing moved yet.
    let still = h.ok("stock_levels", json!({"filter": "all"}));
    assert!(still
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["sku"] == "BAK-CRO" && r["on_hand"] == 24));
    h.ok("post_count", json!({"count_id": count}));
    assert_eq!(
        h.ok("count_sheet", json!({"count_id": count}))["posted"],
        true
    );
    assert_eq!(
        h.err_code("count_sheet", json!({"count_id": "nope"})),
        "INVALID"
    );
}

/// A delivery of several items posts once and raises each.
#[test]
fn a_delivery_of_many_lines_posts_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.login("manager", "2222");
    let levels = h.ok("stock_levels", json!({"filter": "all"}));
    let id_of = |sku: &str| {
        levels
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == sku)
            .unwrap()["item_id"]
            .clone()
    };
    h.ok(
        "receive_stock",
        json!({"supplier_ref": "DN-1", "lines": [
            {"item_id": id_of("BAK-CRO"), "qty": 6, "unit_cost": 90},
            {"item_id": id_of("BAK-MUF"), "qty": 4, "unit_cost": 110}
        ]}),
    );
    let after = h.ok("stock_levels", json!({"filter": "all"}));
    let on = |sku: &str| {
        after
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == sku)
            .unwrap()["on_hand"]
            .clone()
    };
    assert_eq!((on("BAK-CRO"), on("BAK-MUF")), (json!(30), json!(16)));
}

/// The refunds list: receipt, original sale, total, who and when; a cashier may not read it.
#[test]
fn the_refunds_list_names_the_receipt_the_sale_the_total_and_who() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("manager", "2222");
    let sid = counter_sale(&h, &[5, 1]);
    let paid = h.ok(
        "pay",
        json!({"sale_id": sid, "tender_kind": "cash", "amount": 1000}),
    );
    let no = paid["outcome"]["receipt_no"].as_str().unwrap().to_string();
    let sale = h.ok("get_sale", json!({"sale_id": sid}));
    let line = sale["lines"][0]["id"].clone();
    assert!(h
        .ok("refunds_list", json!({}))
        .as_array()
        .unwrap()
        .is_empty());
    let r = h.ok(
        "refund_sale",
        json!({"sale_id": sid, "lines": [{"line_id": line, "qty": 1}], "tender_kind": "cash", "reason": "cold"}),
    );
    let list = h.ok("refunds_list", json!({"limit": 10}));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], r["refund_id"]);
    assert_eq!(list[0]["sale_id"], sid.as_str());
    assert_eq!(list[0]["sale_receipt_no"], no.as_str());
    assert_eq!(list[0]["total"], r["total"]);
    assert_eq!(list[0]["refunded_by_name"], "Maria Manager");
    assert_eq!(list[0]["reason"], "cold");
    assert!(list[0]["receipt_no"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(list[0]["created_at"].as_i64().unwrap() > 0);
    h.login("cashier", "3333");
    assert_eq!(h.err_code("refunds_list", json!({})), "FORBIDDEN");
}

// ---------------------------------------------------------------- issue 17: the till's features

fn sid_of(v: &Value) -> String {
    v["id"].as_str().expect("sale id").to_string()
}

/// A line is edited after it was added: quantity, modifiers (chosen again) and course, in one
/// command; a bad modifier is refused and changes nothing.
#[test]
fn a_line_is_edited_from_the_cart() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = counter_sale(&h, &[2]); // Latte 3.50
    let line = h.ok("get_sale", json!({"sale_id": sid}))["lines"][0]["id"].clone();
    let v = h.ok(
        "edit_line",
        json!({"sale_id": sid, "line_id": line, "qty": 2,
               "modifiers": [{"group": "milk", "option": "oat"}]}),
    );
    assert_eq!(v["lines"][0]["qty"], 2, "{v}");
    assert_eq!(v["lines"][0]["modifiers"], json!(["Oat milk"]));
    assert_eq!(
        v["lines"][0]["modifier_keys"],
        json!([{"group": "milk", "option": "oat"}])
    );
    assert_eq!(v["total"], 2 * 390);
    assert_eq!(
        h.err_code(
            "edit_line",
            json!({"sale_id": sid, "line_id": line, "modifiers": [{"group": "milk", "option": "goat"}]})
        ),
        "INVALID"
    );
    let v = h.ok(
        "edit_line",
        json!({"sale_id": sid, "line_id": line, "modifiers": []}),
    );
    assert_eq!(v["lines"][0]["modifiers"], json!([]));
    assert_eq!(v["total"], 700);
    assert_eq!(
        h.err_code(
            "edit_line",
            json!({"sale_id": sid, "line_id": line, "qty": 0})
        ),
        "INVALID"
    );
}

/// A cashier's price override takes a manager's PIN for `price.override`, used up by the
/// override; a manager overrides and clears without one.
#[test]
fn a_price_override_takes_a_managers_pin_for_a_cashier() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let manager = h.staff("manager");
    let sid = counter_sale(&h, &[5]); // Croissant 2.50
    let line = h.ok("get_sale", json!({"sale_id": sid}))["lines"][0]["id"].clone();
    let args = |approver: Option<&str>| json!({"sale_id": sid, "line_id": line, "price": 100, "approved_by": approver});
    assert_eq!(h.err_code("override_price", args(None)), "FORBIDDEN");
    assert_eq!(
        h.err_code("override_price", args(Some(&manager))),
        "NEEDS_APPROVAL"
    );
    // A discount approval is not a price approval.
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "discount.override"}),
    );
    assert_eq!(
        h.err_code("override_price", args(Some(&manager))),
        "NEEDS_APPROVAL"
    );
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "price.override"}),
    );
    let v = h.ok("override_price", args(Some(&manager)));
    assert_eq!(v["lines"][0]["unit_price"], 100, "{v}");
    assert_eq!(v["lines"][0]["price_override"], 100);
    assert_eq!(v["lines"][0]["price_overridden"], true);
    assert_eq!(v["total"], 100);
    // Used up.
    assert_eq!(
        h.err_code("override_price", args(Some(&manager))),
        "NEEDS_APPROVAL"
    );
    h.login("manager", "2222");
    let v = h.ok(
        "override_price",
        json!({"sale_id": sid, "line_id": line, "price": null}),
    );
    assert_eq!(v["total"], 250);
    assert_eq!(v["lines"][0]["price_overridden"], false);
}

/// A table's guest count; courses: Fire sends the course asked for and holds the next, which
/// the kitchen gets as course 2.
#[test]
fn guests_and_courses_held_then_fired() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = sid_of(&h.ok("open_sale", json!({"ticket": "Table 6"})));
    let v = h.ok("set_guests", json!({"sale_id": sid, "guests": 3}));
    assert_eq!(v["guests"], 3);
    assert_eq!(
        h.err_code("set_guests", json!({"sale_id": sid, "guests": -2})),
        "INVALID"
    );
    for n in [7, 8] {
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(n)}),
        ); // Cheeseburger (grill), Caesar salad (cold)
    }
    let v = h.ok("get_sale", json!({"sale_id": sid}));
    let burger = v["lines"][0]["id"].clone();
    assert_eq!(v["lines"][0]["course"], 1);
    let v = h.ok(
        "edit_line",
        json!({"sale_id": sid, "line_id": burger, "course": 2}),
    );
    assert_eq!(v["unfired_courses"], json!([1, 2]), "{v}");
    assert_eq!(v["next_course"], 1);
    let fired = h.ok("fire_sale", json!({"sale_id": sid, "course": 1}));
    assert_eq!(fired["tickets"], 1);
    assert_eq!(fired["sale"]["unfired_courses"], json!([2]));
    assert_eq!(fired["sale"]["next_course"], 2);
    let fired = h.ok("fire_sale", json!({"sale_id": sid, "course": 2}));
    assert_eq!(fired["tickets"], 1);
    assert_eq!(fired["sale"]["next_course"], Value::Null);
    h.login("kitchen", "4444");
    let mut seen: Vec<(String, i64)> = board_tickets(&h.ok("kitchen_board", json!({})))
        .iter()
        .map(|t| {
            (
                t["station"].as_str().unwrap().to_string(),
                t["course"].as_i64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("cold".to_string(), 1), ("grill".to_string(), 2)],
        "the burger is course 2, not a second course 1"
    );
    assert!(board_tickets(&h.ok("kitchen_board", json!({})))
        .iter()
        .all(|t| t["guests"] == 3));
}

/// Issue 17: a table's bill split by item (part of a line too) into a sale paid on its own;
/// the rest stays on the table; totals add up; a fired line needs `sale.void`.
#[test]
fn split_by_item_moves_lines_to_a_sale_paid_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = sid_of(&h.ok("open_sale", json!({"ticket": "Table 5"})));
    for n in [2, 5, 7] {
        // Latte, Croissant, Cheeseburger (grill)
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(n)}),
        );
    }
    let first = h.ok("get_sale", json!({"sale_id": sid}));
    let latte_id = first["lines"][0]["id"].clone();
    h.ok(
        "set_line_qty",
        json!({"sale_id": sid, "line_id": latte_id, "qty": 2}),
    );
    let before = h.ok("get_sale", json!({"sale_id": sid}));
    let line = |v: &Value, name: &str| {
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"].as_str().unwrap().contains(name))
            .unwrap()
            .clone()
    };
    let latte = line(&before, "Latte");
    assert_eq!(latte["qty"], 2);
    let burger = line(&before, "burger")["id"].clone();
    // Not fired yet: a cashier moves part of a line.
    let part = h.ok(
        "split_sale",
        json!({"sale_id": sid, "lines": [{"line_id": latte["id"], "qty": 1}]}),
    );
    assert_eq!(part["ticket"], "Table 5 · 2");
    assert_eq!(part["lines"].as_array().unwrap().len(), 1);
    assert_eq!(part["lines"][0]["qty"], 1);
    assert_eq!(part["lines"][0]["fired"], false);
    h.ok("fire_sale", json!({"sale_id": sid, "course": null}));
    let rest = h.ok("get_sale", json!({"sale_id": sid}));
    assert_eq!(line(&rest, "Latte")["qty"], 1);
    assert_eq!(
        rest["total"].as_i64().unwrap() + part["total"].as_i64().unwrap(),
        before["total"].as_i64().unwrap()
    );
    // Moving the fired burger is `sale.void`'s: not a cashier's. Nothing moves.
    assert_eq!(
        h.err_code(
            "split_sale",
            json!({"sale_id": sid, "lines": [{"line_id": burger, "qty": 1}]})
        ),
        "FORBIDDEN"
    );
    assert_eq!(h.ok("get_sale", json!({"sale_id": sid})), rest);
    assert_eq!(
        h.err_code("split_sale", json!({"sale_id": sid, "lines": []})),
        "INVALID"
    );
    // The fired burger goes on its own sale with a manager's PIN, used up by it.
    let manager = h.staff("manager");
    let croissant = line(&rest, "Croissant")["id"].clone();
    let (croissant, burger) = (burger, croissant);
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "sale.void"}),
    );
    let third = h.ok(
        "split_sale",
        json!({"sale_id": sid, "lines": [{"line_id": croissant, "qty": 1}], "approved_by": manager}),
    );
    assert_eq!(third["ticket"], "Table 5 · 3");
    assert_eq!(third["lines"][0]["fired"], true);
    assert_eq!(
        h.err_code(
            "split_sale",
            json!({"sale_id": sid, "lines": [{"line_id": burger, "qty": 1}], "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );
    let rest = h.ok("get_sale", json!({"sale_id": sid}));
    assert_eq!(
        rest["total"].as_i64().unwrap()
            + part["total"].as_i64().unwrap()
            + third["total"].as_i64().unwrap(),
        before["total"].as_i64().unwrap()
    );
    // The part is paid on its own; the table stays open.
    let pid = sid_of(&part);
    let paid = h.ok(
        "pay",
        json!({"sale_id": pid, "tender_kind": "cash", "amount": part["due"], "reference": null}),
    );
    assert!(paid["outcome"]["receipt_no"].is_string(), "{paid}");
    assert_eq!(h.ok("get_sale", json!({"sale_id": sid}))["status"], "open");
}

/// Issue 17: a bill paid evenly by three guests, each paying `even_share`; the last share takes
/// the remainder and closes the sale.
#[test]
fn split_evenly_pays_equal_shares_the_last_takes_the_remainder() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = counter_sale(&h, &[2, 5, 5]);
    let total = h.ok("get_sale", json!({"sale_id": sid}))["total"]
        .as_i64()
        .unwrap();
    let mut shares = vec![];
    for _ in 0..3 {
        let share = h.ok("even_share", json!({"sale_id": sid, "parts": 3}));
        let share = share.as_i64().unwrap();
        shares.push(share);
        h.ok(
            "pay",
            json!({"sale_id": sid, "tender_kind": "cash", "amount": share, "reference": null}),
        );
    }
    assert_eq!(shares.iter().sum::<i64>(), total);
    assert_eq!(shares[0], total / 3);
    assert_eq!(shares[1], total / 3);
    assert_eq!(shares[2], total - 2 * (total / 3));
    assert_eq!(
        h.ok("get_sale", json!({"sale_id": sid}))["status"],
        "closed"
    );
    assert_eq!(
        h.err_code("even_share", json!({"sale_id": sid, "parts": 0})),
        "INVALID"
    );
}

/// Issue 17: a ticket moves to a free table only; two tables merge, fired lines stay fired, the
/// emptied table is voided; merging fired lines takes a manager's PIN from a cashier.
#[test]
fn tables_move_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let manager = h.staff("manager");
    let a = sid_of(&h.ok("open_sale", json!({"ticket": "Table 1"})));
    let b = sid_of(&h.ok("open_sale", json!({"ticket": "Table 2"})));
    h.ok("scan_barcode", json!({"sale_id": a, "barcode": barcode(2)}));
    h.ok("scan_barcode", json!({"sale_id": b, "barcode": barcode(5)}));
    assert_eq!(
        h.err_code("move_ticket", json!({"sale_id": a, "table": "Table 2"})),
        "INVALID"
    );
    let v = h.ok("move_ticket", json!({"sale_id": a, "table": "Table 9"}));
    assert_eq!(v["ticket"], "Table 9");

    let ta = h.ok("get_sale", json!({"sale_id": a}))["total"]
        .as_i64()
        .unwrap();
    let tb = h.ok("get_sale", json!({"sale_id": b}))["total"]
        .as_i64()
        .unwrap();
    let merged = h.ok("merge_sales", json!({"from": a, "into": b}));
    assert_eq!(merged["total"].as_i64().unwrap(), ta + tb);
    assert_eq!(merged["lines"].as_array().unwrap().len(), 2);
    assert_eq!(h.ok("get_sale", json!({"sale_id": a}))["status"], "voided");
    let open: Vec<Value> = h.ok("open_sales", json!({})).as_array().unwrap().clone();
    assert!(
        open.iter().all(|s| s["id"] != json!(a)),
        "the merged table is gone"
    );

    // Fired lines: a manager's PIN.
    let c = sid_of(&h.ok("open_sale", json!({"ticket": "Table 3"})));
    h.ok("scan_barcode", json!({"sale_id": c, "barcode": barcode(7)}));
    h.ok("fire_sale", json!({"sale_id": c, "course": null}));
    assert_eq!(
        h.err_code("merge_sales", json!({"from": c, "into": b})),
        "FORBIDDEN"
    );
    assert_eq!(
        h.err_code(
            "merge_sales",
            json!({"from": c, "into": b, "approved_by": manager})
        ),
        "NEEDS_APPROVAL"
    );
    h.ok(
        "approve_manager",
        json!({"user_id": manager, "pin": "2222", "permission": "sale.void"}),
    );
    let merged = h.ok(
        "merge_sales",
        json!({"from": c, "into": b, "approved_by": manager}),
    );
    let lines = merged["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().any(|l| l["fired"] == true), "{merged}");
    assert_eq!(h.ok("get_sale", json!({"sale_id": c}))["status"], "voided");
}

/// Regression (issue 17, moving and merging tables): a kitchen ticket keeps the table it was
/// fired for, so after a move or a merge the cook plated for a table nobody sat at. The board
/// and the expo show the order's table now, and a merged table's tickets join its new order.
#[test]
fn regression_a_kitchen_ticket_follows_its_table_when_moved_or_merged() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("manager", "2222");
    let a = sid_of(&h.ok("open_sale", json!({"ticket": "Table 4"})));
    h.ok("scan_barcode", json!({"sale_id": a, "barcode": barcode(2)}));
    h.ok("fire_sale", json!({"sale_id": a, "course": null}));
    h.ok("move_ticket", json!({"sale_id": a, "table": "Table 8"}));
    let names = |b: &Value| -> Vec<Value> {
        board_tickets(b)
            .iter()
            .map(|t| t["ticket"].clone())
            .collect()
    };
    assert_eq!(
        names(&h.ok("kitchen_board", json!({}))),
        vec![json!("Table 8")]
    );

    let b = sid_of(&h.ok("open_sale", json!({"ticket": "Table 6"})));
    h.ok("scan_barcode", json!({"sale_id": b, "barcode": barcode(2)}));
    h.ok("fire_sale", json!({"sale_id": b, "course": null}));
    h.ok("merge_sales", json!({"from": a, "into": b}));
    let board = h.ok("kitchen_board", json!({}));
    assert_eq!(names(&board), vec![json!("Table 6"), json!("Table 6")]);
    assert!(
        board_tickets(&board)
            .iter()
            .all(|t| t["sale_id"] == json!(b)),
        "{board}"
    );
    let expo = h.ok("kitchen_expo", json!({}));
    let orders = expo["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{expo}");
    assert_eq!(orders[0]["ticket"], "Table 6");
    assert_eq!(orders[0]["tickets"].as_array().unwrap().len(), 2);
}

/// Issue 17: the UI's command bindings and view types are generated from the Rust commands and
/// structs (tauri-specta), and the checked-in `ui/src/lib/bindings.ts` is what they generate: a
/// field or an argument added in Rust and not in the UI fails here (then svelte-check fails on
/// the UI's use). `POS_UPDATE_BINDINGS=1` rewrites the file.
#[test]
fn bindings_of_the_ui_commands_and_view_types_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/src/lib/bindings.ts");
    let generated = crate::bindings::typescript();
    if std::env::var_os("POS_UPDATE_BINDINGS").is_some() {
        std::fs::write(path, &generated).expect("write bindings");
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "ui/src/lib/bindings.ts is stale: run POS_UPDATE_BINDINGS=1 cargo test -p pos-desktop --lib bindings"
    );
    // Every command of the invoke handler (command_names.in) has its typed function, and no
    // other: the two command lists cannot drift apart.
    let names: Vec<&str> = include_str!("command_names.in")
        .split('"')
        .skip(1)
        .step_by(2)
        .collect();
    for name in &names {
        assert!(
            generated.contains(&format!(">(\"{name}\"")),
            "{name} has no generated binding"
        );
    }
    assert_eq!(generated.matches("__TAURI_INVOKE<").count(), names.len());
    for ty in [
        "SaleView",
        "LineView",
        "Board",
        "SyncStatus",
        "Progress",
        "PosError",
    ] {
        assert!(generated.contains(&format!("export type {ty} = ")), "{ty}");
    }
}

/// Issue 17, "merging identical lines": on a table, the same item added twice stays two lines
/// until `merge_lines` combines them.
#[test]
fn merge_lines_combines_a_tables_identical_lines() {
    let dir = tempfile::tempdir().unwrap();
    let h = demo(dir.path());
    h.till("cashier", "3333");
    let sid = h.ok("open_sale", json!({"ticket": "Table 9"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        h.ok(
            "scan_barcode",
            json!({"sale_id": sid, "barcode": barcode(5)}),
        );
    }
    assert_eq!(
        h.ok("get_sale", json!({"sale_id": sid}))["lines"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let v = h.ok("merge_lines", json!({"sale_id": sid}));
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{v}");
    assert_eq!(lines[0]["qty"], 2);
    assert_eq!(
        h.err_code("merge_lines", json!({"sale_id": "not-an-id"})),
        "INVALID"
    );
}
