//! `schedule`, `timezone` and `jitter`: when a scheduled oneshot runs, and the keys that make
//! no sense for one. Separate because it is the one part of a service that is a calendar,
//! with rules of its own (cron or `@every`, a fixed UTC offset).

use super::errors::{Errors, duration};
use crate::config::{Kind, RawService, Scheduled};
use std::time::Duration;

/// `schedule`, `timezone`, `jitter` and `then_reload` (service files only: [defaults]
/// refuses them). Only a oneshot can be scheduled: a longrun runs all the time anyway.
pub(super) fn build_schedule(
    raw: &RawService,
    kind: Kind,
    errors: &mut Errors,
) -> Option<Scheduled> {
    let Some(text) = &raw.schedule else {
        for (present, key) in [
            (raw.timezone.is_some(), "timezone"),
            (raw.jitter.is_some(), "jitter"),
            (raw.then_reload.is_some(), "then_reload"),
        ] {
            if present {
                errors.push(
                    None,
                    key,
                    "applies only to a scheduled oneshot; add `schedule = \"0 3 * * *\"` or remove it".into(),
                );
            }
        }
        return None;
    };
    if kind != Kind::Oneshot {
        errors.push(
            None,
            "schedule",
            "only a oneshot can be scheduled; add `kind = \"oneshot\"`".into(),
        );
        return None;
    }
    let when = match crate::schedule::Schedule::parse(text) {
        Ok(w) => w,
        Err(e) => {
            errors.push(None, "schedule", e);
            return None;
        }
    };
    let offset = match raw.timezone.as_deref().map(crate::schedule::parse_offset) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            errors.push(None, "timezone", e);
            0
        }
    };
    if raw.timezone.is_some() && matches!(when, crate::schedule::Schedule::Every(_)) {
        errors.push(
            None,
            "timezone",
            "`@every` counts from pidone's start; a time zone applies to cron expressions only"
                .into(),
        );
    }
    if raw.export_env == Some(true) {
        errors.push(
            None,
            "export_env",
            "a scheduled oneshot cannot hand environment on: the services it would go to started long before its runs".into(),
        );
    }
    if raw.critical == Some(true) {
        errors.push(
            None,
            "critical",
            "a failed scheduled run is logged and tried again at the next tick; it never ends the container, so it cannot be critical".into(),
        );
    }
    let jitter = duration(errors, None, "jitter", raw.jitter.clone(), Duration::ZERO);
    Some(Scheduled {
        when,
        offset,
        jitter,
        zone_given: raw.timezone.is_some(),
    })
}
