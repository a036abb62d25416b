//! Answers to control requests, the one job of this file: what `status`, `health`,
//! `start`/`stop`/`restart`, `signal`, and for the s6 shims `once`, `state` and `shutdown`
//! mean, read from and applied to the state machine.
//! Pure (no syscalls): a signal is queued as an `Action` for the loop to send. The socket
//! transport is `crate::control`.

use super::follow::Wanted;
use super::logring;
use super::state::{Core, HealthVerdict, Role};
use crate::control::{Reply, Request};
use crate::json::{self, Object};
use std::time::Instant;

/// Answer a request against the live state (called from the event loop).
pub fn answer(core: &mut Core, req: &Request, now: Instant) -> Reply {
    let words: Vec<&str> = req.words.iter().map(String::as_str).collect();
    let find = |core: &Core, name: &str| {
        core.index(name)
            .filter(|&i| core.unit(i).role() == Role::Service)
    };
    match words.as_slice() {
        ["status"] => status(core, now),
        ["logs", ..] => match logs_request(&req.words) {
            Ok(q) => Reply::new(0, recent_lines(&q, MAX_ANSWER)),
            Err(reply) => reply,
        },
        ["health", names @ ..] => health(core, names),
        [verb @ ("start" | "stop" | "restart"), name] => {
            let Some(i) = find(core, name) else {
                return Reply::new(crate::exit::USAGE, format!("no service named {name:?}"));
            };
            if core.shutting_down() {
                return Reply::new(1, "pidone is shutting down");
            }
            let note = match *verb {
                "start" => core.request_start(i),
                "stop" => core.request_stop(i, now),
                _ => core.request_restart(i, now),
            };
            let note = note.map_or(String::new(), |n| format!(" ({n})"));
            Reply::new(0, format!("{verb} {name}: ok{note}"))
        }
        // s6-svc -O: the service is not restarted when it exits.
        ["once", name] => {
            let Some(i) = find(core, name) else {
                return Reply::new(crate::exit::USAGE, format!("no service named {name:?}"));
            };
            core.request_once(i);
            Reply::new(0, format!("once {name}: ok (not restarted when it exits)"))
        }
        // For s6-svwait and s6-svstat: `up|down PID|- ready|notready`.
        ["state", name] => {
            let Some(i) = find(core, name) else {
                return Reply::new(crate::exit::USAGE, format!("no service named {name:?}"));
            };
            let unit = core.unit(i);
            let (up, ready) = unit.running_and_ready();
            // "finish": down, and its finish script (or stop command) still runs (s6-svwait
            // -D waits for "down" and that to be over).
            let word = match (up, unit.running_helper()) {
                (true, _) => "up",
                (false, true) => "finish",
                (false, false) => "down",
            };
            Reply::new(
                0,
                format!(
                    "{} {} {}",
                    word,
                    unit.pid().map_or("-".to_string(), |p| p.to_string()),
                    if ready { "ready" } else { "notready" }
                ),
            )
        }
        // s6-svscanctl -t, halt: stop the container; CODE is the s6 exitcode file's, which
        // the shim read (used when there is no CMD).
        ["shutdown", code] => {
            let Ok(code) = code.parse::<u8>() else {
                return Reply::new(crate::exit::USAGE, "shutdown takes a code 0-255");
            };
            core.request_shutdown(
                i32::from(code),
                &format!("asked to stop (s6-svscanctl or halt), exit code {code} without CMD"),
            );
            Reply::new(0, "shutting down")
        }
        ["signal", name, sig] => {
            let Some(i) = find(core, name) else {
                return Reply::new(crate::exit::USAGE, format!("no service named {name:?}"));
            };
            let sig = match crate::values::parse_signal(sig) {
                Ok(s) => s,
                Err(e) => return Reply::new(crate::exit::USAGE, e),
            };
            // The loop sends it (Action::Signal, to the process group) right after this
            // request, like every other signal to a service.
            if core.request_signal(i, sig, now) {
                Reply::new(
                    0,
                    format!("sent {} to {name}", crate::values::signal_name(sig)),
                )
            } else {
                Reply::new(1, format!("{name} is not running"))
            }
        }
        _ => Reply::new(
            crate::exit::USAGE,
            format!("unknown request {:?}", req.words.join(" ")),
        ),
    }
}

/// A `logs [-f] [--json] [-n N] [NAME...]` request, checked.
pub struct LogsRequest {
    pub wanted: Wanted,
    /// Lines shown per source before following (or at all, without `-f`).
    pub lines: usize,
    pub follow: bool,
}

/// Lines `logs` shows per source when `-n` does not say.
const DEFAULT_LINES: usize = 30;

