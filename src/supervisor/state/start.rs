//! Starting a unit: whether its dependencies let it start (each pass of `step` while running),
//! the start itself, and the events of a start (spawned, could not spawn, ready).

use super::unit::{AfterStop, HealthStatus, Phase, ProbeSchedule, Role};
use super::{Action, Core, ExitStatus, Idx};
use crate::config::Kind;
use std::time::{Duration, Instant};

/// Where a unit stands with one of its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepState {
    Satisfied,
    Pending,
    /// Failed, stopped, or a longrun that ended: the dependant cannot start.
    Broken,
}

impl Core {
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

    /// Each pass of `step` while running: who may start now. A unit waiting for its
    /// dependencies starts, fails with one or waits on; a backoff that elapsed starts again.
    pub(super) fn step_running(&mut self, now: Instant) {
        // Iterate to a fixed point: a dependency failing can fail a chain of dependants.
        let mut changed = true;
        while changed {
            changed = self.stop_retired(now);
            for i in 0..self.units.len() {
                changed |= match self.units[i].phase {
                    Phase::Waiting => self.check_dependencies(i, now),
                    Phase::Backoff { until } if until <= now => {
                        self.start(i, now);
                        true
                    }
                    Phase::Backoff { .. } => false,
                    // Moved on by events, or by their deadlines (`step_timers`).
                    Phase::Starting { .. }
                    | Phase::Up { .. }
                    | Phase::Stopping { .. }
                    | Phase::Finishing { .. }
                    | Phase::CleaningUp { .. }
                    | Phase::Done
                    | Phase::Failed
                    | Phase::Stopped
                    | Phase::Scheduled => false,
                };
            }
        }
    }

    /// Waiting: start once every dependency is satisfied (a scheduled oneshot then waits for
    /// its tick), fail when one is broken, or decide once `dependency_wait` ran out. True
    /// when the unit moved on.
    fn check_dependencies(&mut self, i: Idx, now: Instant) -> bool {
        let deps = self.units[i].deps.clone();
        let states: Vec<DepState> = deps.iter().map(|&d| self.dep_state(i, d)).collect();
        let since = *self.units[i].waiting_since.get_or_insert(now);
        if let Some(n) = states.iter().position(|s| *s == DepState::Broken) {
            let why = self.why_broken(deps[n]);
            // One line per dependant, naming it (the same reason for each
            // of several dependants would otherwise be repeated verbatim).
            let line = format!("{} not started: {why}", self.units[i].spec.name);
            self.fail_saying(i, why, line, None);
            true
        } else if states.iter().all(|s| *s == DepState::Satisfied) {
            if self.units[i].spec.schedule.is_some() && !self.units[i].run_now {
                self.enter_scheduled(i);
            } else {
                self.units[i].run_now = false;
                self.start(i, now);
            }
            true
        } else if let Some(wait) = self.units[i].spec.dependency_wait
            && since + wait.limit <= now
        {
            self.dependency_wait_passed(i, &deps, &states, wait.fail, now);
            true
        } else {
            false
        }
    }

    /// `dependency_wait` ran out with dependencies still pending: start anyway, or fail.
    fn dependency_wait_passed(
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

    pub(super) fn start(&mut self, i: Idx, now: Instant) {
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

    /// Ready (a notification, or a readiness probe that passed): a starting longrun is up.
    /// Anything else is not changed: a oneshot is ready when it exits, and a notification
    /// that comes late (stopping, say) or twice comes after the fact.
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
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
}
