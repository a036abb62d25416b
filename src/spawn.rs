//! Starting a child process the way a PID 1 must, and how it ended (`ExitStatus`).
//!
//! Two paths, chosen per spawn:
//! - `spawn_posix`, the common one: `posix_spawn`, which glibc implements with
//!   `clone(CLONE_VM|CLONE_VFORK)`. The child borrows pidone's memory until its exec instead of
//!   copying pidone's page tables (and then tearing the copy down again in exec), and pidone
//!   resumes as soon as the exec happened. Measured on the start-up benchmark: fork to
//!   exec-done 112 µs with fork, 53 µs with posix_spawn. Everything a service needs is an
//!   attribute or a file action: own session, empty signal mask, default dispositions, stdio,
//!   the readiness fd, working directory; the umask is set around the call.
//! - `spawn_forked`: `std::process::Command` with a `pre_exec` closure, for what posix_spawn
//!   cannot do: resource limits, and taking the terminal's foreground (a laptop `--once`
//!   run, where speed does not matter). Only async-signal-safe libc calls are made in
//!   `pre_exec`: no allocation, no locks.
//!
//! Both report an exec failure with the real errno, so CMD-not-found can exit 127.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Limits;
use crate::program::Unrunnable;
use std::os::unix::ffi::OsStringExt;

/// The type of setrlimit's resource argument: glibc declares an enum of its own
/// (`__rlimit_resource_t`), musl a plain `int`. The `RLIMIT_*` constants of the libc crate have
/// that type on each.
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

/// How a process ended, as waitpid reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention: the code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
    pub fn describe(self) -> String {
        match self {
            ExitStatus::Code(c) => format!("exited with code {c}"),
            ExitStatus::Signal(s) => format!("was killed by {}", crate::values::signal_name(s)),
        }
    }
}

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
    /// A log pipeline (with `Output::Capture` only): the read end placed as the child's stdin
    /// (it reads another service's output), the write end as its stdout (instead of pidone's
    /// capture; stderr stays captured). pidone holds these pipes, not the services.
    pub stdin_pipe: Option<RawFd>,
    pub stdout_pipe: Option<RawFd>,
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

