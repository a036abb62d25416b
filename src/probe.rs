//! Readiness and health probes.
//!
//! A file probe is answered on the spot. Every other probe runs in a child process, so a slow
//! or hung check can never block the event loop: command probes are ordinary children, and
//! TCP/HTTP probes are a `fork()` of pidone that connects, reports through its exit code and
//! `_exit`s (pidone is single-threaded, so forking without exec is safe). All of them are
//! reaped by the one `waitpid(-1)` loop in the supervisor, which routes the status back here
//! through `describe_exit`; a probe that overruns its timeout is killed by the supervisor.

use crate::config::Probe;
use crate::spawn::{Output, SpawnRequest, spawn};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub enum Started {
    /// Answered without a child.
    Done { ok: bool, detail: String },
    /// Running as this pid.
    Child(i32),
}

const OK: i32 = 0;
const CONNECT_FAILED: i32 = 1;
const BAD_STATUS: i32 = 2;
const NO_ANSWER: i32 = 3;

pub fn start(probe: &Probe, env: &BTreeMap<String, String>, timeout: Duration) -> Started {
    match probe {
        Probe::File(path) => {
            let ok = path.exists();
            Started::Done {
                ok,
                detail: format!(
                    "{} {}",
                    path.display(),
                    if ok { "exists" } else { "does not exist" }
                ),
            }
        }
        Probe::Command(argv) => {
            let req = SpawnRequest {
                argv,
                env,
                working_dir: None,
                umask: None,
                limits: &Default::default(),
                output: Output::Discard,
                take_tty: false,
                notify_fd: None,
                stdin_pipe: None,
                stdout_pipe: None,
            };
            match spawn(&req) {
                Ok(s) => Started::Child(s.pid),
                Err(e) => Started::Done {
                    ok: false,
                    detail: e.message,
                },
            }
        }
        Probe::Tcp(address) => fork_check(|| tcp_check(address, timeout)),
        Probe::Http { address, path } => fork_check(|| http_check(address, path, timeout)),
    }
}

fn fork_check(check: impl FnOnce() -> i32) -> Started {
    // SAFETY: pidone is single-threaded, so the child has a consistent heap; it only runs
    // `check` and leaves with _exit (no destructors, no flushing of pidone's log queue).
    match unsafe { libc::fork() } {
        0 => {
            // pidone's blocked mask (signals.rs) is inherited by fork: without this, the
            // drain's SIGTERM would stay pending here and only the SIGKILL after the grace
            // period would end a hung probe.
            crate::signals::unblock_all();
            let code = check();
            unsafe { libc::_exit(code) }
        }
        -1 => Started::Done {
            ok: false,
            detail: format!("cannot fork a probe: {}", std::io::Error::last_os_error()),
        },
        pid => Started::Child(pid),
    }
}

fn connect(address: &str, timeout: Duration) -> Option<TcpStream> {
    let addr = crate::values::parse_socket_addr(address).ok()?;
    TcpStream::connect_timeout(&addr, timeout).ok()
}

fn tcp_check(address: &str, timeout: Duration) -> i32 {
    if connect(address, timeout).is_some() {
        OK
    } else {
        CONNECT_FAILED
    }
}

/// How much of a response body the HTTP check reads (and discards) after the status line.
const HTTP_DRAIN_LIMIT: usize = 4 << 20;

fn http_check(address: &str, path: &str, timeout: Duration) -> i32 {
    let deadline = std::time::Instant::now() + timeout;
    let Some(mut stream) = connect(address, timeout) else {
        return CONNECT_FAILED;
    };
    let _ = stream.set_write_timeout(Some(timeout));
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: pidone-healthcheck\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return NO_ANSWER;
    }
    // No half-close after the request: some servers (Go's net/http) take an EOF from the
    // client as an aborted request and cancel it. Draining the answer is what avoids resets.
    // Each read waits at most for what is left of the probe's timeout.
    let read_some = |stream: &mut TcpStream, buf: &mut [u8]| -> usize {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return 0;
        }
        stream.read(buf).unwrap_or(0)
    };
    // The status line: "HTTP/1.1 200 OK\r\n" (at most 1 KiB is looked at).
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 16 * 1024];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = read_some(&mut stream, &mut buf);
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let verdict = match std::str::from_utf8(&head[..line_end.min(head.len())])
        .ok()
        .and_then(|line| line.strip_prefix("HTTP/"))
        .and_then(|rest| rest.split_whitespace().nth(1))
    {
        Some(code) if code.len() == 3 && code.starts_with('2') => OK,
        Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => BAD_STATUS,
        _ => return NO_ANSWER,
    };
    // Read the rest of the response before closing: closing a socket with unread data
    // sends a RST, and the server logs ConnectionResetError / "broken pipe" for every check.
    // Bounded in bytes and by the probe's deadline; the verdict is already known.
    let mut drained = head.len();
    while drained < HTTP_DRAIN_LIMIT {
        let n = read_some(&mut stream, &mut buf);
        if n == 0 {
            break;
        }
        drained += n;
    }
    verdict
}

/// Turn a probe child's exit into (passed, human detail).
pub fn describe_exit(probe: &Probe, status: crate::spawn::ExitStatus) -> (bool, String) {
    use crate::spawn::ExitStatus;
    let ok = status.success();
    let detail = match (probe, status) {
        (_, ExitStatus::Signal(libc::SIGKILL)) => "timed out".to_string(),
        (Probe::Command(argv), s) => format!("{} {}", argv[0], s.describe()),
        (Probe::Tcp(a), ExitStatus::Code(OK)) => format!("tcp {a} accepts"),
        (Probe::Tcp(a), _) => format!("tcp {a}: connection failed"),
        (Probe::Http { address, path }, ExitStatus::Code(c)) => match c {
            OK => format!("http {address}{path}: 2xx"),
            CONNECT_FAILED => format!("http {address}{path}: connection failed"),
            BAD_STATUS => format!("http {address}{path}: status not 2xx"),
            _ => format!("http {address}{path}: no valid answer"),
        },
        (p, s) => format!("{p:?} {}", s.describe()),
    };
    (ok, detail)
}
