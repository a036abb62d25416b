//! Stage 2 of the data flow: load the optional global file and every `services.d/*.toml`,
//! and validate all of it before anything starts. Every error names the file, the line and
//! the key, and says what to do. The result is plain data; nothing here touches processes.

use crate::render::RenderConfig;
use crate::tomlread::{self, Fields, KeyLines, ReadError, Reader};
use crate::units::{parse_duration, parse_mode, parse_signal};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};

/// One configuration problem, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A duration written as `"5s"` or as a number of seconds.
#[derive(Debug, Clone)]
pub enum RawDuration {
    Text(String),
    Seconds(f64),
}

impl RawDuration {
    fn read(t: &mut Fields, r: &mut Reader, key: &'static str) -> Option<RawDuration> {
        let item = t.get(r, key)?;
        match item.value.get_ref() {
            DeValue::String(s) => Some(RawDuration::Text(s.to_string())),
            DeValue::Integer(_) | DeValue::Float(_) => r.float(&item).map(RawDuration::Seconds),
            _ => r.wrong_type(
                &item,
                "a duration (a string like \"5s\" or a number of seconds)",
            ),
        }
    }

    fn parse(&self) -> Result<Duration, String> {
        match self {
            RawDuration::Text(t) => parse_duration(t),
            RawDuration::Seconds(s) => parse_duration(&s.to_string()),
        }
    }
}

/// The global file as written (every key optional).
#[derive(Debug, Default)]
pub struct GlobalFile {
    pub user: Option<String>,
    pub allow_root: Option<bool>,
    pub keep_caps: Option<Vec<String>>,
    pub grace: Option<RawDuration>,
    pub stop_signal: Option<String>,
    pub map_exit: Option<BTreeMap<String, u8>>,
    pub services_dir: Option<PathBuf>,
    pub templates_dir: Option<PathBuf>,
    pub render_dir: Option<PathBuf>,
    pub run_dir: Option<PathBuf>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub defaults: RawService,
    pub render: RenderConfig,
    /// The line of every key in the file (`render.after` -> 12), for checks made later
    /// against other files (`[render] after` names services).
    pub lines: KeyLines,
}

/// A service file as written. Also the shape of the global `[defaults]` table.
#[derive(Debug, Default, Clone)]
pub struct RawService {
    pub command: Option<Vec<String>>,
    pub kind: Option<String>,
    pub after: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub working_dir: Option<PathBuf>,
    pub umask: Option<String>,
    pub limits: Option<RawLimits>,
    pub restart: Option<String>,
    pub backoff: Option<RawBackoff>,
    pub max_restarts: Option<u32>,
    pub restart_window: Option<RawDuration>,
    pub critical: Option<bool>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<RawDuration>,
    pub max_runtime: Option<RawDuration>,
    pub timeout: Option<RawDuration>,
    pub idle_timeout: Option<RawDuration>,
    pub warn_before: Option<RawDuration>,
    pub warn_signal: Option<String>,
    pub warn_command: Option<Vec<String>>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub jitter: Option<RawDuration>,
    pub then_reload: Option<Vec<String>>,
    pub reload_on: Option<Vec<PathBuf>>,
    pub reload_signal: Option<String>,
    pub log_prefix: Option<bool>,
    pub forward_signals: Option<bool>,
    pub signal_map: Option<BTreeMap<String, String>>,
    pub export_env: Option<bool>,
    pub ready: Option<RawReady>,
    pub health: Option<RawHealth>,
}

