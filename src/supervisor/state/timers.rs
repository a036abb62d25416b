//! Deadlines: what happens when the time a phase waits for has come (a stop signal's
//! `stop_timeout`, a readiness timeout, a session limit, ...), and `next_deadline`, how long the
//! loop may sleep.

use super::unit::{AfterStop, Phase, ProbeKind, SessionLimit};
use super::{Action, Core};
use crate::config::{Kind, ReadyCheck};
use std::time::Instant;

impl Core {
    pub(super) fn step_timers(&mut self, now: Instant) {
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
