//! The service lifecycle as a pure state machine: no syscalls, no clocks of its own.
//!
//! The event loop (`supervisor/mod.rs`) feeds it events (`on_spawned`, `on_exit`, `on_ready`,
//! `on_probe_result`, control requests, shutdown) with the current time, and calls `step(now)`
//! to learn what to do: spawn a unit, signal a process group, run a probe. `next_deadline()`
//! tells the loop how long it may sleep; `None` means "nothing is due: block forever".
//!
//! A *unit* is a service from services.d, or one of pidone's implicit steps: the template
//! render (a oneshot every service waits for) and CMD (the command after `--`, which waits
//! for every service and whose exit ends the run).

use crate::config::{Kind, OnUnhealthy, ReadyCheck, Restart, Service};
use std::time::{Duration, Instant};

pub type Idx = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Service,
    /// The implicit render oneshot.
    Render,
    /// CMD: its exit ends the run with its exit code.
    Main,
}

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

pub use crate::spawn::ExitStatus;

/// What the unit should do once its current process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStop {
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

/// Where a unit stands with one of its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepState {
    Satisfied,
    Pending,
    /// Failed, stopped, or a longrun that ended: the dependant cannot start.
    Broken,
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
struct ProbeSchedule {
    due: Option<Instant>,
    running_until: Option<Instant>,
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
    spec: Service,
    role: Role,
    deps: Vec<Idx>,
    dependants: Vec<Idx>,
    phase: Phase,
    pid: Option<i32>,
    started_at: Option<Instant>,
    /// Restarts counted for the crash-loop limit (times within the window).
    restart_times: Vec<Instant>,
    restarts: u32,
    delay: Option<Duration>,
    last_exit: Option<ExitStatus>,
    after_stop: AfterStop,
    reason: Option<String>,
    health: HealthStatus,
    health_failures: u32,
    ready_probe: ProbeSchedule,
    health_probe: ProbeSchedule,
    /// Since when the unit has waited for its dependencies (for `dependency_wait`).
    waiting_since: Option<Instant>,
    /// Control asked not to restart it (s6-svc -O): once its process ended, `done` is where
    /// it was told to be, not a health failure.
    switched_off: bool,
    /// A scheduled oneshot's next run (set by the loop through `arm_tick`).
    next_tick: Option<Tick>,
    /// The tick that came last; `@every` counts from it.
    last_tick: Option<Tick>,
    /// Control `start` on a scheduled oneshot: run now instead of waiting for the tick.
    run_now: bool,
    /// Services to reload after a scheduled run exits 0 (`then_reload`, resolved).
    then_reload: Vec<Idx>,
    /// The last output (or, for CMD on a TTY, terminal activity) seen, for `idle_timeout`.
    activity: Option<Instant>,
    /// The session end the last warning was about (a later end, after activity, warns again).
    warned_for: Option<Instant>,
    /// A oneshot with a `stop_command` whose last run succeeded: the stop command is owed at
    /// shutdown (cleared when it starts, or when the oneshot runs again).
    stop_owed: bool,
    /// `pidone reload` removed its service file: it is stopped and no longer listed (its
    /// slot stays, so the indices of the other units do not move).
    retired: bool,
    /// A retired unit to be stopped once these retired units (that depended on it) are
    /// gone; None once it was told to stop (or for any other unit).
    stop_after: Option<Vec<Idx>>,
    /// Its last process was stopped by `restart` (or `s6-svc -r`), or ended by a signal sent
    /// on request (`s6-svc -k`, `pidone signal`): `status` says so.
    restarted_on_request: bool,
    /// When a signal was last sent to its process on request. An exit within `stop_timeout`
    /// of it is that signal's doing: a restart on request (as `s6-svc -k` is under
    /// s6-supervise), not a crash that counts and grows the backoff.
    signalled_on_request: Option<Instant>,
}

/// Which session limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLimit {
    MaxRuntime,
    Idle,
}

impl Unit {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Spawn(Idx),
    /// Spawn the unit's helper: its `stop_command` (shutdown) or its `finish_command` (after
    /// its process ended); `Unit::argv` says which.
    SpawnHelper(Idx),
    /// Send `signal` to the unit's process group.
    Signal(Idx, i32),
    RunProbe(Idx, ProbeKind),
    /// A probe overran its timeout: kill it (its result then counts as a failure).
    KillProbe(Idx, ProbeKind),
    Log(crate::log::Level, String),
    /// Compute the next tick of a scheduled oneshot and `arm_tick` it.
    ArmTick(Idx),
    /// A tick's time came on the monotonic clock: check the wall clock, then `on_tick`.
    TickDue(Idx),
    /// A session limit is `warn_before` away: send `warn_signal` / run `warn_command`.
    Warn(Idx, SessionLimit, Duration),
}

/// One unit as `status` reports it: plain data read from the state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitStatus<'a> {
    pub name: &'a str,
    /// `cmd`, `render`, `oneshot` or `longrun`.
    pub kind: &'static str,
    pub state: &'static str,
    pub pid: Option<i32>,
    /// Since the unit started (starting) or became ready (up).
    pub uptime: Option<Duration>,
    pub restarts: u32,
    pub last_exit: Option<i32>,
    pub health: &'static str,
    pub reason: Option<&'a str>,
    /// A scheduled oneshot: how long until its next run.
    pub next_run: Option<Duration>,
}

/// The verdict of `health [NAMES]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthVerdict {
    /// Every (named) unit is where it should be: longruns ready and passing their check,
    /// oneshots finished.
    Healthy,
    /// Not there yet: these are still starting.
    Starting(Vec<String>),
    /// The first unit that is not as it should be, and why.
    Unhealthy(String),
    Stopping,
}

pub struct Core {
    units: Vec<Unit>,
    once: bool,
    shutdown: Option<i32>,
    /// Shutdown by signal with CMD running: the exit code is CMD's, once it has exited.
    follow_main: Option<Idx>,
    actions: Vec<Action>,
    /// What the last `pidone reload` did (shown by `status`).
    last_reload: Option<String>,
}

/// How long a readiness probe may run before it is killed.
pub const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How soon a health check that failed in the grace (see `Core::health_grace_until`) is tried
/// again, when `interval` is longer: the bound on how late a service that is ready is reported
/// healthy.
const HEALTH_GRACE_RETRY: Duration = Duration::from_secs(1);

/// How long a unit's probe of `kind` may run: one rule for the schedule here and for the
/// loop that starts the probe.
pub fn probe_timeout(spec: &Service, kind: ProbeKind) -> Duration {
    match kind {
        ProbeKind::Ready => READY_PROBE_TIMEOUT,
        ProbeKind::Health => spec
            .health
            .as_ref()
            .map_or(READY_PROBE_TIMEOUT, |h| h.timeout),
    }
}

impl Core {
    /// `units` in any order; `deps` are resolved from each spec's `after` (and the consumer
    /// of its stdout) by name.
    pub fn new(specs: Vec<(Service, Role)>, once: bool) -> Core {
        let units = specs
            .into_iter()
            .map(|(spec, role)| Unit::new(spec, role))
            .collect();
        let mut core = Core {
            units,
            once,
            shutdown: None,
            follow_main: None,
            actions: Vec::new(),
            last_reload: None,
        };
        core.link();
        core
    }

    /// Resolve every unit's dependencies, dependants and `then_reload` targets by name
    /// (among the units not retired).
    fn link(&mut self) {
        let names: Vec<Option<String>> = self
            .units
            .iter()
            .map(|u| (!u.retired).then(|| u.spec.name.clone()))
            .collect();
        let find = |d: &String| names.iter().position(|n| n.as_ref() == Some(d));
        for u in &mut self.units {
            u.deps = u.spec.waits_for().filter_map(find).collect();
            u.then_reload = u.spec.then_reload.iter().filter_map(find).collect();
            u.dependants.clear();
        }
        for i in 0..self.units.len() {
            for d in self.units[i].deps.clone() {
                self.units[d].dependants.push(i);
            }
        }
    }
}

impl Unit {
    fn new(spec: Service, role: Role) -> Unit {
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
}

impl Core {
    /// Every unit, in start order (read-only: the state machine alone changes them).
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn unit(&self, i: Idx) -> &Unit {
        &self.units[i]
    }

    pub fn index(&self, name: &str) -> Option<Idx> {
        self.units
            .iter()
            .position(|u| u.spec.name == name && !u.retired)
    }

    /// `pidone reload` added a service: it waits for its dependencies like any other
    /// (a retired slot of the same name is reused). Call `relink` once all are applied.
    pub fn add_unit(&mut self, spec: Service) -> Idx {
        let reuse = self.units.iter().position(|u| {
            u.retired && u.spec.name == spec.name && u.pid.is_none() && !u.running_helper()
        });
        let unit = Unit::new(spec, Role::Service);
        match reuse {
            Some(i) => {
                self.units[i] = unit;
                i
            }
            None => {
                self.units.push(unit);
                self.units.len() - 1
            }
        }
    }

    /// `pidone reload` changed unit `i`'s service file: a running unit is stopped (with its
    /// old stop signal) and waits for its dependencies again, then starts with `spec`; one
    /// that was not running (waiting, failed, finished, between scheduled runs) waits for
    /// its dependencies at once. One stopped on request stays stopped with its new spec.
    pub fn reconfigure_unit(&mut self, i: Idx, spec: Service, now: Instant) {
        match self.units[i].phase {
            Phase::Starting { .. } | Phase::Up { .. } => {
                self.send_stop(i, now, AfterStop::Reconfigured)
            }
            Phase::Stopping { .. } | Phase::Finishing { .. } => {
                self.units[i].after_stop = AfterStop::Reconfigured
            }
            Phase::Stopped | Phase::CleaningUp { .. } => {}
            Phase::Waiting
            | Phase::Backoff { .. }
            | Phase::Failed
            | Phase::Done
            | Phase::Scheduled => self.units[i].phase = Phase::Waiting,
        }
        let u = &mut self.units[i];
        u.spec = spec;
        u.restart_times.clear();
        u.delay = None;
        u.next_tick = None;
        u.stop_owed = false;
        u.switched_off = false;
        if u.pid.is_none() {
            u.reason = None;
        }
    }

    /// `pidone reload` removed unit `i`'s service file: stopped as by `pidone stop`, then
    /// no longer listed.
    /// Removed units stop in reverse dependency order: one waits until the removed units
    /// that depended on it are gone (`step_running`).
    pub fn retire_units(&mut self, list: &[Idx], now: Instant) {
        for &i in list {
            let first: Vec<Idx> = self.units[i]
                .dependants
                .iter()
                .copied()
                .filter(|d| list.contains(d))
                .collect();
            self.units[i].retired = true;
            self.units[i].stop_after = Some(first);
        }
        self.stop_retired(now);
    }

    /// Stop each retired unit whose removed dependants are gone (once).
    fn stop_retired(&mut self, now: Instant) -> bool {
        let mut stopped = false;
        for i in 0..self.units.len() {
            let Some(first) = &self.units[i].stop_after else {
                continue;
            };
            if first.iter().any(|&d| self.holds_dependencies(d)) {
                continue;
            }
            self.units[i].stop_after = None;
            self.request_stop(i, now);
            stopped = true;
        }
        stopped
    }

    /// After `add_unit`, `reconfigure_unit` and `retire_unit`: resolve dependencies again.
    pub fn relink(&mut self) {
        self.link();
    }

    /// What the last `pidone reload` did, for `status`.
    pub fn set_last_reload(&mut self, summary: String) {
        self.last_reload = Some(summary);
    }

    pub fn last_reload(&self) -> Option<&str> {
        self.last_reload.as_deref()
    }

    /// Every unit as `status` reports it, in start order.
    pub fn status(&self, now: Instant) -> Vec<UnitStatus<'_>> {
        self.units
            .iter()
            .filter(|u| !u.retired || u.pid.is_some())
            .map(|u| UnitStatus {
                name: &u.spec.name,
                kind: match u.role {
                    Role::Main => "cmd",
                    Role::Render => "render",
                    Role::Service => match u.spec.kind {
                        Kind::Oneshot => "oneshot",
                        Kind::Longrun => "longrun",
                    },
                },
                state: u.phase.name(),
                pid: u.pid,
                uptime: match u.phase {
                    Phase::Up { since } | Phase::Starting { since } => {
                        Some(now.saturating_duration_since(since))
                    }
                    _ => None,
                },
                restarts: u.restarts,
                last_exit: u.last_exit.map(|e| e.code()),
                health: match u.health {
                    HealthStatus::None => "none",
                    HealthStatus::Starting => "starting",
                    HealthStatus::Healthy => "healthy",
                    HealthStatus::Unhealthy => "unhealthy",
                },
                reason: u
                    .reason
                    .as_deref()
                    .or(u.restarted_on_request.then_some("restarted on request")),
                next_run: u.next_tick.map(|t| t.at.saturating_duration_since(now)),
            })
            .collect()
    }

