//! Store files that are not what they should be: the device refuses them and leaves them as they
//! were.

use std::path::Path;

use pos_core::store::{schema, Store, StoreError};

use crate::common::*;

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn assert_untouched(path: &Path, before: &[u8]) {
    assert_eq!(bytes(path), before, "the file must not be modified");
    let wal = format!("{}-wal", path.display());
    assert!(
        !Path::new(&wal).exists(),
        "no WAL file may be created next to it"
    );
}

#[test]
fn random_bytes_are_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, &junk).unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotAStore { .. })
    ));
    assert_untouched(&path, &junk);
}

#[test]
fn an_empty_file_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotAStore { .. })
    ));
    assert_untouched(&path, b"");
}

#[test]
fn a_foreign_sqlite_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat');").unwrap();
    }
    let before = bytes(&path);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::Foreign { app_id: 0, .. })
    ));
    assert_untouched(&path, &before);
}

#[test]
fn a_truncated_store_is_reported_damaged_and_left_alone() {
    let f = demo_store();
    let path = f.store.path().to_path_buf();
    drop(f.store); // checkpoints the WAL into the main file
    let full = bytes(&path);
    let damaged = f.dir.path().join("damaged.sqlite");
    std::fs::write(&damaged, &full[..full.len() / 3]).unwrap();
    let before = bytes(&damaged);
    let r = Store::open(&damaged);
    assert!(
        matches!(r, Err(StoreError::Corrupt { .. })),
        "got {:?}",
        r.err()
    );
    assert_untouched(&damaged, &before);
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let f = demo_store();
    let path = f.store.path().to_path_buf();
    drop(f.store);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .unwrap();
        c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let before = bytes(&path);
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { .. })));
    assert_eq!(bytes(&path), before);
}

#[test]
fn create_refuses_to_overwrite_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, b"precious").unwrap();
    let id = pos_core::store::DeviceIdentity {
        tenant_id: uuid::Uuid::now_v7(),
        store_id: uuid::Uuid::now_v7(),
        device_id: uuid::Uuid::now_v7(),
        store_code: "S1".into(),
        device_code: "D1".into(),
        kind: pos_core::auth::DeviceKind::Till,
    };
    assert!(matches!(
        Store::create(&path, id),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(bytes(&path), b"precious");
}

/// The checked-in fixture is a version-1 store (documents, projections, no search index and no
/// stock-level table), written by the code of schema version 1. Regenerate it on purpose with
/// `UPDATE_FIXTURES=1 cargo test -p pos-core --test it store_files`.
const V1_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/store-v1.sqlite"
);

fn write_v1_fixture(path: &Path) {
    let f = demo_store();
    let src = f.store.path().to_path_buf();
    drop(f.store);
    let c = rusqlite::Connection::open(&src).unwrap();
    // Undo every migration after 1 exactly: what a version-1 build wrote.
    c.execute_batch(
        "DROP TRIGGER p_items_fts_insert; DROP TRIGGER p_items_fts_delete; DROP TABLE items_fts;
         DROP TRIGGER p_stock_movements_level_insert; DROP TRIGGER p_stock_movements_level_delete;
         DROP TABLE p_stock_levels; DROP TABLE sync_problems; DROP TABLE receipt_emails;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    c.execute_batch("VACUUM").unwrap();
    drop(c);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(&src, path).unwrap();
}

#[test]
fn a_store_written_by_version_1_opens_and_is_migrated() {
    let fixture = Path::new(V1_FIXTURE);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        write_v1_fixture(fixture);
    }
    assert!(
        fixture.exists(),
        "the checked-in fixture {V1_FIXTURE} is missing: it must come from git, not be regenerated by this build"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::copy(fixture, &path).unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: i32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "the fixture must be a version-1 store");
        let later: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master WHERE name IN ('items_fts', 'p_stock_levels', 'sync_problems', 'receipt_emails')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            later, 0,
            "the fixture must hold none of the later migrations' tables"
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::CURRENT_VERSION);
    // Written before device kinds existed (no `device_kind` in `meta`): a till.
    assert_eq!(store.identity().kind, pos_core::auth::DeviceKind::Till);
    // migration 2 backfilled the search index and the stock levels from version-1 rows
    assert_eq!(
        store.search_items("croiss", 5).unwrap()[0].name,
        "Croissant"
    );
    let croissant = store.search_items("croiss", 5).unwrap()[0].id;
    assert_eq!(store.stock_level(croissant).unwrap().on_hand, 24);
    assert_eq!(store.movements_sum(croissant).unwrap(), 24);
    assert_eq!(store.settings().unwrap().code, "S01");
    // migration 4 added the (empty) receipt email queue
    assert_eq!(store.receipt_emails(10).unwrap(), vec![]);
}

/// Found by fuzzing (`store_file`, `fuzz/regressions/store_file/damaged-envelope-said-file-
/// untouched`): a document whose envelope is unreadable was reported as `Corrupt`, whose message
/// says the file was left untouched, after the open had already written to it. It is now
/// `BadDocument`, which makes no such claim.
#[test]
fn a_damaged_document_envelope_is_reported_without_claiming_the_file_untouched() {
    let f = demo_store();
    let path = f.store.path().to_path_buf();
    drop(f.store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE documents SET tenant_id = 'not a uuid' WHERE doc_type = 'store_settings'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = Store::open(&path)
        .err()
        .expect("a damaged envelope is refused");
    assert!(matches!(e, StoreError::BadDocument { .. }), "got {e:?}");
    assert!(!e.to_string().contains("untouched"), "{e}");
}

/// Found by fuzzing (`store_file`, `fuzz/regressions/store_file/change-naming-an-actor-it-does-
/// not-list`): a stored change whose operation names an actor index its change does not list
/// made automerge 0.6.1 panic (index out of bounds) while the store opened; the same bytes
/// pulled from a server or pushed to one panicked there. Every apply and load now goes through
/// `pos_core::doc::apply_changes` / `load_bytes`, which turn that into `DocError::Malformed`.
#[test]
fn a_change_naming_an_actor_it_does_not_list_is_an_error_not_a_panic() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/store_file/change-naming-an-actor-it-does-not-list");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::copy(&file, &path).unwrap();
    let e = Store::open(&path)
        .err()
        .expect("the damaged change is refused");
    assert!(
        matches!(e, StoreError::Doc(pos_core::doc::DocError::Malformed(_))),
        "got {e:?}"
    );
}

/// Found by fuzzing (`store_file`, after the fix above: `fuzz/regressions/store_file/change-
/// with-an-op-counter-over-32-bits`): a stored change whose operation counter does not fit in
/// 32 bits made automerge 0.6.1 panic while merely reading the change (`Change::from_bytes`).
/// Changes are now read through `pos_core::doc::change_from_bytes`, here and in the merge.
#[test]
fn a_change_with_an_op_counter_over_32_bits_is_an_error_not_a_panic() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/store_file/change-with-an-op-counter-over-32-bits");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::copy(&file, &path).unwrap();
    let e = Store::open(&path)
        .err()
        .expect("the damaged change is refused");
    assert!(matches!(e, StoreError::BadChange(_)), "got {e:?}");
}
