//! Service output into pidone's log: each captured pipe cut into lines and queued as far as
//! its stream takes lines now (the flow control is in `log/relay.rs`), recorded for
//! `pidone logs`; and at the end of the run, what is still in the pipes.

use super::Supervisor;
use super::logring;
use super::state::{Idx, Role};
use crate::log::{self, Stream};
use crate::output::{LineReader, ReadState};
use std::time::Instant;

/// One captured pipe (stdout or stderr) of a unit's process, read until it closes.
pub(super) struct ServiceOutput {
    pub(super) unit: Idx,
    pub(super) stream: Stream,
    pub(super) lines: LineReader,
}

impl Supervisor {
    /// Read service output from reader `n` into pidone's queue, as far as its stream takes
    /// lines now (checked again here: an earlier reader of this turn may have filled it).
    pub(super) fn relay_output(&mut self, n: usize, now: Instant) -> ReadState {
        let r = &mut self.readers[n];
        if !log::open_for_services(r.stream, now) {
            return ReadState::Open;
        }
        let unit = self.core.unit(r.unit);
        let name = &unit.spec().name;
        let prefix = unit.spec().log_prefix;
        // The render step is pidone itself (`pidone render`, same log format):
        // its lines are pidone's own and pass through unwrapped.
        let own = unit.role() == Role::Render;
        let stream = r.stream;
        let index = r.unit;
        let time_ms = logring::now_ms();
        r.lines.read(log::read_budget(stream), |line, cut| {
            // (in JSON, only what is a JSON object: a panic message stays wrapped)
            let passes = match log::format() {
                log::Format::Text => true,
                log::Format::Json => line.first() == Some(&b'{'),
            };
            // Once per line, for the relay and the ring both: the conversion is a pass over
            // every byte.
            let text = String::from_utf8_lossy(line);
            let taken = if own && !cut && passes {
                log::own_output_line(stream, line)
            } else {
                log::service_line(name, stream, prefix, &text, cut)
            };
            // A line not taken is read again later: keep it for `pidone logs` once.
            if taken {
                logring::record_unit(index, stream, &text, cut, time_ms);
            }
            taken
        })
    }

    /// After the last process was reaped, what the services wrote before they exited may
    /// still be in their pipes: the loop leaves it there while a queue is full, and the end
    /// of the run can come before the last POLLIN was handled. Relay it now, until the pipes
    /// are empty or the exit deadline (`log::EXIT_FLUSH`) has passed; what is still in them
    /// then is counted as dropped (one read budget per pipe: a process that escaped the drain
    /// could write without end).
    pub(super) fn relay_the_rest(&mut self) {
        let deadline = log::exit_deadline();
        while !self.readers.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let relay_due = log::check_stalls(now);
            for n in (0..self.readers.len()).rev() {
                if let ReadState::Closed = self.relay_output(n, now) {
                    self.readers.swap_remove(n);
                }
            }
            log::round_done(now);
            // Wait for room in the queues (or for the stall limit / next round), or for the
            // pipes of a process that escaped the drain.
            let mut fds: Vec<libc::pollfd> = Vec::new();
            let mut streams = Vec::new();
            for (s, fd) in log::waiting() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                });
                streams.push(s);
            }
            for r in &self.readers {
                if log::open_for_services(r.stream, now) && !r.lines.holds_data() {
                    fds.push(libc::pollfd {
                        fd: r.lines.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
            if self.readers.is_empty() || fds.is_empty() && relay_due.is_none() {
                break;
            }
            let until = relay_due.map_or(deadline, |d| d.min(deadline));
            let ms = until
                .saturating_duration_since(now)
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32;
            // SAFETY: fds is a valid array of pollfd for the duration of the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            for (pfd, s) in fds.iter().zip(streams) {
                if pfd.revents != 0 {
                    log::flush_ready(s);
                }
            }
        }
        for r in &mut self.readers {
            let stream = r.stream;
            r.lines.read(log::read_budget(stream), |_, _| {
                log::count_dropped(stream);
                true
            });
        }
        self.readers.clear();
    }
}
