//! OpenAPI schemas of types the server does not define: the device protocol (`pos_sync::wire`)
//! and the core's enums (`Role`, `DeviceKind`, `DocType`, `Module`, `Currency`, `TaxMode`).
//!
//! `pos-sync` and `pos-core` know nothing of HTTP, so they do not derive `ToSchema`; each type
//! here mirrors one of theirs field for field and is named after it (`#[schema(as = …)]`). A
//! mirror cannot drift unnoticed: the tests at the end compare every enum's values with the
//! core's own list, and the schema-driven fuzzer (`tests/fuzz/run.sh`) checks every answer of
//! the real server against these schemas and every schema-valid request against the server.

#![allow(dead_code)] // The mirrors are only read by utoipa's derive.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A role: `owner`, `admin`, `manager`, `cashier` or `kitchen` (strongest first).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Role)]
pub enum RoleSchema {
    Owner,
    Admin,
    Manager,
    Cashier,
    Kitchen,
}

/// What a device was enrolled as: a `till` (the logged-in user's own role applies) or a
/// `kitchen` screen (at most the kitchen role).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DeviceKind)]
pub enum DeviceKindSchema {
    Till,
    Kitchen,
}

/// The kind of a document (one automerge document per aggregate).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DocType)]
pub enum DocTypeSchema {
    StoreSettings,
    Category,
    Item,
    Sale,
    Refund,
    KitchenTicket,
    Stock,
    Shift,
    ZReport,
}

/// A module of the platform (`pos_core::modules`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Module)]
pub enum ModuleSchema {
    Pos,
    Kds,
    Inventory,
    Transfers,
    EmailReceipts,
    Reports,
    MultiStore,
}

/// An ISO 4217 currency code the server supports (`pos_core::money::Currency::codes`).
pub struct CurrencySchema;

impl utoipa::PartialSchema for CurrencySchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(pos_core::money::Currency::codes()))
            .description(Some("An ISO 4217 currency code, upper case."))
            .into()
    }
}

impl ToSchema for CurrencySchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
}

/// A schema written as JSON: for what utoipa's derive cannot say (a range on a newtype, a
/// nullable map value).
macro_rules! json_schema {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $json:tt) => {
        $(#[$doc])*
        pub struct $ty;

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                // A literal: it parses (`tests/it/api_fuzz.rs`, `json_schemas_parse`, checks).
                serde_json::from_value(serde_json::json!($json)).unwrap_or_default()
            }
        }

        impl ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
        }
    };
}

/// Modules to switch on (`true`) or off (`false`): at least one, each by its name.
pub struct ModuleSwitchesSchema;

impl utoipa::PartialSchema for ModuleSwitchesSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let properties: serde_json::Map<String, serde_json::Value> = pos_core::modules::Module::ALL
            .iter()
            .map(|m| {
                (
                    m.as_str().to_string(),
                    serde_json::json!({"type": "boolean"}),
                )
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "type": "object",
            "description": "Modules to switch on (`true`) or off (`false`): at least one, each by its name.",
            "properties": properties,
            "additionalProperties": false,
            "minProperties": 1
        }))
        .unwrap_or_default()
    }
}

impl ToSchema for ModuleSwitchesSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "ModuleSwitches".into()
    }
}

json_schema!(
    /// A rate in basis points (1/100 of a percent): 0 to 100,000 (0 % to 1,000 %).
    BasisPointsSchema, "BasisPoints",
    {"type": "integer", "format": "int64", "minimum": 0, "maximum": 100000}
);

json_schema!(
    /// A price in minor units (cents), not negative.
    PriceSchema, "Price",
    {"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX}
);

json_schema!(
    /// A new price in minor units, or `null` to remove the store's own price.
    NullablePriceSchema, "NullablePrice",
    {"type": ["integer", "null"], "format": "int64", "minimum": 0, "maximum": i64::MAX}
);

json_schema!(
    /// A barcode: EAN-13, UPC-A (12 digits) or EAN-8, whose last digit is its check digit (a
    /// wrong check digit is answered 400: beyond what a pattern can say).
    BarcodeSchema, "Barcode",
    {"type": "string", "pattern": "^([0-9]{8}|[0-9]{12,13})$"}
);

json_schema!(
    /// `POST /v1/admin/users` (`admin::CreateUser`): a password only with an email (a head-office
    /// login); a staff member who only uses a PIN has neither.
    CreateUserSchema, "CreateUser",
    {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S",
                     "description": "1 to 200 characters once trimmed."},
            "email": {"type": "string", "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+$",
                      "description": "Head-office login; omit for store staff who only use a PIN."},
            "password": {"type": "string", "minLength": 8, "maxLength": 256,
                         "description": "8 to 256 characters; only with an email."}
        },
        "dependentRequired": {"password": ["email"]}
    }
);

