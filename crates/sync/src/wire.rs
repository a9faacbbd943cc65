//! The wire protocol between devices and the server, version 1: JSON over HTTP under `/v1`,
//! with change bytes in base64.
//!
//! **Architecture invariant: a wire type changes only with a new protocol version.** Fields
//! may be added (old readers ignore them); nothing is renamed or removed within a version.

use pos_core::doc::Envelope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// The protocol version this build speaks. Sent in every push; the server refuses others.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most changes in one push.
pub const MAX_PUSH_CHANGES: usize = 2_000;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Most changes in one pull page.
pub const MAX_PULL_CHANGES: usize = 5_000;

/// Who made a change: the staff member and the device. The server checks the device against
/// its token and the user's membership of the store, and takes the role from its own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Author {
    pub user_id: Uuid,
    pub device_id: Uuid,
}

/// One automerge change, with the envelope of its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireChange {
    pub envelope: Envelope,
    /// The automerge change hash, hex.
    pub hash: String,
    /// The raw change bytes.
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
    pub author: Author,
    /// The author device's ed25519 signature (`pos_sync::signing`), base64. Required only when
    /// the change is pushed by another device of the store than its author (the store mesh
    /// relays it); a device's own changes need none, its token speaks for it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub signature: Option<Vec<u8>>,
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub protocol: u32,
    pub changes: Vec<WireChange>,
}

impl PushRequest {
    /// The checks a push passes before its changes are looked at: this protocol version, at
    /// most [`MAX_PUSH_CHANGES`] changes.
    pub fn check(&self) -> Result<(), PushRefused> {
        if self.protocol != PROTOCOL_VERSION {
            return Err(PushRefused::Protocol(self.protocol));
        }
        if self.changes.len() > MAX_PUSH_CHANGES {
            return Err(PushRefused::TooMany(self.changes.len()));
        }
        Ok(())
    }
}

/// Why a whole push is refused before any of its changes is merged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PushRefused {
    #[error("protocol version {0} is not supported (this server speaks {PROTOCOL_VERSION})")]
    Protocol(u32),
    #[error("at most {MAX_PUSH_CHANGES} changes per push, got {0}")]
    TooMany(usize),
}

/// Why a JSON request body was refused before any handler saw it.
#[derive(Debug, Error)]
pub enum BodyError {
    /// A `\u0000` escape in a string (`pos_core::text`: no NUL in storable text).
    #[error("text must not contain a NUL character (\\u0000)")]
    Nul { byte_offset: usize },
    #[error("malformed JSON body: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Decodes a JSON request body as the server's extractor does for every JSON route (the push
/// body included: `decode_json::<PushRequest>`): a NUL escape anywhere is refused first, then
/// the body is parsed. Never panics, whatever the bytes.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    if let Some(byte_offset) = pos_core::text::json_nul_escape(body) {
        return Err(BodyError::Nul { byte_offset });
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(e) => {
            // JSON (and JSON Schema's `integer`) counts `3.0` as the integer 3; serde does
            // not. Only on this error path, so a well-formed body is parsed once.
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
                if integral_floats_to_integers(&mut v) {
                    if let Ok(t) = serde_json::from_value(v) {
                        return Ok(t);
                    }
                }
            }
            Err(e.into())
        }
    }
}

/// Rewrites every number written with a fraction or exponent whose value is an integer that
/// fits in an `i64` (`3.0`, `1e3`) as that integer; true when it changed anything.
fn integral_floats_to_integers(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // -2^63 ≤ f < 2^63: exactly the f64 values that convert to an i64 without loss.
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                *v = serde_json::Value::from(f as i64);
                true
            } else {
                false
            }
        }
        // Every element is visited (no short circuit): each may need rewriting.
        serde_json::Value::Array(a) => {
            let mut changed = false;
            for x in a {
                changed |= integral_floats_to_integers(x);
            }
            changed
        }
        serde_json::Value::Object(o) => {
            let mut changed = false;
            for x in o.values_mut() {
                changed |= integral_floats_to_integers(x);
            }
            changed
        }
        _ => false,
    }
}

