//! The configuration files as written: every key optional, every value as the file spells
//! it, and the TOML readers that fill these types (each reader next to its type), recording
//! the line of every key for the errors found later.

use super::ConfigError;
use super::render::RenderConfig;
use super::tomlread::{self, Fields, KeyLines, ReadError, Reader};
use crate::values::parse_duration;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};

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

    pub(crate) fn parse(&self) -> Result<Duration, String> {
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
    /// Bytes of recent output kept per service for `pidone logs`.
    pub log_keep_bytes: Option<u32>,
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
    pub stdout_to: Option<String>,
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
    pub stop_command: Option<Vec<String>>,
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

pub(super) fn read_global(mut t: Fields, r: &mut Reader) -> GlobalFile {
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
        log_keep_bytes: t.int(r, "log_keep_bytes"),
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
pub(super) fn read_service(mut t: Fields, r: &mut Reader) -> RawService {
    let raw = RawService {
        command: t.strings(r, "command"),
        kind: t.string(r, "kind"),
        after: t.strings(r, "after"),
        stdout_to: t.string(r, "stdout_to"),
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
        stop_command: t.strings(r, "stop_command"),
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
pub(super) fn read_file<T>(
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

/// A syntax error, located by the parser's span.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: e.span().map(|span| tomlread::line_of(text, span.start)),
        key: None,
        message: e.message().trim().to_string(),
    }
}
