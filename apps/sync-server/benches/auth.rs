//! Head-office login with and without two-factor (issue 13): the real `pos-sync-server` process
//! (release build, its own PostgreSQL cluster). A password login costs one argon2id
//! verification; a two-factor login is the password step plus the code step (a TOTP check and
//! the atomic update of its step). Both are measured in the same run, on the same machine.
//!
//! Run: `cargo bench -p pos-sync-server --bench auth`. Figures in docs/benchmarks.md.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pos_sync::headoffice::HeadOffice;
use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret};

const ADMIN: &str = "auth-bench@platform.test";
const PW: &str = "benchmark password 123";
/// People per kind of login; each logs in once (a TOTP code counts once per step).
const PEOPLE: usize = 40;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn code(secret: &str, step: u64) -> String {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp")
        .generate(step * 30)
        .to_string()
}

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
            .args([
                "--data-dir",
                &dir.path().join("server").display().to_string(),
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--bootstrap-admin-email",
                ADMIN,
                "--bootstrap-admin-password",
                PW,
            ])
            // Optional: the bench enrols half of its people itself.
            .args(["--admin-2fa", "optional", "--daily-summary-every-secs", "0"])
            .args([
                "--login-per-ip-per-min",
                "100000",
                "--login-per-email-per-min",
                "100000",
            ])
            .args(["--log", "warn"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start pos-sync-server"),
    );
    let t0 = Instant::now();
    let root = loop {
        match HeadOffice::login(&url, ADMIN, PW) {
            Ok(h) => break h,
            Err(_) if t0.elapsed() < Duration::from_secs(180) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    };
    root.create_tenant("Bench", "owner@bench.test", PW)
        .expect("tenant");
    let owner = HeadOffice::login(&url, "owner@bench.test", PW).expect("owner");
    let mut plain = Vec::new();
    let mut second = Vec::new();
    for i in 0..2 * PEOPLE {
        let email = format!("person{i}@bench.test");
        owner
            .post(
                "/v1/admin/users",
                json!({"name": format!("Person {i}"), "email": email, "password": PW}),
            )
            .expect("user");
        if i % 2 == 0 {
            plain.push(email);
            continue;
        }
        let me = HeadOffice::login(&url, &email, PW).expect("login");
        let e = me.post("/v1/auth/2fa/enrol", json!({})).expect("enrol");
        let secret = e["secret"].as_str().expect("secret").to_string();
        let step = now_step();
        me.post("/v1/auth/2fa/confirm", json!({"code": code(&secret, step)}))
            .expect("confirm");
        second.push((email, secret, step));
    }

    // Password only: one request.
    let mut password_ms = Vec::new();
    {
        for email in &plain {
            let t = Instant::now();
            let r = root
                .post("/v1/auth/login", json!({"email": email, "password": PW}))
                .expect("login");
            assert!(r["access_token"].is_string());
            password_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    // Two-factor: the password step, then the code of a step not used yet.
    let mut totp_ms = Vec::new();
    {
        for (email, secret, enrolled_at) in &second {
            let t = Instant::now();
            let ch = root
                .post("/v1/auth/login", json!({"email": email, "password": PW}))
                .expect("login");
            // The step after enrolment's, or now: within the one step of drift, never reused.
            let step = (enrolled_at + 1).max(now_step());
            let r = root
                .post(
                    "/v1/auth/login/2fa",
                    json!({"challenge_token": ch["challenge_token"], "code": code(secret, step)}),
                )
                .expect("second step");
            assert!(r["access_token"].is_string(), "{r}");
            totp_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (p50, p95) = (
        pct(password_ms.clone(), 0.5),
        pct(password_ms.clone(), 0.95),
    );
    let (t50, t95) = (pct(totp_ms.clone(), 0.5), pct(totp_ms.clone(), 0.95));
    println!(
        "login, password only ({} logins): p50 {p50:.1} ms, p95 {p95:.1} ms",
        password_ms.len()
    );
    println!(
        "login with TOTP, both steps ({} logins): p50 {t50:.1} ms, p95 {t95:.1} ms",
        totp_ms.len()
    );
    println!(
        "ratio with/without TOTP: p50 {:.2}, p95 {:.2} (target: p95 <= 150 ms)",
        t50 / p50,
        t95 / p95
    );
}

fn now_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 30
}
