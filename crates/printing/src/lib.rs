//! Printing: see crates/printing/README (issue 4).
