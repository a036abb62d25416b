//! s6-overlay drop-in: an image built for s6-overlay v3 runs with pidone at `/init`.
//!
//! The steps, in the order of a container start:
//! 1. [`layout`] reads the image's s6 trees (`/etc/s6-overlay/s6-rc.d`, `user-bundles.d`,
//!    `/etc/cont-init.d`, `/etc/services.d`, `/etc/cont-finish.d`) into plain data, with every
//!    problem located at a path; nothing is executed and nothing is started on an error.
//! 2. [`translate`] turns that data into pidone's own `Service` model, in s6-overlay's order
//!    (cont-init.d → `user` bundle → services.d → `user2` → CMD).
//! 3. [`envdir`] writes `/run/s6/container_environment` and the other runtime files — data
//!    only: nothing is copied to `/run` and executed from there, as `/run` is often a noexec
//!    tmpfs (s6-overlay #397).
//! 4. [`shims`] answers the commands scripts call (`with-contenv`, `s6-svc`, ...) from pidone's
//!    own binary, dispatched on `argv[0]`, so an image may delete s6-overlay.

pub mod envdir;
pub mod finish;
pub mod layout;
pub mod shims;
pub mod translate;

use crate::config::Service;
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
    /// S6_VERBOSITY as a log level (0 errors, 1 warnings, 2 info, 3+ debug).
    pub log_level: Option<crate::log::Level>,
    pub execlineb: Option<PathBuf>,
}

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
];

/// Read the layout under `root` and translate it. `env` is the container's environment.
pub fn load(
    root: &Path,
    command_dir: &Path,
    shim_dir: Option<&Path>,
    self_exe: &str,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Loaded, Vec<layout::Problem>> {
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
    let kill_grace = ms("S6_KILL_GRACETIME", &mut warnings);
    // Accepted: CMD already waits for every service in pidone; the wait limit is checked for
    // validity only.
    let _ = ms("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", &mut warnings);
    if let Some(hook) = env.get("S6_STAGE2_HOOK").filter(|v| !v.is_empty()) {
        warnings.push(format!(
            "S6_STAGE2_HOOK={hook:?} is not run: it edits s6-rc's compiled database, which pidone does not use"
        ));
    }
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
    let l = layout::read(root, &read_env)?;
    let (services, notes) = translate::services(&l, &settings);
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
        log_level,
        execlineb,
    })
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

/// pidone's shims in the run tree: symlinks to its binary on the image, which execute even
/// on a noexec `/run` (the kernel checks the mount of the binary, not of the link).
pub fn shim_dir(base: &Path) -> PathBuf {
    base.join("s6/pidone-shims")
}

/// The runtime files s6-overlay scripts expect, written after the privilege drop (data
/// only, never executed from there): the container environment, a directory per longrun
/// under `service/` (and `s6/services/`, the v2 path when /var/run is /run), the exitcode
/// file holding `0`, and `s6/basedir/bin/halt` as a symlink to pidone on the image.
pub fn write_runtime(
    base: &Path,
    env: &std::collections::BTreeMap<String, String>,
    longruns: &[String],
    self_exe: &Path,
) -> Result<(), String> {
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
    };
    envdir::write(&shims::container_environment(base), env)?;
    for name in longruns {
        mkdir(&base.join("service").join(name))?;
        mkdir(&base.join("s6/services").join(name))?;
    }
    let exitcode = shims::exitcode_file(base);
    mkdir(exitcode.parent().expect("has a parent"))?;
    std::fs::write(&exitcode, "0\n")
        .map_err(|e| format!("cannot write {}: {e}", exitcode.display()))?;
    let bin = base.join("s6/basedir/bin");
    mkdir(&bin)?;
    for name in ["halt", "poweroff"] {
        let link = bin.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(self_exe, &link)
            .map_err(|e| format!("cannot create {}: {e}", link.display()))?;
    }
    shims::write_shims(&shim_dir(base), self_exe)?;
    Ok(())
}

/// `pidone s6-run-scripts --stop-on-failure yes|no --command-dir DIR -- SCRIPT...`: the
/// cont-init.d stage, one script after the other in name order. A failure is reported and,
/// with S6_BEHAVIOUR_IF_STAGE2_FAILS=2, stops the stage (the oneshot fails with its code).
pub fn run_scripts(args: &[String]) -> i32 {
    let mut stop = false;
    let mut command_dir = PathBuf::from("/command");
    let mut i = 0;
    while i < args.len() && args[i] != "--" {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--stop-on-failure", Some(v)) => stop = v == "yes",
            ("--command-dir", Some(v)) => command_dir = v.into(),
            _ => {
                eprintln!("s6-run-scripts: unknown argument {:?}", args[i]);
                return crate::cli::exit::USAGE;
            }
        }
        i += 2;
    }
    let mut worst = 0;
    for path in args.iter().skip(i + 1) {
        let script = match layout::script_argv(Path::new(path), &command_dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                worst = 1;
                if stop {
                    return worst;
                }
                continue;
            }
        };
        let code = match fork_exec(&script.argv, None, &[]) {
            Ok(pid) => match wait_child(pid, true) {
                Some((Some(c), _)) => c,
                Some((None, Some(sig))) => 128 + sig,
                _ => 1,
            },
            Err(e) => {
                eprintln!("{path}: cannot run it: {e}");
                126
            }
        };
        if code != 0 {
            eprintln!("{path} exited with code {code}");
            worst = code;
            if stop {
                return code;
            }
        }
    }
    // Failures were reported; without S6_BEHAVIOUR_IF_STAGE2_FAILS=2 the start goes on.
    if stop { worst } else { 0 }
}

/// fork + execvp for the s6 helpers (the finish wrapper, cont-init.d, s6-notifyoncheck's
/// checker): the child keeps this process's group (signals pidone sends to the group reach
/// it), gets `reset` signals back to their default disposition and `dir` as cwd. A failed
/// exec exits 127 (not found) or 126. Everything is prepared before the fork. (Not
/// `std::process::Command`: the same in a few hundred bytes instead of several KiB of the
/// static binary.)
pub fn fork_exec(argv: &[String], dir: Option<&Path>, reset: &[i32]) -> std::io::Result<i32> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let invalid = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| invalid()))
        .collect::<Result<_, _>>()?;
    if args.is_empty() {
        return Err(invalid());
    }
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let dir = dir
        .map(|d| CString::new(d.as_os_str().as_bytes()).map_err(|_| invalid()))
        .transpose()?;
    // SAFETY: the child only makes async-signal-safe calls on memory prepared above.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe {
            for &sig in reset {
                libc::signal(sig, libc::SIG_DFL);
            }
            if let Some(d) = &dir
                && libc::chdir(d.as_ptr()) != 0
            {
                libc::_exit(126);
            }
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let not_found = *libc::__errno_location() == libc::ENOENT;
            libc::_exit(if not_found { 127 } else { 126 })
        },
        pid => Ok(pid),
    }
}

/// waitpid; with `block` false, None while the child runs. The status is decoded to
/// (exit code, signal): one of them is meaningful.
pub fn wait_child(pid: i32, block: bool) -> Option<(Option<i32>, Option<i32>)> {
    let mut status = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r <= 0 {
            return if r == 0 {
                None
            } else {
                Some((Some(127), None))
            };
        }
        break;
    }
    if libc::WIFEXITED(status) {
        Some((Some(libc::WEXITSTATUS(status)), None))
    } else {
        Some((None, Some(libc::WTERMSIG(status))))
    }
}