/// The server's answer to one pushed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PushResult {
    /// Merged into the master, with its server sequence.
    Accepted { hash: String, seq: i64 },
    /// Already there (sent before); nothing changed.
    Duplicate { hash: String, seq: i64 },
    /// Refused; the device must reset the document to the server's state.
    Rejected {
        hash: String,
        /// Machine-readable reason, e.g. `forbidden`, `frozen`, `refund_exceeds_sale`.
        code: String,
        message: String,
    },
    /// The change depends on changes the server has not seen yet: send again later.
    RetryAfter {
        hash: String,
        missing: Vec<String>,
        after_ms: u64,
    },
}

impl PushResult {
    pub fn hash(&self) -> &str {
        match self {
            PushResult::Accepted { hash, .. }
            | PushResult::Duplicate { hash, .. }
            | PushResult::Rejected { hash, .. }
            | PushResult::RetryAfter { hash, .. } => hash,
        }
    }
}

/// `POST /v1/sync/push` response: one result per pushed change, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// Most receipt emails in one `POST /v1/sync/receipt-emails`.
pub const MAX_RECEIPT_EMAILS: usize = 100;

/// One receipt to email: the device's id for it (the server is idempotent by it), the closed
/// sale or refund, and the address. Scope (tenant, store) comes from the device's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEmailItem {
    pub id: Uuid,
    pub doc_id: Uuid,
    pub email: String,
}

/// `POST /v1/sync/receipt-emails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEmailRequest {
    pub protocol: u32,
    pub emails: Vec<ReceiptEmailItem>,
}

/// The server's answer to one receipt email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReceiptEmailResult {
    /// The mail is queued for sending (also when this id was queued before).
    Queued { id: Uuid },
    /// Refused for good; the device must not send it again.
    Refused {
        id: Uuid,
        /// Machine-readable: `bad_address`, `unknown_document` (not in the device's store, or
        /// not on the server) or `not_a_receipt` (not a closed sale or a refund).
        code: String,
        message: String,
    },
}

impl ReceiptEmailResult {
    pub fn id(&self) -> Uuid {
        match self {
            ReceiptEmailResult::Queued { id } | ReceiptEmailResult::Refused { id, .. } => *id,
        }
    }
}

/// `POST /v1/sync/receipt-emails` response: one result per email, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEmailResponse {
    pub results: Vec<ReceiptEmailResult>,
}

/// A change as pulled: what was accepted, with its server sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledChange {
    pub seq: i64,
    pub envelope: Envelope,
    pub hash: String,
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
}

/// `GET /v1/sync/pull?cursor=N&limit=M`: everything in the device's scopes after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<PulledChange>,
    /// The cursor to ask from next time.
    pub cursor: i64,
    /// More is waiting beyond this page.
    pub more: bool,
}

/// A document's current state, for bootstrap and for resetting a rejected document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSnapshot {
    pub envelope: Envelope,
    /// `automerge::AutoCommit::save()` bytes.
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
}

/// `GET /v1/sync/bootstrap?page=TOKEN`: the store's documents as snapshots, in pages. The
/// first page's `cursor` is where the device starts pulling when it has read every page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapPage {
    pub docs: Vec<DocSnapshot>,
    pub cursor: i64,
    /// Token of the next page, if any.
    pub next: Option<String>,
    /// Documents in the whole bootstrap (for a progress bar).
    pub total: i64,
}

/// A store of the device's tenant (`GET /v1/sync/stores`), to pick where stock is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
}

/// A transfer another store posted to this one and this store has not received yet
/// (`GET /v1/sync/transfers/incoming`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingTransfer {
    pub transfer_out_id: Uuid,
    pub from_store_id: Uuid,
    pub from_store: String,
    /// When the sending store posted it, ms since the epoch.
    pub sent_at: Option<i64>,
    pub lines: Vec<TransferLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine {
    pub item_id: Uuid,
    /// Units sent (positive).
    pub qty: i64,
}

/// A staff member of the store, synced down so staff can log in offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRecord {
    pub user_id: Uuid,
    pub name: String,
    /// `owner`, `admin`, `manager`, `cashier` or `kitchen`.
    pub role: String,
    /// argon2id PHC string of the PIN.
    pub pin_hash: Option<String>,
}

/// `POST /v1/devices/enrol`: a device trades a one-time code for its credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub code: String,
    /// A name for the device, shown in the admin API.
    pub name: String,
    /// The device's ed25519 public key (32 bytes, base64), registered with it: the key its
    /// relayed changes are checked against. Devices of earlier releases send none; their
    /// changes can then only reach the server through their own pushes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub public_key: Option<Vec<u8>>,
}

