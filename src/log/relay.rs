//! The queues between the lines pidone emits and its own stdout/stderr, and the flow control
//! of service output.
//!
//! One bounded queue per stream. Service lines (`supervisor` reads them from the services'
//! pipes with `output::LineReader`) and pidone's own lines go in; the event loop writes them
//! out as far as `poll` says the stream is writable (`flush_ready`), never blocking
//! (`stdio.rs`). Each stream is in one of three states:
//!
//! - **Flowing** — fewer than `LIMIT` bytes queued: the loop reads the stream's service pipes.
//! - **Full** — `LIMIT` reached: the loop stops reading those pipes. What the services write
//!   meanwhile waits in their kernel pipe buffers, and once those are full the kernel blocks
//!   the services' writes: the back-pressure of a plain pipe, with nothing lost and nothing
//!   growing in PID 1. Back to Flowing once the reader has taken half the queue
//!   (`LIMIT / 2` left); the hysteresis makes each resume worth a batch of reads.
//! - **Overrun** — the queue stayed above `LIMIT / 2` for `STALL_LIMIT` after filling: the
//!   reader is slower than the services for longer than the buffer allows (it took less than
//!   `LIMIT / 2` bytes in that time), or stopped reading. Blocking the services any longer
//!   would hang them on a log reader, so their pipes are read again and new service lines for
//!   this stream are dropped and counted, while what is queued still goes out. The pipes are
//!   read in rounds at most every `DROP_ROUND`, `DROP_BUDGET` bytes each, so a service printing
//!   without end costs PID 1 a few reads per second instead of a core, and it is slowed down
//!   rather than spun. Back to Flowing at `LIMIT / 2` with a note that counts the dropped lines.
//!
//! pidone's own lines are never held back: they are queued in any state up to
//! `LIMIT + HEADROOM` bytes and beyond that dropped and counted too. So a queue never holds
//! more than `LIMIT + HEADROOM` bytes (a service line is at most `output::MAX_LINE` bytes,
//! escaped, well under `HEADROOM`, and is only queued below `LIMIT`).
//!
//! Every drop is reported: a note on stderr when an overrun ends, and at the end of the run
//! a note with the run's total per stream. At exit (`flush_at_exit`) the queues get
//! `EXIT_FLUSH` to go out, whatever the reader does; what is left then is counted as dropped.
//! Before the event loop runs (and in the short-lived subcommands) each line is flushed at
//! once, waiting at most `SYNC_WAIT` for a stalled stream, and not again until it moves.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Stream, stdio};

/// Queued bytes at which a stream's service pipes stop being read.
pub const LIMIT: usize = 1 << 20;
/// Room above `LIMIT` for pidone's own lines and the service line that crossed it.
const HEADROOM: usize = 256 << 10;
/// How long a full queue may stay above half full before service lines are dropped.
pub const STALL_LIMIT: Duration = Duration::from_secs(1);
/// Bytes read from one service pipe per loop turn at most, so that a flooding service cannot
/// starve the rest of the loop (its further writes wait in the kernel's pipe buffer).
const READ_BUDGET: usize = 64 * 1024;
/// While overrun, the service pipes of the stream are read (and dropped) at most this often,
const DROP_ROUND: Duration = Duration::from_millis(500);
/// and this much from each pipe per round: a service printing without end is slowed to
/// 32 KiB/s while its lines are dropped, and PID 1 spends almost nothing on it (about 0.2 %
/// of a core in a debug build: each dropped line is still cut, counted and kept for `logs`).
const DROP_BUDGET: usize = 16 * 1024;
/// At exit, how long the queues get to go out.
pub const EXIT_FLUSH: Duration = Duration::from_millis(500);
/// Before the loop, how long one line may wait for a stalled stream.
const SYNC_WAIT: Duration = Duration::from_secs(1);
/// Capacity an emptied queue keeps (one pipe's read budget): enough for a steady stream's
/// turn, small next to the megabyte a burst may have grown it to.
const KEPT_CAPACITY: usize = READ_BUDGET;
/// Bytes written per `flush_ready` at most, so one fast stream cannot hold up the loop.
const FLUSH_BUDGET: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Flow {
    Flowing,
    Full { since: Instant },
    Overrun { next_round: Instant },
}

struct Queue {
    bytes: VecDeque<u8>,
    flow: Flow,
    /// Lines dropped since the last note about them.
    unreported: u64,
    /// Lines dropped in the whole run.
    total_dropped: u64,
    /// A synchronous flush ran out of time and nothing was written since.
    sync_stalled: bool,
    /// While overrun: a service line was dropped in the current round (`round_done`).
    round_used: bool,
}

