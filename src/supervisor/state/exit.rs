//! A unit's process is gone: what that means in the phase it was in (its own process, its
//! finish command, its stop command), up to the decision `restart.rs` takes.

use super::unit::{AfterStop, HealthStatus, Phase, ProbeKind, ProbeSchedule, Role};
use super::{Action, Core, ExitStatus, Idx};
use std::time::Instant;

impl Core {
    /// The unit's process is gone: its own, or its helper's (the phase says which). One arm
    /// per phase: the answer to "what happens when it exits while X" is the function named
    /// there.
    pub fn on_exit(&mut self, i: Idx, status: ExitStatus, now: Instant) {
        // A probe still running belongs to the process that is gone: kill it, or a hung
        // health command would outlive its service (nothing else ever times it out).
        for kind in [ProbeKind::Ready, ProbeKind::Health] {
            if self.schedule(i, kind).running_until.is_some() {
                self.actions.push(Action::KillProbe(i, kind));
            }
        }
        match self.units[i].phase {
            Phase::Starting { .. } | Phase::Up { .. } => self.exited_while_running(i, status, now),
            Phase::Stopping { .. } => self.exited_while_stopping(i, status, now),
            Phase::Finishing {
                exit, was_stopping, ..
            } => self.finish_exited(i, status, exit, was_stopping, now),
            Phase::CleaningUp { .. } => self.stop_command_exited(i, status),
            // No process runs in these phases: an exit here is pidone's own error. Said, then
            // taken as the exit of a running process (what it always was).
            phase @ (Phase::Waiting
            | Phase::Backoff { .. }
            | Phase::Done
            | Phase::Failed
            | Phase::Stopped
            | Phase::Scheduled) => {
                self.internal_error(i, "exited", phase);
                self.process_exited(i, status, false, false, now);
            }
        }
    }

    /// Its own process ended by itself, or by a signal sent on request (see
    /// `request_signal`): then restarted as on `restart`.
    fn exited_while_running(&mut self, i: Idx, status: ExitStatus, now: Instant) {
        let u = &mut self.units[i];
        let by_requested_signal = u.signalled_on_request.take().is_some_and(|at| {
            now.saturating_duration_since(at) <= u.spec.stop_timeout && !u.switched_off
        });
        if by_requested_signal {
            u.after_stop = AfterStop::Restart;
        }
        self.process_exited(i, status, by_requested_signal, false, now);
    }

    /// Its own process ended after pidone's stop signal: `after_stop` says why it was sent.
    fn exited_while_stopping(&mut self, i: Idx, status: ExitStatus, now: Instant) {
        let on_request = matches!(
            self.units[i].after_stop,
            AfterStop::Restart | AfterStop::Reconfigured
        );
        self.process_exited(i, status, on_request, true, now);
    }

    /// The unit's own process is gone: forget what was about it, then run its finish command
    /// (s6) or decide what becomes of it.
    fn process_exited(
        &mut self,
        i: Idx,
        status: ExitStatus,
        on_request: bool,
        was_stopping: bool,
        now: Instant,
    ) {
        let u = &mut self.units[i];
        u.pid = None;
        // The status of a process stopped to restart it on request is the request's own
        // signal: `status` goes on showing the last exit of the service's own.
        if !on_request {
            u.last_exit = Some(status);
        }
        u.restarted_on_request = on_request;
        u.ready_probe = ProbeSchedule::default();
        u.health_probe = ProbeSchedule::default();
        // The last verdict was about a process that is gone: `status` must not show a
        // stopped service as healthy. `start` sets it to "starting" again.
        u.health = HealthStatus::None;
        if let Some(finish) = &u.spec.finish_command
            && u.role != Role::Main
        {
            // s6-supervise runs finish after every exit of `run`, at shutdown too, before
            // anything else happens to the service.
            u.phase = Phase::Finishing {
                deadline: Some(now + finish.timeout),
                exit: status,
                was_stopping,
            };
            self.actions.push(Action::SpawnHelper(i));
            return;
        }
        self.after_exit(i, status, was_stopping, now);
    }

