//! The s6-rc source tree, `s6-overlay/s6-rc.d/NAME/`: each directory as a oneshot, a longrun or
//! a bundle (its `type`), with its dependencies, timeouts and `env/`; and the `user`/`user2`
//! bundles, whichever form the image uses. One directory at a time: what spans services
//! (pipelines, names, cycles) is checked by `pipelines.rs` and `graph.rs` afterwards.

use super::files::{
    entries, fd_number, millis, name_list, names_in, one_name, optional_text, read_number,
    read_text,
};
use super::scripts::{optional_script, parse_line, script_argv};
use super::{Env, Layout, Problem, RcKind, RcService, problem};
use std::path::Path;

/// Files of a source definition that pidone reads; anything else is reported.
const KNOWN_FILES: &[&str] = &[
    "type",
    "up",
    "down",
    "run",
    "finish",
    "dependencies",
    "dependencies.d",
    "contents",
    "contents.d",
    "notification-fd",
    "timeout-up",
    "timeout-down",
    "timeout-kill",
    "timeout-finish",
    "down-signal",
    "data",
    "env",
    "producer-for",
    "consumer-for",
    "pipeline-name",
];

/// Every service directory in `rc_dir` (name order) into `layout.rc`; what is read but not
/// used goes to its notes.
pub(super) fn read_rc_tree(
    rc_dir: &Path,
    env: &Env,
    layout: &mut Layout,
    errors: &mut Vec<Problem>,
) {
    for name in entries(rc_dir, errors) {
        let dir = rc_dir.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let notes = (&mut layout.unsupported, &mut layout.ignored);
        if let Some(svc) = read_rc(&name, &dir, env, errors, notes) {
            layout.rc.push(svc);
        }
    }
}

/// One service directory; None when it has a problem (in `errors`).
fn read_rc(
    name: &str,
    dir: &Path,
    env: &Env,
    errors: &mut Vec<Problem>,
    notes: (&mut Vec<Problem>, &mut Vec<Problem>),
) -> Option<RcService> {
    let type_path = dir.join("type");
    let kind_text = read_type(name, &type_path, errors)?;
    note_unused_files(dir, &kind_text, errors, notes);
    let before = errors.len();
    let kind = match kind_text.as_str() {
        "oneshot" => read_oneshot(dir, env, errors)?,
        "longrun" => read_longrun(dir, env, errors)?,
        "bundle" => RcKind::Bundle {
            contents: name_list(&dir.join("contents"), &dir.join("contents.d"), errors),
        },
        other => {
            errors.push(problem(
                &type_path,
                format!("unknown service type {other:?}; write oneshot, longrun or bundle"),
            ));
            return None;
        }
    };
    let env_vars = read_envdir_strict(&dir.join("env"), errors);
    let svc = RcService {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        dependencies: name_list(
            &dir.join("dependencies"),
            &dir.join("dependencies.d"),
            errors,
        ),
        timeout_up: millis(&dir.join("timeout-up"), errors),
        env: env_vars,
        kind,
    };
    (errors.len() == before).then_some(svc)
}

/// The `type` file's word; `user` and `user2` without one are bundles.
fn read_type(name: &str, type_path: &Path, errors: &mut Vec<Problem>) -> Option<String> {
    match read_text(type_path) {
        Ok(t) => Some(t.trim().to_string()),
        // s6-overlay's tarball supplies these two bundles; the image only adds members.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && matches!(name, "user" | "user2") => {
            Some("bundle".to_string())
        }
        Err(e) => {
            errors.push(problem(
                type_path,
                format!(
                    "cannot read the service type ({e}); write oneshot, longrun or bundle into it"
                ),
            ));
            None
        }
    }
}

/// Files in a service directory that pidone does not use: a `log/` and pipeline files where
/// they do nothing (warnings), anything unknown (an info line: a data file).
fn note_unused_files(
    dir: &Path,
    kind_text: &str,
    errors: &mut Vec<Problem>,
    (unsupported, ignored): (&mut Vec<Problem>, &mut Vec<Problem>),
) {
    for file in entries(dir, errors) {
        let pipeline_file = matches!(
            file.as_str(),
            "producer-for" | "consumer-for" | "pipeline-name"
        );
        if file == "log" {
            // s6-rc-compile ignores it too; a services.d-style logger would silently not run.
            unsupported.push(problem(
                &dir.join(&file),
                "not used (s6-rc ignores log/ too): define the logger as its own longrun, with producer-for here and consumer-for there",
            ));
        } else if !KNOWN_FILES.contains(&file.as_str()) {
            // s6-rc-compile skips it without a word: a data file its scripts read.
            ignored.push(problem(&dir.join(&file), "not used by pidone"));
        } else if pipeline_file && kind_text != "longrun" {
            // s6-rc-compile reads these for longruns only.
            unsupported.push(problem(
                &dir.join(&file),
                "ignored: only longruns take part in pipelines",
            ));
        }
    }
}

