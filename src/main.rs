//! pidone: PID 1 for hardened containers.
//!
//! The modules follow the path of one container start (docs/design in README):
//! cli → config → privilege → render → supervise (+ control) → shutdown.

mod privilege;
mod render;
mod users;

fn main() {
    let _ = (privilege::apply, render::render, users::resolve);
}
