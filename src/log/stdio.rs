//! Writing to pidone's own stdout and stderr without ever blocking.
//!
//! fd 1 and fd 2 are usually shared: with Docker they are pipes whose write end CMD (which
//! inherits them) and every process it starts hold too; under a terminal they are the tty.
//! Setting O_NONBLOCK with fcntl would change the *open file description* they all share, and
//! a program that does not expect it gets EAGAIN from its own writes (Python's print raises
//! BlockingIOError). So pidone never sets it. Instead, per stream, the first way that works:
//!
//! 1. A regular file or block device: plain writes. A file never waits for a reader, and
//!    pidone must share the file's offset (and O_APPEND) with CMD, so it keeps fd N itself.
//! 2. A description that already has O_NONBLOCK: plain writes (nothing of anyone's changes).
//! 3. Reopen `/proc/self/fd/N` with O_NONBLOCK (and O_NOCTTY: PID 1 must not acquire a
//!    controlling terminal by it): the same pipe, FIFO or tty, but a *private* description
//!    whose flags are pidone's alone. It fails for a pipe created by another uid once pidone
//!    runs as someone else (EACCES: Docker's pipes belong to root; that is why `prepare` runs
//!    before the privilege drop), for a socket (ENXIO) and without /proc.
//! 4. `pwritev2(RWF_NOWAIT)` on fd N: a per-call "do not wait" that leaves the description
//!    alone. Pipes take it since Linux 6.4, sockets earlier; ttys and older kernels answer
//!    EOPNOTSUPP, and then:
//! 5. poll for POLLOUT with a zero timeout, then write at most PIPE_BUF bytes: a pipe reported
//!    writable has room for that much. This is the last resort: if another process (CMD)
//!    fills the pipe between the poll and the write while the reader is stalled, this one
//!    write waits for the reader. It needs a kernel older than 6.4, a pipe pidone cannot
//!    reopen, a racing writer and a stalled reader at once.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Stream;

/// RWF_NOWAIT of pwritev2 (linux/fs.h); not in every libc's headers.
const RWF_NOWAIT: libc::c_int = 0x8;
/// Largest write the poll-first fallback makes (PIPE_BUF: atomic, fits when POLLOUT).
const PIPE_BUF: usize = 4096;

enum Way {
    /// Not looked at yet.
    Unknown,
    Plain,
    Private(OwnedFd),
    NoWait,
    PollFirst,
}

thread_local! {
    static WAYS: RefCell<[Way; 2]> = const { RefCell::new([Way::Unknown, Way::Unknown]) };
}

fn slot(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Choose how to write each stream. Called at the start of run mode, before the privilege
/// drop (the reopen needs the rights of whoever created the pipe); otherwise at first use.
pub fn prepare() {
    for stream in [Stream::Stdout, Stream::Stderr] {
        WAYS.with(|w| {
            let mut w = w.borrow_mut();
            if matches!(w[slot(stream)], Way::Unknown) {
                w[slot(stream)] = choose(stream.fd());
            }
        });
    }
}

fn choose(fd: i32) -> Way {
    // SAFETY: fstat/fcntl on a descriptor number; a closed one just fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Way::Plain; // closed: writes fail and the queue is discarded
    }
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFREG || kind == libc::S_IFBLK {
        return Way::Plain;
    }
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
        return Way::Plain;
    }
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: a NUL-terminated path; the result is a new descriptor we own.
    let private = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if private >= 0 {
        // SAFETY: `private` was just opened and is owned by nobody else.
        let private = unsafe { OwnedFd::from_raw_fd(private) };
        let mut again: libc::stat = unsafe { std::mem::zeroed() };
        // The same object (the magic link cannot be swapped, but say what is checked).
        if unsafe { libc::fstat(private.as_raw_fd(), &mut again) } == 0
            && (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino)
        {
            return Way::Private(private);
        }
    }
    Way::NoWait
}

