//! Every checked-in input of every fuzz target, run through the target's function as AFL++
//! ran it: the minimized corpora (`fuzz/corpora/<target>/`) and the inputs that once crashed
//! (`fuzz/regressions/<target>/`, each named after what it found). A target function panics
//! on any broken invariant, so each input here is a test that can fail.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn replay(target: &str) {
    let run = pos_fuzz::target(target).expect("a target");
    let corpus = inputs("corpora", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpora/{target} is empty: run scripts/fuzz.sh {target}"
    );
    let started = Instant::now();
    for f in corpus.iter().chain(&inputs("regressions", target)) {
        let bytes = std::fs::read(f).expect("read an input");
        let name = f.display().to_string();
        if let Err(e) = std::panic::catch_unwind(|| run(&bytes)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: {msg}");
        }
    }
    eprintln!(
        "{target}: {} inputs in {:?}",
        corpus.len(),
        started.elapsed()
    );
}

#[test]
fn push_body_corpus_replays() {
    replay("push_body");
}

#[test]
fn merge_changes_corpus_replays() {
    replay("merge_changes");
}

#[test]
fn printer_status_corpus_replays() {
    replay("printer_status");
}

#[test]
fn catalog_csv_corpus_replays() {
    replay("catalog_csv");
}

#[test]
fn store_file_corpus_replays() {
    replay("store_file");
}

/// The seeds the fuzzer starts from go through their targets too (they are made by the real
/// code from the fixture, so a change to the documents shows here first).
#[test]
fn seeds_run_through_their_targets() {
    for (target, run) in pos_fuzz::TARGETS {
        let seeds = pos_fuzz::seeds::seeds(target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for (name, bytes) in seeds {
            if let Err(e) = std::panic::catch_unwind(|| run(&bytes)) {
                panic!("{target} seed {name}: {e:?}");
            }
        }
    }
}

/// The fixture's store is what the targets say it is: every change accepted, the documents of
/// a real till (a closed sale, its refund, an open sale).
#[test]
fn the_push_fixture_builds() {
    let b = pos_fuzz::sync::built();
    assert!(b.hashes.len() >= 20, "{}", b.hashes.len());
    for t in ["sale", "refund", "item", "store_settings", "shift", "stock"] {
        assert!(
            b.docs.iter().any(|e| e.doc_type.as_str() == t),
            "no {t} in the fixture"
        );
    }
}
