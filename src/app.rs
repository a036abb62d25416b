//! The path of one container start, in order: cli → config → privilege → render →
//! supervise (+ control) → shutdown. Also the short-lived subcommands.

use crate::cli::{self, Command, Options};
use crate::config::{self, ConfigError, DEFAULT_RUN_DIR, GlobalFile, Kind, Service, Settings};
use crate::control;
use crate::exit;
use crate::log;
use crate::privilege::{self, PrivilegeSettings};
use crate::render::{self, Mode, RenderRequest};
use crate::supervisor::{self, RunContext, Supervisor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn main(args: Vec<String>) -> i32 {
    let env_lookup = |k: &str| std::env::var(k).ok();
    let (opts, command) = match cli::parse(&args, &env_lookup) {
        Ok(parsed) => parsed,
        Err(e) => {
            log::error(format!("{e}; see `pidone --help`"));
            return exit::USAGE;
        }
    };
    log::configure(
        opts.log_level.unwrap_or(log::Level::Info),
        opts.log_format.unwrap_or(log::Format::Text),
    );
    match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Command::Version => {
            println!("pidone {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Healthcheck { services } => {
            let mut words = vec!["health".to_string()];
            words.extend(services);
            client(&opts, &words, false)
        }
        Command::Status { json } => client(&opts, &["status".into()], json),
        Command::Control {
            verb,
            service,
            signal,
        } => {
            let mut words = vec![verb, service];
            words.extend(signal);
            client(&opts, &words, false)
        }
        Command::Check => check(&opts),
        Command::Render { out } => render_command(&opts, out),
        Command::Run { cmd } => run(&opts, cmd),
    }
}

/// Load the global file and resolve settings; errors are printed.
fn settings(opts: &Options) -> Result<(Settings, GlobalFile), i32> {
    let (settings, file) = config::settings::load(opts).map_err(|errs| report(&errs))?;
    log::configure(settings.log_level, settings.log_format);
    Ok((settings, file))
}

fn report(errors: &[ConfigError]) -> i32 {
    for e in errors {
        log::error(e.to_string());
    }
    exit::CONFIG
}

fn load_services(
    opts: &Options,
    settings: &Settings,
    file: &GlobalFile,
) -> Result<Vec<Service>, Vec<ConfigError>> {
    // The default directory may be absent (an image with CMD only); one that was named and
    // is missing is a typo, and treating it as empty would run nothing and answer healthy.
    if (opts.services_dir.is_some() || file.services_dir.is_some())
        && !settings.services_dir.exists()
    {
        let named_by = if opts.services_dir.is_some() {
            "--services-dir or PIDONE_SERVICES_DIR".to_string()
        } else {
            format!("services_dir in {}", settings.config.display())
        };
        return Err(vec![ConfigError {
            file: settings.services_dir.clone(),
            line: file
                .lines
                .get("services_dir")
                .copied()
                .filter(|_| opts.services_dir.is_none()),
            key: None,
            message: format!(
                "the services directory does not exist (named by {named_by}); fix the path or create the directory"
            ),
        }]);
    }
    let services = config::load_services(&settings.services_dir, &file.defaults)?;
    // `[render] after` must name oneshots (render waits for them to finish).
    let mut errors = Vec::new();
    for name in &file.render.after {
        match services.iter().find(|s| &s.name == name) {
            Some(s) if s.kind == Kind::Oneshot => {}
            found => errors.push(ConfigError {
                file: settings.config.clone(),
                line: file.lines.get("render.after").copied(),
                key: Some("render.after".into()),
                message: match found {
                    Some(_) => {
                        format!("{name:?} is a longrun; templates can only wait for oneshots")
                    }
                    None => format!("unknown service {name:?}"),
                },
            }),
        }
    }
    if errors.is_empty() {
        Ok(services)
    } else {
        Err(errors)
    }
}

fn has_templates(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

fn container_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn secrets_dir() -> PathBuf {
    std::env::var_os("PIDONE_SECRETS_DIR").map_or_else(|| "/run/secrets".into(), PathBuf::from)
}

/// Render with this process's environment (the container's, plus what oneshots handed on
/// when pidone runs this as its render step).
fn render_templates(
    settings: &Settings,
    file: &GlobalFile,
    mode: Mode,
) -> Result<Vec<PathBuf>, Vec<render::RenderError>> {
    let env = container_env();
    let secrets = secrets_dir();
    let req = RenderRequest {
        templates_dir: &settings.templates_dir,
        render_dir: &settings.render_dir,
        config: &file.render,
        env: &env,
        secrets_dir: &secrets,
    };
    render::render(&req, mode)
}

fn check(opts: &Options) -> i32 {
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    let mut code = 0;
    let services = match load_services(opts, &settings, &file) {
        Ok(s) => s,
        Err(errs) => {
            code = report(&errs);
            Vec::new()
        }
    };
    let rendered = match render_templates(&settings, &file, Mode::DryRun) {
        Ok(files) => files.len(),
        Err(errs) => {
            for e in &errs {
                log::error(e.to_string());
            }
            if code == 0 {
                code = exit::TEMPLATE;
            }
            0
        }
    };
    if code == 0 {
        log::info(format!(
            "check passed: {} service(s) in {}, {} template(s) in {}",
            services.len(),
            settings.services_dir.display(),
            rendered,
            settings.templates_dir.display()
        ));
    }
    code
}

fn render_command(opts: &Options, out: Option<PathBuf>) -> i32 {
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    let mode = match out {
        Some(dir) => Mode::OutDir(dir),
        None => Mode::Write,
    };
    match render_templates(&settings, &file, mode) {
        Ok(files) => {
            log::info(format!("rendered {} file(s)", files.len()));
            0
        }
        Err(errs) => {
            for e in &errs {
                log::error(e.to_string());
            }
            // secondary to the errors above, which name what to fix
            log::info("nothing was written; fix the templates or the environment and start again");
            exit::TEMPLATE
        }
    }
}

fn client(opts: &Options, words: &[String], json: bool) -> i32 {
    // The run dir may be set in the global file; a broken file must not stop a health probe
    // from reaching the socket, so fall back to the option or the default.
    let run_dir = match settings(opts) {
        Ok((s, _)) => s.run_dir,
        Err(_) => opts
            .run_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_RUN_DIR.into()),
    };
    match control::request(&run_dir, words) {
        Ok(reply) => {
            if json {
                println!("{}", reply.data);
            } else if !reply.text.is_empty() {
                println!("{}", reply.text);
            }
            reply.code
        }
        Err(e) => {
            println!("unreachable: {e}");
            exit::UNREACHABLE
        }
    }
}

fn run(opts: &Options, cmd: Vec<String>) -> i32 {
    crate::signals::take_over();
    crate::spawn::prepare_parent();
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    let services = match load_services(opts, &settings, &file) {
        Ok(s) => s,
        Err(errs) => {
            report(&errs);
            log::error("nothing was started; fix the service files and start again");
            return exit::CONFIG;
        }
    };
    if services.is_empty() && cmd.is_empty() {
        // Waiting for a signal with nothing to supervise looked healthy to `healthcheck`
        // while the container did nothing: an image or command-line mistake, said at once.
        log::error(format!(
            "nothing to supervise: no service files (*.toml) in {} and no command after `--`; add one or the other (to only render templates, use `pidone render`)",
            settings.services_dir.display()
        ));
        return exit::CONFIG;
    }

    // Privilege: the run and render dirs are created (and handed to the target user) while
    // still root.
    if let Err(e) =
        privilege::prepare_dirs_as_root(&settings, has_templates(&settings.templates_dir))
    {
        log::error(format!("refusing to start: {e}"));
        return exit::RUN_DIR;
    }
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
    let outcome = match privilege::apply(&PrivilegeSettings {
        user,
        allow_root: settings.allow_root,
        keep_caps: settings.keep_caps.clone(),
        allow_dangerous_caps: settings.allow_dangerous_caps,
    }) {
        Ok(o) => o,
        Err(e) => {
            log::error(format!("refusing to start: {e}"));
            return exit::PRIVILEGE;
        }
    };
    for w in &outcome.warnings {
        log::warn(w);
    }
    let mut env = container_env();
    warn_about_tz(&services, env.get("TZ").map(String::as_str));
    if let Some(id) = &outcome.dropped_to {
        if let Some(home) = &id.home {
            env.insert("HOME".into(), home.clone());
        }
        if let Some(name) = &id.name {
            env.insert("USER".into(), name.clone());
            env.insert("LOGNAME".into(), name.clone());
        }
    }
    let run_dir = match usable_run_dir(&settings.run_dir) {
        Ok(dir) => dir,
        Err(e) => {
            // After a drop the check ran as the target user: say so, as "permission denied"
            // on a directory root could enter (/root/...) is otherwise puzzling.
            let hint = outcome.dropped_to.as_ref().map_or(String::new(), |id| {
                format!(
                    " (checked as uid {}, the user pidone dropped to: it must be able to reach the run dir)",
                    id.uid
                )
            });
            log::error(format!("refusing to start: {e}{hint}"));
            return exit::RUN_DIR;
        }
    };

    let render_unit = has_templates(&settings.templates_dir).then(|| {
        let mut argv: Vec<String> = vec![
            "/proc/self/exe".into(),
            "render".into(),
            "--templates-dir".into(),
            settings.templates_dir.display().to_string(),
            "--render-dir".into(),
            settings.render_dir.display().to_string(),
            // Its lines pass through as pidone's own: they must be in the run's format.
            "--log-format".into(),
            match settings.log_format {
                log::Format::Text => "text".into(),
                log::Format::Json => "json".into(),
            },
        ];
        if settings.config.exists() {
            argv.extend(["--config".into(), settings.config.display().to_string()]);
        }
        (
            file.render.after.clone(),
            Service::with_defaults("render", argv, Kind::Oneshot),
        )
    });
    let cmd_unit = (!cmd.is_empty()).then(|| {
        let mut main = Service::with_defaults("main", cmd, Kind::Longrun);
        main.stop_signal = settings.stop_signal;
        main.stop_timeout = settings.grace;
        main.restart = config::Restart::Never;
        main.critical = true;
        main.max_runtime = opts.max_runtime.filter(|d| !d.is_zero());
        main.idle_timeout = opts.idle_timeout;
        main.warn_before = opts.warn_before;
        main.warn_signal = opts.warn_signal;
        main.warn_command = opts
            .warn_command
            .clone()
            .map(|c| vec!["/bin/sh".into(), "-c".into(), c]);
        main
    });
    // SAFETY: isatty on fd 0.
    let tty = cmd_unit.is_some() && unsafe { libc::isatty(0) } == 1;
    if let Some(main) = &cmd_unit
        && let Err(code) = check_cmd_limits(main, tty)
    {
        return code;
    }
    let units = supervisor::build_units(services, render_unit, cmd_unit);
    // The control socket is bound by the supervisor right after the first spawns (see run).
    let control_dir = Some(run_dir.clone());
    let ctx = RunContext {
        env,
        run_dir,
        grace: settings.grace,
        once: settings.once,
        tty,
    };
    let supervisor = match Supervisor::new(units, ctx, control_dir) {
        Ok(s) => s,
        Err(e) => {
            log::error(format!("cannot set up the event loop: {e}"));
            return exit::SOFTWARE;
        }
    };
    let code = supervisor.run();
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

/// CMD's session-limit options make sense together, and `--idle-timeout` has something to
/// observe: CMD's output goes to the container's stdout, not through pidone, so only on a
/// TTY (whose activity the kernel records) can pidone tell that CMD is idle.
fn check_cmd_limits(main: &Service, tty: bool) -> Result<(), i32> {
    let mut problems = crate::session::limit_problems(
        true,
        main.max_runtime,
        main.idle_timeout,
        main.warn_before,
        main.warn_signal.is_some() || main.warn_command.is_some(),
    );
    if main.idle_timeout.is_some() && !tty {
        problems.push((
            "idle_timeout",
            "needs CMD on a terminal (docker run -t): CMD writes to the container's output itself, so pidone can only tell it is idle from the terminal's activity".into(),
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    for (key, message) in problems {
        let option = key.replace('_', "-");
        let var = format!("PIDONE_{}", key.to_uppercase());
        log::error(format!("--{option} / {var}: {message}"));
    }
    Err(exit::USAGE)
}

/// After the drop: the configured run dir, created 0700 if missing and verified to be ours
/// (see `rundir`). Only when it is the default `/run/pidone` and cannot be created (a
/// non-root user on a laptop) is the per-user directory used instead, verified the same way.
fn usable_run_dir(configured: &Path) -> Result<PathBuf, String> {
    let dir = crate::rundir::absolute(configured);
    let err = match crate::rundir::create_private(&dir) {
        Ok(()) => return Ok(dir),
        Err(e) => e,
    };
    let missing = std::fs::symlink_metadata(&dir).is_err();
    if configured != Path::new(DEFAULT_RUN_DIR) || !missing {
        return Err(err);
    }
    let fallback = control::fallback_run_dir();
    crate::rundir::create_private(&fallback)
        .map_err(|e| format!("{err}; and the fallback: {e}"))?;
    log::info(format!(
        "run dir {DEFAULT_RUN_DIR} is not usable ({err}); using {}",
        fallback.display()
    ));
    Ok(fallback)
}
