//! pidone's own log lines and the service output lines, in text or JSON.
//!
//! Files:
//! - `mod.rs`: levels, formats, and the lines themselves (own lines, service lines);
//! - `relay.rs`: the bounded queue per stream and the flow control of service output (when
//!   the loop reads the services' pipes, when lines are dropped and how that is reported);
//! - `stdio.rs`: writing to pidone's stdout/stderr without ever blocking, and without
//!   changing the file description pidone shares with CMD.

mod relay;
mod stdio;

pub use relay::{
    EXIT_FLUSH, check_stalls, count_dropped, exit_deadline, flush_at_exit, flush_ready,
    open_for_services, read_budget, round_done, waiting,
};
pub use stdio::prepare as prepare_outputs;

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

/// From now on the event loop flushes the queues (`waiting`, `flush_ready`) instead of each
/// line being flushed as it is queued; `flush_at_exit` ends that.
pub fn loop_flushes() {
    relay::set_deferred(true);
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
    relay::push_own(Stream::Stderr, &[line.as_bytes()]);
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
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of a service's output (without its newline; as text, invalid UTF-8 replaced,
/// converted once by the caller, which also records it for `pidone logs`), formatted and
/// queued. False when the stream takes no more service lines now: the caller stops reading
/// (`log::relay`).
pub fn service_line(
    service: &str,
    stream: Stream,
    prefix: bool,
    text: &str,
    truncated: bool,
) -> bool {
    if relay::dropped_while_overrun(stream) {
        return true;
    }
    match format() {
        Format::Text => {
            // In pieces, without a formatted copy: this is the relay's hot path.
            let mark: &[u8] = if truncated { b" [truncated]" } else { b"" };
            if prefix {
                relay::push_service(
                    stream,
                    &[
                        b"[",
                        service.as_bytes(),
                        b"] ",
                        text.as_bytes(),
                        mark,
                        b"\n",
                    ],
                )
            } else {
                relay::push_service(stream, &[text.as_bytes(), mark, b"\n"])
            }
        }
        Format::Json => {
            let mut obj = crate::json::Object::new()
                .str("time", &rfc3339_now())
                .str("service", service)
                .str("stream", stream.name())
                .str("line", text);
            if truncated {
                obj = obj.bool("truncated", true);
            }
            relay::push_service(stream, &[obj.finish().as_bytes(), b"\n"])
        }
    }
}

/// One line written by a pidone child in pidone's own format (the render step): queued as it
/// is, so `--log-format json` does not wrap pidone's JSON lines as strings in other JSON lines.
pub fn own_output_line(stream: Stream, line: &[u8]) -> bool {
    relay::push_service(stream, &[line, b"\n"])
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
