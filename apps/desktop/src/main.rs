//! The desktop app (issue 5). Not built yet: this binary says so instead of pretending.

fn main() {
    eprintln!(
        "pos-desktop is not implemented yet (issue 5). \
         Run ./run.sh for the core demo."
    );
    std::process::exit(2);
}
