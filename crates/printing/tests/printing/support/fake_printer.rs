//! A fake ESC/POS network printer on 127.0.0.1 (port 0), serving one connection at a time
//! like many real ones. It answers `DLE EOT n` with scripted status bytes and logs every other
//! byte it receives, per connection.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the printer behaves on one connection.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Answers to `DLE EOT 1, 2, 4`; `None`: never answers.
    pub status: Option<[u8; 3]>,
    /// Answer at most this many status requests on the connection, then go silent.
    pub answer_limit: Option<usize>,
    /// Close the connection after receiving this many job bytes.
    pub drop_after: Option<usize>,
}

impl Behaviour {
    /// A healthy printer.
    pub fn ready() -> Self {
        Behaviour {
            status: Some(pos_printing::status::BYTES_READY),
            answer_limit: None,
            drop_after: None,
        }
    }
    /// Answers status with `bytes`.
    pub fn status(bytes: [u8; 3]) -> Self {
        Behaviour {
            status: Some(bytes),
            ..Self::ready()
        }
    }
    /// Never answers status.
    pub fn silent() -> Self {
        Behaviour {
            status: None,
            ..Self::ready()
        }
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Behaviour>,
    default: Option<Behaviour>,
    /// Job bytes received, one entry per connection.
    connections: Vec<Vec<u8>>,
    status_requests: usize,
}

/// The fake printer. Dropping it stops the server thread.
pub struct FakePrinter {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FakePrinter {
    /// Starts a printer that behaves as `script` on successive connections, then as `default`.
    pub fn start(script: Vec<Behaviour>, default: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            default: Some(default),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let handle = std::thread::spawn(move || serve(listener, st, sp));
        FakePrinter {
            addr,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// A printer that is always ready.
    pub fn ready() -> Self {
        Self::start(vec![], Behaviour::ready())
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A TCP config pointing at it, with short timeouts.
    pub fn tcp(&self) -> pos_printing::TcpConfig {
        pos_printing::TcpConfig::new("127.0.0.1")
            .port(self.addr.port())
            .timeouts(Duration::from_secs(2), Duration::from_secs(2))
    }

    /// Changes the behaviour of future connections (after the script).
    pub fn set_default(&self, b: Behaviour) {
        self.state.lock().unwrap().default = Some(b);
    }

    /// Job bytes per connection so far.
    pub fn connections(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().connections.clone()
    }

    /// Number of `DLE EOT` requests seen.
    pub fn status_requests(&self) -> usize {
        self.state.lock().unwrap().status_requests
    }

    /// How many complete copies of `payload` were received (over all connections).
    pub fn complete_copies(&self, payload: &[u8]) -> usize {
        self.connections().iter().map(|c| count(c, payload)).sum()
    }
}

/// Non-overlapping occurrences of `needle` in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            n += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    n
}

impl Drop for FakePrinter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let b = {
                    let mut s = state.lock().unwrap();
                    s.connections.push(Vec::new());
                    match s.script.pop_front() {
                        Some(b) => b,
                        None => s.default.clone().unwrap_or_else(Behaviour::ready),
                    }
                };
                handle(stream, b, &state, &stop);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => return,
        }
    }
}

/// Serves one connection until the client closes it (or the behaviour drops it).
fn handle(mut stream: TcpStream, b: Behaviour, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut pending: Vec<u8> = Vec::new();
    let mut answered = 0usize;
    let mut job_bytes = 0usize;
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let mut i = 0;
        let mut job = Vec::new();
        while i < pending.len() {
            if pending[i] == 0x10 {
                if i + 2 >= pending.len() {
                    break; // wait for the rest of a possible DLE EOT n
                }
                if pending[i + 1] == 0x04 && matches!(pending[i + 2], 1 | 2 | 4) {
                    let n = pending[i + 2];
                    state.lock().unwrap().status_requests += 1;
                    if let Some(st) = b.status {
                        if b.answer_limit.is_none_or(|l| answered < l) {
                            let byte = match n {
                                1 => st[0],
                                2 => st[1],
                                _ => st[2],
                            };
                            let _ = stream.write_all(&[byte]);
                            answered += 1;
                        }
                    }
                    i += 3;
                    continue;
                }
            }
            job.push(pending[i]);
            i += 1;
        }
        pending.drain(..i);
        if !job.is_empty() {
            let mut keep = job.len();
            if let Some(limit) = b.drop_after {
                keep = keep.min(limit.saturating_sub(job_bytes));
            }
            job_bytes += keep;
            state
                .lock()
                .unwrap()
                .connections
                .last_mut()
                .unwrap()
                .extend_from_slice(&job[..keep]);
            if b.drop_after.is_some_and(|l| job_bytes >= l) {
                // Drop the connection mid-job: unread data makes the kernel send a reset.
                return;
            }
        }
    }
}
