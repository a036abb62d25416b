// No Rust runtime start-up (`lang_start`): for the main thread it asks libc for the stack
// bounds (which reads /proc/self/maps), maps an alternate signal stack and installs
// SIGSEGV/SIGBUS handlers, only to print "stack overflow" instead of dying of SIGSEGV. That
// is work on every container's start (about 15 µs of `INIT -- /bin/true`, see
// docs/benchmarks.md) for a message. SIGPIPE, which lang_start would ignore, is handled by
// pidone itself in run mode (signals.rs); a client subcommand writing to a closed pipe dies
// of it, as a C tool would.
#![no_main]

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;

#[unsafe(no_mangle)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // The arguments come from main's own argc/argv, not std::env::args(): without lang_start,
    // std only learns them from an .init_array hook that glibc calls with (argc, argv, envp)
    // and musl calls with nothing, so on musl std::env::args() is empty.
    let Some(mut args) = arguments(argc, argv) else {
        pidone::log::flush_blocking();
        return pidone::exit::USAGE;
    };
    let argv0 = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    // Started as `with-contenv`, `s6-svc`, ... (s6-overlay's commands, see s6::shims).
    let code = match pidone::s6::shims::dispatch(&argv0, &args) {
        Some(code) => code,
        None => pidone::app::main(args),
    };
    pidone::log::flush_blocking();
    std::process::exit(code);
}

/// argv as Strings, or None (after saying which one) when an argument is not UTF-8: every
/// option and name pidone takes is text, and a CMD with such bytes is better refused at once
/// than mangled.
fn arguments(argc: libc::c_int, argv: *const *const libc::c_char) -> Option<Vec<String>> {
    let count = usize::try_from(argc).unwrap_or(0);
    let mut args = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: the C runtime passes argc valid, NUL-terminated strings in argv.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        match std::str::from_utf8(arg.to_bytes()) {
            Ok(text) => args.push(text.to_owned()),
            Err(_) => {
                eprintln!(
                    "pidone: argument {i} ({:?}) is not valid UTF-8; pass text (file names with other bytes can be reached through a shell: sh -c '...')",
                    OsStr::from_bytes(arg.to_bytes())
                );
                return None;
            }
        }
    }
    Some(args)
}
