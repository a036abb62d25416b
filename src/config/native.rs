//! pidone's own format: the global file and one TOML file per service in `services.d/`.
//! Loads the files, merges each service with `[defaults]`, validates every value into the
//! model and locates every error at its file, line and key.

use super::raw::{read_file, read_global, read_service};
use super::tomlread::KeyLines;
use super::*;
use crate::program::{self, Unrunnable};
use crate::values::{
    check_zero, limit, parse_http_url, parse_mode, parse_signal, parse_socket_addr,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    for key in [
        "command",
        "kind",
        "after",
        "stdout_to",
        "ready",
        "health",
        "schedule",
        "timezone",
        "jitter",
        "then_reload",
        "idle_timeout",
        "warn_before",
        "warn_signal",
        "warn_command",
        "stop_command",
    ] {
        let present = match key {
            "command" => global.defaults.command.is_some(),
            "kind" => global.defaults.kind.is_some(),
            "after" => global.defaults.after.is_some(),
            "stdout_to" => global.defaults.stdout_to.is_some(),
            "ready" => global.defaults.ready.is_some(),
            "schedule" => global.defaults.schedule.is_some(),
            "timezone" => global.defaults.timezone.is_some(),
            "jitter" => global.defaults.jitter.is_some(),
            "then_reload" => global.defaults.then_reload.is_some(),
            "idle_timeout" => global.defaults.idle_timeout.is_some(),
            "warn_before" => global.defaults.warn_before.is_some(),
            "warn_signal" => global.defaults.warn_signal.is_some(),
            "warn_command" => global.defaults.warn_command.is_some(),
            "stop_command" => global.defaults.stop_command.is_some(),
            _ => global.defaults.health.is_some(),
        };
        if present {
            errors.push(
                Some("defaults"),
                key,
                "this key belongs in a service file, not in [defaults]".into(),
            );
        }
    }
    // Validate the defaults' values once here, so a bad default is reported against this file.
    let _ = build_service(
        "defaults",
        &RawService::default(),
        &global.defaults,
        &mut errors,
    );
    let checked = errors.finish(()).err().unwrap_or_default();
    global.lines = lines;
    let all = merge_errors(read_errors, checked, Some("defaults"));
    if all.is_empty() { Ok(global) } else { Err(all) }
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
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            all_errors.push(ConfigError {
                file: path.clone(),
                line: None,
                key: None,
                message: format!(
                    "service name {name:?} (the file name) may only use letters, digits, '_', '.' and '-'"
                ),
            });
            continue;
        }
        if name == "main" || name == "render" {
            all_errors.push(ConfigError {
                file: path.clone(),
                line: None,
                key: None,
                message: format!("service name {name:?} is reserved by pidone; rename the file"),
            });
            continue;
        }
        let (raw, lines, read_errors) = match read_file(path, text, read_service) {
            Ok(read) => read,
            Err(mut errs) => {
                all_errors.append(&mut errs);
                broken.push(name);
                continue;
            }
        };
        let mut errors = Errors::new(path, &lines, None);
        if raw.command.is_none() {
            errors.push(
                None,
                "command",
                "is required: the argv to run, e.g. command = [\"nginx\", \"-g\", \"daemon off;\"]"
                    .into(),
            );
        }
        let svc = build_service(&name, &raw, defaults, &mut errors);
        match errors.finish(svc) {
            Ok(svc) if read_errors.is_empty() => {
                files.insert(name, (path.clone(), lines));
                services.push(svc);
            }
            Ok(_) => {
                all_errors.extend(read_errors);
                broken.push(name);
            }
            Err(checked) => {
                all_errors.extend(merge_errors(read_errors, checked, None));
                broken.push(name);
            }
        }
    }
    // The links are checked among the valid services; one to a service whose file has its
    // own errors (reported above) is left out, or a mistake in setup.toml would also make
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
    all_errors.extend(super::graph::check_schedule_links(
        &checked,
        &|name: &str, key: &str| {
            let (path, lines) = &files[name];
            (path.clone(), lines.get(key).copied())
        },
    ));
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
    if all_errors.is_empty() {
        Ok(services)
    } else {
        Err(all_errors)
    }
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