#[derive(Debug, Default, Clone)]
pub struct RawLimits {
    pub nofile: Option<u64>,
    pub nproc: Option<u64>,
    pub core: Option<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct RawBackoff {
    pub initial: Option<RawDuration>,
    pub factor: Option<f64>,
    pub max: Option<RawDuration>,
    pub reset_after: Option<RawDuration>,
}

/// `tcp = "127.0.0.1:80"` or `tcp = 80`.
#[derive(Debug, Clone)]
pub enum RawAddress {
    Text(String),
    Port(u16),
}

#[derive(Debug, Default, Clone)]
pub struct RawReady {
    pub notify_fd: Option<i32>,
    pub notify_socket: Option<bool>,
    pub tcp: Option<RawAddress>,
    pub file: Option<PathBuf>,
    pub command: Option<Vec<String>>,
    pub timeout: Option<RawDuration>,
    pub interval: Option<RawDuration>,
}

#[derive(Debug, Default, Clone)]
pub struct RawHealth {
    pub command: Option<Vec<String>>,
    pub tcp: Option<RawAddress>,
    pub http: Option<String>,
    pub file: Option<PathBuf>,
    pub interval: Option<RawDuration>,
    pub timeout: Option<RawDuration>,
    pub retries: Option<u32>,
    pub start_period: Option<RawDuration>,
    pub on_failure: Option<String>,
}

impl RawAddress {
    fn read(t: &mut Fields, r: &mut Reader, key: &'static str) -> Option<RawAddress> {
        let item = t.get(r, key)?;
        match item.value.get_ref() {
            DeValue::String(s) => Some(RawAddress::Text(s.to_string())),
            DeValue::Integer(_) => r.int(&item).map(RawAddress::Port),
            _ => r.wrong_type(
                &item,
                "an address (a string like \"127.0.0.1:8080\") or a port number",
            ),
        }
    }
}

// Reading the files. Each function asks for every key of its table, absent or not, so that
// `finish` can tell the unknown keys and list the known ones (in the order of the struct).

fn read_global(mut t: Fields, r: &mut Reader) -> GlobalFile {
    let global = GlobalFile {
        user: t.string(r, "user"),
        allow_root: t.bool(r, "allow_root"),
        keep_caps: t.strings(r, "keep_caps"),
        grace: RawDuration::read(&mut t, r, "grace"),
        stop_signal: t.string(r, "stop_signal"),
        map_exit: t.int_map(r, "map_exit"),
        services_dir: t.path(r, "services_dir"),
        templates_dir: t.path(r, "templates_dir"),
        render_dir: t.path(r, "render_dir"),
        run_dir: t.path(r, "run_dir"),
        log_format: t.string(r, "log_format"),
        log_level: t.string(r, "log_level"),
        defaults: t
            .table(r, "defaults")
            .map(|t| read_service(t, r))
            .unwrap_or_default(),
        render: t
            .table(r, "render")
            .map(|t| RenderConfig::read(t, r))
            .unwrap_or_default(),
        // Filled in by `parse_global` once the whole file is read.
        lines: KeyLines::new(),
    };
    t.finish(r);
    global
}

/// A service file, or the global `[defaults]` table.
fn read_service(mut t: Fields, r: &mut Reader) -> RawService {
    let raw = RawService {
        command: t.strings(r, "command"),
        kind: t.string(r, "kind"),
        after: t.strings(r, "after"),
        env: t.string_map(r, "env"),
        working_dir: t.path(r, "working_dir"),
        umask: t.string(r, "umask"),
        limits: t.table(r, "limits").map(|t| read_limits(t, r)),
        restart: t.string(r, "restart"),
        backoff: t.table(r, "backoff").map(|t| read_backoff(t, r)),
        max_restarts: t.int(r, "max_restarts"),
        restart_window: RawDuration::read(&mut t, r, "restart_window"),
        critical: t.bool(r, "critical"),
        stop_signal: t.string(r, "stop_signal"),
        stop_timeout: RawDuration::read(&mut t, r, "stop_timeout"),
        max_runtime: RawDuration::read(&mut t, r, "max_runtime"),
        timeout: RawDuration::read(&mut t, r, "timeout"),
        idle_timeout: RawDuration::read(&mut t, r, "idle_timeout"),
        warn_before: RawDuration::read(&mut t, r, "warn_before"),
        warn_signal: t.string(r, "warn_signal"),
        warn_command: t.strings(r, "warn_command"),
        schedule: t.string(r, "schedule"),
        timezone: t.string(r, "timezone"),
        jitter: RawDuration::read(&mut t, r, "jitter"),
        then_reload: t.strings(r, "then_reload"),
        reload_on: t.paths(r, "reload_on"),
        reload_signal: t.string(r, "reload_signal"),
        log_prefix: t.bool(r, "log_prefix"),
        forward_signals: t.bool(r, "forward_signals"),
        signal_map: t.string_map(r, "signal_map"),
        export_env: t.bool(r, "export_env"),
        ready: t.table(r, "ready").map(|t| read_ready(t, r)),
        health: t.table(r, "health").map(|t| read_health(t, r)),
    };
    t.finish(r);
    raw
}

fn read_limits(mut t: Fields, r: &mut Reader) -> RawLimits {
    let limits = RawLimits {
        nofile: t.int(r, "nofile"),
        nproc: t.int(r, "nproc"),
        core: t.int(r, "core"),
    };
    t.finish(r);
    limits
}

fn read_backoff(mut t: Fields, r: &mut Reader) -> RawBackoff {
    let backoff = RawBackoff {
        initial: RawDuration::read(&mut t, r, "initial"),
        factor: t.float(r, "factor"),
        max: RawDuration::read(&mut t, r, "max"),
        reset_after: RawDuration::read(&mut t, r, "reset_after"),
    };
    t.finish(r);
    backoff
}

fn read_ready(mut t: Fields, r: &mut Reader) -> RawReady {
    let ready = RawReady {
        notify_fd: t.int(r, "notify_fd"),
        notify_socket: t.bool(r, "notify_socket"),
        tcp: RawAddress::read(&mut t, r, "tcp"),
        file: t.path(r, "file"),
        command: t.strings(r, "command"),
        timeout: RawDuration::read(&mut t, r, "timeout"),
        interval: RawDuration::read(&mut t, r, "interval"),
    };
    t.finish(r);
    ready
}

fn read_health(mut t: Fields, r: &mut Reader) -> RawHealth {
    let health = RawHealth {
        command: t.strings(r, "command"),
        tcp: RawAddress::read(&mut t, r, "tcp"),
        http: t.string(r, "http"),
        file: t.path(r, "file"),
        interval: RawDuration::read(&mut t, r, "interval"),
        timeout: RawDuration::read(&mut t, r, "timeout"),
        retries: t.int(r, "retries"),
        start_period: RawDuration::read(&mut t, r, "start_period"),
        on_failure: t.string(r, "on_failure"),
    };
    t.finish(r);
    health
}

/// Parses `text` and reads it with `read`: the value, the lines of its keys and every
/// problem the reading found (a value with a problem is left out of the result); or the
/// syntax error.
fn read_file<T>(
    path: &Path,
    text: &str,
    read: fn(Fields, &mut Reader) -> T,
) -> Result<(T, KeyLines, Vec<ConfigError>), Vec<ConfigError>> {
    let document = DeTable::parse(text).map_err(|e| vec![toml_error(path, text, &e)])?;
    let mut reader = Reader::new(text);
    let value = read(Fields::root(&document), &mut reader);
    let (errors, lines) = reader.finish();
    let errors = errors
        .into_iter()
        .map(|ReadError { line, key, message }| ConfigError {
            file: path.to_path_buf(),
            line: Some(line),
            key: Some(key),
            message,
        })
        .collect();
    Ok((value, lines, errors))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Longrun,
    Oneshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    pub reset_after: Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub nofile: Option<u64>,
    pub nproc: Option<u64>,
    pub core: Option<u64>,
}

/// A check that runs to completion: used for readiness and for health.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// `host:port` to connect to.
    Tcp(String),
    /// Plain HTTP/1.0 GET; 2xx passes.
    Http {
        address: String,
        path: String,
    },
    File(PathBuf),
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReadyCheck {
    /// s6: the service writes a newline to this fd.
    NotifyFd(i32),
    /// systemd: `READY=1` on `$NOTIFY_SOCKET`.
    NotifySocket,
    Probe(Probe),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub check: ReadyCheck,
    pub timeout: Duration,
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnhealthy {
    Restart,
    Ignore,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub on_failure: OnUnhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Signal(i32),
    Restart,
}

/// A validated service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub command: Vec<String>,
    pub kind: Kind,
    pub after: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    pub umask: Option<u32>,
    pub limits: Limits,
    pub restart: Restart,
    pub backoff: Backoff,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub critical: bool,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub max_runtime: Option<Duration>,
    /// A oneshot still running after this long is stopped and fails (None: no limit).
    pub timeout: Option<Duration>,
    /// (longrun, CMD) No output for this long ends the session, like `max_runtime`.
    pub idle_timeout: Option<Duration>,
    /// How long before a session limit ends it to warn (`warn_signal`, `warn_command`).
    pub warn_before: Option<Duration>,
    pub warn_signal: Option<i32>,
    pub warn_command: Option<Vec<String>>,
    /// A scheduled oneshot runs at these times instead of once at start.
    pub schedule: Option<Scheduled>,
    /// Services reloaded (their `reload_signal`, or restarted) after a scheduled run exits 0.
    pub then_reload: Vec<String>,
    pub reload_on: Vec<PathBuf>,
    pub reload: Reload,
    pub log_prefix: bool,
    pub forward_signals: bool,
    /// Forwarded signal → signal this service gets instead.
    pub signal_map: Vec<(i32, i32)>,
    pub export_env: bool,
    pub ready: Option<Ready>,
    pub health: Option<Health>,
}

/// When a scheduled oneshot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub when: crate::schedule::Schedule,
    /// Seconds east of UTC the cron fields are read in.
    pub offset: crate::schedule::Offset,
    /// Each run starts up to this much later than its tick, chosen at random per tick.
    pub jitter: Duration,
}

