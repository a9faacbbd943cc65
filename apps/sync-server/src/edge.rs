//! The edge of every request (issue 13, "hardened edges"): security headers on every response,
//! a request timeout and a concurrency limit answered in the error taxonomy, the metrics token,
//! and CORS only for configured origins.
//!
//! The headers are Helmet 8's defaults, set only where a handler has not set its own (the
//! console's pages carry their own Content-Security-Policy). The server sends no `Server` or
//! `X-Powered-By` header at all.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Helmet 8's default headers. The policy suits an API: nothing of an answer may run, load, or
/// be framed (the console's HTML sets its own, stricter for what it needs).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

/// Adds [`SECURITY_HEADERS`] to every response that lacks them; removes `Server` and
/// `X-Powered-By` should anything have set them.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        let name = HeaderName::from_static(name);
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    h.remove(header::SERVER);
    h.remove("x-powered-by");
    resp
}

/// At most `--max-concurrent-requests` requests are served at once; one more is answered 503
/// `UNAVAILABLE` with `Retry-After` at once (shed, not queued: a queue would only make every
/// client wait longer). Each request has `--request-timeout-secs`, then 503 as well. The live
/// channel's upgrade answers at once and is not bounded by the timeout afterwards.
pub async fn limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.try_acquire() else {
        return ApiError::Unavailable {
            message: "the server is busy; try again shortly".into(),
            retry_after_secs: 1,
        }
        .into_response();
    };
    let timeout = state.settings.request_timeout;
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable {
            message: format!(
                "the request took longer than {} s and was stopped; try again",
                timeout.as_secs()
            ),
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

/// A body declared (`Content-Length`) larger than the route's `limit` is refused with 413 at
/// once, before a byte of it is read (issue 16, found by `benches/abuse.rs`: a login declaring
/// 1 GiB was read up to the limit, or held until the body deadline when it stalled); otherwise
/// the limit is noted for the 413 of a chunked body that grows past it (`DefaultBodyLimit`
/// enforces it while the body is read). Routes nest it: the innermost limit is the route's.
pub async fn body_limit(State(limit): State<usize>, mut req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::TooLarge { limit }.into_response();
    }
    req.extensions_mut().insert(crate::error::BodyLimit(limit));
    next.run(req).await
}

/// CORS for the configured origins only (`--cors-origin`); none configured, no CORS headers,
/// so browsers keep other sites' pages from reading any answer.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(list)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

/// Whether a `/metrics` request may read (the bearer token, when one is configured).
pub fn metrics_allowed(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(want) = &state.settings.metrics_token else {
        return true;
    };
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    constant_time_eq(got.as_bytes(), want.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
