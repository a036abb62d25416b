//! pidone: PID 1 for hardened containers.
//!
//! The modules follow the path of one container start:
//! cli → config → privilege → render → supervise (+ control) → shutdown.
//! `main.rs` is a thin wrapper so integration tests can use the pure parts directly.

pub mod privilege;
pub mod render;
pub mod users;
