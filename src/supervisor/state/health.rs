//! Probes: when a readiness probe or health check runs (and is killed for overrunning), what a
//! result means, and the grace before a failed health check counts.

use super::unit::{AfterStop, HealthStatus, Phase, ProbeKind, ProbeSchedule};
use super::{Action, Core, Idx};
use crate::config::{OnUnhealthy, Service};
use std::time::{Duration, Instant};

/// How long a readiness probe may run before it is killed.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How soon a health check that failed in the grace (see `Core::health_grace_until`) is tried
/// again, when `interval` is longer: the bound on how late a service that is ready is reported
/// healthy.
const HEALTH_GRACE_RETRY: Duration = Duration::from_secs(1);

/// How long a unit's probe of `kind` may run: one rule for the schedule here and for the
/// loop that starts the probe.
pub fn probe_timeout(spec: &Service, kind: ProbeKind) -> Duration {
    match kind {
        ProbeKind::Ready => READY_PROBE_TIMEOUT,
        ProbeKind::Health => spec
            .health
            .as_ref()
            .map_or(READY_PROBE_TIMEOUT, |h| h.timeout),
    }
}

impl Core {
    pub(super) fn schedule(&mut self, i: Idx, kind: ProbeKind) -> &mut ProbeSchedule {
        match kind {
            ProbeKind::Ready => &mut self.units[i].ready_probe,
            ProbeKind::Health => &mut self.units[i].health_probe,
        }
    }

    /// Start the unit's probe when it is due, or kill it when it overran its timeout.
    ///
    /// A readiness probe first runs as soon as the process is started, and a health check as
    /// soon as the service is ready (up): so `healthcheck` says healthy within a second of
    /// readiness instead of one `interval` later. Failures are not counted before the first
    /// pass until the health grace ends (see `health_grace_until`), and are retried at a
    /// faster pace meanwhile; later checks follow `interval` after each result.
    pub(super) fn schedule_probe(&mut self, i: Idx, kind: ProbeKind, now: Instant) {
        let spec = &self.units[i].spec;
        let timeout = probe_timeout(spec, kind);
        let sched = self.schedule(i, kind);
        if let Some(until) = sched.running_until {
            if until <= now {
                sched.running_until = Some(now + Duration::from_secs(3600));
                self.actions.push(Action::KillProbe(i, kind));
            }
            return;
        }
        let due = *sched.due.get_or_insert(now);
        if due <= now {
            sched.due = None;
            sched.running_until = Some(now + timeout);
            self.actions.push(Action::RunProbe(i, kind));
        }
    }

    pub fn on_probe_result(
        &mut self,
        i: Idx,
        kind: ProbeKind,
        ok: bool,
        detail: String,
        now: Instant,
    ) {
        let mut interval = match kind {
            ProbeKind::Ready => self.units[i].spec.ready.as_ref().map(|r| r.interval),
            ProbeKind::Health => self.units[i].spec.health.as_ref().map(|h| h.interval),
        }
        .unwrap_or(Duration::from_secs(1));
        // A failed check in the grace is tried again soon: the service was ready but its
        // health endpoint may come a moment later, and waiting a whole `interval` for the
        // second try would report it healthy that much late.
        if kind == ProbeKind::Health && !ok && self.health_grace_until(i).is_some_and(|g| now < g) {
            interval = interval.min(HEALTH_GRACE_RETRY);
        }
        let sched = self.schedule(i, kind);
        if sched.running_until.is_none() {
            // Nobody waits for this result: the probe of a process that is gone (killed by
            // on_exit). Scheduling the next run now would leave a due time that no phase ever
            // consumes, and the loop would spin on it.
            return;
        }
        sched.running_until = None;
        sched.due = Some(now + interval);
        match kind {
            ProbeKind::Ready => {
                if ok {
                    self.on_ready(i, now);
                }
            }
            ProbeKind::Health => self.on_health(i, ok, detail, now),
        }
    }

