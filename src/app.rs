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
    match args.first().map(String::as_str) {
        Some("s6-shims") => return s6_shims(&args[1..]),
        // internal: the cont-init.d stage of the s6 mode (see s6::translate)
        Some("s6-run-scripts") => return crate::s6::run_scripts(&args[1..]),
        // `docker exec C /init s6-svc -d /run/service/x`: the control shims answer as
        // subcommands too (as a CMD they make no sense, and starting a second pidone with
        // them as its CMD was what happened). with-contenv, s6-setuidgid and halt are only
        // answered by their own name: `CMD ["with-contenv", ...]` must stay a CMD.
        Some(shim @ ("s6-svc" | "s6-svscanctl" | "s6-svwait" | "s6-svstat")) => {
            return crate::s6::shims::dispatch(shim, &args[1..]).unwrap_or(exit::SOFTWARE);
        }
        _ => {}
    }
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
            print!("{}", version());
            0
        }
        Command::Healthcheck { services } => {
            let mut words = vec!["health".to_string()];
            words.extend(services);
            // Its verdict ("unhealthy: ...") is an answer, not an error: Docker shows it.
            client(&opts, &words, Show::Verdict)
        }
        Command::Status { json } => client(
            &opts,
            &["status".into()],
            if json { Show::Data } else { Show::Text },
        ),
        Command::Logs { words, follow } => {
            if follow {
                follow_logs(&opts, &words)
            } else {
                client(&opts, &words, Show::Text)
            }
        }
        Command::Reload => client(&opts, &["reload".into()], Show::Text),
        Command::Control {
            verb,
            service,
            signal,
        } => {
            let mut words = vec![verb, service];
            words.extend(signal);
            client(&opts, &words, Show::Text)
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
    let mut services = match load_services(opts, &settings, &file) {
        Ok(s) => s,
        Err(errs) => {
            code = report(&errs);
            Vec::new()
        }
    };
    let native = services.len();
    let mut s6_services = None;
    match load_s6(opts, services.len(), true) {
        Ok(Some(s6)) => {
            for w in &s6.loaded.warnings {
                log::warn(w);
            }
            for a in &s6.loaded.accepted {
                log::info(a);
            }
            for n in &s6.loaded.notes {
                log::warn(n);
            }
            for n in &s6.loaded.infos {
                log::info(n);
            }
            if std::env::var_os("S6_STAGE2_HOOK").is_some_and(|h| !h.is_empty()) {
                log::info("S6_STAGE2_HOOK is not run by check: this is the layout before it");
            }
            println!("s6-overlay layout in {}:", s6.root.display());
            for svc in &s6.loaded.services {
                println!("  {}", crate::config::s6::translate::describe(svc));
            }
            s6_services = Some((s6.loaded.services.len(), s6.root.clone()));
            services.extend(s6.loaded.services);
        }
        Ok(None) => {}
        Err(c) => code = c,
    }
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
        let s6 = s6_services.map_or(String::new(), |(n, root)| {
            format!(", {n} from the s6-overlay layout in {}", root.display())
        });
        log::info(format!(
            "check passed: {native} service(s) in {}{s6}, {} template(s) in {}",
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

/// `pidone version`: what a bug report needs.
fn version() -> String {
    let libc = if cfg!(target_env = "musl") {
        "musl"
    } else if cfg!(target_env = "gnu") {
        "glibc"
    } else {
        "unknown libc"
    };
    let linking = if cfg!(target_feature = "crt-static") {
        "static"
    } else {
        "dynamically linked"
    };
    format!(
        "pidone {}\ncommit {}\ntarget {} ({libc}, {linking})\n",
        env!("CARGO_PKG_VERSION"),
        env!("PIDONE_COMMIT"),
        env!("PIDONE_TARGET"),
    )
}

/// How a client shows the server's answer.
#[derive(Clone, Copy, PartialEq)]
enum Show {
    /// The text; a failure is an error (`pidone: error: ...` on stderr).
    Text,
    /// The JSON data (`status --json`); a failure as for `Text`.
    Data,
    /// `healthcheck`: the verdict on stdout, whatever it is.
    Verdict,
}

/// Where the control socket is. The run dir may be set in the global file; a broken file
/// must not stop a health probe from reaching the socket, so fall back to the option or the
/// default.
fn client_run_dir(opts: &Options) -> PathBuf {
    match settings(opts) {
        Ok((s, _)) => s.run_dir,
        Err(_) => opts
            .run_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_RUN_DIR.into()),
    }
}

fn client(opts: &Options, words: &[String], show: Show) -> i32 {
    match control::request(&client_run_dir(opts), words) {
        Ok(reply) => {
            if reply.code != 0 && show != Show::Verdict {
                // (one error per line: `reload` answers with every configuration error)
                for line in reply.text.lines() {
                    log::error(line);
                }
            } else if show == Show::Data {
                println!("{}", reply.data);
            } else if !reply.text.is_empty() {
                println!("{}", reply.text);
            }
            reply.code
        }
        Err(e) => {
            log::error(format!("unreachable: {e}"));
            exit::UNREACHABLE
        }
    }
}

/// `pidone logs -f`: the recent lines, then every new one until interrupted.
fn follow_logs(opts: &Options, words: &[String]) -> i32 {
    match control::follow(&client_run_dir(opts), words, &mut std::io::stdout()) {
        Ok(Err(reply)) => {
            log::error(&reply.text);
            reply.code
        }
        Ok(Ok(())) => {
            log::error(
                "the log stream ended: pidone stopped, or dropped this follower because it did not read its output",
            );
            exit::UNREACHABLE
        }
        Err(e) => {
            log::error(format!("unreachable: {e}"));
            exit::UNREACHABLE
        }
    }
}

fn run(opts: &Options, cmd: Vec<String>) -> i32 {
    crate::signals::take_over();
    crate::spawn::prepare_parent();
    // Before the privilege drop: the non-blocking way to write stdout/stderr may be a reopen
    // of the pipe, which only its creator's uid may do (log/stdio.rs).
    log::prepare_outputs();
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    // From here on pidone's own lines are kept for `pidone logs pidone` (start-up warnings
    // included); the supervisor adds a ring per unit.
    supervisor::logring::set_sources(settings.log_keep_bytes, &[]);
    let mut services = match load_services(opts, &settings, &file) {
        Ok(s) => s,
        Err(errs) => {
            report(&errs);
            log::error("nothing was started; fix the service files and start again");
            return exit::CONFIG;
        }
    };
    let hook_env = match stage2_hook(opts, services.len()) {
        Ok(vars) => vars,
        Err(code) => return code,
    };
    let s6 = match load_s6(opts, services.len(), false) {
        Ok(s6) => s6,
        Err(code) => return code,
    };
    let mut settings = settings;
    let mut cmd = cmd;
    if let Some(s6) = &s6 {
        for w in &s6.loaded.warnings {
            log::warn(w);
        }
        for a in &s6.loaded.accepted {
            log::info(a);
        }
        for n in &s6.loaded.notes {
            log::warn(n);
        }
        for n in &s6.loaded.infos {
            log::info(n);
        }
        let shadowed = crate::s6::shims::shadowed(&s6.command_dir, &s6.self_exe);
        if !shadowed.is_empty() {
            log::warn(format!(
                "{} in {} are s6-overlay's own; they talk to s6-supervise, which pidone does not run, so services get pidone's versions first on PATH ({}); scripts naming {}/s6-svc and the like by path still reach s6-overlay's: delete s6-overlay and run `pidone s6-shims {}`",
                shadowed.join(", "),
                s6.command_dir.display(),
                crate::s6::shim_dir(&s6.base).display(),
                s6.command_dir.display(),
                s6.command_dir.display(),
            ));
        }
        // S6_VERBOSITY sets the log level unless PIDONE_LOG / --log-level does.
        if opts.log_level.is_none()
            && let Some(level) = s6.loaded.log_level
        {
            settings.log_level = level;
            log::configure(settings.log_level, settings.log_format);
        }
        if let Some(g) = s6.loaded.kill_grace {
            settings.grace = g;
        }
        if !cmd.is_empty() && !s6.loaded.cmd_arg0.is_empty() {
            cmd = s6.loaded.cmd_arg0.iter().cloned().chain(cmd).collect();
        }
        services.extend(s6.loaded.services.iter().cloned());
    }
    if services.is_empty() && cmd.is_empty() {
        // Waiting for a signal with nothing to supervise looked healthy to `healthcheck`
        // while the container did nothing: an image or command-line mistake, said at once.
        log::error(format!(
            "nothing to supervise: no service files (*.toml) in {} and no command after `--`; add one or the other (to only render templates, use `pidone render`)",
            settings.services_dir.display()
        ));
        return exit::CONFIG;
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
    // Privilege: as root, the render dir (when there are templates) and the run dir are
    // created for the target user before the drop; the render dir first, as it is often the
    // run dir's parent (the demo's target/demo) and then gets its own mode (0750: the render
    // step creates directories under it).
    let mut prepare_dirs = Vec::new();
    if has_templates(&settings.templates_dir) {
        prepare_dirs.push((settings.render_dir.clone(), 0o750));
    }
    prepare_dirs.push((settings.run_dir.clone(), crate::rundir::RUN_DIR_MODE));
    // s6 mode: the runtime files are written after the drop, into directories of the
    // target user (a root-owned /run is Kubernetes' default, s6-overlay #600).
    if let Some(s6) = &s6 {
        for d in ["s6", "service", "s6-rc", "s6-linux-init-container-results"] {
            prepare_dirs.push((s6.base.join(d), 0o755));
        }
    }
    let outcome = match privilege::apply(&PrivilegeSettings {
        user,
        allow_root: settings.allow_root,
        // s6-overlay runs an image's scripts as root (linuxserver's init-adduser runs
        // usermod and chown, then services drop with s6-setuidgid): a root start of an s6
        // layout without --user keeps root, said in one log line with how to drop instead.
        root_keeps_root: s6.is_some(),
        keep_caps: settings.keep_caps.clone(),
        allow_dangerous_caps: settings.allow_dangerous_caps,
        prepare_dirs,
    }) {
        Ok(o) => o,
        Err(e) => {
            log::error(format!("refusing to start: {e}"));
            return match e {
                privilege::Refusal::Dirs(_) => exit::RUN_DIR,
                privilege::Refusal::Drop(_) => exit::PRIVILEGE,
            };
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
    // The render step would fail on a render dir it cannot create with a template error
    // (exit 65, "fix the templates"): the fix is the image's /run, said here, before anything.
    if has_templates(&settings.templates_dir)
        && let Err(e) = writable_dir(&settings.render_dir)
    {
        log::error(format!(
            "refusing to start: cannot create the render dir {}: {e}{}",
            settings.render_dir.display(),
            unwritable_dir_fix("--render-dir (PIDONE_RENDER_DIR)")
        ));
        return exit::RUN_DIR;
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
            // A directory that could not be created (rather than one that is not ours):
            // the image's /run is the usual cause.
            let fix = if std::fs::symlink_metadata(&settings.run_dir).is_err() {
                unwritable_dir_fix("--run-dir (PIDONE_RUN_DIR)")
            } else {
                String::new()
            };
            log::error(format!("refusing to start: {e}{hint}{fix}"));
            return exit::RUN_DIR;
        }
    };
    if let Some(e) = control::live_server(&run_dir) {
        // `docker exec C /init stauts`: say what it was asked to run, which was maybe meant
        // as a pidone command.
        let asked = match cmd.first() {
            Some(program) => format!(
                " `{program}` (given as the command to run; for pidone's own commands see `pidone --help`)"
            ),
            None => String::new(),
        };
        log::error(format!("refusing to start{asked}: {e}"));
        return exit::RUN_DIR;
    }

    if let Some(s6) = &s6 {
        // The shims (s6-svc, halt, ...) find the control socket and the runtime files here.
        env.insert("PIDONE_RUN_DIR".into(), run_dir.display().to_string());
        env.insert("PIDONE_S6_RUN_DIR".into(), s6.base.display().to_string());
        // The container environment is what services start with, PATH included, and what
        // S6_STAGE2_HOOK added to it.
        let mut contenv = s6_container_env(&env, &S6Paths::of(opts));
        contenv.extend(hook_env);
        if let Err(e) =
            crate::s6::write_runtime(&s6.base, &contenv, &s6.loaded.live_dirs, &s6.self_exe)
        {
            log::error(format!("refusing to start: {e}"));
            return exit::RUN_DIR;
        }
    }
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
            Service::with_defaults(supervisor::RENDER_UNIT, argv, Kind::Oneshot),
        )
    });
    let has_cmd = !cmd.is_empty();
    let cmd_unit = (!cmd.is_empty()).then(|| {
        let mut main = Service::with_defaults("main", cmd, Kind::Longrun);
        main.stop_signal = settings.stop_signal;
        main.stop_timeout = settings.grace;
        main.restart = config::Restart::Never;
        main.critical = true;
        main.dependency_wait = s6.as_ref().and_then(|s6| s6.loaded.cmd_wait);
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
    // The control socket is bound by Supervisor::new, before the first spawn.
    let control_dir = Some(run_dir.clone());
    let ctx = RunContext {
        env,
        run_dir,
        grace: settings.grace,
        once: settings.once,
        tty,
        log_keep_bytes: settings.log_keep_bytes,
        reload_from: s6.is_none().then(|| supervisor::ConfigSource {
            services_dir: settings.services_dir.clone(),
            config: settings.config.clone(),
            config_named: opts.config.is_some(),
        }),
    };
    let supervisor = match Supervisor::new(units, ctx, control_dir) {
        Ok(s) => s,
        Err(e) => {
            log::error(format!("cannot set up the event loop: {e}"));
            return exit::SOFTWARE;
        }
    };
    let mut code = supervisor.run();
    // s6-overlay's rule: without CMD the exit code is the exitcode file's, which a finish
    // script may have written. It starts as 0, so a 0 there leaves pidone's own code (a
    // failed start) standing.
    if let Some(s6) = &s6
        && !has_cmd
        && let Some(file_code) = crate::s6::shims::read_exitcode(&s6.base)
        && file_code != 0
    {
        code = file_code;
    }
    if s6.as_ref().is_some_and(|s6| s6.loaded.sync_disks) {
        // S6_SYNC_DISKS: flush the filesystems before the container ends (on Linux sync(2)
        // waits for the writes; it may sync the host's filesystems too, as under s6).
        log::info("S6_SYNC_DISKS: syncing filesystems");
        // SAFETY: sync(2) has no arguments and cannot fail.
        unsafe { libc::sync() };
    }
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

/// S6_STAGE2_HOOK (s6 mode): run before the layout is read, so its edits of the s6-rc.d tree
/// count, and after `/run/s6/container_environment` is written, so a `#!/command/with-contenv`
/// hook works (s6-overlay's order). Ok: the variables the hook added to (or changed in)
/// container_environment, which the services get too; Err(exit code) when the container ends
/// here: a stop signal while it ran, its failure with S6_BEHAVIOUR_IF_STAGE2_FAILS=2, or a
/// container_environment pidone cannot write.
fn stage2_hook(opts: &Options, native_services: usize) -> Result<BTreeMap<String, String>, i32> {
    use crate::s6::hook::{self, HookEnd};
    let env = container_env();
    let Some(hook) = env.get("S6_STAGE2_HOOK").filter(|h| !h.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let paths = S6Paths::of(opts);
    if !crate::config::s6::wanted(opts.s6, native_services, &paths.root) {
        return Ok(BTreeMap::new());
    }
    let contenv = s6_container_env(&env, &paths);
    let envdir = crate::s6::shims::container_environment(&paths.base);
    let created_s6_dir = !paths.base.join("s6").exists();
    if let Err(e) = crate::s6::write_container_environment(&paths.base, &contenv) {
        log::error(format!("refusing to start: {e}"));
        return Err(exit::RUN_DIR);
    }
    // Its first word names it in the log; the rest may hold values that are nobody's business.
    let first = hook.split_whitespace().next().unwrap_or_default();
    let what = format!("S6_STAGE2_HOOK ({first} ...)");
    let limit = crate::values::format_duration(hook::HOOK_TIME_LIMIT);
    log::info(format!(
        "running {what} before reading the s6 layout (time limit {limit})"
    ));
    let ended = hook::run(hook, &contenv, hook::HOOK_TIME_LIMIT);
    // What the hook wrote into container_environment counts for the services, as under
    // s6-overlay. As root the directory is removed again: it is written anew after the
    // privilege drop, by the user the services run as.
    let added: BTreeMap<String, String> = crate::config::s6::envdir::read(&envdir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .filter(|(k, v)| contenv.get(k) != Some(v))
        .collect();
    if nix::unistd::geteuid().is_root() {
        let _ = std::fs::remove_dir_all(&envdir);
        if created_s6_dir {
            let _ = std::fs::remove_dir(paths.base.join("s6"));
        }
    }
    let (why, code) = match ended {
        Ok(HookEnd::Exited(status)) if status.success() => return Ok(added),
        Ok(HookEnd::Exited(status)) => (status.describe(), status.code()),
        Ok(HookEnd::TimedOut) => (
            format!("was still running after {limit}; killed"),
            128 + libc::SIGKILL,
        ),
        Ok(HookEnd::StopSignal(sig)) => {
            log::info(format!(
                "received {} while {what} ran: stopped it; nothing was started",
                crate::values::signal_name(sig)
            ));
            return Err(0);
        }
        Err(e) => (format!("could not be started: {e}"), exit::CANNOT_EXECUTE),
    };
    if crate::config::s6::stage2_failure_stops(&env) {
        log::error(format!(
            "{what} {why}; S6_BEHAVIOUR_IF_STAGE2_FAILS=2: nothing is started"
        ));
        Err(code.max(1))
    } else {
        log::warn(format!(
            "{what} {why}; starting anyway (S6_BEHAVIOUR_IF_STAGE2_FAILS=2 would stop here)"
        ));
        Ok(added)
    }
}

/// Where the s6 mode reads and writes: the layout's root, the runtime base (`/run`), the
/// image's `/command`.
struct S6Paths {
    root: PathBuf,
    base: PathBuf,
    command_dir: PathBuf,
}

impl S6Paths {
    fn of(opts: &Options) -> S6Paths {
        S6Paths {
            root: opts.s6_root.clone().unwrap_or_else(|| "/".into()),
            base: opts.s6_run_dir.clone().unwrap_or_else(|| "/run".into()),
            command_dir: std::env::var_os("PIDONE_S6_COMMAND_DIR")
                .map_or_else(|| PathBuf::from("/command"), PathBuf::from),
        }
    }
}

/// The container environment as s6 services start with it: `env` with their `PATH` (scripts
/// after with-contenv still find s6-svc by name).
fn s6_container_env(env: &BTreeMap<String, String>, paths: &S6Paths) -> BTreeMap<String, String> {
    let mut contenv = env.clone();
    // Where the shims (with-contenv in a hook included) find the runtime files.
    contenv.insert("PIDONE_S6_RUN_DIR".into(), paths.base.display().to_string());
    let shims = crate::s6::shim_dir(&paths.base);
    contenv.insert(
        "PATH".into(),
        crate::config::s6::translate::service_path(Some(&shims), &paths.command_dir),
    );
    contenv
}

/// The s6 layout, when pidone runs one (see `s6::wanted`).
struct S6Run {
    loaded: crate::config::s6::Loaded,
    root: PathBuf,
    /// Base of the runtime files (`/run`).
    base: PathBuf,
    /// Where the image's `/command` is (PIDONE_S6_COMMAND_DIR, for tests and for images
    /// that keep the shims elsewhere).
    command_dir: PathBuf,
    self_exe: PathBuf,
}

/// `for_check`: `pidone check`, which reads `--s6-root` as an image's root filesystem.
fn load_s6(opts: &Options, native_services: usize, for_check: bool) -> Result<Option<S6Run>, i32> {
    let S6Paths {
        root,
        base,
        command_dir,
    } = S6Paths::of(opts);
    if !crate::config::s6::wanted(opts.s6, native_services, &root) {
        return Ok(None);
    }
    // A symlink to the binary on the image: it executes even from a noexec /run.
    let self_exe = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| "/init".into());
    let shims = crate::s6::shim_dir(&base);
    match crate::config::s6::load(
        &root,
        &command_dir,
        Some(&shims),
        &self_exe.display().to_string(),
        &container_env(),
        for_check,
        (!for_check).then_some(base.as_path()),
    ) {
        Ok(loaded) => Ok(Some(S6Run {
            loaded,
            root,
            base,
            command_dir,
            self_exe,
        })),
        Err(problems) => {
            for p in &problems {
                log::error(p.to_string());
            }
            log::error("nothing was started; fix the s6-overlay layout and start again");
            Err(exit::CONFIG)
        }
    }
}

/// `pidone s6-shims DIR`: link s6-overlay's command names to this binary.
fn s6_shims(args: &[String]) -> i32 {
    const USAGE: &str = "usage: pidone s6-shims DIR (for example /command): link s6-overlay's commands in DIR to this binary and list what is and is not linked";
    let dir = match args {
        [h] if h == "--help" || h == "-h" => {
            println!("{USAGE}");
            return 0;
        }
        // An option-looking word is a mistake, not a directory to create.
        [dir] if !dir.starts_with('-') => dir,
        _ => {
            log::error(USAGE);
            return exit::USAGE;
        }
    };
    let self_exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(e) => {
            log::error(format!("cannot tell where pidone's binary is: {e}"));
            return exit::SOFTWARE;
        }
    };
    match crate::s6::shims::write_shims(Path::new(dir), &self_exe) {
        Ok(made) => {
            // What was linked and what was not (and why): the image author's checklist.
            use crate::s6::shims::{NAMES, NOT_LINKED};
            println!("linked in {dir}:");
            for link in &made {
                let name = link.file_name().unwrap_or_default().to_string_lossy();
                let target = std::fs::read_link(link).unwrap_or_default();
                let what = NAMES.iter().find(|(n, _)| *n == name).map_or(
                    "the image's execline (run scripts' #!/command/execlineb)",
                    |(_, w)| *w,
                );
                println!("  {name:<17} -> {}  {what}", target.display());
            }
            println!("not linked (s6-overlay has them; what to do instead):");
            for (names, instead) in NOT_LINKED {
                println!("  {names}: {instead}");
            }
            log::info(format!(
                "linked {} command(s) in {dir} to {}",
                made.len(),
                self_exe.display()
            ));
            0
        }
        Err(e) => {
            log::error(e);
            exit::CANNOT_EXECUTE
        }
    }
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

/// Create `dir` (and missing parents) if needed, and check this uid may write in it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(|e| format!("not writable: {}", e.desc()))
}

/// What to do about a directory under `/run` that pidone cannot create: the image's `/run`
/// must be writable for the container's uid (Docker gives `--tmpfs /run` the image's mode).
fn unwritable_dir_fix(option: &str) -> String {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    format!(
        "; pidone runs as uid {uid}: give the image a /run any uid may write (`RUN chmod 1777 /run` in the Dockerfile; with `docker run --read-only` also `--tmpfs /run`), or name a writable directory with {option}"
    )
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
    log::warn(format!(
        "run dir {DEFAULT_RUN_DIR} is not usable ({err}); using {} instead (`pidone status` finds it there too; `RUN chmod 1777 /run` in the image, or --run-dir, makes this go away)",
        fallback.display()
    ));
    Ok(fallback)
}
