//! `store_file`: arbitrary bytes written as a device's store file, then opened with the real
//! `Store::open` (a till started on a damaged disk, a file copied from elsewhere). Opening must
//! give a store or a typed error, never panic; a file it refuses as not ours or damaged must be
//! left exactly as it was.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use pos_core::store::{Store, StoreError};

thread_local! {
    /// One directory per thread (replay tests run in parallel), in memory where there is one.
    static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

fn scratch() -> PathBuf {
    DIR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            let shm = Path::new("/dev/shm");
            let dir = if shm.is_dir() {
                tempfile::Builder::new()
                    .prefix("pos-fuzz-store")
                    .tempdir_in(shm)
            } else {
                tempfile::Builder::new().prefix("pos-fuzz-store").tempdir()
            }
            .expect("a scratch directory");
            *d = Some(dir);
        }
        d.as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default()
    })
}

fn siblings(path: &Path) -> [PathBuf; 4] {
    let s = path.display().to_string();
    [
        path.to_path_buf(),
        PathBuf::from(format!("{s}-wal")),
        PathBuf::from(format!("{s}-shm")),
        PathBuf::from(format!("{s}-journal")),
    ]
}

/// Writes `data` as a store file and opens it; reads a little from a store that opens.
pub fn store_file(data: &[u8]) {
    let path = scratch().join("store.sqlite");
    let files = siblings(&path);
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    std::fs::write(&path, data).expect("write the store file");
    match Store::open(&path) {
        Ok(store) => {
            // What a till reads first: its staff, its outbox, every projection row.
            let _ = store.staff();
            let _ = store.outbox_len();
            let _ = store.projection_digest();
        }
        Err(
            e @ (StoreError::NotAStore { .. }
            | StoreError::Foreign { .. }
            | StoreError::TooNew { .. }
            | StoreError::Corrupt { .. }),
        ) => {
            // The message says "the file was left untouched": it must be true.
            let now = std::fs::read(&path).expect("the refused file is still there");
            assert!(now == data, "{e} but the file was changed");
            for f in &files[1..] {
                assert!(!f.exists(), "{e} but {} was created", f.display());
            }
        }
        Err(_) => {}
    }
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
}
