//! How much a service may use: the `[limits]` rlimits, and the session limits that end a
//! run (a longrun's `max_runtime` and `idle_timeout`, a oneshot's `timeout`, the warning
//! before them). Separate because these keys depend on each other and on the kind, and their
//! rules are shared with the s6 source (`session::limit_problems`).

use super::errors::{Errors, duration, signal};
use crate::config::{DEFAULT_ONESHOT_TIMEOUT, Kind, Limits, RawDuration, RawLimits, RawService};
use crate::values::limit;
use std::time::Duration;

/// `[limits]`, checked and copied into the model.
pub(super) fn build_limits(limits: RawLimits, errors: &mut Errors) -> Limits {
    check_limits(&limits, errors);
    Limits {
        nofile: limits.nofile,
        nproc: limits.nproc,
        core: limits.core,
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

/// The keys that end or warn a longrun's session before it ends by itself.
pub(super) struct SessionLimits {
    pub(super) idle_timeout: Option<Duration>,
    pub(super) warn_before: Option<Duration>,
    pub(super) warn_signal: Option<i32>,
}

/// `idle_timeout`, `warn_before` and `warn_signal` (service files only: [defaults] refuses
/// them), and the rules between them and `max_runtime` (the raw value, from the file or
/// [defaults]).
pub(super) fn build_session(
    raw: &RawService,
    max_runtime: Option<RawDuration>,
    kind: Kind,
    errors: &mut Errors,
) -> SessionLimits {
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
        max_runtime.and_then(|v| v.parse().ok()).and_then(limit)
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
    SessionLimits {
        idle_timeout,
        warn_before,
        warn_signal,
    }
}

/// `max_runtime`, from the file or [defaults]: applies to a longrun only (a oneshot's own
/// is refused with the keys of the other kind); 0 is no limit.
pub(super) fn build_max_runtime(
    value: Option<RawDuration>,
    kind: Kind,
    errors: &mut Errors,
) -> Option<Duration> {
    value.filter(|_| kind == Kind::Longrun).and_then(|v| {
        limit(duration(
            errors,
            None,
            "max_runtime",
            Some(v),
            Duration::ZERO,
        ))
    })
}

/// `timeout`, from the file or [defaults]: applies to a oneshot only, with a default; 0 is
/// no limit.
pub(super) fn build_oneshot_timeout(
    value: Option<RawDuration>,
    kind: Kind,
    errors: &mut Errors,
) -> Option<Duration> {
    match value.filter(|_| kind == Kind::Oneshot) {
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
    }
}