    /// The finish command ended: logged when it failed; 125 means "do not restart" (s6).
    /// Then the service's own exit (`exit`) is decided as if it had just happened.
    fn finish_exited(
        &mut self,
        i: Idx,
        status: ExitStatus,
        exit: ExitStatus,
        was_stopping: bool,
        now: Instant,
    ) {
        self.units[i].pid = None;
        let name = self.units[i].spec.name.clone();
        match status {
            ExitStatus::Code(0) => {}
            ExitStatus::Code(crate::config::FINISH_DO_NOT_RESTART) => {
                self.log(
                    crate::log::Level::Info,
                    format!("{name}: finish exited 125: not restarted"),
                );
                self.request_once(i);
            }
            _ => self.log(
                crate::log::Level::Warn,
                format!("{name}: finish {}", status.describe()),
            ),
        }
        self.after_exit(i, exit, was_stopping, now);
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

    fn with_finish(mut s: Service) -> Service {
        s.finish_command = Some(crate::config::FinishCommand {
            argv: vec!["finish".into()],
            timeout: Duration::from_secs(5),
        });
        s
    }

    /// s6's `finish`, run by the state machine: after the daemon dies pidone spawns it with
    /// `256 SIGNAL` (or `CODE 0`), the unit shows "finishing" and is not up; then the restart
    /// policy decides as for the daemon's own exit. Exit 125 means "do not restart".
    #[test]
    fn finish_runs_after_each_exit_and_125_means_do_not_restart() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![(with_finish(svc("d", Kind::Longrun, &[])), Role::Service)],
            false,
        );
        assert_eq!(spawned(&core.step(t0)), vec![0]);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_exit(0, ExitStatus::Signal(libc::SIGKILL), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["finish", "256", "9"]);
        assert_eq!(core.unit(0).phase.name(), "finishing");
        assert_eq!(core.unit(0).running_and_ready(), (false, false));
        core.on_spawned(0, 11, t0);
        assert_eq!(core.unit(0).pid(), Some(11));
        // The finish ends: the backoff of the daemon's failure follows.
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        let Phase::Backoff { until } = core.unit(0).phase else {
            panic!("no backoff: {:?}", core.unit(0).phase);
        };
        assert_eq!(spawned(&core.step(until)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["true"]);
        core.on_spawned(0, 12, until);
        core.on_exit(0, ExitStatus::Code(3), until);
        assert_eq!(helper_spawns(&core.step(until)), vec![0]);
        assert_eq!(core.unit(0).argv(), vec!["finish", "3", "0"]);
        core.on_spawned(0, 13, until);
        core.on_exit(0, ExitStatus::Code(125), until);
        assert!(spawned(&core.step(until + Duration::from_secs(60))).is_empty());
        assert_eq!(core.unit(0).phase, Phase::Failed);
    }

    /// A finish that cannot start is logged; the daemon's exit is decided as usual and the
    /// unit's reason stays about the daemon.
    #[test]
    fn finish_that_cannot_start_leaves_the_policy_to_the_daemons_exit() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![(with_finish(svc("d", Kind::Longrun, &[])), Role::Service)],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_exit(0, ExitStatus::Code(1), t0);
        assert_eq!(helper_spawns(&core.step(t0)), vec![0]);
        core.on_spawn_failed(0, 127, "cannot run finish".into(), t0);
        core.step(t0);
        assert!(matches!(core.unit(0).phase, Phase::Backoff { .. }));
        assert_eq!(core.unit(0).reason, None);
        assert_eq!(core.unit(0).last_exit, Some(ExitStatus::Code(1)));
    }

    /// A finish that hangs is killed at its timeout; shutdown waits for it, and what
    /// depends on the unit waits too.
    #[test]
    fn finish_is_bounded_and_shutdown_waits_for_it() {
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("base", Kind::Longrun, &[]), Role::Service),
                (
                    with_finish(svc("d", Kind::Longrun, &["base"])),
                    Role::Service,
                ),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.step(t0);
        core.on_spawned(1, 11, t0);
        core.step(t0);
        core.begin_shutdown(0, "test");
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGTERM)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGTERM), t0);
        // base waits while d's finish runs (and before it is spawned).
        let a = core.step(t0);
        assert_eq!(helper_spawns(&a), vec![1]);
        assert!(signals(&a).is_empty());
        assert!(!core.finished());
        core.on_spawned(1, 12, t0);
        assert!(signals(&core.step(t0)).is_empty());
        let late = t0 + Duration::from_secs(5);
        assert_eq!(core.next_deadline(), Some(late));
        assert_eq!(signals(&core.step(late)), vec![(1, libc::SIGKILL)]);
        core.on_exit(1, ExitStatus::Signal(libc::SIGKILL), late);
        assert_eq!(signals(&core.step(late)), vec![(0, libc::SIGTERM)]);
        core.on_exit(0, ExitStatus::Signal(libc::SIGTERM), late);
        core.step(late);
        assert!(core.finished());
    }
}
