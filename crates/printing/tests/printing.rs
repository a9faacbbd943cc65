//! Integration tests of pos-printing, one binary (faster to build on small machines).
//!
//! Where new tests go:
//! - `printing/golden.rs`: exact ESC/POS bytes of every layout and paper width, against
//!   `fixtures/*.bin` (and the plain-text previews in `fixtures/*.txt`). After a deliberate
//!   change of output, regenerate with `UPDATE_GOLDEN=1 cargo test -p pos-printing --test printing`
//!   and review the diff of the fixtures.
//! - `printing/barcode.rs`: CODE128 on paper: module widths, code sets, quiet zones, fallback.
//! - `printing/codepages.rs`: text encoding into printer code pages.
//! - `printing/transports.rs`: serial (pty pair), TCP (fake printer), device file, status.
//! - `printing/queue.rs`: the durable queue: retries, states, reprint, restart mid-job.
//! - `printing/preview.rs`: PNG and text previews.
//! - `printing/support/`: the fake printer, the paper model (`support/paper.rs`: what a printer
//!   prints for a job, written independently of the encoder) and helpers shared by the above.
//!
//! Regression tests are named after the bug they cover.

mod printing {
    pub mod barcode;
    pub mod codepages;
    pub mod golden;
    pub mod preview;
    pub mod queue;
    pub mod support;
    pub mod transports;
}
