//! `printcontenv NAME`: print one variable of the container environment and a newline, as
//! s6-overlay's does: the file `/run/s6/container_environment/NAME` as it is now (a
//! oneshot may have written it), or, with `S6_KEEP_ENV` set to a non-zero number, the
//! variable from this process's own environment. Exit 1 when the variable is not set (in
//! the keep-env case: not set or empty), which scripts use as an answer
//! (`backtick -D default { printcontenv X }`), so that case prints nothing.

use super::{EXIT_MISSING, EXIT_USAGE, container_environment, fail, s6_run_dir};
use std::io::Write;

/// Values are read up to this size: a container environment file is a variable's value.
const VALUE_LIMIT: u64 = crate::safe_read::SECRET_LIMIT;

pub(super) fn printcontenv(args: &[String]) -> i32 {
    const TOOL: &str = "printcontenv";
    let Some(name) = args.first() else {
        return fail(
            TOOL,
            EXIT_USAGE,
            "too few arguments (usage: printcontenv NAME)",
        );
    };
    // A name is one file of the directory, never a path out of it.
    if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
        return fail(TOOL, EXIT_USAGE, format!("{name:?} is not a variable name"));
    }
    let value: Vec<u8> = if keep_env() {
        match std::env::var_os(name) {
            Some(v) if !v.is_empty() => std::os::unix::ffi::OsStringExt::into_vec(v),
            _ => return 1,
        }
    } else {
        let dir = container_environment(&s6_run_dir());
        if !dir.is_dir() {
            return fail(
                TOOL,
                EXIT_MISSING,
                format!(
                    "{} is missing (is pidone running in s6 mode?)",
                    dir.display()
                ),
            );
        }
        let file = dir.join(name);
        match crate::safe_read::read(&file, VALUE_LIMIT, crate::safe_read::Symlinks::Follow) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 1,
            Err(e) => return fail(TOOL, 1, format!("{}: {e}", file.display())),
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(&value).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => 0,
        Err(e) => fail(TOOL, 111, format!("cannot write: {e}")),
    }
}

/// s6-overlay reads `S6_KEEP_ENV` as a number: anything but 0 (or unset, or not a number)
/// keeps the environment.
pub(super) fn keep_env() -> bool {
    std::env::var("S6_KEEP_ENV")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|n| n != 0)
}
