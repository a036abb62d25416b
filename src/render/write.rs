//! Safe writes into the render dir.
//!
//! Template tools that do `envsubst < f > f` or truncate-then-render leave a half-written or
//! empty config behind when they fail. Here every output is first written completely to a temp
//! file next to its destination (created O_EXCL|O_NOFOLLOW, fsynced, chmodded), and only when
//! all temp files exist are they renamed over their destinations; on any failure before that,
//! every temp file is removed and no destination has changed.
//!
//! Directories are walked with openat(O_NOFOLLOW|O_DIRECTORY) from the root, so a symlink
//! planted anywhere under the render dir (e.g. `/run/prosody -> /etc`) is refused rather than
//! followed, and a destination that exists as a symlink or non-regular file is refused too.

use super::RenderError;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fchmod, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One rendered file to write: path relative to the root, contents, permission bits.
pub(crate) struct Output {
    pub rel: PathBuf,
    pub contents: String,
    pub mode: u32,
}

/// Mode of directories pidone creates under the render dir.
const DIR_MODE: u32 = 0o750;

/// Distinguishes temp files of concurrent renders in one process (tests run in parallel).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp file written and synced, waiting to be renamed onto `name` in `dir`.
struct Staged {
    dir: PathBuf,
    temp: OsString,
    name: OsString,
    dest: PathBuf,
}

/// Directories opened so far, keyed by path relative to the root ("" is the root).
struct Dirs {
    root: PathBuf,
    fds: BTreeMap<PathBuf, OwnedFd>,
    /// Directories created under the root, in creation order (removed again on failure).
    created: Vec<PathBuf>,
}

impl Dirs {
    fn open(root: &Path) -> Result<Self, String> {
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            root,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("cannot open {}: {}", root.display(), e.desc()))?;
        let mut fds = BTreeMap::new();
        fds.insert(PathBuf::new(), fd);
        Ok(Dirs {
            root: root.to_path_buf(),
            fds,
            created: Vec::new(),
        })
    }

    /// Open (creating as needed) the directory `rel` under the root without following any
    /// symlink on the way.
    fn get(&mut self, rel: &Path) -> Result<&OwnedFd, String> {
        if !self.fds.contains_key(rel) {
            let mut cur = PathBuf::new();
            for comp in rel.components() {
                let Component::Normal(name) = comp else {
                    return Err(format!("{}: not a plain relative path", rel.display()));
                };
                let next = cur.join(name);
                if !self.fds.contains_key(&next) {
                    let (fd, made) =
                        open_or_create_dir(&self.fds[&cur], name, &self.root.join(&next))?;
                    if made {
                        self.created.push(next.clone());
                    }
                    self.fds.insert(next.clone(), fd);
                }
                cur = next;
            }
        }
        Ok(&self.fds[rel])
    }

    /// Remove the directories this run created (innermost first), if still empty.
    fn remove_created(&self) {
        for rel in self.created.iter().rev() {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                continue;
            };
            if let Some(fd) = self.fds.get(parent) {
                let _ = unlinkat(fd, name, UnlinkatFlags::RemoveDir);
            }
        }
    }
}

fn open_dir_nofollow(parent: &OwnedFd, name: &std::ffi::OsStr) -> nix::Result<OwnedFd> {
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn open_or_create_dir(
    parent: &OwnedFd,
    name: &std::ffi::OsStr,
    shown: &Path,
) -> Result<(OwnedFd, bool), String> {
    match open_dir_nofollow(parent, name) {
        Ok(fd) => Ok((fd, false)),
        Err(Errno::ENOENT) => {
            match mkdirat(parent, name, Mode::from_bits_truncate(DIR_MODE)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(format!(
                        "cannot create directory {}: {}",
                        shown.display(),
                        e.desc()
                    ));
                }
            }
            let fd =
                open_dir_nofollow(parent, name).map_err(|e| explain(parent, name, shown, e))?;
            // mkdirat's mode is filtered by the umask; make it exactly DIR_MODE.
            fchmod(&fd, Mode::from_bits_truncate(DIR_MODE))
                .map_err(|e| format!("cannot chmod {}: {}", shown.display(), e.desc()))?;
            Ok((fd, true))
        }
        Err(e) => Err(explain(parent, name, shown, e)),
    }
}

/// Say why opening a path component as a directory failed, naming symlinks as such.
fn explain(parent: &OwnedFd, name: &std::ffi::OsStr, shown: &Path, e: Errno) -> String {
    match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
            format!("{} is a symlink; refusing to follow it", shown.display())
        }
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR => {
            format!("{} exists and is not a directory", shown.display())
        }
        _ => format!("cannot open directory {}: {}", shown.display(), e.desc()),
    }
}

