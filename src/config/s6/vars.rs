//! The `S6_*` variables: each one honoured (parsed here, with a warning naming a bad value),
//! fulfilled already by what pidone does (said, with why), impossible under pidone (a warning
//! with why), or unknown (a warning). Apart from the layout: they come from the container's
//! environment, not from the image's trees (and `app` asks `stage2_failure_stops` on its own,
//! when the stage-2 hook fails).

use super::translate::S6Settings;
use crate::config::DependencyWait;
use std::collections::BTreeMap;
use std::time::Duration;

/// `S6_*` variables pidone honours (docs/s6-overlay.md says how). Every variable of
/// s6-overlay's README table is here, in `ALREADY_SO` or in `CANNOT_APPLY`; any other `S6_*` is
/// named in a warning.
pub(super) const KNOWN_VARS: &[&str] = &[
    "S6_BEHAVIOUR_IF_STAGE2_FAILS",
    "S6_CMD_WAIT_FOR_SERVICES_MAXTIME",
    "S6_KILL_GRACETIME",
    "S6_SERVICES_GRACETIME",
    "S6_KEEP_ENV",
    "S6_VERBOSITY",
    "S6_STAGE2_HOOK",
    "S6_READ_ONLY_ROOT",
    "S6_CMD_ARG0",
    "S6_KILL_FINISH_MAXTIME",
    "S6_RUNTIME_PROFILE",
    "S6_RUNTIME_BUNDLEDIR",
    "S6_SYNC_DISKS",
    // Read by the loggers (logutil-service) from the container environment, as under s6.
    "S6_LOGGING_SCRIPT",
];

/// Variables whose request pidone fulfils without acting on them, with why.
const ALREADY_SO: &[(&str, &str)] = &[
    (
        "S6_CMD_WAIT_FOR_SERVICES",
        "pidone always waits for services.d services to be ready before user2 and CMD (bounded by S6_CMD_WAIT_FOR_SERVICES_MAXTIME)",
    ),
    (
        "S6_SERVICES_READYTIME",
        "pidone knows when each services.d service started, so there is no race to sleep over",
    ),
    (
        "S6_CMD_RECEIVE_SIGNALS",
        "under pidone docker stop stops CMD first (the services after it), and other signals are forwarded to CMD",
    ),
    (
        "S6_CMD_USE_TERMINAL",
        "CMD always writes to the container's own output (its terminal under docker run -t), never to a catch-all logger",
    ),
    (
        "S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES",
        "pidone runs with any /run it can write; its own directories in it are checked for owner and mode",
    ),
];

/// Variables that cannot apply under pidone, with why (a warning when set).
const CANNOT_APPLY: &[(&str, &str)] = &[
    (
        "S6_CATCHALL_USER",
        "pidone has no catch-all logger (S6_LOGGING): services' output goes to the container's output",
    ),
    (
        "S6_FIX_ATTRS_HIDDEN",
        "pidone does not run /etc/fix-attrs.d (deprecated by s6-overlay; it needs root to chown): set ownership in the image or in a cont-init.d script",
    ),
    (
        "S6_WAIT_FOR_CLOSING_FD",
        "pidone does not wait for a container manager's file descriptor; it starts at once",
    ),
];

/// What the timing variables ask of pidone itself rather than of the translation.
pub(super) struct Timings {
    /// S6_KILL_GRACETIME: the delay before SIGKILL of leftovers at shutdown.
    pub kill_grace: Option<Duration>,
    /// CMD's dependency wait (S6_CMD_WAIT_FOR_SERVICES_MAXTIME, S6_BEHAVIOUR_IF_STAGE2_FAILS).
    pub cmd_wait: Option<DependencyWait>,
}

/// S6_BEHAVIOUR_IF_STAGE2_FAILS and the time limits, in this order (so are their warnings):
/// the translation's into `settings`, pidone's own returned.
pub(super) fn read_timings(
    env: &BTreeMap<String, String>,
    settings: &mut S6Settings,
    warnings: &mut Vec<String>,
) -> Timings {
    let ms = |name: &str, warnings: &mut Vec<String>| -> Option<Duration> {
        let v = env.get(name)?;
        match v.trim().parse::<u64>() {
            Ok(n) => Some(Duration::from_millis(n)),
            Err(_) => {
                warnings.push(format!(
                    "{name}={v:?} is not a number of milliseconds; ignored"
                ));
                None
            }
        }
    };
    let behaviour = match env.get("S6_BEHAVIOUR_IF_STAGE2_FAILS").map(|v| v.trim()) {
        None => 0,
        Some(v @ ("0" | "1" | "2")) => v.parse().unwrap_or(0),
        Some(v) => {
            warnings.push(format!(
                "S6_BEHAVIOUR_IF_STAGE2_FAILS={v:?} is not 0, 1 or 2; using 0"
            ));
            0
        }
    };
    settings.behaviour = behaviour;
    if let Some(d) = ms("S6_SERVICES_GRACETIME", warnings) {
        settings.services_grace = d;
    }
    if let Some(d) = ms("S6_KILL_FINISH_MAXTIME", warnings) {
        // 0: no limit, as s6's own time limits read it.
        settings.finish_maxtime = (!d.is_zero()).then_some(d);
    }
    let kill_grace = ms("S6_KILL_GRACETIME", warnings);
    // Unset is 0, no limit: s6-overlay's default since 3.2.0.0 (its README table, CHANGELOG).
    let cmd_wait_limit = ms("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", warnings).unwrap_or(Duration::ZERO);
    let cmd_wait = (!cmd_wait_limit.is_zero()).then_some(DependencyWait {
        limit: cmd_wait_limit,
        fail: behaviour >= 2,
    });
    Timings {
        kill_grace,
        cmd_wait,
    }
}

