//! What a signal pidone receives means (the signalfd itself is `crate::signals`): SIGCHLD
//! is reaping, SIGTERM/SIGINT/SIGQUIT begin the shutdown, every other one is forwarded to
//! the process groups meant to get it.

use super::state::Role;
use super::{Supervisor, signal_group};
use crate::log;
use std::time::Instant;

impl Supervisor {
    /// Act on every signal waiting in the signalfd.
    pub(super) fn handle_signals(&mut self, now: Instant) {
        for sig in self.signals.take() {
            match sig {
                libc::SIGCHLD => self.reap(now),
                libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                    let name = crate::values::signal_name(sig);
                    self.core
                        .begin_shutdown_on_signal(&format!("received {name}"));
                }
                _ => self.forward(sig),
            }
        }
    }

    /// Send a forwarded signal to CMD's and every running service's process group.
    fn forward(&self, sig: i32) {
        log::debug(format!("forwarding {}", crate::values::signal_name(sig)));
        for u in self.core.units() {
            let Some(pid) = u.pid() else { continue };
            // A helper (finish, stop command) is not the service the signal is meant for.
            if u.role() == Role::Render
                || u.running_helper()
                || (!u.spec().forward_signals && u.role() != Role::Main)
            {
                continue;
            }
            let mapped = u
                .spec()
                .signal_map
                .iter()
                .find(|(from, _)| *from == sig)
                .map_or(sig, |(_, to)| *to);
            signal_group(pid, mapped);
        }
    }
}
