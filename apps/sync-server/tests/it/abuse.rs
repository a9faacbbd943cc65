//! Issue 16: what the load-and-abuse benchmark (`benches/abuse.rs`: 1,000 honest tills while
//! 500 hostile connections attack) found, one regression test each, on the real socket of the
//! real server's startup. Each failed on the code before its fix.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::*;

/// The server's count of connections closed for a stalled write, read from `/metrics`.
async fn writes_timed_out(addr: std::net::SocketAddr) -> u64 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.lines()
        .find_map(|l| l.strip_prefix("pos_http_writes_timed_out_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Reads until the server closes the connection or `limit` passes: (bytes read, closed).
async fn drain(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + limit;
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return (out, false);
        };
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Found: a client that asked for answers and never read them kept its connection, and the
/// answers queued for it, for as long as it liked (hyper has no write timeout; the header
/// timeout runs only while a head is awaited). 42 such connections were still open when the
/// attack ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_client_that_never_reads_its_answers_is_closed() {
    let srv = real_server(&["--write-timeout-secs", "1"]).await;
    let before = writes_timed_out(srv.addr).await;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = socket.connect(srv.addr).await.expect("connect");
    // A hundred requests for the OpenAPI document (about 130 KB each), pipelined: far more than
    // the kernel's buffers hold, so the server's writes stall while nothing is read.
    s.write_all(&b"GET /v1/openapi.json HTTP/1.1\r\nhost: x\r\n\r\n".repeat(100))
        .await
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    while writes_timed_out(srv.addr).await <= before {
        assert!(
            Instant::now() < deadline,
            "the stalled connection is still served after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reading now finds the connection closed, long before the hundredth answer.
    let (got, closed) = drain(&mut s, Duration::from_secs(20)).await;
    assert!(closed, "the connection is still open");
    let answers = got.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
    assert!(answers < 100, "all {answers} answers were written");
    let _ = srv.stop.send(());
}

/// Found: the routes reached before any token is checked (login, refresh, enrolment) took
/// bodies up to the protocol's 16 MiB and held them whole until the body deadline (60 s): 38
/// logins of 16 MiB, each stalled before its last byte, took the server's RSS to 976 MiB.
/// Such a body is now refused past a small limit (64 KiB), as soon as that much has come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_login_body_past_a_small_limit_is_refused_before_it_is_held_whole() {
    let srv = real_server(&[]).await;
    for path in ["/v1/auth/login", "/v1/devices/enrol", "/v1/auth/refresh"] {
        let mut s = TcpStream::connect(srv.addr).await.expect("connect");
        // No length announced: a chunk of 100 KiB, then nothing.
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
            100 << 10
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(&vec![b' '; 100 << 10]).await.expect("chunk");
        s.write_all(b"\r\n").await.expect("chunk end");
        let (got, _) = drain(&mut s, Duration::from_secs(10)).await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 413"), "{path}: {got:?}");
        assert!(got.contains(r#""limit":65536"#), "{path}: {got:?}");
    }
    // A body under the limit is read as before (here: a wrong password, 401).
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    let body = br#"{"email":"nobody@example.test","password":"wrong password"}"#;
    let head = format!(
        "POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(body).await.expect("body");
    let (got, _) = drain(&mut s, Duration::from_secs(10)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 401"), "{got:?}");
    let _ = srv.stop.send(());
}

/// Found: a body whose declared length was over the limit (a login of 1 GiB) was read up to the
/// limit before the 413, and held until the body deadline when the client stalled first. It is
/// now refused by its `Content-Length` alone, before a byte of it is read, on every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_body_declared_over_its_limit_is_refused_before_it_is_read() {
    let srv = real_server(&[]).await;
    for (path, length, limit) in [
        // Over the protocol's limit: refused before routing, by the outer limit.
        ("/v1/auth/login", 1u64 << 30, 16 << 20),
        ("/v1/auth/login", 100 << 10, 65536),
        ("/v1/sync/push", 1 << 30, 16 << 20),
        ("/v1/admin/items/import", (16 << 20) + 1, 16 << 20),
    ] {
        let mut s = TcpStream::connect(srv.addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        // Not a byte of the body.
        let (got, _) = drain(&mut s, Duration::from_secs(10)).await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 413"), "{path} {length}: {got:?}");
        assert!(
            got.contains(&format!(r#""limit":{limit}"#)),
            "{path}: {got:?}"
        );
    }
    let _ = srv.stop.send(());
}

/// Found: `GET /v1/openapi.json` (no token needed) built and serialized the whole document for
/// every request; 38 clients asking for it 200 times each, pipelined, made the server build it
/// over a thousand times within seconds, and honest pushes waited up to 7 s (p95 4 s). It is
/// now built once per process: every answer is the same buffer.
#[tokio::test]
async fn regression_pipelined_openapi_requests_do_not_rebuild_the_document() {
    let a = pos_sync_server::routes::openapi_json();
    let b = pos_sync_server::routes::openapi_json();
    assert!(a.len() > 10_000, "{}", a.len());
    assert_eq!(a.as_ptr(), b.as_ptr(), "the document was built again");
    // And it is what the server answers.
    let srv = real_server(&[]).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.write_all(b"GET /v1/openapi.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let (got, _) = drain(&mut s, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert!(got.ends_with(&a), "the answer is not the document");
    let _ = srv.stop.send(());
}
