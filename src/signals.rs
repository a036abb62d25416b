//! Signal delivery into the event loop: a handler per signal sets a flag and writes one byte
//! to a self-pipe; the loop polls the pipe's read end and then collects the flags. Until the
//! handlers are installed, every signal is blocked (pending, not lost): see `block_all_early`.
//!
//! Why handlers rather than leaving signals at their defaults: as PID 1 of a PID namespace,
//! a signal with the default disposition sent from inside the namespace is simply dropped by
//! the kernel, so TERM from `docker stop` would do nothing. Why not a blocked mask +
//! signalfd: a blocked mask is inherited across exec, and one missed reset in a child leaves
//! a service deaf to signals; handlers are reset by exec automatically.
//! Coalescing (two HUPs before the loop runs become one) matches what the kernel does for
//! standard signals anyway.

use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

const MAX_SIGNAL: usize = 65;

static PENDING: [AtomicBool; MAX_SIGNAL] = [const { AtomicBool::new(false) }; MAX_SIGNAL];

/// Signals whose default action is a fault, or that cannot be caught: installing a handler for
/// a real SIGSEGV/SIGBUS/... would return to the faulting instruction forever.
const NOT_HANDLED: &[i32] = &[
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
];

pub struct SignalPipe {
    read: UnixStream,
    write: UnixStream,
}

/// First thing in `pidone` (run mode): block every signal, and ignore the three pidone must
/// never act on. SIGPIPE: a closed log reader must not kill PID 1. SIGTTIN/SIGTTOU: pidone
/// writes to a terminal whose foreground group is CMD's, and CMD's `tcsetpgrp` in the child
/// (before exec) needs SIGTTOU ignored there too.
///
/// Why block: as PID 1, a signal with the default disposition is dropped by the kernel, so a
/// `docker stop` during start-up would be lost; a blocked signal stays pending instead and is
/// delivered by `install_handlers` once the loop can act on it. Children start with an empty
/// mask (see spawn.rs), so they never inherit this.
pub fn block_all_early() {
    // SAFETY: sigprocmask/signal on this single-threaded process.
    unsafe {
        for sig in [libc::SIGPIPE, libc::SIGTTIN, libc::SIGTTOU] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

impl SignalPipe {
    pub fn new() -> std::io::Result<SignalPipe> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(SignalPipe { read, write })
    }

    /// Install a handler for every catchable signal, then unblock them all: whatever arrived
    /// since `block_all_early` is delivered now. The loop calls this right after its first
    /// spawns, so the registration work overlaps with the children's exec.
    pub fn install_handlers(&self) {
        let write_fd: RawFd = self.write.as_raw_fd();
        for sig in 1..=libc::SIGRTMAX() {
            if NOT_HANDLED.contains(&sig)
                || matches!(sig, libc::SIGPIPE | libc::SIGTTIN | libc::SIGTTOU)
            {
                continue;
            }
            let idx = sig as usize;
            // SAFETY: the action only stores to a static atomic and calls send(2), both
            // async-signal-safe; errno is preserved by signal-hook around the handler.
            // glibc reserves the first real-time signals for itself; those registrations
            // fail, and that is fine.
            let _ = unsafe {
                signal_hook::low_level::register(sig, move || {
                    PENDING[idx].store(true, Ordering::SeqCst);
                    libc::send(write_fd, b"s".as_ptr().cast(), 1, libc::MSG_DONTWAIT);
                })
            };
        }
        // SAFETY: sigprocmask on this single-threaded process.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_UNBLOCK, &all, std::ptr::null_mut());
        }
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Empty the pipe and return the signals that arrived, lowest number first.
    pub fn take(&self) -> Vec<i32> {
        let mut buf = [0u8; 256];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
        (1..MAX_SIGNAL)
            .filter(|&s| PENDING[s].swap(false, Ordering::SeqCst))
            .map(|s| s as i32)
            .collect()
    }
}