/// Once, at the start of run mode, before the first spawn. Guards two things the posix_spawn
/// path relies on:
/// - fds 0, 1 and 2 are open (on /dev/null if whoever started pidone closed them): otherwise
///   the first pipe pidone creates would get number 1 or 2 and a child's stdout would be wired
///   to the wrong place;
/// - every descriptor pidone inherited above 2 is close-on-exec, so none leaks into services
///   (everything pidone opens itself is already close-on-exec).
///
/// It also records whether pidone has a controlling terminal (see `NEEDS_OWN_SESSION`).
pub fn prepare_parent() {
    // SAFETY: fcntl/open/close_range on this process's own descriptor table.
    unsafe {
        // Opening /dev/tty succeeds exactly when there is a controlling terminal (ENXIO
        // when there is none). Any other failure (no /dev/tty node) means we cannot tell:
        // keep the own-session default.
        let tty = libc::open(
            c"/dev/tty".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if tty >= 0 {
            libc::close(tty);
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
            NEEDS_OWN_SESSION.store(false, Ordering::Relaxed);
        }
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                // open returns the lowest free number, which is `fd` here.
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Whether a service needs a session of its own, or only a process group of its own.
///
/// Both make the service a process group leader, which is what pidone needs to signal it
/// with everything it forked (kill(-pgid)). A new session also detaches it from a
/// controlling terminal, which matters only if pidone has one (a laptop run): otherwise a
/// service in pidone's session can never acquire one (only session leaders can), and the
/// session buys nothing. It is not free: setsid creates a scheduler autogroup, measured at
/// about 30 µs of every spawn on the start-up benchmark. In a container pidone has no
/// controlling terminal unless it was given one (`docker run -t`), so services get a
/// process group there; with a terminal they get a session, as before.
static NEEDS_OWN_SESSION: AtomicBool = AtomicBool::new(true);

pub fn spawn(req: &SpawnRequest) -> Result<Spawned, SpawnError> {
    let limits = req.limits;
    let result = if req.take_tty
        || limits.nofile.is_some()
        || limits.nproc.is_some()
        || limits.core.is_some()
    {
        spawn_forked(req)
    } else {
        spawn_posix(req).map_err(|e| spawn_error(&req.argv[0], &e))
    };
    // Both paths report a missing working directory as ENOENT, which would read as "program
    // not found"; say what is actually missing.
    result.map_err(|e| match req.working_dir {
        Some(dir) if e.code == crate::exit::NOT_FOUND && !dir.is_dir() => SpawnError {
            code: crate::exit::CANNOT_EXECUTE,
            message: format!(
                "cannot run {:?}: its working_dir {} does not exist",
                req.argv[0],
                dir.display()
            ),
        },
        _ => e,
    })
}

fn spawn_posix(req: &SpawnRequest) -> io::Result<Spawned> {
    let path = resolve_program(&req.argv[0], req.env)?;
    let argv = cstrings(req.argv.iter().map(String::as_str))?;
    let envp = cstrings(req.env.iter().map(|(k, v)| format!("{k}={v}")))?;

    let mut actions = FileActions::new()?;
    if let Some(dir) = req.working_dir {
        let dir = CString::new(dir.as_os_str().as_bytes()).map_err(|_| nul_error())?;
        actions.chdir(&dir)?;
    }
    // Write ends stay open in pidone until posix_spawn returned, then are dropped: the child's
    // copies (made by dup2, so without close-on-exec) are then the only ones.
    let mut write_ends = Vec::new();
    let (mut stdout, mut stderr) = (None, None);
    match req.output {
        Output::Inherit => {}
        Output::Capture => {
            // The pipeline fds are above 2 (`prepare_parent`), so dup2 makes a copy without
            // close-on-exec in the child, and pidone's own stays where it is.
            match req.stdin_pipe {
                Some(fd) => actions.dup2(fd, 0)?,
                None => actions.open(0, c"/dev/null", libc::O_RDONLY)?,
            }
            match req.stdout_pipe {
                Some(fd) => actions.dup2(fd, 1)?,
                None => {
                    let (out_r, out_w) = pipe_cloexec()?;
                    actions.dup2(out_w.as_raw_fd(), 1)?;
                    stdout = Some(out_r);
                    write_ends.push(out_w);
                }
            }
            let (err_r, err_w) = pipe_cloexec()?;
            actions.dup2(err_w.as_raw_fd(), 2)?;
            stderr = Some(err_r);
            write_ends.push(err_w);
        }
        Output::Discard => {
            actions.open(0, c"/dev/null", libc::O_RDONLY)?;
            actions.open(1, c"/dev/null", libc::O_WRONLY)?;
            actions.open(2, c"/dev/null", libc::O_WRONLY)?;
        }
    }
    let mut notify = None;
    if let Some(target) = req.notify_fd {
        let (r, mut w) = pipe_cloexec()?;
        if w.as_raw_fd() == target {
            // dup2 onto its own number would leave close-on-exec set (POSIX leaves it open
            // whether it is cleared): move the write end to another number first.
            w = w.try_clone()?;
        }
        actions.dup2(w.as_raw_fd(), target)?;
        notify = Some(r);
        write_ends.push(w);
    }

    let mut attr = SpawnAttr::new()?;
    attr.configure()?;

    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        let mut p: Vec<*mut libc::c_char> = v.iter().map(|s| s.as_ptr().cast_mut()).collect();
        p.push(std::ptr::null_mut());
        p
    };
    let (argv_ptrs, envp_ptrs) = (ptrs(&argv), ptrs(&envp));
    let mut pid: libc::pid_t = 0;
    // SAFETY: umask has no failure mode. posix_spawn gets NUL-terminated strings and
    // null-terminated pointer arrays that outlive the call, and initialised attribute and
    // file-action objects. There is no umask attribute; the child inherits pidone's at the
    // moment of the call, so it is set around it (pidone is single-threaded: nothing else
    // creates files meanwhile).
    let rc = unsafe {
        let old_umask = req.umask.map(|m| libc::umask(m as libc::mode_t));
        let rc = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &actions.0,
            &attr.0,
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        );
        if let Some(old) = old_umask {
            libc::umask(old);
        }
        rc
    };
    // musl's posix_spawn blocks everything around the clone and then restores pidone's mask
    // through pthread_sigmask, which leaves out 32-34: signal 34 would stay unblocked.
    #[cfg(target_env = "musl")]
    crate::signals::block_glibc_sigrtmin();
    check(rc)?;
    drop(write_ends);
    for fd in [&stdout, &stderr, &notify].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    Ok(Spawned {
        pid,
        stdout,
        stderr,
        notify,
    })
}

/// The program posix_spawn should exec: a name without a slash is looked up in the child's
/// PATH (else pidone's, else the fallback) by `program::resolve`, the rule `pidone check`
/// uses too, so check and start agree. Not found anywhere is ENOENT (exit 127); found but not
/// executable is EACCES (exit 126).
fn resolve_program(program: &str, env: &BTreeMap<String, String>) -> io::Result<CString> {
    if program.contains('/') {
        return cstring(program);
    }
    let search = crate::program::search_path(env.get("PATH").map(String::as_str));
    match crate::program::resolve(program, &search) {
        Ok(path) => CString::new(path.into_os_string().into_vec()).map_err(|_| nul_error()),
        Err(Unrunnable::NotFound) => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        Err(Unrunnable::NotExecutable) => Err(io::Error::from_raw_os_error(libc::EACCES)),
    }
}

fn cstring(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| nul_error())
}

