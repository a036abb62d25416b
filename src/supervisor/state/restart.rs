//! After a unit's process ended (and its finish command, if any): what becomes of it. Shutdown,
//! CMD's end, what a stop on request asked for, else the restart policy: backoff, s6-supervise's
//! pace, the crash-loop limit, giving up.

use super::unit::{AfterStop, Phase, Role};
use super::{Core, ExitStatus, Idx};
use crate::config::{Kind, Restart};
use std::time::Instant;

/// How the restart policy reads one exit of a unit's process.
pub(super) struct Judged {
    /// A failure: a non-zero exit, or any exit after pidone stopped it for a cause.
    pub(super) failed: bool,
    /// What the failure message says: the cause when pidone stopped it for one.
    pub(super) what: String,
    /// The exit code a critical failure ends the run with: the service's own, unless
    /// pidone stopped it for a cause, when the status only reflects pidone's signal.
    pub(super) code_from: Option<ExitStatus>,
}

impl Core {
    /// What happens to a unit whose process ended (after its finish command, if any):
    /// shutdown, CMD's end, what its stop was for (`after_stop`: one function each), the
    /// restart policy.
    pub(super) fn after_exit(
        &mut self,
        i: Idx,
        status: ExitStatus,
        was_stopping: bool,
        now: Instant,
    ) {
        if self.shutdown.is_some() {
            return self.stays_stopped(i, status);
        }
        if self.units[i].role == Role::Main {
            return self.main_ended(i, status);
        }
        match self.units[i].after_stop {
            AfterStop::Stay => self.stays_stopped(i, status),
            AfterStop::Restart => self.restarts_on_request(i, now),
            AfterStop::Reconfigured => self.restarts_reconfigured(i, status),
            AfterStop::Policy | AfterStop::MaxRuntime | AfterStop::Unhealthy => {
                self.apply_restart_policy(i, status, was_stopping, now)
            }
        }
    }

    /// Stopped at shutdown, or by `stop`: it stays down.
    fn stays_stopped(&mut self, i: Idx, status: ExitStatus) {
        let name = self.units[i].spec.name.clone();
        self.units[i].phase = Phase::Stopped;
        self.log(
            crate::log::Level::Info,
            format!("{name} stopped ({})", status.describe()),
        );
    }

