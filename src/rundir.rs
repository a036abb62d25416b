//! The run dir (control socket, notify sockets, env hand-off files): created safely, and never
//! used unless it is really pidone's own.
//!
//! On a shared host another uid can create `/tmp/pidone-UID` (or any run dir whose parent is
//! world-writable) before pidone does, then replace `control.sock` to answer "healthy" or swap
//! a hand-off file to inject variables. So every run dir is checked after it is created or
//! found: opened with O_DIRECTORY|O_NOFOLLOW (a symlink is refused), then `fstat` on that
//! descriptor: owned by pidone's effective uid, not writable by group or others. A failing
//! check is an error naming the directory; there is no quiet fallback to another one.
//!
//! Started as root, pidone creates the directories its unprivileged identity will need before
//! dropping privileges, and gives them to that identity (a root-owned 0700 run or render dir
//! would be unusable after the drop).

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::unistd::{Gid, Uid, fchown};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Mode of the run dir: only its owner may enter it.
pub const RUN_DIR_MODE: u32 = 0o700;

/// `path` made absolute against the current directory (without resolving symlinks).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

/// Create `path` and every missing parent (`mkdir -p`). Directories created here get `mode`
/// (the last one) or 0755 (parents), exactly (umask ignored), and, when `owner` is given,
/// that uid/gid. Existing parents are followed as they are (they may be system symlinks such
/// as /var/run); the last component is never followed. With `owner`, an existing last
/// component that is root-owned and empty (made by an image build or a runtime) is given to
/// the owner too. Returns the directories created, outermost first.
pub fn create_all(
    path: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Vec<PathBuf>, String> {
    let path = absolute(path);
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => names.push(n),
            Component::ParentDir => {
                // `a/../b`: resolve lexically is wrong with symlinks; refuse instead.
                return Err(format!(
                    "{}: `..` is not allowed in this path",
                    path.display()
                ));
            }
            Component::Prefix(_) => {}
        }
    }
    let mut created = Vec::new();
    let mut dir: OwnedFd = open("/", dir_flags(), Mode::empty())
        .map_err(|e| format!("cannot open /: {}", e.desc()))?;
    let mut shown = PathBuf::from("/");
    for (k, name) in names.iter().enumerate() {
        shown.push(name);
        let last = k + 1 == names.len();
        let want = if last { mode } else { 0o755 };
        let made = match mkdirat(&dir, *name, Mode::from_bits_truncate(want)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => {
                return Err(format!(
                    "cannot create directory {}: {}",
                    shown.display(),
                    e.desc()
                ));
            }
        };
        let flags = if last || made {
            dir_flags() | OFlag::O_NOFOLLOW
        } else {
            dir_flags()
        };
        let next = openat(&dir, *name, flags, Mode::empty())
            .map_err(|e| open_error(&shown, e, "refusing to follow it"))?;
        if made {
            created.push(shown.clone());
            fchmod(&next, Mode::from_bits_truncate(want))
                .map_err(|e| format!("cannot chmod {}: {}", shown.display(), e.desc()))?;
        }
        if let Some((uid, gid)) = owner {
            let adopt = last && !made && {
                let st = fstat(&next)
                    .map_err(|e| format!("cannot stat {}: {}", shown.display(), e.desc()))?;
                st.st_uid == 0 && is_empty(&shown)
            };
            if made || adopt {
                fchown(&next, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                    .map_err(|e| format!("cannot chown {}: {}", shown.display(), e.desc()))?;
            }
        }
        dir = next;
    }
    Ok(created)
}

/// Why opening `path` with O_DIRECTORY|O_NOFOLLOW failed. A symlink gives ENOTDIR (not
/// ELOOP) with O_DIRECTORY, so the path is looked at again to tell the two apart.
fn open_error(path: &Path, e: Errno, symlink_verdict: &str) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e {
        Errno::ELOOP | Errno::ENOTDIR if is_link => {
            format!("{} is a symlink; {symlink_verdict}", path.display())
        }
        Errno::ENOTDIR => format!("{} exists and is not a directory", path.display()),
        e => format!("cannot open directory {}: {}", path.display(), e.desc()),
    }
}

