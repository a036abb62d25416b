//! Reading a service's stdout/stderr pipe and cutting it into lines.
//!
//! The pipe is non-blocking; each poll round reads at most `READ_BUDGET` bytes from one pipe,
//! so a flooding service cannot starve the rest of the loop (its own writes then block in the
//! kernel pipe buffer, which slows only that service). A line longer than `MAX_LINE` is cut:
//! its first `MAX_LINE` bytes are emitted marked as truncated and the rest, up to the next
//! newline, is skipped. A partial last line is emitted when the pipe closes.

use std::os::fd::{AsRawFd, OwnedFd};

pub const MAX_LINE: usize = 16 * 1024;
const READ_BUDGET: usize = 64 * 1024;

pub struct LineReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    skipping: bool,
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
            buf: Vec::new(),
            skipping: false,
        }
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Read what is available (within the budget) and call `emit(line, truncated)` per line.
    pub fn read(&mut self, mut emit: impl FnMut(&[u8], bool)) -> ReadState {
        let mut chunk = [0u8; 8192];
        let mut total = 0;
        while total < READ_BUDGET {
            // SAFETY: reading into a local buffer from a descriptor we own.
            let n = unsafe { libc::read(self.fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n == 0 {
                if !self.buf.is_empty() && !self.skipping {
                    emit(&self.buf, false);
                }
                self.buf.clear();
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
            total += n as usize;
            self.feed(&chunk[..n as usize], &mut emit);
        }
        ReadState::Open
    }

    fn feed(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8], bool)) {
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n');
            let piece = &data[..newline.unwrap_or(data.len())];
            data = newline.map_or(&[][..], |nl| &data[nl + 1..]);
            if self.skipping {
                // Rest of an over-long line: dropped up to its newline.
                self.skipping = newline.is_none();
                continue;
            }
            if self.buf.len() + piece.len() >= MAX_LINE
                && !(newline.is_some() && self.buf.len() + piece.len() == MAX_LINE)
            {
                let room = MAX_LINE - self.buf.len();
                self.buf.extend_from_slice(&piece[..room.min(piece.len())]);
                emit(&self.buf, true);
                self.buf.clear();
                self.skipping = newline.is_none();
            } else if newline.is_none() {
                self.buf.extend_from_slice(piece);
            } else if self.buf.is_empty() {
                emit(strip_cr(piece), false);
            } else {
                self.buf.extend_from_slice(piece);
                emit(strip_cr(&self.buf), false);
                self.buf.clear();
            }
        }
    }
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
            reader.read(|l, t| out.push((String::from_utf8_lossy(l).into_owned(), t)));
        }
        drop(w);
        reader.read(|l, t| out.push((String::from_utf8_lossy(l).into_owned(), t)));
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
}