    /// The health of the named units (all when `names` is empty); `Err` names an unknown one.
    pub fn health(&self, names: &[&str]) -> Result<HealthVerdict, String> {
        if self.shutting_down() {
            return Ok(HealthVerdict::Stopping);
        }
        let mut selected = Vec::new();
        for name in names {
            selected.push(self.index(name).ok_or_else(|| name.to_string())?);
        }
        if selected.is_empty() {
            selected = (0..self.units.len())
                .filter(|&i| !self.units[i].retired)
                .collect();
        }
        let mut starting = Vec::new();
        for i in selected {
            let u = &self.units[i];
            let name = &u.spec.name;
            let oneshot = u.spec.kind == Kind::Oneshot;
            // A scheduled oneshot says nothing about the container's health: between runs
            // it is not "finished", a run is not "starting", and a failed run is logged and
            // retried at the next tick without holding anything.
            if u.spec.schedule.is_some() {
                continue;
            }
            match (u.phase, u.health) {
                (Phase::Done, _) if oneshot || u.switched_off => {}
                (Phase::Up { .. }, HealthStatus::None | HealthStatus::Healthy) => {}
                (Phase::Up { .. }, HealthStatus::Starting)
                | (Phase::Waiting | Phase::Starting { .. }, _) => starting.push(name.clone()),
                (Phase::Up { .. }, HealthStatus::Unhealthy) => {
                    return Ok(HealthVerdict::Unhealthy(format!(
                        "{name}: {}",
                        u.reason.clone().unwrap_or_default()
                    )));
                }
                (phase, _) => {
                    let why = u
                        .reason
                        .clone()
                        .or_else(|| u.last_exit.map(|e| e.describe()))
                        .unwrap_or_default();
                    return Ok(HealthVerdict::Unhealthy(format!(
                        "{name} is {}{}",
                        phase.name(),
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(" ({why})")
                        }
                    )));
                }
            }
        }
        if starting.is_empty() {
            Ok(HealthVerdict::Healthy)
        } else {
            Ok(HealthVerdict::Starting(starting))
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// The exit code decided so far (0 when the run ended by a signal without CMD).
    pub fn exit_code(&self) -> i32 {
        if let Some(m) = self.follow_main
            && let Some(status) = self.units[m].last_exit
        {
            return status.code();
        }
        self.shutdown.unwrap_or(0)
    }

    /// True once shutdown began, no unit has a process left and no helper is still to run.
    pub fn finished(&self) -> bool {
        self.shutdown.is_some() && (0..self.units.len()).all(|i| !self.holds_dependencies(i))
    }

    fn log(&mut self, level: crate::log::Level, msg: String) {
        self.actions.push(Action::Log(level, msg));
    }

    /// Begin the ordered shutdown. The first reason to stop decides the exit code.
    pub fn begin_shutdown(&mut self, code: i32, why: &str) {
        if self.shutdown.is_none() {
            self.shutdown = Some(code);
            self.log(crate::log::Level::Info, format!("shutting down: {why}"));
        }
    }

    /// TERM/INT/QUIT: stop everything. With CMD running, the exit code will be CMD's.
    pub fn begin_shutdown_on_signal(&mut self, why: &str) {
        let main = self.units.iter().position(|u| u.role == Role::Main);
        match main {
            Some(m) if self.units[m].pid.is_some() => self.begin_shutdown_following(m, why),
            _ => self.begin_shutdown(0, why),
        }
    }

    /// Shut down; the exit code will be that of unit `main` (CMD) when it exits.
    pub fn begin_shutdown_following(&mut self, main: Idx, why: &str) {
        if self.shutdown.is_none() {
            self.follow_main = Some(main);
        }
        self.begin_shutdown(0, why);
    }

    fn dep_state(&self, unit: Idx, dep: Idx) -> DepState {
        let d = &self.units[dep];
        // A scheduled oneshot runs at its ticks, not before its dependants: waiting for it
        // would mean waiting for hours (CMD waits for every service, render's `after` may
        // name one). Config refuses it in a service's `after`.
        if d.spec.schedule.is_some() {
            return DepState::Satisfied;
        }
        let ended = match d.phase {
            Phase::Failed | Phase::Stopped => true,
            Phase::Done => d.spec.kind == Kind::Longrun,
            _ => false,
        };
        let ready = match d.spec.kind {
            Kind::Oneshot => d.phase == Phase::Done,
            Kind::Longrun => matches!(d.phase, Phase::Up { .. }),
        };
        if ready {
            DepState::Satisfied
        } else if ended && self.units[unit].role == Role::Main && !d.spec.critical {
            // CMD waits for every service to settle, but a service that is allowed to fail
            // (not critical) must not keep the container's main command from starting.
            DepState::Satisfied
        } else if ended {
            DepState::Broken
        } else {
            DepState::Pending
        }
    }

    /// Why a dependant of `dep` can never start: which dependency, and what became of it.
    fn why_broken(&self, dep: Idx) -> String {
        let d = &self.units[dep];
        let name = &d.spec.name;
        match d.phase {
            Phase::Failed => match &d.reason {
                Some(r) => format!("dependency {name} failed: {r}"),
                None => format!("dependency {name} failed"),
            },
            Phase::Stopped => format!("dependency {name} was stopped"),
            _ => match d.last_exit {
                Some(e) => format!("dependency {name} {} and is not restarted", e.describe()),
                None => format!("dependency {name} ended"),
            },
        }
    }

    /// At shutdown, unit `i` still holds what it depends on: it has a process (its own or
    /// a helper), or its stop command or finish command is still to run.
    fn holds_dependencies(&self, i: Idx) -> bool {
        let u = &self.units[i];
        u.pid.is_some() || u.stop_owed || matches!(u.phase, Phase::Finishing { .. })
    }

    /// At shutdown, whether a dependant of `i` still holds it: directly, or through a
    /// dependant already down (stopped on request, failed), as s6-rc still counts that one
    /// as up, so what depends on it is stopped before what it depends on.
    fn held_by_dependants(&self, i: Idx) -> bool {
        if self.units[i].dependants.is_empty() {
            return false;
        }
        let mut todo = self.units[i].dependants.clone();
        let mut seen = vec![false; self.units.len()];
        while let Some(d) = todo.pop() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            if self.holds_dependencies(d) {
                return true;
            }
            todo.extend(&self.units[d].dependants);
        }
        false
    }

    /// Everything that is due at `now`. Call after every batch of events.
    pub fn step(&mut self, now: Instant) -> Vec<Action> {
        if self.shutdown.is_some() {
            self.step_shutdown(now);
        } else {
            self.step_running(now);
        }
        self.step_timers(now);
        std::mem::take(&mut self.actions)
    }

    fn step_running(&mut self, now: Instant) {
        // Iterate to a fixed point: a dependency failing can fail a chain of dependants.
        let mut changed = true;
        while changed {
            changed = self.stop_retired(now);
            for i in 0..self.units.len() {
                match self.units[i].phase {
                    Phase::Waiting => {
                        let deps = self.units[i].deps.clone();
                        let states: Vec<DepState> =
                            deps.iter().map(|&d| self.dep_state(i, d)).collect();
                        let since = *self.units[i].waiting_since.get_or_insert(now);
                        if let Some(n) = states.iter().position(|s| *s == DepState::Broken) {
                            let why = self.why_broken(deps[n]);
                            // One line per dependant, naming it (the same reason for each
                            // of several dependants would otherwise be repeated verbatim).
                            let line = format!("{} not started: {why}", self.units[i].spec.name);
                            self.fail_saying(i, why, line, None);
                            changed = true;
                        } else if states.iter().all(|s| *s == DepState::Satisfied) {
                            if self.units[i].spec.schedule.is_some() && !self.units[i].run_now {
                                self.enter_scheduled(i);
                            } else {
                                self.units[i].run_now = false;
                                self.start(i, now);
                            }
                            changed = true;
                        } else if let Some(wait) = self.units[i].spec.dependency_wait
                            && since + wait.limit <= now
                        {
                            self.dependency_wait_over(i, &deps, &states, wait.fail, now);
                            changed = true;
                        }
                    }
                    Phase::Backoff { until } if until <= now => {
                        self.start(i, now);
                        changed = true;
                    }
                    _ => {}
                }
            }
        }
    }

    /// `dependency_wait` ran out with dependencies still pending: start anyway, or fail.
    fn dependency_wait_over(
        &mut self,
        i: Idx,
        deps: &[Idx],
        states: &[DepState],
        fail: bool,
        now: Instant,
    ) {
        let pending: Vec<String> = deps
            .iter()
            .zip(states)
            .filter(|(_, s)| **s == DepState::Pending)
            .map(|(&d, _)| self.units[d].spec.name.clone())
            .collect();
        let name = self.units[i].spec.name.clone();
        let limit = self.units[i]
            .spec
            .dependency_wait
            .map_or(Duration::ZERO, |w| w.limit);
        let what = format!(
            "{} not ready within {}",
            pending.join(", "),
            crate::values::format_duration(limit)
        );
        if fail {
            self.fail(i, format!("{what}; {name} is not started"), None);
        } else {
            self.log(
                crate::log::Level::Warn,
                format!("{what}; starting {name} anyway"),
            );
            self.start(i, now);
        }
    }

    fn start(&mut self, i: Idx, now: Instant) {
        let u = &mut self.units[i];
        u.stop_owed = false;
        if u.spec.command.is_empty() {
            // Nothing to run at start (an s6 oneshot with only a `down`, cont-finish.d): done,
            // and its stop command owed.
            u.phase = Phase::Done;
            u.stop_owed = u.spec.stop_command.is_some();
            return;
        }
        u.waiting_since = None;
        u.phase = Phase::Starting { since: now };
        u.after_stop = AfterStop::Policy;
        u.signalled_on_request = None;
        u.started_at = Some(now);
        u.reason = None;
        u.ready_probe = ProbeSchedule::default();
        u.health_probe = ProbeSchedule::default();
        u.health_failures = 0;
        u.activity = None;
        u.warned_for = None;
        if u.spec.health.is_some() {
            u.health = HealthStatus::Starting;
        }
        self.actions.push(Action::Spawn(i));
    }

    /// When the unit's session ends, and by which limit: the earlier of `max_runtime` from
    /// the start and `idle_timeout` from the last activity (or the start).
    fn session_end(&self, i: Idx, since: Instant) -> Option<(Instant, SessionLimit)> {
        let u = &self.units[i];
        let max = u
            .spec
            .max_runtime
            .map(|m| (since + m, SessionLimit::MaxRuntime));
        let idle = u.spec.idle_timeout.map(|d| {
            (
                u.activity.unwrap_or(since).max(since) + d,
                SessionLimit::Idle,
            )
        });
        match (max, idle) {
            (Some(m), Some(d)) => Some(if d.0 < m.0 { d } else { m }),
            (m, d) => m.or(d),
        }
    }

    /// When to warn about a session ending at `end`; None when there is no warning to give
    /// (none configured, or this end was warned about already).
    fn warn_at(&self, i: Idx, end: Instant) -> Option<Instant> {
        let u = &self.units[i];
        let before = u.spec.warn_before?;
        if u.warned_for == Some(end) {
            return None;
        }
        Some(end.checked_sub(before).unwrap_or(end))
    }

    /// Output from the unit (or, for CMD on a TTY, activity on the terminal) at `at`.
    pub fn on_activity(&mut self, i: Idx, at: Instant) {
        let u = &mut self.units[i];
        if u.activity.is_none_or(|a| a < at) {
            u.activity = Some(at);
        }
    }

    /// Between runs: wait for the next tick, asking the loop to compute it if none is armed.
    fn enter_scheduled(&mut self, i: Idx) {
        self.units[i].phase = Phase::Scheduled;
        if self.units[i].next_tick.is_none() {
            self.actions.push(Action::ArmTick(i));
        }
    }

    /// The loop computed the next tick of scheduled oneshot `i`.
    pub fn arm_tick(&mut self, i: Idx, tick: Tick) {
        self.units[i].next_tick = Some(tick);
    }

    /// A tick came (the loop checked the wall clock): run, or skip while the last run is
    /// still going, then have the next tick armed. Ticks missed while pidone was not
    /// running are never made up: there is no state kept across runs.
    pub fn on_tick(&mut self, i: Idx, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        let name = self.units[i].spec.name.clone();
        match self.units[i].phase {
            Phase::Scheduled => {
                self.log(crate::log::Level::Info, format!("{name}: scheduled run"));
                self.start(i, now);
            }
            Phase::Starting { .. }
            | Phase::Up { .. }
            | Phase::Stopping { .. }
            | Phase::Finishing { .. } => {
                self.log(
                    crate::log::Level::Warn,
                    format!(
                        "{name} is still running at its next scheduled time; skipping that run"
                    ),
                );
            }
            // Stopped on request, or waiting for a dependency: no more runs until started.
            _ => return,
        }
        self.actions.push(Action::ArmTick(i));
    }

    /// Stop signals in reverse dependency order: a unit is stopped once no dependant of it
    /// (nor, through one already down, any of its dependants) still has a process or an owed
    /// stop command. Units not started yet simply never
    /// start. A oneshot whose last run succeeded runs its `stop_command` when its turn
    /// comes, as a unit being stopped, so what it depends on waits for it in turn.
    fn step_shutdown(&mut self, now: Instant) {
        for i in 0..self.units.len() {
            let u = &self.units[i];
            let blocked = self.held_by_dependants(i);
            match u.phase {
                Phase::Waiting | Phase::Backoff { .. } | Phase::Scheduled => {
                    self.units[i].phase = Phase::Stopped
                }
                Phase::Starting { .. } | Phase::Up { .. } if !blocked => {
                    self.send_stop(i, now, AfterStop::Stay);
                }
                _ => {}
            }
            if self.units[i].stop_owed && self.units[i].pid.is_none() && !blocked {
                self.start_stop_command(i, now);
            }
        }
    }

