//! A unit and where it stands: its `Role`, its `Phase` (what it is doing now), and what it
//! keeps across phases (restart counts, health, probe times, ticks). Small accessors only: what
//! happens to a unit is decided by `Core`'s files beside this one.

use super::{ExitStatus, Idx};
use crate::config::Service;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Service,
    /// The implicit render oneshot.
    Render,
    /// CMD: its exit ends the run with its exit code.
    Main,
}

/// Where a unit stands. docs/architecture.md ("A unit's phases") draws every variant and the
/// events between them: keep that diagram up to date with this enum (the unit test
/// `phase_diagram_names_every_phase` fails when a variant is missing from it, or when a state
/// drawn there is no variant any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for dependencies.
    Waiting,
    /// Spawned; not ready yet (a oneshot stays here until it exits).
    Starting { since: Instant },
    /// Running and ready.
    Up { since: Instant },
    /// Stop signal sent; SIGKILL at `deadline` unless `killed` already.
    Stopping { deadline: Instant, killed: bool },
    /// Waiting to restart.
    Backoff { until: Instant },
    /// A oneshot that exited 0, or a longrun that exited cleanly and is not restarted.
    Done,
    /// Failed for good: crash loop, failed oneshot, failed start, failed dependency.
    Failed,
    /// Stopped on request (control `stop` or shutdown).
    Stopped,
    /// A scheduled oneshot between runs, waiting for its next tick.
    Scheduled,
    /// Shutdown: a oneshot runs its `stop_command`; SIGKILL at `deadline` (None: no limit,
    /// or killed already).
    CleaningUp { deadline: Option<Instant> },
    /// The service's process ended and its `finish_command` runs (SIGKILL at `deadline`;
    /// None: killed already). What `exit` means is decided once it is done.
    Finishing {
        deadline: Option<Instant>,
        exit: ExitStatus,
        was_stopping: bool,
    },
}

impl Phase {
    /// The name `status` shows.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Starting { .. } => "starting",
            Phase::Up { .. } => "running",
            Phase::Stopping { .. } | Phase::CleaningUp { .. } => "stopping",
            Phase::Finishing { .. } => "finishing",
            Phase::Backoff { .. } => "backoff",
            Phase::Done => "done",
            Phase::Failed => "failed",
            Phase::Stopped => "stopped",
            Phase::Scheduled => "scheduled",
        }
    }
}

/// What the unit should do once its current process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterStop {
    /// Apply the restart policy as for any exit.
    Policy,
    /// Restart right away (control `restart`, reload = "restart", control `start` while
    /// stopping).
    Restart,
    /// Stopped because its health check failed: a failure like a non-zero exit, so the
    /// restart policy, the backoff and the crash-loop limit apply (a health restart that
    /// skipped them restarted a service hundreds of times a second).
    Unhealthy,
    /// Stay stopped (control `stop`, shutdown).
    Stay,
    /// Stopped at a session limit (`max_runtime` or `idle_timeout`): a clean end, whatever
    /// the exit status of the stop signal; CMD ends the run with crate::exit::SESSION_LIMIT.
    MaxRuntime,
    /// `pidone reload` changed its configuration: wait for its dependencies again, then
    /// start with the new one.
    Reconfigured,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// No check configured.
    None,
    /// Checks configured, no verdict yet (or still in the start period).
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Ready,
    Health,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ProbeSchedule {
    pub(super) due: Option<Instant>,
    pub(super) running_until: Option<Instant>,
}

