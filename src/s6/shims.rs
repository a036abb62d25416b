//! The commands s6-overlay scripts call, answered by pidone's own binary when it is started
//! under their name (symlinks in `/command`, see `pidone s6-shims`). s6's own binaries speak
//! s6-supervise's FIFO protocol (`supervise/control`), which pidone does not run; these talk
//! to pidone's control socket instead.
//!
//! Where things are: the control socket in `$PIDONE_RUN_DIR` (default `/run/pidone`), the
//! runtime files under `$PIDONE_S6_RUN_DIR` (default `/run`). A service is named by the last
//! component of its directory (`.` is the current one: a run script's cwd is its service
//! directory), so `/run/service/NAME`, its live directory `/run/s6-rc/servicedirs/NAME`,
//! `/var/run/s6/services/NAME` and the image's own `/etc/s6-overlay/s6-rc.d/NAME` all mean
//! NAME.

mod getopt;
mod logutil;
mod printcontenv;
mod uidgid;
mod with_retries;

use crate::control;
use std::ffi::CString;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// The names pidone answers to, and what each does; `pidone s6-shims DIR` links these.
pub const NAMES: &[(&str, &str)] = &[
    (
        "with-contenv",
        "clear the environment, load /run/s6/container_environment, exec the rest",
    ),
    (
        "printcontenv",
        "print one variable of the container environment",
    ),
    (
        "with-retries",
        "run a command up to -n times (3), each cut at -t ms (500)",
    ),
    (
        "logutil-service",
        "s6-log (Debian's s6 package) on stdin into a log directory, rotated per S6_LOGGING_SCRIPT",
    ),
    (
        "logutil-newfifo",
        "(deprecated by s6-overlay) make a FIFO with a mode and an owner",
    ),
    ("s6-svc", "control a service through pidone"),
    ("s6-svscanctl", "-t: stop the container"),
    ("s6-svwait", "wait until services are up, ready or down"),
    ("s6-svstat", "print a service's state"),
    (
        "s6-setuidgid",
        "run a program as a user (switches when root, execs as is when already that user)",
    ),
    (
        "s6-applyuidgid",
        "run a program with given uid, gid, groups (-u -g -G -U)",
    ),
    (
        "s6-envuidgid",
        "set UID, GID, GIDLIST from an account, for s6-applyuidgid -U",
    ),
    ("s6-notifyoncheck", "readiness by polling a check command"),
    ("halt", "stop the container (the exitcode file's code)"),
    ("poweroff", "stop the container (the exitcode file's code)"),
];

/// Commands of s6-overlay's `/command` that images call and `pidone s6-shims` does not
/// link, with what to do instead.
pub const NOT_LINKED: &[(&str, &str)] = &[
    (
        "execline's programs (execlineb itself when the image has none)",
        "Debian's execline package: `execlineb` is linked to it when it is installed, so install it before running s6-shims",
    ),
    (
        "s6-log",
        "Debian's s6 package (apt-get install s6); logutil-service runs it",
    ),
    (
        "s6-envdir, s6-fghack, other programs of s6",
        "Debian's s6 package where a script needs them (pidone's shims come first on services' PATH)",
    ),
    (
        "s6-rc, s6-rc-db, s6-svscan, s6-supervise, s6-svok, s6-svdt, s6-svlisten*",
        "pidone is the supervisor: `pidone status`, `pidone start|stop|restart NAME`, or the s6-svc/s6-svwait/s6-svstat shims",
    ),
    (
        "fix-attrs, s6-overlay-suexec, s6-linux-init*",
        "s6-overlay's own machinery: fix-attrs.d is not supported (set file modes at build time); the rest is what pidone replaces",
    ),
    (
        "s6-echo, s6-mkdir, s6-chown, s6-rmrf, other s6-portable-utils",
        "not packaged by Debian: use coreutils (echo, mkdir, chown, rm)",
    ),
];

/// s6's "the environment is missing" exit code, which with-contenv uses.
const EXIT_MISSING: i32 = 111;
/// s6's usage error.
const EXIT_USAGE: i32 = 100;

