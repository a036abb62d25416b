//! pidone's own format: the global file and one TOML file per service in `services.d/`.
//! Loads the files, merges each service with `[defaults]`, validates every value into the
//! model and locates every error at its file, line and key.
//!
//! This file loads and merges; the validation of one service is split by part, in the order
//! `service.rs` runs them:
//! - `errors.rs`: the collector that locates each error at its key's line, and the duration
//!   and signal readers every part shares;
//! - `service.rs`: `build_service`, the recipe (one builder per part), and the small keys;
//! - `command.rs`: `command` and `stop_command`, each a program the start will find;
//! - `restart.rs`: the restart policy, `restart` and `[backoff]`;
//! - `limits.rs`: `[limits]` and the session limits (`max_runtime`, `idle_timeout`,
//!   `timeout`, the warning before them);
//! - `checks.rs`: `[ready]` and `[health]`, one check each;
//! - `schedule.rs`: `schedule`, `timezone`, `jitter` of a scheduled oneshot.

mod checks;
mod command;
mod errors;
mod limits;
mod restart;
mod schedule;
mod service;

use super::raw::{read_file, read_global, read_service};
use super::tomlread::KeyLines;
use super::*;
use errors::Errors;
use service::build_service;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Reads a file's text; used so tests can load from strings.
pub fn load_global(path: &Path, must_exist: bool) -> Result<GlobalFile, Vec<ConfigError>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(GlobalFile::default());
        }
        Err(e) => {
            return Err(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                key: None,
                message: format!("cannot read the global config file: {e}"),
            }]);
        }
    };
    parse_global(path, &text)
}

pub fn parse_global(path: &Path, text: &str) -> Result<GlobalFile, Vec<ConfigError>> {
    let (mut global, lines, read_errors) = read_file(path, text, read_global)?;
    let mut errors = Errors::new(path, &lines, Some("defaults"));
    refuse_service_only_keys(&global.defaults, &mut errors);
    // Validate the defaults' values once here, so a bad default is reported against this file.
    let _ = build_service(
        "defaults",
        &RawService::default(),
        &global.defaults,
        &mut errors,
    );
    // `timeout` is a oneshot's key, which the check above (the defaults as a longrun) skips:
    // without this a bad default was reported against the first oneshot's file, with no line.
    let _ =
        limits::build_oneshot_timeout(global.defaults.timeout.clone(), Kind::Oneshot, &mut errors);
    let checked = errors.finish(()).err().unwrap_or_default();
    global.lines = lines;
    let all = merge_errors(read_errors, checked, Some("defaults"));
    if all.is_empty() { Ok(global) } else { Err(all) }
}

/// The keys that describe one service (its program, its links, its checks, its schedule,
/// its session), which `[defaults]` refuses.
fn refuse_service_only_keys(defaults: &RawService, errors: &mut Errors) {
    for (key, present) in [
        ("command", defaults.command.is_some()),
        ("kind", defaults.kind.is_some()),
        ("after", defaults.after.is_some()),
        ("stdout_to", defaults.stdout_to.is_some()),
        ("ready", defaults.ready.is_some()),
        ("health", defaults.health.is_some()),
        ("schedule", defaults.schedule.is_some()),
        ("timezone", defaults.timezone.is_some()),
        ("jitter", defaults.jitter.is_some()),
        ("then_reload", defaults.then_reload.is_some()),
        ("idle_timeout", defaults.idle_timeout.is_some()),
        ("warn_before", defaults.warn_before.is_some()),
        ("warn_signal", defaults.warn_signal.is_some()),
        ("warn_command", defaults.warn_command.is_some()),
        ("stop_command", defaults.stop_command.is_some()),
    ] {
        if present {
            errors.push(
                Some("defaults"),
                key,
                "this key belongs in a service file, not in [defaults]".into(),
            );
        }
    }
}