impl Queue {
    const fn new() -> Queue {
        Queue {
            bytes: VecDeque::new(),
            flow: Flow::Flowing,
            unreported: 0,
            total_dropped: 0,
            sync_stalled: false,
            round_used: false,
        }
    }
    fn drop_lines(&mut self, n: u64) {
        self.unreported += n;
        self.total_dropped += n;
    }
}

struct Relay {
    queues: [Queue; 2],
    /// The event loop flushes (true) or each push flushes at once (false).
    deferred: bool,
    /// Set by the first `flush_at_exit`.
    exit_deadline: Option<Instant>,
}

thread_local! {
    static RELAY: RefCell<Relay> = const {
        RefCell::new(Relay {
            queues: [Queue::new(), Queue::new()],
            deferred: false,
            exit_deadline: None,
        })
    };
}

fn slot(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn with<T>(f: impl FnOnce(&mut Relay) -> T) -> T {
    RELAY.with(|r| f(&mut r.borrow_mut()))
}

/// Notes are pidone's own warnings: queued (on stderr) after the borrow of the relay ends.
fn emit_notes(notes: Vec<String>) {
    for n in notes {
        super::warn(n);
    }
}

fn stream_of(i: usize) -> Stream {
    [Stream::Stdout, Stream::Stderr][i]
}

/// The loop flushes from now on (true), or every line is flushed as it is queued (false).
pub fn set_deferred(deferred: bool) {
    with(|r| r.deferred = deferred);
}

/// Queue one of pidone's own lines, given in pieces.
pub fn push_own(stream: Stream, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    with(|r| {
        let q = &mut r.queues[slot(stream)];
        if q.bytes.len() + len > LIMIT + HEADROOM {
            q.drop_lines(1);
        } else {
            append(q, parts);
        }
    });
    after_push();
}

/// Queue one service line, given in pieces; false when the stream takes no more service
/// lines now (its reader stops and keeps the rest in the pipe). While the stream is overrun
/// the line is dropped and counted instead, and reading goes on (within the round's budget).
pub fn push_service(stream: Stream, parts: &[&[u8]]) -> bool {
    let more = with(|r| {
        let q = &mut r.queues[slot(stream)];
        match q.flow {
            Flow::Overrun { .. } => {
                q.drop_lines(1);
                q.round_used = true;
                true
            }
            Flow::Full { .. } => {
                // Read before the queue filled (the loop checks between pipes, not lines).
                append(q, parts);
                false
            }
            Flow::Flowing => {
                append(q, parts);
                if q.bytes.len() >= LIMIT {
                    q.flow = Flow::Full {
                        since: Instant::now(),
                    };
                    false
                } else {
                    true
                }
            }
        }
    });
    after_push();
    more
}

/// While `stream` is overrun: count one service line as dropped and return true, so the
/// caller drops it without formatting it first (the drop rounds stay cheap).
pub fn dropped_while_overrun(stream: Stream) -> bool {
    with(|r| {
        let q = &mut r.queues[slot(stream)];
        let overrun = matches!(q.flow, Flow::Overrun { .. });
        if overrun {
            q.drop_lines(1);
            q.round_used = true;
        }
        overrun
    })
}

/// A service line that could not be relayed at all (still in its pipe when the exit
/// deadline passed): counted as dropped.
pub fn count_dropped(stream: Stream) {
    with(|r| r.queues[slot(stream)].drop_lines(1));
}

fn append(q: &mut Queue, parts: &[&[u8]]) {
    q.bytes.reserve(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        if p.len() <= 16 {
            // The brackets, the name and the newline around each line: a memcpy call each cost more
            // than the bytes (musl's memcpy has a high start-up cost for tiny copies).
            for &b in *p {
                q.bytes.push_back(b);
            }
        } else {
            q.bytes.extend(p.iter());
        }
    }
}

fn after_push() {
    if !with(|r| r.deferred) {
        flush_sync();
    }
}

/// How many bytes the loop may read from one service pipe of `stream` in this turn.
pub fn read_budget(stream: Stream) -> usize {
    match with(|r| r.queues[slot(stream)].flow) {
        Flow::Overrun { .. } => DROP_BUDGET,
        _ => READ_BUDGET,
    }
}

/// Whether the loop may read the service pipes of `stream` now.
pub fn open_for_services(stream: Stream, now: Instant) -> bool {
    match with(|r| r.queues[slot(stream)].flow) {
        Flow::Flowing => true,
        Flow::Full { .. } => false,
        Flow::Overrun { next_round } => now >= next_round,
    }
}

/// End of a loop turn: an overrun stream whose service lines were read (and dropped) in this
/// turn has its next round `DROP_ROUND` away. One whose round is due but whose pipes had
/// nothing stays open: the loop then sleeps in poll on those pipes, without a timeout.
pub fn round_done(now: Instant) {
    with(|r| {
        for q in &mut r.queues {
            if let Flow::Overrun { next_round } = q.flow
                && now >= next_round
                && q.round_used
            {
                q.flow = Flow::Overrun {
                    next_round: now + DROP_ROUND,
                };
                q.round_used = false;
            }
        }
    });
}

/// Turn a queue that stayed full for `STALL_LIMIT` into an overrun one. Called by the loop
/// each turn; returns the next time this changes something (the poll timeout).
pub fn check_stalls(now: Instant) -> Option<Instant> {
    let mut notes = Vec::new();
    let next = with(|r| {
        let mut next: Option<Instant> = None;
        for (i, q) in r.queues.iter_mut().enumerate() {
            let due = match q.flow {
                Flow::Flowing => continue,
                Flow::Full { since } if now >= since + STALL_LIMIT => {
                    q.flow = Flow::Overrun { next_round: now };
                    q.round_used = false;
                    notes.push(format!(
                        "the reader of {} took less than {} KiB in {}: dropping service output to it until it catches up",
                        stream_of(i).name(),
                        LIMIT / 2 / 1024,
                        crate::values::format_duration(STALL_LIMIT)
                    ));
                    continue;
                }
                Flow::Full { since } => since + STALL_LIMIT,
                Flow::Overrun { next_round } if next_round > now => next_round,
                // A round is open: its pipes are polled, nothing is due by time.
                Flow::Overrun { .. } => continue,
            };
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        next
    });
    emit_notes(notes);
    next
}

/// Streams with queued bytes and the descriptor to poll for POLLOUT.
pub fn waiting() -> Vec<(Stream, i32)> {
    let streams: Vec<Stream> = with(|r| {
        (0..2)
            .filter(|&i| !r.queues[i].bytes.is_empty())
            .map(stream_of)
            .collect()
    });
    streams
        .into_iter()
        .map(|s| (s, stdio::poll_fd(s)))
        .collect()
}

/// Write as much of `stream`'s queue as it takes now (poll said it is writable).
pub fn flush_ready(stream: Stream) {
    let mut notes = Vec::new();
    with(|r| {
        let q = &mut r.queues[slot(stream)];
        let mut written = 0;
        while written < FLUSH_BUDGET && !q.bytes.is_empty() {
            let (front, back) = q.bytes.as_slices();
            match stdio::write(stream, front, back) {
                Ok(0) => break,
                Ok(n) => {
                    q.bytes.drain(..n);
                    written += n;
                    q.sync_stalled = false;
                }
                Err(_) => {
                    // The reader is gone (EPIPE) or the descriptor is closed: nobody to
                    // tell, and keeping the bytes would only hold memory.
                    let lines = count_lines(&q.bytes);
                    q.drop_lines(lines);
                    q.bytes.clear();
                }
            }
        }
        if q.bytes.len() <= LIMIT / 2 && q.flow != Flow::Flowing {
            if matches!(q.flow, Flow::Overrun { .. }) && q.unreported > 0 {
                notes.push(format!(
                    "{} lines of service output to {} dropped: its reader was slower than the services for more than {}",
                    q.unreported,
                    stream.name(),
                    crate::values::format_duration(STALL_LIMIT)
                ));
                q.unreported = 0;
            }
            q.flow = Flow::Flowing;
        }
        if q.bytes.is_empty() && q.bytes.capacity() > KEPT_CAPACITY {
            // A burst came and went: PID 1 does not keep its megabyte. It keeps a loop
            // turn's worth: freeing it all made a steady stream allocate, fault in and
            // copy its queue again after every write (a fifth of the relay's time on musl).
            q.bytes.shrink_to(KEPT_CAPACITY);
        }
    });
    emit_notes(notes);
}

fn count_lines(bytes: &VecDeque<u8>) -> u64 {
    let (a, b) = bytes.as_slices();
    let newlines = a.iter().chain(b).filter(|&&c| c == b'\n').count() as u64;
    newlines.max(u64::from(!bytes.is_empty()))
}

fn queued(stream: Stream) -> usize {
    with(|r| r.queues[slot(stream)].bytes.len())
}

/// Write everything queued, waiting for each stream until `deadline` at most.
/// Returns whether everything went out.
fn flush_until(deadline: Instant) -> bool {
    for stream in [Stream::Stdout, Stream::Stderr] {
        while queued(stream) > 0 {
            let before = queued(stream);
            flush_ready(stream);
            if queued(stream) < before {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd {
                fd: stdio::poll_fd(stream),
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }
    queued(Stream::Stdout) == 0 && queued(Stream::Stderr) == 0
}

/// Before the loop: flush at once, waiting at most `SYNC_WAIT` for a stream that does not
/// move, and not at all for one that already made a line wait that long.
fn flush_sync() {
    let stalled = with(|r| {
        r.queues
            .iter()
            .any(|q| q.sync_stalled && !q.bytes.is_empty())
    });
    let wait = if stalled { Duration::ZERO } else { SYNC_WAIT };
    if !flush_until(Instant::now() + wait) {
        with(|r| {
            for q in &mut r.queues {
                q.sync_stalled = !q.bytes.is_empty();
            }
        });
    }
}

/// When the queues must be out at the end of the run: `EXIT_FLUSH` after the first call.
pub fn exit_deadline() -> Instant {
    with(|r| {
        *r.exit_deadline
            .get_or_insert_with(|| Instant::now() + EXIT_FLUSH)
    })
}

/// At the end of the run: the queues get until `exit_deadline()` to go out;
/// what is left then is counted as dropped, and a note per stream that lost lines in the run
/// says how many (queued on stderr and given one last non-blocking try).
pub fn flush_at_exit() {
    let deadline = exit_deadline();
    with(|r| r.deferred = false);
    if flush_until(deadline) && with(|r| r.queues.iter().all(|q| q.total_dropped == 0)) {
        return;
    }
    let mut notes = Vec::new();
    with(|r| {
        for (i, q) in r.queues.iter_mut().enumerate() {
            let left = count_lines(&q.bytes);
            q.drop_lines(left);
            q.bytes.clear();
            if q.total_dropped == 0 {
                continue;
            }
            let at_exit = if left > 0 {
                format!(
                    ", {left} of them still queued when its reader had taken nothing for {} at exit",
                    crate::values::format_duration(EXIT_FLUSH)
                )
            } else {
                String::new()
            };
            notes.push(format!(
                "{} output lines to {} dropped in this run{at_exit}",
                q.total_dropped,
                stream_of(i).name()
            ));
            q.total_dropped = 0;
            q.unreported = 0;
        }
        // The notes get one more chance, but no more waiting.
        r.deferred = true;
    });
    emit_notes(notes);
    flush_ready(Stream::Stderr);
    with(|r| {
        for q in &mut r.queues {
            q.bytes.clear();
        }
        r.deferred = false;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(stream: Stream) -> Flow {
        with(|r| r.queues[slot(stream)].flow)
    }

    #[test]
    fn a_full_queue_holds_services_back_then_drops_and_counts_after_the_stall_limit() {
        // (thread-local state: this test has its own thread)
        set_deferred(true);
        let line = [b'x'; 1000];
        let mut accepted = 0;
        while push_service(Stream::Stdout, &[&line, b"\n"]) {
            accepted += 1;
        }
        assert!(accepted >= LIMIT / 1001 - 1);
        assert!(matches!(state(Stream::Stdout), Flow::Full { .. }));
        let t0 = Instant::now();
        assert!(!open_for_services(Stream::Stdout, t0));
        // pidone's own lines still go in.
        push_own(Stream::Stdout, &[b"own\n"]);
        let bytes = queued(Stream::Stdout);
        // Not yet overrun before the stall limit; overrun after it.
        assert_eq!(
            check_stalls(t0),
            Some(match state(Stream::Stdout) {
                Flow::Full { since } => since + STALL_LIMIT,
                other => panic!("{other:?}"),
            })
        );
        let later = t0 + STALL_LIMIT + Duration::from_millis(1);
        check_stalls(later);
        assert!(matches!(state(Stream::Stdout), Flow::Overrun { .. }));
        assert!(open_for_services(Stream::Stdout, later));
        assert!(push_service(Stream::Stdout, &[b"dropped\n"]));
        assert_eq!(
            queued(Stream::Stdout),
            bytes,
            "a line was queued while overrun"
        );
        round_done(later);
        assert!(!open_for_services(Stream::Stdout, later));
        assert!(open_for_services(Stream::Stdout, later + DROP_ROUND));
        let dropped = with(|r| r.queues[0].unreported);
        assert_eq!(dropped, 1);
        // Own lines past LIMIT + HEADROOM are dropped too.
        let big = vec![b'y'; HEADROOM];
        push_own(Stream::Stdout, &[&big]);
        assert_eq!(with(|r| r.queues[0].total_dropped), 2);
        assert!(queued(Stream::Stdout) <= LIMIT + HEADROOM);
        with(|r| {
            r.queues[0].bytes.clear();
            r.queues[1].bytes.clear();
        });
    }
}
