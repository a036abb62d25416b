//! s6-overlay's two logging helpers.
//!
//! `logutil-service [-f FIFO] LOGDIR`, the rotating logger of many `log/run` files
//! (`exec logutil-service /var/log/NAME`): execs `s6-log -b -- DIRECTIVES LOGDIR` on its
//! stdin (or on FIFO with `-f`), with an empty environment, where DIRECTIVES are the words
//! of `S6_LOGGING_SCRIPT` from the container environment (default `n20 s1000000 T`: keep 20
//! archives, rotate at 1 MB, ISO 8601 timestamps). s6-log itself is Debian's (package `s6`).
//! As s6-overlay's, it first drops to `nobody` (65534:65534 when there is no such user) —
//! but only when the process can (root): s6-overlay's version always tries and so fails in
//! a non-root container; this one then runs s6-log as the user it already is.
//!
//! `logutil-newfifo [-m MODE] [-o OWNER] FIFO` (deprecated by s6-overlay, still called by
//! old images): replaces FIFO by a new FIFO of MODE (default 0600) owned by OWNER (default
//! root). Non-root, the default owner is the user itself (root could not be given the FIFO).

use super::printcontenv::keep_env;
use super::{EXIT_MISSING, EXIT_USAGE, container_environment, fail, s6_run_dir};
use crate::privilege::{self, Switch};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// s6-overlay's default `S6_LOGGING_SCRIPT`.
pub const DEFAULT_SCRIPT: &str = "n20 s1000000 T";

pub(super) fn logutil_service(args: &[String]) -> i32 {
    const TOOL: &str = "logutil-service";
    let (opts, rest) = match super::getopt::values(args, "f") {
        Ok(o) => o,
        Err(e) => return fail(TOOL, EXIT_USAGE, e),
    };
    let Some(logdir) = rest.first() else {
        return fail(TOOL, EXIT_USAGE, "usage: logutil-service [-f fifo] logdir");
    };
    let script = logging_script();
    let search = crate::program::search_path(None);
    let s6_log = match crate::program::resolve("s6-log", &search) {
        Ok(p) => p,
        Err(_) => {
            return fail(
                TOOL,
                127,
                format!(
                    "s6-log is not on PATH ({search}): install Debian's s6 package in the image (apt-get install s6)"
                ),
            );
        }
    };
    if let Some((_, fifo)) = opts.iter().find(|(o, _)| *o == 'f')
        && let Err(e) = stdin_from(Path::new(fifo))
    {
        return fail(TOOL, EXIT_MISSING, format!("{fifo}: {e}"));
    }
    // As s6-overlay's: the logger runs as nobody — when this process can switch at all.
    if privilege::can_switch() {
        let nobody = nobody();
        if let Err(e) = privilege::switch(&nobody) {
            return fail(TOOL, EXIT_MISSING, format!("cannot become nobody: {e}"));
        }
    }
    let mut argv: Vec<String> = vec![s6_log.display().to_string(), "-b".into(), "--".into()];
    argv.extend(script);
    argv.push(logdir.clone());
    exec_with_empty_env(TOOL, &argv)
}

/// The directives: `S6_LOGGING_SCRIPT` as printcontenv reads it, split on blanks; missing
/// or blank means s6-overlay's default.
fn logging_script() -> Vec<String> {
    let value = if keep_env() {
        std::env::var("S6_LOGGING_SCRIPT").unwrap_or_default()
    } else {
        let file = container_environment(&s6_run_dir()).join("S6_LOGGING_SCRIPT");
        crate::safe_read::read_to_string(
            &file,
            crate::safe_read::SECRET_LIMIT,
            crate::safe_read::Symlinks::Follow,
        )
        .unwrap_or_default()
    };
    let words: Vec<String> = value.split_whitespace().map(String::from).collect();
    if words.is_empty() {
        DEFAULT_SCRIPT.split(' ').map(String::from).collect()
    } else {
        words
    }
}

/// `nobody` from /etc/passwd, else 65534:65534 (as `s6-envuidgid -D 65534:65534 nobody`).
fn nobody() -> Switch {
    use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
    let read =
        |p: &str| read_to_string(Path::new(p), CONFIG_LIMIT, Symlinks::Follow).unwrap_or_default();
    let passwd = crate::users::parse_passwd(&read("/etc/passwd"));
    let (uid, gid) = passwd
        .iter()
        .find(|e| e.name == "nobody")
        .map_or((crate::users::NOBODY, crate::users::NOBODY), |e| {
            (e.uid, e.gid)
        });
    let mut groups: Vec<u32> = crate::users::parse_group(&read("/etc/group"))
        .iter()
        .filter(|g| g.members.iter().any(|m| m == "nobody"))
        .map(|g| g.gid)
        .collect();
    if groups.is_empty() {
        groups.push(gid);
    }
    Switch {
        uid: Some(uid),
        gid: Some(gid),
        groups: Some(groups),
    }
}

