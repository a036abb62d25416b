//! `finish` scripts: `pidone s6-finish-wrap NAME TIMEOUT_MS DIR FINISH_ARGC FINISH... RUN...`
//! is the command of a longrun that has one. It runs `run` as its child, and when that ends
//! runs `finish` as s6-supervise does: arguments `EXITCODE SIGNAL` (256 and the signal
//! number when `run` was killed), the service directory as cwd, killed after TIMEOUT_MS
//! (`timeout-finish`, 5000 by default). Exit 125 from finish means "do not restart": the
//! wrapper tells pidone (control request `once`). Then it ends as `run` ended, so pidone's
//! restart policy and exit-code reports see the daemon's own status.
//!
//! Signals: pidone signals the whole process group (stop signal, `s6-svc -t/-h`), which the
//! daemon is in; the wrapper ignores those signals itself and resets them for its children.
//! SIGKILL at the stop timeout ends both, as it ends s6-supervise's finish too.

use super::{fork_exec, wait_child, wait_child_within};
use std::path::Path;
use std::time::Duration;

/// Exit code of `finish` that means "do not restart the service".
pub const DO_NOT_RESTART: i32 = 125;
/// s6-supervise's default `timeout-finish`.
pub const DEFAULT_TIMEOUT: Duration = crate::config::s6::translate::DEFAULT_FINISH_TIMEOUT;

/// Signals meant for the daemon that reach the wrapper through the process group.
const GROUP_SIGNALS: &[i32] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGWINCH,
    libc::SIGCONT,
];

fn set_group_signals(handler: libc::sighandler_t) {
    for &sig in GROUP_SIGNALS {
        // SAFETY: installing SIG_IGN/SIG_DFL has no handler code to be unsafe about.
        unsafe { libc::signal(sig, handler) };
    }
}

/// The wrapper's main; see the module comment for the arguments.
pub fn wrap(args: &[String]) -> i32 {
    let usage = || {
        eprintln!("s6-finish-wrap: usage: NAME TIMEOUT_MS DIR FINISH_ARGC FINISH... RUN...");
        crate::exit::USAGE
    };
    let [name, timeout, dir, argc, rest @ ..] = args else {
        return usage();
    };
    let (Ok(timeout), Ok(argc)) = (timeout.parse::<u64>(), argc.parse::<usize>()) else {
        return usage();
    };
    if argc == 0 || rest.len() <= argc {
        return usage();
    }
    let (finish, run) = rest.split_at(argc);
    set_group_signals(libc::SIG_IGN);
    let status = match fork_exec(run, None, GROUP_SIGNALS) {
        Ok(pid) => wait_child(pid, true),
        Err(e) => {
            eprintln!("{name}: cannot run {}: {e}", run[0]);
            return 126;
        }
    };
    let (code_arg, sig) = match status {
        Some((Some(c), _)) => (c, 0),
        Some((None, Some(s))) => (256, s),
        _ => (256, 0),
    };
    let finish_code = run_finish(name, finish, Path::new(dir), code_arg, sig, timeout);
    if finish_code == Some(DO_NOT_RESTART) {
        let run_dir = std::env::var_os("PIDONE_RUN_DIR")
            .map_or_else(|| "/run/pidone".into(), std::path::PathBuf::from);
        match crate::control::request(&run_dir, &["once".into(), name.clone()]) {
            Ok(r) if r.code == 0 => {}
            Ok(r) => eprintln!("{name}: finish exited 125, but pidone answered: {}", r.text),
            Err(e) => eprintln!("{name}: finish exited 125, but pidone is not reachable: {e}"),
        }
    }
    if sig != 0 {
        // End as the daemon ended: by its signal.
        // SAFETY: default disposition, then the signal to ourselves.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return 128 + sig;
    }
    code_arg
}

/// Run finish with a time limit; its exit code (None: it could not run or was killed).
fn run_finish(
    name: &str,
    finish: &[String],
    dir: &Path,
    code: i32,
    sig: i32,
    timeout_ms: u64,
) -> Option<i32> {
    let mut argv = finish.to_vec();
    argv.extend([code.to_string(), sig.to_string()]);
    let child = match fork_exec(&argv, Some(dir), GROUP_SIGNALS) {
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("{name}: cannot run finish {}: {e}", finish[0]);
            return None;
        }
    };
    let limit = if timeout_ms == 0 {
        DEFAULT_TIMEOUT
    } else {
        Duration::from_millis(timeout_ms)
    };
    match wait_child_within(child, Some(limit)) {
        Ok(status) => status.and_then(|(code, _)| code),
        Err(limit) => {
            eprintln!(
                "{name}: finish still running after {} ms; killed",
                limit.as_millis()
            );
            None
        }
    }
}
