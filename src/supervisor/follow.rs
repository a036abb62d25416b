//! `pidone logs -f`: control connections that stay open and get each new line.
//!
//! A follower is a control connection handed over after its request (`logs -f ...`) was
//! accepted. After every round of the loop `pump` copies the lines recorded since the
//! follower's last one (`logring::since`) into its queue, and the loop writes the queue as
//! far as `poll` says the socket is writable. A follower that stops reading can neither
//! block the loop nor grow it: once its queue holds `QUEUE_LIMIT` bytes it is dropped, told
//! so in a last line (written if it reads again within `CLOSE_WITHIN`), and closed.
//! At most `MAX_FOLLOWERS` follow at once: a new one makes the oldest leave (told so), so
//! followers held open by a service cannot lock `pidone logs -f` out.

use super::logring;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub const MAX_FOLLOWERS: usize = 8;
/// Bytes queued for one follower before it is dropped.
pub const QUEUE_LIMIT: usize = 256 * 1024;
/// A dropped follower has this long to take its last line.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// What a follower asked for.
pub struct Wanted {
    /// Sources of `logring` (all when the request named none).
    pub sources: Vec<usize>,
    pub json: bool,
}

struct Follower {
    stream: UnixStream,
    wanted: Wanted,
    next_seq: u64,
    queue: Vec<u8>,
    /// Dropped: its last line is queued and it is closed at this time at the latest.
    closing: Option<Instant>,
    gone: bool,
}

impl Follower {
    /// What it has not taken is lost either way; its last line says why it ends.
    fn drop_with(&mut self, why: &str, now: Instant) {
        self.queue.clear();
        self.queue.extend_from_slice(
            format!(
                "\npidone: error: this follower was dropped: {why}; run `pidone logs -f` again\n"
            )
            .as_bytes(),
        );
        self.closing = Some(now + CLOSE_WITHIN);
    }
}

#[derive(Default)]
pub struct Followers {
    list: Vec<Follower>,
}

impl Followers {
    /// Take over `stream`: `first` (the reply header and the recent lines) is queued, and
    /// every line recorded from now on follows. With `MAX_FOLLOWERS` following already, the
    /// oldest is dropped; one already dropped and still given its last chance is closed when
    /// there are as many of those.
    pub fn add(&mut self, stream: UnixStream, wanted: Wanted, first: String, now: Instant) {
        let following = |f: &&mut Follower| f.closing.is_none() && !f.gone;
        if self.list.iter_mut().filter(following).count() >= MAX_FOLLOWERS
            && let Some(oldest) = self.list.iter_mut().find(following)
        {
            oldest.drop_with(
                &format!("{MAX_FOLLOWERS} followers at most: the oldest makes room for a new one"),
                now,
            );
        }
        let closing = |f: &&mut Follower| f.closing.is_some() && !f.gone;
        if self.list.iter_mut().filter(closing).count() >= MAX_FOLLOWERS
            && let Some(f) = self.list.iter_mut().find(closing)
        {
            f.gone = true;
        }
        let _ = stream.set_nonblocking(true);
        self.list.push(Follower {
            stream,
            wanted,
            next_seq: logring::next_seq(),
            queue: first.into_bytes(),
            closing: None,
            gone: false,
        });
    }

    /// Queue the lines recorded since each follower's last; drop the ones too far behind.
    pub fn pump(&mut self, now: Instant) {
        if self.list.is_empty() {
            return;
        }
        for f in &mut self.list {
            if f.closing.is_some() || f.gone {
                continue;
            }
            let json = f.wanted.json;
            let queue = &mut f.queue;
            f.next_seq = logring::since(&f.wanted.sources, f.next_seq, &mut |name, line| {
                if queue.len() <= QUEUE_LIMIT {
                    queue.extend_from_slice(logring::format(name, line, json).as_bytes());
                    queue.push(b'\n');
                }
            });
            if f.queue.len() > QUEUE_LIMIT {
                f.drop_with(
                    &format!(
                        "it did not read its output ({} KiB were waiting)",
                        QUEUE_LIMIT / 1024
                    ),
                    now,
                );
            }
        }
    }

    /// Descriptors to poll: each follower for its hang-up, and for writing when it has
    /// something queued.
    pub fn fds(&self) -> Vec<(i32, i16)> {
        self.list
            .iter()
            .map(|f| {
                let write = if f.queue.is_empty() { 0 } else { libc::POLLOUT };
                (f.stream.as_raw_fd(), libc::POLLIN | write)
            })
            .collect()
    }

    /// Poll said follower `n` is readable (it hung up, or sent something it should not) or
    /// writable.
    pub fn handle(&mut self, n: usize, revents: i16) {
        let Some(f) = self.list.get_mut(n) else {
            return;
        };
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            let mut buf = [0u8; 256];
            match f.stream.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // EOF, an error, or input a follower never sends: it is done.
                _ => f.gone = true,
            }
        }
        if !f.gone && revents & libc::POLLOUT != 0 && !f.queue.is_empty() {
            match f.stream.write(&f.queue) {
                Ok(k) => {
                    f.queue.drain(..k);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => f.gone = true,
            }
            if f.queue.is_empty() && f.closing.is_some() {
                f.gone = true;
            }
        }
    }

    /// Close what is done and dropped followers past their last chance.
    pub fn expire(&mut self, now: Instant) {
        self.list
            .retain(|f| !f.gone && f.closing.is_none_or(|t| t > now));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().filter_map(|f| f.closing).min()
    }
}
