//! The hardened edge (issue 13): security headers on every answer, the metrics token, CORS only
//! for configured origins, a concurrency limit and a request timeout answered 503 UNAVAILABLE.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use pos_sync_server::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// Every header is there; an API answer has Helmet's values, a page may set stricter ones.
fn assert_hardened(r: &Resp, what: &str) {
    let page = what == "the console";
    for (name, value) in pos_sync_server::edge::SECURITY_HEADERS {
        let got = r
            .headers
            .get(*name)
            .unwrap_or_else(|| panic!("{what}: no {name}"));
        if !page && *name != "content-security-policy" {
            assert_eq!(got, value, "{what}: {name}");
        }
    }
    assert!(r.headers.get("server").is_none(), "{what}: a Server header");
    assert!(
        r.headers.get("x-powered-by").is_none(),
        "{what}: X-Powered-By"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_names_no_server() {
    let app = app().await;
    let ok = app
        .raw(Request::get("/health/live").body(Body::empty()).unwrap())
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_hardened(&ok, "a 200");
    assert_eq!(
        ok.headers["content-security-policy"],
        "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    );
    let missing = app
        .raw(
            Request::get("/v1/no-such-route")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_hardened(&missing, "a 404");
    let refused = app.login("nobody@example.test", "wrong password").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_hardened(&refused, "a 401");
    // The console's page keeps its own policy, and gets the rest.
    let page = app
        .raw(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_hardened(&page, "the console");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"),
        "{:?}",
        page.headers["content-security-policy"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_token_when_one_is_configured() {
    let app = app_with(Settings {
        metrics_token: Some("scrape-token-0123456789".into()),
        ..test_settings()
    })
    .await;
    let get = |auth: Option<&'static str>| {
        let mut b = Request::get("/metrics");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::empty()).unwrap()
    };
    assert_error(&app.raw(get(None)).await, StatusCode::UNAUTHORIZED, "AUTHN");
    assert_error(
        &app.raw(get(Some("Bearer scrape-token-0123456788"))).await,
        StatusCode::UNAUTHORIZED,
        "AUTHN",
    );
    let ok = app.raw(get(Some("Bearer scrape-token-0123456789"))).await;
    assert_eq!(ok.status, StatusCode::OK);
    // Without a configured token the metrics stay open (the operator keeps the port private).
    let open = app_with(test_settings()).await;
    assert_eq!(open.raw(get(None)).await.status, StatusCode::OK);
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/admin/stores")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_the_configured_origins() {
    let closed = app().await;
    let r = closed.raw(preflight("https://office.example")).await;
    assert!(
        r.headers.get("access-control-allow-origin").is_none(),
        "no CORS unless configured: {:?}",
        r.headers
    );
    let open = app_with(Settings {
        cors_origins: vec!["https://office.example".into()],
        ..test_settings()
    })
    .await;
    let r = open.raw(preflight("https://office.example")).await;
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://office.example"
    );
    let r = open.raw(preflight("https://evil.example")).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

/// Sends raw bytes and reads what comes back within `wait`.
async fn answer_of(stream: &mut tokio::net::TcpStream, wait: Duration) -> String {
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_too_many_is_shed_and_a_slow_one_times_out_with_503() {
    let server = real_server(&[
        "--max-concurrent-requests",
        "1",
        "--request-timeout-secs",
        "2",
    ])
    .await;
    // A client that sends half its body holds the one place.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(
        b"POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    other
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let shed = answer_of(&mut other, Duration::from_secs(5)).await;
    assert!(shed.starts_with("HTTP/1.1 503"), "{shed}");
    assert!(shed.contains("\"code\":\"UNAVAILABLE\""), "{shed}");
    assert!(shed.to_lowercase().contains("retry-after: 1"), "{shed}");
    // After the request timeout the slow one is answered 503 too, and the place is free.
    let timed_out = answer_of(&mut slow, Duration::from_secs(6)).await;
    assert!(timed_out.starts_with("HTTP/1.1 503"), "{timed_out}");
    assert!(timed_out.contains("longer than 2 s"), "{timed_out}");
    let mut again = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    again
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let ok = answer_of(&mut again, Duration::from_secs(5)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_past_its_request_budget_gets_429_and_another_tenant_does_not() {
    let app = app_with(Settings {
        tenant_requests_per_min: 6,
        ..test_settings()
    })
    .await;
    let a = app.tenant("Iota").await;
    let b = app.tenant("Kappa").await;
    let mut last = None;
    for _ in 0..10 {
        let r = app.get("/v1/admin/stores", &a.owner).await;
        if r.status != StatusCode::OK {
            last = Some(r);
            break;
        }
    }
    let refused = last.expect("the budget ran out");
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT");
    assert!(refused.headers.get("retry-after").is_some());
    assert_eq!(
        app.get("/v1/admin/stores", &b.owner).await.status,
        StatusCode::OK
    );
}