/// Parse a `logs` request; a name that is no unit (nor `pidone`) is an error reply.
pub fn logs_request(words: &[String]) -> Result<LogsRequest, Reply> {
    let mut q = LogsRequest {
        wanted: Wanted {
            sources: Vec::new(),
            json: false,
        },
        lines: DEFAULT_LINES,
        follow: false,
    };
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-f" => q.follow = true,
            "--json" => q.wanted.json = true,
            "-n" => {
                q.lines = it.next().and_then(|n| n.parse().ok()).ok_or_else(|| {
                    Reply::new(crate::exit::USAGE, "logs -n takes a number of lines")
                })?
            }
            name => match logring::source(name) {
                Some(k) => q.wanted.sources.push(k),
                None => {
                    return Err(Reply::new(
                        crate::exit::USAGE,
                        format!(
                            "no service named {name:?} (`pidone logs` with no name shows them all)"
                        ),
                    ));
                }
            },
        }
    }
    if q.wanted.sources.is_empty() {
        q.wanted.sources = logring::all_sources();
    }
    Ok(q)
}

/// The most a `logs` answer holds (the newest lines when 500 services' rings hold more).
const MAX_ANSWER: usize = 1 << 20;

/// The last lines asked for, one per line, at most `max` bytes of the newest (a follower
/// gets them first).
pub fn recent_lines(q: &LogsRequest, max: usize) -> String {
    let mut text = String::new();
    logring::tail(&q.wanted.sources, q.lines, &mut |name, line| {
        text.push_str(&logring::format(name, line, q.wanted.json));
        text.push('\n');
    });
    if text.len() > max {
        let cut = text.len() - max;
        let start = text[cut..].find('\n').map_or(text.len(), |nl| cut + nl + 1);
        text.drain(..start);
    }
    text
}

fn status(core: &Core, now: Instant) -> Reply {
    let mut rows = Vec::new();
    // Columns under a header row, as `docker ps` prints them; `--json` is for scripts.
    let row =
        |name: &str, state: &str, pid: &str, up: &str, restarts: &str, exit: &str, health: &str| {
            format!("{name:<20} {state:<9} {pid:<7} {up:<8} {restarts:<8} {exit:<9} {health:<9}")
        };
    let mut text = row(
        "NAME",
        "STATE",
        "PID",
        "UP",
        "RESTARTS",
        "LAST_EXIT",
        "HEALTH",
    );
    text.push('\n');
    for u in core.status(now) {
        rows.push(
            Object::new()
                .str("name", u.name)
                .str("kind", u.kind)
                .str("state", u.state)
                .opt_num("pid", u.pid)
                .opt_num("uptime_seconds", u.uptime.map(|d| d.as_secs_f64()))
                .num("restarts", u.restarts)
                .opt_num("last_exit", u.last_exit)
                .str("health", u.health)
                .opt_str("reason", u.reason)
                .opt_num("next_run_seconds", u.next_run.map(|d| d.as_secs_f64()))
                .finish(),
        );
        let line = row(
            u.name,
            u.state,
            &u.pid.map_or("-".into(), |p| p.to_string()),
            &u.uptime.map_or("-".into(), crate::values::format_duration),
            &u.restarts.to_string(),
            &u.last_exit.map_or("-".into(), |c| c.to_string()),
            u.health,
        );
        let mut reason = u.reason.map_or(String::new(), |r| format!(" ({r})"));
        if let Some(next) = u.next_run {
            reason.push_str(&format!(
                " (next run in {})",
                crate::values::format_duration(next)
            ));
        }
        text.push_str(format!("{}{reason}", line.trim_end()).trim_end());
        text.push('\n');
    }
    if let Some(reload) = core.last_reload() {
        text.push_str(&format!("last reload: {reload}\n"));
    }
    Reply {
        code: 0,
        text: text.trim_end().to_string(),
        data: Object::new()
            .raw("services", &json::array(&rows))
            .bool("shutting_down", core.shutting_down())
            .opt_str("last_reload", core.last_reload())
            .finish(),
    }
}

/// `health [NAMES]`: exit 0 only when healthy; the text names the first unit that is not.
fn health(core: &Core, names: &[&str]) -> Reply {
    match core.health(names) {
        Ok(HealthVerdict::Healthy) => Reply::new(0, "healthy"),
        Ok(HealthVerdict::Starting(names)) => {
            Reply::new(1, format!("starting: {}", names.join(", ")))
        }
        Ok(HealthVerdict::Unhealthy(why)) => Reply::new(1, format!("unhealthy: {why}")),
        Ok(HealthVerdict::Stopping) => Reply::new(1, "stopping"),
        Err(name) => Reply::new(crate::exit::USAGE, format!("no service named {name:?}")),
    }
}
