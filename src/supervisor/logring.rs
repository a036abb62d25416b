//! The recent output of every unit (and pidone's own lines), kept for `pidone logs`.
//!
//! One ring per source, bounded in bytes (`log_keep_bytes`, counted with a fixed overhead
//! per line so that a flood of empty lines is bounded too): when a new line does not fit,
//! the oldest lines go. Memory is therefore at most `log_keep_bytes` per unit plus one ring
//! for pidone, whatever the services print. Every line gets a sequence number across all
//! rings, so lines of several services merge in the order they were read, and a follower
//! (`follow.rs`) asks for "everything after the last number I took".
//!
//! The store is thread-local (pidone has one thread): `log.rs` feeds pidone's own lines
//! through a plain function pointer (`record_own`), without depending on the supervisor.
//! Source 0 is pidone; unit `i` is source `i + 1`.

use crate::log::{Level, Stream};
use std::cell::RefCell;
use std::collections::VecDeque;

/// What a kept line costs besides its text (its header in the ring), for the byte bound.
const LINE_OVERHEAD: usize = 32;
/// The name `pidone logs` shows for pidone's own lines.
pub const OWN: &str = "pidone";

/// One kept line.
pub struct Line {
    pub seq: u64,
    /// Unix time in milliseconds, when the line was read.
    pub time_ms: u64,
    pub stream: Stream,
    pub truncated: bool,
    pub text: Box<str>,
}

struct Ring {
    name: String,
    lines: VecDeque<Line>,
    bytes: usize,
}

#[derive(Default)]
struct Store {
    keep: usize,
    rings: Vec<Ring>,
    next_seq: u64,
}

thread_local! {
    static STORE: RefCell<Store> = RefCell::new(Store::default());
}

/// Start keeping `keep` bytes per source for pidone and these units (in unit order). Rings of
/// names that were there before keep their lines (a reload); others start empty.
pub fn set_sources(keep: usize, units: &[&str]) {
    STORE.with(|s| {
        let mut s = s.borrow_mut();
        s.keep = keep;
        let mut old = std::mem::take(&mut s.rings);
        for name in std::iter::once(OWN).chain(units.iter().copied()) {
            let ring = match old.iter().position(|r| r.name == name) {
                Some(k) => old.swap_remove(k),
                None => Ring {
                    name: name.to_string(),
                    lines: VecDeque::new(),
                    bytes: 0,
                },
            };
            s.rings.push(ring);
        }
    });
    if keep > 0 {
        crate::log::set_tap(Some(record_own));
    }
}

/// A line of unit `unit`'s output, read at `time_ms` (`now_ms`, taken once per read of a
/// pipe: the lines of one read arrived together, and a clock read per line cost the relay
/// 3 % of its time).
pub fn record_unit(unit: usize, stream: Stream, text: &str, truncated: bool, time_ms: u64) {
    record(unit + 1, stream, text, truncated, time_ms);
}

/// One of pidone's own lines, as the text format shows it without `pidone: `.
fn record_own(level: Level, msg: &str) {
    let text = match level {
        Level::Info => msg.to_string(),
        Level::Warn => format!("warning: {msg}"),
        Level::Error => format!("error: {msg}"),
        Level::Debug => format!("debug: {msg}"),
    };
    record(0, Stream::Stderr, &text, false, now_ms());
}

