//! `pidone run`, the container start (PID 1's path), as its recipe (`start`): settings →
//! services (pidone's own, and an s6-overlay layout when there is one: `s6::front`, asked at
//! each stage) → privilege drop → the services' environment → directories (`dirs.rs`) → the
//! s6 runtime files → units (`units.rs`) → supervise → exit code. Each step is a named
//! function; a step that ends the container says why and gives the exit code as its `Err`.

use super::load::{container_env, has_templates, load_services, report, settings};
use super::{dirs, units};
use crate::cli::Options;
use crate::config::{GlobalFile, Service, Settings};
use crate::exit;
use crate::log;
use crate::privilege::{self, Outcome, PrivilegeSettings};
use crate::s6::front::Source;
use crate::supervisor::{self, RunContext, Supervisor};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `pidone run [-- CMD...]`: the container's exit code.
pub(super) fn run(opts: &Options, cmd: Vec<String>) -> i32 {
    start(opts, cmd).unwrap_or_else(|code| code)
}

/// The recipe. Err: the exit code of a start that ended before the event loop ran.
fn start(opts: &Options, cmd: Vec<String>) -> Result<i32, i32> {
    prepare_process();
    let (settings, file) = settings(opts)?;
    // From here on pidone's own lines are kept for `pidone logs pidone` (start-up warnings
    // included); the supervisor adds a ring per unit.
    supervisor::logring::set_sources(settings.log_keep_bytes, &[]);
    let Plan {
        settings,
        services,
        cmd,
        source,
    } = plan(opts, settings, &file, cmd)?;
    let outcome = drop_privileges(&settings, &source)?;
    let mut env = container_env();
    warn_about_tz(&services, env.get("TZ").map(String::as_str));
    as_target_user(&mut env, &outcome);
    let run_dir = dirs::prepare(&settings, &outcome, &cmd)?;
    source.before_services(&mut env, &run_dir)?;
    let has_cmd = !cmd.is_empty();
    let added = units::added(opts, &settings, &file, cmd, source.cmd_wait())?;
    let ctx = context(opts, &settings, &source, env, run_dir, added.tty);
    let code = supervise(services, added, ctx)?;
    let code = source.after_run(code, has_cmd);
    Ok(exit_code(code, &settings))
}

/// The process as PID 1 needs it, before anything else.
fn prepare_process() {
    crate::signals::take_over();
    crate::spawn::prepare_parent();
    // Before the privilege drop: the non-blocking way to write stdout/stderr may be a reopen
    // of the pipe, which only its creator's uid may do (log/stdio.rs).
    log::prepare_outputs();
}

/// What a start runs: the settings (which the s6 layout may change), the services of every
/// source, CMD, and which sources they came from.
struct Plan {
    settings: Settings,
    services: Vec<Service>,
    cmd: Vec<String>,
    source: Source,
}

/// The services: pidone's own, then the s6 layout's when there is one (`Source::load`).
/// Err: the exit code (the problems were logged).
fn plan(
    opts: &Options,
    mut settings: Settings,
    file: &GlobalFile,
    mut cmd: Vec<String>,
) -> Result<Plan, i32> {
    let mut services = match load_services(opts, &settings, file) {
        Ok(s) => s,
        Err(errs) => {
            report(&errs);
            log::error("nothing was started; fix the service files and start again");
            return Err(exit::CONFIG);
        }
    };
    let source = Source::load(
        opts,
        &container_env(),
        &mut settings,
        &mut cmd,
        &mut services,
    )?;
    if services.is_empty() && cmd.is_empty() {
        // Waiting for a signal with nothing to supervise looked healthy to `healthcheck`
        // while the container did nothing: an image or command-line mistake, said at once.
        log::error(format!(
            "nothing to supervise: no service files (*.toml) in {} and no command after `--`; add one or the other (to only render templates, use `pidone render`)",
            settings.services_dir.display()
        ));
        return Err(exit::CONFIG);
    }
    Ok(Plan {
        settings,
        services,
        cmd,
        source,
    })
}

