//! Skipped tests are visible as skipped. libtest has no runtime "skip": a test that cannot run
//! here (no root, no PID namespace, no Docker) and returns early is reported `ok`, and what it
//! printed is captured and hidden. So `skip!` writes `SKIPPED: test: reason` straight to fd 2
//! (not captured), and the test binary ends with a list of every skipped test and its reason,
//! printed after libtest's own `test result:` line (an `atexit` handler, registered at the first
//! skip). With `PIDONE_NO_SKIPS=1` (CI, which runs as root with Docker) a skip is a failure.

use std::sync::{Mutex, Once};

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SUMMARY_AT_EXIT: Once = Once::new();

fn write_fd(fd: i32, text: &str) {
    // SAFETY: writing a valid buffer to a standard descriptor of this process.
    unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
}

/// Record the current test as skipped (see the module comment); the caller returns right after.
/// Prefer the `skip!` macro, which also returns.
pub fn skip_test(reason: &str) {
    // libtest names each test's thread after the test (with --test-threads=1 it may be "main").
    let name = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("this test")
        .to_string();
    if std::env::var("PIDONE_NO_SKIPS").as_deref() == Ok("1") {
        panic!("{name} cannot run here and PIDONE_NO_SKIPS=1 forbids skipping it: {reason}");
    }
    write_fd(2, &format!("SKIPPED: {name}: {reason}\n"));
    if let Ok(mut list) = SKIPPED.lock() {
        list.push(format!("{name}: {reason}"));
    }
    SUMMARY_AT_EXIT.call_once(|| {
        // SAFETY: registers a plain extern "C" function without arguments.
        unsafe { libc::atexit(print_summary) };
    });
}

extern "C" fn print_summary() {
    // try_lock: never block the exit, even if a test thread died holding the lock
    let Ok(list) = SKIPPED.try_lock() else { return };
    if list.is_empty() {
        return;
    }
    let mut text = format!(
        "SKIPPED: {} test(s) of this binary counted as passed above did not run:\n",
        list.len()
    );
    for entry in list.iter() {
        text.push_str(&format!("    {entry}\n"));
    }
    text.push('\n');
    write_fd(1, &text);
}

/// `skip!("needs root to ...")`: report the current test as skipped with the reason, and return.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        common::skip_test(&format!($($arg)*));
        return;
    }};
}
