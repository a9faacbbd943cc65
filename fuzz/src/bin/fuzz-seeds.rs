//! `fuzz-seeds TARGET DIR`: writes the target's seeds into DIR (one file each).
//! `fuzz-seeds fixture FILE`: records the push fixture (`fuzz/fixtures/server.json`) anew.
//! `fuzz-seeds run TARGET FILE...`: runs files through a target (to reproduce a crash).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, file] if cmd == "fixture" => {
            let f = pos_fuzz::sync::record_fixture();
            let json = serde_json::to_string_pretty(&f).expect("json");
            std::fs::write(file, json + "\n").expect("write the fixture");
            ExitCode::SUCCESS
        }
        [cmd, target, files @ ..] if cmd == "run" => {
            let Some(run) = pos_fuzz::target(target) else {
                eprintln!("no target {target}");
                return ExitCode::FAILURE;
            };
            for f in files {
                eprintln!("{f}");
                run(&std::fs::read(f).expect("read"));
            }
            ExitCode::SUCCESS
        }
        [target, dir] if pos_fuzz::target(target).is_some() => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            for (name, bytes) in pos_fuzz::seeds::seeds(target) {
                std::fs::write(dir.join(name), bytes).expect("write a seed");
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: fuzz-seeds TARGET DIR | fixture FILE | run TARGET FILE...");
            ExitCode::FAILURE
        }
    }
}
