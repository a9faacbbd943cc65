//! The first inputs of each target, before the fuzzer's own: valid (and nearly valid) inputs
//! made by the real code, so the fuzzer starts deep. `scripts/fuzz.sh` writes them with the
//! `fuzz-seeds` binary, then AFL++ minimizes the corpus it checks in.

use std::path::Path;

use automerge::transaction::CommitOptions;
use pos_core::doc::codec::write_diff;
use pos_core::doc::DocType;
use pos_sync::merge::load_master;
use pos_sync::wire::{PushRequest, PROTOCOL_VERSION};
use serde_json::Value;

use crate::sync::{built, changes, editable, encode, Record};

/// Seeds of a target, named.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "push_body" => push_body(),
        "merge_changes" => merge_changes()
            .into_iter()
            .map(|(n, r)| (n, encode(&r)))
            .collect(),
        "printer_status" => printer_status(),
        "catalog_csv" => catalog_csv(),
        "store_file" => store_file(),
        _ => Vec::new(),
    }
}

fn printer_status() -> Vec<(String, Vec<u8>)> {
    let answer = |b: [u8; 3]| vec![2, b[0], 2, b[1], 2, b[2]];
    use pos_printing::status::*;
    vec![
        ("ready".into(), answer(BYTES_READY)),
        ("paper_out".into(), answer(BYTES_PAPER_OUT)),
        ("cover_open".into(), answer(BYTES_COVER_OPEN)),
        ("near_end".into(), answer(BYTES_PAPER_NEAR_END)),
        ("drawer".into(), answer(BYTES_DRAWER_OPEN)),
        ("late".into(), vec![0, 0, 0, 0, 2, 0x12, 2, 0x12, 2, 0x12]),
        ("garbage".into(), answer([0xff, 0x00, 0x12])),
        ("reset".into(), vec![2, 0x12, 1, 0]),
    ]
}

