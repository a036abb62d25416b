//! The cont-init.d (and cont-finish.d) stage, `pidone s6-run-scripts`, and the fork/wait
//! helpers it shares with the shims that run a program of their own (s6-notifyoncheck's
//! checker, with-retries): short-lived processes, not PID 1's loop.

use crate::config::s6::layout;
use std::path::{Path, PathBuf};

/// `pidone s6-run-scripts --stop-on-failure yes|no --command-dir DIR [--time-limit MS] --
/// SCRIPT...`: the cont-init.d stage (and, at stop, cont-finish.d), one script after the other
/// in name order. A failure is reported and, with S6_BEHAVIOUR_IF_STAGE2_FAILS=2, stops the
/// stage (the oneshot fails with its code). With `--time-limit` (S6_KILL_FINISH_MAXTIME for
/// cont-finish.d) a script still running after that long gets SIGKILL, and the next one runs.
pub fn run_scripts(args: &[String]) -> i32 {
    let mut stop = false;
    let mut command_dir = PathBuf::from("/command");
    let mut limit = None;
    let mut i = 0;
    while i < args.len() && args[i] != "--" {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--stop-on-failure", Some(v)) => stop = v == "yes",
            ("--command-dir", Some(v)) => command_dir = v.into(),
            ("--time-limit", Some(v)) if v.parse::<u64>().is_ok() => {
                limit = v.parse().ok().map(std::time::Duration::from_millis)
            }
            _ => {
                eprintln!("s6-run-scripts: unknown argument {:?}", args[i]);
                return crate::exit::USAGE;
            }
        }
        i += 2;
    }
    let mut worst = 0;
    for path in args.iter().skip(i + 1) {
        let script = match layout::script_argv(Path::new(path), &command_dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                worst = 1;
                if stop {
                    return worst;
                }
                continue;
            }
        };
        let code = match fork_exec(&script.argv) {
            Ok(pid) => match wait_child_within(pid, limit) {
                Ok(Some((Some(c), _))) => c,
                Ok(Some((None, Some(sig)))) => 128 + sig,
                Ok(_) => 1,
                Err(limit) => {
                    eprintln!(
                        "{path}: still running after {} ms; killed",
                        limit.as_millis()
                    );
                    worst = 128 + libc::SIGKILL;
                    if stop {
                        return worst;
                    }
                    continue;
                }
            },
            Err(e) => {
                eprintln!("{path}: cannot run it: {e}");
                126
            }
        };
        if code != 0 {
            eprintln!("{path} exited with code {code}");
            worst = code;
            if stop {
                return code;
            }
        }
    }
    // Failures were reported; without S6_BEHAVIOUR_IF_STAGE2_FAILS=2 the start goes on.
    if stop { worst } else { 0 }
}

/// fork + execvp for the s6 helpers (cont-init.d, s6-notifyoncheck's checker): the child
/// keeps this process's group (signals pidone sends to the group reach it). A failed exec
/// exits 127 (not found) or 126. Everything is prepared before the fork. (Not
/// `std::process::Command`: the same in a few hundred bytes instead of several KiB of the
/// static binary.)
pub fn fork_exec(argv: &[String]) -> std::io::Result<i32> {
    use std::ffi::CString;
    let invalid = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| invalid()))
        .collect::<Result<_, _>>()?;
    if args.is_empty() {
        return Err(invalid());
    }
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the child only makes async-signal-safe calls on memory prepared above.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe {
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let not_found = *libc::__errno_location() == libc::ENOENT;
            libc::_exit(if not_found { 127 } else { 126 })
        },
        pid => Ok(pid),
    }
}

/// Wait for child `pid` at most `limit` (None: as long as it takes); at the limit it gets
/// SIGKILL and is reaped, and the limit comes back as the error. (These helpers are short-lived
/// processes of their own, not PID 1's loop: a 20 ms poll of waitpid is their whole timer.)
pub fn wait_child_within(
    pid: i32,
    limit: Option<std::time::Duration>,
) -> Result<Option<ChildStatus>, std::time::Duration> {
    let Some(limit) = limit else {
        return Ok(wait_child(pid, true));
    };
    let start = std::time::Instant::now();
    loop {
        match wait_child(pid, false) {
            Some(status) => return Ok(Some(status)),
            None if start.elapsed() >= limit => {
                // SAFETY: our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                wait_child(pid, true);
                return Err(limit);
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// How a child ended: (exit code, signal), one of them meaningful.
pub type ChildStatus = (Option<i32>, Option<i32>);

/// waitpid; with `block` false, None while the child runs. The status is decoded to
/// (exit code, signal): one of them is meaningful.
pub fn wait_child(pid: i32, block: bool) -> Option<(Option<i32>, Option<i32>)> {
    let mut status = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r <= 0 {
            return if r == 0 {
                None
            } else {
                Some((Some(127), None))
            };
        }
        break;
    }
    if libc::WIFEXITED(status) {
        Some((Some(libc::WEXITSTATUS(status)), None))
    } else {
        Some((None, Some(libc::WTERMSIG(status))))
    }
}
