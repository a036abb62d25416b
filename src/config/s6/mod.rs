//! The s6-overlay layout as a second configuration source, beside `native.rs`: an image
//! built for s6-overlay v3 runs with pidone at `/init` (docs/s6-overlay.md).
//!
//! Steps, in order:
//! - `layout.rs`: reads the image's trees (`/etc/s6-overlay/s6-rc.d`, `user-bundles.d`,
//!   `/etc/cont-init.d`, `/etc/services.d`, `/etc/cont-finish.d`) into plain data, every problem
//!   located at a path, its own graph checks (missing names, bundle loops, cycles);
//! - `translate.rs`: that data as `Service`s in s6-overlay's order (cont-init.d → `user` →
//!   services.d → `user2` → CMD), which `config::check_graph` checks again like any source;
//! - this file: the `S6_*` variables and the whole load.
//!
//! `envdir.rs` reads and writes envdirs (`env/` here; `/run/s6/container_environment` for
//! the runtime side, `crate::s6`).

pub mod envdir;
pub mod layout;
pub mod translate;

use super::{ConfigError, Service};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether to read the s6 layout: asked for, or no native services and an s6 tree present.
pub fn wanted(asked: bool, native_services: usize, root: &Path) -> bool {
    asked || (native_services == 0 && layout::markers(root).iter().any(|m| m.is_dir()))
}

/// The layout as services, with what the start log and `pidone check` say about it.
pub struct Loaded {
    pub services: Vec<Service>,
    /// Files and features read but not honoured, services defined but not started.
    pub notes: Vec<String>,
    /// `S6_*` variables that are not supported (or not valid): named in a warning.
    pub warnings: Vec<String>,
    /// S6_CMD_ARG0: words put before CMD.
    pub cmd_arg0: Vec<String>,
    /// S6_KILL_GRACETIME: the delay before SIGKILL of leftovers at shutdown.
    pub kill_grace: Option<Duration>,
    /// S6_CMD_WAIT_FOR_SERVICES_MAXTIME (default 5000 ms, 0 = no limit) with
    /// S6_BEHAVIOUR_IF_STAGE2_FAILS=2 deciding what happens then: CMD's dependency wait.
    pub cmd_wait: Option<super::DependencyWait>,
    /// S6_VERBOSITY as a log level (0 errors, 1 warnings, 2 info, 3+ debug).
    pub log_level: Option<crate::log::Level>,
    pub execlineb: Option<PathBuf>,
}

/// s6-overlay's default S6_CMD_WAIT_FOR_SERVICES_MAXTIME.
const DEFAULT_CMD_WAIT: Duration = Duration::from_millis(5000);

/// `S6_*` variables pidone acts on or accepts; any other `S6_*` is named in a warning.
const KNOWN_VARS: &[&str] = &[
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
];

/// Read the layout under `root` and translate it. `env` is the container's environment.
pub fn load(
    root: &Path,
    command_dir: &Path,
    shim_dir: Option<&Path>,
    self_exe: &str,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Loaded, Vec<ConfigError>> {
    let mut warnings = Vec::new();
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
    let mut settings = translate::S6Settings {
        behaviour,
        command_dir: command_dir.to_path_buf(),
        self_exe: self_exe.to_string(),
        shim_dir: shim_dir.map(Path::to_path_buf),
        ..Default::default()
    };
    if let Some(d) = ms("S6_SERVICES_GRACETIME", &mut warnings) {
        settings.services_grace = d;
    }
    if let Some(d) = ms("S6_KILL_FINISH_MAXTIME", &mut warnings) {
        // 0: no limit, as s6's own time limits read it.
        settings.finish_maxtime = (!d.is_zero()).then_some(d);
    }
    let kill_grace = ms("S6_KILL_GRACETIME", &mut warnings);
    let cmd_wait_limit =
        ms("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", &mut warnings).unwrap_or(DEFAULT_CMD_WAIT);
    let cmd_wait = (!cmd_wait_limit.is_zero()).then_some(super::DependencyWait {
        limit: cmd_wait_limit,
        fail: behaviour >= 2,
    });
    for name in env.keys().filter(|k| k.starts_with("S6_")) {
        if !KNOWN_VARS.contains(&name.as_str()) {
            warnings.push(format!(
                "{name} is not supported by pidone's s6 mode; ignored"
            ));
        }
    }
    let execlineb = which_in(
        "execlineb",
        command_dir,
        env.get("PATH").map(String::as_str),
    );
    let read_env = layout::Env {
        execlineb: execlineb.as_deref(),
        command_dir,
    };
    let l = layout::read(root, &read_env).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| ConfigError {
                file: p.path,
                line: None,
                key: None,
                message: p.message,
            })
            .collect::<Vec<_>>()
    })?;
    let (services, notes) = translate::services(&l, &settings);
    // The same graph check as every source (the layout's own checks ran on s6 names; this
    // one on the translation, located at the service's directory).
    let locate = |name: &str| {
        let dir = l
            .find(name)
            .map(|s| s.dir.clone())
            .unwrap_or_else(|| root.to_path_buf());
        (dir, None)
    };
    let graph = super::check_graph(&services, &locate);
    if !graph.is_empty() {
        return Err(graph);
    }
    let log_level = match env.get("S6_VERBOSITY").map(|v| v.trim().parse::<u8>()) {
        None => None,
        Some(Ok(0)) => Some(crate::log::Level::Error),
        Some(Ok(1)) => Some(crate::log::Level::Warn),
        Some(Ok(2)) => Some(crate::log::Level::Info),
        Some(Ok(_)) => Some(crate::log::Level::Debug),
        Some(Err(_)) => {
            warnings.push("S6_VERBOSITY is not a number 0-5; ignored".into());
            None
        }
    };
    Ok(Loaded {
        services,
        notes,
        warnings,
        cmd_arg0: env
            .get("S6_CMD_ARG0")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        kill_grace,
        cmd_wait,
        log_level,
        execlineb,
    })
}

/// S6_BEHAVIOUR_IF_STAGE2_FAILS=2: a failure in stage 2 (S6_STAGE2_HOOK included) stops the
/// container. (`load` also warns about a value that is not 0, 1 or 2.)
pub fn stage2_failure_stops(env: &std::collections::BTreeMap<String, String>) -> bool {
    env.get("S6_BEHAVIOUR_IF_STAGE2_FAILS").map(|v| v.trim()) == Some("2")
}

/// An executable `name` in `first` or on `path`.
pub fn which_in(name: &str, first: &Path, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    std::iter::once(first.to_path_buf())
        .chain(path.split(':').filter(|d| !d.is_empty()).map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