json_schema!(
    /// `POST /v1/auth/login/2fa` (`twofactor::SecondStep`): the challenge and either the
    /// authenticator's code or one recovery code, not both.
    SecondStepSchema, "SecondStep",
    {
        "type": "object",
        "required": ["challenge_token"],
        "properties": {
            "challenge_token": {"type": "string", "maxLength": 256},
            "code": {"type": "string", "pattern": "^ *([0-9] *){6}$"},
            "recovery_code": {"type": "string", "maxLength": 64}
        },
        "oneOf": [
            {"required": ["code"], "not": {"required": ["recovery_code"]}},
            {"required": ["recovery_code"], "not": {"required": ["code"]}}
        ]
    }
);

/// How a store's prices relate to tax.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[schema(as = TaxMode)]
pub enum TaxModeSchema {
    /// Prices include tax.
    Inclusive,
    /// Tax is added to prices.
    Exclusive,
}

/// A change's author: the staff member and the device (`pos_sync::wire::Author`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Author)]
pub struct AuthorSchema {
    pub user_id: Uuid,
    pub device_id: Uuid,
}

/// The immutable envelope of a document (`pos_core::doc::Envelope`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Envelope)]
pub struct EnvelopeSchema {
    pub doc_id: Uuid,
    pub tenant_id: Uuid,
    /// `null` for tenant-wide documents (catalog).
    pub store_id: Option<Uuid>,
    pub doc_type: DocTypeSchema,
    pub created_by_device: Uuid,
}

/// One automerge change with its document's envelope (`pos_sync::wire::WireChange`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = WireChange)]
pub struct WireChangeSchema {
    pub envelope: EnvelopeSchema,
    /// The automerge change hash, hex.
    #[schema(max_length = 128)]
    pub hash: String,
    /// The raw automerge change bytes, base64 (standard alphabet, padded).
    #[schema(value_type = String, format = Byte)]
    pub bytes: String,
    pub author: AuthorSchema,
    /// The author device's ed25519 signature (64 bytes, base64): only on a change pushed by
    /// another device of the store than its author (relayed); a device's own need none.
    #[schema(value_type = Option<String>, format = Byte)]
    pub signature: Option<String>,
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PushRequest)]
pub struct PushRequestSchema {
    /// The protocol version: 1.
    #[schema(minimum = 1, maximum = 1)]
    pub protocol: u32,
    /// At most 2,000 changes.
    #[schema(max_items = 2000)]
    pub changes: Vec<WireChangeSchema>,
}

/// What became of a pushed change: `accepted` (with its sequence), `duplicate` (already
/// there), `rejected` (the device must reset the document to the server's state) or
/// `retry_after` (its dependencies are not on the server yet).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = PushResult)]
pub enum PushResultSchema {
    Accepted {
        hash: String,
        seq: i64,
    },
    Duplicate {
        hash: String,
        seq: i64,
    },
    Rejected {
        hash: String,
        /// Machine-readable, e.g. `forbidden`, `frozen`, `refund_exceeds_sale`.
        code: String,
        message: String,
    },
    RetryAfter {
        hash: String,
        missing: Vec<String>,
        #[schema(minimum = 0)]
        after_ms: u64,
    },
}

/// One result per pushed change, in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PushResponse)]
pub struct PushResponseSchema {
    pub results: Vec<PushResultSchema>,
}

/// An accepted change as pulled, with its server sequence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PulledChange)]
pub struct PulledChangeSchema {
    pub seq: i64,
    pub envelope: EnvelopeSchema,
    pub hash: String,
    /// The automerge change bytes, base64.
    #[schema(value_type = String, format = Byte)]
    pub bytes: String,
}

/// `GET /v1/sync/pull`: the changes of the device's scopes after the cursor, never its own.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PullResponse)]
pub struct PullResponseSchema {
    pub changes: Vec<PulledChangeSchema>,
    /// The cursor to ask from next time.
    pub cursor: i64,
    /// More is waiting beyond this page.
    pub more: bool,
}

/// A document's current state (`automerge` `save()` bytes, base64).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = DocSnapshot)]
pub struct DocSnapshotSchema {
    pub envelope: EnvelopeSchema,
    #[schema(value_type = String, format = Byte)]
    pub bytes: String,
}

/// `GET /v1/sync/bootstrap`: a page of the store's documents as snapshots.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = BootstrapPage)]
pub struct BootstrapPageSchema {
    pub docs: Vec<DocSnapshotSchema>,
    /// Where to start pulling once every page is read (the same on every page).
    pub cursor: i64,
    /// The next page's token; `null` on the last page.
    pub next: Option<String>,
    /// Documents in the whole bootstrap.
    pub total: i64,
}

/// A store of the device's tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = StoreInfo)]
pub struct StoreInfoSchema {
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
}

/// One line of an incoming transfer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = TransferLine)]
pub struct TransferLineSchema {
    pub item_id: Uuid,
    /// Units sent (positive).
    pub qty: i64,
}

