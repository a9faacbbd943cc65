//! Accepting connections: the server's own accept loop over hyper, for what `axum::serve`
//! cannot set (issue 15, defect 6: a half-sent request head and an unfinished body were both
//! still held open after 45 s, so a few thousand slow connections would take every file
//! descriptor).
//!
//! - **Header read timeout**: a request head (and an idle keep-alive connection waiting for its
//!   next head) must arrive within `header_timeout`, or hyper closes the connection.
//! - **Body read timeout**: the router's `RequestBodyDeadlineLayer` (`routes::router`) answers
//!   408 and closes when a body is not complete in time.
//! - **Connections per address**: at most `max_per_ip` open HTTP connections from one address,
//!   and `max_total` in all; one over is closed at once, before a byte is read. The count per
//!   address lives in a map bounded by the connections open (an address leaves it with its last
//!   connection). Live-channel sockets leave the count when they upgrade: they are
//!   authenticated devices, closed by revocation and shutdown.
//! - **Write stall timeout** (issue 16, found by `benches/abuse.rs`: a client that asked for
//!   answers and never read them held its connection, and the answers queued for it, for as
//!   long as it liked, since hyper has no write timeout and the header timeout only runs while
//!   a head is awaited): a write that cannot make progress for `write_timeout` fails, and the
//!   connection (or the upgraded live socket) is closed. Progress of any size restarts it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    /// How long a write may wait for the client to read; then the connection is closed.
    pub write_timeout: Duration,
    pub max_per_ip: usize,
    pub max_total: usize,
}

#[derive(Default)]
struct Counts {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// One accepted connection's place in the counts, given back when dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Slot {
    fn take(counts: &Arc<Mutex<Counts>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_ip.get(&ip).copied().unwrap_or(0);
        if mine >= limits.max_per_ip || c.total >= limits.max_total {
            return None;
        }
        c.per_ip.insert(ip, mine + 1);
        c.total += 1;
        Some(Slot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true; then stops accepting, asks every
/// connection to finish its request in flight and returns when all have closed (the caller
/// bounds that wait with its grace period).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    // HTTP/1.1 only (the crate is built without h2).
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    // Every connection task holds a receiver; `closed()` resolves when the last is gone.
    let (close_tx, close_rx) = watch::channel(());
    let (drain_tx, drain_rx) = watch::channel(false);
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = flipped(&mut stop) => break,
        };
        let Some(slot) = Slot::take(&counts, remote.ip(), &limits) else {
            metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
            tracing::warn!(ip = %remote.ip(), "connection refused: too many from this address");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = tower::service_fn(move |mut req: axum::extract::Request| {
            req.extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let builder = builder.clone();
        let close_rx = close_rx.clone();
        let mut drain = drain_rx.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
            let hyper_service = TowerToHyperService::new(service.map_request(
                |req: hyper::Request<hyper::body::Incoming>| req.map(axum::body::Body::new),
            ));
            let conn = builder.serve_connection(io, hyper_service).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut draining = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = flipped(&mut drain), if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
            drop(close_rx);
        });
    }
    drop(listener);
    let _ = drain_tx.send(true);
    drop(close_rx);
    close_tx.closed().await;
    Ok(())
}

/// A connection whose writes may wait at most `limit` for the peer to read: past it, the
/// pending write (or flush, or shutdown) fails with `TimedOut` and hyper drops the connection.
/// The clock starts when a write first returns `Pending` and stops at any progress.
pub struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After the inner write said `Pending`: pending still, or the deadline has passed.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                metrics::counter!(crate::metrics::WRITES_TIMED_OUT).increment(1);
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client read nothing of its answer in time",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        r: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(r, cx)
    }
}

/// Resolves once the flag is true (or its sender is gone); holds no guard across an await.
async fn flipped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_address_and_in_all_and_given_back() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = Limits {
            header_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            max_per_ip: 2,
            max_total: 3,
        };
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = Slot::take(&counts, a, &limits).expect("first");
        let a2 = Slot::take(&counts, a, &limits).expect("second");
        assert!(
            Slot::take(&counts, a, &limits).is_none(),
            "third from one address"
        );
        let b1 = Slot::take(&counts, b, &limits).expect("another address");
        assert!(
            Slot::take(&counts, b, &limits).is_none(),
            "the total is reached"
        );
        drop(a1);
        assert!(
            Slot::take(&counts, b, &limits).is_some(),
            "a slot given back is free"
        );
        drop((a2, b1));
        let c = counts.lock().unwrap();
        assert_eq!(
            (c.total, c.per_ip.len()),
            (0, 0),
            "an address leaves with its last connection"
        );
    }
}