impl Service {
    /// A service with every default, for the implicit steps (CMD, render) and for tests.
    pub fn with_defaults(name: &str, command: Vec<String>, kind: Kind) -> Service {
        let no_lines = KeyLines::new();
        let mut errors = Errors::new(Path::new(name), &no_lines, None);
        let raw = RawService {
            command: Some(command),
            ..RawService::default()
        };
        let mut svc = build_service(name, &raw, &RawService::default(), &mut errors);
        svc.kind = kind;
        if kind == Kind::Oneshot {
            svc.restart = Restart::Never;
            svc.critical = true;
            svc.timeout = Some(DEFAULT_ONESHOT_TIMEOUT);
        }
        svc
    }
}

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
    ] {
        let present = match key {
            "command" => global.defaults.command.is_some(),
            "kind" => global.defaults.kind.is_some(),
            "after" => global.defaults.after.is_some(),
            "ready" => global.defaults.ready.is_some(),
            "schedule" => global.defaults.schedule.is_some(),
            "timezone" => global.defaults.timezone.is_some(),
            "jitter" => global.defaults.jitter.is_some(),
            "then_reload" => global.defaults.then_reload.is_some(),
            "idle_timeout" => global.defaults.idle_timeout.is_some(),
            "warn_before" => global.defaults.warn_before.is_some(),
            "warn_signal" => global.defaults.warn_signal.is_some(),
            "warn_command" => global.defaults.warn_command.is_some(),
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
            Ok(_) => all_errors.extend(read_errors),
            Err(checked) => all_errors.extend(merge_errors(read_errors, checked, None)),
        }
    }
    check_graph(&services, &files, &mut all_errors);
    if all_errors.is_empty() {
        Ok(services)
    } else {
        Err(all_errors)
    }
}

/// Unknown `after` targets, `after` on a oneshot that is not allowed, and cycles.
fn check_graph(
    services: &[Service],
    files: &HashMap<String, (PathBuf, KeyLines)>,
    errors: &mut Vec<ConfigError>,
) {
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    for svc in services {
        let (path, lines) = &files[&svc.name];
        for dep in &svc.after {
            if !index.contains_key(dep.as_str()) {
                let mut known: Vec<&str> = index.keys().copied().collect();
                known.sort();
                errors.push(ConfigError {
                    file: path.clone(),
                    line: lines.get("after").copied(),
                    key: Some("after".into()),
                    message: format!(
                        "unknown service {dep:?}; services are the file names in the services directory: {}",
                        if known.is_empty() { "(none)".into() } else { known.join(", ") }
                    ),
                });
            } else if services[index[dep.as_str()]].schedule.is_some() {
                // A scheduled oneshot is never "done" for good: it runs again at its next
                // tick, so nothing could ever know when to start after it.
                errors.push(ConfigError {
                    file: path.clone(),
                    line: lines.get("after").copied(),
                    key: Some("after".into()),
                    message: format!(
                        "{dep:?} is a scheduled oneshot; nothing can wait for it (drop it from `after`, or give it no `schedule` to run once at start)"
                    ),
                });
            }
        }
        for target in &svc.then_reload {
            let problem = match index.get(target.as_str()) {
                None => Some("is not a service in the services directory"),
                Some(&t) if services[t].kind == Kind::Oneshot => {
                    Some("is a oneshot; only a longrun can be reloaded")
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                errors.push(ConfigError {
                    file: path.clone(),
                    line: lines.get("then_reload").copied(),
                    key: Some("then_reload".into()),
                    message: format!("{target:?} {problem}"),
                });
            }
        }
    }
    // Depth-first search with colours; report each cycle once, naming every member.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; services.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        services: &[Service],
        index: &HashMap<&str, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        marks[i] = Mark::Active;
        stack.push(i);
        for dep in &services[i].after {
            let Some(&j) = index.get(dep.as_str()) else {
                continue;
            };
            match marks[j] {
                Mark::New => visit(j, services, index, marks, stack, cycles),
                Mark::Active => {
                    let start = stack.iter().position(|&k| k == j).unwrap_or(0);
                    cycles.push(stack[start..].to_vec());
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
    }
    let mut cycles = Vec::new();
    for i in 0..services.len() {
        if marks[i] == Mark::New {
            visit(i, services, &index, &mut marks, &mut stack, &mut cycles);
        }
    }
    for cycle in cycles {
        let mut names: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
        names.push(names[0]);
        let first = &services[cycle[0]].name;
        let (path, lines) = &files[first];
        errors.push(ConfigError {
            file: path.clone(),
            line: lines.get("after").copied(),
            key: Some("after".into()),
            message: format!(
                "dependency cycle: {} (each waits for the next after it); remove one of these `after` entries",
                names.join(" -> ")
            ),
        });
    }
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

/// A syntax error, located by the parser's span.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: e.span().map(|span| tomlread::line_of(text, span.start)),
        key: None,
        message: e.message().trim().to_string(),
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
        match value.map(|v| v.parse()) {
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
        } else if let Some(env_path) = command_search_path(raw, defaults)
            && let Err(e) = resolve_program(&command[0], &env_path)
        {
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
        None => match kind {
            Kind::Longrun => Restart::OnFailure,
            Kind::Oneshot => Restart::Never,
        },
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
            Duration::from_millis(100),
        ),
        factor: raw_backoff.factor.unwrap_or(2.0),
        max: duration(
            errors,
            Some("backoff"),
            "max",
            raw_backoff.max,
            Duration::from_secs(30),
        ),
        reset_after: duration(
            errors,
            Some("backoff"),
            "reset_after",
            raw_backoff.reset_after,
            Duration::from_secs(10),
        ),
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
    let idle_timeout = raw
        .idle_timeout
        .clone()
        .map(|v| duration(errors, None, "idle_timeout", Some(v), Duration::ZERO));
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
        max_restarts: pick!(max_restarts).unwrap_or(5),
        restart_window: duration(
            errors,
            None,
            "restart_window",
            pick!(restart_window),
            Duration::from_secs(60),
        ),
        critical: pick!(critical).unwrap_or(kind == Kind::Oneshot),
        stop_signal: signal(errors, "stop_signal", pick!(stop_signal), libc::SIGTERM),
        stop_timeout: duration(
            errors,
            None,
            "stop_timeout",
            pick!(stop_timeout),
            Duration::from_secs(10),
        ),
        // From [defaults], each of these two applies only to the kind it is meant for.
        max_runtime: pick!(max_runtime)
            .filter(|_| kind == Kind::Longrun)
            .map(|v| duration(errors, None, "max_runtime", Some(v), Duration::ZERO)),
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
        forward_signals: pick!(forward_signals).unwrap_or(true),
        signal_map,
        export_env,
        ready,
        health,
    }
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
    })
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

/// How long a oneshot may run unless its `timeout` says otherwise: generous for init tasks
/// (migrations, key generation), but not for ever, so a hung one is named in the log and
/// fails its dependants instead of holding them and CMD in silence.
pub const DEFAULT_ONESHOT_TIMEOUT: Duration = Duration::from_secs(300);

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
        RawAddress::Text(t) => socket_addr(t).map(|_| t.clone()),
    }
}

