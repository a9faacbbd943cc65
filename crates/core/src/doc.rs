//! Documents: one automerge document per aggregate, with an immutable envelope kept outside its
//! editable contents.
//!
//! **Architecture invariant: authorization reads the envelope (and the token on the server),
//! never a field the client can edit.** The envelope says which tenant and store a document
//! belongs to, what type it is and which device created it; it is fixed when the document is
//! created and is not part of the automerge document.

use std::fmt;
use std::str::FromStr;

use automerge::{AutoCommit, PatchAction, Prop};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::catalog::{Category, Item, StoreSettings};
use crate::inventory::StockDoc;
use crate::kitchen::KitchenTicket;
use crate::refund::Refund;
use crate::sale::Sale;
use crate::shift::{Shift, ZReport};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DocError {
    #[error("unknown document type {0:?}")]
    UnknownType(String),
    #[error("document {doc_type} cannot be read: {reason}")]
    Hydrate { doc_type: DocType, reason: String },
    #[error("document {doc_type} cannot be written: {reason}")]
    Reconcile { doc_type: DocType, reason: String },
    #[error("expected a {expected} document, got {got}")]
    WrongType { expected: DocType, got: DocType },
    #[error("envelope of {doc_id}: {reason}")]
    BadEnvelope { doc_id: Uuid, reason: &'static str },
}

/// The kinds of aggregate, one automerge document each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocType {
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

impl DocType {
    pub const ALL: [DocType; 9] = [
        DocType::StoreSettings,
        DocType::Category,
        DocType::Item,
        DocType::Sale,
        DocType::Refund,
        DocType::KitchenTicket,
        DocType::Stock,
        DocType::Shift,
        DocType::ZReport,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DocType::StoreSettings => "store_settings",
            DocType::Category => "category",
            DocType::Item => "item",
            DocType::Sale => "sale",
            DocType::Refund => "refund",
            DocType::KitchenTicket => "kitchen_ticket",
            DocType::Stock => "stock",
            DocType::Shift => "shift",
            DocType::ZReport => "z_report",
        }
    }

    /// Tenant-wide documents (the catalog) have no store in their envelope.
    pub fn is_tenant_wide(&self) -> bool {
        matches!(self, DocType::Category | DocType::Item)
    }
}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocType {
    type Err = DocError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DocError::UnknownType(s.to_string()))
    }
}

/// The immutable envelope of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Envelope {
    pub doc_id: Uuid,
    pub tenant_id: Uuid,
    /// `None` for tenant-wide documents.
    pub store_id: Option<Uuid>,
    pub doc_type: DocType,
    pub created_by_device: Uuid,
}

impl Envelope {
    /// Checks that the scope fits the type: catalog documents are tenant-wide, all others
    /// belong to one store.
    pub fn validate(&self) -> Result<(), DocError> {
        match (self.doc_type.is_tenant_wide(), self.store_id) {
            (true, Some(_)) => Err(DocError::BadEnvelope {
                doc_id: self.doc_id,
                reason: "a tenant-wide document must not name a store",
            }),
            (false, None) => Err(DocError::BadEnvelope {
                doc_id: self.doc_id,
                reason: "a store document must name its store",
            }),
            _ => Ok(()),
        }
    }
}

/// A typed document.
pub trait Document:
    autosurgeon::Hydrate + autosurgeon::Reconcile + Clone + Serialize + Sized
{
    const TYPE: DocType;
    fn into_any(self) -> AnyDoc;
    fn from_any(doc: AnyDoc) -> Result<Self, DocError>;
}

macro_rules! any_doc {
    ($($variant:ident),*) => {
        /// Any document, typed by its envelope's doc type.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum AnyDoc {
            $($variant($variant),)*
        }

        $(
            impl Document for $variant {
                const TYPE: DocType = DocType::$variant;
                fn into_any(self) -> AnyDoc {
                    AnyDoc::$variant(self)
                }
                fn from_any(doc: AnyDoc) -> Result<Self, DocError> {
                    match doc {
                        AnyDoc::$variant(d) => Ok(d),
                        other => Err(DocError::WrongType {
                            expected: DocType::$variant,
                            got: other.doc_type(),
                        }),
                    }
                }
            }
        )*

        impl AnyDoc {
            pub fn doc_type(&self) -> DocType {
                match self {
                    $(AnyDoc::$variant(_) => DocType::$variant,)*
                }
            }

            /// Reads a document of the given type out of automerge.
            pub fn hydrate(doc_type: DocType, doc: &AutoCommit) -> Result<AnyDoc, DocError> {
                match doc_type {
                    $(DocType::$variant => autosurgeon::hydrate::<_, $variant>(doc)
                        .map(AnyDoc::$variant)
                        .map_err(|e| DocError::Hydrate { doc_type, reason: e.to_string() }),)*
                }
            }

            /// Writes this document into automerge, as the smallest set of operations.
            pub fn reconcile(&self, doc: &mut AutoCommit) -> Result<(), DocError> {
                let doc_type = self.doc_type();
                match self {
                    $(AnyDoc::$variant(d) => autosurgeon::reconcile(doc, d),)*
                }
                .map_err(|e| DocError::Reconcile { doc_type, reason: e.to_string() })
            }
        }
    };
}

any_doc!(
    StoreSettings,
    Category,
    Item,
    Sale,
    Refund,
    KitchenTicket,
    Stock,
    Shift,
    ZReport
);

/// The stock document's type name in the enum above is `Stock`.
pub type Stock = StockDoc;

impl AnyDoc {
    /// A JSON view of the document, for the policy's field diff and for debugging.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The path of one automerge patch, as property names from the root. Sequence positions are
/// written `#index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub segments: Vec<String>,
    /// The patch deleted this property.
    pub deletion: bool,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

fn prop_segment(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => format!("#{i}"),
    }
}

/// Converts automerge patches (from `diff(before, after)`) into property paths.
pub fn patch_paths(patches: &[automerge::Patch]) -> Vec<PatchPath> {
    patches
        .iter()
        .map(|p| {
            let mut segments: Vec<String> =
                p.path.iter().map(|(_, prop)| prop_segment(prop)).collect();
            let (last, deletion) = match &p.action {
                PatchAction::PutMap { key, .. } => (Some(key.clone()), false),
                PatchAction::DeleteMap { key } => (Some(key.clone()), true),
                PatchAction::PutSeq { index, .. } | PatchAction::Insert { index, .. } => {
                    (Some(format!("#{index}")), false)
                }
                PatchAction::DeleteSeq { index, .. } => (Some(format!("#{index}")), true),
                PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => {
                    (Some(prop_segment(prop)), false)
                }
                PatchAction::SpliceText { .. } | PatchAction::Mark { .. } => (None, false),
            };
            segments.extend(last);
            PatchPath { segments, deletion }
        })
        .collect()
}
