//! Device keys and change signatures, for changes that reach the server through another device
//! of the store (the store mesh, ARCHITECTURE.md "Store mesh").
//!
//! At enrolment a device makes an ed25519 key pair; the public key is registered with the
//! device on the server. A device signs each change it authors over
//! its envelope, its hash and its author (user and device), so a change carried by
//! any other device can be checked against its author's key on every hop, the server included.
//!
//! **Architecture invariant: a signature proves who wrote a change, never what it may do.**
//! A change whose signature checks is then authorized exactly as if its author had pushed it
//! (the author's role and device kind); nothing is allowed because of who carried it.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use uuid::Uuid;

use pos_core::doc::Envelope;

use crate::wire::{Author, WireChange};

/// Bytes of a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// Distinguishes a change signature from any other use of a device key.
const DOMAIN: &[u8] = b"pos-change-signature/1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("a public key is {PUBLIC_KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    #[error("a secret key is 32 bytes, got {0}")]
    SecretLength(usize),
    #[error("the public key is not a valid ed25519 point")]
    BadKey,
    #[error("a signature is {SIGNATURE_LEN} bytes, got {0}")]
    SignatureLength(usize),
    #[error("the signature does not match the change and its author's key")]
    BadSignature,
}

/// What a change signature covers: the change's whole envelope (tenant, store, document, type,
/// creating device), its hash and its author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedFields<'a> {
    pub envelope: &'a Envelope,
    /// The automerge change hash, hex, as on the wire.
    pub hash: &'a str,
    pub author: Author,
}

impl<'a> SignedFields<'a> {
    pub fn of(c: &'a WireChange) -> SignedFields<'a> {
        SignedFields {
            envelope: &c.envelope,
            hash: &c.hash,
            author: c.author,
        }
    }

    fn message(&self) -> Vec<u8> {
        let e = self.envelope;
        let mut m = Vec::with_capacity(DOMAIN.len() + 7 * 16 + 2 + self.hash.len() + 32);
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(e.tenant_id.as_bytes());
        m.extend_from_slice(e.store_id.unwrap_or(Uuid::nil()).as_bytes());
        m.extend_from_slice(e.doc_id.as_bytes());
        m.extend_from_slice(e.created_by_device.as_bytes());
        m.extend_from_slice(self.author.user_id.as_bytes());
        m.extend_from_slice(self.author.device_id.as_bytes());
        // Length-prefixed, the variable-length fields last.
        let t = e.doc_type.as_str();
        m.push(t.len().min(255) as u8);
        m.extend_from_slice(t.as_bytes());
        m.push(self.hash.len().min(255) as u8);
        m.extend_from_slice(self.hash.as_bytes());
        m
    }
}

/// A device's private key. Its `Debug` never shows the key.
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DeviceKey")
            .field(&hex_short(&self.public_key()))
            .finish()
    }
}

fn hex_short(key: &[u8; PUBLIC_KEY_LEN]) -> String {
    key[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl DeviceKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> DeviceKey {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        DeviceKey(SigningKey::from_bytes(&seed))
    }

    /// The key kept in the device's data folder (its 32-byte secret).
    pub fn from_secret(bytes: &[u8]) -> Result<DeviceKey, SigningError> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SigningError::SecretLength(bytes.len()))?;
        Ok(DeviceKey(SigningKey::from_bytes(&seed)))
    }

    /// The 32-byte secret, to keep in the device's data folder.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.verifying_key().to_bytes()
    }

    pub fn sign(&self, fields: &SignedFields<'_>) -> Vec<u8> {
        self.0.sign(&fields.message()).to_bytes().to_vec()
    }
}

/// A registered public key, checked to be a valid point once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, SigningError> {
        let b: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| SigningError::KeyLength(bytes.len()))?;
        VerifyingKey::from_bytes(&b)
            .map(PublicKey)
            .map_err(|_| SigningError::BadKey)
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.to_bytes()
    }

    /// Checks `signature` over `fields` (strict: no malleable or small-order forms).
    pub fn verify(&self, fields: &SignedFields<'_>, signature: &[u8]) -> Result<(), SigningError> {
        let sig: [u8; SIGNATURE_LEN] = signature
            .try_into()
            .map_err(|_| SigningError::SignatureLength(signature.len()))?;
        let sig = Signature::from_bytes(&sig);
        self.0
            .verify_strict(&fields.message(), &sig)
            .map_err(|_| SigningError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: Envelope = Envelope {
        doc_id: Uuid::from_u128(3),
        tenant_id: Uuid::from_u128(1),
        store_id: Some(Uuid::from_u128(2)),
        doc_type: pos_core::doc::DocType::Sale,
        created_by_device: Uuid::from_u128(5),
    };

    fn fields(hash: &str) -> SignedFields<'_> {
        SignedFields {
            envelope: &ENV,
            hash,
            author: Author {
                user_id: Uuid::from_u128(4),
                device_id: Uuid::from_u128(5),
            },
        }
    }

    #[test]
    fn a_signature_checks_against_its_authors_key_only() {
        let key = DeviceKey::generate();
        let public = PublicKey::from_bytes(&key.public_key()).unwrap();
        let sig = key.sign(&fields("abcd"));
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert_eq!(public.verify(&fields("abcd"), &sig), Ok(()));
        let other = PublicKey::from_bytes(&DeviceKey::generate().public_key()).unwrap();
        assert_eq!(
            other.verify(&fields("abcd"), &sig),
            Err(SigningError::BadSignature)
        );
    }

    #[test]
    fn every_signed_field_is_covered() {
        let key = DeviceKey::generate();
        let public = PublicKey::from_bytes(&key.public_key()).unwrap();
        let sig = key.sign(&fields("abcd"));
        let base = fields("abcd");
        let envs = [
            Envelope {
                tenant_id: Uuid::from_u128(9),
                ..ENV
            },
            Envelope {
                store_id: None,
                ..ENV
            },
            Envelope {
                doc_id: Uuid::from_u128(9),
                ..ENV
            },
            Envelope {
                doc_type: pos_core::doc::DocType::Refund,
                ..ENV
            },
            Envelope {
                created_by_device: Uuid::from_u128(9),
                ..ENV
            },
        ];
        let mut variants: Vec<SignedFields<'_>> = envs
            .iter()
            .map(|envelope| SignedFields { envelope, ..base })
            .collect();
        variants.extend([
            SignedFields {
                hash: "abce",
                ..base
            },
            SignedFields {
                author: Author {
                    user_id: Uuid::from_u128(9),
                    ..base.author
                },
                ..base
            },
            SignedFields {
                author: Author {
                    device_id: Uuid::from_u128(9),
                    ..base.author
                },
                ..base
            },
        ]);
        for v in variants {
            assert_eq!(
                public.verify(&v, &sig),
                Err(SigningError::BadSignature),
                "{v:?}"
            );
        }
    }

    #[test]
    fn malformed_keys_and_signatures_are_typed_errors() {
        assert_eq!(
            PublicKey::from_bytes(&[0; 31]),
            Err(SigningError::KeyLength(31))
        );
        let key = DeviceKey::generate();
        let public = PublicKey::from_bytes(&key.public_key()).unwrap();
        assert_eq!(
            public.verify(&fields("ab"), &[0; 63]),
            Err(SigningError::SignatureLength(63))
        );
        assert_eq!(
            public.verify(&fields("ab"), &[0; 64]),
            Err(SigningError::BadSignature)
        );
        assert!(matches!(
            DeviceKey::from_secret(&[1; 3]),
            Err(SigningError::SecretLength(3))
        ));
        let again = DeviceKey::from_secret(&key.secret()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.secret())));
    }
}
