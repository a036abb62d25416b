//! The collector every builder reports into: it turns "this key is wrong" into a
//! `ConfigError` located at the key's line (or its table's), and reads the two kinds of value
//! many keys share (durations, signals) with the same rule and message everywhere. Separate so
//! that each builder file depends on this one leaf, not on the others.

use crate::config::ConfigError;
use crate::config::RawDuration;
use crate::config::tomlread::KeyLines;
use crate::values::{check_zero, parse_signal};
use std::path::Path;
use std::time::Duration;

/// Collects the errors of one file's values, locating each key from the lines the reading
/// recorded.
pub(super) struct Errors<'a> {
    path: &'a Path,
    lines: &'a KeyLines,
    /// The table whose keys are checked without its name (`[defaults]` of the global file).
    within: Option<&'a str>,
    list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    pub(super) fn new(path: &'a Path, lines: &'a KeyLines, within: Option<&'a str>) -> Self {
        Errors {
            path,
            lines,
            within,
            list: Vec::new(),
        }
    }
    pub(super) fn push(&mut self, table: Option<&str>, key: &str, message: String) {
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
    pub(super) fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(self.list)
        }
    }
}

/// A duration key: `default` when absent, the value when valid, else an error at the key and
/// `default`.
pub(super) fn duration(
    errors: &mut Errors,
    table: Option<&str>,
    key: &str,
    value: Option<RawDuration>,
    default: Duration,
) -> Duration {
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
}

/// A top-level signal key: `default` when absent, the signal when valid, else an error at the
/// key and `default`.
pub(super) fn signal(errors: &mut Errors, key: &str, value: Option<String>, default: i32) -> i32 {
    match value.map(|v| parse_signal(&v)) {
        None => default,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            errors.push(None, key, e);
            default
        }
    }
}
