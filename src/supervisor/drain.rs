//! The final drain, once the last unit stopped: every process still alive (adopted orphans
//! included) gets SIGTERM, then SIGKILL after the grace period, until all are reaped.
//! Separate because it acts on processes the state machine does not know.

use super::Supervisor;
use super::procfs;
use crate::log;
use std::time::Instant;

/// The drain after the last unit stopped.
pub(super) enum Drain {
    NotStarted,
    Terminating { deadline: Instant },
    Killing,
}

impl Supervisor {
    /// The drain. Returns true when every process is reaped.
    pub(super) fn advance_drain(&mut self) -> bool {
        match self.drain {
            Drain::NotStarted => {
                if !self.has_children() {
                    return true;
                }
                log::info(format!(
                    "sending SIGTERM to remaining processes (SIGKILL in {})",
                    crate::values::format_duration(self.ctx.grace)
                ));
                self.signal_leftovers(libc::SIGTERM);
                self.drain = Drain::Terminating {
                    deadline: Instant::now() + self.ctx.grace,
                };
                false
            }
            Drain::Terminating { deadline } => {
                if !self.has_children() {
                    return true;
                }
                if Instant::now() >= deadline {
                    log::warn("grace period over: sending SIGKILL to remaining processes");
                    self.signal_leftovers(libc::SIGKILL);
                    self.drain = Drain::Killing;
                }
                false
            }
            Drain::Killing => !self.has_children(),
        }
    }

    /// Reap what has exited, then tell whether any child is left.
    fn has_children(&mut self) -> bool {
        self.reap(Instant::now());
        // SAFETY: waitid with WNOHANG|WNOWAIT only peeks; a zeroed siginfo is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        r == 0
    }

    fn signal_leftovers(&self, sig: i32) {
        // As PID 1 of the namespace, kill(-1) reaches every other process in it: the orphans
        // that tini #229 / dumb-init #191 never signal. As a subreaper, our descendants.
        // A stopped process cannot act on TERM until it is continued, hence the SIGCONT.
        let targets: Vec<i32> = if self.is_pid1 {
            vec![-1]
        } else {
            procfs::descendants(std::process::id() as i32)
        };
        for pid in targets {
            // SAFETY: kill(2).
            unsafe {
                libc::kill(pid, sig);
                if sig == libc::SIGTERM {
                    libc::kill(pid, libc::SIGCONT);
                }
            }
        }
    }
}
