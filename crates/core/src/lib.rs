//! pos-core
