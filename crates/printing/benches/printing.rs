//! Benchmarks of pos-printing (no criterion; `harness = false`).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-printing cargo bench -p pos-printing --bench printing`
//!
//! Prints p50/p99 of:
//! - rendering an 80 mm (48 columns) sale receipt of 30 lines with a QR code to ESC/POS
//!   (native `GS ( k`, and raster for printers without it);
//! - rendering its PNG preview;
//! - the queue's own cost per job, printer excluded: enqueue, claim, phase and done commits
//!   (SQLite WAL, synchronous = FULL) through a transport that discards the bytes.

use pos_printing::{
    render_escpos, render_png, samples, Connector, Document, JobState, Paper, PrintError,
    PrintQueue, PrinterProfile, QueueOptions, Transport,
};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn stats(name: &str, mut v: Vec<Duration>, target: &str) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<48} n={:<6} p50={:>10.1?} p99={:>10.1?}  (target {target})",
        v.len(),
        p(0.50),
        p(0.99)
    );
}

fn time<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    for _ in 0..n / 10 + 1 {
        black_box(f());
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect()
}

struct Null;
struct NullTransport;

impl Transport for NullTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
        black_box(bytes);
        Ok(())
    }
    fn read_timeout(&mut self, _: &mut [u8], _: Duration) -> Result<usize, PrintError> {
        Ok(0)
    }
    fn describe(&self) -> String {
        "null".into()
    }
}

impl Connector for Null {
    fn connect(&self) -> Result<Box<dyn Transport>, PrintError> {
        Ok(Box::new(NullTransport))
    }
    fn describe(&self) -> String {
        "null".into()
    }
}

fn main() {
    let profile = PrinterProfile::new(Paper::Mm80, 48, "PC858").expect("profile");
    let doc = Document::Sale(samples::sale_receipt(30));
    let bytes = render_escpos(&doc, &profile).expect("render");
    println!("receipt: 30 lines + QR, {} bytes of ESC/POS", bytes.len());

    stats(
        "render 80mm receipt, 30 lines, native QR",
        time(5000, || render_escpos(&doc, &profile)),
        "<= 200 us",
    );
    let raster = profile.clone().with_native_qr(false);
    stats(
        "render 80mm receipt, 30 lines, raster QR",
        time(2000, || render_escpos(&doc, &raster)),
        "info",
    );
    stats(
        "PNG preview of that receipt",
        time(200, || render_png(&doc, &profile)),
        "<= 20 ms",
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = QueueOptions::new("bench", &profile);
    o.check_status = false;
    let q = PrintQueue::open(dir.path().join("pos.db"), Arc::new(Null), o).expect("queue");
    let mut enq = Vec::new();
    let mut e2e = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        let id = q
            .enqueue(Some(&format!("job-{i}")), "bench", &bytes)
            .expect("enqueue");
        enq.push(t.elapsed());
        // Poll gently: a busy loop of reads would take a core from the worker it measures.
        loop {
            if q.job(id).expect("job").state == JobState::Done {
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        e2e.push(t.elapsed());
    }
    stats("queue: enqueue call (caller's cost)", enq, "info");
    stats("queue: enqueue -> done, one at a time", e2e, "<= 2 ms");

    // Throughput: a burst of jobs, per-job cost = total / n.
    let n = 300;
    let t = Instant::now();
    let mut last = 0;
    for i in 0..n {
        last = q
            .enqueue(Some(&format!("burst-{i}")), "bench", &bytes)
            .expect("enqueue");
    }
    while q.job(last).expect("job").state != JobState::Done {
        std::thread::sleep(Duration::from_micros(200));
    }
    println!(
        "{:<48} n={n:<6} mean={:>9.1?} per job",
        "queue: burst of jobs, null printer",
        t.elapsed() / n
    );
}
