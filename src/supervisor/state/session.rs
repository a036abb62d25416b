//! Session limits: when `max_runtime` or `idle_timeout` ends a unit's session, the warning
//! `warn_before` it, and the activity that defers `idle_timeout`.

use super::unit::{AfterStop, SessionLimit};
use super::{Action, Core, Idx};
use std::time::Instant;

impl Core {
    /// When the unit's session ends, and by which limit: the earlier of `max_runtime` from
    /// the start and `idle_timeout` from the last activity (or the start).
    pub(super) fn session_end(&self, i: Idx, since: Instant) -> Option<(Instant, SessionLimit)> {
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
    pub(super) fn warn_at(&self, i: Idx, end: Instant) -> Option<Instant> {
        let u = &self.units[i];
        let before = u.spec.warn_before?;
        if u.warned_for == Some(end) {
            return None;
        }
        Some(end.checked_sub(before).unwrap_or(end))
    }

    /// An up unit's session limits at `now`: true when its session ended (it is being
    /// stopped), else its warning when that is due.
    pub(super) fn session_deadlines(&mut self, i: Idx, since: Instant, now: Instant) -> bool {
        let Some((end, limit)) = self.session_end(i, since) else {
            return false;
        };
        if end <= now {
            self.session_limit_passed(i, limit, now);
            return true;
        }
        if let Some(warn) = self.warn_at(i, end)
            && warn <= now
        {
            self.session_warning_due(i, end, limit, now);
        }
        false
    }

    /// Its session is over: stopped, a clean end (see `AfterStop::MaxRuntime`).
    fn session_limit_passed(&mut self, i: Idx, limit: SessionLimit, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let why = match limit {
            SessionLimit::MaxRuntime => format!(
                "{name} reached its max_runtime ({})",
                crate::values::format_duration(self.units[i].spec.max_runtime.unwrap_or_default())
            ),
            SessionLimit::Idle => format!(
                "{name} was idle for its idle_timeout ({})",
                crate::values::format_duration(self.units[i].spec.idle_timeout.unwrap_or_default())
            ),
        };
        self.log(crate::log::Level::Info, format!("{why}; stopping it"));
        self.send_stop(i, now, AfterStop::MaxRuntime);
    }

    /// `warn_before` the end of its session: warned once for that end.
    fn session_warning_due(&mut self, i: Idx, end: Instant, limit: SessionLimit, now: Instant) {
        let name = self.units[i].spec.name.clone();
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

    /// Output from the unit (or, for CMD on a TTY, activity on the terminal) at `at`.
    pub fn on_activity(&mut self, i: Idx, at: Instant) {
        let u = &mut self.units[i];
        if u.activity.is_none_or(|a| a < at) {
            u.activity = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

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
}