/// Load and validate every `*.toml` in `dir`. A missing directory means no services.
pub fn load_services(dir: &Path, defaults: &RawService) -> Result<Vec<Service>, Vec<ConfigError>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(vec![ConfigError {
                file: dir.to_path_buf(),
                line: None,
                key: None,
                message: format!("cannot read the services directory: {e}"),
            }]);
        }
    };
    files.sort();
    let mut all_errors = Vec::new();
    let mut sources = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push((file.clone(), text)),
            Err(e) => all_errors.push(ConfigError {
                file: file.clone(),
                line: None,
                key: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    match parse_services(&sources, defaults) {
        Ok(services) if all_errors.is_empty() => Ok(services),
        Ok(_) => Err(all_errors),
        Err(mut errs) => {
            all_errors.append(&mut errs);
            Err(all_errors)
        }
    }
}

/// Parse and validate service files given as (path, text) pairs.
pub fn parse_services(
    sources: &[(PathBuf, String)],
    defaults: &RawService,
) -> Result<Vec<Service>, Vec<ConfigError>> {
    let mut all_errors = Vec::new();
    let mut services = Vec::new();
    // The file and key lines of each valid service, for the errors about `after`.
    let mut files = HashMap::new();
    // Services whose file has errors of its own: naming one is not one more error.
    let mut broken: Vec<String> = Vec::new();
    for (path, text) in sources {
        let name = match service_name(path) {
            Ok(name) => name,
            Err(e) => {
                all_errors.push(e);
                continue;
            }
        };
        match parse_service(path, text, &name, defaults) {
            Ok((svc, lines)) => {
                files.insert(name, (path.clone(), lines));
                services.push(svc);
            }
            Err(errs) => {
                all_errors.extend(errs);
                broken.push(name);
            }
        }
    }
    all_errors.extend(check_links_between(&services, &broken, &files));
    if all_errors.is_empty() {
        Ok(services)
    } else {
        Err(all_errors)
    }
}

/// The service's name: its file's name without `.toml`, in the characters a name may use and
/// not one pidone keeps for itself.
fn service_name(path: &Path) -> Result<String, ConfigError> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!(
                "service name {name:?} (the file name) may only use letters, digits, '_', '.' and '-'"
            ),
        });
    }
    if name == "main" || name == "render" {
        return Err(ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("service name {name:?} is reserved by pidone; rename the file"),
        });
    }
    Ok(name)
}

/// One service file: read, merged with the defaults and validated; with its key lines, for
/// the errors about its links.
fn parse_service(
    path: &Path,
    text: &str,
    name: &str,
    defaults: &RawService,
) -> Result<(Service, KeyLines), Vec<ConfigError>> {
    let (raw, lines, read_errors) = read_file(path, text, read_service)?;
    let mut errors = Errors::new(path, &lines, None);
    if raw.command.is_none() {
        errors.push(
            None,
            "command",
            "is required: the argv to run, e.g. command = [\"nginx\", \"-g\", \"daemon off;\"]"
                .into(),
        );
    }
    let svc = build_service(name, &raw, defaults, &mut errors);
    match errors.finish(svc) {
        Ok(svc) if read_errors.is_empty() => Ok((svc, lines)),
        Ok(_) => Err(read_errors),
        Err(checked) => Err(merge_errors(read_errors, checked, None)),
    }
}

/// The names in `after`, `stdout_to` and `then_reload`, checked among the valid services
/// (`files`: each one's file and key lines).
fn check_links_between(
    services: &[Service],
    broken: &[String],
    files: &HashMap<String, (PathBuf, KeyLines)>,
) -> Vec<ConfigError> {
    // The links are checked among the valid services; one to a service whose file has its
    // own errors (reported with its file) is left out, or a mistake in setup.toml would also make
    // web.toml's `after = ["setup"]` an "unknown service".
    let checked: Vec<Service> = services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.after.retain(|d| !broken.contains(d));
            s.then_reload.retain(|d| !broken.contains(d));
            if s.stdout_to.as_ref().is_some_and(|t| broken.contains(t)) {
                s.stdout_to = None;
            }
            s
        })
        .collect();
    // A service's dependency errors point at its file and its `after` line.
    let mut all_errors = super::graph::check_schedule_links(&checked, &|name: &str, key: &str| {
        let (path, lines) = &files[name];
        (path.clone(), lines.get(key).copied())
    });
    all_errors.extend(super::graph::check_pipes(
        &checked,
        &|name: &str, key: &str| {
            let (path, lines) = &files[name];
            (path.clone(), lines.get(key).copied())
        },
    ));
    all_errors.extend(check_graph(&checked, &|name: &str| {
        let (path, lines) = &files[name];
        (path.clone(), lines.get("after").copied())
    }));
    all_errors
}

/// The read problems, then those of the checks that ran on what could be read. A value that
/// failed to read is missing from what was checked, so a check about its key (or about the
/// table it is in: `[health] needs one of ...` after a bad `health.tcp`) would report it a
/// second time, wrongly, as missing: those are left out. `within` is the table the checks
/// name keys without (`defaults` of the global file).
fn merge_errors(
    mut read: Vec<ConfigError>,
    checked: Vec<ConfigError>,
    within: Option<&str>,
) -> Vec<ConfigError> {
    let bad: Vec<String> = read
        .iter()
        .filter_map(|e| e.key.as_deref())
        .map(|k| {
            within
                .and_then(|w| k.strip_prefix(w)?.strip_prefix('.'))
                .unwrap_or(k)
                .to_string()
        })
        .collect();
    let related = |key: &str| {
        bad.iter().any(|b| {
            b == key
                || b.strip_prefix(key).is_some_and(|r| r.starts_with('.'))
                || key
                    .strip_prefix(b.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    };
    read.extend(
        checked
            .into_iter()
            .filter(|e| !e.key.as_deref().is_some_and(related)),
    );
    read.sort_by_key(|e| e.line.unwrap_or(0));
    read
}