    fn start_stop_command(&mut self, i: Idx, now: Instant) {
        let u = &mut self.units[i];
        u.stop_owed = false;
        let Some(stop) = &u.spec.stop_command else {
            return;
        };
        let name = u.spec.name.clone();
        u.phase = Phase::CleaningUp {
            deadline: stop.timeout.map(|t| now + t),
        };
        let limit = match stop.timeout {
            Some(t) => format!("SIGKILL after {}", crate::values::format_duration(t)),
            None => "no time limit".into(),
        };
        self.log(
            crate::log::Level::Info,
            format!("{name}: running its stop command ({limit})"),
        );
        self.actions.push(Action::SpawnHelper(i));
    }

    /// The stop command ended (or could not start): logged; shutdown goes on whatever it
    /// did, and the exit code stays what it was.
    fn on_stop_command_exit(&mut self, i: Idx, status: ExitStatus) {
        let name = self.units[i].spec.name.clone();
        self.units[i].phase = Phase::Stopped;
        if status.success() {
            self.log(
                crate::log::Level::Info,
                format!("{name}: stop command finished"),
            );
        } else {
            self.log(
                crate::log::Level::Error,
                format!("{name}: stop command {}", status.describe()),
            );
        }
    }

    fn send_stop(&mut self, i: Idx, now: Instant, after: AfterStop) {
        let u = &mut self.units[i];
        u.after_stop = after;
        if u.pid.is_none() {
            return;
        }
        u.phase = Phase::Stopping {
            deadline: now + u.spec.stop_timeout,
            killed: false,
        };
        let sig = u.spec.stop_signal;
        self.actions.push(Action::Signal(i, sig));
    }

    fn step_timers(&mut self, now: Instant) {
        for i in 0..self.units.len() {
            if self.shutdown.is_none()
                && let Some(tick) = self.units[i].next_tick
                && tick.at <= now
            {
                self.units[i].next_tick = None;
                self.units[i].last_tick = Some(tick);
                self.actions.push(Action::TickDue(i));
            }
            let phase = self.units[i].phase;
            match phase {
                Phase::CleaningUp {
                    deadline: Some(deadline),
                } if deadline <= now => {
                    let name = self.units[i].spec.name.clone();
                    let limit = self.units[i]
                        .spec
                        .stop_command
                        .as_ref()
                        .and_then(|s| s.timeout)
                        .unwrap_or_default();
                    self.log(
                        crate::log::Level::Warn,
                        format!(
                            "{name}: stop command still running after {}; sending SIGKILL",
                            crate::values::format_duration(limit)
                        ),
                    );
                    self.units[i].phase = Phase::CleaningUp { deadline: None };
                    self.actions.push(Action::Signal(i, libc::SIGKILL));
                }
                Phase::Finishing {
                    deadline: Some(deadline),
                    exit,
                    was_stopping,
                } if deadline <= now => {
                    let name = self.units[i].spec.name.clone();
                    self.log(
                        crate::log::Level::Warn,
                        format!(
                            "{name}: finish still running after its timeout-finish; sending SIGKILL"
                        ),
                    );
                    self.units[i].phase = Phase::Finishing {
                        deadline: None,
                        exit,
                        was_stopping,
                    };
                    self.actions.push(Action::Signal(i, libc::SIGKILL));
                }
                Phase::Stopping {
                    deadline,
                    killed: false,
                } if deadline <= now => {
                    let name = self.units[i].spec.name.clone();
                    self.log(
                        crate::log::Level::Warn,
                        format!("{name} did not stop within its stop_timeout; sending SIGKILL"),
                    );
                    self.units[i].phase = Phase::Stopping {
                        deadline,
                        killed: true,
                    };
                    self.actions.push(Action::Signal(i, libc::SIGKILL));
                }
                Phase::Starting { since } if self.shutdown.is_none() => {
                    if let Some(limit) = self.units[i].spec.timeout
                        && self.units[i].spec.kind == Kind::Oneshot
                        && since + limit <= now
                    {
                        // A hung init task would otherwise hold its dependants and CMD for
                        // ever. It gets its stop signal (then SIGKILL at stop_timeout), and
                        // the exit that follows is a failure whatever its status.
                        let name = self.units[i].spec.name.clone();
                        let why =
                            format!("timed out after {}", crate::values::format_duration(limit));
                        self.log(
                            crate::log::Level::Warn,
                            format!("oneshot {name} {why}; stopping it"),
                        );
                        self.units[i].reason = Some(why);
                        self.send_stop(i, now, AfterStop::Policy);
                        continue;
                    }
                    if let Some(ready) = self.units[i].spec.ready.clone() {
                        if since + ready.timeout <= now {
                            let name = self.units[i].spec.name.clone();
                            let why = format!(
                                "{name} was not ready within {}",
                                crate::values::format_duration(ready.timeout)
                            );
                            self.log(crate::log::Level::Warn, why.clone());
                            self.units[i].reason = Some(why);
                            self.send_stop(i, now, AfterStop::Policy);
                        } else if matches!(ready.check, ReadyCheck::Probe(_)) {
                            self.schedule_probe(i, ProbeKind::Ready, now);
                        }
                    }
                }
                Phase::Up { since } if self.shutdown.is_none() => {
                    if let Some((end, limit)) = self.session_end(i, since) {
                        let name = self.units[i].spec.name.clone();
                        if end <= now {
                            let why = match limit {
                                SessionLimit::MaxRuntime => format!(
                                    "{name} reached its max_runtime ({})",
                                    crate::values::format_duration(
                                        self.units[i].spec.max_runtime.unwrap_or_default()
                                    )
                                ),
                                SessionLimit::Idle => format!(
                                    "{name} was idle for its idle_timeout ({})",
                                    crate::values::format_duration(
                                        self.units[i].spec.idle_timeout.unwrap_or_default()
                                    )
                                ),
                            };
                            self.log(crate::log::Level::Info, format!("{why}; stopping it"));
                            self.send_stop(i, now, AfterStop::MaxRuntime);
                            continue;
                        }
                        if let Some(warn) = self.warn_at(i, end)
                            && warn <= now
                        {
                            self.units[i].warned_for = Some(end);
                            let left = end.saturating_duration_since(now);
                            self.log(
                                crate::log::Level::Info,
                                format!(
                                    "{name}: {} ends the session in {}; warning it",
                                    match limit {
                                        SessionLimit::MaxRuntime => "max_runtime",
                                        SessionLimit::Idle => "idle_timeout",
                                    },
                                    crate::values::format_duration(left)
                                ),
                            );
                            self.actions.push(Action::Warn(i, limit, left));
                        }
                    }
                    if self.units[i].spec.health.is_some() {
                        self.schedule_probe(i, ProbeKind::Health, now);
                    }
                }
                _ => {}
            }
        }
    }

    fn schedule(&mut self, i: Idx, kind: ProbeKind) -> &mut ProbeSchedule {
        match kind {
            ProbeKind::Ready => &mut self.units[i].ready_probe,
            ProbeKind::Health => &mut self.units[i].health_probe,
        }
    }

    /// Start the unit's probe when it is due, or kill it when it overran its timeout.
    ///
    /// A readiness probe first runs as soon as the process is started, and a health check as
    /// soon as the service is ready (up): so `healthcheck` says healthy within a second of
    /// readiness instead of one `interval` later. Failures are not counted before the first
    /// pass until the health grace ends (see `health_grace_until`), and are retried at a
    /// faster pace meanwhile; later checks follow `interval` after each result.
    fn schedule_probe(&mut self, i: Idx, kind: ProbeKind, now: Instant) {
        let spec = &self.units[i].spec;
        let timeout = probe_timeout(spec, kind);
        let sched = self.schedule(i, kind);
        if let Some(until) = sched.running_until {
            if until <= now {
                sched.running_until = Some(now + Duration::from_secs(3600));
                self.actions.push(Action::KillProbe(i, kind));
            }
            return;
        }
        let due = *sched.due.get_or_insert(now);
        if due <= now {
            sched.due = None;
            sched.running_until = Some(now + timeout);
            self.actions.push(Action::RunProbe(i, kind));
        }
    }

    pub fn on_spawned(&mut self, i: Idx, pid: i32, now: Instant) {
        let u = &mut self.units[i];
        u.pid = Some(pid);
        // A helper (finish, stop command) keeps its phase: the service is not up again.
        if u.spec.kind == Kind::Longrun && u.spec.ready.is_none() && !u.running_helper() {
            u.phase = Phase::Up { since: now };
        }
    }

    /// The unit could not be started at all (exec failed): like an exit with `code`.
    pub fn on_spawn_failed(&mut self, i: Idx, code: i32, why: String, now: Instant) {
        // A helper that cannot start is logged; the unit's reason stays about the service.
        if !self.units[i].running_helper() {
            self.units[i].reason = Some(why.clone());
        }
        self.log(crate::log::Level::Error, why);
        self.on_exit(i, ExitStatus::Code(code), now);
    }

    pub fn on_ready(&mut self, i: Idx, now: Instant) {
        let u = &mut self.units[i];
        if let Phase::Starting { since } = u.phase
            && u.spec.kind == Kind::Longrun
        {
            u.phase = Phase::Up { since: now };
            u.ready_probe = ProbeSchedule::default();
            let took = now.saturating_duration_since(since);
            let name = u.spec.name.clone();
            self.log(
                crate::log::Level::Info,
                format!("{name} is ready ({})", crate::values::format_duration(took)),
            );
        }
    }

    pub fn on_probe_result(
        &mut self,
        i: Idx,
        kind: ProbeKind,
        ok: bool,
        detail: String,
        now: Instant,
    ) {
        let mut interval = match kind {
            ProbeKind::Ready => self.units[i].spec.ready.as_ref().map(|r| r.interval),
            ProbeKind::Health => self.units[i].spec.health.as_ref().map(|h| h.interval),
        }
        .unwrap_or(Duration::from_secs(1));
        // A failed check in the grace is tried again soon: the service was ready but its
        // health endpoint may come a moment later, and waiting a whole `interval` for the
        // second try would report it healthy that much late.
        if kind == ProbeKind::Health && !ok && self.health_grace_until(i).is_some_and(|g| now < g) {
            interval = interval.min(HEALTH_GRACE_RETRY);
        }
        let sched = self.schedule(i, kind);
        if sched.running_until.is_none() {
            // Nobody waits for this result: the probe of a process that is gone (killed by
            // on_exit). Scheduling the next run now would leave a due time that no phase ever
            // consumes, and the loop would spin on it.
            return;
        }
        sched.running_until = None;
        sched.due = Some(now + interval);
        match kind {
            ProbeKind::Ready => {
                if ok {
                    self.on_ready(i, now);
                }
            }
            ProbeKind::Health => self.on_health(i, ok, detail, now),
        }
    }

    fn on_health(&mut self, i: Idx, ok: bool, detail: String, now: Instant) {
        let Some(health) = self.units[i].spec.health.clone() else {
            return;
        };
        if !matches!(self.units[i].phase, Phase::Up { .. }) {
            return;
        }
        let name = self.units[i].spec.name.clone();
        let u = &mut self.units[i];
        if ok {
            if u.health != HealthStatus::Healthy {
                u.health = HealthStatus::Healthy;
                u.reason = None;
                self.log(crate::log::Level::Info, format!("{name} is healthy"));
            }
            self.units[i].health_failures = 0;
            return;
        }
        if self.health_grace_until(i).is_some_and(|g| now < g) {
            return;
        }
        let u = &mut self.units[i];
        u.health_failures += 1;
        if u.health_failures < health.retries {
            return;
        }
        let was = u.health;
        u.health = HealthStatus::Unhealthy;
        u.reason = Some(format!("health check failed: {detail}"));
        if was != HealthStatus::Unhealthy || health.on_failure == OnUnhealthy::Restart {
            self.log(
                crate::log::Level::Warn,
                format!(
                    "{name} is unhealthy after {} failed checks: {detail}",
                    health.retries
                ),
            );
        }
        match health.on_failure {
            OnUnhealthy::Ignore => {}
            OnUnhealthy::Restart => self.send_stop(i, now, AfterStop::Unhealthy),
            OnUnhealthy::Stop => {
                self.begin_shutdown(
                    1,
                    &format!("{name} is unhealthy and its on_failure is \"stop\""),
                );
            }
        }
    }

    /// Until when a failed health check is not counted: while the service has not passed one
    /// since it started (its health is not `healthy`), until the later of the end of
    /// `start_period` (from the start) and one `interval` after it became ready. The first
    /// check runs at readiness, but a service without a readiness check is "ready" when it is
    /// spawned, maybe before it listens; without this grace, `retries = 1` would restart it
    /// before it ever could. With it, a service that never passes is unhealthy exactly when
    /// it was when the first check ran one `interval` after readiness: only passes come sooner.
    fn health_grace_until(&self, i: Idx) -> Option<Instant> {
        let u = &self.units[i];
        let health = u.spec.health.as_ref()?;
        let Phase::Up { since } = u.phase else {
            return None;
        };
        if u.health == HealthStatus::Healthy {
            return None;
        }
        let start_period_end = u.started_at.map_or(since, |t| t + health.start_period);
        Some(start_period_end.max(since + health.interval))
    }

