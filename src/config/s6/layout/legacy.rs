//! The v2 layout that s6-overlay v3 still runs: `cont-init.d/*` and `cont-finish.d/*` (scripts
//! run in name order), `services.d/NAME/` (longruns, each with its `log/` logger) and
//! `fix-attrs.d` (noted, not run). Apart from `rc.rs`: these are plain directories of scripts,
//! with none of s6-rc's types, dependencies or bundles.

use super::files::{entries, fd_number, read_number};
use super::scripts::{optional_script, script_argv};
use super::{Env, Layout, LegacyService, Problem, Script, problem};
use std::path::Path;

/// The name of the logger a services.d `NAME/log/` directory defines.
pub fn legacy_logger_name(name: &str) -> String {
    format!("{name}-log")
}

/// The scripts of `cont-init.d` or `cont-finish.d`, in name order.
pub(super) fn read_scripts(dir: &Path, env: &Env, errors: &mut Vec<Problem>) -> Vec<Script> {
    let mut scripts = Vec::new();
    for script in entries(dir, errors) {
        let path = dir.join(&script);
        match script_argv(&path, env.command_dir) {
            Ok(s) => scripts.push(s),
            Err(e) => errors.push(e),
        }
    }
    scripts
}

/// A non-empty `fix-attrs.d` is a warning: pidone does not run it.
pub(super) fn note_fix_attrs(etc: &Path, layout: &mut Layout, errors: &mut Vec<Problem>) {
    let fix_attrs = etc.join("fix-attrs.d");
    if !entries(&fix_attrs, errors).is_empty() {
        layout.unsupported.push(problem(
            &fix_attrs,
            "not run: fix-attrs is deprecated by s6-overlay and needs root to chown; set ownership in the image (RUN chown) or in a cont-init.d script",
        ));
    }
}

/// Every `services.d/NAME/` (name order) into `layout.services`, each followed by its logger.
pub(super) fn read_services_d(
    services_d: &Path,
    env: &Env,
    layout: &mut Layout,
    errors: &mut Vec<Problem>,
) {
    for name in entries(services_d, errors) {
        let dir = services_d.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let Some(mut svc) = read_legacy(name.clone(), &dir, env, errors) else {
            continue;
        };
        let logger = read_logger(&mut svc, env, layout, errors);
        layout.services.push(svc);
        if let Some(mut l) = logger {
            l.down = false;
            layout.services.push(l);
        }
    }
}

/// A `log/` service directory is the service's logger: s6-svscan pipes the service's stdout
/// into it, and so does pidone (`stdout_to`, set on `svc` here).
fn read_logger(
    svc: &mut LegacyService,
    env: &Env,
    layout: &mut Layout,
    errors: &mut Vec<Problem>,
) -> Option<LegacyService> {
    let log_dir = svc.dir.join("log");
    if !log_dir.is_dir() {
        return None;
    }
    let logger = read_legacy(legacy_logger_name(&svc.name), &log_dir, env, errors);
    if let Some(l) = &logger {
        if l.down {
            layout.unsupported.push(problem(
                &log_dir.join("down"),
                "ignored: a logger starts with its service (otherwise the service would block once the pipe is full)",
            ));
        }
        svc.stdout_to = Some(l.name.clone());
    }
    logger
}

/// `/etc/services.d/NAME/` (or its `log/`): run, finish, notification-fd, down.
fn read_legacy(
    name: String,
    dir: &Path,
    env: &Env,
    errors: &mut Vec<Problem>,
) -> Option<LegacyService> {
    let run = script_argv(&dir.join("run"), env.command_dir)
        .map_err(|e| errors.push(e))
        .ok()?;
    let finish = optional_script(&dir.join("finish"), env.command_dir, errors);
    let notification_fd = read_number(&dir.join("notification-fd"), errors)
        .and_then(|n| fd_number(&dir.join("notification-fd"), n, errors));
    Some(LegacyService {
        name,
        down: dir.join("down").exists(),
        dir: dir.to_path_buf(),
        run,
        finish,
        notification_fd,
        stdout_to: None,
    })
}
