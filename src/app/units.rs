//! The units pidone adds to the services of a run: the render step (`/proc/self/exe render`,
//! a oneshot) and CMD (the unit "main": critical, never restarted, with the session limits
//! given on the command line), and the check that those limits make sense.

use crate::cli::Options;
use crate::config::{self, DependencyWait, GlobalFile, Kind, Service, Settings};
use crate::exit;
use crate::log;
use crate::supervisor;

/// The units pidone adds, checked (see `supervisor::build_units`).
pub(super) struct Added {
    /// The render step, after the oneshots `[render] after` names.
    pub render: Option<(Vec<String>, Service)>,
    /// CMD, when there is one.
    pub cmd: Option<Service>,
    /// CMD gets the controlling terminal (stdin is a TTY).
    pub tty: bool,
}

/// The render step when there are templates, CMD when `cmd` is not empty (`cmd_wait`: its
/// dependency wait, from the s6 layout). Err: the exit code of CMD's session limits that do
/// not make sense (logged).
pub(super) fn added(
    opts: &Options,
    settings: &Settings,
    file: &GlobalFile,
    cmd: Vec<String>,
    cmd_wait: Option<DependencyWait>,
) -> Result<Added, i32> {
    let render = render_unit(settings, file);
    let cmd = cmd_unit(opts, settings, cmd, cmd_wait);
    // SAFETY: isatty on fd 0.
    let tty = cmd.is_some() && unsafe { libc::isatty(0) } == 1;
    if let Some(main) = &cmd {
        check_cmd_limits(main, tty)?;
    }
    Ok(Added { render, cmd, tty })
}

/// `pidone render` as a oneshot, when there are templates.
fn render_unit(settings: &Settings, file: &GlobalFile) -> Option<(Vec<String>, Service)> {
    super::load::has_templates(&settings.templates_dir).then(|| {
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
    })
}

/// CMD as the unit "main", when there is one.
fn cmd_unit(
    opts: &Options,
    settings: &Settings,
    cmd: Vec<String>,
    cmd_wait: Option<DependencyWait>,
) -> Option<Service> {
    (!cmd.is_empty()).then(|| {
        let mut main = Service::with_defaults("main", cmd, Kind::Longrun);
        main.stop_signal = settings.stop_signal;
        main.stop_timeout = settings.grace;
        main.restart = config::Restart::Never;
        main.critical = true;
        main.dependency_wait = cmd_wait;
        main.max_runtime = opts.max_runtime.filter(|d| !d.is_zero());
        main.idle_timeout = opts.idle_timeout;
        main.warn_before = opts.warn_before;
        main.warn_signal = opts.warn_signal;
        main.warn_command = opts
            .warn_command
            .clone()
            .map(|c| vec!["/bin/sh".into(), "-c".into(), c]);
        main
    })
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
