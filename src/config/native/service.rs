//! One service file (merged with `[defaults]`) into one validated `Service`: `build_service`
//! is the recipe, one builder per part, and here are the builders of the small keys that need
//! no file of their own (kind, umask, signals, reload, export_env, the links to other
//! services, the keys of the other kind). Separate from `mod.rs` so that loading files and
//! validating values are read apart.

use super::checks::{build_health, build_ready};
use super::command::{build_command, build_stop_command, command_search_path};
use super::errors::{Errors, duration, signal};
use super::limits::{build_limits, build_max_runtime, build_oneshot_timeout, build_session};
use super::restart::{build_backoff, build_restart};
use super::schedule::build_schedule;
use crate::config::{
    DEFAULT_MAX_RESTARTS, DEFAULT_RESTART_WINDOW, DEFAULT_STOP_TIMEOUT, Kind, RawService, Reload,
    Service,
};
use crate::values::{parse_mode, parse_signal};
use std::collections::BTreeMap;

/// Merge a raw service with the defaults and validate every value.
///
/// Keep the order of the steps: errors are reported sorted by line, and those of keys on one
/// line (an inline table, such as `defaults = { ... }` in the global file) in the order they
/// were pushed. `restart_window`, `stop_signal`, `max_runtime` and `timeout`, read in the
/// `Service` itself, are the last steps.
pub(super) fn build_service(
    name: &str,
    raw: &RawService,
    defaults: &RawService,
    errors: &mut Errors,
) -> Service {
    macro_rules! pick {
        ($field:ident) => {
            raw.$field.clone().or_else(|| defaults.$field.clone())
        };
    }
    let search_path = command_search_path(raw, defaults);
    let command = build_command(raw.command.as_ref(), &search_path, errors);
    let kind = build_kind(raw.kind.as_deref(), errors);
    let restart = build_restart(pick!(restart).as_deref(), kind, errors);
    let umask = build_umask(pick!(umask), errors);
    let backoff = build_backoff(pick!(backoff).unwrap_or_default(), errors);
    let limits = build_limits(pick!(limits).unwrap_or_default(), errors);
    let signal_map = build_signal_map(pick!(signal_map).unwrap_or_default(), errors);
    let reload = build_reload(pick!(reload_signal).as_deref(), errors);
    let export_env = build_export_env(pick!(export_env), kind, errors);
    check_links(name, raw, errors);
    let ready = raw
        .ready
        .as_ref()
        .and_then(|r| build_ready(r, kind, errors));
    let health = raw.health.as_ref().and_then(|h| build_health(h, errors));
    refuse_keys_of_the_other_kind(raw, kind, health.is_some(), errors);
    let schedule = build_schedule(raw, kind, errors);
    let stop_timeout = duration(
        errors,
        None,
        "stop_timeout",
        pick!(stop_timeout),
        DEFAULT_STOP_TIMEOUT,
    );
    let stop_command = build_stop_command(raw, kind, stop_timeout, &search_path, errors);
    let session = build_session(raw, pick!(max_runtime), kind, errors);
    Service {
        name: name.to_string(),
        command,
        kind,
        after: raw.after.clone().unwrap_or_default(),
        stdout_to: raw.stdout_to.clone(),
        env: pick!(env).unwrap_or_default().into_iter().collect(),
        working_dir: pick!(working_dir),
        umask,
        limits,
        restart,
        backoff,
        max_restarts: pick!(max_restarts).unwrap_or(DEFAULT_MAX_RESTARTS),
        restart_window: duration(
            errors,
            None,
            "restart_window",
            pick!(restart_window),
            DEFAULT_RESTART_WINDOW,
        ),
        critical: pick!(critical).unwrap_or(kind == Kind::Oneshot),
        stop_signal: signal(errors, "stop_signal", pick!(stop_signal), libc::SIGTERM),
        stop_timeout,
        // From [defaults], each of these two applies only to the kind it is meant for.
        max_runtime: build_max_runtime(pick!(max_runtime), kind, errors),
        timeout: build_oneshot_timeout(pick!(timeout), kind, errors),
        idle_timeout: session.idle_timeout,
        warn_before: session.warn_before,
        warn_signal: session.warn_signal,
        warn_command: raw.warn_command.clone(),
        schedule,
        then_reload: raw.then_reload.clone().unwrap_or_default(),
        reload_on: pick!(reload_on).unwrap_or_default(),
        reload,
        log_prefix: pick!(log_prefix).unwrap_or(true),
        forward_signals: pick!(forward_signals).unwrap_or(kind == Kind::Longrun),
        signal_map,
        export_env,
        ready,
        health,
        // not keys of the native format (see Service)
        dependency_wait: None,
        finish_command: None,
        stop_command,
    }
}