    fn on_health(&mut self, i: Idx, ok: bool, detail: String, now: Instant) {
        let Some(health) = self.units[i].spec.health.clone() else {
            return;
        };
        if !matches!(self.units[i].phase, Phase::Up { .. }) {
            return;
        }
        let name = self.units[i].spec.name.clone();
        let u = &mut self.units[i];
        if ok {
            if u.health != HealthStatus::Healthy {
                u.health = HealthStatus::Healthy;
                u.reason = None;
                self.log(crate::log::Level::Info, format!("{name} is healthy"));
            }
            self.units[i].health_failures = 0;
            return;
        }
        if self.health_grace_until(i).is_some_and(|g| now < g) {
            return;
        }
        let u = &mut self.units[i];
        u.health_failures += 1;
        if u.health_failures < health.retries {
            return;
        }
        let was = u.health;
        u.health = HealthStatus::Unhealthy;
        u.reason = Some(format!("health check failed: {detail}"));
        if was != HealthStatus::Unhealthy || health.on_failure == OnUnhealthy::Restart {
            self.log(
                crate::log::Level::Warn,
                format!(
                    "{name} is unhealthy after {} failed checks: {detail}",
                    health.retries
                ),
            );
        }
        match health.on_failure {
            OnUnhealthy::Ignore => {}
            OnUnhealthy::Restart => self.send_stop(i, now, AfterStop::Unhealthy),
            OnUnhealthy::Stop => {
                self.begin_shutdown(
                    1,
                    &format!("{name} is unhealthy and its on_failure is \"stop\""),
                );
            }
        }
    }

