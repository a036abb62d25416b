//! `pidone reload` applied to the state machine: a unit added, changed (stopped and started
//! with its new service) or retired (stopped, in reverse dependency order, then no longer
//! listed). Which services changed is `supervisor/reconfigure.rs`'s to find out.

use super::unit::{AfterStop, Phase, Role, Unit};
use super::{Core, Idx};
use crate::config::Service;
use std::time::Instant;

impl Core {
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
    pub(super) fn stop_retired(&mut self, now: Instant) -> bool {
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
}
