//! The application state shared by every handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx_postgres::PgPool;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::config::Settings;
use crate::jwt::JwtKeys;

/// What the LISTEN task hears on the live channel (from any server instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// There is more to pull: tenant, store (`None`: tenant-wide) and the latest sequence.
    More {
        tenant: Uuid,
        store: Option<Uuid>,
        seq: i64,
    },
    /// A device was revoked: its live sockets close, on every instance.
    Revoked { tenant: Uuid, device: Uuid },
}

impl Notice {
    /// Parses a NOTIFY payload: `tenant:store|*:seq`, or `revoked:tenant:device`.
    pub fn parse(payload: &str) -> Option<Notice> {
        let mut it = payload.split(':');
        let first = it.next()?;
        if first == "revoked" {
            let tenant = it.next()?.parse().ok()?;
            let device = it.next()?.parse().ok()?;
            return it
                .next()
                .is_none()
                .then_some(Notice::Revoked { tenant, device });
        }
        let tenant = first.parse().ok()?;
        let store = match it.next()? {
            "*" => None,
            s => Some(s.parse().ok()?),
        };
        let seq = it.next()?.parse().ok()?;
        it.next()
            .is_none()
            .then_some(Notice::More { tenant, store, seq })
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
    /// Pushes merging at once. A push holds its transaction's connection and may need a second
    /// one (the policy loading a refunded sale), so at most half the pool pushes at once and
    /// a burst of pushes waits here, not for a connection that no one will give back.
    pub pushes: tokio::sync::Semaphore,
    /// A streaming replica that reports read from (`--replica-database-url`), if any.
    pub replica: Option<PgPool>,
    /// Reports running at once on the master when there is no replica: a quarter of the pool,
    /// so a burst of reports never takes the connections pushes need.
    pub reports: tokio::sync::Semaphore,
    /// Recent report answers for requests that accept one (`max_age_secs`); bounded.
    pub report_cache: crate::reports::AnswerCache,
    /// Requests being served (`--max-concurrent-requests`).
    pub in_flight: tokio::sync::Semaphore,
    /// Requests per tenant (`--requests-per-tenant-per-min`), whoever sends them.
    pub per_tenant: TenantLimiter,
    /// The keys of personal data at rest, under the master key (`settings.sealer`).
    pub keys: crate::keys::Keyring,
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
        AppState::with_replica(pool, None, jwt, settings, shutdown)
    }

    /// [`AppState::new`] with a replica for reports.
    pub fn with_replica(
        pool: PgPool,
        replica: Option<PgPool>,
        jwt: JwtKeys,
        settings: Settings,
        shutdown: watch::Receiver<bool>,
    ) -> AppState {
        let (live, _) = broadcast::channel(1024);
        let max = pool.options().get_max_connections();
        let pushes = tokio::sync::Semaphore::new((max / 2).max(1) as usize);
        let reports = tokio::sync::Semaphore::new((max / 4).max(1) as usize);
        AppState(Arc::new(Inner {
            pushes,
            reports,
            replica,
            report_cache: Default::default(),
            in_flight: tokio::sync::Semaphore::new(settings.max_concurrent_requests.max(1)),
            per_tenant: TenantLimiter::new(settings.tenant_requests_per_min),
            keys: crate::keys::Keyring::new(settings.sealer.clone()),
            pool,
            jwt,
            settings,
            limiter: RateLimiter::default(),
            live,
            shutdown,
        }))
    }
}

/// A sliding one-minute window per key, in memory (per instance): at most `limit` attempts in
/// any 60 seconds. (Fixed minute windows let twice the limit through across a minute boundary,
/// and made the rate-limit test fail when it ran across one.)
///
/// **Bounded in entries and bytes** (issue 15: 40 logins with 8 MiB emails as keys added 390 MB
/// that were never given back). A key is kept as a 16-byte digest of what the client sent, never
/// the text itself; a key holds at most `limit` timestamps; and the map holds at most
/// [`RateLimiter::MAX_KEYS`] keys. When it is full of keys active in the last minute, a new key
/// is refused (fail closed): a flood of distinct keys cannot push out the budget of a key under
/// attack. So the limiter holds at most `MAX_KEYS × (16 + 8 × limit + overhead)` bytes.
pub struct RateLimiter {
    hits: Mutex<HashMap<[u8; 16], std::collections::VecDeque<i64>>>,
    max_keys: usize,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::with_capacity(Self::MAX_KEYS)
    }
}

impl RateLimiter {
    const WINDOW_MS: i64 = 60_000;
    /// Keys kept at most (about 6 MB at a limit of 30 a minute).
    pub const MAX_KEYS: usize = 50_000;

    /// A limiter that keeps at most `max_keys` keys.
    pub fn with_capacity(max_keys: usize) -> RateLimiter {
        RateLimiter {
            hits: Mutex::new(HashMap::new()),
            max_keys,
        }
    }