    /// CMD ended: so does the run, with CMD's exit code (the session-limit code when a
    /// session limit stopped it).
    fn main_ended(&mut self, i: Idx, status: ExitStatus) {
        self.units[i].phase = Phase::Done;
        if self.units[i].after_stop == AfterStop::MaxRuntime {
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
    }

    /// Stopped by `restart` (or a signal sent on request): started again at once, with no
    /// backoff and no crash counted.
    fn restarts_on_request(&mut self, i: Idx, now: Instant) {
        let name = self.units[i].spec.name.clone();
        self.log(
            crate::log::Level::Info,
            format!("{name} restarted on request"),
        );
        self.units[i].phase = Phase::Backoff { until: now };
    }

    /// Stopped because `pidone reload` changed it: it waits for its dependencies again.
    fn restarts_reconfigured(&mut self, i: Idx, status: ExitStatus) {
        let name = self.units[i].spec.name.clone();
        self.log(
            crate::log::Level::Info,
            format!(
                "{name} {} for the reload; starting it with its new configuration",
                status.describe()
            ),
        );
        self.units[i].phase = Phase::Waiting;
    }

    /// An exit nobody asked for, or a stop for a cause (a failed start, a timed-out oneshot,
    /// a failed health check, a session limit): the unit's kind and `restart` decide.
    fn apply_restart_policy(
        &mut self,
        i: Idx,
        status: ExitStatus,
        was_stopping: bool,
        now: Instant,
    ) {
        let judged = self.judge(i, status, was_stopping);
        let spec = &self.units[i].spec;
        if spec.schedule.is_some() {
            self.scheduled_run_ended(i, judged, now);
        } else if spec.kind == Kind::Oneshot {
            self.oneshot_ended(i, judged);
        } else if self.once {
            self.ended_with_once(i, status);
        } else {
            self.longrun_ended(i, status, judged, now);
        }
    }

    /// Whether this exit is a failure, and how to say it.
    fn judge(&self, i: Idx, status: ExitStatus, was_stopping: bool) -> Judged {
        let u = &self.units[i];
        let after = u.after_stop;
        // A stop at max_runtime is a clean end (restarted only by `restart = "always"`); a
        // stop for a failed start, a timed-out oneshot or a failed health check is a failure
        // whatever the exit status.
        let stopped_for_cause = was_stopping && u.reason.is_some();
        let failed = after == AfterStop::Unhealthy
            || (after != AfterStop::MaxRuntime && (!status.success() || stopped_for_cause));
        // What the failure message says: the cause when pidone stopped it for one.
        let what = match &u.reason {
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
        Judged {
            failed,
            what,
            code_from,
        }
    }

    /// A oneshot's run ended: done (its stop command now owed), or failed for good.
    fn oneshot_ended(&mut self, i: Idx, judged: Judged) {
        let name = self.units[i].spec.name.clone();
        if judged.failed {
            self.fail(
                i,
                format!("oneshot {name} {}", judged.what),
                judged.code_from,
            );
        } else {
            self.units[i].phase = Phase::Done;
            self.units[i].stop_owed = self.units[i].spec.stop_command.is_some();
            self.log(crate::log::Level::Info, format!("{name} finished"));
        }
    }

    /// `--once`: the first longrun to end ends the run, with its exit code.
    fn ended_with_once(&mut self, i: Idx, status: ExitStatus) {
        let name = self.units[i].spec.name.clone();
        self.units[i].phase = Phase::Done;
        self.begin_shutdown(
            status.code(),
            &format!("{name} {} (--once)", status.describe()),
        );
    }

    /// A longrun ended: restarted as its `restart` says (at once after a session limit, after
    /// the backoff otherwise), else done or failed.
    fn longrun_ended(&mut self, i: Idx, status: ExitStatus, judged: Judged, now: Instant) {
        let restart = match self.units[i].spec.restart {
            Restart::Always => true,
            Restart::OnFailure => judged.failed,
            Restart::Never => false,
        };
        if !restart {
            self.not_restarted(i, status, judged);
        } else if self.units[i].after_stop == AfterStop::MaxRuntime {
            self.new_session(i, status, now);
        } else {
            self.restart_after_backoff(i, judged, now);
        }
    }

    /// Its `restart` says no: done after a clean exit, failed for good after a failure.
    fn not_restarted(&mut self, i: Idx, status: ExitStatus, judged: Judged) {
        let name = self.units[i].spec.name.clone();
        if judged.failed {
            self.fail(i, format!("{name} {}", judged.what), judged.code_from);
        } else {
            self.units[i].phase = Phase::Done;
            self.log(
                crate::log::Level::Info,
                format!("{name} {}", status.describe()),
            );
        }
    }

    /// A session limit is a clean end, not a crash: a fresh session starts at once, without
    /// growing the backoff or counting toward max_restarts.
    fn new_session(&mut self, i: Idx, status: ExitStatus, now: Instant) {
        let name = self.units[i].spec.name.clone();
        self.units[i].restarts += 1;
        self.units[i].phase = Phase::Backoff { until: now };
        self.log(
            crate::log::Level::Info,
            format!(
                "{name} {} at its session limit; restarting",
                status.describe()
            ),
        );
    }

    /// A crash (or a failure it is restarted after): wait the backoff, which grows with each
    /// restart and starts over after `reset_after` of uptime; give up past the crash-loop
    /// limit.
    fn restart_after_backoff(&mut self, i: Idx, judged: Judged, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let uptime = self.units[i]
            .started_at
            .map(|t| now.saturating_duration_since(t));
        let spec = &self.units[i].spec;
        // Crash-loop limit: more than max_restarts restarts within restart_window.
        let window = spec.restart_window;
        let max = spec.max_restarts;
        let backoff = spec.backoff.clone();
        let what = judged.what;
        let u = &mut self.units[i];
        u.restart_times
            .retain(|&t| now.saturating_duration_since(t) < window);
        if u.restart_times.len() as u32 >= max {
            let why = format!(
                "{name} {what}; it restarted {max} times within {}, giving up",
                crate::values::format_duration(window)
            );
            self.fail(i, why, judged.code_from);
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