/// Collects the errors of one file's values, locating each key from the lines the reading
/// recorded.
struct Errors<'a> {
    path: &'a Path,
    lines: &'a KeyLines,
    /// The table whose keys are checked without its name (`[defaults]` of the global file).
    within: Option<&'a str>,
    list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    fn new(path: &'a Path, lines: &'a KeyLines, within: Option<&'a str>) -> Self {
        Errors {
            path,
            lines,
            within,
            list: Vec::new(),
        }
    }
    fn push(&mut self, table: Option<&str>, key: &str, message: String) {
        let full_key = match table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_string(),
        };
        self.list.push(ConfigError {
            file: self.path.to_path_buf(),
            line: self.line(&full_key, table),
            key: Some(full_key),
            message,
        });
    }
    /// The line of the key; failing that (a check about a key that is absent, like
    /// `health.command` for "takes exactly one kind of check"), the line of its table.
    fn line(&self, full_key: &str, table: Option<&str>) -> Option<usize> {
        let find = |name: &str| {
            self.within
                .and_then(|w| self.lines.get(&format!("{w}.{name}")))
                .or_else(|| self.lines.get(name))
                .copied()
        };
        find(full_key).or_else(|| find(table?))
    }
    fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(self.list)
        }
    }
}

/// Merge a raw service with the defaults and validate every value.
fn build_service(
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
    let duration = |errors: &mut Errors,
                    table: Option<&str>,
                    key: &str,
                    value: Option<RawDuration>,
                    default: Duration| {
        // What 0 means is one rule for every duration key (values::zero_means): here the
        // keys that refuse it; the no-limit ones are turned into `None` where they are read.
        let setting = table.map_or(key.to_string(), |t| format!("{t}.{key}"));
        match value.map(|v| v.parse().and_then(|d| check_zero(&setting, d))) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                errors.push(table, key, e);
                default
            }
        }
    };
    let signal = |errors: &mut Errors, key: &str, value: Option<String>, default: i32| match value
        .map(|v| parse_signal(&v))
    {
        None => default,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            errors.push(None, key, e);
            default
        }
    };

    let command = raw.command.clone().unwrap_or_default();
    if raw.command.is_some() {
        if command.is_empty() || command[0].is_empty() {
            errors.push(
                None,
                "command",
                "must name a program: command = [\"prog\", \"arg\"]".into(),
            );
        } else if let Err(e) = check_program(&command[0], &command_search_path(raw, defaults)) {
            errors.push(None, "command", e);
        }
    }
    let kind = match raw.kind.as_deref() {
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
    };
    let restart = match pick!(restart).as_deref() {
        None => Restart::default_for(kind),
        Some("always") => Restart::Always,
        Some("on-failure") => Restart::OnFailure,
        Some("never") => Restart::Never,
        Some(other) => {
            errors.push(
                None,
                "restart",
                format!("unknown policy {other:?}: use \"always\", \"on-failure\" or \"never\""),
            );
            Restart::OnFailure
        }
    };
    let umask = pick!(umask).and_then(|m| match parse_mode(&m) {
        Ok(m) if m <= 0o777 => Some(m),
        Ok(_) => {
            errors.push(None, "umask", "must be at most 0777".into());
            None
        }
        Err(e) => {
            errors.push(None, "umask", e);
            None
        }
    });
    let raw_backoff = pick!(backoff).unwrap_or_default();
    let backoff = Backoff {
        initial: duration(
            errors,
            Some("backoff"),
            "initial",
            raw_backoff.initial,
            Backoff::DEFAULT.initial,
        ),
        factor: raw_backoff.factor.unwrap_or(Backoff::DEFAULT.factor),
        max: duration(
            errors,
            Some("backoff"),
            "max",
            raw_backoff.max,
            Backoff::DEFAULT.max,
        ),
        reset_after: duration(
            errors,
            Some("backoff"),
            "reset_after",
            raw_backoff.reset_after,
            Backoff::DEFAULT.reset_after,
        ),
        from_start: false,
    };
    if !(1.0..=100.0).contains(&backoff.factor) {
        errors.push(
            Some("backoff"),
            "factor",
            "must be between 1.0 and 100.0".into(),
        );
    }
    let limits = pick!(limits).unwrap_or_default();
    check_limits(&limits, errors);
    let mut signal_map = Vec::new();
    for (from, to) in pick!(signal_map).unwrap_or_default() {
        match (parse_signal(&from), parse_signal(&to)) {
            (Ok(f), Ok(t)) => signal_map.push((f, t)),
            (Err(e), _) | (_, Err(e)) => errors.push(None, "signal_map", e),
        }
    }
    let reload = match pick!(reload_signal).as_deref() {
        None => Reload::Signal(libc::SIGHUP),
        Some("restart") => Reload::Restart,
        Some(sig) => match parse_signal(sig) {
            Ok(s) => Reload::Signal(s),
            Err(e) => {
                errors.push(None, "reload_signal", format!("{e}, or \"restart\""));
                Reload::Signal(libc::SIGHUP)
            }
        },
    };
    let export_env = pick!(export_env).unwrap_or(false);
    if export_env && kind != Kind::Oneshot {
        errors.push(
            None,
            "export_env",
            "only a oneshot can hand environment on".into(),
        );
    }
    let after = raw.after.clone().unwrap_or_default();
    if after.iter().any(|a| a == name) {
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
    let ready = raw
        .ready
        .as_ref()
        .and_then(|r| build_ready(r, kind, errors, &duration));
    let health = raw
        .health
        .as_ref()
        .and_then(|h| build_health(h, errors, &duration));
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
    if health.is_some() && kind == Kind::Oneshot {
        errors.push(
            None,
            "health",
            "a oneshot cannot have a health check".into(),
        );
    }
    let schedule = build_schedule(raw, kind, errors, &duration);
    let stop_timeout = duration(
        errors,
        None,
        "stop_timeout",
        pick!(stop_timeout),
        DEFAULT_STOP_TIMEOUT,
    );
    let stop_command = raw.stop_command.as_ref().and_then(|argv| {
        let problem = if kind != Kind::Oneshot {
            Some("only a oneshot has a stop command (run at shutdown to undo what it set up); a longrun is stopped with its `stop_signal`".to_string())
        } else if raw.schedule.is_some() {
            Some("a scheduled oneshot has no stop command: it is not \"up\" between its runs".into())
        } else if argv.first().is_none_or(|p| p.is_empty()) {
            Some("must name a program: stop_command = [\"prog\", \"arg\"]".into())
        } else {
            check_program(&argv[0], &command_search_path(raw, defaults)).err()
        };
        match problem {
            Some(p) => {
                errors.push(None, "stop_command", p);
                None
            }
            None => Some(StopCommand {
                argv: argv.clone(),
                timeout: Some(stop_timeout),
            }),
        }
    });
    let idle_timeout = raw.idle_timeout.clone().and_then(|v| {
        limit(duration(
            errors,
            None,
            "idle_timeout",
            Some(v),
            Duration::ZERO,
        ))
    });
    let warn_before = raw
        .warn_before
        .clone()
        .map(|v| duration(errors, None, "warn_before", Some(v), Duration::ZERO));
    let warn_signal = raw
        .warn_signal
        .clone()
        .map(|v| signal(errors, "warn_signal", Some(v), libc::SIGUSR1));
    let max_runtime_value = if kind == Kind::Longrun {
        raw.max_runtime
            .clone()
            .or_else(|| defaults.max_runtime.clone())
            .and_then(|v| v.parse().ok())
            .and_then(limit)
    } else {
        None
    };
    for problem in crate::session::limit_problems(
        kind == Kind::Longrun,
        max_runtime_value,
        idle_timeout,
        warn_before,
        warn_signal.is_some() || raw.warn_command.is_some(),
    ) {
        // A missing warn_before is reported at the key that needs it, which has a line.
        let key = match problem.0 {
            "warn_before" if raw.warn_before.is_none() && raw.warn_signal.is_some() => {
                "warn_signal"
            }
            "warn_before" if raw.warn_before.is_none() => "warn_command",
            k => k,
        };
        errors.push(None, key, problem.1);
    }
    Service {
        name: name.to_string(),
        command,
        kind,
        after,
        stdout_to: raw.stdout_to.clone(),
        env: pick!(env).unwrap_or_default().into_iter().collect(),
        working_dir: pick!(working_dir),
        umask,
        limits: Limits {
            nofile: limits.nofile,
            nproc: limits.nproc,
            core: limits.core,
        },
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
        max_runtime: pick!(max_runtime)
            .filter(|_| kind == Kind::Longrun)
            .and_then(|v| {
                limit(duration(
                    errors,
                    None,
                    "max_runtime",
                    Some(v),
                    Duration::ZERO,
                ))
            }),
        timeout: match pick!(timeout).filter(|_| kind == Kind::Oneshot) {
            None if kind == Kind::Oneshot => Some(DEFAULT_ONESHOT_TIMEOUT),
            None => None,
            Some(v) => Some(duration(
                errors,
                None,
                "timeout",
                Some(v),
                DEFAULT_ONESHOT_TIMEOUT,
            ))
            .filter(|d| !d.is_zero()),
        },
        idle_timeout,
        warn_before,
        warn_signal,
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

/// Range checks for `[limits]`, so that a value the kernel would refuse is reported by
/// `pidone check` with its line, not at the service's start.
fn check_limits(limits: &RawLimits, errors: &mut Errors) {
    // The kernel refuses RLIMIT_NOFILE above fs.nr_open (EPERM even for root).
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    if let Some(n) = limits.nofile
        && !(1..=nr_open).contains(&n)
    {
        errors.push(
            Some("limits"),
            "nofile",
            format!("must be from 1 to {nr_open} (this kernel's fs.nr_open)"),
        );
    }
    // More processes than pids can exist (PID_MAX_LIMIT) is a typo, not a limit.
    const PID_MAX_LIMIT: u64 = 4 * 1024 * 1024;
    if let Some(n) = limits.nproc
        && !(1..=PID_MAX_LIMIT).contains(&n)
    {
        errors.push(
            Some("limits"),
            "nproc",
            format!("must be from 1 to {PID_MAX_LIMIT}"),
        );
    }
    // RLIM_INFINITY is u64::MAX; any other byte count is a valid core size limit.
}

/// `schedule`, `timezone`, `jitter` and `then_reload` (service files only: [defaults]
/// refuses them). Only a oneshot can be scheduled: a longrun runs all the time anyway.
fn build_schedule(
    raw: &RawService,
    kind: Kind,
    errors: &mut Errors,
    duration: &DurationFn,
) -> Option<Scheduled> {
    let Some(text) = &raw.schedule else {
        for (present, key) in [
            (raw.timezone.is_some(), "timezone"),
            (raw.jitter.is_some(), "jitter"),
            (raw.then_reload.is_some(), "then_reload"),
        ] {
            if present {
                errors.push(
                    None,
                    key,
                    "applies only to a scheduled oneshot; add `schedule = \"0 3 * * *\"` or remove it".into(),
                );
            }
        }
        return None;
    };
    if kind != Kind::Oneshot {
        errors.push(
            None,
            "schedule",
            "only a oneshot can be scheduled; add `kind = \"oneshot\"`".into(),
        );
        return None;
    }
    let when = match crate::schedule::Schedule::parse(text) {
        Ok(w) => w,
        Err(e) => {
            errors.push(None, "schedule", e);
            return None;
        }
    };
    let offset = match raw.timezone.as_deref().map(crate::schedule::parse_offset) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            errors.push(None, "timezone", e);
            0
        }
    };
    if raw.timezone.is_some() && matches!(when, crate::schedule::Schedule::Every(_)) {
        errors.push(
            None,
            "timezone",
            "`@every` counts from pidone's start; a time zone applies to cron expressions only"
                .into(),
        );
    }
    if raw.export_env == Some(true) {
        errors.push(
            None,
            "export_env",
            "a scheduled oneshot cannot hand environment on: the services it would go to started long before its runs".into(),
        );
    }
    if raw.critical == Some(true) {
        errors.push(
            None,
            "critical",
            "a failed scheduled run is logged and tried again at the next tick; it never ends the container, so it cannot be critical".into(),
        );
    }
    let jitter = duration(errors, None, "jitter", raw.jitter.clone(), Duration::ZERO);
    Some(Scheduled {
        when,
        offset,
        jitter,
        zone_given: raw.timezone.is_some(),
    })
}