/// The descriptor to poll for POLLOUT.
pub fn poll_fd(stream: Stream) -> i32 {
    prepare();
    WAYS.with(|w| match &w.borrow()[slot(stream)] {
        Way::Private(fd) => fd.as_raw_fd(),
        _ => stream.fd(),
    })
}

/// Write from `front` then `back` (the two halves of a ring buffer) without blocking.
/// Ok(0) when the stream takes nothing now (EAGAIN); Err for a stream that is gone.
pub fn write(stream: Stream, front: &[u8], back: &[u8]) -> std::io::Result<usize> {
    prepare();
    loop {
        let result = WAYS.with(|w| {
            let w = w.borrow();
            match &w[slot(stream)] {
                Way::Unknown | Way::Plain => writev(stream.fd(), front, back, None),
                Way::Private(fd) => writev(fd.as_raw_fd(), front, back, None),
                Way::NoWait => writev(stream.fd(), front, back, Some(RWF_NOWAIT)),
                Way::PollFirst => poll_then_write(stream.fd(), front),
            }
        });
        match result {
            Ok(n) => return Ok(n),
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(0),
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP) => {
                    // pwritev2 without RWF_NOWAIT support for this file: the last resort.
                    WAYS.with(|w| w.borrow_mut()[slot(stream)] = Way::PollFirst);
                }
                _ => return Err(e),
            },
        }
    }
}

fn writev(
    fd: i32,
    front: &[u8],
    back: &[u8],
    flags: Option<libc::c_int>,
) -> std::io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: front.as_ptr() as *mut libc::c_void,
            iov_len: front.len(),
        },
        libc::iovec {
            iov_base: back.as_ptr() as *mut libc::c_void,
            iov_len: back.len(),
        },
    ];
    let count = if back.is_empty() { 1 } else { 2 };
    // SAFETY: the iovecs point into live slices for the duration of the call.
    let n = match flags {
        None => unsafe { libc::writev(fd, iov.as_ptr(), count) },
        // The raw syscall: musl's wrapper may be missing. Offset -1 = the file position
        // (on 64-bit targets the offset is the low word alone).
        Some(flags) => unsafe {
            libc::syscall(
                libc::SYS_pwritev2,
                fd,
                iov.as_ptr(),
                count,
                -1i64,
                0i64,
                flags,
            ) as isize
        },
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn poll_then_write(fd: i32, data: &[u8]) -> std::io::Result<usize> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready <= 0 || pfd.revents & libc::POLLOUT == 0 {
        if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(std::io::Error::from_raw_os_error(libc::EPIPE));
        }
        return Ok(0);
    }
    let len = data.len().min(PIPE_BUF);
    // SAFETY: writing a live slice.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), len) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_is_reported_without_blocking_and_its_flags_stay() {
        let (r, w) = crate::spawn::pipe_cloexec().unwrap();
        let way = choose(w.as_raw_fd());
        assert!(
            matches!(way, Way::Private(_)),
            "a pipe of our own uid is reopened"
        );
        let Way::Private(private) = way else {
            unreachable!()
        };
        let block = [b'x'; 65536];
        let mut total = 0;
        loop {
            match writev(private.as_raw_fd(), &block, &[], None) {
                Ok(n) => total += n,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
                    break;
                }
            }
        }
        assert!(total >= 4096);
        // SAFETY: fcntl on our own descriptor.
        let shared = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(
            shared & libc::O_NONBLOCK,
            0,
            "the shared description was changed"
        );
        drop(r);
    }

    #[test]
    fn rwf_nowait_or_its_fallback_never_blocks_on_a_full_pipe() {
        let (_r, w) = crate::spawn::pipe_cloexec().unwrap();
        let block = [b'x'; 65536];
        let mut zero_seen = false;
        for _ in 0..64 {
            let n = match writev(w.as_raw_fd(), &block, &[], Some(RWF_NOWAIT)) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    poll_then_write(w.as_raw_fd(), &block).unwrap()
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => 0,
                Err(e) => panic!("{e}"),
            };
            if n == 0 {
                zero_seen = true;
                break;
            }
        }
        assert!(zero_seen, "the pipe never reported full");
    }
}