fn record(source: usize, stream: Stream, text: &str, truncated: bool, time_ms: u64) {
    STORE.with(|s| {
        let mut s = s.borrow_mut();
        let keep = s.keep;
        let cost = text.len() + LINE_OVERHEAD;
        if keep == 0 || cost > keep {
            return;
        }
        let seq = s.next_seq;
        let Some(ring) = s.rings.get_mut(source) else {
            return;
        };
        while ring.bytes + cost > keep {
            let Some(old) = ring.lines.pop_front() else {
                break;
            };
            ring.bytes -= old.text.len() + LINE_OVERHEAD;
        }
        ring.bytes += cost;
        ring.lines.push_back(Line {
            seq,
            time_ms,
            stream,
            truncated,
            text: text.into(),
        });
        s.next_seq += 1;
    });
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The source of a name (`pidone` or a unit's name).
pub fn source(name: &str) -> Option<usize> {
    STORE.with(|s| s.borrow().rings.iter().position(|r| r.name == name))
}

/// Every source, pidone first.
pub fn all_sources() -> Vec<usize> {
    STORE.with(|s| (0..s.borrow().rings.len()).collect())
}

/// The sequence number the next line will get.
pub fn next_seq() -> u64 {
    STORE.with(|s| s.borrow().next_seq)
}

/// The last `n` lines of each of `sources`, merged in the order they were read, each
/// formatted by `show(name, line)`.
pub fn tail(sources: &[usize], n: usize, show: &mut dyn FnMut(&str, &Line)) {
    merged(sources, 0, n, show);
}

/// The lines of `sources` numbered `from` or later, in order; returns the number to ask
/// from next time.
pub fn since(sources: &[usize], from: u64, show: &mut dyn FnMut(&str, &Line)) -> u64 {
    merged(sources, from, usize::MAX, show)
}

/// The last `n` lines numbered `from` or later of each source, in sequence order (one sort
/// for both uses: each instance of a sort is code in the static binary).
fn merged(sources: &[usize], from: u64, n: usize, show: &mut dyn FnMut(&str, &Line)) -> u64 {
    STORE.with(|s| {
        let s = s.borrow();
        let mut picked: Vec<(&str, &Line)> = Vec::new();
        for &k in sources {
            if let Some(r) = s.rings.get(k) {
                let newer = r.lines.iter().rev().take_while(|l| l.seq >= from).take(n);
                picked.extend(newer.map(|l| (r.name.as_str(), l)));
            }
        }
        picked.sort_unstable_by_key(|(_, l)| l.seq);
        for (name, line) in picked {
            show(name, line);
        }
        s.next_seq
    })
}

/// One line as `pidone logs` prints it: `TIME [NAME] TEXT`, or a JSON object in the format
/// of `--log-format json`'s service lines.
pub fn format(name: &str, line: &Line, json: bool) -> String {
    let secs = (line.time_ms / 1000) as i64;
    let time = crate::log::rfc3339(secs, (line.time_ms % 1000) as u32);
    if json {
        let stream = match line.stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        let mut obj = crate::json::Object::new()
            .str("time", &time)
            .str("service", name)
            .str("stream", stream)
            .str("line", &line.text);
        if line.truncated {
            obj = obj.bool("truncated", true);
        }
        obj.finish()
    } else {
        let mark = if line.truncated { " [truncated]" } else { "" };
        format!("{time} [{name}] {}{mark}", line.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sources: &[usize], n: usize) -> Vec<String> {
        let mut out = Vec::new();
        tail(sources, n, &mut |name, l| {
            out.push(format!("{name}:{}", l.text))
        });
        out
    }

    #[test]
    fn rings_are_bounded_in_bytes_and_merge_in_order() {
        set_sources(3 * (LINE_OVERHEAD + 2), &["a", "b"]);
        for k in 0..5 {
            record_unit(0, Stream::Stdout, &format!("a{k}"), false, now_ms());
            record_unit(1, Stream::Stdout, &format!("b{k}"), false, now_ms());
        }
        // Three lines of each are kept; the last two of each, merged.
        assert_eq!(texts(&[1, 2], 2), ["a:a3", "b:b3", "a:a4", "b:b4"]);
        assert_eq!(texts(&[1], 10), ["a:a2", "a:a3", "a:a4"]);
        // A line bigger than the whole ring is not kept (and evicts nothing).
        record_unit(0, Stream::Stdout, &"x".repeat(200), false, now_ms());
        assert_eq!(texts(&[1], 10), ["a:a2", "a:a3", "a:a4"]);
        // A reload keeps the rings of the names that stay.
        set_sources(3 * (LINE_OVERHEAD + 2), &["b", "c"]);
        assert_eq!(source("a"), None);
        assert_eq!(texts(&[source("b").unwrap()], 1), ["b:b4"]);
        let from = next_seq();
        record_unit(1, Stream::Stderr, "c0", false, now_ms());
        let mut got = Vec::new();
        let next = since(&all_sources(), from, &mut |n, l| {
            got.push(format!("{n}:{}", l.text))
        });
        assert_eq!(got, ["c:c0"]);
        assert_eq!(next, next_seq());
    }
}
