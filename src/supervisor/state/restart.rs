//! After a unit's process ended (and its finish command, if any): what becomes of it. Shutdown,
//! CMD's end, what a stop on request asked for, else the restart policy: backoff, s6-supervise's
//! pace, the crash-loop limit, giving up.

use super::unit::{AfterStop, Phase, Role};
use super::{Action, Core, ExitStatus, Idx};
use crate::config::{Kind, Restart};
use std::time::Instant;

impl Core {
    /// What happens to a unit whose process ended (after its finish command, if any):
    /// shutdown, CMD's end, the restart policy.
    pub(super) fn after_exit(
        &mut self,
        i: Idx,
        status: ExitStatus,
        was_stopping: bool,
        now: Instant,
    ) {
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
    pub(super) fn fail(&mut self, i: Idx, why: String, status: Option<ExitStatus>) {
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
    pub(super) fn fail_saying(
        &mut self,
        i: Idx,
        why: String,
        line: String,
        status: Option<ExitStatus>,
    ) {
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
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
}
