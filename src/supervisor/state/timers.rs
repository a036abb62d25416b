//! Deadlines: what happens when the time a phase waits for has come (a stop signal's
//! `stop_timeout`, a readiness timeout, a session limit, ...), one function per phase, and
//! `next_deadline`, how long the loop may sleep. The two deadlines of a unit that has not
//! started (its backoff, `dependency_wait`) pass in `start.rs`'s `step_running`, where a start
//! can let what waits for it start in the same step.

use super::unit::{AfterStop, Phase, ProbeKind};
use super::{Action, Core, ExitStatus, Idx};
use crate::config::{Kind, ReadyCheck};
use std::time::{Duration, Instant};

impl Core {
    /// Each unit's tick (a scheduled oneshot), then the deadline of its phase.
    pub(super) fn step_timers(&mut self, now: Instant) {
        let running = self.shutdown.is_none();
        for i in 0..self.units.len() {
            self.tick_if_due(i, now);
            match self.units[i].phase {
                Phase::Stopping {
                    deadline,
                    killed: false,
                } if deadline <= now => self.stop_timeout_passed(i, deadline),
                Phase::CleaningUp {
                    deadline: Some(deadline),
                } if deadline <= now => self.stop_command_timeout_passed(i),
                Phase::Finishing {
                    deadline: Some(deadline),
                    exit,
                    was_stopping,
                } if deadline <= now => self.finish_timeout_passed(i, exit, was_stopping),
                Phase::Starting { since } if running => self.starting_deadlines(i, since, now),
                Phase::Up { since } if running => self.up_deadlines(i, since, now),
                // Not due yet, or SIGKILL sent already (no deadline left).
                Phase::Stopping { .. } | Phase::CleaningUp { .. } | Phase::Finishing { .. } => {}
                // At shutdown a start or a session is not timed any more: only the stop is.
                Phase::Starting { .. } | Phase::Up { .. } => {}
                // Their deadlines pass in `step_running`.
                Phase::Waiting | Phase::Backoff { .. } => {}
                // Moved on by a tick or a request, never by a deadline.
                Phase::Done | Phase::Failed | Phase::Stopped | Phase::Scheduled => {}
            }
        }
    }

    /// Stopping: it did not stop within its `stop_timeout`.
    fn stop_timeout_passed(&mut self, i: Idx, deadline: Instant) {
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

    /// Cleaning up: its stop command outlived its timeout.
    fn stop_command_timeout_passed(&mut self, i: Idx) {
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

    /// Finishing: its finish command outlived its timeout-finish.
    fn finish_timeout_passed(&mut self, i: Idx, exit: ExitStatus, was_stopping: bool) {
        let name = self.units[i].spec.name.clone();
        self.log(
            crate::log::Level::Warn,
            format!("{name}: finish still running after its timeout-finish; sending SIGKILL"),
        );
        self.units[i].phase = Phase::Finishing {
            deadline: None,
            exit,
            was_stopping,
        };
        self.actions.push(Action::Signal(i, libc::SIGKILL));
    }

    /// Starting: a oneshot past its `timeout`, or a start past its readiness timeout, is
    /// stopped (a failure); otherwise its readiness probe runs when due.
    fn starting_deadlines(&mut self, i: Idx, since: Instant, now: Instant) {
        if let Some(limit) = self.units[i].spec.timeout
            && self.units[i].spec.kind == Kind::Oneshot
            && since + limit <= now
        {
            return self.oneshot_timeout_passed(i, limit, now);
        }
        if let Some(ready) = self.units[i].spec.ready.clone() {
            if since + ready.timeout <= now {
                self.ready_timeout_passed(i, ready.timeout, now);
            } else if matches!(ready.check, ReadyCheck::Probe(_)) {
                self.schedule_probe(i, ProbeKind::Ready, now);
            }
        }
    }

    /// A hung init task would otherwise hold its dependants and CMD for ever. It gets its
    /// stop signal (then SIGKILL at stop_timeout), and the exit that follows is a failure
    /// whatever its status.
    fn oneshot_timeout_passed(&mut self, i: Idx, limit: Duration, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let why = format!("timed out after {}", crate::values::format_duration(limit));
        self.log(
            crate::log::Level::Warn,
            format!("oneshot {name} {why}; stopping it"),
        );
        self.units[i].reason = Some(why);
        self.send_stop(i, now, AfterStop::Policy);
    }

    /// Not ready in time: stopped, and the exit that follows is a failure.
    fn ready_timeout_passed(&mut self, i: Idx, timeout: Duration, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let why = format!(
            "{name} was not ready within {}",
            crate::values::format_duration(timeout)
        );
        self.log(crate::log::Level::Warn, why.clone());
        self.units[i].reason = Some(why);
        self.send_stop(i, now, AfterStop::Policy);
    }

    /// Up: the end of its session (or the warning before it), then its health check when
    /// due (unless the session ended).
    fn up_deadlines(&mut self, i: Idx, since: Instant, now: Instant) {
        if self.session_deadlines(i, since, now) {
            return;
        }
        if self.units[i].spec.health.is_some() {
            self.schedule_probe(i, ProbeKind::Health, now);
        }
    }

    /// The earliest time `step` has something to do; `None` = block until an event.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for i in 0..self.units.len() {
            self.deadlines_of(i, &mut consider);
        }
        next
    }

    /// Every time at which `step` acts on unit `i` by itself: its tick, the deadline of its
    /// phase, its probe's.
    fn deadlines_of(&self, i: Idx, consider: &mut impl FnMut(Instant)) {
        let u = &self.units[i];
        let running = self.shutdown.is_none();
        if let Some(tick) = u.next_tick
            && running
        {
            consider(tick.at);
        }
        match u.phase {
            Phase::Backoff { until } if running => consider(until),
            Phase::Waiting if running => {
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
            Phase::Starting { since } if running => {
                if let Some(r) = &u.spec.ready {
                    consider(since + r.timeout);
                }
                if let Some(limit) = u.spec.timeout
                    && u.spec.kind == Kind::Oneshot
                {
                    consider(since + limit);
                }
            }
            Phase::Up { since } if running => {
                if let Some((end, _)) = self.session_end(i, since) {
                    consider(end);
                    if let Some(w) = self.warn_at(i, end) {
                        consider(w);
                    }
                }
            }
            // SIGKILL sent already: nothing more to time.
            Phase::Stopping { .. } | Phase::CleaningUp { .. } | Phase::Finishing { .. } => {}
            // At shutdown only the stop is timed.
            Phase::Backoff { .. } | Phase::Waiting | Phase::Starting { .. } | Phase::Up { .. } => {}
            Phase::Done | Phase::Failed | Phase::Stopped | Phase::Scheduled => {}
        }
        // Probe times count only in the phase whose timers act on them (see
        // step_timers); otherwise a due time left from the last result (a unit now
        // stopping, say) would be in the past until the phase changes: a busy loop.
        let probe = match u.phase {
            Phase::Starting { .. } if running => Some(&u.ready_probe),
            Phase::Up { .. } if running => Some(&u.health_probe),
            _ => None,
        };
        if let Some(s) = probe
            && let Some(t) = s.running_until.or(s.due)
        {
            consider(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
}
