//! Reading files whose path or content someone else controls, without letting them hang or
//! bloat the reader.
//!
//! A service can replace its `export_env` hand-off file with a FIFO (a blocking `open` would
//! wait forever for a writer, freezing PID 1's loop) or with a symlink to `/dev/zero` (an
//! unbounded read grows the reader by a gigabyte a second). An `X_FILE` variable or a file in
//! the secrets dir can do the same to the render step. So every such read goes through
//! [`read`]: `O_NONBLOCK` (opening a FIFO returns at once), `O_CLOEXEC`, `O_NOFOLLOW` where a
//! symlink is never legitimate, `fstat` on the opened descriptor (only a regular file is read:
//! no FIFO, socket or device, and no race between a check and the open), and at most
//! `limit + 1` bytes read, so a file over the limit is an error rather than an allocation.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether the last path component may be a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Refuse a symlink (files in directories a service can write: the env hand-off file).
    Refuse,
    /// Follow it (operator-provided paths such as Kubernetes secret volumes, whose files are
    /// symlinks into `..data/`). The target must still be a regular file within the limit.
    Follow,
}

/// Limit of an `export_env` hand-off file: far more than any real environment (the kernel
/// caps one exec's arguments and environment at about 2 MiB in total).
pub const ENV_FILE_LIMIT: u64 = 256 * 1024;
/// Limit of a secret (`X_FILE`, a file in the secrets dir): certificate chains and keys are
/// a few KiB; a megabyte leaves room for bundles.
pub const SECRET_LIMIT: u64 = 1024 * 1024;
/// Limit of a template and of /etc/passwd or /etc/group. (Config files are the operator's and
/// may be a pipe, `--config <(...)`; they are read as they are.)
pub const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;

/// Read all of `path` as bytes; see the module comment. The error says why (a symlink, not a
/// regular file, over the limit with the limit in bytes) but not which file: callers name it.
pub fn read(path: &Path, limit: u64, symlinks: Symlinks) -> io::Result<Vec<u8>> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"))?;
    let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if symlinks == Symlinks::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: open(2) with a valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ELOOP) && symlinks == Symlinks::Refuse {
            return Err(io::Error::other("it is a symlink; refusing to follow it"));
        }
        return Err(e);
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other(format!(
            "it is {}, not a regular file; refusing to read it",
            kind_of(&meta)
        )));
    }
    let mut out = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "it is larger than the limit of {limit} bytes"
        )));
    }
    Ok(out)
}

/// Like [`read`], as UTF-8 text (`InvalidData` if it is not).
pub fn read_to_string(path: &Path, limit: u64, symlinks: Symlinks) -> io::Result<String> {
    String::from_utf8(read(path, limit, symlinks)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// What a file is, in words for a message ("a FIFO", "a character device", ...).
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "12345").unwrap();
        assert_eq!(read(&p, 5, Symlinks::Refuse).unwrap(), b"12345");
        let e = read(&p, 4, Symlinks::Refuse).unwrap_err().to_string();
        assert!(e.contains("limit of 4 bytes"), "{e}");
    }

    #[test]
    fn devices_fifos_and_symlinks_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read(&fifo, 10, Symlinks::Follow).unwrap_err().to_string();
        assert!(e.contains("a FIFO"), "{e}");
        let e = read(Path::new("/dev/zero"), 10, Symlinks::Follow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("character device"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read(&link, 10, Symlinks::Refuse).unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
        let e = read(dir.path(), 10, Symlinks::Follow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("directory"), "{e}");
    }
}
