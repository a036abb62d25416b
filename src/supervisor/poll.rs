//! The poll set: what the loop waits on this turn and until when. Every descriptor that
//! can wake it (the signalfd, service output whose stream takes lines now, notify fds,
//! inotify, the control socket and its clients, `logs -f` followers, pidone's own
//! stdout/stderr while lines are queued), each with a `Token` that says what its readiness
//! means; the timeout is the earliest deadline of anyone, none when nothing is due, so an
//! idle pidone sleeps without wakeups. The one release of start-up pages happens here too,
//! right before a sleep.

use super::Supervisor;
use super::drain::Drain;
use super::procfs;
use super::state::Idx;
use crate::log::{self, Stream};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// What a polled descriptor is: what its readiness means to the loop.
#[derive(Clone, Copy)]
pub(super) enum Token {
    Signals,
    Reader(usize),
    NotifyPipe(Idx),
    NotifySocket(Idx),
    Inotify,
    Control,
    Client(usize),
    Follower(usize),
    Log(Stream),
}

/// One turn's poll: the descriptors, each with its token, and what the timeout depends on.
pub(super) struct PollSet {
    pub(super) fds: Vec<libc::pollfd>,
    pub(super) tokens: Vec<Token>,
    /// A service output reader holds lines it already read, and its stream takes lines
    /// again: the turn must handle it even if poll reports nothing.
    pub(super) held_ready: bool,
    /// When the relay's state was read for this set.
    before: Instant,
    /// The relay's next stall check (`log::check_stalls`).
    relay_due: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Trim {
    /// Start-up may still be going on.
    Pending,
    /// A quiet second passed: release right before the next poll.
    Due,
    Done,
}

/// Quiet time after start-up before `release_startup_pages`.
const QUIET_BEFORE_TRIM_MS: i32 = 1000;

impl Supervisor {
    /// Everything the loop waits on this turn (after letting the control server and the
    /// followers drop what timed out).
    pub(super) fn poll_set(&mut self) -> PollSet {
        // Before the poll set is built: clients are only removed here and in gc after the
        // dispatch (`serve_clients`), so the Client(n) indices stay valid through it.
        let before_poll = Instant::now();
        if let Some(ctl) = &mut self.control {
            ctl.expire(before_poll);
        }
        // pidone's own lines since the last round (and what `expire` leaves).
        self.followers.expire(Instant::now());
        self.followers.pump(Instant::now());
        // Flow control of service output (log::relay): a stream whose queue is full has its
        // service pipes left unread (not polled), so the services' writes wait in the kernel.
        let before = Instant::now();
        let relay_due = log::check_stalls(before);
        let open = |s: Stream| log::open_for_services(s, before);
        // A reader that stopped mid-chunk holds lines already read: no POLLIN will come for
        // them, so the poll must not sleep while its stream takes lines again.
        let held_ready = self
            .readers
            .iter()
            .any(|r| r.lines.holds_data() && open(r.stream));
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut tokens: Vec<Token> = Vec::new();
        let mut add = |fd: i32, events: i16, t: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(t);
        };
        add(self.signals.fd(), libc::POLLIN, Token::Signals);
        for (n, r) in self.readers.iter().enumerate() {
            if open(r.stream) {
                add(r.lines.fd(), libc::POLLIN, Token::Reader(n));
            }
        }
        for (i, fd) in &self.notify_pipes {
            add(fd.as_raw_fd(), libc::POLLIN, Token::NotifyPipe(*i));
        }
        for (i, (sock, _)) in &self.notify_sockets {
            add(sock.as_raw_fd(), libc::POLLIN, Token::NotifySocket(*i));
        }
        if let Some(fd) = self.reload.fd() {
            add(fd, libc::POLLIN, Token::Inotify);
        }
        if let Some(ctl) = &self.control {
            // Keep answering while stopping: `healthcheck` then says "stopping" at once
            // instead of timing out. (No listener while every slot is busy and none may be
            // freed yet: new connections wait in the listen queue until `next_deadline`.)
            if let Some(fd) = ctl.listener_fd(before_poll) {
                add(fd, libc::POLLIN, Token::Control);
            }
            for (n, (fd, events)) in ctl.client_fds().into_iter().enumerate() {
                add(fd, events, Token::Client(n));
            }
        }
        for (n, (fd, events)) in self.followers.fds().into_iter().enumerate() {
            add(fd, events, Token::Follower(n));
        }
        for (s, fd) in log::waiting() {
            add(fd, libc::POLLOUT, Token::Log(s));
        }
        PollSet {
            fds,
            tokens,
            held_ready,
            before,
            relay_due,
        }
    }

    /// Sleep in poll until a descriptor of `set` is ready or the first deadline comes;
    /// returns what poll returned (0: timeout, negative: EINTR).
    pub(super) fn wait(&mut self, set: &mut PollSet) -> i32 {
        let deadline = match self.drain {
            Drain::Terminating { deadline } => Some(deadline),
            _ => self.core.next_deadline(),
        };
        let deadline = [
            deadline,
            self.reload.due(),
            self.control.as_ref().and_then(|c| c.next_deadline()),
            set.relay_due,
            set.held_ready.then_some(set.before),
            self.followers.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout_ms: i32 = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so we never wake a millisecond early and spin.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        // Once start-up is over (the loop could sleep for a second or more) and a second has
        // passed quietly, hand back the pages only start-up needed: one wake-up per run, and
        // none at all for a short run such as `pidone -- /bin/true`. The release happens just
        // before a poll, so no code runs between it and the sleep to fault pages back in.
        let long_sleep = !(0..QUIET_BEFORE_TRIM_MS).contains(&timeout_ms);
        let timeout_ms = match self.trim {
            Trim::Pending if long_sleep => QUIET_BEFORE_TRIM_MS,
            Trim::Due => {
                procfs::release_startup_pages();
                self.trim = Trim::Done;
                timeout_ms
            }
            _ => timeout_ms,
        };
        // SAFETY: set.fds is a valid array of pollfd for the duration of the call.
        let n = unsafe {
            libc::poll(
                set.fds.as_mut_ptr(),
                set.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if self.trim == Trim::Pending && long_sleep && n == 0 {
            self.trim = Trim::Due;
        }
        n
    }
}
