//! Session limits shared by services (`max_runtime`, `idle_timeout`, `warn_before` in their
//! files) and CMD (`--max-runtime`, `--idle-timeout`, `--warn-before`): the checks that make
//! a combination meaningful. The timers themselves are in the state machine.

use std::time::Duration;

/// What is wrong with a combination of session-limit settings, as (key, message) pairs.
/// `longrun`: the unit runs until stopped (a oneshot has `timeout` instead).
pub fn limit_problems(
    longrun: bool,
    max_runtime: Option<Duration>,
    idle_timeout: Option<Duration>,
    warn_before: Option<Duration>,
    has_warning: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if idle_timeout.is_some() && !longrun {
        out.push((
            "idle_timeout",
            "a oneshot has no idle_timeout; use `timeout` to bound how long it may run".into(),
        ));
    }
    let Some(before) = warn_before else {
        if has_warning {
            out.push((
                "warn_before",
                "warn_before is needed with warn_signal or warn_command: how long before the end to warn, e.g. \"1m\"".into(),
            ));
        }
        return out;
    };
    if max_runtime.is_none() && idle_timeout.is_none() {
        out.push((
            "warn_before",
            "warns before max_runtime or idle_timeout ends the session; set one of them".into(),
        ));
    }
    if !has_warning {
        out.push((
            "warn_before",
            "needs warn_signal (e.g. \"USR1\") or warn_command to say how to warn".into(),
        ));
    }
    // A warning at or before the start would be sent at once, every session.
    for (key, limit) in [("max_runtime", max_runtime), ("idle_timeout", idle_timeout)] {
        if let Some(l) = limit
            && before >= l
        {
            out.push((
                "warn_before",
                format!(
                    "({}) must be shorter than {key} ({})",
                    crate::values::format_duration(before),
                    crate::values::format_duration(l)
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Duration = Duration::from_secs(60);

    #[test]
    fn combinations() {
        assert!(limit_problems(true, Some(M), Some(M), Some(M / 2), true).is_empty());
        assert!(limit_problems(true, None, None, None, false).is_empty());
        let keys = |v: Vec<(&'static str, String)>| v.into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(
            keys(limit_problems(false, None, Some(M), None, false)),
            ["idle_timeout"]
        );
        assert_eq!(
            keys(limit_problems(true, None, None, Some(M), true)),
            ["warn_before"]
        );
        assert_eq!(
            keys(limit_problems(true, Some(M), None, Some(M), true)),
            ["warn_before"]
        );
        assert_eq!(
            keys(limit_problems(true, Some(M), None, Some(M / 2), false)),
            ["warn_before"]
        );
        assert_eq!(
            keys(limit_problems(true, Some(M), None, None, true)),
            ["warn_before"]
        );
    }
}
