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
    /// Files and features read but not honoured, services defined but not started: warnings.
    pub notes: Vec<String>,
    /// What s6-rc accepts silently (comments-only `up`, data files): info lines.
    pub infos: Vec<String>,
    /// `S6_*` variables that are not supported (or not valid): named in a warning.
    pub warnings: Vec<String>,
    /// `S6_*` variables set that need nothing from pidone (what they ask for is what it does
    /// anyway), each with why: said at start and by `pidone check`.
    pub accepted: Vec<String>,
    /// S6_SYNC_DISKS: sync(2) before pidone exits.
    pub sync_disks: bool,
    /// S6_CMD_ARG0: words put before CMD.
    pub cmd_arg0: Vec<String>,
    /// S6_KILL_GRACETIME: the delay before SIGKILL of leftovers at shutdown.
    pub kill_grace: Option<Duration>,
    /// S6_CMD_WAIT_FOR_SERVICES_MAXTIME (default 0 = no limit, as s6-overlay 3.2+) with
    /// S6_BEHAVIOUR_IF_STAGE2_FAILS=2 deciding what happens then: CMD's dependency wait.
    pub cmd_wait: Option<super::DependencyWait>,
    /// S6_VERBOSITY as a log level (0 errors, 1 warnings, 2 info, 3+ debug).
    pub log_level: Option<crate::log::Level>,
    pub execlineb: Option<PathBuf>,
    /// Each longrun's live directory (its working directory: `/run/s6-rc/servicedirs/NAME`
    /// or `/run/s6/legacy-services/NAME`, see `translate::live_dir`) and its directory in the
    /// image, whose files the runtime side links there.
    pub live_dirs: Vec<(PathBuf, PathBuf)>,
}

/// `S6_*` variables pidone honours (docs/s6-overlay.md says how). Every variable of
/// s6-overlay's README table is here, in `ALREADY_SO` or in `CANNOT_APPLY`; any other `S6_*` is
/// named in a warning.
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

/// Where `pidone check` assumes execlineb is when the tree it reads does not have it.
const ASSUMED_EXECLINEB: &str = "/usr/bin/execlineb";

/// Read the layout under `root` and translate it. `env` is the container's environment.
/// `image_at_root`: `root` is an image's root filesystem (`pidone check --s6-root DIR`), so
/// execlineb is looked up in it; otherwise (a run) in this system, where the services run.
/// `run_dir`: the s6 run dir (`/run`), under which longruns get their live directories
/// (None for `pidone check`: they are shown in their directories in the image).
pub fn load(
    root: &Path,
    command_dir: &Path,
    shim_dir: Option<&Path>,
    self_exe: &str,
    env: &std::collections::BTreeMap<String, String>,
    image_at_root: bool,
    run_dir: Option<&Path>,
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
        run_dir: run_dir.map(Path::to_path_buf),
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
    // Unset is 0, no limit: s6-overlay's default since 3.2.0.0 (its README table, CHANGELOG).
    let cmd_wait_limit =
        ms("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", &mut warnings).unwrap_or(Duration::ZERO);
    let cmd_wait = (!cmd_wait_limit.is_zero()).then_some(super::DependencyWait {
        limit: cmd_wait_limit,
        fail: behaviour >= 2,
    });
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
    let sync_disks = env
        .get("S6_SYNC_DISKS")
        .is_some_and(|v| v.trim().parse::<u64>().is_ok_and(|n| n != 0));
    let (execlineb, assumed_execlineb) = if image_at_root {
        match which_in_image("execlineb", root, command_dir) {
            Some(p) => (Some(p), false),
            // A checkout of an image's rootfs rarely has it (the Dockerfile installs it):
            // show the lines as they will run, and say below what the image needs.
            None => (Some(PathBuf::from(ASSUMED_EXECLINEB)), true),
        }
    } else {
        let path = env.get("PATH").map(String::as_str);
        (which_in("execlineb", command_dir, path), false)
    };
    let nonempty = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let bundle_dir = nonempty("S6_RUNTIME_BUNDLEDIR").map(Path::new);
    let read_env = layout::Env {
        execlineb: execlineb.as_deref(),
        command_dir,
        profile: nonempty("S6_RUNTIME_PROFILE"),
        bundle_dir,
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
    let (
        services,
        translate::Notes {
            warnings: notes,
            infos,
        },
    ) = translate::services(&l, &settings);
    if assumed_execlineb
        && services.iter().any(|s| {
            s.command.first().map(String::as_str) == Some(ASSUMED_EXECLINEB)
                || s.stop_command
                    .as_ref()
                    .and_then(|c| c.argv.first())
                    .map(String::as_str)
                    == Some(ASSUMED_EXECLINEB)
        })
    {
        warnings.push(format!(
            "execlineb is not in {} ({}, usr/bin, bin): lines that need it are shown as {ASSUMED_EXECLINEB} ...; the image must install execline (Debian: apt-get install execline) or they fail at start",
            root.display(),
            command_dir.strip_prefix("/").unwrap_or(command_dir).display()
        ));
    }
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
    let image_dir = |name: &str| {
        l.find(name).map(|s| s.dir.clone()).or_else(|| {
            l.services
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.dir.clone())
        })
    };
    let live_dirs = services
        .iter()
        .filter(|s| s.kind == super::Kind::Longrun)
        .filter_map(|s| Some((s.working_dir.clone()?, image_dir(&s.name)?)))
        .filter(|(live, _)| run_dir.is_some_and(|d| live.starts_with(d)))
        .collect();
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
        infos,
        warnings,
        accepted,
        sync_disks,
        cmd_arg0: env
            .get("S6_CMD_ARG0")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        kill_grace,
        cmd_wait,
        log_level,
        execlineb,
        live_dirs,
    })
}

/// S6_BEHAVIOUR_IF_STAGE2_FAILS=2: a failure in stage 2 (S6_STAGE2_HOOK included) stops the
/// container. (`load` also warns about a value that is not 0, 1 or 2.)
pub fn stage2_failure_stops(env: &std::collections::BTreeMap<String, String>) -> bool {
    env.get("S6_BEHAVIOUR_IF_STAGE2_FAILS").map(|v| v.trim()) == Some("2")
}

/// `name` in the image under `root` (in `command_dir`, `usr/bin` or `bin`, a symlink counts:
/// it may point into `/package`), as the path it has in the image.
fn which_in_image(name: &str, root: &Path, command_dir: &Path) -> Option<PathBuf> {
    [command_dir, Path::new("/usr/bin"), Path::new("/bin")]
        .iter()
        .map(|d| d.join(name))
        .find(|p| std::fs::symlink_metadata(root.join(p.strip_prefix("/").unwrap_or(p))).is_ok())
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

#[cfg(test)]
mod tests {
    use super::*;

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
