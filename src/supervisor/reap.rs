//! Reaping: every exited child, from `waitpid`, to whoever owns it (a unit, a probe, or
//! nobody: an adopted orphan), with what an exit implies before the state machine hears of
//! it (an `export_env` oneshot's hand-off file, what a longrun left in its process group).

use super::state::{ExitStatus, Idx};
use super::{Owner, Supervisor, probe_of};
use crate::log;
use crate::probe;
use std::time::Instant;

impl Supervisor {
    /// Collect every exited child: ours, probes, and orphans adopted as PID 1 / subreaper.
    pub(super) fn reap(&mut self, now: Instant) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let exit = if libc::WIFSIGNALED(status) {
                ExitStatus::Signal(libc::WTERMSIG(status))
            } else {
                ExitStatus::Code(libc::WEXITSTATUS(status))
            };
            match self.children.remove(&pid) {
                Some(Owner::Unit(i)) => {
                    let mut exit = exit;
                    if self.core.unit(i).spec().export_env && !self.core.unit(i).running_helper() {
                        if exit.success() && !self.merge_env_file(i) {
                            // What it meant to hand on is unknown: starting the services
                            // after it without that environment would be a silent failure.
                            exit = ExitStatus::Code(1);
                        }
                        crate::handoff::remove(&self.env_file(i));
                    }
                    self.notify_pipes.remove(&i);
                    let name = &self.core.unit(i).spec().name;
                    log::debug(format!("{name} (pid {pid}) {}", exit.describe()));
                    // What a longrun left behind in its process group goes with it (TERM now;
                    // the final drain KILLs stragglers), so restarts cannot pile up leftover
                    // children. A oneshot's background processes are left alone: init tasks
                    // may start helpers on purpose; they are drained at shutdown.
                    // kill() of an empty group just fails with ESRCH.
                    let longrun = self.core.unit(i).spec().kind == crate::config::Kind::Longrun;
                    // SAFETY: kill(2) to the group the exited leader created.
                    if longrun && unsafe { libc::kill(-pid, libc::SIGTERM) } == 0 {
                        unsafe { libc::kill(-pid, libc::SIGCONT) };
                        log::debug(format!(
                            "{name}: sent SIGTERM to what its process group left"
                        ));
                        self.old_groups.insert(i, pid);
                    }
                    self.core.on_exit(i, exit, now);
                }
                Some(Owner::Probe(i, kind)) => {
                    if let Some((p, _)) = probe_of(self.core.unit(i).spec(), kind) {
                        let (ok, detail) = probe::describe_exit(&p, exit);
                        self.core.on_probe_result(i, kind, ok, detail, now);
                    }
                }
                None => log::debug(format!("reaped orphan pid {pid} ({})", exit.describe())),
            }
        }
    }

    /// A oneshot with `export_env` succeeded: merge its `KEY=VALUE` lines into the env of
    /// everything started from now on. False (logged) when the file could not be read: the
    /// service replaced it with a FIFO, a symlink or something over the size limit.
    fn merge_env_file(&mut self, i: Idx) -> bool {
        let path = self.env_file(i);
        let name = self.core.unit(i).spec().name.clone();
        let (vars, bad) = match crate::handoff::read(&path) {
            Ok(parsed) => parsed,
            Err(e) => {
                log::error(format!("{name}: {e}; counting the oneshot as failed"));
                return false;
            }
        };
        // A few lines are enough to fix the file; a flood of bad lines must not become a
        // flood of log lines queued in PID 1.
        const SHOWN: usize = 5;
        for crate::handoff::BadLine(n) in bad.iter().take(SHOWN) {
            log::warn(format!(
                "{name}: {}:{n}: not KEY=VALUE; line ignored",
                path.display()
            ));
        }
        if bad.len() > SHOWN {
            log::warn(format!(
                "{name}: {}: {} more lines that are not KEY=VALUE ignored",
                path.display(),
                bad.len() - SHOWN
            ));
        }
        let count = vars.len();
        self.ctx.env.extend(vars);
        log::info(format!("{name} handed on {count} environment variable(s)"));
        true
    }
}