type DurationFn<'f> =
    dyn Fn(&mut Errors, Option<&str>, &str, Option<RawDuration>, Duration) -> Duration + 'f;

fn build_probe(
    table: &str,
    command: &Option<Vec<String>>,
    tcp: &Option<RawAddress>,
    http: Option<&String>,
    file: &Option<PathBuf>,
    errors: &mut Errors,
    present: &mut Vec<&'static str>,
) -> Option<Probe> {
    let mut probes = Vec::new();
    // Every check key given, valid or not: an unusable value is reported at its key and
    // still counts as the check that was meant (no second, wrong "needs one of" error).
    for (key, given) in [
        ("command", command.is_some()),
        ("tcp", tcp.is_some()),
        ("http", http.is_some()),
        ("file", file.is_some()),
    ] {
        if given {
            present.push(key);
        }
    }
    if let Some(cmd) = command {
        if cmd.is_empty() {
            errors.push(Some(table), "command", "must name a program".into());
        }
        probes.push(Probe::Command(cmd.clone()));
    }
    if let Some(addr) = tcp {
        match address(addr) {
            Ok(a) => probes.push(Probe::Tcp(a)),
            Err(e) => errors.push(Some(table), "tcp", e),
        }
    }
    if let Some(url) = http {
        match parse_http_url(url) {
            Ok((address, path)) => probes.push(Probe::Http { address, path }),
            Err(e) => errors.push(Some(table), "http", e),
        }
    }
    if let Some(f) = file {
        probes.push(Probe::File(f.clone()));
    }
    probes.pop()
}

