//! What the state machine's unit tests share: a service with defaults, and the actions of a
//! step sorted by kind.

pub(super) use super::unit::*;
pub(super) use super::*;
pub(super) use crate::config::{Kind, OnUnhealthy, ReadyCheck, Restart, Service};
pub(super) use std::time::{Duration, Instant};

pub(super) fn svc(name: &str, kind: Kind, after: &[&str]) -> Service {
    let mut s = Service::with_defaults(name, vec!["true".into()], kind);
    s.after = after.iter().map(|a| a.to_string()).collect();
    s
}

pub(super) fn spawned(actions: &[Action]) -> Vec<Idx> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn(i) => Some(*i),
            _ => None,
        })
        .collect()
}

pub(super) fn signals(actions: &[Action]) -> Vec<(Idx, i32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal(i, s) => Some((*i, *s)),
            _ => None,
        })
        .collect()
}

pub(super) fn helper_spawns(actions: &[Action]) -> Vec<Idx> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SpawnHelper(i) => Some(*i),
            _ => None,
        })
        .collect()
}

pub(super) fn with_stop(mut s: Service, timeout: Option<Duration>) -> Service {
    s.stop_command = Some(crate::config::StopCommand {
        argv: vec!["down".into()],
        timeout,
    });
    s
}

pub(super) fn checked(retries: u32, start_period: Duration) -> Service {
    let mut s = svc("web", Kind::Longrun, &[]);
    s.health = Some(crate::config::Health {
        probe: crate::config::Probe::File("/x".into()),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries,
        start_period,
        on_failure: OnUnhealthy::Restart,
    });
    s
}

/// Run the health check due at `t` with `ok`; returns the actions that follow.
pub(super) fn check_at(core: &mut Core, t: Instant, ok: bool) -> Vec<Action> {
    assert_eq!(core.next_deadline(), Some(t));
    assert_eq!(core.step(t), vec![Action::RunProbe(0, ProbeKind::Health)]);
    core.on_probe_result(0, ProbeKind::Health, ok, "x".into(), t);
    core.step(t)
}

/// The first health check, due as soon as the service is up (at `t`), fails: inside the
/// grace it is not counted and is tried again one second later (`interval` is 1 s here).
pub(super) fn first_check_fails_in_grace(core: &mut Core, t: Instant) {
    assert_eq!(core.step(t), vec![Action::RunProbe(0, ProbeKind::Health)]);
    core.on_probe_result(0, ProbeKind::Health, false, "x".into(), t);
    assert!(signals(&core.step(t)).is_empty());
    assert_eq!(core.units[0].health_failures, 0);
    assert_eq!(core.next_deadline(), Some(t + Duration::from_secs(1)));
}
