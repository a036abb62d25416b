//! pidone's own log lines and the service output lines, in text or JSON.
//!
//! Everything written to pidone's stdout/stderr goes through one bounded queue per stream.
//! Before the supervisor runs (and in the short-lived subcommands) the queue is flushed
//! synchronously after each line. While the event loop runs, the loop flushes it only as far
//! as `poll` says the stream is writable, in writes of at most PIPE_BUF bytes, so a stalled
//! reader of `docker logs` can never block supervision: when a queue is full, new lines are
//! dropped and counted, and a note with the count is queued once there is room again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn parse(text: &str) -> Result<Level, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            _ => Err(format!(
                "unknown log level {text:?} (use error, warn, info or debug)"
            )),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text.trim() {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown log format {text:?} (use text or json)")),
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JSON: AtomicBool = AtomicBool::new(false);
/// True while the event loop owns flushing (see module comment).
static DEFERRED: AtomicBool = AtomicBool::new(false);

pub fn configure(level: Level, format: Format) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn format() -> Format {
    if JSON.load(Ordering::Relaxed) {
        Format::Json
    } else {
        Format::Text
    }
}

/// Switch between synchronous flushing (false) and flushing by the event loop (true).
pub fn set_deferred(deferred: bool) {
    DEFERRED.store(deferred, Ordering::Relaxed);
    if !deferred {
        flush_blocking();
    }
}

pub fn error(msg: impl AsRef<str>) {
    own_line(Level::Error, msg.as_ref());
}
pub fn warn(msg: impl AsRef<str>) {
    own_line(Level::Warn, msg.as_ref());
}
pub fn info(msg: impl AsRef<str>) {
    own_line(Level::Info, msg.as_ref());
}
pub fn debug(msg: impl AsRef<str>) {
    own_line(Level::Debug, msg.as_ref());
}

/// Receives each of pidone's own lines that is shown (see `set_tap`).
pub type Tap = fn(Level, &str);

thread_local! {
    /// Where pidone's own lines are also kept (the supervisor's ring for `pidone logs`).
    static TAP: std::cell::Cell<Option<Tap>> = const { std::cell::Cell::new(None) };
}

/// Have every shown line of pidone's own also passed to `tap` (None: stop).
pub fn set_tap(tap: Option<Tap>) {
    TAP.with(|t| t.set(tap));
}

fn own_line(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    if let Some(tap) = TAP.with(|t| t.get()) {
        tap(level, msg);
    }
    let line = match format() {
        Format::Text => match level {
            Level::Info => format!("pidone: {msg}\n"),
            Level::Warn => format!("pidone: warning: {msg}\n"),
            _ => format!("pidone: {}: {msg}\n", level.name()),
        },
        Format::Json => {
            let obj = crate::json::Object::new()
                .str("time", &rfc3339_now())
                .str("source", "pidone")
                .str("level", level.name())
                .str("msg", msg)
                .finish();
            format!("{obj}\n")
        }
    };
    push(Stream::Stderr, line.as_bytes());
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn fd(self) -> i32 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of a service's output (without its newline), formatted and queued.
pub fn service_line(service: &str, stream: Stream, prefix: bool, line: &[u8], truncated: bool) {
    let text = String::from_utf8_lossy(line);
    let formatted = match format() {
        Format::Text => {
            let mark = if truncated { " [truncated]" } else { "" };
            if prefix {
                format!("[{service}] {text}{mark}\n")
            } else {
                format!("{text}{mark}\n")
            }
        }
        Format::Json => {
            let mut obj = crate::json::Object::new()
                .str("time", &rfc3339_now())
                .str("service", service)
                .str("stream", stream.name())
                .str("line", &text);
            if truncated {
                obj = obj.bool("truncated", true);
            }
            format!("{}\n", obj.finish())
        }
    };
    push(stream, formatted.as_bytes());
}

/// One line written by a pidone child in pidone's own format (the render step): queued as it
/// is, so `--log-format json` does not wrap pidone's JSON lines as strings in other JSON lines.
pub fn own_output_line(stream: Stream, line: &[u8]) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    push(stream, &bytes);
}

/// Upper bound of queued bytes per stream.
pub const QUEUE_LIMIT: usize = 1 << 20;
/// Largest single write: writes up to PIPE_BUF to a pipe that poll reports writable never block.
const WRITE_CHUNK: usize = 4096;

#[derive(Default)]
struct Queue {
    bytes: VecDeque<u8>,
    dropped_lines: u64,
}

thread_local! {
    static QUEUES: RefCell<[Queue; 2]> = RefCell::new([Queue::default(), Queue::default()]);
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn push(stream: Stream, line: &[u8]) {
    QUEUES.with(|q| {
        let q = &mut q.borrow_mut()[index(stream)];
        if q.bytes.len() + line.len() > QUEUE_LIMIT {
            q.dropped_lines += 1;
            return;
        }
        if q.dropped_lines > 0 {
            let note = format!(
                "pidone: warning: {} output lines dropped: the reader of {} was too slow\n",
                q.dropped_lines,
                stream.name()
            );
            q.bytes.extend(note.as_bytes());
            q.dropped_lines = 0;
        }
        q.bytes.extend(line);
    });
    if !DEFERRED.load(Ordering::Relaxed) {
        flush_blocking();
    }
}

/// Streams with queued bytes (the event loop polls them for POLLOUT).
pub fn pending() -> Vec<Stream> {
    QUEUES.with(|q| {
        let q = q.borrow();
        [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .filter(|s| !q[index(*s)].bytes.is_empty())
            .collect()
    })
}

/// Write one chunk of `stream`'s queue; called when poll reports the fd writable.
/// Errors other than EAGAIN/EINTR (a closed reader) discard the queue: there is nobody to tell.
pub fn flush_some(stream: Stream) {
    QUEUES.with(|q| {
        let q = &mut q.borrow_mut()[index(stream)];
        let (front, _) = q.bytes.as_slices();
        let chunk = &front[..front.len().min(WRITE_CHUNK)];
        if chunk.is_empty() {
            return;
        }
        // SAFETY: writing a valid buffer to a file descriptor we own for the life of the process.
        let n = unsafe { libc::write(stream.fd(), chunk.as_ptr().cast(), chunk.len()) };
        if n > 0 {
            q.bytes.drain(..n as usize);
        } else if n < 0 {
            let err = std::io::Error::last_os_error();
            if !matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) {
                q.bytes.clear();
            }
        }
    });
}

/// Write everything queued, blocking as long as needed (startup, shutdown, subcommands).
pub fn flush_blocking() {
    for stream in [Stream::Stdout, Stream::Stderr] {
        loop {
            let left = QUEUES.with(|q| q.borrow()[index(stream)].bytes.len());
            if left == 0 {
                break;
            }
            let before = left;
            flush_some(stream);
            let after = QUEUES.with(|q| q.borrow()[index(stream)].bytes.len());
            if after == before {
                // Non-blocking fd that is full: wait until it drains.
                let mut pfd = libc::pollfd {
                    fd: stream.fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, 1000) };
                if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                    QUEUES.with(|q| q.borrow_mut()[index(stream)].bytes.clear());
                }
            }
        }
    }
}

/// Current time as RFC 3339 UTC with milliseconds, without a date crate.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_millis())
}

pub fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (year, month, day) = crate::values::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000, 5), "2026-11-18T11:06:40.005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("WARN").unwrap(), Level::Warn);
        assert!(Level::parse("loud").is_err());
        assert!(Format::parse("xml").is_err());
    }
}
