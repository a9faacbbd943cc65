//! The sync server (issue 3). Not built yet: this binary says so instead of pretending.

fn main() {
    eprintln!(
        "pos-sync-server is not implemented yet (issue 3). \
         Run ./run.sh for the core demo."
    );
    std::process::exit(2);
}
