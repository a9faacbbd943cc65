//! Runs the device engine in the background: a thread that syncs when the live channel says
//! there is more, when the app says it wrote something, or every few seconds, backing off while
//! the server is unreachable. The app keeps selling on its own thread: the store is shared
//! behind a mutex that the engine takes for each local step of a round (read the outbox, mark
//! it done, apply a pulled page) and never holds across a network call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pos_core::store::Store;

use crate::device::{SyncEngine, SyncStatus};
use crate::http::{listen_live, DeviceCredential, HttpTransport};

/// How often to sync when nothing announces a change.
pub const IDLE_INTERVAL: Duration = Duration::from_secs(5);

/// A running sync loop. Dropping it stops the loop and the live listener.
pub struct SyncRunner {
    nudge: Sender<i64>,
    status: Arc<Mutex<SyncStatus>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SyncRunner {
    /// Starts syncing `store` with the server in `cred`. `on_round` is called after every round
    /// with the new status (the app forwards it to the UI).
    pub fn start(
        store: Arc<Mutex<Store>>,
        cred: DeviceCredential,
        on_round: impl Fn(&SyncStatus) + Send + 'static,
    ) -> SyncRunner {
        let (tx, rx) = channel::<i64>();
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Mutex::new(SyncStatus::default()));
        let live = listen_live(cred.clone(), tx.clone(), stop.clone());
        let loop_stop = stop.clone();
        let loop_status = status.clone();
        let worker = std::thread::Builder::new()
            .name("pos-sync".into())
            .spawn(move || {
                let mut engine = SyncEngine::new();
                let mut transport = HttpTransport::new(cred);
                let mut wait = Duration::ZERO;
                while !loop_stop.load(Ordering::Relaxed) {
                    match rx.recv_timeout(wait) {
                        Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if loop_stop.load(Ordering::Relaxed) {
                        return;
                    }
                    // Several nudges in a row make one round.
                    while rx.try_recv().is_ok() {}
                    // The store is locked per local step, never during a network call.
                    let _ = engine.sync_shared(&store, &mut transport);
                    let st = engine.status().clone();
                    wait = if st.backoff_ms > 0 {
                        Duration::from_millis(st.backoff_ms)
                    } else {
                        IDLE_INTERVAL
                    };
                    if let Ok(mut shared) = loop_status.lock() {
                        *shared = st.clone();
                    }
                    on_round(&st);
                }
            })
            .ok();
        SyncRunner {
            nudge: tx,
            status,
            stop,
            threads: worker.into_iter().chain(Some(live)).collect(),
        }
    }

    /// Asks for a round now (after a local write).
    pub fn nudge(&self) {
        let _ = self.nudge.send(-1);
    }

    /// The status after the last round.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for SyncRunner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.nudge.send(-1);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
