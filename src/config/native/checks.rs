//! `[ready]` and `[health]`: the two tables that name one check each (a probe pidone runs,
//! or for readiness a notification the service sends). Validates that exactly one check is
//! given and its timing keys. Separate because both share the probe keys and the "exactly
//! one kind of check" rule, and a new readiness kind is added here and nowhere else in config.

use super::errors::{Errors, duration};
use crate::config::{
    Health, Kind, OnUnhealthy, Probe, RawAddress, RawHealth, RawReady, Ready, ReadyCheck,
};
use crate::values::{parse_http_url, parse_socket_addr};
use std::path::PathBuf;
use std::time::Duration;

/// The probe keys `[ready]` and `[health]` share (`http` only for health); records in
/// `present` every check key given.
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

/// `[ready]`: how pidone knows the service is up. A oneshot has none: it is ready when it
/// exits 0.
pub(super) fn build_ready(raw: &RawReady, kind: Kind, errors: &mut Errors) -> Option<Ready> {
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

/// `[health]`: the probe run while the service is up, and what to do when it keeps failing.
pub(super) fn build_health(raw: &RawHealth, errors: &mut Errors) -> Option<Health> {
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
