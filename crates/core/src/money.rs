//! Money, currencies, tax rates and the one rounding rule.
//!
//! # The rounding rule
//!
//! **Every amount that is not already a whole number of minor units is rounded once, half away
//! from zero, to the minor unit, from an exact integer (`i128`) intermediate.** There are no
//! floats anywhere near money.
//!
//! Where rounding happens, and nowhere else:
//! - a percentage discount on a line: `round(gross × bp / 10 000)`;
//! - a percentage discount on the order: `round(subtotal × bp / 10 000)`, then allocated to the
//!   lines in proportion to their net amounts by the largest-remainder method, so that the
//!   allocations add up to the order discount exactly;
//! - tax, **per rate over the whole receipt** (not per line):
//!   - tax-exclusive pricing: `tax = round(net × bp / 10 000)`;
//!   - tax-inclusive pricing: `tax = gross − round(gross × 10 000 / (10 000 + bp))`.
//!
//! Computing tax per rate over the receipt means the tax breakdown printed on a receipt always
//! adds up, and a receipt's tax never drifts by a cent per line.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Errors from money arithmetic and parsing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    #[error("currency mismatch: expected {expected}, got {got}")]
    CurrencyMismatch { expected: Currency, got: Currency },
    #[error("amount overflow")]
    Overflow,
    #[error("tax rate {0} bp is out of range 0..=100000")]
    TaxRateOutOfRange(i64),
    #[error("cannot parse amount {0:?}")]
    Parse(String),
}

/// An ISO 4217 currency that this system knows, with its number of minor-unit digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// ISO 4217 codes and their minor-unit exponents. Add a row to support a currency.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("TND", 3),
    ("TRY", 2),
    ("USD", 2),
    ("ZAR", 2),
];

impl Currency {
    /// Every supported code, in alphabetical order.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CURRENCIES.iter().map(|(c, _)| *c)
    }

    /// Looks up an ISO 4217 code (upper case, three letters).
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, e)| {
                let b = c.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    exponent: *e,
                }
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The bytes come from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::from_code(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

/// An amount of money: integer minor units plus a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    fn same(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                got: other.currency,
            });
        }
        Ok(())
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// Parses a decimal amount such as `"12.34"` or `"-0.5"` in this currency, exactly.
    pub fn parse(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        let err = || MoneyError::Parse(s.to_string());
        let t = s.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(err());
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let exp = currency.exponent as usize;
        if frac.len() > exp {
            return Err(err());
        }
        let mut minor: i64 = 0;
        for c in whole.chars().chain(frac.chars()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(c as u8 - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        for _ in frac.len()..exp {
            minor = minor.checked_mul(10).ok_or(MoneyError::Overflow)?;
        }
        Ok(Money {
            minor: if neg { -minor } else { minor },
            currency,
        })
    }
}

/// Formats minor units as a plain decimal (`1234` EUR → `12.34`, `-5` → `-0.05`, JPY `500` → `500`).
pub fn format_minor(minor: i64, exponent: u8) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(u32::from(exponent));
    let abs = minor.unsigned_abs();
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            format_minor(self.minor, self.currency.exponent),
            self.currency
        )
    }
}

/// Divides `num / den` and rounds half away from zero. `den` must be positive.
///
/// This is the project's single rounding primitive (see the module docs).
pub fn div_round_half_away(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let q = num / den;
    let r = num % den;
    // |r| * 2 >= den  <=> the remainder is at least half.
    if r.abs() * 2 >= den {
        q + num.signum()
    } else {
        q
    }
}

/// Converts an i128 result back to i64 minor units.
pub(crate) fn to_minor(v: i128) -> Result<i64, MoneyError> {
    i64::try_from(v).map_err(|_| MoneyError::Overflow)
}

/// Basis points: 1 bp = 0.01 %, so 2 000 bp = 20 %.
pub type BasisPoints = i64;

/// Applies `bp` basis points to an amount, rounding half away from zero.
pub fn apply_bp(amount: i64, bp: BasisPoints) -> Result<i64, MoneyError> {
    to_minor(div_round_half_away(
        i128::from(amount) * i128::from(bp),
        10_000,
    ))
}

/// Whether shelf prices include tax (EU-style) or tax is added at the till (US-style).
/// Serialized as `Inclusive` / `Exclusive`: the serde form of a document is its automerge layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaxMode {
    Inclusive,
    Exclusive,
}

/// Validates a tax rate in basis points: 0 % to 1 000 %.
pub fn check_tax_rate(bp: BasisPoints) -> Result<BasisPoints, MoneyError> {
    if (0..=100_000).contains(&bp) {
        Ok(bp)
    } else {
        Err(MoneyError::TaxRateOutOfRange(bp))
    }
}

/// Tax for one rate over the summed line amounts of that rate.
///
/// `amount` is the net (exclusive mode) or gross (inclusive mode) sum of the lines at this rate.
/// Returns `(net, tax, gross)`.
pub fn tax_for_rate(
    amount: i64,
    bp: BasisPoints,
    mode: TaxMode,
) -> Result<(i64, i64, i64), MoneyError> {
    check_tax_rate(bp)?;
    let a = i128::from(amount);
    let b = i128::from(bp);
    match mode {
        TaxMode::Exclusive => {
            let tax = to_minor(div_round_half_away(a * b, 10_000))?;
            let gross = amount.checked_add(tax).ok_or(MoneyError::Overflow)?;
            Ok((amount, tax, gross))
        }
        TaxMode::Inclusive => {
            let net = to_minor(div_round_half_away(a * 10_000, 10_000 + b))?;
            Ok((net, amount - net, amount))
        }
    }
}

