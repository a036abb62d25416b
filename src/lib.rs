//! pidone: PID 1 for hardened containers.
//!
//! The modules follow the path of one container start:
//! cli → config → privilege → render → supervisor (+ control) → shutdown (in supervisor).
//! `app` strings the stages together; `main.rs` is a thin wrapper so integration tests can
//! use the pure parts directly.

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod handoff;
pub mod json;
pub mod log;
pub mod output;
pub mod privilege;
pub mod probe;
pub mod render;
pub mod rundir;
pub mod safe_read;
pub mod schedule;
pub mod session;
pub mod signals;
pub mod spawn;
pub mod supervisor;
pub mod tomlread;
pub mod units;
pub mod users;
