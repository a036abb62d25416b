//! `pidone reload` (supervisorctl's reread + update, Pebble's replan), the one job of this
//! file: read the services dir and the global file's `[defaults]` again, validate them as
//! at start, and apply the difference to the running set. On any error nothing changes and
//! the errors are the answer (exit 78). Otherwise services whose file is new start, those
//! whose file is gone stop, those whose definition changed (their file, or a default they
//! take) stop and start again with the new one once their dependencies are ready again, and
//! the rest are left alone: same process, same pid.
//!
//! Not reloaded: pidone's own settings (user, directories, log format, `[render]`: they
//! were applied before anything started), CMD, and an s6-overlay layout.

use super::{Role, Supervisor, logring, state::Core, state::Idx};
use crate::config::{self, ConfigError, Service};
use crate::control::Reply;
use std::path::PathBuf;
use std::time::Instant;

/// Where the services come from, as at start.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub services_dir: PathBuf,
    /// The global file (its `[defaults]`).
    pub config: PathBuf,
    /// The global file was named (`--config`): it must exist.
    pub config_named: bool,
}

/// What a reload changes.
#[derive(Debug, Default)]
struct Plan {
    added: Vec<Service>,
    changed: Vec<(Idx, Service)>,
    removed: Vec<Idx>,
    unchanged: usize,
}

/// Read and validate everything, as `pidone` does at start.
fn load(src: &ConfigSource) -> Result<Vec<Service>, Vec<ConfigError>> {
    let global = config::load_global(&src.config, src.config_named)?;
    config::load_services(&src.services_dir, &global.defaults)
}

/// Compare the new services with the running ones (the render step's dependency added to
/// the new ones as at start, so that it is not a difference).
fn plan(core: &Core, mut new: Vec<Service>) -> Plan {
    let render = core.units().iter().find(|u| u.role() == Role::Render);
    if let Some(r) = render {
        super::units::wait_for_render(&mut new, &r.spec().after, &r.spec().name);
    }
    let mut plan = Plan::default();
    for (i, u) in core.units().iter().enumerate() {
        let listed = core.index(&u.spec().name) == Some(i);
        if u.role() == Role::Service && listed && !new.iter().any(|s| s.name == u.spec().name) {
            plan.removed.push(i);
        }
    }
    for spec in new {
        match core.index(&spec.name) {
            Some(i) if core.unit(i).role() == Role::Service => {
                if *core.unit(i).spec() == spec {
                    plan.unchanged += 1;
                } else {
                    plan.changed.push((i, spec));
                }
            }
            // (config refuses the names `main` and `render`)
            _ => plan.added.push(spec),
        }
    }
    plan
}

impl Supervisor {
    /// Answer `pidone reload`.
    pub(super) fn reload_config(&mut self, now: Instant) -> Reply {
        let Some(src) = self.ctx.reload_from.clone() else {
            return Reply::new(
                1,
                "reload reads pidone's services dir; this run reads an s6-overlay layout, which is not reloaded: restart the container",
            );
        };
        if self.core.shutting_down() {
            return Reply::new(1, "pidone is shutting down");
        }
        let new = match load(&src) {
            Ok(s) => s,
            Err(errors) => {
                let mut text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                text.push(
                    "nothing was changed; fix the service files and run `pidone reload` again"
                        .into(),
                );
                return Reply::new(crate::exit::CONFIG, text.join("\n"));
            }
        };
        let plan = plan(&self.core, new);
        let name = |core: &Core, i: Idx| core.unit(i).spec().name.clone();
        let mut started = Vec::new();
        let mut restarted = Vec::new();
        let mut stopped = Vec::new();
        for &i in &plan.removed {
            stopped.push(name(&self.core, i));
        }
        self.core.retire_units(&plan.removed, now);
        for (i, spec) in plan.changed {
            restarted.push(name(&self.core, i));
            self.core.reconfigure_unit(i, spec, now);
        }
        for spec in plan.added {
            started.push(spec.name.clone());
            self.core.add_unit(spec);
        }
        self.core.relink();
        // What the loop keeps per unit: log rings, notify sockets, pipes, inotify.
        let names: Vec<&str> = self
            .core
            .units()
            .iter()
            .map(|u| u.spec().name.as_str())
            .collect();
        logring::set_sources(self.ctx.log_keep_bytes, &names);
        let mut problems = Vec::new();
        if let Err(e) = self.setup_notify_sockets() {
            problems.push(format!("notify sockets: {e}"));
        }
        if let Err(e) = self.setup_pipelines() {
            problems.push(format!("stdout_to pipes: {e}"));
        }
        self.watch_reload_on();
        let list = |what: &str, names: &[String]| {
            (!names.is_empty()).then(|| format!("{what} {}", names.join(", ")))
        };
        let mut parts: Vec<String> = [
            list("started", &started),
            list("stopped", &stopped),
            list("restarted", &restarted),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.push(format!("{} unchanged", plan.unchanged));
        let summary = format!("{} at {}", parts.join("; "), crate::log::rfc3339_now());
        crate::log::info(format!("reload: {summary}"));
        self.core.set_last_reload(summary.clone());
        if problems.is_empty() {
            Reply::new(0, format!("reload: {summary}"))
        } else {
            Reply::new(
                crate::exit::SOFTWARE,
                format!("reload: {summary}; but {}", problems.join("; ")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    fn svc(name: &str, cmd: &str) -> Service {
        Service::with_defaults(name, vec![cmd.into()], Kind::Longrun)
    }

    #[test]
    fn plan_tells_added_changed_removed_and_unchanged() {
        let core = Core::new(
            vec![
                (svc("same", "a"), Role::Service),
                (svc("edit", "a"), Role::Service),
                (svc("gone", "a"), Role::Service),
                (svc("main", "cmd"), Role::Main),
            ],
            false,
        );
        let p = plan(
            &core,
            vec![svc("same", "a"), svc("edit", "b"), svc("new", "a")],
        );
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.changed.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
        assert_eq!(p.removed, [2]);
        assert_eq!(p.added.len(), 1);
        assert_eq!(p.added[0].name, "new");
    }
}
