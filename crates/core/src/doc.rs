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
    /// Change or document bytes automerge refuses (or would panic on).
    #[error("automerge data cannot be read: {0}")]
    Malformed(String),
}

/// Applies changes to a document, as `AutoCommit::apply_changes`, but never panics: automerge
/// 0.6.1 indexes a change's actor table with numbers read from the change itself, and bytes
/// naming an actor the change does not list panic inside it (found by fuzzing a store file:
/// `fuzz/regressions/store_file/`). Such bytes give `DocError::Malformed`, and the document is
/// then in an unknown state: the caller must drop it (every caller rebuilds or discards it).
pub fn apply_changes(
    doc: &mut AutoCommit,
    changes: impl IntoIterator<Item = automerge::Change>,
) -> Result<(), DocError> {
    contained(|| doc.apply_changes(changes))
}

/// The automerge diff since the last one, as `AutoCommit::diff_incremental`, but never panics:
/// automerge 0.6.1 asserts on an operation it stored from a change that marked a map key as
/// an insertion, when it builds the patch's path (found by fuzzing the merge:
/// `fuzz/regressions/merge_changes/insert-flag-on-a-map-key`). A panic gives
/// `DocError::Malformed`, and the document is in an unknown state: the caller must drop it.
pub fn diff_incremental(doc: &mut AutoCommit) -> Result<Vec<automerge::Patch>, DocError> {
    contained(|| Ok(doc.diff_incremental()))
}

/// Refuses a change that automerge would take but that no automerge writer makes: an operation
/// on a map key flagged as an insertion (insertions are between the elements of a list or a
/// text). automerge 0.6.1 stores such an operation and breaks on it later (see
/// [`diff_incremental`]), so it must not reach a document that is kept.
pub fn check_change(change: &automerge::Change) -> Result<(), DocError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        change
            .decode()
            .operations
            .iter()
            .any(|op| op.insert && op.key.is_map_key())
    })) {
        Ok(false) => Ok(()),
        Ok(true) => Err(DocError::Malformed(
            "an operation on a map key is flagged as an insertion".into(),
        )),
        Err(panic) => Err(panicked(panic)),
    }
}

/// Reads one change, as `Change::from_bytes`, but never panics: automerge 0.6.1 panics while
/// verifying a change whose operation counters overflow 32 bits (found by fuzzing a store
/// file: `fuzz/regressions/store_file/change-with-an-op-counter-over-32-bits`).
pub fn change_from_bytes(bytes: Vec<u8>) -> Result<automerge::Change, DocError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        automerge::Change::from_bytes(bytes)
    })) {
        Ok(r) => r.map_err(|e| DocError::Malformed(e.to_string())),
        Err(panic) => Err(panicked(panic)),
    }
}

/// Loads a saved document (or a sequence of chunks), as `AutoCommit::load`, but never panics
/// (see [`apply_changes`]).
pub fn load_bytes(bytes: &[u8]) -> Result<AutoCommit, DocError> {
    contained(|| AutoCommit::load(bytes))
}