    /// A watched file changed.
    pub fn on_reload(&mut self, i: Idx, now: Instant) -> Option<i32> {
        if !matches!(
            self.units[i].phase,
            Phase::Up { .. } | Phase::Starting { .. }
        ) || self.shutdown.is_some()
        {
            return None;
        }
        match self.units[i].spec.reload {
            crate::config::Reload::Signal(s) => Some(s),
            crate::config::Reload::Restart => {
                self.units[i].restarts += 1;
                self.send_stop(i, now, AfterStop::Restart);
                None
            }
        }
    }

    /// The unit's main process is gone.
    pub fn on_exit(&mut self, i: Idx, status: ExitStatus, now: Instant) {
        // A probe still running belongs to the process that is gone: kill it, or a hung
        // health command would outlive its service (nothing else ever times it out).
        for kind in [ProbeKind::Ready, ProbeKind::Health] {
            if self.schedule(i, kind).running_until.is_some() {
                self.actions.push(Action::KillProbe(i, kind));
            }
        }
        if let Phase::CleaningUp { .. } = self.units[i].phase {
            self.units[i].pid = None;
            self.on_stop_command_exit(i, status);
            return;
        }
        if let Phase::Finishing {
            exit, was_stopping, ..
        } = self.units[i].phase
        {
            self.units[i].pid = None;
            self.on_finish_exit(i, status);
            self.after_exit(i, exit, was_stopping, now);
            return;
        }
        let u = &mut self.units[i];
        u.pid = None;
        // Ended by a signal sent on request (see `request_signal`): restarted as on `restart`.
        let by_requested_signal = matches!(u.phase, Phase::Starting { .. } | Phase::Up { .. })
            && u.signalled_on_request.take().is_some_and(|at| {
                now.saturating_duration_since(at) <= u.spec.stop_timeout && !u.switched_off
            });
        if by_requested_signal {
            u.after_stop = AfterStop::Restart;
        }
        // The status of a process stopped to restart it on request is the request's own
        // signal: `status` goes on showing the last exit of the service's own.
        let on_request = by_requested_signal
            || (matches!(u.phase, Phase::Stopping { .. })
                && matches!(u.after_stop, AfterStop::Restart | AfterStop::Reconfigured));
        if !on_request {
            u.last_exit = Some(status);
        }
        u.restarted_on_request = on_request;
        u.ready_probe = ProbeSchedule::default();
        u.health_probe = ProbeSchedule::default();
        // The last verdict was about a process that is gone: `status` must not show a
        // stopped service as healthy. `start` sets it to "starting" again.
        u.health = HealthStatus::None;
        let was_stopping = matches!(u.phase, Phase::Stopping { .. });
        if let Some(finish) = &u.spec.finish_command
            && u.role != Role::Main
        {
            // s6-supervise runs finish after every exit of `run`, at shutdown too, before
            // anything else happens to the service.
            u.phase = Phase::Finishing {
                deadline: Some(now + finish.timeout),
                exit: status,
                was_stopping,
            };
            self.actions.push(Action::SpawnHelper(i));
            return;
        }
        self.after_exit(i, status, was_stopping, now);
    }

    /// The finish command ended: logged when it failed; 125 means "do not restart" (s6).
    fn on_finish_exit(&mut self, i: Idx, status: ExitStatus) {
        let name = self.units[i].spec.name.clone();
        match status {
            ExitStatus::Code(0) => {}
            ExitStatus::Code(crate::config::FINISH_DO_NOT_RESTART) => {
                self.log(
                    crate::log::Level::Info,
                    format!("{name}: finish exited 125: not restarted"),
                );
                self.request_once(i);
            }
            _ => self.log(
                crate::log::Level::Warn,
                format!("{name}: finish {}", status.describe()),
            ),
        }
    }

    /// What happens to a unit whose process ended (after its finish command, if any):
    /// shutdown, CMD's end, the restart policy.
    fn after_exit(&mut self, i: Idx, status: ExitStatus, was_stopping: bool, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let u = &self.units[i];
        let after = u.after_stop;
        let uptime = u.started_at.map(|t| now.saturating_duration_since(t));

        if self.shutdown.is_some() {
            self.units[i].phase = Phase::Stopped;
            self.log(
                crate::log::Level::Info,
                format!("{name} stopped ({})", status.describe()),
            );
            return;
        }
        if self.units[i].role == Role::Main {
            self.units[i].phase = Phase::Done;
            if after == AfterStop::MaxRuntime {
                self.begin_shutdown(
                    crate::exit::SESSION_LIMIT,
                    &format!(
                        "CMD {} after a session limit (exit code {})",
                        status.describe(),
                        crate::exit::SESSION_LIMIT
                    ),
                );
            } else {
                self.begin_shutdown(status.code(), &format!("CMD {}", status.describe()));
            }
            return;
        }
        match after {
            AfterStop::Stay => {
                self.units[i].phase = Phase::Stopped;
                self.log(
                    crate::log::Level::Info,
                    format!("{name} stopped ({})", status.describe()),
                );
                return;
            }
            AfterStop::Restart => {
                self.log(
                    crate::log::Level::Info,
                    format!("{name} restarted on request"),
                );
                self.units[i].phase = Phase::Backoff { until: now };
                return;
            }
            AfterStop::Reconfigured => {
                self.log(
                    crate::log::Level::Info,
                    format!(
                        "{name} {} for the reload; starting it with its new configuration",
                        status.describe()
                    ),
                );
                self.units[i].phase = Phase::Waiting;
                return;
            }
            AfterStop::Policy | AfterStop::MaxRuntime | AfterStop::Unhealthy => {}
        }
        let spec = &self.units[i].spec;
        // A stop at max_runtime is a clean end (restarted only by `restart = "always"`); a
        // stop for a failed start, a timed-out oneshot or a failed health check is a failure
        // whatever the exit status.
        let stopped_for_cause = was_stopping && self.units[i].reason.is_some();
        let failed = after == AfterStop::Unhealthy
            || (after != AfterStop::MaxRuntime && (!status.success() || stopped_for_cause));
        // What the failure message says: the cause when pidone stopped it for one.
        let what = match &self.units[i].reason {
            Some(r) if stopped_for_cause || after == AfterStop::Unhealthy => {
                format!("{r} ({})", status.describe())
            }
            _ => status.describe(),
        };
        // The exit code a critical failure ends the run with: the service's own, unless
        // pidone stopped it for a cause, when the status only reflects pidone's signal.
        let code_from = if stopped_for_cause || after == AfterStop::Unhealthy {
            None
        } else {
            Some(status)
        };
        if spec.schedule.is_some() {
            // A scheduled run that fails is logged and tried again at the next tick; it never
            // ends the container (a certificate renewal failing once must not take the
            // service down; config refuses `critical` here).
            if failed {
                self.units[i].reason = Some(format!("oneshot {name} {what}"));
                self.log(
                    crate::log::Level::Error,
                    format!("scheduled oneshot {name} {what}; it runs again at its next tick"),
                );
            } else {
                self.log(crate::log::Level::Info, format!("{name} finished"));
                for t in self.units[i].then_reload.clone() {
                    let target = self.units[t].spec.name.clone();
                    match self.on_reload(t, now) {
                        Some(sig) => {
                            self.log(
                                crate::log::Level::Info,
                                format!(
                                    "{name} succeeded: reloading {target} ({})",
                                    crate::values::signal_name(sig)
                                ),
                            );
                            self.actions.push(Action::Signal(t, sig));
                        }
                        None if matches!(self.units[t].phase, Phase::Stopping { .. }) => self.log(
                            crate::log::Level::Info,
                            format!("{name} succeeded: restarting {target}"),
                        ),
                        None => self.log(
                            crate::log::Level::Info,
                            format!(
                                "{name} succeeded; {target} is not running, so it is not reloaded"
                            ),
                        ),
                    }
                }
            }
            self.enter_scheduled(i);
            return;
        }
        if spec.kind == Kind::Oneshot {
            if failed {
                self.fail(i, format!("oneshot {name} {what}"), code_from);
            } else {
                self.units[i].phase = Phase::Done;
                self.units[i].stop_owed = self.units[i].spec.stop_command.is_some();
                self.log(crate::log::Level::Info, format!("{name} finished"));
            }
            return;
        }
        if self.once {
            self.units[i].phase = Phase::Done;
            self.begin_shutdown(
                status.code(),
                &format!("{name} {} (--once)", status.describe()),
            );
            return;
        }
        let restart = match spec.restart {
            Restart::Always => true,
            Restart::OnFailure => failed,
            Restart::Never => false,
        };
        if !restart {
            if failed {
                self.fail(i, format!("{name} {what}"), code_from);
            } else {
                self.units[i].phase = Phase::Done;
                self.log(
                    crate::log::Level::Info,
                    format!("{name} {}", status.describe()),
                );
            }
            return;
        }
        if after == AfterStop::MaxRuntime {
            // A session limit is a clean end, not a crash: a fresh session starts at once,
            // without growing the backoff or counting toward max_restarts.
            self.units[i].restarts += 1;
            self.units[i].phase = Phase::Backoff { until: now };
            self.log(
                crate::log::Level::Info,
                format!(
                    "{name} {} at its session limit; restarting",
                    status.describe()
                ),
            );
            return;
        }
        // Crash-loop limit: more than max_restarts restarts within restart_window.
        let window = spec.restart_window;
        let max = spec.max_restarts;
        let backoff = spec.backoff.clone();
        let u = &mut self.units[i];
        u.restart_times
            .retain(|&t| now.saturating_duration_since(t) < window);
        if u.restart_times.len() as u32 >= max {
            let why = format!(
                "{name} {what}; it restarted {max} times within {}, giving up",
                crate::values::format_duration(window)
            );
            self.fail(i, why, code_from);
            return;
        }
        let delay = match (u.delay, uptime) {
            (Some(_), Some(up)) if up >= backoff.reset_after => backoff.initial,
            (Some(d), _) => d.mul_f64(backoff.factor).min(backoff.max),
            (None, _) => backoff.initial,
        };
        u.delay = Some(delay);
        u.restart_times.push(now);
        u.restarts += 1;
        // s6-supervise's pace counts from the previous start: the time it ran is taken off.
        let wait = match (backoff.from_start, uptime) {
            (true, Some(up)) => delay.saturating_sub(up),
            _ => delay,
        };
        u.phase = Phase::Backoff { until: now + wait };
        self.log(
            crate::log::Level::Warn,
            format!(
                "{name} {what}; restarting in {}",
                crate::values::format_duration(wait)
            ),
        );
    }

    /// Mark a unit failed for good; a critical unit ends the run with its exit code.
    fn fail(&mut self, i: Idx, why: String, status: Option<ExitStatus>) {
        if self.units[i].role == Role::Render {
            // Not a service anyone declared: say what it is.
            let code = status.map_or(1, |s| s.code()).max(1);
            let why = format!(
                "the templates failed to render (exit code {code}; the lines above name each problem); no service was started"
            );
            self.units[i].phase = Phase::Failed;
            self.units[i].reason = Some(why.clone());
            self.log(crate::log::Level::Info, why);
            self.begin_shutdown(code, "the templates failed to render");
            return;
        }
        let line = format!("{why}: failed");
        self.fail_saying(i, why, line, status);
    }

    /// `fail`, logging `line`.
    fn fail_saying(&mut self, i: Idx, why: String, line: String, status: Option<ExitStatus>) {
        self.units[i].phase = Phase::Failed;
        self.units[i].reason = Some(why.clone());
        // The render step is pidone's own child and has printed its errors already (the lines
        // that matter, first): its exit is a secondary line, not one more error.
        let level = if self.units[i].role == Role::Render {
            crate::log::Level::Info
        } else {
            crate::log::Level::Error
        };
        self.log(level, line);
        if self.units[i].spec.critical || self.units[i].role != Role::Service {
            let code = status.map_or(1, |s| s.code()).max(1);
            let name = self.units[i].spec.name.clone();
            self.begin_shutdown(code, &format!("{name} failed and is critical"));
        }
    }

