//! `with-retries [-n TRIES] [-t MS] PROG...`: s6-overlay's helper for a command that may fail
//! at first (a database not listening yet). PROG runs up to TRIES times (default 3), one
//! try right after the other; each try that is still running after MS milliseconds
//! (default 500; 0 = no limit) gets SIGTERM and counts as failed, as s6-maximumtime does.
//! The first try that exits 0 ends it with 0; when every try failed, it exits 1.

use super::{EXIT_USAGE, fail};
use std::time::{Duration, Instant};

const TOOL: &str = "with-retries";

pub(super) fn with_retries(args: &[String]) -> i32 {
    let (tries, limit, prog) = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                TOOL,
                EXIT_USAGE,
                format!("{e} (usage: with-retries [-n tries] [-t milliseconds] prog...)"),
            );
        }
    };
    for attempt in 1..=tries {
        reap_finished();
        let pid = match crate::s6::fork_exec(prog) {
            Ok(pid) => pid,
            Err(e) => return fail(TOOL, 111, format!("cannot fork: {e}")),
        };
        match wait(pid, limit) {
            Some(0) => return 0,
            Some(code) => {
                eprintln!(
                    "{TOOL}: {} exited with code {code} (try {attempt} of {tries})",
                    prog[0]
                );
            }
            None => {
                eprintln!(
                    "{TOOL}: {} still running after {} ms: sent SIGTERM (try {attempt} of {tries})",
                    prog[0],
                    limit.unwrap_or_default().as_millis()
                );
            }
        }
    }
    fail(
        TOOL,
        1,
        format!("{} failed {tries} time(s); giving up", prog[0]),
    )
}

/// (tries, time limit per try, PROG). Options as getopt reads them: `-n3`, `-n 3`.
fn parse(args: &[String]) -> Result<(u64, Option<Duration>, &[String]), String> {
    let mut tries: u64 = 3;
    let mut limit_ms: u64 = 500;
    let (opts, prog) = super::getopt::values(args, "nt")?;
    for (opt, value) in opts {
        let n: u64 = value
            .parse()
            .map_err(|_| format!("-{opt}: {value:?} is not a number"))?;
        match opt {
            'n' => tries = n,
            _ => limit_ms = n,
        }
    }
    if prog.is_empty() {
        return Err("no command to run".into());
    }
    let limit = (limit_ms > 0).then(|| Duration::from_millis(limit_ms));
    Ok((tries, limit, prog))
}

/// The try's exit code (128+N for a signal), or None when it outlived the limit (then it
/// got SIGTERM and is left to exit on its own: this process does not wait for it, as
/// s6-maximumtime does not). A short-lived helper, not PID 1's loop: a 10 ms poll is its timer.
fn wait(pid: i32, limit: Option<Duration>) -> Option<i32> {
    let start = Instant::now();
    loop {
        let block = limit.is_none();
        if let Some((code, signal)) = crate::s6::wait_child(pid, block) {
            return Some(code.unwrap_or_else(|| 128 + signal.unwrap_or(0)));
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Tries that were cut and have exited since: reaped, so none stays a zombie.
fn reap_finished() {
    let mut status = 0;
    // SAFETY: waitpid on our own children, never blocking.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_as_getopt_reads_them() {
        let a = words("-n 5 -t 100 curl -f x");
        let (n, t, p) = parse(&a).unwrap();
        assert_eq!((n, t, p), (5, Some(Duration::from_millis(100)), &a[4..]));
        let a = words("-n2 -t0 -- false");
        let (n, t, p) = parse(&a).unwrap();
        assert_eq!((n, t, p.len()), (2, None, 1));
        let a = words("true");
        assert_eq!(parse(&a).unwrap().0, 3);
        assert!(
            parse(&words("-n x true"))
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse(&words("-q 1 true"))
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(parse(&words("-n 1")).unwrap_err().contains("no command"));
    }
}