/// If `argv0`'s file name is a shim, run it (None: not a shim, run pidone).
pub fn dispatch(argv0: &str, args: &[String]) -> Option<i32> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    let code = match name {
        "with-contenv" => with_contenv(args),
        "s6-svc" => s6_svc(args),
        "s6-svscanctl" => s6_svscanctl(args),
        "s6-svwait" => s6_svwait(args),
        "s6-svstat" => s6_svstat(args),
        "printcontenv" => printcontenv::printcontenv(args),
        "with-retries" => with_retries::with_retries(args),
        "logutil-service" => logutil::logutil_service(args),
        "logutil-newfifo" => logutil::logutil_newfifo(args),
        "s6-setuidgid" => uidgid::s6_setuidgid(args),
        "s6-applyuidgid" => uidgid::s6_applyuidgid(args),
        "s6-envuidgid" => uidgid::s6_envuidgid(args),
        "s6-notifyoncheck" => s6_notifyoncheck(args),
        "halt" | "poweroff" => halt(name),
        _ => return None,
    };
    Some(code)
}

fn fail(tool: &str, code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("{tool}: {msg}");
    code
}

/// The base of the s6 runtime files (`/run` in an image).
pub fn s6_run_dir() -> PathBuf {
    std::env::var_os("PIDONE_S6_RUN_DIR").map_or_else(|| "/run".into(), PathBuf::from)
}

pub fn container_environment(base: &Path) -> PathBuf {
    base.join("s6/container_environment")
}

pub fn exitcode_file(base: &Path) -> PathBuf {
    base.join("s6-linux-init-container-results/exitcode")
}

fn control_dir() -> PathBuf {
    std::env::var_os("PIDONE_RUN_DIR").map_or_else(|| "/run/pidone".into(), PathBuf::from)
}

fn request(words: &[String]) -> Result<control::Reply, String> {
    control::request(&control_dir(), words)
}

/// `execvp` the argv, or say why not (126 cannot execute, 127 not found, as shells do).
fn exec(tool: &str, argv: &[String]) -> i32 {
    let Some(first) = argv.first() else {
        return fail(tool, EXIT_USAGE, "no command to run");
    };
    let c: Vec<CString> = match argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(c) => c,
        Err(_) => return fail(tool, EXIT_USAGE, "an argument contains a NUL byte"),
    };
    let mut ptrs: Vec<*const libc::c_char> = c.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: a NULL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let e = std::io::Error::last_os_error();
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    fail(tool, code, format!("cannot run {first}: {e}"))
}

/// `with-contenv PROG...`: unless `S6_KEEP_ENV=1`, replace the environment with the
/// container environment as it is now (oneshots may have added to it), then exec PROG.
fn with_contenv(args: &[String]) -> i32 {
    // s6-overlay reads S6_KEEP_ENV as a number (`S6_KEEP_ENV=2` keeps it too).
    if !printcontenv::keep_env() {
        let dir = container_environment(&s6_run_dir());
        let vars = match crate::config::s6::envdir::read(&dir) {
            Ok(v) => v,
            Err(e) => {
                return fail(
                    "with-contenv",
                    EXIT_MISSING,
                    format!("{}: {e} (is pidone running in s6 mode?)", dir.display()),
                );
            }
        };
        let keep: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
            .filter(|(k, _)| k == "PIDONE_RUN_DIR" || k == "PIDONE_S6_RUN_DIR")
            .collect();
        for (k, _) in std::env::vars_os() {
            // SAFETY: single-threaded shim, before exec.
            unsafe { std::env::remove_var(k) };
        }
        for (k, v) in keep {
            // SAFETY: as above.
            unsafe { std::env::set_var(k, v) };
        }
        for (k, v) in vars {
            if let Some(v) = v {
                // SAFETY: as above.
                unsafe { std::env::set_var(k, v) };
            }
        }
    }
    exec("with-contenv", args)
}

