//! Email addresses for emailed receipts: one deliberately simple rule, shared by the device
//! (which refuses a bad address at the till) and the server (which checks again).
//!
//! An address is personal data: it is never put in a document (automerge history cannot be
//! erased), only in the device's `receipt_emails` queue and the server's mail table.

use thiserror::Error;

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailError {
    #[error("an email address is required")]
    Empty,
    #[error("an email address is at most {MAX_EMAIL_LEN} characters")]
    TooLong,
    #[error("an email address needs exactly one @ between a name and a domain")]
    Shape,
    #[error("the part before the @ is not valid")]
    LocalPart,
    #[error("the domain after the @ is not valid (like shop.example)")]
    Domain,
}

const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

/// Checks an address and returns it trimmed, with its domain in lower case. Deliberately
/// simple: `local@domain.tld` with the common characters (no quoted local parts, no comments,
/// no IP literals, ASCII only), so no header can be smuggled in through it.
pub fn normalize_email(input: &str) -> Result<String, EmailError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(EmailError::Empty);
    }
    if s.len() > MAX_EMAIL_LEN {
        return Err(EmailError::TooLong);
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(EmailError::Shape);
    };
    if local.is_empty() || domain.is_empty() {
        return Err(EmailError::Shape);
    }
    if local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
    {
        return Err(EmailError::LocalPart);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(EmailError::Domain);
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_addresses_are_trimmed_and_their_domain_lowered() {
        assert_eq!(
            normalize_email("  Ann.Lee+receipts@Shop.Example ").unwrap(),
            "Ann.Lee+receipts@shop.example"
        );
        assert!(normalize_email("a@b.co").is_ok());
    }

    #[test]
    fn bad_addresses_are_refused_with_their_reason() {
        assert_eq!(normalize_email(" "), Err(EmailError::Empty));
        assert_eq!(normalize_email("ann"), Err(EmailError::Shape));
        assert_eq!(normalize_email("a@b@c.de"), Err(EmailError::Shape));
        assert_eq!(normalize_email("@shop.example"), Err(EmailError::Shape));
        assert_eq!(
            normalize_email("a..b@shop.example"),
            Err(EmailError::LocalPart)
        );
        assert_eq!(
            normalize_email("a b@shop.example"),
            Err(EmailError::LocalPart)
        );
        assert_eq!(normalize_email("a@localhost"), Err(EmailError::Domain));
        assert_eq!(normalize_email("a@shop..example"), Err(EmailError::Domain));
        assert_eq!(
            normalize_email("a@shop.example\r\nBcc: x"),
            Err(EmailError::Domain)
        );
        assert_eq!(
            normalize_email(&format!("{}@shop.example", "a".repeat(250))),
            Err(EmailError::TooLong)
        );
    }
}
