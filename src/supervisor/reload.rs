//! `reload_on`, the one job of this file: inotify on the directories of the watched files,
//! and the quiet period after their last change before the services are told.

use super::state::Idx;
use crate::log;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Quiet time after the last change of a watched file before the service is reloaded.
const RELOAD_SETTLE: Duration = Duration::from_millis(250);

/// A watched file's identity; a change of any field means "reload".
type FileStamp = Option<(u64, u64, i64, i64, u64)>;

fn stamp(path: &Path) -> FileStamp {
    std::fs::metadata(path).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.mtime_nsec() + m.mtime() * 1_000_000_000,
            m.ctime(),
            m.size(),
        )
    })
}

struct Watch {
    unit: Idx,
    path: PathBuf,
    stamp: FileStamp,
}

/// Every `reload_on` file of every unit; `Default` watches nothing.
#[derive(Default)]
pub(super) struct Watcher {
    inotify: Option<Inotify>,
    watch_dirs: HashMap<WatchDescriptor, PathBuf>,
    watches: Vec<Watch>,
    /// Directories with inotify events not acted on yet, and when to act.
    changed_dirs: Vec<PathBuf>,
    due: Option<Instant>,
}

impl Watcher {
    /// inotify on the parent directory of each `reload_on` path (unit, path, unit name):
    /// certificates are usually replaced by rename (and Kubernetes swaps a symlinked
    /// directory), which a watch on the file itself would miss. Any event in the directory
    /// re-checks the file's stamp.
    pub(super) fn new(wanted: &[(Idx, &Path, &str)]) -> Watcher {
        let mut watcher = Watcher::default();
        if wanted.is_empty() {
            return watcher;
        }
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => i,
            Err(e) => {
                log::warn(format!("reload_on disabled: inotify is unavailable: {e}"));
                return watcher;
            }
        };
        // No IN_MODIFY: an in-place rewrite raises it at the truncation and at every write,
        // and the service would be told to reload a half-written file. IN_CLOSE_WRITE
        // comes once the writer is done.
        let flags = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_ATTRIB;
        for &(unit, path, name) in wanted {
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| "/".into());
            if !watcher.watch_dirs.values().any(|d| *d == dir) {
                match inotify.add_watch(&dir, flags) {
                    Ok(wd) => {
                        watcher.watch_dirs.insert(wd, dir.clone());
                    }
                    Err(e) => {
                        log::warn(format!(
                            "{name}: cannot watch {} for reload_on: {e}",
                            dir.display()
                        ));
                        continue;
                    }
                }
            }
            watcher.watches.push(Watch {
                unit,
                path: path.to_path_buf(),
                stamp: stamp(path),
            });
        }
        watcher.inotify = Some(inotify);
        watcher
    }

    /// The descriptor to poll, when anything is watched.
    pub(super) fn fd(&self) -> Option<i32> {
        self.inotify.as_ref().map(|i| i.as_fd().as_raw_fd())
    }

    /// When the quiet period after the last change ends (None: nothing pending).
    pub(super) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Note which watched directories changed; the reload waits for RELOAD_SETTLE of quiet,
    /// so a certificate and its key written one after the other (or a file created and then
    /// filled) cause one reload with both complete, not one per write.
    pub(super) fn read_events(&mut self, now: Instant) {
        let Some(ino) = &self.inotify else { return };
        while let Ok(events) = ino.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if let Some(d) = self.watch_dirs.get(&e.wd)
                    && !self.changed_dirs.contains(d)
                {
                    self.changed_dirs.push(d.clone());
                }
            }
        }
        if !self.changed_dirs.is_empty() {
            self.due = Some(now + RELOAD_SETTLE);
        }
    }

    /// The quiet period is over: the units whose watched file really changed (one entry per
    /// unit, with the file that changed).
    pub(super) fn changed(&mut self) -> Vec<(Idx, PathBuf)> {
        self.due = None;
        let dirs = std::mem::take(&mut self.changed_dirs);
        let mut reload = Vec::new();
        for w in &mut self.watches {
            if !dirs.iter().any(|d| w.path.parent() == Some(d.as_path())) {
                continue;
            }
            let new = stamp(&w.path);
            if new != w.stamp && new.is_some() {
                w.stamp = new;
                reload.push((w.unit, w.path.clone()));
            }
        }
        reload.dedup_by_key(|(u, _)| *u);
        reload
    }
}