/// `[TABLE]` names more than one check: reported at the second one given (which has a line
/// in the file), naming both.
fn more_than_one_check(table: &str, present: &[&str], errors: &mut Errors) -> bool {
    if present.len() < 2 {
        return false;
    }
    let second = present[1];
    errors.push(
        Some(table),
        second,
        format!(
            "[{table}] takes exactly one kind of check, but has `{}` and `{second}`: keep one",
            present[0]
        ),
    );
    true
}

fn build_ready(
    raw: &RawReady,
    kind: Kind,
    errors: &mut Errors,
    duration: &DurationFn,
) -> Option<Ready> {
    let mut present = Vec::new();
    if raw.notify_fd.is_some() {
        present.push("notify_fd");
    }
    if raw.notify_socket == Some(true) {
        present.push("notify_socket");
    }
    let probe = build_probe(
        "ready",
        &raw.command,
        &raw.tcp,
        None,
        &raw.file,
        errors,
        &mut present,
    );
    let mut checks = Vec::new();
    if let Some(fd) = raw.notify_fd {
        if !(3..=1000).contains(&fd) {
            errors.push(
                Some("ready"),
                "notify_fd",
                "must be a file descriptor number from 3 to 1000".into(),
            );
        }
        checks.push(ReadyCheck::NotifyFd(fd));
    }
    if raw.notify_socket == Some(true) {
        checks.push(ReadyCheck::NotifySocket);
    }
    if let Some(p) = probe {
        checks.push(ReadyCheck::Probe(p));
    }
    if kind == Kind::Oneshot {
        errors.push(
            None,
            "ready",
            "a oneshot is ready when it exits 0; remove [ready]".into(),
        );
    }
    if present.is_empty() {
        errors.push(
            None,
            "ready",
            "[ready] needs exactly one of notify_fd, notify_socket, tcp, file, command".into(),
        );
        return None;
    }
    if more_than_one_check("ready", &present, errors) || checks.len() != 1 {
        return None;
    }
    Some(Ready {
        check: checks.pop()?,
        timeout: duration(
            errors,
            Some("ready"),
            "timeout",
            raw.timeout.clone(),
            Duration::from_secs(30),
        ),
        interval: duration(
            errors,
            Some("ready"),
            "interval",
            raw.interval.clone(),
            Duration::from_millis(100),
        ),
    })
}