    fn digest(key: &str) -> [u8; 16] {
        use sha2::Digest;
        let d = sha2::Sha256::digest(key.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// Counts one attempt for `key`; `Err(seconds to wait)` when `limit` attempts were already
    /// counted in the last minute (a refused attempt is not counted), or when the limiter is
    /// full and `key` is new.
    pub fn hit(&self, key: &str, limit: u32, now_ms: i64) -> Result<(), u64> {
        let since = now_ms - Self::WINDOW_MS;
        let key = Self::digest(key);
        let mut h = match self.hits.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !h.contains_key(&key) && h.len() >= self.max_keys {
            h.retain(|_, q| q.back().is_some_and(|t| *t > since));
            h.shrink_to_fit();
            if h.len() >= self.max_keys {
                tracing::warn!(keys = h.len(), "rate limiter full: refusing new clients");
                return Err(60);
            }
        }
        let q = h.entry(key).or_default();
        while q.front().is_some_and(|t| *t <= since) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now_ms);
            return Err(((oldest + Self::WINDOW_MS - now_ms + 999) / 1000).max(1) as u64);
        }
        q.push_back(now_ms);
        Ok(())
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        match self.hits.lock() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::{Notice, RateLimiter};
    use uuid::Uuid;

    #[test]
    fn notices_parse_from_their_payloads_and_nothing_else() {
        let (t, s, d) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            Notice::parse(&format!("{t}:{s}:42")),
            Some(Notice::More {
                tenant: t,
                store: Some(s),
                seq: 42
            })
        );
        assert_eq!(
            Notice::parse(&format!("{t}:*:7")),
            Some(Notice::More {
                tenant: t,
                store: None,
                seq: 7
            })
        );
        assert_eq!(
            Notice::parse(&format!("revoked:{t}:{d}")),
            Some(Notice::Revoked {
                tenant: t,
                device: d
            })
        );
        for bad in [
            String::new(),
            format!("{t}:*"),
            format!("{t}:*:x"),
            format!("{t}:*:1:2"),
            format!("revoked:{t}"),
            format!("revoked:{t}:{d}:x"),
        ] {
            assert_eq!(Notice::parse(&bad), None, "{bad}");
        }
    }

    /// Regression: fixed minute windows reset at :00, so three attempts at 12:00:59.9 and three
    /// more at 12:01:00.1 all passed a limit of three (and the login test failed when it ran
    /// across a minute boundary).
    #[test]
    fn regression_rate_limit_holds_across_a_minute_boundary() {
        let l = RateLimiter::default();
        let t = 60_000 * 1_000 - 100; // 100 ms before a minute boundary
        for _ in 0..3 {
            assert!(l.hit("k", 3, t).is_ok());
        }
        assert_eq!(
            l.hit("k", 3, t + 200),
            Err(60),
            "still within a minute of the first"
        );
        assert!(l.hit("other", 3, t + 200).is_ok(), "keys are apart");
        // A minute after the first attempts, the budget is back.
        assert!(l.hit("k", 3, t + 60_000).is_ok());
    }

    /// Regression (issue 15): every distinct key was kept, text and all, until 100,000 of
    /// them; 40 logins with 8 MiB emails held 390 MB. Keys are digests, and a full limiter
    /// refuses new keys until old ones have aged out of the window.
    #[test]
    fn regression_rate_limiter_is_bounded_in_keys_and_bytes() {
        let l = RateLimiter::with_capacity(3);
        let huge = "x".repeat(1 << 20);
        for i in 0..3 {
            assert!(l.hit(&format!("{huge}{i}"), 5, 1_000).is_ok());
        }
        assert_eq!(l.len(), 3);
        assert_eq!(
            l.hit("a new client", 5, 2_000),
            Err(60),
            "full: a new key is refused"
        );
        assert!(
            l.hit(&format!("{huge}0"), 5, 2_000).is_ok(),
            "a known key still counts"
        );
        assert_eq!(l.len(), 3);
        // A minute later the old keys have aged out and make room.
        assert!(l.hit("a new client", 5, 62_500).is_ok());
        assert_eq!(l.len(), 1);
        let bytes: usize = l
            .hits
            .lock()
            .unwrap()
            .iter()
            .map(|(k, q)| k.len() + q.len() * 8)
            .sum();
        assert!(bytes < 64, "no key text is kept: {bytes} bytes");
    }
}

/// A token bucket per tenant: `per_min` requests a minute on average, bursts up to `per_min`.
/// Keyed by the tenant of a verified token (signed by this server), so it holds one small entry
/// per tenant that is sending, never a key a client made up.
pub struct TenantLimiter {
    per_min: u32,
    buckets: Mutex<HashMap<Uuid, (f64, i64)>>,
}

impl TenantLimiter {
    /// `per_min` 0: no limit.
    pub fn new(per_min: u32) -> TenantLimiter {
        TenantLimiter {
            per_min,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `tenant`'s budget; `Err(seconds to wait)` when it is spent.
    pub fn take(&self, tenant: Uuid, now_ms: i64) -> Result<(), u64> {
        if self.per_min == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_min);
        let per_ms = cap / 60_000.0;
        let mut b = match self.buckets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (tokens, last) = b.entry(tenant).or_insert((cap, now_ms));
        *tokens = (*tokens + (now_ms - *last).max(0) as f64 * per_ms).min(cap);
        *last = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / per_ms / 1000.0).ceil() as u64).max(1))
        }
    }
}