    /// Control: stop a unit and keep it stopped. Returns what that did, when it is more
    /// than the plain "ok" (a oneshot: whether it was running, and what it means for the
    /// services waiting for it).
    pub fn request_stop(&mut self, i: Idx, now: Instant) -> Option<String> {
        let oneshot = self.units[i].spec.kind == Kind::Oneshot;
        let stop_signal = crate::values::signal_name(self.units[i].spec.stop_signal);
        let waiting = !self.units[i].dependants.is_empty();
        let note = match self.units[i].phase {
            Phase::Starting { .. } | Phase::Up { .. } => {
                self.send_stop(i, now, AfterStop::Stay);
                oneshot.then(|| {
                    format!(
                        "the oneshot is running: sent {stop_signal} (SIGKILL after its stop_timeout); it counts as stopped, not finished{}",
                        if waiting { ", so the services waiting for it will not start" } else { "" }
                    )
                })
            }
            Phase::Waiting | Phase::Backoff { .. } => {
                self.units[i].phase = Phase::Stopped;
                oneshot.then(|| "the oneshot had not started; it will not run".to_string())
            }
            Phase::Scheduled => {
                self.units[i].phase = Phase::Stopped;
                Some("no more scheduled runs until `start`".into())
            }
            // Its clean-up, as s6-rc's `-d` runs a oneshot's `down`; not under what still
            // runs on top of it (stop those first, as s6-rc would).
            Phase::Done if oneshot && self.units[i].stop_owed => {
                let users: Vec<String> = self.units[i]
                    .dependants
                    .iter()
                    .filter(|&&d| self.units[d].pid.is_some())
                    .map(|&d| self.units[d].spec.name.clone())
                    .collect();
                if users.is_empty() {
                    self.start_stop_command(i, now);
                    Some("the oneshot had finished: running its stop_command".into())
                } else {
                    Some(format!(
                        "the oneshot had finished; its stop_command is not run while {} still runs on top of it: stop that first",
                        users.join(", ")
                    ))
                }
            }
            Phase::Done if oneshot => Some(
                "the oneshot already finished; nothing to stop (what it did stays done)".into(),
            ),
            Phase::Finishing { .. } => {
                // Its process is gone; the finish command ends as usual, then it stays down.
                self.units[i].after_stop = AfterStop::Stay;
                Some("its finish script is running; it stays down after it".into())
            }
            _ => None,
        };
        // A stopped scheduled oneshot runs no more: `start` arms its schedule again.
        self.units[i].next_tick = None;
        // A stopped unit has no current health verdict.
        if self.units[i].pid.is_none() {
            self.units[i].health = HealthStatus::None;
        }
        note
    }

    /// Control: start a stopped, failed or finished unit again; one that is stopping starts
    /// again once its process is gone (the request used to be dropped). A oneshot that
    /// finished runs again.
    pub fn request_start(&mut self, i: Idx) -> Option<String> {
        if self.shutdown.is_some() {
            return None;
        }
        match self.units[i].phase {
            Phase::Stopped | Phase::Failed | Phase::Done | Phase::Scheduled => {
                let u = &mut self.units[i];
                u.phase = Phase::Waiting;
                u.restart_times.clear();
                u.delay = None;
                u.reason = None;
                // A scheduled oneshot runs once now, then keeps to its schedule.
                u.run_now = u.spec.schedule.is_some();
                None
            }
            Phase::Stopping { .. } | Phase::Finishing { .. } => Some(self.start_after_stop(i)),
            Phase::Starting { .. } | Phase::Up { .. } => Some("already running".into()),
            Phase::CleaningUp { .. } => {
                Some("its stop_command is running; `start` it again once that is done".into())
            }
            Phase::Waiting | Phase::Backoff { .. } => None,
        }
    }

    /// Control (s6-svc -O): do not restart the unit when its process exits; it stays up
    /// until then, and ends as `done` (or `failed` for a non-zero exit).
    pub fn request_once(&mut self, i: Idx) {
        self.units[i].spec.restart = crate::config::Restart::Never;
        self.units[i].switched_off = true;
    }

    /// Control (s6-svscanctl -t, halt): stop the container. With CMD running the exit code
    /// will be CMD's, as on SIGTERM; otherwise `code`.
    pub fn request_shutdown(&mut self, code: i32, why: &str) {
        match self.units.iter().position(|u| u.role == Role::Main) {
            Some(m) if self.units[m].pid.is_some() => self.begin_shutdown_following(m, why),
            _ => self.begin_shutdown(code, why),
        }
    }

    /// Queue `sig` for the unit's process group (sent by the loop, as `Action::Signal`).
    /// False when the unit has no process to signal.
    ///
    /// If the signal ends a running service that would be restarted (its `restart` is not
    /// "never", s6-svc -O did not switch it off), it is restarted at once on request, like
    /// s6-supervise restarts after `s6-svc -k`/`-t`: the death was asked for, so it is no
    /// crash (not in `restarts`, no backoff growth). A signal it survives changes nothing.
    pub fn request_signal(&mut self, i: Idx, sig: i32, now: Instant) -> bool {
        let u = &mut self.units[i];
        if u.pid.is_none() {
            return false;
        }
        if matches!(u.phase, Phase::Starting { .. } | Phase::Up { .. })
            && u.spec.kind == Kind::Longrun
            && u.spec.restart != Restart::Never
            && !u.switched_off
        {
            u.signalled_on_request = Some(now);
        }
        self.actions.push(Action::Signal(i, sig));
        true
    }

    /// Control: restart (start if not running).
    pub fn request_restart(&mut self, i: Idx, now: Instant) -> Option<String> {
        match self.units[i].phase {
            Phase::Starting { .. } | Phase::Up { .. } => {
                // A request, not a crash: not in `restarts` nor toward `max_restarts`.
                self.send_stop(i, now, AfterStop::Restart);
                None
            }
            Phase::Stopping { .. } | Phase::Finishing { .. } => Some(self.start_after_stop(i)),
            _ => self.request_start(i),
        }
    }

    /// `start`/`restart` of a unit that is stopping. After an explicit `stop` it starts again
    /// as soon as its process is gone. A stop for a cause (failed health check, a session
    /// limit, a timeout) keeps its cause: the restart policy, backoff and crash-loop limit
    /// still apply, or a script calling `restart` in a loop would bypass `max_restarts`.
    fn start_after_stop(&mut self, i: Idx) -> String {
        let u = &mut self.units[i];
        match u.after_stop {
            AfterStop::Stay | AfterStop::Restart | AfterStop::Reconfigured => {
                u.after_stop = AfterStop::Restart;
                "it is stopping; it will start again once its process is gone".into()
            }
            AfterStop::Unhealthy | AfterStop::Policy | AfterStop::MaxRuntime => {
                "it is stopping for a cause (health check, limit or timeout); its restart policy and backoff decide when it starts again (`start` it once it has stopped to override)".into()
            }
        }
    }

    /// The earliest time `step` has something to do; `None` = block until an event.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for (i, u) in self.units.iter().enumerate() {
            if let Some(tick) = u.next_tick
                && self.shutdown.is_none()
            {
                consider(tick.at);
            }
            match u.phase {
                Phase::Backoff { until } if self.shutdown.is_none() => consider(until),
                Phase::Waiting if self.shutdown.is_none() => {
                    if let (Some(w), Some(since)) = (u.spec.dependency_wait, u.waiting_since) {
                        consider(since + w.limit);
                    }
                }
                Phase::Stopping {
                    deadline,
                    killed: false,
                }
                | Phase::CleaningUp {
                    deadline: Some(deadline),
                }
                | Phase::Finishing {
                    deadline: Some(deadline),
                    ..
                } => consider(deadline),
                Phase::Starting { since } if self.shutdown.is_none() => {
                    if let Some(r) = &u.spec.ready {
                        consider(since + r.timeout);
                    }
                    if let Some(limit) = u.spec.timeout
                        && u.spec.kind == Kind::Oneshot
                    {
                        consider(since + limit);
                    }
                }
                Phase::Up { since } if self.shutdown.is_none() => {
                    if let Some((end, _)) = self.session_end(i, since) {
                        consider(end);
                        if let Some(w) = self.warn_at(i, end) {
                            consider(w);
                        }
                    }
                }
                _ => {}
            }
            // Probe times count only in the phase whose timers act on them (see
            // step_timers); otherwise a due time left from the last result (a unit now
            // stopping, say) would be in the past until the phase changes: a busy loop.
            let probe = match u.phase {
                _ if self.shutdown.is_some() => None,
                Phase::Starting { .. } => Some(&u.ready_probe),
                Phase::Up { .. } => Some(&u.health_probe),
                _ => None,
            };
            if let Some(s) = probe
                && let Some(t) = s.running_until.or(s.due)
            {
                consider(t);
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Kind, Service};

    fn svc(name: &str, kind: Kind, after: &[&str]) -> Service {
        let mut s = Service::with_defaults(name, vec!["true".into()], kind);
        s.after = after.iter().map(|a| a.to_string()).collect();
        s
    }