fn build_health(raw: &RawHealth, errors: &mut Errors, duration: &DurationFn) -> Option<Health> {
    let mut present = Vec::new();
    let probe = build_probe(
        "health",
        &raw.command,
        &raw.tcp,
        raw.http.as_ref(),
        &raw.file,
        errors,
        &mut present,
    );
    if present.is_empty() {
        errors.push(
            None,
            "health",
            "[health] needs one of command, tcp, http, file".into(),
        );
        return None;
    }
    if more_than_one_check("health", &present, errors) {
        return None;
    }
    let probe = probe?;
    let on_failure = match raw.on_failure.as_deref() {
        None | Some("restart") => OnUnhealthy::Restart,
        Some("ignore") => OnUnhealthy::Ignore,
        Some("stop") => OnUnhealthy::Stop,
        Some(other) => {
            errors.push(
                Some("health"),
                "on_failure",
                format!("unknown action {other:?}: use \"restart\", \"ignore\" or \"stop\""),
            );
            OnUnhealthy::Restart
        }
    };
    Some(Health {
        probe,
        interval: duration(
            errors,
            Some("health"),
            "interval",
            raw.interval.clone(),
            Duration::from_secs(10),
        ),
        timeout: duration(
            errors,
            Some("health"),
            "timeout",
            raw.timeout.clone(),
            Duration::from_secs(5),
        ),
        retries: raw.retries.unwrap_or(3).max(1),
        start_period: duration(
            errors,
            Some("health"),
            "start_period",
            raw.start_period.clone(),
            Duration::ZERO,
        ),
        on_failure,
    })
}