/// Every `S6_*` variable set, judged: the ones that need nothing from pidone, each with why
/// (returned); a warning for each one that cannot apply or is not known.
pub(super) fn judge_all(env: &BTreeMap<String, String>, warnings: &mut Vec<String>) -> Vec<String> {
    let mut accepted = Vec::new();
    for (name, value) in env.iter().filter(|(k, _)| k.starts_with("S6_")) {
        let table = |t: &[(&str, &'static str)]| t.iter().find(|(n, _)| n == name).map(|e| e.1);
        if name == "S6_LOGGING" {
            // 0 (the default): everything to the container's output, which is pidone's way.
            if value.trim() != "0" && !value.trim().is_empty() {
                warnings.push(format!(
                    "S6_LOGGING={value:?}: pidone has no catch-all logger in /var/log/s6-uncaught-logs; services' output goes to the container's output with each service's name (docker logs); ignored"
                ));
            }
        } else if let Some(why) = table(ALREADY_SO) {
            accepted.push(format!("{name}: nothing to do: {why}"));
        } else if let Some(why) = table(CANNOT_APPLY) {
            warnings.push(format!("{name} cannot apply: {why}; ignored"));
        } else if !KNOWN_VARS.contains(&name.as_str()) {
            warnings.push(format!(
                "{name} is not supported by pidone's s6 mode; ignored"
            ));
        }
    }
    accepted
}

/// S6_SYNC_DISKS: sync(2) before pidone exits.
pub(super) fn sync_disks(env: &BTreeMap<String, String>) -> bool {
    env.get("S6_SYNC_DISKS")
        .is_some_and(|v| v.trim().parse::<u64>().is_ok_and(|n| n != 0))
}

/// S6_CMD_ARG0: words put before CMD.
pub(super) fn cmd_arg0(env: &BTreeMap<String, String>) -> Vec<String> {
    env.get("S6_CMD_ARG0")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// S6_VERBOSITY as a log level (0 errors, 1 warnings, 2 info, 3+ debug).
pub(super) fn log_level(
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Option<crate::log::Level> {
    match env.get("S6_VERBOSITY").map(|v| v.trim().parse::<u8>()) {
        None => None,
        Some(Ok(0)) => Some(crate::log::Level::Error),
        Some(Ok(1)) => Some(crate::log::Level::Warn),
        Some(Ok(2)) => Some(crate::log::Level::Info),
        Some(Ok(_)) => Some(crate::log::Level::Debug),
        Some(Err(_)) => {
            warnings.push("S6_VERBOSITY is not a number 0-5; ignored".into());
            None
        }
    }
}

/// S6_BEHAVIOUR_IF_STAGE2_FAILS=2: a failure in stage 2 (S6_STAGE2_HOOK included) stops the
/// container. (`load` also warns about a value that is not 0, 1 or 2.)
pub fn stage2_failure_stops(env: &BTreeMap<String, String>) -> bool {
    env.get("S6_BEHAVIOUR_IF_STAGE2_FAILS").map(|v| v.trim()) == Some("2")
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::*;
    use std::path::Path;

    /// The variables of s6-overlay's README table ("Customizing s6-overlay behaviour"): each
    /// is honoured, needs nothing, or is named with why it cannot apply.
    #[test]
    fn every_variable_of_s6_overlays_table_is_handled() {
        const TABLE: &[&str] = &[
            "S6_KEEP_ENV",
            "S6_LOGGING",
            "S6_CATCHALL_USER",
            "S6_BEHAVIOUR_IF_STAGE2_FAILS",
            "S6_KILL_FINISH_MAXTIME",
            "S6_SERVICES_READYTIME",
            "S6_SERVICES_GRACETIME",
            "S6_KILL_GRACETIME",
            "S6_LOGGING_SCRIPT",
            "S6_CMD_ARG0",
            "S6_CMD_USE_TERMINAL",
            "S6_FIX_ATTRS_HIDDEN",
            "S6_CMD_WAIT_FOR_SERVICES",
            "S6_CMD_WAIT_FOR_SERVICES_MAXTIME",
            "S6_READ_ONLY_ROOT",
            "S6_SYNC_DISKS",
            "S6_STAGE2_HOOK",
            "S6_VERBOSITY",
            "S6_CMD_RECEIVE_SIGNALS",
            "S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES",
            "S6_WAIT_FOR_CLOSING_FD",
            "S6_RUNTIME_BUNDLEDIR",
            "S6_RUNTIME_PROFILE",
        ];
        let t = tempfile::tempdir().unwrap();
        for name in TABLE {
            let mut env = std::collections::BTreeMap::new();
            env.insert(name.to_string(), "1".to_string());
            // Profiles name a directory; any value will do for the others.
            if name.starts_with("S6_RUNTIME_") {
                env.insert(name.to_string(), String::new());
            }
            let l = load(
                t.path(),
                Path::new("/command"),
                None,
                "pidone",
                &env,
                false,
                None,
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let said: Vec<&String> = l.warnings.iter().chain(&l.accepted).collect();
            assert!(
                !said.iter().any(|w| w.contains("not supported by pidone")),
                "{name}: {said:?}"
            );
            let known = KNOWN_VARS.contains(name);
            assert!(
                known || said.iter().any(|w| w.starts_with(*name)),
                "{name} is neither honoured nor named: {said:?}"
            );
        }
    }
}
