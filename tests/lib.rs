//! Cross-crate end-to-end tests: see tests/README.md