/// Refuse a destination that exists as anything but a regular file.
fn check_destination(dir: &OwnedFd, name: &std::ffi::OsStr, shown: &Path) -> Result<(), String> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFLNK {
                Err(format!(
                    "{} is a symlink; refusing to write through it",
                    shown.display()
                ))
            } else if kind != SFlag::S_IFREG {
                Err(format!(
                    "{} exists and is not a regular file",
                    shown.display()
                ))
            } else {
                Ok(())
            }
        }
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(format!("cannot inspect {}: {}", shown.display(), e.desc())),
    }
}

/// Write `contents` to a new temp file in `dir` and make it durable with its final mode.
fn stage_one(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    out: &Output,
    shown: &Path,
) -> Result<OsString, String> {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(
        ".pidone-{}-{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let fd = openat(
        dir,
        temp.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| {
        format!(
            "cannot create a temp file next to {}: {}",
            shown.display(),
            e.desc()
        )
    })?;
    let mut file = std::fs::File::from(fd);
    let result = file
        .write_all(out.contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", shown.display()))
        .and_then(|()| {
            fchmod(&file, Mode::from_bits_truncate(out.mode))
                .map_err(|e| format!("cannot chmod {}: {}", shown.display(), e.desc()))
        })
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| format!("cannot sync {}: {e}", shown.display()))
        });
    if let Err(e) = result {
        let _ = unlinkat(dir, temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    Ok(temp)
}

/// Write every output under `root`, all or nothing (see the module comment). Returns the
/// destination paths written.
pub(crate) fn write_all(root: &Path, outputs: &[Output]) -> Result<Vec<PathBuf>, Vec<RenderError>> {
    // The render dir itself may not exist yet (a custom --render-dir); create it like
    // `mkdir -p` would. Everything below it is created without following symlinks. What
    // this call creates is removed again if it fails: "nothing was written" leaves no
    // empty directories behind either.
    let mut root_created = Vec::new();
    if !outputs.is_empty() && !root.exists() {
        root_created =
            crate::rundir::create_all(root, DIR_MODE, None).map_err(|e| vec![RenderError(e)])?;
    }
    let result = write_all_in(root, outputs);
    if result.is_err() {
        crate::rundir::remove_created(&root_created);
    }
    result
}

fn write_all_in(root: &Path, outputs: &[Output]) -> Result<Vec<PathBuf>, Vec<RenderError>> {
    let mut dirs = Dirs::open(root).map_err(|e| vec![RenderError(e)])?;
    let mut staged: Vec<Staged> = Vec::new();
    let mut errors = Vec::new();

    for out in outputs {
        let dest = root.join(&out.rel);
        let (Some(parent), Some(name)) = (out.rel.parent(), out.rel.file_name()) else {
            errors.push(RenderError(format!("{}: not a file path", dest.display())));
            continue;
        };
        let result = dirs.get(parent).and_then(|dir| {
            check_destination(dir, name, &dest)?;
            stage_one(dir, name, out, &dest)
        });
        match result {
            Ok(temp) => staged.push(Staged {
                dir: parent.to_path_buf(),
                temp,
                name: name.to_os_string(),
                dest,
            }),
            Err(e) => errors.push(RenderError(e)),
        }
    }

    if !errors.is_empty() {
        for s in &staged {
            let _ = unlinkat(
                &dirs.fds[&s.dir],
                s.temp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
        dirs.remove_created();
        return Err(errors);
    }

    // Commit. rename(2) replaces the destination atomically and never follows a symlink there.
    let mut written = Vec::with_capacity(staged.len());
    let mut touched: Vec<&PathBuf> = Vec::new();
    for s in &staged {
        let fd = &dirs.fds[&s.dir];
        match renameat(fd, s.temp.as_os_str(), fd, s.name.as_os_str()) {
            Ok(()) => {
                written.push(s.dest.clone());
                if !touched.contains(&&s.dir) {
                    touched.push(&s.dir);
                }
            }
            Err(e) => {
                let _ = unlinkat(fd, s.temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
                errors.push(RenderError(format!(
                    "cannot rename into {}: {}",
                    s.dest.display(),
                    e.desc()
                )));
            }
        }
    }
    // Make the renames durable.
    for dir in touched {
        if let Err(e) = fsync(&dirs.fds[dir]) {
            errors.push(RenderError(format!(
                "cannot sync directory {}: {}",
                root.join(dir).display(),
                e.desc()
            )));
        }
    }
    if errors.is_empty() {
        Ok(written)
    } else {
        Err(errors)
    }
}