/// The next run of a scheduled oneshot, as the loop computed it from its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// When to run (the tick plus any jitter), on the monotonic clock the loop sleeps on.
    pub at: Instant,
    /// The tick itself, before jitter: `@every` counts its next tick from this one.
    pub nominal: Instant,
    /// A cron tick's wall-clock time (Unix seconds): the loop checks the clock against it
    /// when `at` comes, so a clock set back does not run it early.
    pub wall: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub(super) spec: Service,
    pub(super) role: Role,
    pub(super) deps: Vec<Idx>,
    pub(super) dependants: Vec<Idx>,
    pub(super) phase: Phase,
    pub(super) pid: Option<i32>,
    pub(super) started_at: Option<Instant>,
    /// Restarts counted for the crash-loop limit (times within the window).
    pub(super) restart_times: Vec<Instant>,
    pub(super) restarts: u32,
    pub(super) delay: Option<Duration>,
    pub(super) last_exit: Option<ExitStatus>,
    pub(super) after_stop: AfterStop,
    pub(super) reason: Option<String>,
    pub(super) health: HealthStatus,
    pub(super) health_failures: u32,
    pub(super) ready_probe: ProbeSchedule,
    pub(super) health_probe: ProbeSchedule,
    /// Since when the unit has waited for its dependencies (for `dependency_wait`).
    pub(super) waiting_since: Option<Instant>,
    /// Control asked not to restart it (s6-svc -O): once its process ended, `done` is where
    /// it was told to be, not a health failure.
    pub(super) switched_off: bool,
    /// A scheduled oneshot's next run (set by the loop through `arm_tick`).
    pub(super) next_tick: Option<Tick>,
    /// The tick that came last; `@every` counts from it.
    pub(super) last_tick: Option<Tick>,
    /// Control `start` on a scheduled oneshot: run now instead of waiting for the tick.
    pub(super) run_now: bool,
    /// Services to reload after a scheduled run exits 0 (`then_reload`, resolved).
    pub(super) then_reload: Vec<Idx>,
    /// The last output (or, for CMD on a TTY, terminal activity) seen, for `idle_timeout`.
    pub(super) activity: Option<Instant>,
    /// The session end the last warning was about (a later end, after activity, warns again).
    pub(super) warned_for: Option<Instant>,
    /// A oneshot with a `stop_command` whose last run succeeded: the stop command is owed at
    /// shutdown (cleared when it starts, or when the oneshot runs again).
    pub(super) stop_owed: bool,
    /// `pidone reload` removed its service file: it is stopped and no longer listed (its
    /// slot stays, so the indices of the other units do not move).
    pub(super) retired: bool,
    /// A retired unit to be stopped once these retired units (that depended on it) are
    /// gone; None once it was told to stop (or for any other unit).
    pub(super) stop_after: Option<Vec<Idx>>,
    /// Its last process was stopped by `restart` (or `s6-svc -r`), or ended by a signal sent
    /// on request (`s6-svc -k`, `pidone signal`): `status` says so.
    pub(super) restarted_on_request: bool,
    /// When a signal was last sent to its process on request. An exit within `stop_timeout`
    /// of it is that signal's doing: a restart on request (as `s6-svc -k` is under
    /// s6-supervise), not a crash that counts and grows the backoff.
    pub(super) signalled_on_request: Option<Instant>,
}

/// Which session limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLimit {
    MaxRuntime,
    Idle,
}

impl Unit {
    pub(super) fn new(spec: Service, role: Role) -> Unit {
        Unit {
            deps: Vec::new(),
            dependants: Vec::new(),
            phase: Phase::Waiting,
            pid: None,
            started_at: None,
            restart_times: Vec::new(),
            restarts: 0,
            delay: None,
            last_exit: None,
            after_stop: AfterStop::Policy,
            reason: None,
            health: if spec.health.is_some() {
                HealthStatus::Starting
            } else {
                HealthStatus::None
            },
            health_failures: 0,
            ready_probe: ProbeSchedule::default(),
            health_probe: ProbeSchedule::default(),
            waiting_since: None,
            switched_off: false,
            next_tick: None,
            last_tick: None,
            run_now: false,
            activity: None,
            warned_for: None,
            stop_owed: false,
            retired: false,
            stop_after: None,
            restarted_on_request: false,
            signalled_on_request: None,
            then_reload: Vec::new(),
            spec,
            role,
        }
    }

