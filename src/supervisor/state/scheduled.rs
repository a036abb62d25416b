//! Scheduled oneshots: between runs they wait for the tick the loop computes; a tick runs
//! them, or is skipped while the last run still goes.

use super::restart::Judged;
use super::unit::{Phase, Tick};
use super::{Action, Core, Idx};
use std::time::Instant;

impl Core {
    /// Between runs: wait for the next tick, asking the loop to compute it if none is armed.
    pub(super) fn enter_scheduled(&mut self, i: Idx) {
        self.units[i].phase = Phase::Scheduled;
        if self.units[i].next_tick.is_none() {
            self.actions.push(Action::ArmTick(i));
        }
    }

    /// Its tick's time came on the monotonic clock: the loop checks the wall clock, then
    /// calls `on_tick`. `@every` counts the next tick from this one.
    pub(super) fn tick_if_due(&mut self, i: Idx, now: Instant) {
        if self.shutdown.is_none()
            && let Some(tick) = self.units[i].next_tick
            && tick.at <= now
        {
            self.units[i].next_tick = None;
            self.units[i].last_tick = Some(tick);
            self.actions.push(Action::TickDue(i));
        }
    }

    /// The loop computed the next tick of scheduled oneshot `i`.
    pub fn arm_tick(&mut self, i: Idx, tick: Tick) {
        self.units[i].next_tick = Some(tick);
    }

    /// A tick came (the loop checked the wall clock): run, or skip while the last run is
    /// still going, then have the next tick armed. Ticks missed while pidone was not
    /// running are never made up: there is no state kept across runs.
    pub fn on_tick(&mut self, i: Idx, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        let name = self.units[i].spec.name.clone();
        match self.units[i].phase {
            Phase::Scheduled => {
                self.log(crate::log::Level::Info, format!("{name}: scheduled run"));
                self.start(i, now);
            }
            Phase::Starting { .. }
            | Phase::Up { .. }
            | Phase::Stopping { .. }
            | Phase::Finishing { .. } => {
                self.log(
                    crate::log::Level::Warn,
                    format!(
                        "{name} is still running at its next scheduled time; skipping that run"
                    ),
                );
            }
            // Stopped on request, or waiting for a dependency: no more runs until started.
            Phase::Waiting
            | Phase::Stopped
            | Phase::Backoff { .. }
            | Phase::Done
            | Phase::Failed
            | Phase::CleaningUp { .. } => return,
        }
        self.actions.push(Action::ArmTick(i));
    }
    /// A scheduled run ended. One that fails is logged and tried again at the next tick; it
    /// never ends the container (a certificate renewal failing once must not take the
    /// service down; config refuses `critical` here). One that succeeds reloads its
    /// `then_reload` services.
    pub(super) fn scheduled_run_ended(&mut self, i: Idx, judged: Judged, now: Instant) {
        let name = self.units[i].spec.name.clone();
        let what = judged.what;
        if judged.failed {
            self.units[i].reason = Some(format!("oneshot {name} {what}"));
            self.log(
                crate::log::Level::Error,
                format!("scheduled oneshot {name} {what}; it runs again at its next tick"),
            );
        } else {
            self.log(crate::log::Level::Info, format!("{name} finished"));
            self.reload_after_run(i, now);
        }
        self.enter_scheduled(i);
    }

