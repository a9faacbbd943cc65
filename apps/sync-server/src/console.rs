//! The head-office web console (`console/` at the repository root, issue 11), served by this
//! server: its files are embedded in the binary by `build.rs` and answered at `/` and
//! `/assets/*` with a strict Content-Security-Policy; any other path that is not the API's
//! answers `index.html` (the console routes on the client). And the console's sessions:
//! `/v1/auth/console/{login,refresh,logout}`.
//!
//! **Tokens.** The console keeps no token in `localStorage` or `sessionStorage`. Login answers
//! the access token in the body (the page keeps it in memory) and puts the refresh token in an
//! `HttpOnly; SameSite=Strict; Path=/v1/auth/console` cookie, which page scripts cannot read
//! and the browser sends only to these three routes. On a reload the page calls refresh, which
//! rotates the cookie (`auth::refresh`, the same rotation and reuse detection as the API's).
//!
//! **CSRF.** A cookie is sent by the browser on its own, so refresh and logout, which act on
//! it, need a double-submit token: login sets `pos_csrf` (readable by the page, `Path=/`), and
//! refresh and logout are refused (403) unless the `X-CSRF-Token` header equals it. Another
//! site can make the browser send the cookies but can neither read `pos_csrf` nor set the
//! header. (`SameSite=Strict` already keeps other sites' requests from carrying the cookies;
//! the token does not depend on it.) The admin API takes bearer tokens, never cookies, so it
//! is not open to CSRF.
//!
//! **`Secure`.** Both cookies are `Secure` unless the request came over plain HTTP on the
//! loopback interface: the peer is a loopback address, the `Host` is `localhost` or a loopback
//! address, and no proxy said `X-Forwarded-Proto: https`. This server speaks plain HTTP and
//! relies on a TLS proxy in front of it anywhere else, whose requests name the public host (or
//! say https), so they get `Secure`; a browser on plain HTTP to a non-loopback address then
//! refuses the cookie, and the console works only until a reload: the session is never sent
//! in clear text. No flag is needed, and none can turn `Secure` off for a remote client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{self, ClientIp, LoginRequest, LoginResponse, RefreshRequest};
use crate::error::{ApiError, Json};
use crate::state::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Whether the real console was embedded (`false`: a placeholder page says how to build it).
pub const BUILT: bool = assets::BUILT;

/// The refresh token's cookie (HttpOnly, sent only to `/v1/auth/console/*`).
pub const REFRESH_COOKIE: &str = "pos_refresh";
/// The double-submit CSRF token's cookie (readable by the page).
pub const CSRF_COOKIE: &str = "pos_csrf";
/// The header that must echo [`CSRF_COOKIE`].
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the refresh cookie is sent.
pub const COOKIE_PATH: &str = "/v1/auth/console";

/// The console's pages: scripts, styles, images and requests from this origin only; no inline
/// script or style, no framing, no plugins, no `<base>`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// ---------------------------------------------------------------- sessions

/// What console login and refresh answer: the access token (kept in memory by the page) and
/// who it is; never the refresh token, which is in the `pos_refresh` cookie.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// The session may only enrol a second factor (`/v1/auth/2fa/enrol`, then
    /// `/v1/auth/console/2fa/confirm`).
    pub second_factor_enrolment_required: bool,
}

impl From<&LoginResponse> for ConsoleSession {
    fn from(r: &LoginResponse) -> Self {
        ConsoleSession {
            access_token: r.access_token.clone(),
            token_type: r.token_type.clone(),
            expires_in: r.expires_in,
            user_id: r.user_id,
            tenant_id: r.tenant_id,
            second_factor_enrolment_required: r.second_factor_enrolment_required,
        }
    }
}

/// The console login's answer: a session, or the second step's challenge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ConsoleLoginAnswer {
    Session(ConsoleSession),
    SecondFactor(crate::twofactor::Challenge),
}

/// Two-factor turned on from the console: the recovery codes (shown once) and the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsoleConfirmed {
    pub recovery_codes: Vec<String>,
    pub session: ConsoleSession,
}

/// The request's cookies, and whether cookies set in answer to it must be `Secure`.
pub struct Cookies {
    pairs: Vec<(String, String)>,
    secure: bool,
}

impl Cookies {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for h in parts.headers.get_all(header::COOKIE) {
            let Ok(s) = h.to_str() else { continue };
            for kv in s.split(';') {
                if let Some((k, v)) = kv.trim().split_once('=') {
                    pairs.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Cookies {
            pairs,
            secure: needs_secure(&parts.headers, peer),
        })
    }
}

/// `Secure` unless plain HTTP on loopback (see the module's doc).
pub fn needs_secure(headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    if forwarded_https {
        return true;
    }
    let peer_loopback = peer.is_some_and(|ip| ip.is_loopback());
    let host_loopback = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_loopback_host);
    !(peer_loopback && host_loopback)
}

