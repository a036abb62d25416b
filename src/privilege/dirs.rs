//! Directory preparation while still root, the one job of this file: the directories the
//! unprivileged user will need, created or handed to it before the drop, never following a
//! symlink: the run dir and render dir of the configuration (with their parents), and any
//! other list of directories. (The run dir's own checks, used by every stage, are in `crate::rundir`.)

use crate::config::Settings;
use crate::users::Identity;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode as FileMode, fchmod, fstat, mkdirat};
use nix::unistd::{Gid, Uid, fchown};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Started as root (and dropping): create the run dir and, when there are templates, the
/// render dir, with every missing parent, owned by the target user, so that they are usable
/// after the drop (a root-owned 0700 directory would not be). When the target user cannot be
/// resolved, nothing is done here: `apply` reports that.
pub fn prepare_dirs_as_root(settings: &Settings, with_render_dir: bool) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || settings.allow_root {
        return Ok(());
    }
    use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
    let read =
        |p: &str| read_to_string(Path::new(p), CONFIG_LIMIT, Symlinks::Follow).unwrap_or_default();
    let spec = settings.user.as_deref().unwrap_or(super::DEFAULT_USER);
    let Ok(id) = crate::users::resolve(spec, &read("/etc/passwd"), &read("/etc/group")) else {
        return Ok(());
    };
    let owner = Some((id.uid, id.gid));
    // The render dir first: it is often the run dir's parent (the demo's target/demo), and
    // then gets its own mode rather than that of a created parent.
    if with_render_dir {
        // 0750, as the render step creates directories under it.
        crate::rundir::create_all(&settings.render_dir, 0o750, owner)?;
    }
    crate::rundir::create_all(&settings.run_dir, crate::rundir::RUN_DIR_MODE, owner)?;
    Ok(())
}

/// What [`prepare_dirs`] did with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirAction {
    /// Did not exist: created with mode 0750, owned by the target uid/gid.
    Created,
    /// Existed as an empty root-owned directory: now owned by the target uid/gid.
    Chowned,
    /// Already owned by the target uid: nothing to do.
    AlreadyOwned,
    /// Left untouched (the reason says why); the caller should log it.
    LeftAlone(String),
}

/// While still root, create the directories the unprivileged user will need and give them
/// to it. Call before [`apply`].
///
/// Only the last component is created (the parent must exist); it gets mode 0750 and the
/// target uid/gid. An existing directory is chowned only if it is root-owned and empty:
/// anything else may be shared with other users or hold data whose ownership matters, so
/// it is left alone and reported. Symlinks are never followed, in any component: a volume
/// written by an earlier (unprivileged) run could hold `cache -> /etc`, and root must not
/// be tricked into chowning the target of such a link. Every step works on directory file
/// descriptors (openat with O_NOFOLLOW, fchown, fchmod), so nothing is resolved twice.
pub fn prepare_dirs(paths: &[&Path], id: &Identity) -> Result<Vec<(PathBuf, DirAction)>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "preparing directories needs root (call prepare_dirs before dropping privileges)"
                .to_string(),
        );
    }
    paths
        .iter()
        .map(|p| {
            prepare_dir(p, id)
                .map(|a| (p.to_path_buf(), a))
                .map_err(|e| format!("preparing {}: {e}", p.display()))
        })
        .collect()
}

fn prepare_dir(path: &Path, id: &Identity) -> Result<DirAction, String> {
    if !path.is_absolute() {
        return Err("the path must be absolute".to_string());
    }
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => names.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err("'..' is not allowed".to_string());
            }
        }
    }
    let Some((last, parents)) = names.split_last() else {
        return Err("refusing to change /".to_string());
    };
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let mut dir: OwnedFd =
        nix::fcntl::open("/", dir_flags, FileMode::empty()).map_err(|e| format!("open /: {e}"))?;
    for name in parents {
        dir = openat(&dir, *name, dir_flags, FileMode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => {
                format!("{name:?} is a symlink or not a directory; refusing to follow")
            }
            Errno::ENOENT => format!("parent {name:?} does not exist"),
            e => format!("opening {name:?}: {e}"),
        })?;
    }
    let mode = FileMode::from_bits_truncate(0o750);
    let created = match mkdirat(&dir, *last, mode) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(format!("mkdir: {e}")),
    };
    let fd = openat(&dir, *last, dir_flags, FileMode::empty()).map_err(|e| match e {
        Errno::ELOOP | Errno::ENOTDIR => {
            "it is a symlink or not a directory; refusing to follow".to_string()
        }
        e => format!("open: {e}"),
    })?;
    let uid = Some(Uid::from_raw(id.uid));
    let gid = Some(Gid::from_raw(id.gid));
    if created {
        fchown(&fd, uid, gid).map_err(|e| format!("chown: {e}"))?;
        // Explicitly, because mkdir's mode was filtered through the umask.
        fchmod(&fd, mode).map_err(|e| format!("chmod: {e}"))?;
        return Ok(DirAction::Created);
    }
    let st = fstat(&fd).map_err(|e| format!("stat: {e}"))?;
    if st.st_uid == id.uid {
        return Ok(DirAction::AlreadyOwned);
    }
    if st.st_uid != 0 {
        return Ok(DirAction::LeftAlone(format!(
            "owned by uid {}, not root",
            st.st_uid
        )));
    }
    if !is_empty_dir(&fd)? {
        return Ok(DirAction::LeftAlone("root-owned and not empty".to_string()));
    }
    fchown(&fd, uid, gid).map_err(|e| format!("chown: {e}"))?;
    Ok(DirAction::Chowned)
}

/// Whether the directory open at `fd` has no entries besides `.` and `..`.
fn is_empty_dir(fd: &OwnedFd) -> Result<bool, String> {
    // fdopendir takes ownership of the descriptor it is given, so give it a duplicate.
    let dup = nix::unistd::dup(fd).map_err(|e| format!("dup: {e}"))?;
    // SAFETY: `dup` is a valid directory descriptor; ownership passes to the DIR stream,
    // which closedir releases below.
    let dirp = unsafe { libc::fdopendir(std::os::fd::IntoRawFd::into_raw_fd(dup)) };
    if dirp.is_null() {
        return Err(format!("fdopendir: {}", std::io::Error::last_os_error()));
    }
    let mut empty = true;
    loop {
        // SAFETY: `dirp` is a valid, open DIR stream used by this thread only.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            empty = false;
            break;
        }
    }
    // SAFETY: closes the stream (and the duplicated descriptor) exactly once.
    unsafe { libc::closedir(dirp) };
    Ok(empty)
}