fn contained<T>(f: impl FnOnce() -> Result<T, automerge::AutomergeError>) -> Result<T, DocError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| DocError::Malformed(e.to_string())),
        Err(panic) => Err(panicked(panic)),
    }
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> DocError {
    DocError::Malformed(format!(
        "automerge panicked: {}",
        panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message")
    ))
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

/// A typed document. Its serde (JSON) form *is* its automerge layout: maps are maps, lists are
/// lists, unit enums are strings, integers are `Int`, `None` is `null` (see [`codec`]).
pub trait Document: Serialize + serde::de::DeserializeOwned + Clone + Sized {
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

            /// Reads a document of the given type straight from automerge's materialised form,
            /// as [`AnyDoc::from_json`] of [`codec::from_hydrated`] would, without building the
            /// JSON in between (the server's merge does this for every change). Debug builds
            /// (every test) check that both give the same.
            pub fn from_hydrated(doc_type: DocType, v: &automerge::hydrate::Value) -> Result<AnyDoc, DocError> {
                let typed = match doc_type {
                    $(DocType::$variant => $variant::deserialize(codec::Hydrated(v))
                        .map(AnyDoc::$variant)
                        .map_err(|e| DocError::Hydrate { doc_type, reason: e.to_string() }),)*
                };
                #[cfg(debug_assertions)]
                {
                    let via_json = AnyDoc::from_json(doc_type, codec::from_hydrated(v));
                    debug_assert_eq!(
                        typed.as_ref().ok(),
                        via_json.as_ref().ok(),
                        "from_hydrated and from_json disagree"
                    );
                }
                typed
            }

            /// Reads a document of the given type from its JSON form.
            pub fn from_json(doc_type: DocType, json: serde_json::Value) -> Result<AnyDoc, DocError> {
                match doc_type {
                    $(DocType::$variant => serde_json::from_value::<$variant>(json)
                        .map(AnyDoc::$variant)
                        .map_err(|e| DocError::Hydrate { doc_type, reason: e.to_string() }),)*
                }
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
    /// The JSON form of the document: its automerge layout, and the policy's view of it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a document of the given type out of automerge (one pass over the document).
    pub fn hydrate(doc_type: DocType, doc: &AutoCommit) -> Result<AnyDoc, DocError> {
        match automerge::ReadDoc::hydrate(doc, automerge::ROOT, None) {
            Ok(v) => AnyDoc::from_hydrated(doc_type, &v),
            Err(_) => AnyDoc::from_json(doc_type, serde_json::json!({})),
        }
    }

    /// Writes this document into an automerge document that currently holds `before` (its
    /// JSON form; an empty object for a new document), as the smallest set of operations.
    pub fn write_into(
        &self,
        doc: &mut AutoCommit,
        before: &serde_json::Value,
    ) -> Result<(), DocError> {
        codec::write_diff(doc, &automerge::ROOT, before, &self.to_json()).map_err(|e| {
            DocError::Reconcile {
                doc_type: self.doc_type(),
                reason: e.to_string(),
            }
        })
    }
}

/// The mapping between a document's JSON form and automerge.
///
/// Writing is driven by the difference between the JSON before and after a change, so its cost
/// follows the size of the change, not of the document. Lists are small (barcodes, modifiers)
/// and are replaced whole: concurrent edits of one list resolve last-writer-wins, like a scalar.
pub mod codec {
    use automerge::transaction::Transactable;
    use automerge::{hydrate, AutoCommit, AutomergeError, ObjId, ObjType, ReadDoc, ScalarValue};
    use serde::de::{DeserializeSeed, IntoDeserializer, Visitor};
    use serde_json::{Map, Number, Value};

    /// The whole document as JSON.
    pub fn read(doc: &AutoCommit) -> Value {
        match automerge::ReadDoc::hydrate(doc, automerge::ROOT, None) {
            Ok(v) => from_hydrated(&v),
            Err(_) => Value::Object(Map::new()),
        }
    }

    /// Converts automerge's materialised form to JSON.
    pub fn from_hydrated(v: &hydrate::Value) -> Value {
        match v {
            hydrate::Value::Scalar(s) => scalar(s),
            hydrate::Value::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, mv)| (k.clone(), from_hydrated(&mv.value)))
                    .collect(),
            ),
            hydrate::Value::List(l) => {
                Value::Array(l.iter().map(|lv| from_hydrated(&lv.value)).collect())
            }
            hydrate::Value::Text(t) => Value::String(t.to_string()),
        }
    }

    /// automerge's materialised form as a serde data format: typed documents deserialize from
    /// it exactly as from [`from_hydrated`]'s JSON (numbers, nulls, options and unit enums
    /// alike), without that JSON.
    #[derive(Clone, Copy)]
    pub struct Hydrated<'a>(pub &'a hydrate::Value);

    type DeError = serde::de::value::Error;

    impl<'de> serde::Deserializer<'de> for Hydrated<'_> {
        type Error = DeError;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.0 {
                hydrate::Value::Scalar(s) => match s {
                    ScalarValue::Str(s) => visitor.visit_str(s),
                    // As serde_json's `Number`: non-negative integers are unsigned.
                    ScalarValue::Int(i) | ScalarValue::Timestamp(i) => int(*i, visitor),
                    ScalarValue::Counter(c) => int(i64::from(c), visitor),
                    ScalarValue::Uint(u) => visitor.visit_u64(*u),
                    ScalarValue::F64(f) if f.is_finite() => visitor.visit_f64(*f),
                    ScalarValue::Boolean(b) => visitor.visit_bool(*b),
                    ScalarValue::Bytes(b) => {
                        visitor.visit_string(b.iter().map(|x| format!("{x:02x}")).collect())
                    }
                    ScalarValue::F64(_) | ScalarValue::Null | ScalarValue::Unknown { .. } => {
                        visitor.visit_unit()
                    }
                },
                hydrate::Value::Map(m) => visitor.visit_map(MapAccess {
                    entries: m.iter(),
                    value: None,
                }),
                hydrate::Value::List(l) => visitor.visit_seq(SeqAccess(l.iter())),
                hydrate::Value::Text(t) => visitor.visit_string(t.to_string()),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            if self.is_null() {
                visitor.visit_none()
            } else {
                visitor.visit_some(self)
            }
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, DeError> {
            match self.0 {
                hydrate::Value::Scalar(ScalarValue::Str(s)) => {
                    visitor.visit_enum(s.as_str().into_deserializer())
                }
                hydrate::Value::Text(t) => visitor.visit_enum(t.to_string().into_deserializer()),
                _ => Err(serde::de::Error::custom(
                    "invalid type: expected a string for an enum",
                )),
            }
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, DeError> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }

    impl Hydrated<'_> {
        /// What [`from_hydrated`] turns into JSON `null`.
        fn is_null(&self) -> bool {
            matches!(
                self.0,
                hydrate::Value::Scalar(ScalarValue::Null | ScalarValue::Unknown { .. })
            ) || matches!(self.0, hydrate::Value::Scalar(ScalarValue::F64(f)) if !f.is_finite())
        }
    }

    fn int<'de, V: Visitor<'de>>(i: i64, visitor: V) -> Result<V::Value, DeError> {
        match u64::try_from(i) {
            Ok(u) => visitor.visit_u64(u),
            Err(_) => visitor.visit_i64(i),
        }
    }

    struct MapAccess<'a, I> {
        entries: I,
        value: Option<&'a hydrate::Value>,
    }

    impl<'de, 'a, I> serde::de::MapAccess<'de> for MapAccess<'a, I>
    where
        I: Iterator<Item = (&'a String, &'a hydrate::MapValue)>,
    {
        type Error = DeError;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, DeError> {
            match self.entries.next() {
                Some((k, v)) => {
                    self.value = Some(&v.value);
                    seed.deserialize(k.as_str().into_deserializer()).map(Some)
                }
                None => Ok(None),
            }
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, DeError> {
            match self.value.take() {
                Some(v) => seed.deserialize(Hydrated(v)),
                None => Err(serde::de::Error::custom("a map value without its key")),
            }
        }
    }

    struct SeqAccess<I>(I);

    impl<'de, 'a, I> serde::de::SeqAccess<'de> for SeqAccess<I>
    where
        I: Iterator<Item = &'a hydrate::ListValue>,
    {
        type Error = DeError;

        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, DeError> {
            self.0
                .next()
                .map(|v| seed.deserialize(Hydrated(&v.value)))
                .transpose()
        }
    }

    fn scalar(s: &ScalarValue) -> Value {
        match s {
            ScalarValue::Str(s) => Value::String(s.to_string()),
            ScalarValue::Int(i) => Value::Number((*i).into()),
            ScalarValue::Uint(u) => Value::Number((*u).into()),
            ScalarValue::F64(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            ScalarValue::Counter(c) => Value::Number(i64::from(c).into()),
            ScalarValue::Timestamp(t) => Value::Number((*t).into()),
            ScalarValue::Boolean(b) => Value::Bool(*b),
            ScalarValue::Null => Value::Null,
            ScalarValue::Bytes(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
            ScalarValue::Unknown { .. } => Value::Null,
        }
    }

    fn to_scalar(v: &Value) -> ScalarValue {
        match v {
            Value::Null => ScalarValue::Null,
            Value::Bool(b) => ScalarValue::Boolean(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => ScalarValue::Int(i),
                (None, Some(u), _) => ScalarValue::Uint(u),
                (_, _, Some(f)) => ScalarValue::F64(f),
                _ => ScalarValue::Null,
            },
            Value::String(s) => ScalarValue::Str(s.as_str().into()),
            Value::Array(_) | Value::Object(_) => ScalarValue::Null,
        }
    }

    /// Puts `v` at `key` of the map `obj`, creating objects as needed.
    fn put_map(
        doc: &mut AutoCommit,
        obj: &ObjId,
        key: &str,
        v: &Value,
    ) -> Result<(), AutomergeError> {
        match v {
            Value::Object(m) => {
                let child = doc.put_object(obj, key, ObjType::Map)?;
                fill_map(doc, &child, m)
            }
            Value::Array(items) => {
                let child = doc.put_object(obj, key, ObjType::List)?;
                fill_list(doc, &child, items)
            }
            other => doc.put(obj, key, to_scalar(other)),
        }
    }

    fn fill_map(
        doc: &mut AutoCommit,
        obj: &ObjId,
        m: &Map<String, Value>,
    ) -> Result<(), AutomergeError> {
        for (k, v) in m {
            put_map(doc, obj, k, v)?;
        }
        Ok(())
    }

    fn fill_list(doc: &mut AutoCommit, obj: &ObjId, items: &[Value]) -> Result<(), AutomergeError> {
        for (i, v) in items.iter().enumerate() {
            match v {
                Value::Object(m) => {
                    let child = doc.insert_object(obj, i, ObjType::Map)?;
                    fill_map(doc, &child, m)?;
                }
                Value::Array(inner) => {
                    let child = doc.insert_object(obj, i, ObjType::List)?;
                    fill_list(doc, &child, inner)?;
                }
                other => doc.insert(obj, i, to_scalar(other))?,
            }
        }
        Ok(())
    }

    /// Writes the difference between `before` and `after` (both objects) into the map `obj`.
    pub fn write_diff(
        doc: &mut AutoCommit,
        obj: &ObjId,
        before: &Value,
        after: &Value,
    ) -> Result<(), AutomergeError> {
        let empty = Map::new();
        let b = before.as_object().unwrap_or(&empty);
        let Some(a) = after.as_object() else {
            return Ok(());
        };
        for (k, av) in a {
            match (b.get(k), av) {
                (Some(bv), av) if bv == av => {}
                (Some(bv @ Value::Object(_)), Value::Object(_)) => {
                    match doc.get(obj, k.as_str())? {
                        Some((automerge::Value::Object(ObjType::Map), child)) => {
                            write_diff(doc, &child, bv, av)?
                        }
                        _ => put_map(doc, obj, k, av)?,
                    }
                }
                _ => put_map(doc, obj, k, av)?,
            }
        }
        for k in b.keys() {
            if !a.contains_key(k) {
                doc.delete(obj, k.as_str())?;
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writing the diff then reading back gives exactly the new JSON, including removed keys,
    /// replaced lists and nulls.
    #[test]
    fn codec_round_trips_through_automerge() {
        let mut am = AutoCommit::new();
        let v1 = json!({"a": 1, "m": {"x": {"q": 1, "n": null}, "y": {"q": 2}}, "l": ["p", "q"], "s": "t"});
        let v2 =
            json!({"a": 2, "m": {"x": {"q": 1, "n": 5}, "z": {"q": 3}}, "l": ["q"], "b": true});
        codec::write_diff(&mut am, &automerge::ROOT, &json!({}), &v1).unwrap();
        assert_eq!(codec::read(&am), v1);
        codec::write_diff(&mut am, &automerge::ROOT, &v1, &v2).unwrap();
        assert_eq!(codec::read(&am), v2);
        // an unchanged document produces no operation
        let before = am.get_heads();
        codec::write_diff(&mut am, &automerge::ROOT, &v2, &v2).unwrap();
        am.commit();
        assert_eq!(am.get_heads(), before);
    }

    /// Every kind of automerge value reads through `codec::Hydrated` as through its JSON form:
    /// non-negative integers, negative ones, counters, timestamps, bytes, text, lists, nulls,
    /// and a non-finite float, which JSON can only say as `null`.
    #[test]
    fn hydrated_values_deserialize_as_their_json_form() {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ScalarValue};
        let mut am = AutoCommit::new();
        let root = automerge::ROOT;
        am.put(&root, "pos", 7_i64).unwrap();
        am.put(&root, "neg", -7_i64).unwrap();
        am.put(&root, "uint", ScalarValue::Uint(9)).unwrap();
        am.put(&root, "counter", ScalarValue::counter(3)).unwrap();
        am.put(&root, "at", ScalarValue::Timestamp(1_700_000_000_000))
            .unwrap();
        am.put(&root, "bytes", ScalarValue::Bytes(vec![0, 255]))
            .unwrap();
        am.put(&root, "nan", f64::NAN).unwrap();
        am.put(&root, "half", 0.5_f64).unwrap();
        am.put(&root, "null", ScalarValue::Null).unwrap();
        am.put(&root, "yes", true).unwrap();
        let text = am.put_object(&root, "text", ObjType::Text).unwrap();
        am.splice_text(&text, 0, 0, "hé").unwrap();
        let list = am.put_object(&root, "list", ObjType::List).unwrap();
        am.insert(&list, 0, "a").unwrap();
        am.insert(&list, 1, -1_i64).unwrap();
        let hv = automerge::ReadDoc::hydrate(&am, root, None).unwrap();
        let direct = serde_json::Value::deserialize(codec::Hydrated(&hv)).unwrap();
        assert_eq!(direct, codec::from_hydrated(&hv));
        assert_eq!(direct["nan"], serde_json::Value::Null);
        assert_eq!(direct["bytes"], "00ff");

        #[derive(Debug, PartialEq, Deserialize)]
        struct Typed {
            pos: u32,
            neg: i64,
            nan: Option<f64>,
            null: Option<String>,
            missing: Option<i64>,
            text: String,
            list: Vec<serde_json::Value>,
        }
        let typed = Typed::deserialize(codec::Hydrated(&hv)).unwrap();
        assert_eq!(
            typed,
            Typed {
                pos: 7,
                neg: -7,
                nan: None,
                null: None,
                missing: None,
                text: "hé".into(),
                list: vec![json!("a"), json!(-1)],
            }
        );
        // A wrong type is an error, as from JSON, not a panic.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Wrong {
            text: i64,
        }
        assert!(Wrong::deserialize(codec::Hydrated(&hv)).is_err());
    }

    #[test]
    fn every_demo_document_type_round_trips() {
        let s = crate::demo::settings();
        let docs = vec![AnyDoc::StoreSettings(s.clone())];
        for d in docs {
            let mut am = AutoCommit::new();
            d.write_into(&mut am, &json!({})).unwrap();
            assert_eq!(AnyDoc::hydrate(d.doc_type(), &am).unwrap(), d);
        }
    }
}
