//! After the privilege drop, before anything is started: the directories pidone writes,
//! checked as the user it now runs as (the render dir it renders into, the run dir with the
//! control socket), each failure said with its fix. Separate from `run.rs`: the fixes for an
//! image's `/run` are long, and they are the same for both directories.

use super::load::has_templates;
use crate::config::{DEFAULT_RUN_DIR, Settings};
use crate::control;
use crate::exit;
use crate::log;
use crate::privilege::Outcome;
use std::path::{Path, PathBuf};

/// The render dir (when there are templates) writable, the run dir usable and no other
/// pidone's server in it: the run dir to use. Err: the exit code (the reason was logged).
/// `cmd` is only named in the error, for a pidone command mistaken for a CMD.
pub(super) fn prepare(
    settings: &Settings,
    outcome: &Outcome,
    cmd: &[String],
) -> Result<PathBuf, i32> {
    // The render step would fail on a render dir it cannot create with a template error
    // (exit 65, "fix the templates"): the fix is the image's /run, said here, before anything.
    if has_templates(&settings.templates_dir)
        && let Err(e) = writable_dir(&settings.render_dir)
    {
        log::error(format!(
            "refusing to start: cannot create the render dir {}: {e}{}",
            settings.render_dir.display(),
            unwritable_dir_fix("--render-dir (PIDONE_RENDER_DIR)")
        ));
        return Err(exit::RUN_DIR);
    }
    let run_dir = match usable_run_dir(&settings.run_dir) {
        Ok(dir) => dir,
        Err(e) => {
            // After a drop the check ran as the target user: say so, as "permission denied"
            // on a directory root could enter (/root/...) is otherwise puzzling.
            let hint = outcome.dropped_to.as_ref().map_or(String::new(), |id| {
                format!(
                    " (checked as uid {}, the user pidone dropped to: it must be able to reach the run dir)",
                    id.uid
                )
            });
            // A directory that could not be created (rather than one that is not ours):
            // the image's /run is the usual cause.
            let fix = if std::fs::symlink_metadata(&settings.run_dir).is_err() {
                unwritable_dir_fix("--run-dir (PIDONE_RUN_DIR)")
            } else {
                String::new()
            };
            log::error(format!("refusing to start: {e}{hint}{fix}"));
            return Err(exit::RUN_DIR);
        }
    };
    if let Some(e) = control::live_server(&run_dir) {
        // `docker exec C /init stauts`: say what it was asked to run, which was maybe meant
        // as a pidone command.
        let asked = match cmd.first() {
            Some(program) => format!(
                " `{program}` (given as the command to run; for pidone's own commands see `pidone --help`)"
            ),
            None => String::new(),
        };
        log::error(format!("refusing to start{asked}: {e}"));
        return Err(exit::RUN_DIR);
    }
    Ok(run_dir)
}

/// Create `dir` (and missing parents) if needed, and check this uid may write in it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(|e| format!("not writable: {}", e.desc()))
}

/// What to do about a directory under `/run` that pidone cannot create: the image's `/run`
/// must be writable for the container's uid (Docker gives `--tmpfs /run` the image's mode).
fn unwritable_dir_fix(option: &str) -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    format!(
        "; pidone runs as uid {uid}: give the image a /run any uid may write (`RUN chmod 1777 /run` in the Dockerfile; with `docker run --read-only` also `--tmpfs /run`), or name a writable directory with {option}"
    )
}

/// After the drop: the configured run dir, created 0700 if missing and verified to be ours
/// (see `rundir`). Only when it is the default `/run/pidone` and cannot be created (a
/// non-root user on a laptop) is the per-user directory used instead, verified the same way.
fn usable_run_dir(configured: &Path) -> Result<PathBuf, String> {
    let dir = crate::rundir::absolute(configured);
    let err = match crate::rundir::create_private(&dir) {
        Ok(()) => return Ok(dir),
        Err(e) => e,
    };
    let missing = std::fs::symlink_metadata(&dir).is_err();
    if configured != Path::new(DEFAULT_RUN_DIR) || !missing {
        return Err(err);
    }
    let fallback = control::fallback_run_dir();
    crate::rundir::create_private(&fallback)
        .map_err(|e| format!("{err}; and the fallback: {e}"))?;
    log::warn(format!(
        "run dir {DEFAULT_RUN_DIR} is not usable ({err}); using {} instead (`pidone status` finds it there too; `RUN chmod 1777 /run` in the image, or --run-dir, makes this go away)",
        fallback.display()
    ));
    Ok(fallback)
}