/// The service a directory argument names: its last component, `.` and `..` resolved
/// against the current directory first. `NAME/log` is NAME's logger (`NAME-log`, from a
/// services.d `log/` directory) unless it sits directly in a directory of services.
pub fn service_name(arg: &str, cwd: &Path) -> Option<String> {
    let mut full = PathBuf::new();
    for c in cwd.join(arg).components() {
        match c {
            Component::ParentDir => {
                full.pop();
            }
            Component::CurDir => {}
            other => full.push(other),
        }
    }
    let last = full.file_name()?.to_str()?;
    let parent = full
        .parent()
        .and_then(Path::file_name)
        .and_then(|p| p.to_str());
    match parent {
        Some(p) if last == "log" && !SERVICE_DIRS.contains(&p) => {
            Some(crate::config::s6::layout::legacy_logger_name(p))
        }
        _ => Some(last.to_string()),
    }
}

/// Directories whose entries are services (so `<dir>/log` is a service named `log`).
const SERVICE_DIRS: &[&str] = &[
    "service",
    "services",
    "servicedirs",
    "legacy-services",
    "s6-rc.d",
    "services.d",
];

fn names(tool: &str, dirs: &[String]) -> Result<Vec<String>, i32> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    if dirs.is_empty() {
        return Err(fail(tool, EXIT_USAGE, "name a service directory"));
    }
    dirs.iter()
        .map(|d| {
            service_name(d, &cwd)
                .ok_or_else(|| fail(tool, EXIT_USAGE, format!("{d:?} names no service")))
        })
        .collect()
}

/// One control request; a refusal is printed and is the exit code.
fn send(tool: &str, words: &[&str]) -> Result<(), i32> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    match request(&words) {
        Ok(r) if r.code == 0 => Ok(()),
        Ok(r) => Err(fail(tool, r.code, r.text)),
        Err(e) => Err(fail(tool, control_unreachable(), e)),
    }
}

fn control_unreachable() -> i32 {
    crate::exit::UNREACHABLE
}

/// What a service's state is, as the `state` control request reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// up (process running)
    Up,
    /// up and ready
    Ready,
    /// down
    Down,
    /// down, and its finish script is over
    Finished,
}

/// A service's state as the `state` control request reports it.
struct State {
    up: bool,
    ready: bool,
    /// Its finish script still runs (it is down).
    finishing: bool,
}

fn state_of(name: &str) -> Result<(String, State), String> {
    let r = request(&["state".into(), name.into()])?;
    if r.code != 0 {
        return Err(r.text);
    }
    // "up|down|finish PID|- ready|notready"
    let mut w = r.text.split_whitespace();
    let word = w.next();
    let _pid = w.next();
    let state = State {
        up: word == Some("up"),
        finishing: word == Some("finish"),
        ready: w.next() == Some("ready"),
    };
    Ok((r.text.clone(), state))
}

fn matches(want: Want, s: &State) -> bool {
    match want {
        Want::Up => s.up,
        Want::Ready => s.up && s.ready,
        Want::Down => !s.up,
        Want::Finished => !s.up && !s.finishing,
    }
}

