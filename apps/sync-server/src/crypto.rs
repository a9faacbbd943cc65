//! Secrets at rest: AES-256-GCM (RustCrypto `aes-gcm`) under the server's master key, with what
//! the value belongs to bound as associated data, so a sealed value copied to another row, column
//! or tenant no longer opens.
//!
//! The master key comes from `--master-key` (64 hex digits, or the environment) or is generated
//! once into `<data-dir>/master-key` (mode 0600), like the JWT secret; it is never stored in
//! Postgres and never logged. A sealed value names its key by a fingerprint, so a key given as
//! `--previous-master-key` still opens what it sealed while values are re-sealed under the new
//! one.
//!
//! Sealed form: `1` (version) ‖ key fingerprint (8 bytes) ‖ nonce (12 random bytes) ‖ ciphertext
//! and tag.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

const VERSION: u8 = 1;
const FINGERPRINT: usize = 8;
const NONCE: usize = 12;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("a master key must be 32 bytes written as 64 hex digits")]
    BadKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value was made with a master key this server does not have")]
    UnknownKey,
    #[error("sealed value does not open: wrong key or associated data, or it was altered")]
    Open,
}

/// One AES-256 key and its fingerprint (the first bytes of the SHA-256 of a label and the key).
#[derive(Clone)]
struct Key {
    fingerprint: [u8; FINGERPRINT],
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Key {
        let mut h = Sha256::new();
        h.update(b"pos master key fingerprint\0");
        h.update(bytes);
        let mut fingerprint = [0u8; FINGERPRINT];
        fingerprint.copy_from_slice(&h.finalize()[..FINGERPRINT]);
        Key {
            fingerprint,
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// Seals with the current master key; opens with it or a previous one.
#[derive(Clone)]
pub struct Sealer {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealer(current {}, {} previous)",
            hex::encode(self.current.fingerprint),
            self.previous.len()
        )
    }
}

impl Sealer {
    /// From 64 hex digits (the current key) and any previous keys, same form.
    pub fn from_hex(current: &str, previous: &[String]) -> Result<Sealer, CryptoError> {
        let key = |s: &str| -> Result<Key, CryptoError> {
            let bytes: [u8; 32] = hex::decode(s.trim())
                .map_err(|_| CryptoError::BadKey)?
                .try_into()
                .map_err(|_| CryptoError::BadKey)?;
            Ok(Key::new(&bytes))
        };
        Ok(Sealer {
            current: key(current)?,
            previous: previous.iter().map(|p| key(p)).collect::<Result<_, _>>()?,
        })
    }

    /// A sealer with a fresh random key (tests, and servers that keep nothing sealed).
    pub fn random() -> Sealer {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        Sealer {
            current: Key::new(&b),
            previous: Vec::new(),
        }
    }

    /// 64 fresh hex digits, for a new master key file.
    pub fn new_key_hex() -> String {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        hex::encode(b)
    }

    /// Seals `plain`, bound to `aad` (say what the value is and whose: table, column, tenant,
    /// row).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            // AES-GCM fails only on plaintexts over 64 GiB; secrets here are bytes.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + FINGERPRINT + NONCE + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.fingerprint);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens what [`Sealer::seal`] made with the same `aad`, under the current or a previous key.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + FINGERPRINT + NONCE + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let fp = &sealed[1..1 + FINGERPRINT];
        let nonce = &sealed[1 + FINGERPRINT..1 + FINGERPRINT + NONCE];
        let ct = &sealed[1 + FINGERPRINT + NONCE..];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.fingerprint == fp)
            .ok_or(CryptoError::UnknownKey)?;
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Open)
    }

    /// Whether `sealed` was made under the current key (else it is due for re-sealing).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.get(1..1 + FINGERPRINT) == Some(&self.current.fingerprint[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let s = Sealer::random();
        let sealed = s.seal(b"JBSWY3DPEHPK3PXP", b"user_totp.secret:t1:u1");
        assert_eq!(
            s.open(&sealed, b"user_totp.secret:t1:u1").unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        assert_eq!(
            s.open(&sealed, b"user_totp.secret:t1:u2"),
            Err(CryptoError::Open),
            "moved to another row"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            s.open(&altered, b"user_totp.secret:t1:u1"),
            Err(CryptoError::Open)
        );
        assert_eq!(
            Sealer::random().open(&sealed, b"user_totp.secret:t1:u1"),
            Err(CryptoError::UnknownKey)
        );
        assert_eq!(s.open(&sealed[..10], b""), Err(CryptoError::Malformed));
        assert_ne!(
            sealed,
            s.seal(b"JBSWY3DPEHPK3PXP", b"user_totp.secret:t1:u1")
        );
    }

    #[test]
    fn a_previous_master_key_still_opens_until_values_are_resealed() {
        let (old, new) = (Sealer::new_key_hex(), Sealer::new_key_hex());
        let before = Sealer::from_hex(&old, &[]).unwrap();
        let sealed = before.seal(b"secret", b"aad");
        let after = Sealer::from_hex(&new, std::slice::from_ref(&old)).unwrap();
        assert!(!after.is_current(&sealed));
        assert_eq!(after.open(&sealed, b"aad").unwrap(), b"secret");
        let resealed = after.seal(b"secret", b"aad");
        assert!(after.is_current(&resealed));
        assert_eq!(
            Sealer::from_hex(&new, &[]).unwrap().open(&sealed, b"aad"),
            Err(CryptoError::UnknownKey),
            "without the old key the old value does not open"
        );
        assert!(matches!(
            Sealer::from_hex("abcd", &[]),
            Err(CryptoError::BadKey)
        ));
    }
}
