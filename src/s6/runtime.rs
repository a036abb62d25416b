//! The runtime files s6-overlay scripts expect under `/run`, written after the privilege drop
//! (`front.rs`, `before_services`): data only, nothing is copied to `/run` and executed from
//! there, as `/run` is often a noexec tmpfs (s6-overlay #397). Separate from `mod.rs`, which
//! only says where things are: this file writes them, never following a link it finds.

use super::{scan_dir, shim_dir, shims};
use crate::config::s6::translate;
use std::path::{Path, PathBuf};

/// The runtime files s6-overlay scripts expect, written after the privilege drop (data
/// only, never executed from there): the container environment, each longrun's live
/// directory (`live_dirs`: its path under `service/` and its directory in the image), the
/// exitcode file holding `0`, and `s6/basedir/bin/halt` as a symlink to pidone on the image.
pub fn write_runtime(
    base: &Path,
    env: &std::collections::BTreeMap<String, String>,
    live_dirs: &[(PathBuf, PathBuf)],
    self_exe: &Path,
) -> Result<(), String> {
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
    };
    write_container_environment(base, env)?;
    let service_dirs = [
        translate::rc_service_dirs(base),
        translate::legacy_service_dirs(base),
    ];
    for (live, image) in live_dirs {
        real_dirs_under(base, live)?;
        fill_live_dir(live, image)?;
        // The other paths scripts use for a service, links to the live directory:
        // `/run/service/NAME` (s6's scan directory, what `s6-svc` is given) and v2's
        // `/var/run/s6/services/NAME`. A services.d logger (`NAME/log`) is reached through
        // its service's.
        let Some(name) = live.file_name() else {
            continue;
        };
        if service_dirs
            .iter()
            .any(|d| live.parent() == Some(d.as_path()))
        {
            for dir in [scan_dir(base), base.join("s6/services")] {
                real_dirs_under(base, &dir)?;
                replace_with_symlink(live, &dir.join(name))?;
            }
        }
    }
    let exitcode = shims::exitcode_file(base);
    mkdir(exitcode.parent().expect("has a parent"))?;
    std::fs::write(&exitcode, "0\n")
        .map_err(|e| format!("cannot write {}: {e}", exitcode.display()))?;
    let bin = base.join("s6/basedir/bin");
    mkdir(&bin)?;
    for name in ["halt", "poweroff"] {
        replace_with_symlink(self_exe, &bin.join(name))?;
    }
    shims::write_shims(&shim_dir(base), self_exe)?;
    Ok(())
}

/// `/run/s6/container_environment`, readable by every uid as under s6-overlay (0755/0644):
/// a job running as another user (cron as the image's service user) calls `with-contenv`
/// too. It holds the container's environment, which `docker inspect` and /proc already show
/// to whoever could read it here.
pub fn write_container_environment(
    base: &Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let dir = shims::container_environment(base);
    crate::config::s6::envdir::write(&dir, env, crate::config::s6::envdir::READABLE)
        .map_err(|e| with_run_hint(e, base))
}

/// A directory pidone cannot create under the s6 base: say what makes it writable. Not
/// `--tmpfs /run:mode=1777`: Docker 20.10 ignores that mode and gives the tmpfs the image's
/// `/run` mode; `uid=` is honoured.
fn with_run_hint(e: String, base: &Path) -> String {
    if e.contains("Permission denied") || e.contains("Read-only file system") {
        let uid = nix::unistd::geteuid();
        format!(
            "{e}; {base} must be writable by uid {uid}: mount a tmpfs owned by it (`docker run --tmpfs {base}:uid={uid}`), or make the image's /run writable for any uid (`RUN chmod 1777 /run` in the Dockerfile)",
            base = base.display(),
        )
    } else {
        e
    }
}

/// `dir` and every directory between `base` and it as real directories: one that is a
/// symlink (left from an earlier run, or planted by a service, which can write `/run`) is
/// removed, never followed, so pidone writes only under `base`.
fn real_dirs_under(base: &Path, dir: &Path) -> Result<(), String> {
    let fail = |p: &Path, e: std::io::Error| format!("cannot create {}: {e}", p.display());
    let rel = dir.strip_prefix(base).map_err(|_| {
        format!(
            "{} is not under the s6 run dir {}",
            dir.display(),
            base.display()
        )
    })?;
    let mut at = base.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&at).map_err(|e| fail(&at, e))?,
            Err(_) => {}
        }
        std::fs::create_dir(&at).map_err(|e| fail(&at, e))?;
    }
    Ok(())
}

/// A longrun's live directory (a real directory, made by `real_dirs_under`, so its path is
/// the cwd a script sees) gets a symlink to each entry of its directory in the image (`run`,
/// `data/`, `env/`, ...), so `./data/check` runs the image's file, which executes even on a
/// noexec `/run`. A services.d `log/` is not linked: it is the logger's own live directory.
/// A service may change these links (it can write /run); pidone itself never runs anything
/// through them.
fn fill_live_dir(live: &Path, image: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(image).map_err(|e| format!("cannot list {}: {e}", image.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if name.to_string_lossy().starts_with('.') || (name == "log" && is_dir) {
            continue;
        }
        replace_with_symlink(&entry.path(), &live.join(&name))?;
    }
    Ok(())
}

/// `link` → `target`, replacing what is there without following it: a file or symlink, or
/// a directory (a live directory of an earlier layout; s6-overlay wipes these at each start).
fn replace_with_symlink(target: &Path, link: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.is_dir() => {
            // remove_dir_all does not follow symlinks inside.
            std::fs::remove_dir_all(link)
                .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
        }
        Ok(_) => {
            let _ = std::fs::remove_file(link);
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("cannot create {}: {e}", link.display()))
}