/// Poll every 50 ms until every (or, with `any`, one) service is in the wanted state;
/// `timeout` None waits as long as it takes (the caller's script chose that).
fn wait_for(tool: &str, names: &[String], want: Want, any: bool, timeout: Option<Duration>) -> i32 {
    let start = Instant::now();
    loop {
        let mut hits = 0;
        for n in names {
            match state_of(n) {
                Ok((_, state)) if matches(want, &state) => hits += 1,
                Ok(_) => {}
                Err(e) => return fail(tool, 111, e),
            }
        }
        if (any && hits > 0) || hits == names.len() {
            return 0;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return fail(tool, 99, "timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `s6-svc [-wu|-wU|-wd|-wD|-wr|-wR] [-T ms] -udoOrtkhaiq12pcx DIR...`
/// The milliseconds of `-T`/`-t`: the rest of the option word (`-T500`) or the next argument
/// (`-T 500`, which advances `i`). `Some(None)` for 0 (no limit), `None` when not a number.
fn millis_arg(rest: String, args: &[String], i: &mut usize) -> Option<Option<Duration>> {
    let v = if rest.is_empty() {
        *i += 1;
        args.get(*i).cloned().unwrap_or_default()
    } else {
        rest
    };
    let ms = v.parse::<u64>().ok()?;
    Some((ms > 0).then(|| Duration::from_millis(ms)))
}

fn s6_svc(args: &[String]) -> i32 {
    const TOOL: &str = "s6-svc";
    let mut actions: Vec<char> = Vec::new();
    let mut wait: Option<Want> = None;
    let mut timeout = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
        if args[i] == "--" {
            i += 1;
            break;
        }
        let mut chars = args[i][1..].chars();
        while let Some(c) = chars.next() {
            match c {
                'w' => {
                    wait = match chars.next() {
                        Some('u') | Some('r') => Some(Want::Up),
                        Some('U') | Some('R') => Some(Want::Ready),
                        Some('d') => Some(Want::Down),
                        Some('D') => Some(Want::Finished),
                        other => {
                            return fail(TOOL, EXIT_USAGE, format!("unknown wait -w{other:?}"));
                        }
                    }
                }
                'T' => match millis_arg(chars.by_ref().collect(), args, &mut i) {
                    Some(t) => timeout = t,
                    None => return fail(TOOL, EXIT_USAGE, "-T needs milliseconds"),
                },
                'u' | 'd' | 'o' | 'O' | 'r' | 't' | 'k' | 'h' | 'a' | 'i' | 'q' | '1' | '2'
                | 'p' | 'c' => actions.push(c),
                'x' | 'X' => {
                    return fail(
                        TOOL,
                        EXIT_USAGE,
                        "-x/-X (exit the supervisor) has no meaning under pidone; use s6-svscanctl -t to stop the container",
                    );
                }
                other => return fail(TOOL, EXIT_USAGE, format!("unknown option -{other}")),
            }
        }
        i += 1;
    }
    let services = match names(TOOL, &args[i..]) {
        Ok(n) => n,
        Err(code) => return code,
    };
    for name in &services {
        for &a in &actions {
            let signal = |s: &'static str| vec!["signal", name.as_str(), s];
            let words: Vec<&str> = match a {
                'u' => vec!["start", name],
                'd' => vec!["stop", name],
                'r' => vec!["restart", name],
                // once: do not restart it when it exits (and start it, for -o)
                'O' => vec!["once", name],
                'o' => {
                    if let Err(c) = send(TOOL, &["once", name]) {
                        return c;
                    }
                    vec!["start", name]
                }
                't' => signal("TERM"),
                'k' => signal("KILL"),
                'h' => signal("HUP"),
                'a' => signal("ALRM"),
                'i' => signal("INT"),
                'q' => signal("QUIT"),
                '1' => signal("USR1"),
                '2' => signal("USR2"),
                'p' => signal("STOP"),
                _ => signal("CONT"),
            };
            // s6 answers signals to a down service silently: so does this. A service that
            // does not exist is s6-svc's "supervisor not listening" (111).
            match send(TOOL, &words) {
                Ok(()) => {}
                Err(1) if words[0] == "signal" => {}
                Err(crate::exit::USAGE) => return EXIT_MISSING,
                Err(c) => return c,
            }
        }
    }
    match wait {
        Some(w) => wait_for(TOOL, &services, w, false, timeout),
        None => 0,
    }
}

/// `s6-svscanctl -t DIR` (also -q, -b, -7...): stop the container; the exit code is the
/// exitcode file's, as under s6-overlay.
fn s6_svscanctl(args: &[String]) -> i32 {
    let stop = args
        .iter()
        .take_while(|a| a.starts_with('-'))
        .any(|a| a.contains(['t', 'q', 'b', 'h', 'i', '0', '6', '7', '8']));
    if !stop {
        return fail(
            "s6-svscanctl",
            EXIT_USAGE,
            "only -t (and the other ways to stop: -q -b -h -i -0 -6 -7 -8) are answered by pidone",
        );
    }
    shutdown("s6-svscanctl")
}

fn halt(tool: &str) -> i32 {
    shutdown(tool)
}

fn shutdown(tool: &str) -> i32 {
    let code = read_exitcode(&s6_run_dir()).unwrap_or(0);
    match send(tool, &["shutdown", &code.to_string()]) {
        Ok(()) => 0,
        Err(c) => c,
    }
}

/// The exitcode file's number (s6-overlay writes `0` at start; a finish script may write
/// another).
pub fn read_exitcode(base: &Path) -> Option<i32> {
    let path = exitcode_file(base);
    let text =
        crate::safe_read::read_to_string(&path, 64, crate::safe_read::Symlinks::Refuse).ok()?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|c| (0..=255).contains(c))
}

/// `s6-svwait [-u|-U|-d|-D] [-a|-o] [-t ms] DIR...`
fn s6_svwait(args: &[String]) -> i32 {
    const TOOL: &str = "s6-svwait";
    let mut want = Want::Up;
    let mut any = false;
    let mut timeout = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let opt = args[i].clone();
        if opt == "--" {
            i += 1;
            break;
        }
        let mut chars = opt[1..].chars();
        while let Some(c) = chars.next() {
            match c {
                'u' => want = Want::Up,
                'U' => want = Want::Ready,
                'd' => want = Want::Down,
                'D' => want = Want::Finished,
                'a' => any = false,
                'o' => any = true,
                't' => match millis_arg(chars.by_ref().collect(), args, &mut i) {
                    Some(t) => timeout = t,
                    None => return fail(TOOL, EXIT_USAGE, "-t needs milliseconds"),
                },
                other => return fail(TOOL, EXIT_USAGE, format!("unknown option -{other}")),
            }
        }
        i += 1;
    }
    match names(TOOL, &args[i..]) {
        Ok(n) => wait_for(TOOL, &n, want, any, timeout),
        Err(c) => c,
    }
}

/// `s6-svstat DIR`: one line, `up (pid N) ready` / `down`.
fn s6_svstat(args: &[String]) -> i32 {
    let dirs: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    let services = match names("s6-svstat", &dirs) {
        Ok(n) => n,
        Err(c) => return c,
    };
    for n in &services {
        match state_of(n) {
            Ok((text, state)) => {
                let pid = text.split_whitespace().nth(1).unwrap_or_default();
                if state.up {
                    let ready = if state.ready { ", ready" } else { "" };
                    println!("up (pid {pid}){ready}");
                } else if state.finishing {
                    println!("down, finish running (pid {pid})");
                } else {
                    println!("down");
                }
            }
            Err(e) => return fail("s6-svstat", 1, e),
        }
    }
    0
}

/// `s6-notifyoncheck [-d] [-3 fd] [-s ms] [-T ms] [-t ms] [-w ms] [-n tries] [-c CMD] PROG...`:
/// a grandchild (re-parented to pidone, which reaps it) runs the check until it passes, then
/// writes a newline to the notification fd; this process execs PROG.
fn s6_notifyoncheck(args: &[String]) -> i32 {
    const TOOL: &str = "s6-notifyoncheck";
    let mut fd: Option<i32> = None;
    let mut initial = Duration::ZERO;
    let mut every = Duration::from_millis(1000);
    // s6's default: 7 tries; `-n 0` tries for ever.
    let mut tries: Option<u64> = Some(7);
    let mut check_cmd: Option<String> = None;
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let opt = args[i].as_str();
        if opt == "--" {
            i += 1;
            break;
        }
        let value = |i: &mut usize| -> Option<String> {
            if opt.len() > 2 {
                Some(opt[2..].to_string())
            } else {
                *i += 1;
                args.get(*i).cloned()
            }
        };
        let num = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok());
        match opt.as_bytes().get(1) {
            Some(b'd') => {}
            Some(b'3') => fd = num(value(&mut i)).map(|n| n as i32),
            Some(b's') => initial = Duration::from_millis(num(value(&mut i)).unwrap_or(0)),
            Some(b'w') => every = Duration::from_millis(num(value(&mut i)).unwrap_or(1000)),
            Some(b'n') => tries = num(value(&mut i)).map_or(Some(7), |n| (n > 0).then_some(n)),
            Some(b'T') | Some(b't') => {
                value(&mut i);
            }
            Some(b'c') => check_cmd = value(&mut i),
            _ => return fail(TOOL, EXIT_USAGE, format!("unknown option {opt}")),
        }
        i += 1;
    }
    let prog = &args[i.min(args.len())..];
    let fd = match fd {
        Some(fd) => fd,
        None => {
            let text = std::fs::read_to_string("notification-fd").unwrap_or_default();
            match text.trim().parse::<i32>() {
                Ok(fd) => fd,
                Err(_) => {
                    return fail(
                        TOOL,
                        EXIT_USAGE,
                        "no notification fd: give -3 FD or run in a service directory with a notification-fd file",
                    );
                }
            }
        }
    };
    let check: Vec<String> = match &check_cmd {
        Some(cmd) => match which("execlineb") {
            Some(e) => vec![e, "-Pc".into(), cmd.clone()],
            None => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
        },
        None => vec!["./data/check".into()],
    };
    // SAFETY: fork in a single-threaded process; the child only forks again and exits.
    match unsafe { libc::fork() } {
        -1 => return fail(TOOL, 111, std::io::Error::last_os_error()),
        0 => {
            // SAFETY: as above.
            if unsafe { libc::fork() } == 0 {
                std::thread::sleep(initial);
                let mut n = 0u64;
                loop {
                    let ok = super::fork_exec(&check)
                        .ok()
                        .and_then(|pid| super::wait_child(pid, true))
                        .is_some_and(|status| status.0 == Some(0));
                    if ok {
                        // SAFETY: write of one byte to the inherited notification fd.
                        unsafe { libc::write(fd, b"\n".as_ptr().cast(), 1) };
                        unsafe { libc::_exit(0) };
                    }
                    n += 1;
                    if tries.is_some_and(|t| n >= t) {
                        unsafe { libc::_exit(1) };
                    }
                    std::thread::sleep(every);
                }
            }
            // SAFETY: the intermediate child exits at once, so the checker re-parents to
            // pidone (PID 1 or subreaper), which reaps it.
            unsafe { libc::_exit(0) };
        }
        child => {
            let mut status = 0;
            // SAFETY: reap the intermediate child we just forked.
            unsafe { libc::waitpid(child, &mut status, 0) };
        }
    }
    // The daemon must not hold the notification fd: readiness is the checker's to signal.
    // SAFETY: closing an fd number we were told is the notification fd.
    unsafe { libc::close(fd) };
    exec(TOOL, prog)
}

