//! The `export_env` hand-off file: a oneshot writes `KEY=VALUE` lines to `$PIDONE_ENV_FILE`,
//! and PID 1 merges them into the environment of everything started after it.
//!
//! The file lives in the run dir, which the service (same uid) can write: it may replace the
//! file with a FIFO or a symlink to `/dev/zero`, so PID 1 reads it only through
//! [`crate::safe_read`] (non-blocking, no symlink, regular file, size-capped). Its values may
//! be secrets: it is created 0600 whatever the umask, and removed once merged and at exit.

use crate::safe_read::{self, ENV_FILE_LIMIT, Symlinks};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Create an empty hand-off file, mode 0600 (a leftover of an earlier run is replaced).
/// The directory is created 0700 if missing.
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // O_EXCL|O_NOFOLLOW: never open something planted between the unlink and the create.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    // The create mode was filtered through the umask; 0600 exactly, whatever it was.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

/// Remove the hand-off file if it is there.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// One line that is not `KEY=VALUE`, by its 1-based number.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine(pub usize);

/// The variables handed on, in file order, and the lines that were not `KEY=VALUE`.
pub type Parsed = (Vec<(String, String)>, Vec<BadLine>);

/// Parse hand-off text: `KEY=VALUE` lines (an optional `export ` prefix, blank lines and
/// `#` comments allowed). Keys are ASCII letters, digits and `_`. Pure, for tests and fuzzing.
pub fn parse(text: &str) -> Parsed {
    let mut vars = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        match line.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                vars.push((k.to_string(), v.to_string()));
            }
            _ => bad.push(BadLine(n + 1)),
        }
    }
    (vars, bad)
}

/// Read and parse the hand-off file at `path` (safely; see the module comment). A missing
/// file is an empty hand-off. The error names the file and, for an oversized one, the limit.
pub fn read(path: &Path) -> Result<Parsed, String> {
    match safe_read::read_to_string(path, ENV_FILE_LIMIT, Symlinks::Refuse) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value_lines() {
        let (vars, bad) = parse("A=1\n# c\n\nexport B=x=y\n bad line\n=v\nC=\n");
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        assert_eq!(bad, [BadLine(5), BadLine(6)]);
    }

    #[test]
    fn created_0600_whatever_the_umask() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("env/x.env");
        std::fs::create_dir(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "left over").unwrap();
        create(&p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
    }
}
