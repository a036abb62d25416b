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
static ALLOCATOR: allocator::PerProcess = allocator::PerProcess::new();

/// On musl, which allocator serves this process is chosen once, at the top of `main`, before
/// anything is allocated. Measured against glibc's malloc (docs/dependencies.md):
/// - musl's own malloc makes rendering (Tera: many small allocations) about 30 % slower, but an
///   idle PID 1 with 500 services holds 0.6 MiB less than glibc's;
/// - dlmalloc renders as fast as glibc, but keeps the fragmented heap of PID 1's start-up
///   resident (+1.2 MiB idle at 500 services, even with its top trimmed).
///
/// So `render` and `check` (the template work: PID 1 runs its render step as a separate
/// `/proc/self/exe render` process) use dlmalloc, and everything else, PID 1 above all, musl's.
#[cfg(target_env = "musl")]
mod allocator {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    const UNDECIDED: u8 = 0;
    const MUSL: u8 = 1;
    const DLMALLOC: u8 = 2;

    pub struct PerProcess {
        choice: AtomicU8,
        heap: UnsafeCell<dlmalloc::Dlmalloc>,
        // pidone has one thread; the lock only keeps this sound if that ever changes.
        locked: AtomicBool,
    }

    // SAFETY: every access to `heap` holds `locked`.
    unsafe impl Sync for PerProcess {}

    impl PerProcess {
        pub const fn new() -> Self {
            PerProcess {
                choice: AtomicU8::new(UNDECIDED),
                heap: UnsafeCell::new(dlmalloc::Dlmalloc::new()),
                locked: AtomicBool::new(false),
            }
        }

        /// Use dlmalloc from now on; only takes effect before the first allocation (memory
        /// must be freed by the allocator that gave it).
        pub fn choose_dlmalloc(&self) {
            let _ = self.choice.compare_exchange(
                UNDECIDED,
                DLMALLOC,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }

        /// The choice, fixed at the first allocation if nobody chose before.
        fn dlmalloc(&self) -> bool {
            match self.choice.compare_exchange(
                UNDECIDED,
                MUSL,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => false,
                Err(choice) => choice == DLMALLOC,
            }
        }

        fn with_heap<T>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> T) -> T {
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

    // SAFETY: each method forwards to one allocator, the same for the whole process, with the
    // caller's layout.
    unsafe impl GlobalAlloc for PerProcess {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if self.dlmalloc() {
                self.with_heap(|h| unsafe { h.malloc(layout.size(), layout.align()) })
            } else {
                unsafe { System.alloc(layout) }
            }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if self.dlmalloc() {
                self.with_heap(|h| unsafe { h.calloc(layout.size(), layout.align()) })
            } else {
                unsafe { System.alloc_zeroed(layout) }
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if self.dlmalloc() {
                self.with_heap(|h| unsafe { h.free(ptr, layout.size(), layout.align()) })
            } else {
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if self.dlmalloc() {
                self.with_heap(|h| unsafe {
                    h.realloc(ptr, layout.size(), layout.align(), new_size)
                })
            } else {
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }
    }
}

/// Is this a `render` or `check` process (`pidone render ...`, as the help shows it and as
/// PID 1 starts its render step)? Read from argv without allocating: see `allocator`.
#[cfg(target_env = "musl")]
fn is_template_work(argc: libc::c_int, argv: *const *const libc::c_char) -> bool {
    if argc < 2 {
        return false;
    }
    // SAFETY: argv[1] exists (argc >= 2) and is NUL-terminated.
    let first = unsafe { CStr::from_ptr(*argv.add(1)) }.to_bytes();
    first == b"render" || first == b"check"
}

#[unsafe(no_mangle)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // The arguments come from main's own argc/argv, not std::env::args(): without lang_start,
    // std only learns them from an .init_array hook that glibc calls with (argc, argv, envp)
    // and musl calls with nothing, so on musl std::env::args() is empty.
    #[cfg(target_env = "musl")]
    if is_template_work(argc, argv) {
        ALLOCATOR.choose_dlmalloc();
    }
    let Some(mut args) = arguments(argc, argv) else {
        pidone::log::flush_at_exit();
        return pidone::exit::USAGE;
    };
    let argv0 = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    // Started as `with-contenv`, `s6-svc`, ... (s6-overlay's commands): app::main asks
    // s6::front first.
    let code = pidone::app::main(&argv0, args);
    pidone::log::flush_at_exit();
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
