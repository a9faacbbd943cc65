//! The one rule for text that may be stored: what PostgreSQL's `text` and `jsonb` and the
//! documents can hold.
//!
//! **Architecture invariant: text is checked once, at the edge.** The server refuses a request
//! with a NUL in its URI (a layer of the router) or its JSON body (the `Json` extractor) before
//! any handler runs; the document policy (`policy::authorize`, run by the device on every local
//! write and by the server on every pushed change) refuses a document whose text breaks it. So
//! no NUL ever reaches
//! a statement: PostgreSQL refuses `\0` in `text` (SQLSTATE 22021) and `\u0000` in `jsonb`
//! (22P05), and one such value used to fail a whole push.
//!
//! Rust strings are valid UTF-8 by construction, and serde_json refuses lone surrogate escapes,
//! so "valid UTF-8" needs no check of its own once a value is a `str`.

use serde_json::Value;
use thiserror::Error;

/// Longest single text value of a document, in bytes (a receipt footer, an item name, a note).
/// Far above any real value; it bounds what one change can make the master store in a column.
pub const MAX_DOC_TEXT_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("{field} contains a NUL character (\\u0000), which cannot be stored")]
    Nul { field: String },
    #[error("{field} is {len} characters long; at most {max} are allowed")]
    TooLong {
        field: String,
        len: usize,
        max: usize,
    },
    #[error("{field} must not be empty")]
    Empty { field: String },
}

/// Checks one text field: no NUL and at most `max_chars` characters.
pub fn check(field: &str, s: &str, max_chars: usize) -> Result<(), TextError> {
    if s.contains('\0') {
        return Err(TextError::Nul {
            field: field.to_string(),
        });
    }
    // `len()` bounds `chars().count()` from above: only count when it could be over.
    if s.len() > max_chars {
        let len = s.chars().count();
        if len > max_chars {
            return Err(TextError::TooLong {
                field: field.to_string(),
                len,
                max: max_chars,
            });
        }
    }
    Ok(())
}

/// At most `max_chars` characters of `s`, with `…` when cut: for echoing a bad value in an
/// error message without echoing a huge one.
pub fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// [`check`] on the trimmed value, which must not be empty; returns it trimmed.
pub fn required(field: &str, s: &str, max_chars: usize) -> Result<String, TextError> {
    let t = s.trim();
    check(field, t, max_chars)?;
    if t.is_empty() {
        return Err(TextError::Empty {
            field: field.to_string(),
        });
    }
    Ok(t.to_string())
}

/// Checks every string and every key of a document's JSON form: no NUL anywhere, and no string
/// longer than [`MAX_DOC_TEXT_BYTES`]. The error names the first offending field by its path.
pub fn check_document(json: &Value) -> Result<(), TextError> {
    fn text(s: &str, path: &[String]) -> Result<(), TextError> {
        if s.contains('\0') {
            return Err(TextError::Nul {
                field: field_name(path),
            });
        }
        if s.len() > MAX_DOC_TEXT_BYTES {
            return Err(TextError::TooLong {
                field: field_name(path),
                len: s.chars().count(),
                max: MAX_DOC_TEXT_BYTES,
            });
        }
        Ok(())
    }
    fn walk(v: &Value, path: &mut Vec<String>) -> Result<(), TextError> {
        match v {
            Value::String(s) => text(s, path),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    path.push(k.clone());
                    // A key is text too (a tax class, a line id): the same rule as a value.
                    text(k, path)?;
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(json, &mut Vec::new())
}

/// A path for an error message: NULs shown escaped, long keys cut.
fn field_name(path: &[String]) -> String {
    if path.is_empty() {
        return "the document".into();
    }
    let joined = path.join(".").replace('\0', "\\u0000");
    match joined.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

/// Where a JSON text (as sent, before parsing) holds a NUL escape (`\u0000`) inside a string,
/// as a byte offset. Raw control bytes cannot appear in a JSON string at all (the parser refuses
/// them), so the escape is the only way a NUL arrives in JSON. An escaped backslash followed by
/// `u0000` (`\\u0000`) is six printable characters, not a NUL, and is not reported.
pub fn json_nul_escape(body: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            if body.get(i + 1) == Some(&b'u') && body.get(i + 2..i + 6) == Some(b"0000") {
                return Some(i);
            }
            // Skip the escaped character, whatever it is (`\\`, `\"`, `\u…`'s `u`).
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_anywhere_in_a_document_is_named_by_its_path() {
        let doc = json!({"name": "Latte", "lines": {"a": {"note": "no\u{0}foam"}}});
        assert_eq!(
            check_document(&doc),
            Err(TextError::Nul {
                field: "lines.a.note".into()
            })
        );
        let key = json!({"tax_rates": {"st\u{0}d": 2000}});
        assert_eq!(
            check_document(&key).unwrap_err().to_string(),
            "tax_rates.st\\u0000d contains a NUL character (\\u0000), which cannot be stored"
        );
        assert_eq!(
            check_document(&json!({"name": "Crème brûlée", "n": [1, "x"]})),
            Ok(())
        );
        let long = json!({ "footer": "x".repeat(MAX_DOC_TEXT_BYTES + 1) });
        assert!(matches!(
            check_document(&long),
            Err(TextError::TooLong { .. })
        ));
    }

    #[test]
    fn a_field_is_checked_for_nul_and_length_in_characters() {
        assert_eq!(
            check("name", "Café", 4),
            Ok(()),
            "four characters, five bytes"
        );
        assert_eq!(
            check("name", "Cafés", 4),
            Err(TextError::TooLong {
                field: "name".into(),
                len: 5,
                max: 4
            })
        );
        assert!(matches!(
            check("name", "a\0b", 10),
            Err(TextError::Nul { .. })
        ));
        assert_eq!(required("name", "  Bar  ", 10), Ok("Bar".into()));
        assert!(matches!(
            required("name", "   ", 10),
            Err(TextError::Empty { .. })
        ));
    }

    #[test]
    fn only_a_real_nul_escape_in_a_json_text_is_found() {
        assert_eq!(json_nul_escape(br#"{"email":"a\u0000@x"}"#), Some(11));
        assert_eq!(json_nul_escape(br#"{"email":"a\\u0000@x"}"#), None);
        assert_eq!(json_nul_escape(br#"{"email":"a\\\u0000@x"}"#), Some(13));
        assert_eq!(json_nul_escape(br#"{"a":"\u00001"}"#), Some(6));
        assert_eq!(json_nul_escape(br#"{"a":"\u0001","b":"\""}"#), None);
        assert_eq!(json_nul_escape(b"\\"), None, "a trailing backslash");
    }
}
