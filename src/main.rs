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

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: trimmed_dlmalloc::TrimmedDlmalloc = trimmed_dlmalloc::TrimmedDlmalloc::new();

/// On musl, dlmalloc instead of musl's own malloc, which made rendering (thousands of small
/// allocations in Tera) about 40 % slower than glibc's (README.md, "Dependencies"). dlmalloc
/// gives free memory at the top of its heap back to the kernel only beyond 2 MiB, so an idle
/// PID 1 would keep the peak of its start-up (parsing 500 service files) resident; glibc trims
/// beyond 128 KiB. So the top is trimmed to 128 KiB here too: on every free of 64 KiB or more,
/// and on every 256th free (sys_trim does nothing when the top is already small).
#[cfg(target_env = "musl")]
mod trimmed_dlmalloc {
    use std::alloc::{GlobalAlloc, Layout};
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    const KEEP_AT_TOP: usize = 128 * 1024;
    const LARGE_FREE: usize = 64 * 1024;
    const TRIM_EVERY: u32 = 256;

    pub struct TrimmedDlmalloc {
        heap: UnsafeCell<dlmalloc::Dlmalloc>,
        // pidone has one thread; the lock only keeps this sound if that ever changes.
        locked: AtomicBool,
        frees: AtomicU32,
    }

    // SAFETY: every access to `heap` holds `locked`.
    unsafe impl Sync for TrimmedDlmalloc {}

    impl TrimmedDlmalloc {
        pub const fn new() -> Self {
            TrimmedDlmalloc {
                heap: UnsafeCell::new(dlmalloc::Dlmalloc::new()),
                locked: AtomicBool::new(false),
                frees: AtomicU32::new(0),
            }
        }

        fn with<T>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> T) -> T {
            while self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                std::hint::spin_loop();
            }
            // SAFETY: the lock is held, so this is the only reference.
            let result = f(unsafe { &mut *self.heap.get() });
            self.locked.store(false, Ordering::Release);
            result
        }
    }

    // SAFETY: each method forwards to dlmalloc with the same layout, under the lock.
    unsafe impl GlobalAlloc for TrimmedDlmalloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.with(|h| unsafe { h.malloc(layout.size(), layout.align()) })
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            self.with(|h| unsafe { h.calloc(layout.size(), layout.align()) })
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let nth = self.frees.fetch_add(1, Ordering::Relaxed);
            self.with(|h| unsafe {
                h.free(ptr, layout.size(), layout.align());
                if layout.size() >= LARGE_FREE || nth.is_multiple_of(TRIM_EVERY) {
                    h.trim(KEEP_AT_TOP);
                }
            })
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            self.with(|h| unsafe { h.realloc(ptr, layout.size(), layout.align(), new_size) })
        }
    }
}

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
