//! Starting a child process the way a PID 1 must.
//!
//! We use `std::process::Command` for the fork/exec and its error reporting (an exec failure
//! comes back as an `io::Error` with the real errno, so CMD-not-found can exit 127), and do
//! the PID-1-specific setup in `pre_exec`, which runs in the child between fork and exec.
//! Only async-signal-safe libc calls are made there: no allocation, no locks.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::config::Limits;

/// How the child's stdout/stderr are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Share pidone's stdio (CMD, so a TTY works as it would without pidone).
    Inherit,
    /// Pipes read by pidone, which prefixes each line.
    Capture,
    /// /dev/null (probe commands).
    Discard,
}

pub struct SpawnRequest<'a> {
    pub argv: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub working_dir: Option<&'a PathBuf>,
    pub umask: Option<u32>,
    pub limits: &'a Limits,
    pub output: Output,
    /// Give the child pidone's controlling terminal (CMD when stdin is a TTY).
    pub take_tty: bool,
    /// s6-style readiness: the write end of a pipe placed at this fd number in the child.
    pub notify_fd: Option<i32>,
}

pub struct Spawned {
    pub pid: i32,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Read end of the readiness pipe.
    pub notify: Option<OwnedFd>,
}

/// A spawn failure, with the exit code a shell would use for it (126 or 127).
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

pub fn spawn(req: &SpawnRequest) -> Result<Spawned, SpawnError> {
    let program = &req.argv[0];
    let mut cmd = Command::new(program);
    cmd.args(&req.argv[1..]);
    cmd.env_clear();
    cmd.envs(req.env);
    if let Some(dir) = req.working_dir {
        cmd.current_dir(dir);
    }
    cmd.stdin(match req.output {
        Output::Inherit => Stdio::inherit(),
        _ => Stdio::null(),
    });
    let (out, err) = match req.output {
        Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
        Output::Capture => (Stdio::piped(), Stdio::piped()),
        Output::Discard => (Stdio::null(), Stdio::null()),
    };
    cmd.stdout(out).stderr(err);

    let notify_pipe = match req.notify_fd {
        Some(_) => Some(pipe_cloexec().map_err(|e| SpawnError {
            code: crate::cli::exit::SOFTWARE,
            message: format!("cannot create the readiness pipe: {e}"),
        })?),
        None => None,
    };
    let notify_target = req.notify_fd;
    let notify_write = notify_pipe.as_ref().map(|(_, w)| w.as_raw_fd());
    let take_tty = req.take_tty;
    let umask = req.umask;
    let limits = [
        (libc::RLIMIT_NOFILE, req.limits.nofile),
        (libc::RLIMIT_NPROC, req.limits.nproc),
        (libc::RLIMIT_CORE, req.limits.core),
    ];

    // SAFETY: the closure only calls async-signal-safe functions (see module comment).
    unsafe {
        cmd.pre_exec(move || child_setup(take_tty, umask, &limits, notify_write, notify_target));
    }
    let mut child = cmd.spawn().map_err(|e| spawn_error(program, &e))?;
    let pid = child.id() as i32;
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    for fd in [&stdout, &stderr].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    // We reap with waitpid(-1) in the event loop; dropping `child` neither waits nor kills.
    drop(child);
    let notify = notify_pipe.map(|(r, w)| {
        drop(w); // keep only the child's copy, so EOF tells us it closed it
        set_nonblocking(r.as_raw_fd());
        r
    });
    Ok(Spawned {
        pid,
        stdout,
        stderr,
        notify,
    })
}

fn spawn_error(program: &str, e: &io::Error) -> SpawnError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => SpawnError {
            code: crate::cli::exit::NOT_FOUND,
            message: format!("cannot run {program:?}: not found (check PATH or the path)"),
        },
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EPERM) => SpawnError {
            code: crate::cli::exit::CANNOT_EXECUTE,
            message: format!(
                "cannot run {program:?}: {e} (is it executable, and not on a noexec mount such as Docker's --tmpfs /run?)"
            ),
        },
        _ => SpawnError {
            code: crate::cli::exit::CANNOT_EXECUTE,
            message: format!("cannot run {program:?}: {e}"),
        },
    }
}

/// Runs in the child after fork, before exec. Order matters; each step says why.
fn child_setup(
    take_tty: bool,
    umask: Option<u32>,
    limits: &[(libc::__rlimit_resource_t, Option<u64>); 3],
    notify_write: Option<RawFd>,
    notify_target: Option<i32>,
) -> io::Result<()> {
    // SAFETY: plain libc calls on this process only; all are async-signal-safe.
    unsafe {
        if take_tty {
            // Same session as pidone (which owns the terminal), own process group, made the
            // terminal's foreground group: then Ctrl-C's SIGINT goes to the child, as it
            // would without an init. tcsetpgrp from a background group raises SIGTTOU, which
            // pidone ignores and which is still ignored here (inherited across fork).
            libc::setpgid(0, 0);
            libc::tcsetpgrp(0, libc::getpid());
        } else {
            // Own session and process group: no controlling terminal, and pidone can signal
            // the whole group (the service and whatever it forks) with kill(-pgid).
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // Dispositions: handlers are reset by exec anyway, but SIG_IGN survives exec, and
        // pidone ignores SIGPIPE, SIGTTIN and SIGTTOU. A child must start with defaults.
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        // The mask is inherited across exec too; std clears it already, be explicit.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

        for &(resource, value) in limits {
            if let Some(v) = value {
                let lim = libc::rlimit {
                    rlim_cur: v,
                    rlim_max: v,
                };
                if libc::setrlimit(resource, &lim) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        if let Some(mask) = umask {
            libc::umask(mask);
        }
        // Don't leak pidone's descriptors (control socket, other services' pipes, anything
        // inherited from whoever started pidone) into services: mark all above 2 close-on-exec,
        // except the readiness fd we place deliberately.
        let mut keep = None;
        if let (Some(w), Some(target)) = (notify_write, notify_target) {
            if w == target {
                let flags = libc::fcntl(w, libc::F_GETFD);
                libc::fcntl(w, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(w, target) < 0 {
                return Err(io::Error::last_os_error());
            }
            keep = Some(target as libc::c_uint);
        }
        let mark = |lo: libc::c_uint, hi: libc::c_uint| {
            if lo <= hi {
                libc::syscall(libc::SYS_close_range, lo, hi, libc::CLOSE_RANGE_CLOEXEC);
            }
        };
        match keep {
            Some(k) => {
                mark(3, k.saturating_sub(1));
                mark(k + 1, libc::c_uint::MAX);
            }
            None => mark(3, libc::c_uint::MAX),
        }
    }
    Ok(())
}

pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    unsafe { Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))) }
}

pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