/// A transfer another store sent to this one and this one has not received yet.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = IncomingTransfer)]
pub struct IncomingTransferSchema {
    pub transfer_out_id: Uuid,
    pub from_store_id: Uuid,
    pub from_store: String,
    /// When the sending store posted it, ms since the epoch.
    pub sent_at: Option<i64>,
    pub lines: Vec<TransferLineSchema>,
}

/// A staff member of the device's store, for offline PIN login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = StaffRecord)]
pub struct StaffRecordSchema {
    pub user_id: Uuid,
    pub name: String,
    pub role: RoleSchema,
    /// The PIN's argon2id PHC string; `null` when no PIN is set.
    pub pin_hash: Option<String>,
}

/// `POST /v1/devices/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = EnrolRequest)]
pub struct EnrolRequestSchema {
    /// The one-time enrolment code, e.g. `ABCDE-FGHJK`.
    #[schema(max_length = 64)]
    pub code: String,
    /// A name for the device, 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// The device's ed25519 public key (32 bytes, base64; a point of the curve), registered
    /// with it for the store mesh. Optional.
    #[schema(value_type = Option<String>, format = Byte, pattern = "^[A-Za-z0-9+/]{43}=$")]
    pub public_key: Option<String>,
}

/// A device of the store with a registered key (`GET /v1/sync/peers`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PeerRecord)]
pub struct PeerRecordSchema {
    pub device_id: Uuid,
    pub name: String,
    pub kind: DeviceKindSchema,
    /// Its ed25519 public key, base64.
    #[schema(value_type = String, format = Byte)]
    pub public_key: String,
}

/// A change the server refused, as the store's devices learn of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = RefusalNotice)]
pub struct RefusalNoticeSchema {
    /// The notice's place in the store's list.
    #[schema(minimum = 1)]
    pub id: i64,
    pub doc_id: Uuid,
    /// The change's hash (hex).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// The device that wrote the change.
    pub author_device: Uuid,
    /// The device whose push the server refused it in.
    pub pushed_by: Uuid,
    /// The refusal's code (`forbidden`, `device_mismatch`, `bad_signature`, …).
    pub code: String,
    pub message: String,
    /// When it was refused, ms since the epoch.
    pub at: i64,
}

/// `GET /v1/sync/refusals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = RefusalsPage)]
pub struct RefusalsPageSchema {
    pub refusals: Vec<RefusalNoticeSchema>,
    /// Whether more notices wait after this page.
    pub more: bool,
}

/// The device's credential, answered once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = EnrolResponse)]
pub struct EnrolResponseSchema {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    pub store_code: String,
    pub device_code: String,
    /// The device's long-lived secret; only its hash is kept.
    pub device_secret: String,
    pub kind: DeviceKindSchema,
}

/// `POST /v1/devices/token`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = DeviceTokenRequest)]
pub struct DeviceTokenRequestSchema {
    pub device_id: Uuid,
    #[schema(max_length = 256)]
    pub device_secret: String,
}

/// A short-lived device access token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = TokenResponse)]
pub struct TokenResponseSchema {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// One receipt to email.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ReceiptEmailItem)]
pub struct ReceiptEmailItemSchema {
    /// The device's id for this email; the server is idempotent by it.
    pub id: Uuid,
    /// The closed sale or refund.
    pub doc_id: Uuid,
    /// The address; a bad one is refused per email (`bad_address`), not for the request.
    pub email: String,
}

/// `POST /v1/sync/receipt-emails`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ReceiptEmailRequest)]
pub struct ReceiptEmailRequestSchema {
    /// The protocol version: 1.
    #[schema(minimum = 1, maximum = 1)]
    pub protocol: u32,
    /// At most 100 emails.
    #[schema(max_items = 100)]
    pub emails: Vec<ReceiptEmailItemSchema>,
}

/// What became of one receipt email: `queued`, or `refused` for good (`bad_address`,
/// `unknown_document`, `not_a_receipt`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = ReceiptEmailResult)]
pub enum ReceiptEmailResultSchema {
    Queued {
        id: Uuid,
    },
    Refused {
        id: Uuid,
        code: String,
        message: String,
    },
}

/// One result per email, in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ReceiptEmailResponse)]
pub struct ReceiptEmailResponseSchema {
    pub results: Vec<ReceiptEmailResultSchema>,
}

/// The tenant's modules as a device sees them: those switched off.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Entitlements)]
pub struct EntitlementsSchema {
    /// Each at most once.
    pub off: Vec<ModuleSchema>,
}

/// The one error shape of the API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ErrorBody)]
pub struct ErrorBodySchema {
    pub error: ErrorDetailSchema,
}

/// The error's machine-readable class.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = ErrorCode)]
pub enum ErrorCodeSchema {
    Validation,
    Authn,
    Authz,
    NotFound,
    Conflict,
    RateLimit,
    Unavailable,
    Internal,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ErrorDetailSchema {
    pub code: ErrorCodeSchema,
    pub message: String,
    /// More about the error (a limit, the lines of a CSV file, `retry_after_secs`), or `null`.
    #[schema(value_type = Object, nullable)]
    pub details: serde_json::Value,
}
