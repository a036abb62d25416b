//! Reading a service's stdout/stderr pipe and cutting it into lines.
//!
//! The pipe is non-blocking; each call reads at most `budget` bytes from one pipe, so a
//! flooding service cannot starve the rest of the loop. A line longer than `MAX_LINE` is cut:
//! its first `MAX_LINE` bytes are emitted marked as truncated and the rest, up to the next
//! newline, is skipped. A partial last line is emitted when the pipe closes.
//!
//! Flow control (see `log::relay` for the whole picture): `emit` answers whether pidone's
//! outgoing queue has room for more. When it says no, the reader stops at that line and
//! keeps the rest of what it already read (at most one `CHUNK`) for the next call; the data
//! still in the pipe stays there, and the kernel then blocks the service's writes, so
//! nothing is lost and nothing grows in PID 1 while the reader of pidone's stdout catches up.

use std::os::fd::{AsRawFd, OwnedFd};

pub const MAX_LINE: usize = 16 * 1024;
/// Bytes taken from the pipe per read(2).
const CHUNK: usize = 16 * 1024;

pub struct LineReader {
    fd: OwnedFd,
    /// The start of a line whose newline has not arrived yet.
    line: Vec<u8>,
    skipping: bool,
    /// Bytes read but not yet cut into lines (`emit` asked to stop): `held[cut..]`.
    /// Empty (no allocation) unless the reader is paused mid-chunk.
    held: Vec<u8>,
    cut: usize,
}

/// What a read round found.
pub enum ReadState {
    Open,
    Closed,
}

impl LineReader {
    pub fn new(fd: OwnedFd) -> LineReader {
        LineReader {
            fd,
            line: Vec::new(),
            skipping: false,
            held: Vec::new(),
            cut: 0,
        }
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Whether bytes already read wait to be cut into lines: they need no POLLIN to go on.
    pub fn holds_data(&self) -> bool {
        self.cut < self.held.len()
    }

    /// Cut what is held, then read what is available (at most `budget` bytes), calling
    /// `emit(line, truncated)` per line until `emit` returns false (no room for more).
    pub fn read(&mut self, budget: usize, mut emit: impl FnMut(&[u8], bool) -> bool) -> ReadState {
        if self.holds_data() {
            let held = std::mem::take(&mut self.held);
            let used = self.feed(&held[self.cut..], &mut emit);
            if self.cut + used < held.len() {
                self.cut += used;
                self.held = held;
                return ReadState::Open;
            }
            self.cut = 0;
        }
        let mut chunk = [0u8; CHUNK];
        let mut total = 0;
        while total < budget {
            // SAFETY: reading into a local buffer from a descriptor we own.
            let n = unsafe { libc::read(self.fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n == 0 {
                if !self.line.is_empty() && !self.skipping {
                    emit(&self.line, false);
                }
                self.line = Vec::new();
                return ReadState::Closed;
            }
            if n < 0 {
                let err = std::io::Error::last_os_error();
                return match err.kind() {
                    std::io::ErrorKind::Interrupted => continue,
                    std::io::ErrorKind::WouldBlock => ReadState::Open,
                    _ => ReadState::Closed,
                };
            }
            let data = &chunk[..n as usize];
            total += data.len();
            let used = self.feed(data, &mut emit);
            if used < data.len() {
                self.held = data[used..].to_vec();
                self.cut = 0;
                return ReadState::Open;
            }
        }
        ReadState::Open
    }

    /// Cut `data` into lines until `emit` asks to stop; returns how many bytes were used.
    fn feed(&mut self, data: &[u8], emit: &mut impl FnMut(&[u8], bool) -> bool) -> usize {
        let mut rest = data;
        while !rest.is_empty() {
            let newline = memchr(b'\n', rest);
            let piece = &rest[..newline.unwrap_or(rest.len())];
            rest = newline.map_or(&[][..], |nl| &rest[nl + 1..]);
            let more = if self.skipping {
                // Rest of an over-long line: dropped up to its newline.
                self.skipping = newline.is_none();
                true
            } else if self.line.len() + piece.len() >= MAX_LINE
                && !(newline.is_some() && self.line.len() + piece.len() == MAX_LINE)
            {
                let room = MAX_LINE - self.line.len();
                self.line.extend_from_slice(&piece[..room.min(piece.len())]);
                let more = emit(&self.line, true);
                self.line.clear();
                self.skipping = newline.is_none();
                more
            } else if newline.is_none() {
                self.line.extend_from_slice(piece);
                true
            } else if self.line.is_empty() {
                emit(strip_cr(piece), false)
            } else {
                self.line.extend_from_slice(piece);
                let more = emit(strip_cr(&self.line), false);
                self.line.clear();
                more
            };
            if !more {
                return data.len() - rest.len();
            }
        }
        if self.line.capacity() > MAX_LINE {
            // A long line came and went: do not keep its buffer for a quiet service.
            self.line.shrink_to(0);
        }
        data.len()
    }
}

/// The first `byte` in `haystack` (the loop compiles to a vectorised search).
fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let (r, w) = crate::spawn::pipe_cloexec().unwrap();
        crate::spawn::set_nonblocking(r.as_raw_fd());
        let mut reader = LineReader::new(r);
        let mut w = std::fs::File::from(w);
        let mut out = Vec::new();
        for c in chunks {
            w.write_all(c).unwrap();
            reader.read(1 << 20, |l, t| {
                out.push((String::from_utf8_lossy(l).into_owned(), t));
                true
            });
        }
        drop(w);
        reader.read(1 << 20, |l, t| {
            out.push((String::from_utf8_lossy(l).into_owned(), t));
            true
        });
        out
    }

    #[test]
    fn splits_joins_and_flushes_partial_lines() {
        let got = lines_of(&[b"a\nb", b"c\r\nd"]);
        assert_eq!(
            got,
            vec![
                ("a".into(), false),
                ("bc".into(), false),
                ("d".into(), false)
            ]
        );
    }

    #[test]
    fn long_lines_are_truncated_once() {
        let long = vec![b'x'; MAX_LINE + 100];
        let mut data = long.clone();
        data.extend_from_slice(b"\nnext\n");
        let got = lines_of(&[&data[..5000], &data[5000..]]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert!(got[0].1);
        assert_eq!(got[1], ("next".into(), false));
    }

    #[test]
    fn a_stop_keeps_the_rest_for_the_next_call_in_order() {
        let (r, w) = crate::spawn::pipe_cloexec().unwrap();
        crate::spawn::set_nonblocking(r.as_raw_fd());
        let mut reader = LineReader::new(r);
        let mut w = std::fs::File::from(w);
        let text: String = (0..3000).map(|n| format!("{n}\n")).collect();
        w.write_all(text.as_bytes()).unwrap();
        drop(w);
        let mut got = Vec::new();
        let mut calls = 0;
        loop {
            calls += 1;
            let mut taken = 0;
            let state = reader.read(1 << 20, |l, _| {
                got.push(String::from_utf8_lossy(l).into_owned());
                taken += 1;
                taken < 7 // "the queue is full" after 7 lines
            });
            if let ReadState::Closed = state {
                break;
            }
        }
        let want: Vec<String> = (0..3000).map(|n| n.to_string()).collect();
        assert_eq!(got, want);
        assert!(calls > 400, "never stopped");
    }
}