/// An enrolled, non-revoked device of the store with a registered key
/// (`GET /v1/sync/peers`), refreshed with the staff list: who may talk on the store's LAN,
/// and whose signatures a device accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub device_id: Uuid,
    pub name: String,
    pub kind: pos_core::auth::DeviceKind,
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
}

/// A change the cloud refused, as every device of its store learns of it
/// (`GET /v1/sync/refusals`): a device that applied it from a peer undoes it and what was
/// built on it (`Store::undo_refused`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalNotice {
    /// The notice's place in the store's list; ask for those after the last one handled.
    pub id: i64,
    pub doc_id: Uuid,
    pub hash: String,
    /// The device that wrote the change.
    pub author_device: Uuid,
    /// The device whose push the cloud refused it in (the author or a carrier).
    pub pushed_by: Uuid,
    pub code: String,
    pub message: String,
    /// When the cloud refused it, ms since the epoch.
    pub at: i64,
}

/// `GET /v1/sync/refusals?after=`: the store's refusal notices after `after`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalsPage {
    pub refusals: Vec<RefusalNotice>,
    /// Whether more notices wait after this page.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    pub store_code: String,
    pub device_code: String,
    /// The device's long-lived secret; only its hash is kept on the server.
    pub device_secret: String,
    /// What the enrolment code enrolled the device as (a till when a server predates kinds).
    #[serde(default)]
    pub kind: pos_core::auth::DeviceKind,
}

/// `POST /v1/devices/token`: a device trades its credential for a short-lived access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTokenRequest {
    pub device_id: Uuid,
    pub device_secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What the live channel (`GET /v1/sync/live`, WebSocket) sends: only "there is more".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// Changes up to `seq` exist in your store's scope: pull.
    More { seq: i64 },
}

/// The one error shape of the API: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `VALIDATION`, `AUTHN`, `AUTHZ`, `NOT_FOUND`, `CONFLICT`, `RATE_LIMIT` or `INTERNAL`.
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_core::doc::DocType;

    #[test]
    fn push_result_is_tagged_by_status() {
        let r = PushResult::Rejected {
            hash: "ab".into(),
            code: "forbidden".into(),
            message: "role cashier lacks price.edit for price".into(),
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["status"], "rejected");
        assert_eq!(j["code"], "forbidden");
        assert_eq!(serde_json::from_value::<PushResult>(j).unwrap(), r);
    }

    #[test]
    fn receipt_email_results_are_tagged_by_status() {
        let id = Uuid::now_v7();
        let r = ReceiptEmailResult::Refused {
            id,
            code: "bad_address".into(),
            message: "the domain is not valid".into(),
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["status"], "refused");
        assert_eq!(j["code"], "bad_address");
        assert_eq!(serde_json::from_value::<ReceiptEmailResult>(j).unwrap(), r);
        let q = serde_json::to_value(ReceiptEmailResult::Queued { id }).unwrap();
        assert_eq!(q, serde_json::json!({"status": "queued", "id": id}));
    }

    #[test]
    fn change_bytes_travel_as_base64() {
        let c = WireChange {
            envelope: Envelope {
                doc_id: Uuid::now_v7(),
                tenant_id: Uuid::now_v7(),
                store_id: Some(Uuid::now_v7()),
                doc_type: DocType::Sale,
                created_by_device: Uuid::now_v7(),
            },
            hash: "00".into(),
            bytes: vec![0, 1, 2, 255],
            author: Author {
                user_id: Uuid::now_v7(),
                device_id: Uuid::now_v7(),
            },
            signature: None,
        };
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["bytes"], "AAEC/w==");
        assert!(j.get("signature").is_none(), "no signature, no field: {j}");
        let signed = WireChange {
            signature: Some(vec![7; 64]),
            ..c.clone()
        };
        let back: WireChange =
            serde_json::from_value(serde_json::to_value(&signed).unwrap()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(serde_json::from_value::<WireChange>(j).unwrap(), c);
        let bad = serde_json::json!({"envelope": c.envelope, "hash": "00", "bytes": "***", "author": c.author});
        assert!(serde_json::from_value::<WireChange>(bad).is_err());
    }
}