/// `localhost`, `*.localhost`, `127.x.y.z`, `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The session cookies for a fresh refresh token (`csrf`: keep the page's token, or a new one).
fn session_cookies(
    state: &AppState,
    c: &Cookies,
    refresh: &str,
    csrf: Option<&str>,
) -> [String; 2] {
    let ttl = state.settings.refresh_ttl_secs;
    let csrf = csrf.map_or_else(auth::random_token, str::to_string);
    [
        cookie(REFRESH_COOKIE, refresh, COOKIE_PATH, ttl, true, c.secure),
        cookie(CSRF_COOKIE, &csrf, "/", ttl, false, c.secure),
    ]
}

fn cleared_cookies(c: &Cookies) -> [String; 2] {
    [
        cookie(REFRESH_COOKIE, "", COOKIE_PATH, 0, true, c.secure),
        cookie(CSRF_COOKIE, "", "/", 0, false, c.secure),
    ]
}

fn with_cookies(mut r: Response, cookies: [String; 2]) -> Response {
    let h = r.headers_mut();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Refuses a request whose `X-CSRF-Token` header does not equal its `pos_csrf` cookie.
fn check_csrf(c: &Cookies, headers: &HeaderMap) -> Result<(), ApiError> {
    let cookie = c.get(CSRF_COOKIE);
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (cookie, sent) {
        (Some(a), Some(b)) if constant_time_eq(a.as_bytes(), b.as_bytes()) => Ok(()),
        _ => Err(ApiError::Authz(format!(
            "the {CSRF_HEADER} header must echo the {CSRF_COOKIE} cookie"
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[utoipa::path(post, path = "/v1/auth/console/login", tag = "auth", request_body = LoginRequest,
    description = "The console's login: the access token in the body, the refresh token in an \
        HttpOnly `pos_refresh` cookie (Path=/v1/auth/console), a `pos_csrf` cookie to echo in \
        `X-CSRF-Token`. 409 with `details.tenants` when the email opens several tenants.",
    responses((status = 200, body = ConsoleLoginAnswer), (status = 400), (status = 401),
        (status = 409), (status = 429)))]
pub async fn login_h(
    State(s): State<AppState>,
    ip: ClientIp,
    c: Cookies,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    match auth::login(&s, &ip.0, req).await? {
        auth::LoginAnswer::Session(r) => Ok(session_response(&s, &c, &r)),
        auth::LoginAnswer::SecondFactor(ch) => {
            Ok(Json(ConsoleLoginAnswer::SecondFactor(ch)).into_response())
        }
    }
}

fn session_response(s: &AppState, c: &Cookies, r: &LoginResponse) -> Response {
    let cookies = session_cookies(s, c, &r.refresh_token, None);
    with_cookies(Json(ConsoleSession::from(r)).into_response(), cookies)
}

#[utoipa::path(post, path = "/v1/auth/console/login/2fa", tag = "auth",
    request_body = crate::wire_schema::SecondStepSchema,
    description = "The console's second login step (see `/v1/auth/login/2fa`); sets the session \
        cookies as `/v1/auth/console/login` does.",
    responses((status = 200, body = ConsoleSession), (status = 400), (status = 401),
        (status = 429)))]
pub async fn login_second_step_h(
    State(s): State<AppState>,
    ip: ClientIp,
    c: Cookies,
    Json(req): Json<crate::twofactor::SecondStep>,
) -> Result<Response, ApiError> {
    let r = crate::twofactor::second_step(&s, &ip.0, req).await?;
    Ok(session_response(&s, &c, &r))
}

#[utoipa::path(post, path = "/v1/auth/console/2fa/confirm", tag = "auth",
    security(("bearer" = [])), request_body = crate::twofactor::ConfirmRequest,
    description = "Turns two-factor on from the console (see `/v1/auth/2fa/confirm`): the \
        recovery codes in the body, the new session's refresh token in the cookie.",
    responses((status = 200, body = ConsoleConfirmed), (status = 400), (status = 401),
        (status = 409)))]
pub async fn confirm_second_factor_h(
    State(s): State<AppState>,
    u: auth::SessionUser,
    c: Cookies,
    Json(req): Json<crate::twofactor::ConfirmRequest>,
) -> Result<Response, ApiError> {
    let done = crate::twofactor::confirm(&s, u, req).await?;
    let cookies = session_cookies(&s, &c, &done.session.refresh_token, None);
    Ok(with_cookies(
        Json(ConsoleConfirmed {
            recovery_codes: done.recovery_codes,
            session: ConsoleSession::from(&done.session),
        })
        .into_response(),
        cookies,
    ))
}

#[utoipa::path(post, path = "/v1/auth/console/refresh", tag = "auth",
    description = "Trades the `pos_refresh` cookie for a new access token and rotates it \
        (reuse revokes the session). Needs `X-CSRF-Token` equal to the `pos_csrf` cookie (403).",
    params(("X-CSRF-Token" = String, Header, description = "The `pos_csrf` cookie's value")),
    responses((status = 200, body = ConsoleSession), (status = 401), (status = 403)))]