    /// After a successful run: each `then_reload` service is reloaded as `reload_on` would
    /// (its reload signal, or a restart), when it runs.
    fn reload_after_run(&mut self, i: Idx, now: Instant) {
        let name = self.units[i].spec.name.clone();
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
                    format!("{name} succeeded; {target} is not running, so it is not reloaded"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

    fn scheduled(name: &str, then_reload: &[&str]) -> Service {
        let mut s = svc(name, Kind::Oneshot, &[]);
        s.schedule = Some(crate::config::Scheduled {
            when: crate::schedule::Schedule::Every(Duration::from_secs(10)),
            offset: 0,
            jitter: Duration::ZERO,
            zone_given: false,
        });
        s.critical = false;
        s.then_reload = then_reload.iter().map(|t| t.to_string()).collect();
        s
    }

    fn tick(at: Instant) -> Tick {
        Tick {
            at,
            nominal: at,
            wall: None,
        }
    }

    #[test]
    fn scheduled_oneshot_runs_at_ticks_skips_overlaps_and_reloads_on_success() {
        let t0 = Instant::now();
        let mut web = svc("web", Kind::Longrun, &[]);
        web.reload = crate::config::Reload::Signal(libc::SIGHUP);
        let main = svc("main", Kind::Longrun, &["web", "renew"]);
        let mut core = Core::new(
            vec![
                (scheduled("renew", &["web"]), Role::Service),
                (web, Role::Service),
                (main, Role::Main),
            ],
            false,
        );
        // Nothing runs at start; the loop is asked for the first tick, and CMD does not wait
        // for the scheduled oneshot.
        let first = core.step(t0);
        assert!(first.contains(&Action::ArmTick(0)), "{first:?}");
        assert_eq!(spawned(&first), vec![1]);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        core.on_spawned(1, 11, t0);
        assert_eq!(spawned(&core.step(t0)), vec![2]);
        core.on_spawned(2, 12, t0);
        assert_eq!(core.next_deadline(), None, "idle with nothing armed");
        let t1 = t0 + Duration::from_secs(10);
        core.arm_tick(0, tick(t1));
        assert_eq!(core.next_deadline(), Some(t1));
        assert!(core.step(t1 - Duration::from_millis(1)).is_empty());
        assert_eq!(core.step(t1), vec![Action::TickDue(0)]);
        core.on_tick(0, t1);
        let run = core.step(t1);
        assert_eq!(spawned(&run), vec![0]);
        assert!(run.contains(&Action::ArmTick(0)), "{run:?}");
        core.on_spawned(0, 10, t1);
        // Still running at the next tick: skipped, and the tick after is armed.
        let t2 = t1 + Duration::from_secs(10);
        core.arm_tick(0, tick(t2));
        assert_eq!(core.step(t2), vec![Action::TickDue(0)]);
        core.on_tick(0, t2);
        let skipped = core.step(t2);
        assert!(spawned(&skipped).is_empty(), "{skipped:?}");
        assert!(skipped.contains(&Action::ArmTick(0)));
        assert!(
            skipped
                .iter()
                .any(|a| matches!(a, Action::Log(_, m) if m.contains("skipping")))
        );
        core.arm_tick(0, tick(t2 + Duration::from_secs(10)));
        // Exit 0: web gets its reload signal; back to waiting for the armed tick.
        core.on_exit(0, ExitStatus::Code(0), t2);
        let after = core.step(t2);
        assert_eq!(signals(&after), vec![(1, libc::SIGHUP)]);
        assert!(!after.contains(&Action::ArmTick(0)), "already armed");
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        // A failed run is logged; no shutdown, no reload, still scheduled.
        core.on_tick(0, t2);
        core.step(t2);
        core.on_spawned(0, 13, t2);
        core.on_exit(0, ExitStatus::Code(3), t2);
        let failed = core.step(t2);
        assert!(signals(&failed).is_empty(), "{failed:?}");
        assert!(!core.shutting_down());
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        // Control `start` runs one now; `stop` ends the schedule.
        assert_eq!(core.request_start(0), None);
        assert_eq!(spawned(&core.step(t2)), vec![0]);
        core.on_spawned(0, 14, t2);
        core.on_exit(0, ExitStatus::Code(0), t2);
        core.step(t2);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
        core.request_stop(0, t2);
        assert_eq!(core.units[0].phase, Phase::Stopped);
        assert_eq!(core.units[0].next_tick, None);
        assert_eq!(core.next_deadline(), None);
    }

    #[test]
    fn then_reload_restarts_a_service_whose_reload_is_restart() {
        let t0 = Instant::now();
        let mut web = svc("web", Kind::Longrun, &[]);
        web.reload = crate::config::Reload::Restart;
        let mut core = Core::new(
            vec![
                (scheduled("renew", &["web"]), Role::Service),
                (web, Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(1, 11, t0);
        core.request_start(0);
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        // web gets its stop signal, and starts again once it is gone.
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGTERM)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        assert_eq!(spawned(&core.step(t0)), vec![1]);
        assert_eq!(core.units[0].phase, Phase::Scheduled);
    }
}
