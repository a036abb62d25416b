//! Stopping: the stop signal, shutdown and its order (reverse dependency order, each unit once
//! nothing that depends on it holds it), and a oneshot's `stop_command`.

use super::unit::{AfterStop, Phase, Role};
use super::{Action, Core, ExitStatus, Idx};
use std::time::Instant;

impl Core {
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

    /// At shutdown, unit `i` still holds what it depends on: it has a process (its own or
    /// a helper), or its stop command or finish command is still to run.
    pub(super) fn holds_dependencies(&self, i: Idx) -> bool {
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

    /// Stop signals in reverse dependency order: a unit is stopped once no dependant of it
    /// (nor, through one already down, any of its dependants) still has a process or an owed
    /// stop command. Units not started yet simply never
    /// start. A oneshot whose last run succeeded runs its `stop_command` when its turn
    /// comes, as a unit being stopped, so what it depends on waits for it in turn.
    pub(super) fn step_shutdown(&mut self, now: Instant) {
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
                // Its turn has not come: a dependant still holds it.
                Phase::Starting { .. } | Phase::Up { .. } => {}
                // On its way down already.
                Phase::Stopping { .. } | Phase::Finishing { .. } | Phase::CleaningUp { .. } => {}
                // Nothing runs (an owed stop command is below).
                Phase::Done | Phase::Failed | Phase::Stopped => {}
            }
            if self.units[i].stop_owed && self.units[i].pid.is_none() && !blocked {
                self.start_stop_command(i, now);
            }
        }
    }

    pub(super) fn send_stop(&mut self, i: Idx, now: Instant, after: AfterStop) {
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

    pub(super) fn start_stop_command(&mut self, i: Idx, now: Instant) {
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
    pub(super) fn stop_command_exited(&mut self, i: Idx, status: ExitStatus) {
        self.units[i].pid = None;
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
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
}
