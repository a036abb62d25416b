//! The restart policy: `restart` (when a service that exited is started again) and
//! `[backoff]` (how long to wait before each try). Separate because these are the keys the
//! supervisor's restart decision reads, and `[backoff]` is a table with a rule of its own.
//! `max_restarts` and `restart_window` need no check beyond their type and are read in
//! `service.rs`.

use super::errors::{Errors, duration};
use crate::config::{Backoff, Kind, RawBackoff, Restart};

/// `restart`, from the file or [defaults]; absent, it depends on the kind.
pub(super) fn build_restart(restart: Option<&str>, kind: Kind, errors: &mut Errors) -> Restart {
    match restart {
        None => Restart::default_for(kind),
        Some("always") => Restart::Always,
        Some("on-failure") => Restart::OnFailure,
        Some("never") => Restart::Never,
        Some(other) => {
            errors.push(
                None,
                "restart",
                format!("unknown policy {other:?}: use \"always\", \"on-failure\" or \"never\""),
            );
            Restart::OnFailure
        }
    }
}

/// `[backoff]`, from the file or [defaults]; every key absent is its default.
pub(super) fn build_backoff(raw: RawBackoff, errors: &mut Errors) -> Backoff {
    let backoff = Backoff {
        initial: duration(
            errors,
            Some("backoff"),
            "initial",
            raw.initial,
            Backoff::DEFAULT.initial,
        ),
        factor: raw.factor.unwrap_or(Backoff::DEFAULT.factor),
        max: duration(
            errors,
            Some("backoff"),
            "max",
            raw.max,
            Backoff::DEFAULT.max,
        ),
        reset_after: duration(
            errors,
            Some("backoff"),
            "reset_after",
            raw.reset_after,
            Backoff::DEFAULT.reset_after,
        ),
        from_start: false,
    };
    if !(1.0..=100.0).contains(&backoff.factor) {
        errors.push(
            Some("backoff"),
            "factor",
            "must be between 1.0 and 100.0".into(),
        );
    }
    backoff
}