/// stdin becomes FIFO, opened without waiting for a writer, then made blocking again (so
/// s6-log reads as from a pipe), as execline's `redirfd -rnb 0 FIFO`.
fn stdin_from(fifo: &Path) -> std::io::Result<()> {
    let c = CString::new(fifo.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: open/fcntl/dup2 on a path and the fd they return.
    unsafe {
        let fd = libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        if libc::dup2(fd, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(fd);
    }
    Ok(())
}

/// execve with no environment at all (execline's `exec -c`): s6-log needs none, and the
/// container's variables (secrets included) have no business in a logger.
fn exec_with_empty_env(tool: &str, argv: &[String]) -> i32 {
    let c: Vec<CString> = match argv.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(c) => c,
        Err(_) => return fail(tool, EXIT_USAGE, "an argument contains a NUL byte"),
    };
    let mut ptrs: Vec<*const libc::c_char> = c.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: NULL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr()) };
    fail(
        tool,
        126,
        format!(
            "cannot run {}: {}",
            argv[0],
            std::io::Error::last_os_error()
        ),
    )
}

pub(super) fn logutil_newfifo(args: &[String]) -> i32 {
    const TOOL: &str = "logutil-newfifo";
    let (opts, rest) = match super::getopt::values(args, "mo") {
        Ok(o) => o,
        Err(e) => return fail(TOOL, EXIT_USAGE, e),
    };
    let Some(path) = rest.first().map(Path::new) else {
        return fail(
            TOOL,
            EXIT_USAGE,
            "usage: logutil-newfifo [-m mode] [-o owner] fifo",
        );
    };
    eprintln!("{TOOL}: warning: deprecated by s6-overlay; use mkfifo and chown instead");
    let mode = match opts.iter().rev().find(|(o, _)| *o == 'm') {
        Some((_, m)) => match u32::from_str_radix(m, 8) {
            Ok(m) if m <= 0o7777 => m,
            _ => return fail(TOOL, EXIT_USAGE, format!("-m {m:?} is not an octal mode")),
        },
        None => 0o600,
    };
    let owner = opts
        .iter()
        .rev()
        .find(|(o, _)| *o == 'o')
        .map(|(_, v)| v.as_str());
    // Resolved before anything is removed: an unknown owner changes nothing.
    let owner_ids = match owner_ids(owner) {
        Ok(ids) => ids,
        Err(e) => return fail(TOOL, 1, e),
    };
    if let Err(e) = replace_with_fifo(path, mode) {
        return fail(TOOL, EXIT_MISSING, format!("{}: {e}", path.display()));
    }
    if let Some((uid, gid)) = owner_ids
        && let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    {
        return fail(
            TOOL,
            EXIT_MISSING,
            format!(
                "cannot give {} to {} ({uid}:{gid}): {e}; only root can give a file away",
                path.display(),
                owner.unwrap_or("root")
            ),
        );
    }
    0
}

/// The uid:gid to give the FIFO, None when it is already theirs: the named account, or
/// root by default — which a non-root process already is not, and cannot make it, so the
/// default then leaves the FIFO to the user that made it.
fn owner_ids(owner: Option<&str>) -> Result<Option<(u32, u32)>, String> {
    use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
    let me = nix::unistd::geteuid().as_raw();
    let Some(name) = owner else {
        return Ok((me == 0).then_some((0, 0)));
    };
    let passwd = crate::users::parse_passwd(
        &read_to_string(Path::new("/etc/passwd"), CONFIG_LIMIT, Symlinks::Follow)
            .unwrap_or_default(),
    );
    let entry = passwd.iter().find(|e| e.name == name).or_else(|| {
        let uid: u32 = name.parse().ok()?;
        passwd.iter().find(|e| e.uid == uid)
    });
    match entry {
        Some(e) => Ok(Some((e.uid, e.gid))),
        None => Err(format!("unknown user: {name}")),
    }
}

/// Whatever is at `path` (a file, a FIFO, a symlink — not followed — or a directory tree)
/// is removed, and a FIFO of exactly `mode` (the umask does not apply) takes its place.
fn replace_with_fifo(path: &Path, mode: u32) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path)?,
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: mkfifo on a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newfifo_replaces_what_is_there_with_a_fifo_of_the_mode() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fifo");
        std::fs::create_dir_all(p.join("sub")).unwrap();
        replace_with_fifo(&p, 0o640).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        replace_with_fifo(&p, 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn options_take_their_value_in_the_word_or_the_next() {
        let a: Vec<String> = ["-m0640", "-o", "abc", "x"].map(String::from).to_vec();
        let (opts, rest) = super::super::getopt::values(&a, "mo").unwrap();
        assert_eq!(opts, [('m', "0640".to_string()), ('o', "abc".to_string())]);
        assert_eq!(rest, ["x"]);
    }
}
