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
//!
//! `before_layout` is the stage as the start sees it (when to run, the log lines, what a
//! failure means); `run` runs the hook and waits.

use super::{S6Paths, s6_container_env};
use crate::cli::Options;
use crate::config::Limits;
use crate::exit;
use crate::log;
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

/// S6_STAGE2_HOOK (s6 mode): run before the layout is read, so its edits of the s6-rc.d tree
/// count, and after `/run/s6/container_environment` is written, so a `#!/command/with-contenv`
/// hook works (s6-overlay's order). Ok: the variables the hook added to (or changed in)
/// container_environment, which the services get too; Err(exit code) when the container ends
/// here: a stop signal while it ran, its failure with S6_BEHAVIOUR_IF_STAGE2_FAILS=2, or a
/// container_environment pidone cannot write. `env` is the container's environment.
pub fn before_layout(
    opts: &Options,
    native_services: usize,
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, i32> {
    let Some(hook) = env.get("S6_STAGE2_HOOK").filter(|h| !h.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let paths = S6Paths::of(opts);
    if !crate::config::s6::wanted(opts.s6, native_services, &paths.root) {
        return Ok(BTreeMap::new());
    }
    let contenv = s6_container_env(env, &paths);
    let envdir = super::shims::container_environment(&paths.base);
    let created_s6_dir = !paths.base.join("s6").exists();
    if let Err(e) = super::write_container_environment(&paths.base, &contenv) {
        log::error(format!("refusing to start: {e}"));
        return Err(exit::RUN_DIR);
    }
    // Its first word names it in the log; the rest may hold values that are nobody's business.
    let first = hook.split_whitespace().next().unwrap_or_default();
    let what = format!("S6_STAGE2_HOOK ({first} ...)");
    let limit = crate::values::format_duration(HOOK_TIME_LIMIT);
    log::info(format!(
        "running {what} before reading the s6 layout (time limit {limit})"
    ));
    let ended = run(hook, &contenv, HOOK_TIME_LIMIT);
    // What the hook wrote into container_environment counts for the services, as under
    // s6-overlay. As root the directory is removed again: it is written anew after the
    // privilege drop, by the user the services run as.
    let added: BTreeMap<String, String> = crate::config::s6::envdir::read(&envdir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .filter(|(k, v)| contenv.get(k) != Some(v))
        .collect();
    if nix::unistd::geteuid().is_root() {
        let _ = std::fs::remove_dir_all(&envdir);
        if created_s6_dir {
            let _ = std::fs::remove_dir(paths.base.join("s6"));
        }
    }
    let (why, code) = match ended {
        Ok(HookEnd::Exited(status)) if status.success() => return Ok(added),
        Ok(HookEnd::Exited(status)) => (status.describe(), status.code()),
        Ok(HookEnd::TimedOut) => (
            format!("was still running after {limit}; killed"),
            128 + libc::SIGKILL,
        ),
        Ok(HookEnd::StopSignal(sig)) => {
            log::info(format!(
                "received {} while {what} ran: stopped it; nothing was started",
                crate::values::signal_name(sig)
            ));
            return Err(0);
        }
        Err(e) => (format!("could not be started: {e}"), exit::CANNOT_EXECUTE),
    };
    if crate::config::s6::stage2_failure_stops(env) {
        log::error(format!(
            "{what} {why}; S6_BEHAVIOUR_IF_STAGE2_FAILS=2: nothing is started"
        ));
        Err(code.max(1))
    } else {
        log::warn(format!(
            "{what} {why}; starting anyway (S6_BEHAVIOUR_IF_STAGE2_FAILS=2 would stop here)"
        ));
        Ok(added)
    }
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
