//! What a control request (or a watched file, `reload_on`) does to a unit: stop, start,
//! restart, signal, switch off, shut down. Each is one method that matches on the unit's phase;
//! the words and the answers are `supervisor/requests.rs`'s.

use super::unit::{AfterStop, HealthStatus, Phase, Role};
use super::{Action, Core, Idx};
use crate::config::{Kind, Restart};
use std::time::Instant;

impl Core {
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
            Phase::Done if oneshot && self.units[i].stop_owed => self.stop_finished_oneshot(i, now),
            Phase::Done if oneshot => Some(
                "the oneshot already finished; nothing to stop (what it did stays done)".into(),
            ),
            Phase::Finishing { .. } => {
                // Its process is gone; the finish command ends as usual, then it stays down.
                self.units[i].after_stop = AfterStop::Stay;
                Some("its finish script is running; it stays down after it".into())
            }
            // Down already, or on its way down: nothing more to do.
            Phase::Done
            | Phase::Failed
            | Phase::Stopped
            | Phase::Stopping { .. }
            | Phase::CleaningUp { .. } => None,
        };
        // A stopped scheduled oneshot runs no more: `start` arms its schedule again.
        self.units[i].next_tick = None;
        // A stopped unit has no current health verdict.
        if self.units[i].pid.is_none() {
            self.units[i].health = HealthStatus::None;
        }
        note
    }

    /// `stop` of a oneshot that finished and owes its stop command: its clean-up, as s6-rc's
    /// `-d` runs a oneshot's `down`; not under what still runs on top of it (stop those
    /// first, as s6-rc would).
    fn stop_finished_oneshot(&mut self, i: Idx, now: Instant) -> Option<String> {
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
            // Not running: as `start`.
            Phase::Waiting
            | Phase::Backoff { .. }
            | Phase::Done
            | Phase::Failed
            | Phase::Stopped
            | Phase::Scheduled
            | Phase::CleaningUp { .. } => self.request_start(i),
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
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
