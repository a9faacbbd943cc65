//! Helpers shared by the integration tests: a fake network printer, a model of the paper and
//! polling.

pub mod fake_printer;
pub mod paper;

use std::time::{Duration, Instant};

/// Polls `f` until it returns `Some` or `timeout` passes (then panics with `what`).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