fn nul_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "an argument, environment value or path contains a NUL byte",
    )
}

fn cstrings<S: AsRef<str>>(items: impl Iterator<Item = S>) -> io::Result<Vec<CString>> {
    items.map(|s| cstring(s.as_ref())).collect()
}

/// posix_spawn's functions return the error number instead of setting errno.
fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Owns a `posix_spawn_file_actions_t` (destroyed on drop).
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        // SAFETY: init fills the zeroed object, which is only used after success.
        unsafe {
            let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
            check(libc::posix_spawn_file_actions_init(&mut fa))?;
            Ok(FileActions(fa))
        }
    }
    fn dup2(&mut self, fd: RawFd, target: RawFd) -> io::Result<()> {
        // SAFETY: initialised object; the fds are checked by the call.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, fd, target) })
    }
    fn open(&mut self, target: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: initialised object; glibc copies the path.
        check(unsafe {
            libc::posix_spawn_file_actions_addopen(&mut self.0, target, path.as_ptr(), flags, 0)
        })
    }
    fn chdir(&mut self, dir: &CStr) -> io::Result<()> {
        // SAFETY: initialised object; glibc copies the path.
        check(unsafe { libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr()) })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Owns a `posix_spawnattr_t` (destroyed on drop).
struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    fn new() -> io::Result<SpawnAttr> {
        // SAFETY: init fills the zeroed object, which is only used after success.
        unsafe {
            let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
            check(libc::posix_spawnattr_init(&mut attr))?;
            Ok(SpawnAttr(attr))
        }
    }

    /// What every service gets, as in `child_setup`: its own process group, or session (see
    /// `NEEDS_OWN_SESSION`; pidone signals the whole group with kill(-pgid)), an empty signal mask
    /// (pidone's blocked mask would otherwise be inherited across exec, see signals.rs), and
    /// every signal at its default (SIG_IGN survives exec, and pidone ignores PIPE/TTIN/TTOU).
    fn configure(&mut self) -> io::Result<()> {
        // SAFETY: initialised object; sigset_t is plain data.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(libc::posix_spawnattr_setsigmask(&mut self.0, &none))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut self.0,
                &every_signal(),
            ))?;
            // Process group 0 (the default pgroup attribute): the child's own pid.
            let group = if NEEDS_OWN_SESSION.load(Ordering::Relaxed) {
                libc::POSIX_SPAWN_SETSID
            } else {
                libc::POSIX_SPAWN_SETPGROUP as libc::c_short
            };
            let flags = group
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut self.0, flags))
        }
    }
}