    /// The service definition this unit runs.
    pub fn spec(&self) -> &Service {
        &self.spec
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The running process (its process group has the same id), if any.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Has a process (starting or up), and whether it is ready (up).
    pub fn running_and_ready(&self) -> (bool, bool) {
        match self.phase {
            Phase::Starting { .. } => (true, false),
            Phase::Up { .. } => (true, true),
            _ => (false, false),
        }
    }

    /// The tick that came last (a scheduled oneshot): `@every` counts the next from it.
    pub fn last_tick(&self) -> Option<Tick> {
        self.last_tick
    }

    /// Its process is a helper (`stop_command` or `finish_command`), not the service's own
    /// command: no env hand-off, no forwarded signals.
    pub fn running_helper(&self) -> bool {
        matches!(
            self.phase,
            Phase::CleaningUp { .. } | Phase::Finishing { .. }
        )
    }

    /// The command line its process runs now: the service's command, or its helper's (a
    /// finish command gets s6's `EXITCODE SIGNAL` arguments: 256 and the signal number when
    /// the service was killed).
    pub fn argv(&self) -> Vec<String> {
        match (
            self.phase,
            &self.spec.stop_command,
            &self.spec.finish_command,
        ) {
            (Phase::CleaningUp { .. }, Some(stop), _) => stop.argv.clone(),
            (Phase::Finishing { exit, .. }, _, Some(finish)) => {
                let (code, signal) = match exit {
                    ExitStatus::Code(c) => (c, 0),
                    ExitStatus::Signal(s) => (256, s),
                };
                let mut argv = finish.argv.clone();
                argv.extend([code.to_string(), signal.to_string()]);
                argv
            }
            _ => self.spec.command.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The variants of `enum Phase` as written in `src` (unit.rs): the lines of its body
    /// indented once that start with a capital.
    fn phase_variants(src: &str) -> BTreeSet<String> {
        let start = src.find("pub enum Phase {").expect("enum Phase in unit.rs");
        src[start..]
            .lines()
            .skip(1)
            .take_while(|l| *l != "}")
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|l| {
                l.chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect()
            })
            .collect()
    }

    /// The states of the mermaid `stateDiagram-v2` in `md` (docs/architecture.md): each name
    /// on either side of an edge (`A --> B: event`) or declared (`state A`), less the start
    /// (`[*]`) and the choice points (`state x <<choice>>`).
    fn diagram_states(md: &str) -> BTreeSet<String> {
        let start = md
            .find("```mermaid\nstateDiagram-v2")
            .expect("a ```mermaid stateDiagram-v2 block in docs/architecture.md");
        let mut states = BTreeSet::new();
        let mut choices = BTreeSet::new();
        for line in md[start..]
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with("```"))
        {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("state ") {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if rest.contains("<<choice>>") {
                    choices.insert(name);
                } else {
                    states.insert(name);
                }
            } else if let Some((from, to)) = line.split_once("-->") {
                let to = to.split(':').next().unwrap_or_default();
                states.insert(from.trim().to_string());
                states.insert(to.trim().to_string());
            }
        }
        states.remove("[*]");
        states.difference(&choices).cloned().collect()
    }

    /// The phase diagram in docs/architecture.md draws every `Phase`, and nothing else.
    #[test]
    fn phase_diagram_names_every_phase() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let variants = phase_variants(&read("src/supervisor/state/unit.rs"));
        let states = diagram_states(&read("docs/architecture.md"));
        assert!(variants.contains("Waiting") && variants.contains("Finishing"));
        let missing: Vec<_> = variants.difference(&states).collect();
        let stale: Vec<_> = states.difference(&variants).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "the phase diagram in docs/architecture.md is out of date with enum Phase \
             (src/supervisor/state/unit.rs): variants not drawn: {missing:?}; states drawn \
             that are no variant: {stale:?}"
        );
    }
}
