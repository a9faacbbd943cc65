//! Password and PIN hashing: argon2id, PHC strings. The device (staff PINs) and the server
//! (head-office passwords, PIN hashes it syncs down) use these two functions and nothing else.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    #[error("a PIN must be 4 to 8 digits")]
    BadPin,
    #[error("a password must be 8 to 256 characters")]
    BadPassword,
    #[error("stored hash is not a valid argon2 PHC string")]
    BadHash,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes a secret with argon2id and a random salt, as a PHC string.
pub fn hash_secret(secret: &str) -> Result<String, SecretError> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Checks a secret against a PHC string. `Ok(false)` for a wrong secret.
pub fn verify_secret(secret: &str, phc: &str) -> Result<bool, SecretError> {
    let parsed = PasswordHash::new(phc).map_err(|_| SecretError::BadHash)?;
    Ok(Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok())
}

/// Checks the shape of a staff PIN: 4 to 8 digits.
pub fn check_pin(pin: &str) -> Result<(), SecretError> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SecretError::BadPin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_secret("2468").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify_secret("2468", &h), Ok(true));
        assert_eq!(verify_secret("2469", &h), Ok(false));
        assert_ne!(hash_secret("2468").unwrap(), h, "salted");
        assert_eq!(
            verify_secret("2468", "not a hash"),
            Err(SecretError::BadHash)
        );
    }

    #[test]
    fn pin_shape() {
        assert_eq!(check_pin("1234"), Ok(()));
        assert_eq!(check_pin("123"), Err(SecretError::BadPin));
        assert_eq!(check_pin("12a4"), Err(SecretError::BadPin));
        assert_eq!(check_pin("123456789"), Err(SecretError::BadPin));
    }
}