    /// Until when a failed health check is not counted: while the service has not passed one
    /// since it started (its health is not `healthy`), until the later of the end of
    /// `start_period` (from the start) and one `interval` after it became ready. The first
    /// check runs at readiness, but a service without a readiness check is "ready" when it is
    /// spawned, maybe before it listens; without this grace, `retries = 1` would restart it
    /// before it ever could. With it, a service that never passes is unhealthy exactly when
    /// it was when the first check ran one `interval` after readiness: only passes come sooner.
    fn health_grace_until(&self, i: Idx) -> Option<Instant> {
        let u = &self.units[i];
        let health = u.spec.health.as_ref()?;
        let Phase::Up { since } = u.phase else {
            return None;
        };
        if u.health == HealthStatus::Healthy {
            return None;
        }
        let start_period_end = u.started_at.map_or(since, |t| t + health.start_period);
        Some(start_period_end.max(since + health.interval))
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

    #[test]
    fn health_retries_then_restart() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut core = Core::new(vec![(checked(2, Duration::ZERO), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        assert!(signals(&check_at(&mut core, t0 + sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        assert!(signals(&check_at(&mut core, t0 + 2 * sec, true)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
        // Two failures in a row (retries = 2) make it unhealthy.
        assert!(signals(&check_at(&mut core, t0 + 3 * sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
        let t4 = t0 + 4 * sec;
        assert_eq!(
            signals(&check_at(&mut core, t4, false)),
            vec![(0, libc::SIGTERM)]
        );
        assert_eq!(core.units[0].health, HealthStatus::Unhealthy);
        assert!(matches!(core.units[0].phase, Phase::Stopping { .. }));
        // Gone: no verdict about a process that is not there; restarted after the backoff.
        core.on_exit(0, ExitStatus::Signal(15), t4);
        assert_eq!(core.units[0].health, HealthStatus::None);
        assert!(spawned(&core.step(t4)).is_empty());
        let t5 = t4 + Duration::from_millis(100);
        assert_eq!(core.units[0].phase, Phase::Backoff { until: t5 });
        assert_eq!(spawned(&core.step(t5)), vec![0]);
        assert_eq!(core.units[0].restarts, 1);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_but_a_pass_does() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut core = Core::new(vec![(checked(1, 3 * sec), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        // Checks at 1 s and 2 s fail inside the 3 s start period: not counted.
        assert!(signals(&check_at(&mut core, t0 + sec, false)).is_empty());
        assert!(signals(&check_at(&mut core, t0 + 2 * sec, false)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        // The first failure after it counts (retries = 1).
        assert_eq!(
            signals(&check_at(&mut core, t0 + 3 * sec, false)),
            vec![(0, libc::SIGTERM)]
        );
        // A pass inside the start period makes it healthy at once.
        let mut core = Core::new(vec![(checked(1, 3 * sec), Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        assert!(signals(&check_at(&mut core, t0 + sec, true)).is_empty());
        assert_eq!(core.units[0].health, HealthStatus::Healthy);
    }

    /// A service that fails every check (retries = 1) is restarted with the same backoff as
    /// a crash, and given up on after max_restarts; critical, it ends the run.
    #[test]
    fn health_restarts_obey_backoff_max_restarts_and_critical() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut s = checked(1, Duration::ZERO);
        s.max_restarts = 3;
        s.critical = true;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        let mut now = t0;
        let mut delays = Vec::new();
        for round in 0..10 {
            assert_eq!(spawned(&core.step(now)), vec![0], "round {round}");
            core.on_spawned(0, 100 + round, now);
            first_check_fails_in_grace(&mut core, now);
            now += sec;
            assert_eq!(
                signals(&check_at(&mut core, now, false)),
                vec![(0, libc::SIGTERM)]
            );
            // The service traps TERM and exits 0: still a failure.
            core.on_exit(0, ExitStatus::Code(0), now);
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
        assert_eq!(core.units[0].restarts, 3);
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert!(
            core.units[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("health check failed") && r.contains("giving up")),
            "{:?}",
            core.units[0].reason
        );
        assert!(core.shutting_down());
        assert_eq!(core.exit_code(), 1);
    }

    #[test]
    fn health_failure_with_restart_never_fails_for_good() {
        let t0 = Instant::now();
        let mut s = checked(1, Duration::ZERO);
        s.restart = Restart::Never;
        let mut core = Core::new(vec![(s, Role::Service)], false);
        core.step(t0);
        core.on_spawned(0, 1, t0);
        first_check_fails_in_grace(&mut core, t0);
        let t1 = t0 + Duration::from_secs(1);
        check_at(&mut core, t1, false);
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), t1);
        assert!(spawned(&core.step(t1 + Duration::from_secs(60))).is_empty());
        assert_eq!(core.units[0].phase, Phase::Failed);
        assert_eq!(core.units[0].restarts, 0);
        // Not critical (a longrun's default): the run goes on.
        assert!(!core.shutting_down());
    }

    /// Healthy as soon as it is ready: with `interval = 10s`, the first health check runs at
    /// readiness, a failed one is tried again a second later, and a service that never passes
    /// is unhealthy exactly when it was before (one interval after readiness); once healthy,
    /// the first failed check (retries = 1) makes it unhealthy.
    #[test]
    fn health_is_checked_at_readiness_and_unhealthy_no_sooner_than_one_interval_after() {
        use crate::config::{Ready, ReadyCheck};
        let sec = Duration::from_secs(1);
        let ten = 10 * sec;
        let service = || {
            let mut s = checked(1, Duration::ZERO);
            s.health.as_mut().unwrap().interval = ten;
            s.ready = Some(Ready {
                check: ReadyCheck::NotifyFd(3),
                timeout: Duration::from_secs(3600),
                interval: Duration::from_millis(100),
            });
            s
        };
        let t0 = Instant::now();
        let ready_at = t0 + 2 * sec;
        let check = |core: &mut Core, t: Instant, ok: bool| {
            // The check at readiness is due at the step that follows it (the loop steps
            // after every event); later ones are deadlines of the loop.
            if t != ready_at {
                assert_eq!(core.next_deadline(), Some(t));
            }
            assert!(
                core.step(t)
                    .contains(&Action::RunProbe(0, ProbeKind::Health))
            );
            core.on_probe_result(0, ProbeKind::Health, ok, "x".into(), t);
            signals(&core.step(t))
        };
        let start = |core: &mut Core| {
            core.step(t0);
            core.on_spawned(0, 1, t0);
            // Not ready yet: no health check, and the verdict is "starting".
            assert!(core.step(t0 + sec).is_empty());
            assert!(matches!(core.health(&[]), Ok(HealthVerdict::Starting(_))));
            core.on_ready(0, ready_at);
        };

        // Passes at readiness: healthy at once, the next check one interval later.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        assert!(check(&mut core, ready_at, true).is_empty());
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        assert_eq!(core.next_deadline(), Some(ready_at + ten));
        // Once healthy, the first failure counts (retries = 1).
        assert_eq!(
            check(&mut core, ready_at + ten, false),
            vec![(0, libc::SIGTERM)]
        );
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Unhealthy(_))));

        // Fails at readiness (its endpoint comes a moment later): tried again after 1 s.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        assert!(check(&mut core, ready_at, false).is_empty());
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Starting(_))));
        assert!(check(&mut core, ready_at + sec, true).is_empty());
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));

        // Never passes: the failures inside the interval after readiness are not counted,
        // the one at readiness + interval is.
        let mut core = Core::new(vec![(service(), Role::Service)], false);
        start(&mut core);
        for n in 0..10 {
            assert!(
                check(&mut core, ready_at + n * sec, false).is_empty(),
                "{n}"
            );
        }
        assert_eq!(core.units[0].health, HealthStatus::Starting);
        assert_eq!(
            check(&mut core, ready_at + ten, false),
            vec![(0, libc::SIGTERM)]
        );
        assert_eq!(core.units[0].health, HealthStatus::Unhealthy);
    }
}