/// `kind` (service files only): a longrun unless it says otherwise.
fn build_kind(kind: Option<&str>, errors: &mut Errors) -> Kind {
    match kind {
        None | Some("longrun") => Kind::Longrun,
        Some("oneshot") => Kind::Oneshot,
        Some(other) => {
            errors.push(
                None,
                "kind",
                format!("unknown kind {other:?}: use \"longrun\" or \"oneshot\""),
            );
            Kind::Longrun
        }
    }
}

/// `umask`: an octal mode of permission bits only.
fn build_umask(umask: Option<String>, errors: &mut Errors) -> Option<u32> {
    umask.and_then(|m| match parse_mode(&m) {
        Ok(m) if m <= 0o777 => Some(m),
        Ok(_) => {
            errors.push(None, "umask", "must be at most 0777".into());
            None
        }
        Err(e) => {
            errors.push(None, "umask", e);
            None
        }
    })
}

/// `signal_map`: each forwarded signal and the one the service gets instead.
fn build_signal_map(map: BTreeMap<String, String>, errors: &mut Errors) -> Vec<(i32, i32)> {
    let mut signal_map = Vec::new();
    for (from, to) in map {
        match (parse_signal(&from), parse_signal(&to)) {
            (Ok(f), Ok(t)) => signal_map.push((f, t)),
            (Err(e), _) | (_, Err(e)) => errors.push(None, "signal_map", e),
        }
    }
    signal_map
}

/// `reload_signal`: a signal, or "restart"; SIGHUP when absent.
fn build_reload(reload_signal: Option<&str>, errors: &mut Errors) -> Reload {
    match reload_signal {
        None => Reload::Signal(libc::SIGHUP),
        Some("restart") => Reload::Restart,
        Some(sig) => match parse_signal(sig) {
            Ok(s) => Reload::Signal(s),
            Err(e) => {
                errors.push(None, "reload_signal", format!("{e}, or \"restart\""));
                Reload::Signal(libc::SIGHUP)
            }
        },
    }
}

/// `export_env`: only a oneshot can hand environment on.
fn build_export_env(export_env: Option<bool>, kind: Kind, errors: &mut Errors) -> bool {
    let export_env = export_env.unwrap_or(false);
    if export_env && kind != Kind::Oneshot {
        errors.push(
            None,
            "export_env",
            "only a oneshot can hand environment on".into(),
        );
    }
    export_env
}

/// `after` and `stdout_to` may not name the service itself; that the services they name
/// exist is checked once every file is read (`graph.rs`).
fn check_links(name: &str, raw: &RawService, errors: &mut Errors) {
    if raw
        .after
        .as_ref()
        .is_some_and(|a| a.iter().any(|a| a == name))
    {
        errors.push(
            None,
            "after",
            format!("a service cannot wait for itself ({name:?})"),
        );
    }
    if raw.stdout_to.as_deref() == Some(name) {
        errors.push(
            None,
            "stdout_to",
            format!("a service cannot read its own output ({name:?}); name the longrun that reads it, e.g. a logger"),
        );
    }
}

/// A key of a longrun in a oneshot's file, or the other way round.
fn refuse_keys_of_the_other_kind(
    raw: &RawService,
    kind: Kind,
    has_health: bool,
    errors: &mut Errors,
) {
    // A limit that does not apply to the kind would otherwise be accepted and ignored.
    if raw.max_runtime.is_some() && kind == Kind::Oneshot {
        errors.push(
            None,
            "max_runtime",
            "a oneshot has no max_runtime; use `timeout` (default \"5m\") to bound how long it may run".into(),
        );
    }
    if raw.timeout.is_some() && kind == Kind::Longrun {
        errors.push(
            None,
            "timeout",
            "`timeout` bounds a oneshot; for a longrun use `max_runtime`, or `[ready] timeout` for its start".into(),
        );
    }
    if has_health && kind == Kind::Oneshot {
        errors.push(
            None,
            "health",
            "a oneshot cannot have a health check".into(),
        );
    }
}
