//! The application state shared by every handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx_postgres::PgPool;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::config::Settings;
use crate::jwt::JwtKeys;

/// "There is more to pull": tenant, store (`None`: tenant-wide) and the latest sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub tenant: Uuid,
    pub store: Option<Uuid>,
    pub seq: i64,
}

impl Notice {
    /// Parses a NOTIFY payload `tenant:store|*:seq`.
    pub fn parse(payload: &str) -> Option<Notice> {
        let mut it = payload.split(':');
        let tenant = it.next()?.parse().ok()?;
        let store = match it.next()? {
            "*" => None,
            s => Some(s.parse().ok()?),
        };
        let seq = it.next()?.parse().ok()?;
        Some(Notice { tenant, store, seq })
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub jwt: JwtKeys,
    pub settings: Settings,
    pub limiter: RateLimiter,
    /// Fed by the LISTEN task; every live socket subscribes.
    pub live: broadcast::Sender<Notice>,
    /// Flips to `true` when the server shuts down (live sockets close).
    pub shutdown: watch::Receiver<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        pool: PgPool,
        jwt: JwtKeys,
        settings: Settings,
        shutdown: watch::Receiver<bool>,
    ) -> AppState {
        let (live, _) = broadcast::channel(1024);
        AppState(Arc::new(Inner {
            pool,
            jwt,
            settings,
            limiter: RateLimiter::default(),
            live,
            shutdown,
        }))
    }
}

/// Fixed one-minute windows per key, in memory (per instance).
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one attempt for `key`; `Err(seconds to wait)` past `limit` in the current minute.
    pub fn hit(&self, key: &str, limit: u32, now_ms: i64) -> Result<(), u64> {
        let window = now_ms / 60_000;
        let mut w = match self.windows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if w.len() > 100_000 {
            w.retain(|_, (win, _)| *win == window);
        }
        let e = w.entry(key.to_string()).or_insert((window, 0));
        if e.0 != window {
            *e = (window, 0);
        }
        e.1 += 1;
        if e.1 > limit {
            Err((((window + 1) * 60_000 - now_ms) / 1000).max(1) as u64)
        } else {
            Ok(())
        }
    }
}