/// Parse `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`. Host names are not resolved: the
/// binary is static, and glibc's getaddrinfo would need NSS modules that hardened images do
/// not ship; probes are for services in the same container anyway.
pub fn socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    let local = text
        .strip_prefix("localhost:")
        .map(|port| format!("127.0.0.1:{port}"));
    local.as_deref().unwrap_or(text).parse().map_err(|_| {
        format!(
            "{text:?} is not IP:PORT (e.g. \"127.0.0.1:5222\"), localhost:PORT or a port number; host names are not resolved"
        )
    })
}

/// `http://HOST:PORT/path` → ("HOST:PORT", "/path"). Only plain HTTP to a local service.
pub fn parse_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} must start with http:// (plain HTTP to a local port)"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    address(&RawAddress::Text(hostport.clone()))?;
    Ok((hostport, path.to_string()))
}

/// The PATH a service's command is looked up in: its own `env.PATH`, else the container's.
fn command_search_path(raw: &RawService, defaults: &RawService) -> Option<String> {
    raw.env
        .as_ref()
        .and_then(|e| e.get("PATH").cloned())
        .or_else(|| defaults.env.as_ref().and_then(|e| e.get("PATH").cloned()))
        .or_else(|| std::env::var("PATH").ok())
        .or_else(|| Some("/usr/local/bin:/usr/bin:/bin".into()))
}

