// No Rust runtime start-up (`lang_start`): for the main thread it asks glibc for the stack
// bounds (which reads /proc/self/maps), maps an alternate signal stack and installs
// SIGSEGV/SIGBUS handlers, only to print "stack overflow" instead of dying of SIGSEGV. That
// is work on every container's start (about 15 µs of `INIT -- /bin/true`, see
// docs/benchmarks.md) for a message. std::env::args still works: on glibc, std captures argc
// and argv from an .init_array hook. SIGPIPE, which lang_start would ignore, is handled by
// pidone itself in run mode (signals.rs); a client subcommand writing to a closed pipe dies
// of it, as a C tool would.
#![no_main]

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let args: Vec<String> = args.collect();
    // Started as `with-contenv`, `s6-svc`, ... (s6-overlay's commands, see s6::shims).
    let code = match pidone::s6::shims::dispatch(&argv0, &args) {
        Some(code) => code,
        None => pidone::app::main(args),
    };
    pidone::log::flush_at_exit();
    std::process::exit(code);
}
