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
//!
//! Each event is one method on `Core` that matches on the unit's phase, every phase named,
//! with one small function per arm (the layout of Pebble's servstate): what happens when an
//! event comes in a phase is read in one place. An event that cannot come in a phase is
//! named there too, and logged as an internal error. docs/architecture.md draws the phases
//! and the events between them.
//!
//! Its files, in the order of a unit's life (`step` runs start or stop, then timers):
//! - `mod.rs`: `Core`, the `Action`s it asks for, and `step`;
//! - `unit.rs`: a unit, its `Role` and `Phase` (the phase diagram is in docs/architecture.md);
//! - `start.rs`: dependencies, the start, spawned and ready;
//! - `health.rs`: readiness probes and health checks;
//! - `session.rs`: `max_runtime`, `idle_timeout` and their warning;
//! - `scheduled.rs`: a scheduled oneshot between its runs;
//! - `on_request.rs`: control requests (stop, start, restart, signal, ...);
//! - `stop.rs`: the stop signal, shutdown and its order, a oneshot's `stop_command`;
//! - `timers.rs`: what happens when a phase's deadline passes, and `next_deadline`;
//! - `exit.rs`: a process gone, in each phase (its own, its finish command, its stop command);
//! - `restart.rs`: what becomes of a unit after its exit: the restart policy;
//! - `reconfigured.rs`: `pidone reload` applied (units added, changed, retired);
//! - `status.rs`: what `status` and `health` read;
//! - `testkit.rs` (tests only): what the unit tests beside each file's code share.

mod exit;
mod health;
mod on_request;
mod reconfigured;
mod restart;
mod scheduled;
mod session;
mod start;
mod status;
mod stop;
#[cfg(test)]
mod testkit;
mod timers;
mod unit;

pub use crate::spawn::ExitStatus;
pub use health::probe_timeout;
pub use status::{HealthVerdict, UnitStatus};
pub use unit::{HealthStatus, Phase, ProbeKind, Role, SessionLimit, Tick, Unit};

use crate::config::Service;
use std::time::{Duration, Instant};

pub type Idx = usize;

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

    /// An event that cannot come in the unit's phase (an exit while no process runs, ...):
    /// pidone's own error, said as such, so that it is found rather than hidden.
    fn internal_error(&mut self, i: Idx, event: &str, phase: Phase) {
        let name = self.units[i].spec.name.clone();
        self.log(
            crate::log::Level::Error,
            format!("internal error: {name} {event} while {}", phase.name()),
        );
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
}
