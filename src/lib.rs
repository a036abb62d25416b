//! pidone: PID 1 for hardened containers.
//!
//! The modules follow the path of one container start:
//! cli → config → privilege → render → spawn/probe → supervisor (+ control); `app` strings
//! the stages together; `main.rs` is a thin wrapper so integration tests can use the pure
//! parts directly. Below them all is the shared vocabulary any stage may use: `exit`
//! (exit codes), `values` (durations, signals, modes, addresses), `program` (PATH lookup),
//! `log`, `json`, `output`, `safe_read`, `rundir`, `signals`, `users`, `handoff`.
//! A module uses only modules of its own rank or below (`RANKS` in `source_rules.rs`, checked
//! by a unit test, with the size rules and the no-circle rule);
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

/// The rules the source itself keeps (stage order, sizes, no import circle), checked by
/// unit tests that read `src/` (docs/architecture.md).
#[cfg(test)]
mod source_rules;