pub async fn refresh_h(
    State(s): State<AppState>,
    c: Cookies,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_csrf(&c, &headers)?;
    let Some(token) = c.get(REFRESH_COOKIE) else {
        return Err(ApiError::Authn("no console session: log in".into()));
    };
    match auth::refresh(
        &s,
        RefreshRequest {
            refresh_token: token.to_string(),
        },
    )
    .await
    {
        Ok(r) => {
            let cookies = session_cookies(&s, &c, &r.refresh_token, c.get(CSRF_COOKIE));
            Ok(with_cookies(
                Json(ConsoleSession::from(&r)).into_response(),
                cookies,
            ))
        }
        // A refused refresh token is of no more use: the browser forgets it.
        Err(e @ ApiError::Authn(_)) => Ok(with_cookies(e.into_response(), cleared_cookies(&c))),
        Err(e) => Err(e),
    }
}

#[utoipa::path(post, path = "/v1/auth/console/logout", tag = "auth",
    description = "Ends the console session: its refresh tokens are revoked and both cookies \
        cleared. Needs `X-CSRF-Token` equal to the `pos_csrf` cookie (403).",
    params(("X-CSRF-Token" = String, Header, description = "The `pos_csrf` cookie's value")),
    responses((status = 204), (status = 403)))]
pub async fn logout_h(
    State(s): State<AppState>,
    c: Cookies,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_csrf(&c, &headers)?;
    if let Some(token) = c.get(REFRESH_COOKIE) {
        auth::revoke_session(&s, token).await?;
    }
    Ok(with_cookies(
        StatusCode::NO_CONTENT.into_response(),
        cleared_cookies(&c),
    ))
}

// ---------------------------------------------------------------- the console's files

fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    assets::ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}

fn file_response(path: &str, content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Vite names every file under assets/ by its content's hash.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    r
}

fn index() -> Response {
    match asset("index.html") {
        Some((t, b)) => file_response("index.html", t, b),
        None => ApiError::Internal("the console has no index.html".into()).into_response(),
    }
}

/// `GET /`: the console.
#[utoipa::path(get, path = "/", tag = "console",
    description = "The head-office console's page (any other path outside `/v1`, `/health` and \
        `/metrics` answers it too, for the console's own routes).",
    responses((status = 200, content_type = "text/html", body = String)))]
pub async fn index_h() -> Response {
    index()
}

/// Paths of the API and of operations: unknown ones keep the JSON error shape.
fn is_api_path(path: &str) -> bool {
    ["/v1", "/health", "/metrics"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// The router's fallback: a console file, `index.html` for any other page path (client-side
/// routing), and the JSON 404 for the API, for a missing file and for other methods.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let not_found = || ApiError::NotFound("no such route".into()).into_response();
    if is_api_path(path) || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return not_found();
    }
    let rel = path.trim_start_matches('/');
    if let Some((t, b)) = asset(rel) {
        return file_response(rel, t, b);
    }
    // A file that is not there (a stale hashed asset, /favicon.ico) is a 404, never the page.
    let last = rel.rsplit('/').next().unwrap_or("");
    if rel.starts_with("assets/") || last.contains('.') {
        return not_found();
    }
    index()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:80",
            "a.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:8080",
            "localhost.example.com",
            "[2001:db8::1]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn secure_unless_plain_http_on_loopback() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!needs_secure(&h, Some(lo)));
        assert!(needs_secure(&h, None), "peer unknown");
        assert!(needs_secure(&h, Some("10.1.2.3".parse().unwrap())));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(
            needs_secure(&h, Some(lo)),
            "a TLS proxy on the same machine"
        );
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("pos.example.com"));
        assert!(needs_secure(&h, Some(lo)), "a proxy naming the public host");
    }

    #[test]
    fn api_paths_are_not_pages() {
        for p in ["/v1", "/v1/nope", "/health/live", "/metrics"] {
            assert!(is_api_path(p), "{p}");
        }
        for p in ["/", "/reports/items", "/v1x", "/healthy"] {
            assert!(!is_api_path(p), "{p}");
        }
    }
}
