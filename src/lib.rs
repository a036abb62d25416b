//! pidone: PID 1 for hardened containers.
//!
//! The modules follow the path of one container start:
//! cli → config → privilege → render → spawn/probe → supervisor (+ control); `app` strings
//! the stages together; `main.rs` is a thin wrapper so integration tests can use the pure
//! parts directly. Below them all is the shared vocabulary any stage may use: `exit`
//! (exit codes), `values` (durations, signals, modes, addresses), `program` (PATH lookup),
//! `log`, `json`, `output`, `safe_read`, `rundir`, `signals`, `users`, `handoff`.
//! A module uses only modules of its own rank or below (`RANKS`, checked by a unit test);
//! the map is in docs/architecture.md.

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod exit;
pub mod handoff;
pub mod json;
pub mod log;
pub mod output;
pub mod privilege;
pub mod probe;
pub mod program;
pub mod render;
pub mod rundir;
pub mod s6;
pub mod safe_read;
pub mod schedule;
pub mod session;
pub mod signals;
pub mod spawn;
pub mod supervisor;
pub mod users;
pub mod values;

/// The stage order as data: a module may use modules of its own rank or below, never one
/// above (docs/architecture.md). Rank 0 is the shared vocabulary every stage may use.
#[cfg(test)]
const RANKS: &[(&str, u8)] = &[
    ("exit", 0),
    ("values", 0),
    ("program", 0),
    ("log", 0),
    ("json", 0),
    ("output", 0),
    ("safe_read", 0),
    ("signals", 0),
    ("users", 0),
    ("rundir", 0),
    ("handoff", 0),
    ("schedule", 0),
    ("session", 0),
    ("cli", 1),
    ("config", 2),
    ("privilege", 3),
    ("render", 4),
    ("spawn", 5),
    ("probe", 5),
    ("supervisor", 6),
    ("control", 6),
    ("app", 7),
    // the s6 runtime: its shims are control clients
    ("s6", 7),
];

#[cfg(test)]
mod layering {
    use super::RANKS;
    use std::path::Path;

    fn rank(module: &str) -> u8 {
        RANKS
            .iter()
            .find(|(m, _)| *m == module)
            .unwrap_or_else(|| panic!("module {module:?} has no rank in lib.rs RANKS"))
            .1
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every `crate::NAME` in every source file (`use` lines and inline paths) names a
    /// module at the file's own rank or below. Comments and unit tests (which may borrow a
    /// helper from anywhere) are not checked.
    #[test]
    fn no_module_uses_a_later_stage() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        for file in files {
            let rel = file.strip_prefix(&src).unwrap();
            let top = rel.iter().next().unwrap().to_string_lossy();
            let top = top.trim_end_matches(".rs");
            if top == "lib" || top == "main" {
                continue;
            }
            let own = rank(top);
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for part in line.split("crate::").skip(1) {
                    let used: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if used.is_empty() || RANKS.iter().all(|(m, _)| *m != used) {
                        continue;
                    }
                    if rank(&used) > own {
                        wrong.push(format!("{}:{}: {top} uses {used}", rel.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports up the stage order:\n{}",
            wrong.join("\n")
        );
    }
}