/// Signals 1 to 64, glibc's two internal ones (32 and 33) included. glibc's `sigfillset` and
/// `sigaddset` leave those two out, and for a signal not in the default set its posix_spawn
/// sets them to SIG_IGN in the child; an ignored disposition survives exec, so every service
/// would start with 32 and 33 ignored (seen in /proc/<pid>/status SigIgn, tested in
/// tests/services.rs). Setting the bits directly keeps them in the set.
fn every_signal() -> libc::sigset_t {
    // The kernel's layout of glibc's sigset_t: signal n is bit n-1, 1024 bits in all.
    let mut words = [0u64; 16];
    words[0] = u64::MAX;
    // SAFETY: sigset_t is 16 plain 64-bit words on x86_64 Linux (checked by transmute's
    // size check at compile time).
    unsafe { std::mem::transmute::<[u64; 16], libc::sigset_t>(words) }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// The fork path (see the module comment): resource limits, or taking the terminal.
fn spawn_forked(req: &SpawnRequest) -> Result<Spawned, SpawnError> {
    let program = &req.argv[0];
    let mut cmd = Command::new(program);
    cmd.args(&req.argv[1..]);
    cmd.env_clear();
    cmd.envs(req.env);
    if let Some(dir) = req.working_dir {
        cmd.current_dir(dir);
    }
    // A pipeline end is given as a close-on-exec duplicate, which Command places at 0 or 1.
    let pipe_end = |fd: Option<RawFd>| -> Result<Option<Stdio>, SpawnError> {
        let Some(fd) = fd.filter(|_| req.output == Output::Capture) else {
            return Ok(None);
        };
        // SAFETY: the supervisor owns this fd and keeps it open during the spawn; it is only
        // duplicated here.
        let owned = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| SpawnError {
                code: crate::exit::SOFTWARE,
                message: format!("cannot pass the log pipeline on: {e}"),
            })?;
        Ok(Some(Stdio::from(owned)))
    };
    let (pipe_in, pipe_out) = (pipe_end(req.stdin_pipe)?, pipe_end(req.stdout_pipe)?);
    cmd.stdin(match req.output {
        Output::Inherit => Stdio::inherit(),
        _ => pipe_in.unwrap_or_else(Stdio::null),
    });
    let (out, err) = match req.output {
        Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
        Output::Capture => (pipe_out.unwrap_or_else(Stdio::piped), Stdio::piped()),
        Output::Discard => (Stdio::null(), Stdio::null()),
    };
    cmd.stdout(out).stderr(err);

    let notify_pipe = match req.notify_fd {
        Some(_) => Some(pipe_cloexec().map_err(|e| SpawnError {
            code: crate::exit::SOFTWARE,
            message: format!("cannot create the readiness pipe: {e}"),
        })?),
        None => None,
    };
    let notify_target = req.notify_fd;
    let notify_write = notify_pipe.as_ref().map(|(_, w)| w.as_raw_fd());
    let take_tty = req.take_tty;
    let own_session = NEEDS_OWN_SESSION.load(Ordering::Relaxed);
    let umask = req.umask;
    let limits = [
        (libc::RLIMIT_NOFILE, req.limits.nofile),
        (libc::RLIMIT_NPROC, req.limits.nproc),
        (libc::RLIMIT_CORE, req.limits.core),
    ];

    // SAFETY: the closure only calls async-signal-safe functions (see module comment).
    unsafe {
        cmd.pre_exec(move || {
            child_setup(
                take_tty,
                own_session,
                umask,
                &limits,
                notify_write,
                notify_target,
            )
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| limits_error(&limits, &e).unwrap_or_else(|| spawn_error(program, &e)))?;
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

/// setrlimit in the child failed: the error comes back through the same channel as an exec
/// error, and would be reported as one ("is it executable ..."). A limit above the hard limit
/// pidone itself has cannot be raised without CAP_SYS_RESOURCE: name it, and what to do.
fn limits_error(limits: &[(RlimitResource, Option<u64>); 3], e: &io::Error) -> Option<SpawnError> {
    if !matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL)) {
        return None;
    }
    let too_high: Vec<String> = limits
        .iter()
        .filter_map(|&(resource, value)| {
            let v = value?;
            let mut current = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit into a local struct.
            if unsafe { libc::getrlimit(resource, &mut current) } < 0 || v <= current.rlim_max {
                return None;
            }
            let name = match resource {
                libc::RLIMIT_NOFILE => "nofile",
                libc::RLIMIT_NPROC => "nproc",
                _ => "core",
            };
            Some(format!(
                "limits.{name} = {v} is above the hard limit pidone runs with ({})",
                current.rlim_max
            ))
        })
        .collect();
    if too_high.is_empty() {
        return None;
    }
    Some(SpawnError {
        code: crate::exit::CANNOT_EXECUTE,
        message: format!(
            "cannot apply [limits]: {} ({e}); lower it, or raise the container's limit (docker run --ulimit)",
            too_high.join(", ")
        ),
    })
}

fn spawn_error(program: &str, e: &io::Error) -> SpawnError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => SpawnError {
            code: crate::exit::NOT_FOUND,
            message: format!("cannot run {program:?}: not found (check PATH or the path)"),
        },
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EPERM) => SpawnError {
            code: crate::exit::CANNOT_EXECUTE,
            message: format!(
                "cannot run {program:?}: {e} (is it executable, and not on a noexec mount such as Docker's --tmpfs /run?)"
            ),
        },
        _ => SpawnError {
            code: crate::exit::CANNOT_EXECUTE,
            message: format!("cannot run {program:?}: {e}"),
        },
    }
}

