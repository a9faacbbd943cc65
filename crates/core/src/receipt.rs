//! Receipt numbers: `STORE-DEVICE-SEQUENCE`, allocated on the device with no coordination.
//!
//! **The sequence is gapless per device**: the store allocates the next number inside the same
//! SQLite transaction that closes the sale, so a failed write gives the number back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    #[error("code {0:?} must be 1 to 8 letters or digits")]
    BadCode(String),
    #[error("sequence must be positive, got {0}")]
    BadSequence(i64),
    #[error("cannot parse receipt number {0:?}")]
    Parse(String),
}

/// A receipt number such as `S01-T2-000042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReceiptNumber {
    pub store_code: String,
    pub device_code: String,
    pub seq: i64,
}

fn check_code(c: &str) -> Result<(), ReceiptError> {
    if c.is_empty() || c.len() > 8 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ReceiptError::BadCode(c.to_string()));
    }
    Ok(())
}

impl ReceiptNumber {
    pub fn new(store_code: &str, device_code: &str, seq: i64) -> Result<Self, ReceiptError> {
        check_code(store_code)?;
        check_code(device_code)?;
        if seq <= 0 {
            return Err(ReceiptError::BadSequence(seq));
        }
        Ok(ReceiptNumber {
            store_code: store_code.to_string(),
            device_code: device_code.to_string(),
            seq,
        })
    }
}

impl fmt::Display for ReceiptNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:06}",
            self.store_code, self.device_code, self.seq
        )
    }
}

impl FromStr for ReceiptNumber {
    type Err = ReceiptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [store, device, seq] = parts.as_slice() else {
            return Err(ReceiptError::Parse(s.to_string()));
        };
        let seq: i64 = seq
            .parse()
            .map_err(|_| ReceiptError::Parse(s.to_string()))?;
        ReceiptNumber::new(store, device, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let r = ReceiptNumber::new("S01", "T2", 42).unwrap();
        assert_eq!(r.to_string(), "S01-T2-000042");
        assert_eq!("S01-T2-000042".parse::<ReceiptNumber>().unwrap(), r);
        assert_eq!(
            "S01-T2-1234567".parse::<ReceiptNumber>().unwrap().seq,
            1_234_567
        );
    }

    #[test]
    fn bad_numbers_are_typed_errors() {
        assert_eq!(
            ReceiptNumber::new("S01", "T2", 0),
            Err(ReceiptError::BadSequence(0))
        );
        assert_eq!(
            ReceiptNumber::new("S 1", "T2", 1),
            Err(ReceiptError::BadCode("S 1".into()))
        );
        assert!("S01-000042".parse::<ReceiptNumber>().is_err());
        assert!("S01-T2-abc".parse::<ReceiptNumber>().is_err());
        assert!("".parse::<ReceiptNumber>().is_err());
    }
}