/// Splits `total` over `weights` in proportion, by the largest-remainder method.
///
/// The parts always sum to `total` exactly; ties go to the earlier weight. Weights must be
/// non-negative; if they are all zero the total goes to the first element.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let mut parts = vec![0i64; weights.len()];
    if sum == 0 {
        parts[0] = total;
        return parts;
    }
    let t = i128::from(total);
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut assigned: i128 = 0;
    for (i, w) in weights.iter().enumerate() {
        let p = t * i128::from((*w).max(0));
        let q = p / sum; // truncates toward zero
        let r = p % sum;
        parts[i] = q as i64; // |q| <= |total|
        assigned += q;
        rems.push((r.abs(), i));
    }
    let mut left = t - assigned; // same sign as total, |left| < n
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let step: i64 = if left >= 0 { 1 } else { -1 };
    for (_, i) in rems.iter().cycle() {
        if left == 0 {
            break;
        }
        parts[*i] += step;
        left -= i128::from(step);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::from_code("EUR").unwrap()
    }

    #[test]
    fn unknown_currency_is_a_typed_error() {
        assert_eq!(
            Currency::from_code("XXY"),
            Err(MoneyError::UnknownCurrency("XXY".into()))
        );
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().exponent(), 3);
    }

    #[test]
    fn adding_different_currencies_fails() {
        let usd = Currency::from_code("USD").unwrap();
        let r = Money::new(100, eur()).checked_add(Money::new(100, usd));
        assert!(matches!(r, Err(MoneyError::CurrencyMismatch { .. })));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let r = Money::new(i64::MAX, eur()).checked_add(Money::new(1, eur()));
        assert_eq!(r, Err(MoneyError::Overflow));
    }

    #[test]
    fn half_away_from_zero_edges() {
        assert_eq!(div_round_half_away(5, 10), 1);
        assert_eq!(div_round_half_away(4, 10), 0);
        assert_eq!(div_round_half_away(-5, 10), -1);
        assert_eq!(div_round_half_away(-4, 10), 0);
        assert_eq!(div_round_half_away(15, 10), 2);
        assert_eq!(div_round_half_away(25, 10), 3); // not banker's rounding
        assert_eq!(div_round_half_away(-25, 10), -3);
        assert_eq!(div_round_half_away(0, 7), 0);
        assert_eq!(div_round_half_away(1, 3), 0);
        assert_eq!(div_round_half_away(2, 3), 1);
    }

    #[test]
    fn exclusive_tax_rounds_half_up_at_exactly_half_a_cent() {
        // 0.25 at 10 % = 0.025 -> 0.03
        assert_eq!(
            tax_for_rate(25, 1000, TaxMode::Exclusive).unwrap(),
            (25, 3, 28)
        );
        // 0.24 at 10 % = 0.024 -> 0.02
        assert_eq!(
            tax_for_rate(24, 1000, TaxMode::Exclusive).unwrap(),
            (24, 2, 26)
        );
        // negative (refund) amounts mirror positive ones
        assert_eq!(
            tax_for_rate(-25, 1000, TaxMode::Exclusive).unwrap(),
            (-25, -3, -28)
        );
    }

    #[test]
    fn inclusive_tax_backs_out_of_gross() {
        // 1.00 incl. 20 %: net = 100 / 1.2 = 83.33 -> 83, tax 17
        assert_eq!(
            tax_for_rate(100, 2000, TaxMode::Inclusive).unwrap(),
            (83, 17, 100)
        );
        // 10.00 incl. 19 %: net = 840.336 -> 840, tax 160
        assert_eq!(
            tax_for_rate(1000, 1900, TaxMode::Inclusive).unwrap(),
            (840, 160, 1000)
        );
        // 0.21 incl. 5 %: net = 20.0 exactly
        assert_eq!(
            tax_for_rate(21, 500, TaxMode::Inclusive).unwrap(),
            (20, 1, 21)
        );
        // zero rate
        assert_eq!(
            tax_for_rate(999, 0, TaxMode::Inclusive).unwrap(),
            (999, 0, 999)
        );
    }

    #[test]
    fn tax_rate_out_of_range_is_rejected() {
        assert_eq!(
            tax_for_rate(100, -1, TaxMode::Exclusive),
            Err(MoneyError::TaxRateOutOfRange(-1))
        );
        assert_eq!(
            tax_for_rate(100, 100_001, TaxMode::Exclusive),
            Err(MoneyError::TaxRateOutOfRange(100_001))
        );
    }

    #[test]
    fn allocation_sums_exactly_and_is_proportional() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(allocate(10, &[0, 0]), vec![10, 0]);
        assert_eq!(allocate(7, &[300, 100]), vec![5, 2]);
        assert!(allocate(5, &[]).is_empty());
        let parts = allocate(1_000_003, &[7, 13, 17, 19, 23]);
        assert_eq!(parts.iter().sum::<i64>(), 1_000_003);
    }

    #[test]
    fn parse_and_format_round_trip() {
        let e = eur();
        assert_eq!(Money::parse("12.34", e).unwrap().minor, 1234);
        assert_eq!(Money::parse("12.3", e).unwrap().minor, 1230);
        assert_eq!(Money::parse("-0.05", e).unwrap().minor, -5);
        assert_eq!(Money::parse("7", e).unwrap().minor, 700);
        assert!(Money::parse("1.234", e).is_err());
        assert!(Money::parse("abc", e).is_err());
        assert!(Money::parse("", e).is_err());
        assert!(Money::parse("99999999999999999999", e).is_err());
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(123456, 3), "123.456");
        assert_eq!(format_minor(500, 0), "500");
        assert_eq!(Money::new(1234, e).to_string(), "12.34 EUR");
    }
}