fn which(name: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
        .map(|p| p.display().to_string())
}

/// `pidone s6-shims DIR`: symlinks DIR/NAME → pidone's own binary for every shim, and
/// DIR/execlineb → the image's execlineb when it has one (s6-overlay's `/command` holds it,
/// and run scripts say `#!/command/execlineb -P`). Existing entries are replaced only when
/// they are symlinks (an image's own file is never overwritten).
pub fn write_shims(dir: &Path, self_exe: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut links: Vec<(String, PathBuf)> = NAMES
        .iter()
        .map(|(n, _)| (n.to_string(), self_exe.to_path_buf()))
        .collect();
    for candidate in [
        "/usr/bin/execlineb",
        "/bin/execlineb",
        "/usr/local/bin/execlineb",
    ] {
        if Path::new(candidate).exists() && dir.join("execlineb") != Path::new(candidate) {
            links.push(("execlineb".into(), candidate.into()));
            break;
        }
    }
    let mut made = Vec::new();
    for (name, target) in links {
        let link = dir.join(&name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&link)
                    .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
            }
            Ok(_) => {
                return Err(format!(
                    "{} exists and is not a symlink (s6-overlay's own binary?); delete s6-overlay's /command first or choose another directory",
                    link.display()
                ));
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&target, &link)
            .map_err(|e| format!("cannot create {}: {e}", link.display()))?;
        made.push(link);
    }
    Ok(made)
}

