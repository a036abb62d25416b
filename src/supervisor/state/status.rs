//! What `status` and `health` read: every unit as plain data, and the verdict on the named
//! units. Read-only: nothing here changes a unit.

use super::Core;
use super::unit::{HealthStatus, Phase, Role};
use crate::config::Kind;
use std::time::{Duration, Instant};

/// One unit as `status` reports it: plain data read from the state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitStatus<'a> {
    pub name: &'a str,
    /// `cmd`, `render`, `oneshot` or `longrun`.
    pub kind: &'static str,
    pub state: &'static str,
    pub pid: Option<i32>,
    /// Since the unit started (starting) or became ready (up).
    pub uptime: Option<Duration>,
    pub restarts: u32,
    pub last_exit: Option<i32>,
    pub health: &'static str,
    pub reason: Option<&'a str>,
    /// A scheduled oneshot: how long until its next run.
    pub next_run: Option<Duration>,
}

/// The verdict of `health [NAMES]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthVerdict {
    /// Every (named) unit is where it should be: longruns ready and passing their check,
    /// oneshots finished.
    Healthy,
    /// Not there yet: these are still starting.
    Starting(Vec<String>),
    /// The first unit that is not as it should be, and why.
    Unhealthy(String),
    Stopping,
}

impl Core {
    /// Every unit as `status` reports it, in start order.
    pub fn status(&self, now: Instant) -> Vec<UnitStatus<'_>> {
        self.units
            .iter()
            .filter(|u| !u.retired || u.pid.is_some())
            .map(|u| UnitStatus {
                name: &u.spec.name,
                kind: match u.role {
                    Role::Main => "cmd",
                    Role::Render => "render",
                    Role::Service => match u.spec.kind {
                        Kind::Oneshot => "oneshot",
                        Kind::Longrun => "longrun",
                    },
                },
                state: u.phase.name(),
                pid: u.pid,
                uptime: match u.phase {
                    Phase::Up { since } | Phase::Starting { since } => {
                        Some(now.saturating_duration_since(since))
                    }
                    _ => None,
                },
                restarts: u.restarts,
                last_exit: u.last_exit.map(|e| e.code()),
                health: match u.health {
                    HealthStatus::None => "none",
                    HealthStatus::Starting => "starting",
                    HealthStatus::Healthy => "healthy",
                    HealthStatus::Unhealthy => "unhealthy",
                },
                reason: u
                    .reason
                    .as_deref()
                    .or(u.restarted_on_request.then_some("restarted on request")),
                next_run: u.next_tick.map(|t| t.at.saturating_duration_since(now)),
            })
            .collect()
    }

    /// The health of the named units (all when `names` is empty); `Err` names an unknown one.
    pub fn health(&self, names: &[&str]) -> Result<HealthVerdict, String> {
        if self.shutting_down() {
            return Ok(HealthVerdict::Stopping);
        }
        let mut selected = Vec::new();
        for name in names {
            selected.push(self.index(name).ok_or_else(|| name.to_string())?);
        }
        if selected.is_empty() {
            selected = (0..self.units.len())
                .filter(|&i| !self.units[i].retired)
                .collect();
        }
        let mut starting = Vec::new();
        for i in selected {
            let u = &self.units[i];
            let name = &u.spec.name;
            let oneshot = u.spec.kind == Kind::Oneshot;
            // A scheduled oneshot says nothing about the container's health: between runs
            // it is not "finished", a run is not "starting", and a failed run is logged and
            // retried at the next tick without holding anything.
            if u.spec.schedule.is_some() {
                continue;
            }
            match (u.phase, u.health) {
                (Phase::Done, _) if oneshot || u.switched_off => {}
                (Phase::Up { .. }, HealthStatus::None | HealthStatus::Healthy) => {}
                (Phase::Up { .. }, HealthStatus::Starting)
                | (Phase::Waiting | Phase::Starting { .. }, _) => starting.push(name.clone()),
                (Phase::Up { .. }, HealthStatus::Unhealthy) => {
                    return Ok(HealthVerdict::Unhealthy(format!(
                        "{name}: {}",
                        u.reason.clone().unwrap_or_default()
                    )));
                }
                (phase, _) => {
                    let why = u
                        .reason
                        .clone()
                        .or_else(|| u.last_exit.map(|e| e.describe()))
                        .unwrap_or_default();
                    return Ok(HealthVerdict::Unhealthy(format!(
                        "{name} is {}{}",
                        phase.name(),
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(" ({why})")
                        }
                    )));
                }
            }
        }
        if starting.is_empty() {
            Ok(HealthVerdict::Healthy)
        } else {
            Ok(HealthVerdict::Starting(starting))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::supervisor::state::testkit::*;

    #[test]
    fn a_longrun_switched_off_by_control_and_done_is_healthy() {
        // s6-svc -O from a run script, then exit 0: the image's HEALTHCHECK must stay healthy
        // (a helper that has nothing to do, like an ACME renewer without a CA). A longrun that
        // ends by itself without the request is still unhealthy.
        let t0 = Instant::now();
        let mut core = Core::new(
            vec![
                (svc("helper", Kind::Longrun, &[]), Role::Service),
                (svc("web", Kind::Longrun, &[]), Role::Service),
            ],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_spawned(1, 11, t0);
        core.request_once(0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        assert!(
            spawned(&core.step(t0)).is_empty(),
            "switched off: not restarted"
        );
        assert_eq!(core.unit(0).phase, Phase::Done);
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        let mut core = Core::new(
            vec![(
                {
                    let mut s = svc("helper", Kind::Longrun, &[]);
                    s.restart = crate::config::Restart::Never;
                    s
                },
                Role::Service,
            )],
            false,
        );
        core.step(t0);
        core.on_spawned(0, 10, t0);
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        assert_eq!(core.unit(0).phase, Phase::Done);
        assert!(matches!(core.health(&[]), Ok(HealthVerdict::Unhealthy(_))));
    }

    #[test]
    fn read_api_reports_status_and_health_as_data() {
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
        assert_eq!(
            core.health(&[]),
            Ok(HealthVerdict::Starting(vec!["init".into(), "web".into()]))
        );
        assert_eq!(core.health(&["nope"]), Err("nope".into()));
        core.on_exit(0, ExitStatus::Code(0), t0);
        core.step(t0);
        core.on_spawned(1, 11, t0);
        assert_eq!(core.health(&[]), Ok(HealthVerdict::Healthy));
        // No process for a unit that is done: a signal request is refused, not queued.
        assert!(!core.request_signal(0, libc::SIGUSR1, t0));
        assert!(core.request_signal(1, libc::SIGUSR1, t0));
        assert_eq!(signals(&core.step(t0)), vec![(1, libc::SIGUSR1)]);
        let later = t0 + Duration::from_secs(3);
        let status = core.status(later);
        assert_eq!(status[1].name, "web");
        assert_eq!(status[1].kind, "longrun");
        assert_eq!(status[1].pid, Some(11));
        assert_eq!(status[1].uptime, Some(Duration::from_secs(3)));
        assert_eq!(status[0].last_exit, Some(0));
        core.on_exit(1, ExitStatus::Signal(libc::SIGKILL), later);
        match core.health(&["web"]) {
            Ok(HealthVerdict::Unhealthy(why)) => assert!(why.starts_with("web is "), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
