//! `S6_STAGE2_HOOK`: a shell excerpt s6-overlay runs early in stage 2, before the service
//! database is read, so it may edit the s6-rc.d source tree (drop a service from
//! `user/contents.d`, add one). pidone runs it with `/bin/sh -c` before it reads the layout
//! and after it wrote `/run/s6/container_environment` (so a `with-contenv` hook works), as the
//! user it was started as (the privilege drop comes later, as under s6-overlay, where a
//! hook edits root-owned `/etc` trees).
//!
//! PID 1 waits for it before the event loop exists, with every signal blocked (`signals`):
//! the wait polls a signalfd, so the hook's exit (SIGCHLD) ends it, a TERM/INT/QUIT ends it
//! at once (the hook's process group gets SIGKILL), and a hook still running at
//! `HOOK_TIME_LIMIT` is killed the same way. Never a wait without a deadline.

use crate::config::Limits;
use crate::spawn::{ExitStatus, Output, SpawnRequest, spawn};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the hook may run: s6-overlay sets none, but a hung hook must not hold the
/// container in silence. Generous for a script that patches a few files (or fetches one), the
/// same as a oneshot's default `timeout`.
pub const HOOK_TIME_LIMIT: Duration = crate::config::DEFAULT_ONESHOT_TIMEOUT;

/// How the hook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEnd {
    Exited(ExitStatus),
    /// Killed at `HOOK_TIME_LIMIT`.
    TimedOut,
    /// pidone got this stop signal while waiting: the hook was killed; the container ends.
    StopSignal(i32),
}

/// Run `hook` with `/bin/sh -c` and wait for it (see the module comment). Err: it could not
/// be started at all.
pub fn run(hook: &str, env: &BTreeMap<String, String>, limit: Duration) -> Result<HookEnd, String> {
    // Before the spawn, so the child's SIGCHLD cannot come before there is a reader for it
    // (it stays pending meanwhile: every signal is blocked).
    let signals =
        crate::signals::Signals::new().map_err(|e| format!("cannot create a signalfd: {e}"))?;
    let argv = ["/bin/sh".to_string(), "-c".into(), hook.to_string()];
    let spawned = spawn(&SpawnRequest {
        argv: &argv,
        env,
        working_dir: None,
        umask: None,
        limits: &Limits::default(),
        output: Output::Inherit,
        take_tty: false,
        notify_fd: None,
        stdin_pipe: None,
        stdout_pipe: None,
    })
    .map_err(|e| e.message)?;
    let pid = spawned.pid;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_and_reap(pid);
            return Ok(HookEnd::TimedOut);
        }
        let mut fds = [libc::pollfd {
            fd: signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // Round up: never wake a millisecond early and spin.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        for sig in signals.take() {
            match sig {
                libc::SIGCHLD => {
                    if let Some(status) = reap_all(pid) {
                        return Ok(HookEnd::Exited(status));
                    }
                }
                libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                    kill_and_reap(pid);
                    return Ok(HookEnd::StopSignal(sig));
                }
                // Others are for services, and there are none yet.
                _ => {}
            }
        }
    }
}

/// Reap every exited child (the hook's orphans too, when pidone is PID 1); the hook's
/// status when it is among them.
fn reap_all(hook: i32) -> Option<ExitStatus> {
    let mut found = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return found;
        }
        if pid == hook {
            found = Some(if libc::WIFSIGNALED(status) {
                ExitStatus::Signal(libc::WTERMSIG(status))
            } else {
                ExitStatus::Code(libc::WEXITSTATUS(status))
            });
        }
    }
}

/// SIGKILL to the hook's process group (its own: `spawn` makes one), then reap it.
fn kill_and_reap(pid: i32) {
    // SAFETY: kill(2) and waitpid(2) on our own child.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}