/// A oneshot's `up`, `down` and `timeout-down`; None when `up` cannot run.
fn read_oneshot(dir: &Path, env: &Env, errors: &mut Vec<Problem>) -> Option<RcKind> {
    let up_path = dir.join("up");
    let up = match read_text(&up_path) {
        Ok(text) => parse_line(&text, env.execlineb)
            .map_err(|e| errors.push(problem(&up_path, e)))
            .ok()?,
        Err(e) => {
            errors.push(problem(
                &up_path,
                format!("a oneshot needs an up file: {e}"),
            ));
            None
        }
    };
    // The same rules as `up`: one execline command line.
    let down_path = dir.join("down");
    let down = optional_text(&down_path, errors).and_then(|text| {
        parse_line(&text, env.execlineb)
            .map_err(|e| errors.push(problem(&down_path, e)))
            .ok()
            .flatten()
    });
    Some(RcKind::Oneshot {
        up,
        down,
        timeout_down: millis(&dir.join("timeout-down"), errors),
    })
}

/// A longrun's scripts, readiness, stop settings and pipeline files; None without a `run`.
fn read_longrun(dir: &Path, env: &Env, errors: &mut Vec<Problem>) -> Option<RcKind> {
    let run = match script_argv(&dir.join("run"), env.command_dir) {
        Ok(s) => s,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let finish = optional_script(&dir.join("finish"), env.command_dir, errors);
    let nfd_path = dir.join("notification-fd");
    let notification_fd =
        read_number(&nfd_path, errors).and_then(|n| fd_number(&nfd_path, n, errors));
    let sig_path = dir.join("down-signal");
    let down_signal = optional_text(&sig_path, errors).and_then(|t| {
        crate::values::parse_signal(t.trim())
            .map_err(|e| errors.push(problem(&sig_path, e)))
            .ok()
    });
    Some(RcKind::Longrun {
        run,
        finish,
        timeout_finish: millis(&dir.join("timeout-finish"), errors),
        notification_fd,
        down_signal,
        timeout_kill: millis(&dir.join("timeout-kill"), errors),
        producer_for: one_name(&dir.join("producer-for"), errors),
        consumer_for: {
            let mut producers = names_in(&dir.join("consumer-for"), errors);
            producers.sort();
            producers.dedup();
            producers
        },
        pipeline_name: one_name(&dir.join("pipeline-name"), errors),
    })
}

/// The service's `env/` envdir (absent: none); one that cannot be read is an error.
fn read_envdir_strict(dir: &Path, errors: &mut Vec<Problem>) -> Vec<(String, String)> {
    if !dir.is_dir() {
        return Vec::new();
    }
    match crate::config::s6::envdir::read(dir) {
        Ok(vars) => vars
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        Err(e) => {
            errors.push(problem(dir, e));
            Vec::new()
        }
    }
}

/// `user` and `user2` as bundles in s6-rc.d (the form before 3.2.3) are folded into the
/// membership lists, with the members listed in `bundles` (`user-bundles.d`), so both forms
/// (and a mix) mean the same.
pub(super) fn fold_user_bundles(layout: &mut Layout, bundles: &Path, errors: &mut Vec<Problem>) {
    for (bundle, list) in [("user", &mut layout.user), ("user2", &mut layout.user2)] {
        if let Some(pos) = layout.rc.iter().position(|s| s.name == bundle) {
            let svc = layout.rc.remove(pos);
            match svc.kind {
                RcKind::Bundle { contents } => list.extend(contents),
                _ => errors.push(problem(
                    &svc.dir.join("type"),
                    format!("{bundle:?} is s6-overlay's bundle of services to start; it must be of type bundle"),
                )),
            }
        }
        let members = bundles.join(bundle).join("contents.d");
        list.extend(entries(&members, errors));
        list.sort();
        list.dedup();
    }
}