/// s6-overlay's own binaries that pidone answers for, when the image still has them in
/// `dir`: they would talk to s6-supervise, which pidone does not run.
pub fn shadowed(dir: &Path, self_exe: &Path) -> Vec<String> {
    let me = std::fs::canonicalize(self_exe).ok();
    NAMES
        .iter()
        .map(|(n, _)| n)
        .filter(|n| {
            let p = dir.join(n);
            p.exists() && std::fs::canonicalize(&p).ok() != me
        })
        .map(|n| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_option_in_the_word_or_the_next_argument() {
        let args: Vec<String> = ["-t", "250", "x"].map(String::from).to_vec();
        let mut i = 0;
        assert_eq!(
            millis_arg(String::new(), &args, &mut i),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(i, 1, "the value's argument is consumed");
        assert_eq!(millis_arg("0".into(), &args, &mut i), Some(None));
        assert_eq!(millis_arg("soon".into(), &args, &mut i), None);
        assert_eq!(i, 1);
    }

    #[test]
    fn service_names_from_directories() {
        let cwd = Path::new("/etc/s6-overlay/s6-rc.d/web");
        assert_eq!(service_name(".", cwd).as_deref(), Some("web"));
        assert_eq!(
            service_name("/run/service/nginx", cwd).as_deref(),
            Some("nginx")
        );
        assert_eq!(
            service_name("/var/run/s6/services/jvb/", cwd).as_deref(),
            Some("jvb")
        );
        assert_eq!(service_name("../other", cwd).as_deref(), Some("other"));
        assert_eq!(
            service_name("/run/service/app/log", cwd).as_deref(),
            Some("app-log")
        );
        let live = Path::new("/run/s6/legacy-services/app/log");
        assert_eq!(service_name(".", live).as_deref(), Some("app-log"));
        assert_eq!(
            service_name("/run/s6/legacy-services/log", cwd).as_deref(),
            Some("log")
        );
        let logger = Path::new("/etc/services.d/app/log");
        assert_eq!(service_name(".", logger).as_deref(), Some("app-log"));
        assert_eq!(
            service_name("/run/service/log", cwd).as_deref(),
            Some("log")
        );
        assert_eq!(service_name("/", cwd), None);
    }

    #[test]
    fn shims_are_symlinks_and_never_overwrite_files() {
        let t = tempfile::tempdir().unwrap();
        let made = write_shims(t.path(), Path::new("/usr/bin/pidone")).unwrap();
        assert!(made.len() >= NAMES.len());
        let l = std::fs::read_link(t.path().join("s6-svc")).unwrap();
        assert_eq!(l, Path::new("/usr/bin/pidone"));
        // again: replaces its own links
        write_shims(t.path(), Path::new("/usr/bin/pidone")).unwrap();
        std::fs::remove_file(t.path().join("halt")).unwrap();
        std::fs::write(t.path().join("halt"), "real").unwrap();
        let e = write_shims(t.path(), Path::new("/usr/bin/pidone")).unwrap_err();
        assert!(e.contains("not a symlink"), "{e}");
    }

    #[test]
    fn exitcode_file_is_a_small_number() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read_exitcode(t.path()), None);
        std::fs::create_dir_all(t.path().join("s6-linux-init-container-results")).unwrap();
        std::fs::write(exitcode_file(t.path()), "137\n").unwrap();
        assert_eq!(read_exitcode(t.path()), Some(137));
        std::fs::write(exitcode_file(t.path()), "900").unwrap();
        assert_eq!(read_exitcode(t.path()), None);
    }
}
