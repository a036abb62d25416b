//! The s6-overlay layout as a second configuration source, beside `native/`: an image
//! built for s6-overlay v3 runs with pidone at `/init` (docs/s6-overlay.md).
//!
//! Steps of `load`, in order:
//! - `vars.rs`: the `S6_*` variables (each honoured, already so, impossible, or unknown);
//! - `execlineb.rs`: where execlineb is, for `up`/`down` lines that need it;
//! - `layout/`: reads the image's trees (`/etc/s6-overlay/s6-rc.d`, `user-bundles.d`,
//!   `/etc/cont-init.d`, `/etc/services.d`, `/etc/cont-finish.d`) into plain data, every problem
//!   located at a path, its own graph checks (missing names, bundle loops, cycles); its
//!   `mod.rs` lists its own steps;
//! - `translate.rs`: that data as `Service`s in s6-overlay's order (cont-init.d → `user` →
//!   services.d → `user2` → CMD), which `config::check_graph` checks again like any source;
//! - `live.rs`: each longrun's live directory under `/run` and the image directory it mirrors
//!   (the runtime side, `crate::s6`, creates them);
//! - this file: the whole load, as a recipe of those steps.
//!
//! `envdir.rs` reads and writes envdirs (`env/` here; `/run/s6/container_environment` for
//! the runtime side, `crate::s6`).

pub mod envdir;
mod execlineb;
pub mod layout;
mod live;
pub mod translate;
mod vars;

pub use execlineb::which_in;
pub use vars::stage2_failure_stops;

use super::{ConfigError, Service};
use std::collections::BTreeMap;
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
    /// or `/run/s6/legacy-services/NAME`, see `live::live_dir`) and its directory in the
    /// image, whose files the runtime side links there.
    pub live_dirs: Vec<(PathBuf, PathBuf)>,
}

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
    let mut settings = translate::S6Settings {
        command_dir: command_dir.to_path_buf(),
        self_exe: self_exe.to_string(),
        shim_dir: shim_dir.map(Path::to_path_buf),
        run_dir: run_dir.map(Path::to_path_buf),
        ..Default::default()
    };
    let timings = vars::read_timings(env, &mut settings, &mut warnings);
    let accepted = vars::judge_all(env, &mut warnings);
    let (execlineb, assumed_execlineb) = execlineb::locate(root, command_dir, env, image_at_root);
    let l = read_layout(root, command_dir, env, execlineb.as_deref())?;
    let (
        services,
        translate::Notes {
            warnings: notes,
            infos,
        },
    ) = translate::services(&l, &settings);
    if assumed_execlineb && execlineb::needs_assumed(&services) {
        warnings.push(execlineb::assumed_warning(root, command_dir));
    }
    check_translation(&services, &l, root)?;
    let live_dirs = live::live_dirs(&services, &l, run_dir);
    let log_level = vars::log_level(env, &mut warnings);
    Ok(Loaded {
        services,
        notes,
        infos,
        warnings,
        accepted,
        sync_disks: vars::sync_disks(env),
        cmd_arg0: vars::cmd_arg0(env),
        kill_grace: timings.kill_grace,
        cmd_wait: timings.cmd_wait,
        log_level,
        execlineb,
        live_dirs,
    })
}

/// The image's trees (under the runtime profile and bundle dir the environment names), each
/// problem as a `ConfigError` at its path.
fn read_layout(
    root: &Path,
    command_dir: &Path,
    env: &BTreeMap<String, String>,
    execlineb: Option<&Path>,
) -> Result<layout::Layout, Vec<ConfigError>> {
    let nonempty = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let bundle_dir = nonempty("S6_RUNTIME_BUNDLEDIR").map(Path::new);
    let read_env = layout::Env {
        execlineb,
        command_dir,
        profile: nonempty("S6_RUNTIME_PROFILE"),
        bundle_dir,
    };
    layout::read(root, &read_env).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| ConfigError {
                file: p.path,
                line: None,
                key: None,
                message: p.message,
            })
            .collect::<Vec<_>>()
    })
}

/// The same graph check as every source (the layout's own checks ran on s6 names; this
/// one on the translation, located at the service's directory).
fn check_translation(
    services: &[Service],
    l: &layout::Layout,
    root: &Path,
) -> Result<(), Vec<ConfigError>> {
    let locate = |name: &str| {
        let dir = l
            .find(name)
            .map(|s| s.dir.clone())
            .unwrap_or_else(|| root.to_path_buf());
        (dir, None)
    };
    let graph = super::check_graph(services, &locate);
    if graph.is_empty() { Ok(()) } else { Err(graph) }
}
