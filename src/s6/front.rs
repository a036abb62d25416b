//! The s6 mode's one door into pidone's start path. `app` decides "native or s6" here, once
//! (`entry` for the commands, `Source::load` for a start), and asks the answer at each later
//! stage; the s6-specific steps of a start are here or behind it. The stages, in order:
//! - `entry`: before anything, pidone started under an s6 command's name (`with-contenv`,
//!   `s6-svc`, ..., see `shims.rs`) or with an s6 subcommand (`s6-shims DIR`, `link.rs`; the
//!   internal `s6-run-scripts`; the control shims as `pidone s6-svc ...`);
//! - `Source::load`: S6_STAGE2_HOOK (`hook.rs`), then the layout (`config::s6`), what the
//!   start log says about it, and what it changes: `S6_*` settings, CMD's arg0, its services;
//! - `Source::keeps_root`, `Source::dirs_for_target_user`: the privilege drop;
//! - `Source::before_services`: the runtime files under `/run` (`mod.rs`), after the drop;
//! - `Source::cmd_wait`, `Source::is_native`: what CMD's unit and the loop take from it;
//! - `Source::after_run`: the exitcode file and S6_SYNC_DISKS;
//! - `check`: `pidone check`'s view of the layout.

use super::{S6Paths, hook, link, s6_container_env, shims};
use crate::cli::Options;
use crate::config::s6::Loaded;
use crate::config::{DependencyWait, Service, Settings};
use crate::exit;
use crate::log;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Before anything: run the s6 command pidone was started as (by `argv0`, or by its first
/// argument), and give its exit code. None: not an s6 command; pidone's own command line.
pub fn entry(argv0: &str, args: &[String]) -> Option<i32> {
    // Started as `with-contenv`, `s6-svc`, ... (s6-overlay's commands, see s6::shims).
    if let Some(code) = shims::dispatch(argv0, args) {
        return Some(code);
    }
    match args.first().map(String::as_str) {
        Some("s6-shims") => Some(link::s6_shims(&args[1..])),
        // internal: the cont-init.d stage of the s6 mode (see s6::translate)
        Some("s6-run-scripts") => Some(super::run_scripts(&args[1..])),
        // `docker exec C /init s6-svc -d /run/service/x`: the control shims answer as
        // subcommands too (as a CMD they make no sense, and starting a second pidone with
        // them as its CMD was what happened). with-contenv, s6-setuidgid and halt are only
        // answered by their own name: `CMD ["with-contenv", ...]` must stay a CMD.
        Some(shim @ ("s6-svc" | "s6-svscanctl" | "s6-svwait" | "s6-svstat")) => {
            Some(shims::dispatch(shim, &args[1..]).unwrap_or(exit::SOFTWARE))
        }
        _ => None,
    }
}

/// Where this start's services come from, decided once (`Source::load`).
pub enum Source {
    /// pidone's own service files only.
    Native,
    /// An s6-overlay layout too (see `config::s6::wanted`).
    S6(Box<S6Run>),
}

/// The s6 layout, when pidone runs one (see `s6::wanted`).
pub struct S6Run {
    loaded: Loaded,
    paths: S6Paths,
    self_exe: PathBuf,
    /// What S6_STAGE2_HOOK added to (or changed in) container_environment: the services get
    /// it too.
    hook_env: BTreeMap<String, String>,
}

impl Source {
    /// The services' second source, when there is one: S6_STAGE2_HOOK first (its edits of
    /// the layout count), then the layout, said in the log. What the layout sets is applied:
    /// `S6_*` settings, CMD's arg0, its services after `services` (the native ones). `env` is
    /// the container's environment. Err: the exit code of a container that ends here.
    pub fn load(
        opts: &Options,
        env: &BTreeMap<String, String>,
        settings: &mut Settings,
        cmd: &mut Vec<String>,
        services: &mut Vec<Service>,
    ) -> Result<Source, i32> {
        let hook_env = hook::before_layout(opts, services.len(), env)?;
        let Some(mut s6) = load(opts, services.len(), false, env)? else {
            return Ok(Source::Native);
        };
        say_loaded(&s6.loaded);
        warn_shadowed(&s6);
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
            *cmd = s6
                .loaded
                .cmd_arg0
                .iter()
                .cloned()
                .chain(std::mem::take(cmd))
                .collect();
        }
        services.extend(s6.loaded.services.iter().cloned());
        s6.hook_env = hook_env;
        Ok(Source::S6(Box::new(s6)))
    }

    /// The privilege drop: s6 mode keeps root on a root start without `--user`.
    pub fn keeps_root(&self) -> bool {
        matches!(self, Source::S6(_))
    }

    /// Directories the privilege stage creates for the target user before the drop.
    pub fn dirs_for_target_user(&self) -> Vec<(PathBuf, u32)> {
        let Source::S6(s6) = self else {
            return Vec::new();
        };
        // s6 mode: the runtime files are written after the drop, into directories of the
        // target user (a root-owned /run is Kubernetes' default, s6-overlay #600).
        ["s6", "service", "s6-rc", "s6-linux-init-container-results"]
            .into_iter()
            .map(|d| (s6.paths.base.join(d), 0o755))
            .collect()
    }

    /// Before the services start (after the drop, once the run dir is known): the runtime
    /// files, and in `env` where the shims find them. Err: the exit code.
    pub fn before_services(
        &self,
        env: &mut BTreeMap<String, String>,
        run_dir: &Path,
    ) -> Result<(), i32> {
        let Source::S6(s6) = self else {
            return Ok(());
        };
        // The shims (s6-svc, halt, ...) find the control socket and the runtime files here.
        env.insert("PIDONE_RUN_DIR".into(), run_dir.display().to_string());
        env.insert(
            "PIDONE_S6_RUN_DIR".into(),
            s6.paths.base.display().to_string(),
        );
        // The container environment is what services start with, PATH included, and what
        // S6_STAGE2_HOOK added to it.
        let mut contenv = s6_container_env(env, &s6.paths);
        contenv.extend(s6.hook_env.clone());
        if let Err(e) =
            super::write_runtime(&s6.paths.base, &contenv, &s6.loaded.live_dirs, &s6.self_exe)
        {
            log::error(format!("refusing to start: {e}"));
            return Err(exit::RUN_DIR);
        }
        Ok(())
    }

    /// CMD's dependency wait (S6_CMD_WAIT_FOR_SERVICES_MAXTIME).
    pub fn cmd_wait(&self) -> Option<DependencyWait> {
        match self {
            Source::Native => None,
            Source::S6(s6) => s6.loaded.cmd_wait,
        }
    }

    /// Only native services can be read again by `pidone reload`.
    pub fn is_native(&self) -> bool {
        matches!(self, Source::Native)
    }

    /// After the run: the exit code (`code` is pidone's own) by s6-overlay's rule, and
    /// S6_SYNC_DISKS.
    pub fn after_run(&self, code: i32, has_cmd: bool) -> i32 {
        let Source::S6(s6) = self else {
            return code;
        };
        let mut code = code;
        // s6-overlay's rule: without CMD the exit code is the exitcode file's, which a finish
        // script may have written. It starts as 0, so a 0 there leaves pidone's own code (a
        // failed start) standing.
        if !has_cmd
            && let Some(file_code) = shims::read_exitcode(&s6.paths.base)
            && file_code != 0
        {
            code = file_code;
        }
        if s6.loaded.sync_disks {
            // S6_SYNC_DISKS: flush the filesystems before the container ends (on Linux sync(2)
            // waits for the writes; it may sync the host's filesystems too, as under s6).
            log::info("S6_SYNC_DISKS: syncing filesystems");
            // SAFETY: sync(2) has no arguments and cannot fail.
            unsafe { libc::sync() };
        }
        code
    }
}