fn address(raw: &RawAddress) -> Result<String, String> {
    match raw {
        RawAddress::Port(p) => Ok(format!("127.0.0.1:{p}")),
        RawAddress::Text(t) => parse_socket_addr(t).map(|_| t.clone()),
    }
}

/// The PATH a service's command is looked up in: its own `env.PATH`, else its defaults', else
/// the container's (as spawn will give it).
fn command_search_path(raw: &RawService, defaults: &RawService) -> String {
    let own = raw
        .env
        .as_ref()
        .and_then(|e| e.get("PATH"))
        .or_else(|| defaults.env.as_ref().and_then(|e| e.get("PATH")));
    program::search_path(own.map(String::as_str))
}

/// The program of a `command`, found by the same resolver the start uses; the error text
/// says what to do.
fn check_program(program: &str, search_path: &str) -> Result<(), String> {
    match program::resolve(program, search_path) {
        Ok(_) => Ok(()),
        Err(Unrunnable::NotFound) if program.contains('/') => {
            Err(format!("{program:?} does not exist"))
        }
        Err(Unrunnable::NotExecutable) if program.contains('/') => {
            Err(format!("{program:?} is not an executable file"))
        }
        Err(Unrunnable::NotFound) => Err(format!(
            "program {program:?} not found in PATH ({search_path}); install it or use an absolute path"
        )),
        Err(Unrunnable::NotExecutable) => Err(format!(
            "program {program:?} is in PATH ({search_path}) but not executable; chmod +x it or use another path"
        )),
    }
}
