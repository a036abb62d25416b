//! Signal delivery into the event loop: every signal pidone acts on stays blocked for the whole
//! run and is read from a signalfd that the poll loop watches, like any other descriptor.
//!
//! Why blocked + signalfd, and no handlers:
//! - As PID 1 of a PID namespace, a signal with the default disposition sent from inside the
//!   namespace is dropped by the kernel. A *blocked* signal never is: the kernel checks the
//!   mask before the disposition and queues it. So a TERM from `docker stop` is kept even if it
//!   arrives in the first microseconds of start-up, before the loop exists.
//! - Nothing runs asynchronously: no async-signal-safety rules, no errno juggling, no EINTR in
//!   the middle of a write. Start-up costs one `sigprocmask` and one `signalfd`; installing a
//!   handler for each of the 60 catchable signals (the previous design, with signal-hook) cost
//!   0.13 ms of the 0.53 ms start-up overhead measured by `bench/run`.
//!
//! The price is that the mask is inherited across fork *and* exec: every child must start
//! with an empty mask or it is deaf to signals. spawn.rs clears it in both of its spawn paths;
//! probe.rs clears it in its forks too (they never exec).

use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals pidone does not take over:
/// - KILL and STOP cannot be blocked or caught;
/// - the fault signals (SEGV, BUS, ILL, FPE, TRAP, SYS, ABRT) must keep their default action:
///   a real fault while they are blocked would be turned into a kill anyway, and hiding one
///   sent by `kill` would only delay the crash report;
/// - PIPE, TTIN and TTOU are ignored instead (see `take_over`).
const NOT_TAKEN: &[i32] = &[
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
    libc::SIGPIPE,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// The signals pidone reads from its signalfd: every signal number, real-time ones included,
/// except `NOT_TAKEN`. Built with sigaddset so real-time numbers need no `Signal` variant.
fn taken_set() -> SigSet {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset only write into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=libc::SIGRTMAX() {
            if !NOT_TAKEN.contains(&sig) {
                libc::sigaddset(&mut set, sig);
            }
        }
        #[cfg(target_env = "musl")]
        add_glibc_sigrtmin(&mut set);
        SigSet::from_sigset_t_unchecked(set)
    }
}

/// Signal 34 is glibc's SIGRTMIN: what `docker kill -s RTMIN` sends and what every glibc program
/// calls SIGRTMIN. musl's sigaddset refuses 32-34, the numbers musl keeps for itself (glibc
/// refuses only its own 32 and 33), so the musl build would leave 34 unblocked and, as PID 1,
/// never see it. musl's own use of 34 is synchronising threads for setuid and the like, which
/// a single-threaded process skips; so 34 is taken like any other signal, its bit set directly
/// in the kernel's layout (bit N-1, in unsigned longs), which sigprocmask and signalfd pass on.
#[cfg(target_env = "musl")]
fn add_glibc_sigrtmin(set: &mut libc::sigset_t) {
    const GLIBC_SIGRTMIN: usize = 34;
    let bits = libc::c_ulong::BITS as usize;
    let words = (set as *mut libc::sigset_t).cast::<libc::c_ulong>();
    // SAFETY: sigset_t is at least 64 bits of unsigned longs on every Linux target.
    unsafe { *words.add((GLIBC_SIGRTMIN - 1) / bits) |= 1 << ((GLIBC_SIGRTMIN - 1) % bits) };
}

/// Block signal 34 again: musl's posix_spawn restores the caller's mask without it (spawn.rs).
/// Until then, in the few microseconds of a spawn, a 34 sent to PID 1 would be dropped by the
/// kernel, as any signal PID 1 neither blocks nor handles.
#[cfg(target_env = "musl")]
pub fn block_glibc_sigrtmin() {
    // SAFETY: sigset_t is plain data; sigprocmask on this single-threaded process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        add_glibc_sigrtmin(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// First thing in `pidone` (run mode), before any other work: block every signal pidone takes
/// over, so none is lost until the loop reads the signalfd.
///
/// Also sets the dispositions the blocked mask does not cover:
/// - SIGPIPE, SIGTTIN, SIGTTOU ignored: a closed log reader must not kill PID 1, and pidone
///   writes to a terminal whose foreground group is CMD's (TTOU), and CMD's `tcsetpgrp` in the
///   child, before exec, needs TTOU ignored there too. Children get defaults back (spawn.rs).
/// - SIGCHLD at its default: if whoever started pidone left it ignored, the kernel would
///   reap children by itself and pidone would never see an exit status.
pub fn take_over() {
    // SAFETY: signal() with SIG_IGN/SIG_DFL on this single-threaded process.
    unsafe {
        for sig in [libc::SIGPIPE, libc::SIGTTIN, libc::SIGTTOU] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
    // Cannot fail with a valid `how` and set.
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&taken_set()), None);
}

/// An empty signal mask for this process: for children, after fork (async-signal-safe: only
/// sigemptyset and sigprocmask).
pub fn unblock_all() {
    // SAFETY: sigset_t is plain data filled by sigemptyset; sigprocmask on this process.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// The read side: a non-blocking signalfd for the signals blocked by `take_over`.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        let fd =
            SignalFd::with_flags(&taken_set(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Every signal queued since the last call, in arrival order. Standard signals are
    /// coalesced by the kernel while pending (two HUPs become one); real-time signals are
    /// queued one by one and come back one by one.
    pub fn take(&self) -> Vec<i32> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            out.push(info.ssi_signo as i32);
        }
        out
    }
}
