//! Finding a command's program the way execvp does, in one place: `pidone check` (config)
//! and the real start (spawn) both call `resolve`, so a check that passes means the start
//! finds the same file. At the bottom of the module order: anything may use it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The search path when neither the service nor pidone has a `PATH`: the one most base
/// images set, so a bare `nginx` still resolves in an image that forgot to set it.
pub const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The PATH a command is looked up in: the service's own `PATH`, else pidone's, else
/// [`FALLBACK_PATH`].
pub fn search_path(own: Option<&str>) -> String {
    own.map(str::to_string)
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| FALLBACK_PATH.to_string())
}

/// Why a program cannot be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrunnable {
    /// No such file (in any PATH entry): exit 127.
    NotFound,
    /// A file, but not executable by us: exit 126.
    NotExecutable,
}

/// The file `program` names. A name with a slash is taken as it is; any other is looked up
/// in each `:`-separated entry of `search_path`, where an empty entry means the current
/// directory (as execvp and POSIX say). The first regular file that we may execute wins; a
/// file we may not execute is remembered, so "found but not executable" is told apart from
/// "not found".
pub fn resolve(program: &str, search_path: &str) -> Result<PathBuf, Unrunnable> {
    if program.contains('/') {
        return check(Path::new(program)).map(|()| PathBuf::from(program));
    }
    let mut denied = false;
    for dir in search_path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(program);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Unrunnable::NotExecutable) => denied = true,
            Err(Unrunnable::NotFound) => {}
        }
    }
    Err(if denied {
        Unrunnable::NotExecutable
    } else {
        Unrunnable::NotFound
    })
}

/// A regular file we may execute (access(2) with X_OK: the kernel's rule for our ids).
fn check(path: &Path) -> Result<(), Unrunnable> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return if path.exists() {
            Err(Unrunnable::NotExecutable)
        } else {
            Err(Unrunnable::NotFound)
        };
    }
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return Err(Unrunnable::NotFound);
    };
    // SAFETY: access() on a NUL-terminated path.
    if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(Unrunnable::NotExecutable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn first_executable_entry_wins_and_unexecutable_is_told_apart() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        file(a.path(), "tool", 0o644);
        let good = file(b.path(), "tool", 0o755);
        let path = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(resolve("tool", &path), Ok(good));
        assert_eq!(
            resolve("tool", &a.path().display().to_string()),
            Err(Unrunnable::NotExecutable)
        );
        assert_eq!(resolve("absent", &path), Err(Unrunnable::NotFound));
        // A directory of that name is not a program.
        std::fs::create_dir(a.path().join("dir")).unwrap();
        assert_eq!(
            resolve("dir", &a.path().display().to_string()),
            Err(Unrunnable::NotExecutable)
        );
    }

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        let a = tempfile::tempdir().unwrap();
        let tool = file(a.path(), "tool", 0o755);
        assert_eq!(resolve(tool.to_str().unwrap(), "/nonexistent"), Ok(tool));
        assert_eq!(
            resolve("./surely-not-here/tool", "/usr/bin"),
            Err(Unrunnable::NotFound)
        );
    }
}