fn catalog_csv() -> Vec<(String, Vec<u8>)> {
    [
        (
            "good",
            "\u{feff}sku,name,price,tax_class,category,barcodes,station,track_stock,low_stock_threshold,active\n\
             LAT,Latte,3.50,standard,Coffee,4006381333931,bar,yes,5,yes\n\
             \"MUG-1\",\"Mug, \"\"large\"\"\",12,reduced,,,,no,,no\n\
             CRO,Croissant,1.9,zero,bakery,96385074 036000291452,,1,0,1\n",
        ),
        (
            "bad_lines",
            "sku,name,price,tax_class\nA,Alpha,1.00,standard\nB,,1.00,standard\nC,Gamma,-1,standard\n\
             D,Delta,1.00,luxury\nA,Again,2.00,standard\nE,Eps\nF,Phi,abc,standard\n",
        ),
        ("header", "sku,name,price,colour\n"),
        ("unclosed", "sku,name,price\n\"A,B,1\n"),
        ("crlf", "SKU,Name,Price\r\nX,Y,0.01\r\n\r\nZ,W,1000000.99\r\n"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
    .collect()
}

/// A store file made by the real code, rewritten with 512-byte pages (and no WAL) so it is small.
fn shrink(path: &Path) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM;")
        .expect("vacuum");
    drop(conn);
    std::fs::read(path).expect("read")
}

fn store_file() -> Vec<(String, Vec<u8>)> {
    use pos_core::store::{DeviceIdentity, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.sqlite");
    drop(
        Store::create(
            &empty,
            DeviceIdentity {
                tenant_id: uuid::Uuid::now_v7(),
                store_id: uuid::Uuid::now_v7(),
                device_id: uuid::Uuid::now_v7(),
                store_code: "S01".into(),
                device_code: "T1".into(),
                kind: pos_core::auth::DeviceKind::Till,
            },
        )
        .expect("create"),
    );
    let demo = dir.path().join("demo.sqlite");
    drop(pos_core::demo::seed(&demo).expect("seed"));
    let mut out = vec![
        ("empty".to_string(), shrink(&empty)),
        ("demo".to_string(), shrink(&demo)),
    ];
    let v1 =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/core/tests/fixtures/store-v1.sqlite");
    if let Ok(bytes) = std::fs::read(&v1) {
        let old = dir.path().join("v1.sqlite");
        std::fs::write(&old, bytes).expect("copy");
        out.push(("v1".to_string(), shrink(&old)));
    }
    out
}

/// One change per edit: each document type's first document, a few of its top-level fields
/// changed, by each of two authors; the fixture's own changes sent again; new documents.
fn merge_changes() -> Vec<(String, Vec<Record>)> {
    let b = built();
    let mut out = Vec::new();
    for t in DocType::ALL {
        let Some((i, env)) = b.docs.iter().enumerate().find(|(_, e)| e.doc_type == t) else {
            continue;
        };
        let Some(d) = b.server.docs.get(&env.doc_id) else {
            continue;
        };
        let Ok((_, typed)) = load_master(d) else {
            continue;
        };
        let before = typed.to_json();
        let fields: Vec<String> = before
            .as_object()
            .map(|o| o.keys().take(4).cloned().collect())
            .unwrap_or_default();
        for f in fields {
            let mut after = before.clone();
            let v = &mut after[&f];
            *v = match v.take() {
                Value::Number(n) => Value::from(n.as_i64().unwrap_or(0) + 1),
                Value::String(s) => Value::from(format!("{s}x")),
                Value::Bool(x) => Value::from(!x),
                Value::Null => Value::from(1),
                Value::Object(_) | Value::Array(_) => Value::Null,
            };
            let Some(mut am) = editable(b, env.doc_id) else {
                continue;
            };
            if write_diff(&mut am, &automerge::ROOT, &before, &after).is_err() {
                continue;
            }
            am.commit_with(CommitOptions::default().with_time(0));
            let Some(c) = am.get_last_local_change() else {
                continue;
            };
            for who in [0u8, 2] {
                out.push((
                    format!("edit-{}-{f}-{who}", t.as_str()),
                    vec![Record {
                        doc: i as u8,
                        flags: who << 3,
                        bytes: c.raw_bytes().to_vec(),
                    }],
                ));
            }
        }
        // The document's own first change, sent again.
        if let Some(first) = d.changes.first() {
            out.push((
                format!("again-{}", t.as_str()),
                vec![Record {
                    doc: i as u8,
                    flags: 0,
                    bytes: first.clone(),
                }],
            ));
        }
        // A new document of this type holding the same as this one.
        let mut am = automerge::AutoCommit::new();
        am.set_actor(automerge::ActorId::from(vec![0x5e; 16]));
        if write_diff(&mut am, &automerge::ROOT, &serde_json::json!({}), &before).is_ok() {
            am.commit_with(CommitOptions::default().with_time(0));
            if let Some(c) = am.get_last_local_change() {
                let n = DocType::ALL.iter().position(|x| *x == t).unwrap_or(0);
                out.push((
                    format!("new-{}", t.as_str()),
                    vec![Record {
                        doc: (b.docs.len() + n) as u8,
                        flags: 0,
                        bytes: c.raw_bytes().to_vec(),
                    }],
                ));
            }
        }
    }
    out
}

fn push_body() -> Vec<(String, Vec<u8>)> {
    let b = built();
    let mut out: Vec<(String, Vec<u8>)> = merge_changes()
        .into_iter()
        .filter(|(n, _)| n.starts_with("edit") && n.ends_with("-0"))
        .map(|(n, r)| {
            let req = PushRequest {
                protocol: PROTOCOL_VERSION,
                changes: changes(b, &r),
            };
            (n, serde_json::to_vec(&req).expect("json"))
        })
        .collect();
    for (n, body) in [
        ("empty", r#"{"protocol":1,"changes":[]}"#),
        ("version", r#"{"protocol":2,"changes":[]}"#),
        ("nul", r#"{"protocol":1,"changes":[],"x":"\u0000"}"#),
    ] {
        out.push((n.to_string(), body.as_bytes().to_vec()));
    }
    out
}