/// `pidone check`: the layout, when there is one, read with `--s6-root` as an image's root
/// filesystem, said in the log and listed on stdout; its services are added to `services`.
/// Ok(Some): how many it has, and its root. Err: the exit code (the problems were logged).
pub fn check(
    opts: &Options,
    env: &BTreeMap<String, String>,
    services: &mut Vec<Service>,
) -> Result<Option<(usize, PathBuf)>, i32> {
    let Some(s6) = load(opts, services.len(), true, env)? else {
        return Ok(None);
    };
    say_loaded(&s6.loaded);
    if std::env::var_os("S6_STAGE2_HOOK").is_some_and(|h| !h.is_empty()) {
        log::info("S6_STAGE2_HOOK is not run by check: this is the layout before it");
    }
    println!("s6-overlay layout in {}:", s6.paths.root.display());
    for svc in &s6.loaded.services {
        println!("  {}", crate::config::s6::translate::describe(svc));
    }
    let found = (s6.loaded.services.len(), s6.paths.root.clone());
    services.extend(s6.loaded.services);
    Ok(Some(found))
}

/// `for_check`: `pidone check`, which reads `--s6-root` as an image's root filesystem.
fn load(
    opts: &Options,
    native_services: usize,
    for_check: bool,
    env: &BTreeMap<String, String>,
) -> Result<Option<S6Run>, i32> {
    let paths = S6Paths::of(opts);
    if !crate::config::s6::wanted(opts.s6, native_services, &paths.root) {
        return Ok(None);
    }
    // A symlink to the binary on the image: it executes even from a noexec /run.
    let self_exe = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| "/init".into());
    let shims = super::shim_dir(&paths.base);
    match crate::config::s6::load(
        &paths.root,
        &paths.command_dir,
        Some(&shims),
        &self_exe.display().to_string(),
        env,
        for_check,
        (!for_check).then_some(paths.base.as_path()),
    ) {
        Ok(loaded) => Ok(Some(S6Run {
            loaded,
            paths,
            self_exe,
            hook_env: BTreeMap::new(),
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

/// What the start log and `pidone check` say about the layout as read.
fn say_loaded(loaded: &Loaded) {
    for w in &loaded.warnings {
        log::warn(w);
    }
    for a in &loaded.accepted {
        log::info(a);
    }
    for n in &loaded.notes {
        log::warn(n);
    }
    for n in &loaded.infos {
        log::info(n);
    }
}

/// s6-overlay's own binaries still in the image's `/command` (see `shims::shadowed`).
fn warn_shadowed(s6: &S6Run) {
    let command_dir = &s6.paths.command_dir;
    let shadowed = shims::shadowed(command_dir, &s6.self_exe);
    if !shadowed.is_empty() {
        log::warn(format!(
            "{} in {} are s6-overlay's own; they talk to s6-supervise, which pidone does not run, so services get pidone's versions first on PATH ({}); scripts naming {}/s6-svc and the like by path still reach s6-overlay's: delete s6-overlay and run `pidone s6-shims {}`",
            shadowed.join(", "),
            command_dir.display(),
            super::shim_dir(&s6.paths.base).display(),
            command_dir.display(),
            command_dir.display(),
        ));
    }
}