fn is_empty(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Remove directories returned by [`create_all`] (innermost first) if they are still empty.
pub fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// Check that `dir` is a directory (not a symlink to one) owned by this process's effective
/// uid and not writable by group or others. The error names the directory and what is wrong.
pub fn verify_private(dir: &Path) -> Result<(), String> {
    let fd = open(dir, dir_flags() | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(|e| open_error(dir, e, "refusing to use it"))?;
    let st = fstat(&fd).map_err(|e| format!("cannot stat {}: {}", dir.display(), e.desc()))?;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if st.st_uid != euid {
        return Err(format!(
            "{} is owned by uid {}, not by pidone's uid {euid}: another user may have planted it; remove it or choose another run dir",
            dir.display(),
            st.st_uid
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:04o}); make it 0700 (chmod go-w) or choose another run dir",
            dir.display(),
            st.st_mode & 0o7777
        ));
    }
    Ok(())
}

/// Create (0700, parents as needed) and verify a run dir for this process's own uid.
pub fn create_private(dir: &Path) -> Result<(), String> {
    create_all(dir, RUN_DIR_MODE, None)?;
    verify_private(dir)
}

/// Client side: may this process trust a socket in `dir` whose server runs as `peer_uid`
/// (its SO_PEERCRED uid)? The directory must not be a symlink or writable by group or others,
/// it must belong to the server's uid, and that uid must be one the client trusts
/// ([`trusts`]): its own, or that of PID 1 of its PID namespace ([`pid1_uid`]). With
/// `own_uid_only` (the per-uid fallback dir), only its own. Any other uid, root's included,
/// could have planted the directory in a shared parent (a /run of mode 1777).
pub fn verify_server(dir: &Path, peer_uid: u32, own_uid_only: bool) -> Result<(), String> {
    let fd = open(dir, dir_flags() | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(|e| open_error(dir, e, "not trusting it"))?;
    let st = fstat(&fd).map_err(|e| format!("cannot stat {}: {}", dir.display(), e.desc()))?;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:04o}); not trusting a socket in it",
            dir.display(),
            st.st_mode & 0o7777
        ));
    }
    if st.st_uid != peer_uid {
        return Err(format!(
            "the server on {} runs as uid {peer_uid} but the directory belongs to uid {}; not trusting it",
            dir.display(),
            st.st_uid
        ));
    }
    let pid1 = if own_uid_only { None } else { pid1_uid() };
    if !trusts(peer_uid, euid, pid1) {
        let pid1 = pid1.map_or("unknown".into(), |u| format!("uid {u}"));
        return Err(format!(
            "{} and its server belong to uid {peer_uid}, which is neither yours (uid {euid}) nor that of PID 1 ({pid1}); not trusting it, since another user could have planted it. If that pidone is yours, run as uid {peer_uid}",
            dir.display()
        ));
    }
    Ok(())
}

/// The trust rule of a client, pure: a server of the client's own uid, or of the uid PID 1
/// of the client's PID namespace runs as (in a container, the uid pidone runs as: this is
/// how `docker exec -u 0` reaches a pidone running as 4242). Nothing else, root included.
pub fn trusts(server_uid: u32, own_uid: u32, pid1_uid: Option<u32>) -> bool {
    server_uid == own_uid || pid1_uid == Some(server_uid)
}

/// The effective uid of PID 1 of this process's PID namespace, from /proc/1/status (None
/// without /proc).
pub fn pid1_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/1/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_dirs_are_created_0700_and_verified() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/run");
        let created = create_all(&dir, RUN_DIR_MODE, None).unwrap();
        assert_eq!(created.len(), 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o755);
        verify_private(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = verify_private(&dir).unwrap_err();
        assert!(e.contains("writable by group or others (mode 0770)"), "{e}");
        remove_created(&created);
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn symlinks_are_refused_as_run_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = verify_private(&link).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        let e = create_all(&link, RUN_DIR_MODE, None).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        let e = verify_server(&link, 0, false).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
    }

    #[test]
    fn a_server_must_own_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        verify_server(tmp.path(), me, true).unwrap();
        let e = verify_server(tmp.path(), me + 1, false).unwrap_err();
        assert!(e.contains("directory belongs to uid"), "{e}");
    }

    #[test]
    fn clients_trust_only_their_own_uid_and_pid1s() {
        // docker exec -u 0 into a container whose PID 1 (pidone) runs as 4242.
        assert!(trusts(4242, 0, Some(4242)));
        // The container's own uid.
        assert!(trusts(4242, 4242, Some(4242)));
        // A planted server of another uid: not for root, not for anyone.
        assert!(!trusts(65534, 0, Some(0)));
        assert!(!trusts(65534, 0, Some(4242)));
        assert!(!trusts(0, 4242, Some(4242)));
        assert!(!trusts(65534, 0, None));
        // PID 1 here is some process; its uid is read from /proc.
        assert!(pid1_uid().is_some());
    }
}