/// Find `program` like execvp does; error text says what to do.
pub fn resolve_program(program: &str, search_path: &str) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(format!("{program:?} is not an executable file"))
        } else {
            Err(format!("{program:?} does not exist"))
        };
    }
    for dir in search_path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!(
        "program {program:?} not found in PATH ({search_path}); install it or use an absolute path"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &str)]) -> Result<Vec<Service>, Vec<ConfigError>> {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(n, t)| (PathBuf::from(format!("services.d/{n}.toml")), t.to_string()))
            .collect();
        parse_services(&sources, &RawService::default())
    }

    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        parse(files)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn minimal_service_gets_defaults() {
        let s = parse(&[("web", "command = [\"sh\", \"-c\", \"true\"]\n")]).unwrap();
        let web = &s[0];
        assert_eq!(web.name, "web");
        assert_eq!(web.kind, Kind::Longrun);
        assert_eq!(web.restart, Restart::OnFailure);
        assert!(!web.critical);
        assert_eq!(web.stop_signal, libc::SIGTERM);
        assert_eq!(web.stop_timeout, Duration::from_secs(10));
        assert_eq!(web.backoff.initial, Duration::from_millis(100));
        assert!(web.log_prefix && web.forward_signals);
    }

    #[test]
    fn full_service() {
        let text = r#"
command = ["sh", "-c", "exec sleep 1"]
after = ["init"]
env = { A = "1" }
umask = "0027"
restart = "always"
stop_signal = "QUIT"
stop_timeout = "3s"
max_runtime = 1800
reload_on = ["/run/certs/tls.crt"]
reload_signal = "USR1"
signal_map = { HUP = "USR2" }
[limits]
nofile = 1024
[backoff]
initial = "50ms"
factor = 3.0
[ready]
tcp = 8080
timeout = "5s"
[health]
http = "http://127.0.0.1:8080/health"
on_failure = "stop"
"#;
        let init = "command = [\"true\"]\nkind = \"oneshot\"\nexport_env = true\n";
        let s = parse(&[("web", text), ("init", init)]).unwrap();
        let web = s.iter().find(|s| s.name == "web").unwrap();
        assert_eq!(web.umask, Some(0o027));
        assert_eq!(web.restart, Restart::Always);
        assert_eq!(web.stop_signal, libc::SIGQUIT);
        assert_eq!(web.max_runtime, Some(Duration::from_secs(1800)));
        assert_eq!(web.reload, Reload::Signal(libc::SIGUSR1));
        assert_eq!(web.signal_map, vec![(libc::SIGHUP, libc::SIGUSR2)]);
        assert_eq!(web.limits.nofile, Some(1024));
        assert_eq!(web.backoff.factor, 3.0);
        let ready = web.ready.as_ref().unwrap();
        assert_eq!(
            ready.check,
            ReadyCheck::Probe(Probe::Tcp("127.0.0.1:8080".into()))
        );
        let health = web.health.as_ref().unwrap();
        assert_eq!(
            health.probe,
            Probe::Http {
                address: "127.0.0.1:8080".into(),
                path: "/health".into()
            }
        );
        assert_eq!(health.on_failure, OnUnhealthy::Stop);
        let init = s.iter().find(|s| s.name == "init").unwrap();
        assert!(init.critical && init.export_env);
        assert_eq!(init.restart, Restart::Never);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let errs = errors(&[("web", "command = [\"true\"]\n\nrestrat = \"always\"\n")]);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("services.d/web.toml:3: key `restrat`: unknown field"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn bad_values_are_located() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\nstop_signal = \"TREM\"\n[backoff]\ninitial = \"soon\"\n",
        )]);
        assert!(
            errs.iter()
                .any(|e| e.starts_with("services.d/web.toml:2: key `stop_signal`: unknown signal")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("services.d/web.toml:4: key `backoff.initial`:")),
            "{errs:?}"
        );
    }

    #[test]
    fn missing_command_and_program() {
        let errs = errors(&[
            ("a", "kind = \"oneshot\"\n"),
            ("b", "command = [\"no-such-program-xyz\"]\n"),
        ]);
        assert!(
            errs.iter()
                .any(|e| e.contains("a.toml: key `command`: is required")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e
                .contains("b.toml:1: key `command`: program \"no-such-program-xyz\" not found")),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_after_target() {
        let errs = errors(&[("web", "command = [\"true\"]\nafter = [\"db\"]\n")]);
        assert!(
            errs[0].contains("web.toml:2: key `after`: unknown service \"db\""),
            "{errs:?}"
        );
    }

    #[test]
    fn cycles_are_named() {
        let errs = errors(&[
            ("a", "command = [\"true\"]\nafter = [\"b\"]\n"),
            ("b", "command = [\"true\"]\nafter = [\"c\"]\n"),
            ("c", "command = [\"true\"]\nafter = [\"a\"]\n"),
        ]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("dependency cycle: a -> b -> c -> a"),
            "{errs:?}"
        );
    }

    #[test]
    fn ready_needs_exactly_one_check() {
        let errs = errors(&[("w", "command = [\"true\"]\n[ready]\ntimeout = \"1s\"\n")]);
        assert!(errs[0].contains("exactly one of"), "{errs:?}");
        let errs = errors(&[("w", "command = [\"true\"]\n[ready]\ntcp = \"nohost\"\n")]);
        assert!(errs[0].contains("w.toml:3: key `ready.tcp`"), "{errs:?}");
    }

    #[test]
    fn syntax_error_has_line() {
        let errs = errors(&[("w", "command = [\"true\"\nkind = 1\n")]);
        assert!(errs[0].starts_with("services.d/w.toml:"), "{errs:?}");
    }

    #[test]
    fn reserved_and_bad_names() {
        let errs = errors(&[
            ("main", "command = [\"true\"]\n"),
            ("we b", "command = [\"true\"]\n"),
        ]);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn global_defaults_apply_and_are_checked() {
        let g = parse_global(
            Path::new("pidone.toml"),
            "grace = \"2s\"\n[defaults]\nstop_timeout = \"4s\"\nrestart = \"always\"\n",
        )
        .unwrap();
        let s = parse_services(
            &[(PathBuf::from("x.toml"), "command = [\"true\"]\n".into())],
            &g.defaults,
        )
        .unwrap();
        assert_eq!(s[0].stop_timeout, Duration::from_secs(4));
        assert_eq!(s[0].restart, Restart::Always);
        let errs =
            parse_global(Path::new("pidone.toml"), "[defaults]\ncommand = [\"x\"]\n").unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .contains("pidone.toml:2: key `defaults.command`"),
            "{errs:?}"
        );
        let errs = parse_global(
            Path::new("pidone.toml"),
            "[defaults]\nstop_timeout = \"x\"\n",
        )
        .unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .contains("pidone.toml:2: key `stop_timeout`"),
            "{errs:?}"
        );
    }

    #[test]
    fn http_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080/x").unwrap(),
            ("127.0.0.1:8080".into(), "/x".into())
        );
        assert_eq!(
            parse_http_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(parse_http_url("https://x").is_err());
    }

    fn global_errors(text: &str) -> Vec<String> {
        parse_global(Path::new("pidone.toml"), text)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn unknown_keys_are_located_in_every_table() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n[health]\ntcp = 80\n\nretriez = 3\n",
        )]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("services.d/web.toml:5: key `health.retriez`: unknown field"),
            "{errs:?}"
        );
        assert!(
            errs[0].ends_with("; see docs/configuration.md for the keys pidone knows"),
            "{errs:?}"
        );
        // An unknown table is an unknown key too, located at its header.
        let errs = errors(&[("web", "command = [\"true\"]\n\n[helth]\ntcp = 80\n")]);
        assert!(
            errs[0].starts_with("services.d/web.toml:3: key `helth`: unknown field"),
            "{errs:?}"
        );
        let errs = global_errors(
            "[render]\nmode = \"0600\"\n[[render.template]]\nsource = \"a\"\n\
             [[render.template]]\nsource = \"b\"\nmdoe = \"0600\"\n",
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("pidone.toml:7: key `render.template.mdoe`: unknown field"),
            "{errs:?}"
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_found() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n# a comment\nmax_restarts = \"5\"\n",
        )]);
        assert_eq!(
            errs,
            ["services.d/web.toml:3: key `max_restarts`: expected an integer, found a string"]
        );
        let errs = errors(&[(
            "web",
            "command = [\n  \"sh\",\n  5,\n]\n[ready]\nnotify_socket = \"yes\"\n",
        )]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:3: key `command`: expected an array of strings, but item 2 is an integer",
                "services.d/web.toml:6: key `ready.notify_socket`: expected a boolean (true or false), found a string",
            ]
        );
        let errs = global_errors("[render]\n[[render.template]]\nsource = \"a\"\nmode = 640\n");
        assert_eq!(
            errs,
            ["pidone.toml:4: key `render.template.mode`: expected a string, found an integer"]
        );
        let errs = global_errors("[render]\n[[render.template]]\ndestination = \"x\"\n");
        assert_eq!(
            errs,
            [
                "pidone.toml:2: key `render.template.source`: is required: the template's path under the templates dir"
            ]
        );
    }

    #[test]
    fn integers_out_of_range() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\nmax_restarts = -1\n[ready]\ntcp = 70000\n",
        )]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:2: key `max_restarts`: -1 is out of range: expected an integer from 0 to 4294967295",
                "services.d/web.toml:4: key `ready.tcp`: 70000 is out of range: expected an integer from 0 to 65535",
            ]
        );
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n[limits]\nnofile = -5\n[ready]\nnotify_fd = 3000000000\n",
        )]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:3: key `limits.nofile`: -5 is out of range: expected an integer of at least 0",
                "services.d/web.toml:5: key `ready.notify_fd`: 3000000000 is out of range: expected an integer from -2147483648 to 2147483647",
            ]
        );
        let errs = global_errors("map_exit = { \"143\" = 0, \"1\" = 256 }\n");
        assert_eq!(
            errs,
            [
                "pidone.toml:1: key `map_exit.1`: 256 is out of range: expected an integer from 0 to 255"
            ]
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\nrestrat = \"always\"\ncritical = 1\n[backoff]\nfactor = \"x\"\n",
        )]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("services.d/web.toml:2: key `restrat`: unknown field"));
        assert!(errs[1].starts_with("services.d/web.toml:3: key `critical`: expected a boolean"));
        assert!(
            errs[2].starts_with("services.d/web.toml:5: key `backoff.factor`: expected a number")
        );
        // Problems in several files are all reported as well.
        let errs = errors(&[
            ("a", "command = [\"true\"]\nkind = 1\n"),
            ("b", "command = [\"true\"]\nafter = \"a\"\n"),
        ]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("services.d/a.toml:2: key `kind`: expected a string"));
        assert!(errs[1].starts_with("services.d/b.toml:2: key `after`: expected an array"));
    }

    #[test]
    fn durations_are_strings_or_seconds() {
        let s = parse(&[(
            "web",
            "command = [\"true\"]\nstop_timeout = \"250ms\"\nmax_runtime = 90\n\
             restart_window = 1.5\n[backoff]\nmax = \"2m\"\n",
        )])
        .unwrap();
        assert_eq!(s[0].stop_timeout, Duration::from_millis(250));
        assert_eq!(s[0].max_runtime, Some(Duration::from_secs(90)));
        assert_eq!(s[0].restart_window, Duration::from_millis(1500));
        assert_eq!(s[0].backoff.max, Duration::from_secs(120));
        let errs = errors(&[("web", "command = [\"true\"]\nstop_timeout = [5]\n")]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:2: key `stop_timeout`: expected a duration (a string like \"5s\" or a number of seconds), found an array"
            ]
        );
    }

    #[test]
    fn addresses_are_strings_or_ports() {
        let s = parse(&[(
            "web",
            "command = [\"true\"]\n[ready]\ntcp = \"[::1]:8080\"\n[health]\ntcp = 8081\n",
        )])
        .unwrap();
        assert_eq!(
            s[0].ready.as_ref().unwrap().check,
            ReadyCheck::Probe(Probe::Tcp("[::1]:8080".into()))
        );
        assert_eq!(
            s[0].health.as_ref().unwrap().probe,
            Probe::Tcp("127.0.0.1:8081".into())
        );
        let errs = errors(&[("web", "command = [\"true\"]\n[health]\ntcp = 80.5\n")]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:3: key `health.tcp`: expected an address (a string like \"127.0.0.1:8080\") or a port number, found a float"
            ]
        );
    }

    #[test]
    fn global_file_keys_are_read() {
        let g = parse_global(
            Path::new("pidone.toml"),
            "user = \"app\"\nallow_root = false\nkeep_caps = [\"NET_BIND_SERVICE\"]\n\
             services_dir = \"/s\"\nlog_level = \"debug\"\n\
             [defaults]\nenv = { PATH = \"/bin\" }\nmax_restarts = 2\n\
             [defaults.limits]\nnofile = 64\n\
             [render]\nafter = [\"keys\"]\n\
             [[render.template]]\nsource = \"a.conf.tera\"\nskip_empty = true\n\
             [[render.template]]\nsource = \"b\"\ndestination = \"etc/b\"\nmode = \"0600\"\n",
        )
        .unwrap();
        assert_eq!(g.user.as_deref(), Some("app"));
        assert_eq!(g.allow_root, Some(false));
        assert_eq!(g.keep_caps, Some(vec!["NET_BIND_SERVICE".to_string()]));
        assert_eq!(g.services_dir, Some(PathBuf::from("/s")));
        assert_eq!(g.log_level.as_deref(), Some("debug"));
        assert_eq!(g.defaults.max_restarts, Some(2));
        assert_eq!(g.defaults.limits.as_ref().unwrap().nofile, Some(64));
        assert_eq!(g.render.after, ["keys"]);
        assert_eq!(g.render.mode, None);
        assert_eq!(g.render.templates.len(), 2);
        assert!(g.render.templates[0].skip_empty);
        assert_eq!(g.render.templates[1].source, "b");
        assert_eq!(g.render.templates[1].destination.as_deref(), Some("etc/b"));
        assert_eq!(g.render.templates[1].mode.as_deref(), Some("0600"));
        assert!(!g.render.templates[1].skip_empty);
        let s = parse_services(
            &[(PathBuf::from("x.toml"), "command = [\"true\"]\n".into())],
            &g.defaults,
        )
        .unwrap();
        assert_eq!(s[0].max_restarts, 2);
        assert_eq!(s[0].limits.nofile, Some(64));
        assert_eq!(s[0].env, [("PATH".to_string(), "/bin".to_string())]);

        let errs = global_errors("grace = \"1s\"\n[defaults]\ncritical = \"yes\"\nrestrat = 1\n");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0],
            "pidone.toml:3: key `defaults.critical`: expected a boolean (true or false), found a string"
        );
        assert!(
            errs[1].starts_with("pidone.toml:4: key `defaults.restrat`: unknown field"),
            "{errs:?}"
        );
        let errs = global_errors("defaults = 1\nrender = []\n");
        assert_eq!(
            errs,
            [
                "pidone.toml:1: key `defaults`: expected a table, found an integer",
                "pidone.toml:2: key `render`: expected a table, found an array",
            ]
        );
    }

    #[test]
    fn inline_tables_and_dotted_keys_are_located() {
        let text = "command = [\"true\"]\n\
                    limits = { nofile = 10, core = \"big\" }\n\
                    health.tcp = 80\n\
                    health.retries = -2\n\
                    env = { A = \"1\", B = 2 }\n\
                    backoff.facter = 2.0\n";
        let errs = errors(&[("web", text)]);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert_eq!(
            errs[0],
            "services.d/web.toml:2: key `limits.core`: expected an integer, found a string"
        );
        assert!(
            errs[1].starts_with("services.d/web.toml:4: key `health.retries`: -2 is out of range"),
            "{errs:?}"
        );
        assert_eq!(
            errs[2],
            "services.d/web.toml:5: key `env.B`: expected a string, found an integer"
        );
        assert!(
            errs[3].starts_with("services.d/web.toml:6: key `backoff.facter`: unknown field"),
            "{errs:?}"
        );
        let s = parse(&[(
            "web",
            "command = [\"true\"]\nlimits = { nofile = 10 }\nhealth.tcp = 80\n",
        )])
        .unwrap();
        assert_eq!(s[0].limits.nofile, Some(10));
        assert_eq!(
            s[0].health.as_ref().unwrap().probe,
            Probe::Tcp("127.0.0.1:80".into())
        );
    }

    #[test]
    fn a_read_error_does_not_hide_the_other_errors_of_the_file() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\nmax_restarts = -1\nstop_timeout = \"abc\"\n[health]\ntcp = true\n",
        )]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("services.d/web.toml:2: key `max_restarts`: -1 is out of range"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("services.d/web.toml:3: key `stop_timeout`: "),
            "{errs:?}"
        );
        // A bad check value is not also reported as a missing check.
        assert!(
            errs[2].starts_with("services.d/web.toml:5: key `health.tcp`: expected an address"),
            "{errs:?}"
        );
        // The same in the global file's [defaults].
        let errs = global_errors("[defaults]\nmax_restarts = -1\nstop_timeout = \"abc\"\n");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[1].starts_with("pidone.toml:3: key `stop_timeout`: "),
            "{errs:?}"
        );
    }

    #[test]
    fn limits_are_range_checked() {
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n[limits]\nnofile = 99999999999\nnproc = 0\ncore = 0\n",
        )]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("services.d/web.toml:3: key `limits.nofile`: must be from 1 to "),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("services.d/web.toml:4: key `limits.nproc`: must be from 1 to "),
            "{errs:?}"
        );
        let ok = parse(&[(
            "web",
            "command = [\"true\"]\n[limits]\nnofile = 1024\nnproc = 64\ncore = 0\n",
        )])
        .unwrap();
        assert_eq!(ok[0].limits.nofile, Some(1024));
    }

    #[test]
    fn oneshot_timeout_and_max_runtime_apply_to_their_kind_only() {
        let svcs = parse(&[
            ("init", "command = [\"true\"]\nkind = \"oneshot\"\n"),
            (
                "slow",
                "command = [\"true\"]\nkind = \"oneshot\"\ntimeout = \"2s\"\n",
            ),
            (
                "free",
                "command = [\"true\"]\nkind = \"oneshot\"\ntimeout = 0\n",
            ),
            ("web", "command = [\"true\"]\n"),
        ])
        .unwrap();
        let by = |n: &str| svcs.iter().find(|s| s.name == n).unwrap().timeout;
        assert_eq!(by("init"), Some(DEFAULT_ONESHOT_TIMEOUT));
        assert_eq!(by("slow"), Some(Duration::from_secs(2)));
        assert_eq!(by("free"), None);
        assert_eq!(by("web"), None);
        let errs = errors(&[
            (
                "init",
                "command = [\"true\"]\nkind = \"oneshot\"\nmax_runtime = \"1m\"\n",
            ),
            ("web", "command = [\"true\"]\ntimeout = \"1m\"\n"),
        ]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("services.d/init.toml:3: key `max_runtime`: a oneshot has no max_runtime; use `timeout`"), "{errs:?}");
        assert!(
            errs[1].starts_with("services.d/web.toml:2: key `timeout`: "),
            "{errs:?}"
        );
    }

    #[test]
    fn schedules_parse_and_bad_ones_are_located() {
        let svcs = parse(&[
            (
                "renew",
                "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"0 3 * * *\"\ntimezone = \"+02:00\"\njitter = \"30s\"\nthen_reload = [\"web\"]\n",
            ),
            ("web", "command = [\"true\"]\n"),
        ])
        .unwrap();
        let renew = svcs.iter().find(|s| s.name == "renew").unwrap();
        let sched = renew.schedule.as_ref().unwrap();
        assert_eq!(sched.offset, 7200);
        assert_eq!(sched.jitter, Duration::from_secs(30));
        assert_eq!(renew.then_reload, vec!["web".to_string()]);
        let errs = errors(&[
            ("a", "command = [\"true\"]\nschedule = \"@daily\"\n"),
            (
                "b",
                "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"0 25 * * *\"\n",
            ),
            (
                "c",
                "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@hourly\"\ntimezone = \"Europe/Berlin\"\nthen_reload = [\"nope\"]\n",
            ),
            (
                "d",
                "command = [\"true\"]\njitter = \"1s\"\nafter = [\"c\"]\n",
            ),
        ]);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs[0].starts_with("services.d/a.toml:2: key `schedule`: only a oneshot"),
            "{errs:?}"
        );
        assert!(
            errs[1]
                .starts_with("services.d/b.toml:3: key `schedule`: hour field: 25 is out of range"),
            "{errs:?}"
        );
        assert!(
            errs[2].starts_with(
                "services.d/c.toml:4: key `timezone`: `Europe/Berlin` is not a supported time zone"
            ),
            "{errs:?}"
        );
        assert!(
            errs[3].starts_with(
                "services.d/d.toml:2: key `jitter`: applies only to a scheduled oneshot"
            ),
            "{errs:?}"
        );
        // Checks across files, between services that are valid on their own.
        let errs = errors(&[
            (
                "c",
                "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@hourly\"\nthen_reload = [\"nope\", \"init\"]\n",
            ),
            ("d", "command = [\"true\"]\nafter = [\"c\"]\n"),
            ("init", "command = [\"true\"]\nkind = \"oneshot\"\n"),
        ]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0]
                .starts_with("services.d/c.toml:4: key `then_reload`: \"nope\" is not a service"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("services.d/c.toml:4: key `then_reload`: \"init\" is a oneshot"),
            "{errs:?}"
        );
        assert!(
            errs[2].starts_with("services.d/d.toml:2: key `after`: \"c\" is a scheduled oneshot"),
            "{errs:?}"
        );
    }

    #[test]
    fn session_limit_keys() {
        let svcs = parse(&[(
            "term",
            "command = [\"true\"]\nmax_runtime = \"30m\"\nidle_timeout = \"10m\"\nwarn_before = \"1m\"\nwarn_signal = \"USR1\"\nwarn_command = [\"wall\", \"bye\"]\n",
        )])
        .unwrap();
        assert_eq!(svcs[0].idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(svcs[0].warn_before, Some(Duration::from_secs(60)));
        assert_eq!(svcs[0].warn_signal, Some(libc::SIGUSR1));
        assert_eq!(
            svcs[0].warn_command.as_deref(),
            Some(&["wall".to_string(), "bye".to_string()][..])
        );
        let errs = errors(&[
            (
                "a",
                "command = [\"true\"]\nkind = \"oneshot\"\nidle_timeout = \"1m\"\n",
            ),
            (
                "b",
                "command = [\"true\"]\nmax_runtime = \"1m\"\nwarn_before = \"2m\"\nwarn_signal = \"USR1\"\n",
            ),
            ("c", "command = [\"true\"]\nwarn_signal = \"USR1\"\n"),
        ]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "services.d/a.toml:3: key `idle_timeout`: a oneshot has no idle_timeout"
            ),
            "{errs:?}"
        );
        assert!(errs[1].starts_with("services.d/b.toml:3: key `warn_before`: (2m0s) must be shorter than max_runtime (1m0s)"), "{errs:?}");
        assert!(
            errs[2].starts_with(
                "services.d/c.toml:2: key `warn_signal`: warn_before is needed with warn_signal"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn value_errors_are_located_from_the_spans() {
        // A key that also appears inside a string, a quoted key, a table that is never named by
        // a header, and an inline table over several lines (TOML 1.1).
        let web = "command = [\"true\"]\n\
                   env = { NOTE = \"\"\"\n\
                   stop_timeout = 1\n\
                   \"\"\" }\n\
                   \"stop_timeout\" = \"soon\"\n\
                   backoff.max = \"later\"\n\
                   ready = {\n\
                     timeout = \"1s\",\n\
                     tcp = \"nohost\",\n\
                   }\n";
        let api =
            "command = [\"true\"]\nenv = { NOTE = '''\nafter = [\"x\"]\n''' }\nafter = [\"db\"]\n";
        let errs = errors(&[("web", web), ("api", api)]);
        let at = |line: usize, file: &str, key: &str| {
            let want = format!("services.d/{file}.toml:{line}: key `{key}`:");
            assert!(
                errs.iter().any(|e| e.starts_with(&want)),
                "{want} in {errs:?}"
            );
        };
        at(5, "web", "stop_timeout");
        at(6, "web", "backoff.max");
        at(9, "web", "ready.tcp");
        at(5, "api", "after");
        // The unusable tcp check is the one check [ready] has: no second, wrong "needs
        // exactly one of" error about it.
        assert_eq!(errs.len(), 4, "{errs:?}");
        // Two checks: reported at the second one, which is in the file.
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n\n[health]\ntcp = 80\nhttp = \"http://127.0.0.1/\"\n",
        )]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:5: key `health.http`: [health] takes exactly one kind of check, but has `tcp` and `http`: keep one"
            ]
        );
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n[ready]\nnotify_fd = 3\ntimeout = \"5s\"\nfile = \"/x\"\n",
        )]);
        assert_eq!(
            errs,
            [
                "services.d/web.toml:5: key `ready.file`: [ready] takes exactly one kind of check, but has `notify_fd` and `file`: keep one"
            ]
        );
        // An invalid health tcp address is one error, at its key.
        let errs = errors(&[(
            "web",
            "command = [\"true\"]\n[health]\ntcp = \"nohost:x\"\n",
        )]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("services.d/web.toml:3: key `health.tcp`: "),
            "{errs:?}"
        );
        // In the global file, a default is found in [defaults], not at the top level.
        let errs = global_errors("stop_signal = \"QUIT\"\n[defaults]\nstop_signal = \"TREM\"\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("pidone.toml:3: key `stop_signal`: unknown signal"),
            "{errs:?}"
        );
        let errs = global_errors("[defaults.backoff]\n\nfactor = 1000\n");
        assert_eq!(
            errs,
            ["pidone.toml:3: key `backoff.factor`: must be between 1.0 and 100.0"]
        );
    }
}