/// The privilege drop (`privilege::apply`), with the directories the target user needs
/// created before it. Err: the exit code.
fn drop_privileges(settings: &Settings, source: &Source) -> Result<Outcome, i32> {
    // An image's pidone.toml names the user to drop to when started as root; `docker run
    // --user 4242:0` starting pidone non-root is the documented override, not worth a warning.
    // Only a `--user`/`PIDONE_USER` given for this run and not applied is reported.
    let started_as_root = nix::unistd::geteuid().is_root();
    let user = if settings.user_from_file && !started_as_root {
        if let Some(spec) = &settings.user {
            log::debug(format!(
                "user {spec:?} of {} applies to root starts only; running as is",
                settings.config.display()
            ));
        }
        None
    } else {
        settings.user.clone()
    };
    // Privilege: as root, the render dir (when there are templates) and the run dir are
    // created for the target user before the drop; the render dir first, as it is often the
    // run dir's parent (the demo's target/demo) and then gets its own mode (0750: the render
    // step creates directories under it).
    let mut prepare_dirs = Vec::new();
    if has_templates(&settings.templates_dir) {
        prepare_dirs.push((settings.render_dir.clone(), 0o750));
    }
    prepare_dirs.push((settings.run_dir.clone(), crate::rundir::RUN_DIR_MODE));
    prepare_dirs.extend(source.dirs_for_target_user());
    let outcome = match privilege::apply(&PrivilegeSettings {
        user,
        allow_root: settings.allow_root,
        // s6-overlay runs an image's scripts as root (linuxserver's init-adduser runs
        // usermod and chown, then services drop with s6-setuidgid): a root start of an s6
        // layout without --user keeps root, said in one log line with how to drop instead.
        root_keeps_root: source.keeps_root(),
        keep_caps: settings.keep_caps.clone(),
        allow_dangerous_caps: settings.allow_dangerous_caps,
        prepare_dirs,
    }) {
        Ok(o) => o,
        Err(e) => {
            log::error(format!("refusing to start: {e}"));
            return match e {
                privilege::Refusal::Dirs(_) => Err(exit::RUN_DIR),
                privilege::Refusal::Drop(_) => Err(exit::PRIVILEGE),
            };
        }
    };
    for w in &outcome.warnings {
        log::warn(w);
    }
    Ok(outcome)
}

/// HOME, USER and LOGNAME of the user pidone dropped to, when it dropped.
fn as_target_user(env: &mut BTreeMap<String, String>, outcome: &Outcome) {
    if let Some(id) = &outcome.dropped_to {
        if let Some(home) = &id.home {
            env.insert("HOME".into(), home.clone());
        }
        if let Some(name) = &id.name {
            env.insert("USER".into(), name.clone());
            env.insert("LOGNAME".into(), name.clone());
        }
    }
}

/// What the event loop is given besides the units.
fn context(
    opts: &Options,
    settings: &Settings,
    source: &Source,
    env: BTreeMap<String, String>,
    run_dir: PathBuf,
    tty: bool,
) -> RunContext {
    RunContext {
        env,
        run_dir,
        grace: settings.grace,
        once: settings.once,
        tty,
        log_keep_bytes: settings.log_keep_bytes,
        reload_from: source.is_native().then(|| supervisor::ConfigSource {
            services_dir: settings.services_dir.clone(),
            config: settings.config.clone(),
            config_named: opts.config.is_some(),
        }),
    }
}

/// The event loop over every unit, until it ends: pidone's own exit code.
fn supervise(services: Vec<Service>, added: units::Added, ctx: RunContext) -> Result<i32, i32> {
    let units = supervisor::build_units(services, added.render, added.cmd);
    // The control socket is bound by Supervisor::new, before the first spawn.
    let control_dir = Some(ctx.run_dir.clone());
    let supervisor = match Supervisor::new(units, ctx, control_dir) {
        Ok(s) => s,
        Err(e) => {
            log::error(format!("cannot set up the event loop: {e}"));
            return Err(exit::SOFTWARE);
        }
    };
    Ok(supervisor.run())
}

/// `--map-exit` applied, and said.
fn exit_code(code: i32, settings: &Settings) -> i32 {
    let mapped = exit::map_exit_code(code, &settings.map_exit);
    log::info(format!(
        "exiting with code {mapped}{}",
        if mapped != code {
            format!(" (mapped from {code})")
        } else {
            String::new()
        }
    ));
    mapped
}

/// A container with `TZ=Europe/Berlin` whose cron expressions are read in UTC would run its
/// tasks at hours nobody meant, in silence: say so once at start. Named zones are not
/// supported (tzdata is often missing, and DST makes times happen twice or never); a cron
/// schedule without `timezone` is UTC.
fn warn_about_tz(services: &[Service], tz: Option<&str>) {
    let Some(tz) = tz.map(|t| t.trim_start_matches(':')) else {
        return;
    };
    if tz.is_empty() || crate::schedule::parse_offset(tz) == Ok(0) || tz == "UTC0" {
        return;
    }
    let utc: Vec<&str> = services
        .iter()
        .filter(|s| {
            s.schedule.as_ref().is_some_and(|sch| {
                !sch.zone_given && matches!(sch.when, crate::schedule::Schedule::Cron(_))
            })
        })
        .map(|s| s.name.as_str())
        .collect();
    if !utc.is_empty() {
        log::warn(format!(
            "TZ={tz} is not used for schedules: {} run on UTC times; give them `timezone` (\"UTC\" or an offset like \"+01:00\") to say which",
            utc.join(", ")
        ));
    }
}