    fn spawned(actions: &[Action]) -> Vec<Idx> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    fn signals(actions: &[Action]) -> Vec<(Idx, i32)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Signal(i, s) => Some((*i, *s)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn starts_in_dependency_order() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("init", Kind::Oneshot, &[]), Role::Service),
                (svc("db", Kind::Longrun, &["init"]), Role::Service),
                (svc("web", Kind::Longrun, &["db"]), Role::Service),
                (svc("side", Kind::Longrun, &[]), Role::Service),
            ],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0, 3]);
        core.on_spawned(0, 10, t0);
        core.on_spawned(3, 13, t0);
        assert!(spawned(&core.step(t0)).is_empty());
        core.on_exit(0, ExitStatus::Code(0), t0);
        assert_eq!(spawned(&core.step(t0)), vec![1]);
        core.on_spawned(1, 11, t0);
        assert_eq!(spawned(&core.step(t0)), vec![2]);
    }

    /// S6_CMD_WAIT_FOR_SERVICES_MAXTIME: CMD waits for a service that is not ready at most
    /// `limit`, then starts (or, with `fail`, fails and ends the run); the limit is a
    /// deadline of the loop, not a poll.
    #[test]
    fn dependency_wait_starts_or_fails_cmd_after_its_limit() {
        use crate::config::{DependencyWait, Ready, ReadyCheck};
        for fail in [false, true] {
            let t0 = Instant::now();
            let mut slow = svc("slow", Kind::Longrun, &[]);
            slow.ready = Some(Ready {
                check: ReadyCheck::NotifyFd(3),
                timeout: Duration::from_secs(3600),
                interval: Duration::from_millis(100),
            });
            let mut main = svc("main", Kind::Longrun, &["slow"]);
            main.dependency_wait = Some(DependencyWait {
                limit: Duration::from_secs(5),
                fail,
            });
            let mut core = Core::new(vec![(slow, Role::Service), (main, Role::Main)], false);
            assert_eq!(spawned(&core.step(t0)), vec![0]);
            core.on_spawned(0, 10, t0);
            assert!(spawned(&core.step(t0)).is_empty());
            assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(5)));
            let t1 = t0 + Duration::from_millis(4999);
            assert!(spawned(&core.step(t1)).is_empty());
            let t2 = t0 + Duration::from_secs(5);
            let started = spawned(&core.step(t2));
            if fail {
                assert!(started.is_empty());
                assert!(core.shutting_down());
                assert_eq!(core.unit(1).phase, Phase::Failed);
            } else {
                assert_eq!(started, vec![1]);
                assert!(!core.shutting_down());
            }
        }
    }

    #[test]
    fn a_longrun_switched_off_by_control_and_done_is_healthy() {
        // s6-svc -O from a run script, then exit 0: the image's HEALTHCHECK must stay healthy
        // (a helper that has nothing to do, like an ACME renewer without a CA). A longrun that
        // ends by itself without the request is still unhealthy.
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("helper", Kind::Longrun, &[]), Role::Service),
                (svc("web", Kind::Longrun, &[]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_spawned(1, 11, t0);
        core.request_once(0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        assert!(
            spawned(&core.step(t0)).is_empty(),
            "switched off: not restarted"
        );
        assert_eq!(core.unit(0).phase, Phase::Done);
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        let mut core = Core::new(
            vec![(
                {
                    let mut s = svc("helper", Kind::Longrun, &[]);
                    s.restart = crate::config::Restart::Never;
                    s
                },
                Role::Service,
            )],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        assert_eq!(core.unit(0).phase, Phase::Done);
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Unhealthy(_))));
    }

    #[test]
    fn read_api_reports_status_and_health_as_data() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("init", Kind::Oneshot, &[]), Role::Service),
                (svc("web", Kind::Longrun, &["init"]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        assert_eq!(
            core.health(&[]),
            Ok(HealthVerdict::Starting(vec!["init".into(), "web".into()]))
        );
        assert_eq!(core.health(&["nope"]), Err("nope".into()));
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        core.on_spawned(1, 11, t0);
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        // No process for a unit that is done: a signal request is refused, not queued.
        assert!(!core.request_signal(0, libc::SIGUSR1, t0));
        assert!(core.request_signal(1, libc::SIGUSR1, t0));
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGUSR1)]);
        let later = t0 + Duration::from_secs(3);
        let status = core.status(later);
        assert_eq!(status[1].name, "web");
        assert_eq!(status[1].kind, "longrun");
        assert_eq!(status[1].pid, Some(11));
        assert_eq!(status[1].uptime, Some(Duration::from_secs(3)));
        assert_eq!(status[0].last_exit, Some(0));
        core.on_exit(1, ExitStatus::Signal(libc::SIGKILL), later);
        match core.health(&["web"]) {
            Ok(HealthVerdict::Unhealthy(why)) => assert!(why.starts_with("web is "), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_oneshot_fails_dependants_and_stops_the_run() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("init", Kind::Oneshot, &[]), Role::Service),
                (svc("web", Kind::Longrun, &["init"]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(3), t0);
        core.step(t0);
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert_eq!(core.units[1].phase, Phase::Stopped);
        assert!(core.finished());
        assert_eq!(core.exit_code(), 3);
    }

    /// Two dependants of a failed oneshot (not critical): one line each, naming it.
    #[test]
    fn a_failed_dependency_is_logged_once_per_dependant_naming_it() {
        let t0 = Instant::now();
        let mut init = svc("init", Kind::Oneshot, &[]);
        init.critical = false;
        let mut core = Core::new(
            vec![
                (init, Role::Service),
                (svc("web", Kind::Longrun, &["init"]), Role::Service),
                (svc("api", Kind::Longrun, &["init"]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(3), t0);
        let lines: Vec<String> = core
            .step(t0)
            .into_iter()
            .filter_map(|a| match a {
                Action::Log(crate::log::Level::Error, m) if m.contains("dependency init") => {
                    Some(m)
                }
                _ => None,
            })
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("web not started: dependency init failed"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("api not started: dependency init failed"),
            "{lines:?}"
        );
        assert_eq!(core.units[1].phase, Phase::Failed);
    }

    #[test]
    fn backoff_grows_and_crash_loop_gives_up() {
        let t0 = Instant::now();
        let mut s = svc("web", Kind::Longrun, &[]);
        s.max_restarts = 3;
        s.critical = true;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = t0;
        let mut delays = Vec::new();
        for n in 0..4 {
            let acts = core.step(now);
            assert_eq!(spawned(&acts), vec![0], "round {n}");
            core.on_spawned(0, 100 + n, now);
            core.on_exit(0, ExitStatus::Code(7), now);
            match core.units[0].phase {
                Phase::Backoff { until } => {
                    delays.push(until - now);
                    now = until;
                }
                Phase::Failed => break,
                p => panic!("unexpected {p:?}"),
            }
        }
        assert_eq!(
            delays,
            vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(400)
            ]
        );
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert!(core.shutting_down());
        assert_eq!(core.exit_code(), 7);
    }

    /// s6 longruns (s6-supervise's pace): never given up, the next start at least a second
    /// after the previous one.
    #[test]
    fn s6_pace_restarts_for_ever_a_second_after_the_last_start() {
        let mut s = svc("web", Kind::Longrun, &[]);
        s.backoff = crate::config::Backoff::S6_SUPERVISE;
        s.max_restarts = u32::MAX;
        s.restart_window = Duration::ZERO;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = Instant::now();
        for n in 0..50 {
            assert_eq!(spawned(&core.step(now)), vec![0], "round {n}");
            core.on_spawned(0, 100 + n, now);
            let died = now + Duration::from_millis(300);
            core.on_exit(0, ExitStatus::Code(1), died);
            let Phase::Backoff { until } = core.units[0].phase else {
                panic!("round {n}: {:?}", core.units[0].phase);
            };
            assert_eq!(until - now, Duration::from_secs(1), "round {n}");
            assert!(core.units[0].restart_times.len() <= 1);
            now = until;
        }
        // It ran longer than a second: restarted at once.
        core.step(now);
        core.on_spawned(0, 1, now);
        let later = now + Duration::from_secs(5);
        core.on_exit(0, ExitStatus::Signal(9), later);
        assert_eq!(core.units[0].phase, Phase::Backoff { until: later });
    }

    #[test]
    fn backoff_resets_after_stable_uptime() {
        let t0 = Instant::now();
        let mut core = Core::new(vec![(svc("web", Kind::Longrun, &[]), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        core.on_exit(0, ExitStatus::Code(1), t0);
        let t1 = t0 + Duration::from_millis(100);
        core.step(t1);
        core.on_spawned(0, 2, t1);
        core.on_exit(0, ExitStatus::Code(1), t1);
        assert_eq!(
            core.units[0].phase,
            Phase::Backoff {
                until: t1 + Duration::from_millis(200)
            }
        );
        let t2 = t1 + Duration::from_millis(200);
        core.step(t2);
        core.on_spawned(0, 3, t2);
        let t3 = t2 + Duration::from_secs(11);
        core.on_exit(0, ExitStatus::Code(1), t3);
        assert_eq!(
            core.units[0].phase,
            Phase::Backoff {
                until: t3 + Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn shutdown_is_reverse_order_with_kill_at_timeout() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("db", Kind::Longrun, &[]), Role::Service),
                (svc("web", Kind::Longrun, &["db"]), Role::Service),
                (svc("main", Kind::Longrun, &["db", "web"]), Role::Main),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_spawned(1, 11, t0);
        core.step(t0);
        core.on_spawned(2, 12, t0);
        core.on_exit(2, ExitStatus::Code(4), t0);
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGTERM)]);
        // db waits while web runs; web ignores TERM and is killed at stop_timeout.
        let late = t0 + Duration::from_secs(10);
        assert_eq!(core.next_deadline(), Some(late));
        assert_eq!(signals(&core.step(late)), vec![(1, libc::SIGKILL)]);
        core.on_exit(1, ExitStatus::Signal(9), late);
        assert_eq!(signals(&core.step(late)), vec![(0, libc::SIGTERM)]);
        core.on_exit(0, ExitStatus::Code(0), late);
        core.step(late);
        assert!(core.finished());
        assert_eq!(core.exit_code(), 4);
    }

    fn helper_spawns(actions: &[Action]) -> Vec<Idx> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::SpawnHelper(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    fn with_stop(mut s: Service, timeout: Option<Duration>) -> Service {
        s.stop_command = Some(crate::config::StopCommand {
            argv: vec!["down".into()],
            timeout,
        });
        s
    }

    /// s6-rc's `down`: oneshot b depends on a, a longrun on b, CMD on all. At shutdown the
    /// longrun stops first, then b's stop command runs, then a's (each only once the one
    /// before has exited), then the unit with nothing to run at start (cont-finish.d, first
    /// of all) runs its own last; the exit code stays CMD's.
    /// db ← mid ← app: mid stopped on request before the shutdown. db still waits for app
    /// (through mid, which s6-rc counts as up), then stops.
    #[test]
    fn shutdown_order_is_transitive_through_a_unit_already_down() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("db", Kind::Longrun, &[]), Role::Service),
                (svc("mid", Kind::Longrun, &["db"]), Role::Service),
                (svc("app", Kind::Longrun, &["mid"]), Role::Service),
            ],
            false,
        );
        for i in 0..3 {
            assert_eq!(spawned(&core.step(t0)), vec![i]);
            core.on_spawned(i, 10 + i as i32, t0);
        }
        core.request_stop(1, t0);
        core.step(t0);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        core.step(t0);
        core.begin_shutdown_on_signal("SIGTERM");
        assert_eq!(signals(&core.step(t0)), vec![(2, libc::SIGTERM)]);
        core.on_exit(2, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(signals(&core.step(t0)), vec![(0, libc::SIGTERM)]);
    }

    #[test]
    fn stop_commands_run_in_reverse_dependency_order_after_dependants() {
        let t0 = Instant::now();
        let mut finish = with_stop(svc("finish", Kind::Oneshot, &[]), None);
        finish.command = Vec::new();
        let mut core = Core::new(
            vec![
                (finish, Role::Service),
                (
                    with_stop(svc("a", Kind::Oneshot, &["finish"]), None),
                    Role::Service,
                ),
                (
                    with_stop(svc("b", Kind::Oneshot, &["a"]), None),
                    Role::Service,
                ),
                (svc("web", Kind::Longrun, &["b"]), Role::Service),
                (svc("main", Kind::Longrun, &["a", "b", "web"]), Role::Main),
            ],
            false,
        );
        // finish has nothing to run at start: done at once, a starts.
        assert_eq!(spawned(&core.step(t0)), vec![1]);
        core.on_spawned(1, 11, t0);
        core.on_exit(1, ExitStatus::Code(0), t0);
        assert_eq!(spawned(&core.step(t0)), vec![2]);
        core.on_spawned(2, 12, t0);
        core.on_exit(2, ExitStatus::Code(0), t0);
        assert_eq!(spawned(&core.step(t0)), vec![3]);
        core.on_spawned(3, 13, t0);
        assert_eq!(spawned(&core.step(t0)), vec![4]);
        core.on_spawned(4, 14, t0);
        core.on_exit(4, ExitStatus::Code(3), t0);
        // CMD ended: web gets its stop signal; no stop command while web runs.
        let actions = core.step(t0);
        assert_eq!(signals(&actions), vec![(3, libc::SIGTERM)]);
        assert!(helper_spawns(&actions).is_empty());
        core.on_exit(3, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![2]);
        assert!(core.unit(2).running_helper());
        core.on_spawned(2, 22, t0);
        // a waits for b's stop command; nothing to do meanwhile (no limit: no deadline).
        assert!(helper_spawns(&core.step(t0)).is_empty());
        assert_eq!(core.next_deadline(), None);
        assert!(!core.finished());
        // A failing stop command is logged; the stop goes on.
        core.on_exit(2, ExitStatus::Code(1), t0);
        let actions = core.step(t0);
        assert_eq!(helper_spawns(&actions), vec![1]);
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Log(crate::log::Level::Error, m) if m.contains("b: stop command exited with code 1")
        )));
        core.on_spawned(1, 21, t0);
        core.on_exit(1, ExitStatus::Code(0), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        core.on_spawned(0, 20, t0);
        assert!(!core.finished());
        core.on_exit(0, ExitStatus::Code(0), t0);
        assert!(core.step(t0).iter().all(|a| matches!(a, Action::Log(..))));
        assert!(core.finished());
        assert_eq!(core.exit_code(), 3);
    }

    /// `stop` on a finished oneshot runs its stop command, unless a dependant still runs;
    /// then it is stopped and not owed at shutdown any more; `start` runs it again.
    #[test]
    fn control_stop_of_a_finished_oneshot_runs_its_stop_command() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (
                    with_stop(svc("mount", Kind::Oneshot, &[]), None),
                    Role::Service,
                ),
                (svc("web", Kind::Longrun, &["mount"]), Role::Service),
            ],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0]);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        assert_eq!(spawned(&core.step(t0)), vec![1]);
        core.on_spawned(1, 11, t0);
        core.step(t0);
        let refused = core.request_stop(0, t0).unwrap();
        assert!(refused.contains("web still runs"), "{refused}");
        assert!(helper_spawns(&core.step(t0)).is_empty());
        core.request_stop(1, t0);
        core.step(t0);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        core.step(t0);
        assert!(
            core.request_stop(0, t0)
                .unwrap()
                .contains("running its stop_command")
        );
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        core.on_spawned(0, 20, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        assert_eq!(core.unit(0).phase, Phase::Stopped);
        // Not owed any more: shutdown runs no second clean-up.
        core.begin_shutdown(0, "test");
        assert!(helper_spawns(&core.step(t0)).is_empty());
        assert!(core.finished());
    }

    /// A stop command is bounded by its timeout (SIGKILL to it), and only a oneshot whose
    /// run succeeded owes one: a failed oneshot, or one never started, runs none.
    #[test]
    fn stop_command_is_killed_at_its_timeout_and_owed_only_after_success() {
        let t0 = Instant::now();
        let lax = |name: &str, after: &[&str]| {
            let mut s = with_stop(svc(name, Kind::Oneshot, after), None);
            s.critical = false;
            s
        };
        let mut core = Core::new(
            vec![
                (
                    with_stop(
                        svc("ok", Kind::Oneshot, &[]),
                        Some(Duration::from_millis(300)),
                    ),
                    Role::Service,
                ),
                (lax("bad", &[]), Role::Service),
                (lax("never", &["bad"]), Role::Service),
            ],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0, 1]);
        core.on_spawned(0, 10, t0);
        core.on_spawned(1, 11, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.on_exit(1, ExitStatus::Code(2), t0);
        core.step(t0);
        core.begin_shutdown(0, "test");
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        core.on_spawned(0, 20, t0);
        let late = t0 + Duration::from_millis(300);
        assert_eq!(core.next_deadline(), Some(late));
        assert_eq!(signals(&core.step(late)), vec![(0, libc::SIGKILL)]);
        assert_eq!(core.next_deadline(), None);
        core.on_exit(0, ExitStatus::Signal(libc::SIGKILL), late);
        assert!(helper_spawns(&core.step(late)).is_empty());
        assert!(core.finished());
        assert_eq!(core.exit_code(), 0);
    }

    fn with_finish(mut s: Service) -> Service {
        s.finish_command = Some(crate::config::FinishCommand {
            argv: vec!["finish".into()],
            timeout: Duration::from_secs(5),
        });
        s
    }

    /// s6's `finish`, run by the state machine: after the daemon dies pidone spawns it with
    /// `256 SIGNAL` (or `CODE 0`), the unit shows "finishing" and is not up; then the restart
    /// policy decides as for the daemon's own exit. Exit 125 means "do not restart".
    #[test]
    fn finish_runs_after_each_exit_and_125_means_do_not_restart() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![(with_finish(svc("d", Kind::Longrun, &[])), Role::Service)],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0]);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_exit(0, ExitStatus::Signal(libc::SIGKILL), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["finish", "256", "9"]);
        assert_eq!(core.unit(0).phase.name(), "finishing");
        assert_eq!(core.unit(0).running_and_ready(), (false, false));
        core.on_spawned(0, 11, t0);
        assert_eq!(core.unit(0).pid(), Some(11));
        // The finish ends: the backoff of the daemon's failure follows.
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        let Phase::Backoff { until } = core.unit(0).phase else {
            panic!("no backoff: {:?}", core.unit(0).phase);
        };
        assert_eq!(spawned(&core.step(until)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["true"]);
        core.on_spawned(0, 12, until);
        core.on_exit(0, ExitStatus::Code(3), until);
        assert_eq!(helper_spawns(&core.step(until)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["finish", "3", "0"]);
        core.on_spawned(0, 13, until);
        core.on_exit(0, ExitStatus::Code(125), until);
        assert!(spawned(&core.step(until + Duration::from_secs(60))).is_empty());
        assert_eq!(core.unit(0).phase, Phase::Failed);
    }

    /// A finish that cannot start is logged; the daemon's exit is decided as usual and the
    /// unit's reason stays about the daemon.
    #[test]
    fn finish_that_cannot_start_leaves_the_policy_to_the_daemons_exit() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![(with_finish(svc("d", Kind::Longrun, &[])), Role::Service)],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_exit(0, ExitStatus::Code(1), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        core.on_spawn_failed(0, 127, "cannot run finish".into(), t0);
        core.step(t0);
        assert!(matches!(core.unit(0).phase, Phase::Backoff { .. }));
        assert_eq!(core.unit(0).reason, None);
        assert_eq!(core.unit(0).last_exit, Some(ExitStatus::Code(1)));
    }

    /// A finish that hangs is killed at its timeout; shutdown waits for it, and what
    /// depends on the unit waits too.
    #[test]
    fn finish_is_bounded_and_shutdown_waits_for_it() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("base", Kind::Longrun, &[]), Role::Service),
                (
                    with_finish(svc("d", Kind::Longrun, &["base"])),
                    Role::Service,
                ),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_spawned(1, 11, t0);
        core.step(t0);
        core.begin_shutdown(0, "test");
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGTERM)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        // base waits while d's finish runs (and before it is spawned).
        let a = core.step(t0);
        assert_eq!(helper_spawns(&a), vec![1]);
        assert!(signals(&a).is_empty());
        assert!(!core.finished());
        core.on_spawned(1, 12, t0);
        assert!(signals(&core.step(t0)).is_empty());
        let late = t0 + Duration::from_secs(5);
        assert_eq!(core.next_deadline(), Some(late));
        assert_eq!(signals(&core.step(late)), vec![(1, libc::SIGKILL)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGKILL), late);
        assert_eq!(signals(&core.step(late)), vec![(0, libc::SIGTERM)]);
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), late);
        core.step(late);
        assert!(core.finished());
    }

    #[test]
    fn idle_means_no_deadline() {
        let t0 = Instant::now();
        let mut core = Core::new(vec![(svc("web", Kind::Longrun, &[]), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        core.step(t0);
        assert_eq!(core.next_deadline(), None);
    }

    #[test]
    fn once_ends_with_first_exit() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("a", Kind::Longrun, &[]), Role::Service),
                (svc("b", Kind::Longrun, &[]), Role::Service),
            ],
            true,
        );
        core.step(t0);
        core.on_spawned(0, 1, t0);
        core.on_spawned(1, 2, t0);
        core.on_exit(1, ExitStatus::Signal(libc::SIGSEGV), t0);
        assert_eq!(signals(&core.step(t0)), vec![(0, libc::SIGTERM)]);
        assert_eq!(core.exit_code(), 128 + libc::SIGSEGV);
    }

    fn checked(retries: u32, start_period: Duration) -> Service {
        let mut s = svc("web", Kind::Longrun, &[]);
        s.health = Some(crate::config::Health {
            probe: crate::config::Probe::File("/x".into()),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries,
            start_period,
            on_failure: OnUnhealthy::Restart,
        });
        s
    }

    /// Run the health check due at `t` with `ok`; returns the actions that follow.
    fn check_at(core: &mut Core, t: Instant, ok: bool) -> Vec<Action> {
        assert_eq!(core.next_deadline(), Some(t));
        assert_eq!(core.step(t), vec![Action::RunProbe(0, ProbeKind::Health)]);
        core.on_probe_result(0, ProbeKind::Health, ok, "x".into(), t);
        core.step(t)
    }

    /// The first health check, due as soon as the service is up (at `t`), fails: inside the
    /// grace it is not counted and is tried again one second later (`interval` is 1 s here).
    fn first_check_fails_in_grace(core: &mut Core, t: Instant) {
        assert_eq!(core.step(t), vec![Action::RunProbe(0, ProbeKind::Health)]);
        core.on_probe_result(0, ProbeKind::Health, false, "x".into(), t);
        assert!(signals(&core.step(t)).is_empty());
        assert_eq!(core.units[0].health_failures, 0);
        assert_eq!(core.next_deadline(), Some(t + Duration::from_secs(1)));
    }

    #[test]
    fn health_retries_then_restart() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut core = Core::new(vec![(checked(2, Duration::ZERO), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        assert!(signals(&check_at(&mut core, t0 + sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        assert!(signals(&check_at(&mut core, t0 + 2 * sec, true)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
        // Two failures in a row (retries = 2) make it unhealthy.
        assert!(signals(&check_at(&mut core, t0 + 3 * sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
        let t4 = t0 + 4 * sec;
        assert_eq!(
            signals(&check_at(&mut core, t4, false)),
            vec![(0, libc::SIGTERM)]
        );
        assert_eq!(core.units[0].health, HealthStatus::Unhealthy);
        assert!(matches!(core.units[0].phase, Phase::Stopping { .. }));
        // Gone: no verdict about a process that is not there; restarted after the backoff.
        core.on_exit(0, ExitStatus::Signal(15), t4);
        assert_eq!(core.units[0].health, HealthStatus::None);
        assert!(spawned(&core.step(t4)).is_empty());
        let t5 = t4 + Duration::from_millis(100);
        assert_eq!(core.units[0].phase, Phase::Backoff { until: t5 });
        assert_eq!(spawned(&core.step(t5)), vec![0]);
        assert_eq!(core.units[0].restarts, 1);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_but_a_pass_does() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut core = Core::new(vec![(checked(1, 3 * sec), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        // Checks at 1 s and 2 s fail inside the 3 s start period: not counted.
        assert!(signals(&check_at(&mut core, t0 + sec, false)).is_empty());
        assert!(signals(&check_at(&mut core, t0 + 2 * sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        // The first failure after it counts (retries = 1).
        assert_eq!(
            signals(&check_at(&mut core, t0 + 3 * sec, false)),
            vec![(0, libc::SIGTERM)]
        );
        // A pass inside the start period makes it healthy at once.
        let mut core = Core::new(vec![(checked(1, 3 * sec), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        assert!(signals(&check_at(&mut core, t0 + sec, true)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
    }

    /// A service that fails every check (retries = 1) is restarted with the same backoff as
    /// a crash, and given up on after max_restarts; critical, it ends the run.
    #[test]
    fn health_restarts_obey_backoff_max_restarts_and_critical() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut s = checked(1, Duration::ZERO);
        s.max_restarts = 3;
        s.critical = true;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = t0;
        let mut delays = Vec::new();
        for round in 0..10 {
            assert_eq!(spawned(&core.step(now)), vec![0], "round {round}");
            core.on_spawned(0, 100 + round, now);
            first_check_fails_in_grace(&mut core, now);
            now += sec;
            assert_eq!(
                signals(&check_at(&mut core, now, false)),
                vec![(0, libc::SIGTERM)]
            );
            // The service traps TERM and exits 0: still a failure.
            core.on_exit(0, ExitStatus::Code(0), now);
            match core.units[0].phase {
                Phase::Backoff { until } => {
                    delays.push(until - now);
                    now = until;
                }
                Phase::Failed => break,
                p => panic!("unexpected {p:?}"),
            }
        }
        assert_eq!(
            delays,
            vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(400)
            ]
        );
        assert_eq!(core.units[0].restarts, 3);
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert!(
            core.units[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("health check failed") && r.contains("giving up")),
            "{:?}",
            core.units[0].reason
        );
        assert!(core.shutting_down());
        assert_eq!(core.exit_code(), 1);
    }

    #[test]
    fn health_failure_with_restart_never_fails_for_good() {
        let t0 = Instant::now();
        let mut s = checked(1, Duration::ZERO);
        s.restart = Restart::Never;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        let t1 = t0 + Duration::from_secs(1);
        check_at(&mut core, t1, false);
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), t1);
        assert!(spawned(&core.step(t1 + Duration::from_secs(60))).is_empty());
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert_eq!(core.units[0].restarts, 0);
        // Not critical (a longrun's default): the run goes on.
        assert!(!core.shutting_down());
    }

    #[test]
    fn hung_oneshot_times_out_and_its_dependant_says_why() {
        let t0 = Instant::now();
        let mut hang = svc("hang", Kind::Oneshot, &[]);
        hang.timeout = Some(Duration::from_secs(5));
        hang.critical = false;
        let mut core = Core::new(
            vec![
                (hang, Role::Service),
                (svc("web", Kind::Longrun, &["hang"]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(core.next_deadline(), Some(t1));
        assert_eq!(signals(&core.step(t1)), vec![(0, libc::SIGTERM)]);
        // It ignores TERM: KILL at its stop_timeout.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(core.next_deadline(), Some(t2));
        assert_eq!(signals(&core.step(t2)), vec![(0, libc::SIGKILL)]);
        core.on_exit(0, ExitStatus::Signal(libc::SIGKILL), t2);
        core.step(t2);
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert_eq!(core.units[1].phase, Phase::Failed);
        let why = core.units[1].reason.clone().unwrap();
        assert!(
            why.starts_with("dependency hang failed: oneshot hang timed out after 5"),
            "{why}"
        );
        // A oneshot that exits 0 after its stop signal still timed out: a failure.
        let mut hang = svc("hang", Kind::Oneshot, &[]);
        hang.timeout = Some(Duration::from_secs(5));
        let mut core = Core::new(vec![(hang, Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t1);
        core.on_exit(0, ExitStatus::Code(0), t1);
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert!(core.shutting_down());
        assert_eq!(core.exit_code(), 1);
    }

    #[test]
    fn start_while_stopping_starts_again_after_the_stop() {
        let t0 = Instant::now();
        let mut core = Core::new(vec![(svc("web", Kind::Longrun, &[]), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        assert!(core.request_stop(0, t0).is_none());
        assert_eq!(signals(&core.step(t0)), vec![(0, libc::SIGTERM)]);
        assert!(core.request_start(0).is_some());
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(spawned(&core.step(t0)), vec![0]);
    }

    #[test]
    fn restart_during_an_unhealthy_stop_keeps_the_backoff_and_the_limit() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut s = checked(1, Duration::ZERO);
        s.max_restarts = 1;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = t0;
        for round in 0..2 {
            assert_eq!(spawned(&core.step(now)), vec![0], "round {round}");
            core.on_spawned(0, 100 + round, now);
            first_check_fails_in_grace(&mut core, now);
            now += sec;
            assert_eq!(
                signals(&check_at(&mut core, now, false)),
                vec![(0, libc::SIGTERM)]
            );
            // A script asks for a restart while the unhealthy stop is under way.
            assert!(core.request_restart(0, now).is_some());
            core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), now);
            if round == 0 {
                // Not at once: after the backoff, as for any health failure.
                assert!(spawned(&core.step(now)).is_empty());
                let Phase::Backoff { until } = core.units[0].phase else {
                    panic!("no backoff: {:?}", core.units[0].phase);
                };
                now = until;
            }
        }
        // The second failure is past max_restarts = 1: it gives up.
        assert_eq!(core.units[0].phase, Phase::Failed);
    }

    #[test]
    fn restart_during_a_control_stop_starts_at_once() {
        let t0 = Instant::now();
        let mut core = Core::new(vec![(svc("web", Kind::Longrun, &[]), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        assert!(core.request_stop(0, t0).is_none());
        assert_eq!(signals(&core.step(t0)), vec![(0, libc::SIGTERM)]);
        assert!(core.request_restart(0, t0).is_some());
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(spawned(&core.step(t0)), vec![0]);
    }

    fn scheduled(name: &str, then_reload: &[&str]) -> Service {
        let mut s = svc(name, Kind::Oneshot, &[]);
        s.schedule = Some(crate::config::Scheduled {
            when: crate::schedule::Schedule::Every(Duration::from_secs(10)),
            offset: 0,
            jitter: Duration::ZERO,
            zone_given: false,
        });
        s.critical = false;
        s.then_reload = then_reload.iter().map(|t| t.to_string()).collect();
        s
    }

    fn tick(at: Instant) -> Tick {
        Tick {
            at,
            nominal: at,
            wall: None,
        }
    }

    #[test]
    fn scheduled_oneshot_runs_at_ticks_skips_overlaps_and_reloads_on_success() {
        let t0 = Instant::now();
        let mut web = svc("web", Kind::Longrun, &[]);
        web.reload = crate::config::Reload::Signal(libc::SIGHUP);
        let main = svc("main", Kind::Longrun, &["web", "renew"]);
        let mut core = Core::new(
            vec![
                (scheduled("renew", &["web"]), Role::Service),
                (web, Role::Service),
                (main, Role::Main),
            ],
            false,
        );
        // Nothing runs at start; the loop is asked for the first tick, and CMD does not wait
        // for the scheduled oneshot.
        let first = core.step(t0);
        assert!(first.contains(&Action::ArmTick(0)), "{first:?}");
        assert_eq!(spawned(&first), vec![1]);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        core.on_spawned(1, 11, t0);
        assert_eq!(spawned(&core.step(t0)), vec![2]);
        core.on_spawned(2, 12, t0);
        assert_eq!(core.next_deadline(), None, "idle with nothing armed");
        let t1 = t0 + Duration::from_secs(10);
        core.arm_tick(0, tick(t1));
        assert_eq!(core.next_deadline(), Some(t1));
        assert!(core.step(t1 - Duration::from_millis(1)).is_empty());
        assert_eq!(core.step(t1), vec![Action::TickDue(0)]);
        core.on_tick(0, t1);
        let run = core.step(t1);
        assert_eq!(spawned(&run), vec![0]);
        assert!(run.contains(&Action::ArmTick(0)), "{run:?}");
        core.on_spawned(0, 10, t1);
        // Still running at the next tick: skipped, and the tick after is armed.
        let t2 = t1 + Duration::from_secs(10);
        core.arm_tick(0, tick(t2));
        assert_eq!(core.step(t2), vec![Action::TickDue(0)]);
        core.on_tick(0, t2);
        let skipped = core.step(t2);
        assert!(spawned(&skipped).is_empty(), "{skipped:?}");
        assert!(skipped.contains(&Action::ArmTick(0)));
        assert!(
            skipped
                .iter()
                .any(|a| matches!(a, Action::Log(_, m) if m.contains("skipping")))
        );
        core.arm_tick(0, tick(t2 + Duration::from_secs(10)));
        // Exit 0: web gets its reload signal; back to waiting for the armed tick.
        core.on_exit(0, ExitStatus::Code(0), t2);
        let after = core.step(t2);
        assert_eq!(signals(&after), vec![(1, libc::SIGHUP)]);
        assert!(!after.contains(&Action::ArmTick(0)), "already armed");
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        // A failed run is logged; no shutdown, no reload, still scheduled.
        core.on_tick(0, t2);
        core.step(t2);
        core.on_spawned(0, 13, t2);
        core.on_exit(0, ExitStatus::Code(3), t2);
        let failed = core.step(t2);
        assert!(signals(&failed).is_empty(), "{failed:?}");
        assert!(!core.shutting_down());
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        // Control `start` runs one now; `stop` ends the schedule.
        assert_eq!(core.request_start(0), None);
        assert_eq!(spawned(&core.step(t2)), vec![0]);
        core.on_spawned(0, 14, t2);
        core.on_exit(0, ExitStatus::Code(0), t2);
        core.step(t2);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        core.request_stop(0, t2);
        assert_eq!(core.units[0].phase, Phase::Stopped);
        assert_eq!(core.units[0].next_tick, None);
        assert_eq!(core.next_deadline(), None);
    }

    fn warns(actions: &[Action]) -> Vec<(Idx, SessionLimit, Duration)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Warn(i, l, d) => Some((*i, *l, *d)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn session_limits_warn_first_activity_defers_idle_and_cmd_exits_124() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut main = svc("main", Kind::Longrun, &[]);
        main.max_runtime = Some(Duration::from_secs(100));
        main.idle_timeout = Some(Duration::from_secs(30));
        main.warn_before = Some(Duration::from_secs(10));
        main.warn_signal = Some(libc::SIGUSR1);
        let mut core = Core::new(vec![(main, Role::Main)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        // Idle ends first (30 s), so the warning is due at 20 s.
        assert_eq!(core.next_deadline(), Some(s(20)));
        assert!(warns(&core.step(s(19))).is_empty());
        assert_eq!(
            warns(&core.step(s(20))),
            vec![(0, SessionLimit::Idle, Duration::from_secs(10))]
        );
        // Warned once for that end; next comes the end itself.
        assert!(warns(&core.step(s(21))).is_empty());
        assert_eq!(core.next_deadline(), Some(s(30)));
        // Activity at 25 s: idle now ends at 55 s, warned again at 45 s.
        core.on_activity(0, s(25));
        assert_eq!(core.next_deadline(), Some(s(45)));
        assert_eq!(
            warns(&core.step(s(45))),
            vec![(0, SessionLimit::Idle, Duration::from_secs(10))]
        );
        // Busy from then on: max_runtime (100 s) comes first; warned at 90 s.
        core.on_activity(0, s(80));
        assert_eq!(core.next_deadline(), Some(s(90)));
        assert_eq!(
            warns(&core.step(s(90))),
            vec![(0, SessionLimit::MaxRuntime, Duration::from_secs(10))]
        );
        core.on_activity(0, s(95));
        let end = core.step(s(100));
        assert_eq!(signals(&end), vec![(0, libc::SIGTERM)]);
        assert!(
            end.iter().any(
                |a| matches!(a, Action::Log(_, m) if m.contains("reached its max_runtime (1m40s"))
            ),
            "{end:?}"
        );
        // The stop signal killed it; still the run ends with the session-limit code.
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), s(101));
        assert!(core.shutting_down());
        assert_eq!(core.exit_code(), crate::exit::SESSION_LIMIT);
    }

    #[test]
    fn then_reload_restarts_a_service_whose_reload_is_restart() {
        let t0 = Instant::now();
        let mut web = svc("web", Kind::Longrun, &[]);
        web.reload = crate::config::Reload::Restart;
        let mut core = Core::new(
            vec![
                (scheduled("renew", &["web"]), Role::Service),
                (web, Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(1, 11, t0);
        core.request_start(0);
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        // web gets its stop signal, and starts again once it is gone.
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGTERM)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(spawned(&core.step(t0)), vec![1]);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
    }

    #[test]
    fn max_runtime_is_a_clean_end() {
        let t0 = Instant::now();
        let mut s = svc("session", Kind::Longrun, &[]);
        s.max_runtime = Some(Duration::from_secs(60));
        let mut core = Core::new(vec![(s, Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(core.next_deadline(), Some(t1));
        assert_eq!(signals(&core.step(t1)), vec![(0, libc::SIGTERM)]);
        // Killed by the TERM or trapping it and exiting 0: either way not a failure, so the
        // default on-failure policy leaves it done.
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), t1);
        assert_eq!(core.units[0].phase, Phase::Done);
        assert!(!core.shutting_down());
    }

    #[test]
    fn session_limit_ends_restart_at_once_and_never_count_as_crashes() {
        let t0 = Instant::now();
        let mut s = svc("session", Kind::Longrun, &[]);
        s.restart = Restart::Always;
        s.max_runtime = Some(Duration::from_secs(60));
        s.idle_timeout = Some(Duration::from_secs(30));
        let mut core = Core::new(vec![(s, Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        let mut now = t0;
        // Twice the default max_restarts (5) of ends within the restart window (60 s):
        // alternately idle (30 s without output) and max_runtime (60 s with output).
        for k in 0..10u32 {
            let idle = k % 2 == 0;
            if !idle {
                for m in 1..6 {
                    core.on_activity(0, now + Duration::from_secs(10 * m));
                }
            }
            let end = now + Duration::from_secs(if idle { 30 } else { 60 });
            assert_eq!(core.next_deadline(), Some(end), "end {k}");
            assert_eq!(
                signals(&core.step(end)),
                vec![(0, libc::SIGTERM)],
                "end {k}"
            );
            core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), end);
            // Restarted in the same step: no backoff delay, and no growth of it.
            assert_eq!(spawned(&core.step(end)), vec![0], "end {k}");
            assert_eq!(core.units[0].restart_times.len(), 0, "end {k}");
            assert_eq!(core.units[0].delay, None, "end {k}");
            core.on_spawned(0, 2 + k as i32, end);
            now = end;
        }
        assert!(matches!(
            core.units[0].phase,
            Phase::Up { .. } | Phase::Starting { .. }
        ));
        assert_eq!(core.units[0].restarts, 10);
        // A crash after them still gets the first backoff step (100 ms), not a grown one.
        core.on_exit(0, ExitStatus::Code(1), now);
        core.step(now);
        assert_eq!(core.units[0].delay, Some(Duration::from_millis(100)));
    }

    #[test]
    fn cmd_starts_without_a_failed_non_critical_service() {
        let t0 = Instant::now();
        let mut flaky = svc("flaky", Kind::Longrun, &[]);
        flaky.restart = Restart::Never;
        flaky.ready = Some(crate::config::Ready {
            check: ReadyCheck::NotifyFd(3),
            timeout: Duration::from_secs(5),
            interval: Duration::from_millis(100),
        });
        let mut web = svc("web", Kind::Longrun, &["flaky"]);
        web.critical = false;
        let mut core = Core::new(
            vec![
                (flaky, Role::Service),
                (web, Role::Service),
                (svc("main", Kind::Longrun, &["flaky", "web"]), Role::Main),
            ],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0]);
        core.on_spawned(0, 1, t0);
        core.on_exit(0, ExitStatus::Code(1), t0);
        // web depends on flaky and fails with it; CMD starts anyway: neither is critical.
        assert_eq!(spawned(&core.step(t0)), vec![2]);
        assert_eq!(core.units[1].phase, Phase::Failed);
        assert!(!core.shutting_down());
    }

    /// Healthy as soon as it is ready: with `interval = 10s`, the first health check runs at
    /// readiness, a failed one is tried again a second later, and a service that never passes
    /// is unhealthy exactly when it was before (one interval after readiness); once healthy,
    /// the first failed check (retries = 1) makes it unhealthy.
    #[test]
    fn health_is_checked_at_readiness_and_unhealthy_no_sooner_than_one_interval_after() {
        use crate::config::{Ready, ReadyCheck};
        let sec = Duration::from_secs(1);
        let ten = 10 * sec;
        let service = || {
            let mut s = checked(1, Duration::ZERO);
            s.health.as_mut().unwrap().interval = ten;
            s.ready = Some(Ready {
                check: ReadyCheck::NotifyFd(3),
                timeout: Duration::from_secs(3600),
                interval: Duration::from_millis(100),
            });
            s
        };
        let t0 = Instant::now();
        let ready_at = t0 + 2 * sec;
        let check = |core: &mut Core, t: Instant, ok: bool| {
            // The check at readiness is due at the step that follows it (the loop steps
            // after every event); later ones are deadlines of the loop.
            if t != ready_at {
                assert_eq!(core.next_deadline(), Some(t));
            }
            assert!(
                core.step(t)
                    .contains(&Action::RunProbe(0, ProbeKind::Health))
            );
            core.on_probe_result(0, ProbeKind::Health, ok, "x".into(), t);
            signals(&core.step(t))
        };
        let start = |core: &mut Core| {
            core.step(t0);
            core.on_spawned(0, 1, t0);
            // Not ready yet: no health check, and the verdict is "starting".
            assert!(core.step(t0 + sec).is_empty());
            assert!(matches!(core.health(&[]), Ok(HealthVerdict::Starting(_))));
            core.on_ready(0, ready_at);
        };

        // Passes at readiness: healthy at once, the next check one interval later.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        assert!(check(&mut core, ready_at, true).is_empty());
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        assert_eq!(core.next_deadline(), Some(ready_at + ten));
        // Once healthy, the first failure counts (retries = 1).
        assert_eq!(
            check(&mut core, ready_at + ten, false),
            vec![(0, libc::SIGTERM)]
        );
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Unhealthy(_))));

        // Fails at readiness (its endpoint comes a moment later): tried again after 1 s.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        assert!(check(&mut core, ready_at, false).is_empty());
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Starting(_))));
        assert!(check(&mut core, ready_at + sec, true).is_empty());
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));

        // Never passes: the failures inside the interval after readiness are not counted,
        // the one at readiness + interval is.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        for n in 0..10 {
            assert!(
                check(&mut core, ready_at + n * sec, false).is_empty(),
                "{n}"
            );
        }
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        assert_eq!(
            check(&mut core, ready_at + ten, false),
            vec![(0, libc::SIGTERM)]
        );
        assert_eq!(core.units[0].health, HealthStatus::Unhealthy);
    }

    /// `s6-svc -k` (a signal sent on request) that ends the service: restarted at once, as on
    /// `restart`, with no crash counted and no backoff growth, however often; a death long
    /// after a signal it survived is a crash again.
    #[test]
    fn a_death_from_a_requested_signal_is_a_restart_on_request() {
        let mut s = svc("web", Kind::Longrun, &[]);
        s.restart = Restart::Always;
        s.stop_timeout = Duration::from_secs(5);
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = Instant::now();
        assert_eq!(spawned(&core.step(now)), vec![0]);
        for round in 0..3 {
            core.on_spawned(0, 100 + round, now);
            core.step(now);
            assert!(core.request_signal(0, libc::SIGKILL, now));
            assert_eq!(signals(&core.step(now)), vec![(0, libc::SIGKILL)]);
            now += Duration::from_millis(10);
            core.on_exit(0, ExitStatus::Signal(libc::SIGKILL), now);
            assert_eq!(spawned(&core.step(now)), vec![0], "round {round}: at once");
            assert_eq!(core.units[0].restarts, 0);
            assert_eq!(core.units[0].delay, None, "no backoff");
            assert!(core.units[0].restarted_on_request);
            assert_eq!(core.units[0].last_exit, None);
        }
        // USR1 survived; a crash a minute later counts.
        core.on_spawned(0, 200, now);
        core.step(now);
        assert!(core.request_signal(0, libc::SIGUSR1, now));
        core.step(now);
        now += Duration::from_secs(60);
        core.on_exit(0, ExitStatus::Signal(libc::SIGSEGV), now);
        assert!(spawned(&core.step(now)).is_empty(), "after the backoff");
        assert!(matches!(core.units[0].phase, Phase::Backoff { .. }));
        assert!(!core.units[0].restarted_on_request);
        assert_eq!(
            core.units[0].last_exit,
            Some(ExitStatus::Signal(libc::SIGSEGV))
        );
    }
}
