//! Envdirs: one file per variable, its name the variable's, its content the raw value (as
//! s6-envdir -Lfn reads it: the whole file, NUL bytes as newlines, nothing chomped; an empty
//! file unsets the variable). `/run/s6/container_environment` is one, written at start with
//! the environment services get; oneshots add variables to it for services after them, so it
//! is read again by every `with-contenv`.

use crate::safe_read::{self, Symlinks};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Variables of an envdir, sorted by name; None = unset it (an empty file).
pub fn read(dir: &Path) -> Result<Vec<(String, Option<String>)>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list the envdir: {e}"))?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list the envdir: {e}"))?;
        if let Ok(name) = entry.file_name().into_string()
            && !name.starts_with('.')
            && !name.contains('=')
        {
            names.push(name);
        }
    }
    names.sort();
    let mut vars = Vec::new();
    for name in names {
        let path = dir.join(&name);
        // A service can write here: no symlink to /dev/zero, no FIFO (see safe_read).
        let bytes = safe_read::read(&path, safe_read::ENV_FILE_LIMIT, Symlinks::Refuse)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value = String::from_utf8_lossy(&bytes).replace('\0', "\n");
        vars.push((name, (!value.is_empty()).then_some(value)));
    }
    Ok(vars)
}

/// A name that can be a file name and a variable name.
fn usable(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '=', '\0'])
}

/// Modes of an envdir: (directory, files).
pub type Modes = (u32, u32);
/// s6-overlay's `container_environment`: readable by every uid (0755/0644).
pub const READABLE: Modes = (0o755, 0o644);
/// Only the owner (0700/0600).
pub const PRIVATE: Modes = (0o700, 0o600);

/// Write `vars` into `dir` (created with `modes.0`), one file each, with `modes.1`.
/// Variables with an empty value are left out: an empty file would mean "unset".
pub fn write<'a>(
    dir: &Path,
    vars: impl IntoIterator<Item = (&'a String, &'a String)>,
    modes: Modes,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(modes.0)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // The umask (or an earlier run) may have left it otherwise; s6-overlay chmods it too.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(modes.0))
        .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
    for (name, value) in vars {
        if !usable(name) || value.is_empty() {
            continue;
        }
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(modes.1)
            // O_NONBLOCK: a FIFO planted here would otherwise block PID 1 in open(2) until
            // someone reads it; with it, the open fails (ENXIO) and the start says why.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.write_all(value.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(modes.1))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_and_unset() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("container_environment");
        let mut vars = BTreeMap::new();
        vars.insert("A".to_string(), "one\ntwo\n".to_string());
        vars.insert("EMPTY".to_string(), String::new());
        vars.insert("a/b".to_string(), "x".to_string());
        write(&dir, &vars, PRIVATE).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        write(&dir, &vars, READABLE).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("A"))), (0o755, 0o644));
        std::fs::write(dir.join("GONE"), "").unwrap();
        std::fs::write(dir.join("NUL"), "a\0b").unwrap();
        assert_eq!(
            read(&dir).unwrap(),
            vec![
                ("A".to_string(), Some("one\ntwo\n".to_string())),
                ("GONE".to_string(), None),
                ("NUL".to_string(), Some("a\nb".to_string())),
            ]
        );
    }

    #[test]
    fn refuses_symlinks_a_service_planted() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", t.path().join("Z")).unwrap();
        assert!(read(t.path()).unwrap_err().contains("Z"));
    }

    #[test]
    fn a_fifo_in_the_way_fails_the_write_instead_of_blocking() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("container_environment");
        std::fs::create_dir(&dir).unwrap();
        let fifo = std::ffi::CString::new(dir.join("A").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // Without O_NONBLOCK the open would wait for a reader for ever: run it in a thread
        // and give it a few seconds.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut vars = BTreeMap::new();
            vars.insert("A".to_string(), "x".to_string());
            let _ = tx.send(write(&dir, &vars, PRIVATE));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("writing over a FIFO blocked");
        assert!(got.unwrap_err().contains("cannot write"));
    }
}