/// Runs in the child after fork, before exec. Order matters; each step says why.
fn child_setup(
    take_tty: bool,
    own_session: bool,
    umask: Option<u32>,
    limits: &[(RlimitResource, Option<u64>); 3],
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
        } else if own_session {
            // Own session and process group: no controlling terminal, and pidone can signal
            // the whole group (the service and whatever it forks) with kill(-pgid).
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
        } else if libc::setpgid(0, 0) < 0 {
            // Own process group only (see `NEEDS_OWN_SESSION`).
            return Err(io::Error::last_os_error());
        }
        // Dispositions: handlers are reset by exec anyway, but SIG_IGN survives exec, and
        // pidone ignores SIGPIPE, SIGTTIN and SIGTTOU (and may have inherited more ignored
        // signals, e.g. glibc's internal 32/33 from a posix_spawn'ed parent; see
        // `every_signal`). A child must start with defaults.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                default_disposition(sig);
            }
        }
        // The mask is inherited across exec, and pidone's blocks nearly everything.
        crate::signals::unblock_all();

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

/// The kernel's `struct sigaction` on x86_64 (its sigset is one 64-bit word).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// rt_sigaction(sig, SIG_DFL) as a raw system call: glibc's `signal`/`sigaction` refuse its
/// two internal signals (32 and 33), which can arrive here ignored. Async-signal-safe.
fn default_disposition(sig: i32) {
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: a valid action struct of the kernel's layout, no old-action pointer, and the
    // kernel's sigset size (8 bytes).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
    }
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
