//! s6-overlay drop-in, the runtime side (the layout is read by `config::s6`). In the order
//! of a start:
//! - `front.rs`: the s6 mode's one door, which `app` asks once per stage: an s6 command
//!   rather than a start? a layout to run? what the drop, the services and the exit code
//!   need from it;
//! - `hook.rs`: `S6_STAGE2_HOOK`, run before the layout is read;
//! - this file: where the s6 mode reads and writes (`S6Paths`), the container environment
//!   as its services get it (`s6_container_env`), and `write_runtime`: the files scripts
//!   expect under `/run` — data only: nothing is copied to `/run` and executed from there,
//!   as `/run` is often a noexec tmpfs (s6-overlay #397):
//!   the container environment (`write_container_environment`, also called before
//!   S6_STAGE2_HOOK), each longrun's live directory (its cwd, laid out as s6-overlay's:
//!   `/run/s6-rc/servicedirs/NAME` or `/run/s6/legacy-services/NAME`, holding links to its
//!   files in the image, with `/run/service/NAME` linking to it), the exitcode file, `halt`;
//! - `run_scripts` (this file): the cont-init.d stage, one script after the other;
//! - `shims.rs`: the commands scripts call (`with-contenv`, `s6-svc`, ...) answered by pidone's
//!   own binary, dispatched on `argv[0]`, so an image may delete s6-overlay;
//! - `link.rs`: `pidone s6-shims DIR`, which links those names in an image.

pub mod front;
pub mod hook;
pub mod link;
pub mod shims;

use crate::cli::Options;
use crate::config::s6::{layout, translate};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// pidone's shims in the run tree: symlinks to its binary on the image, which execute even
/// on a noexec `/run` (the kernel checks the mount of the binary, not of the link).
pub fn shim_dir(base: &Path) -> PathBuf {
    base.join("s6/pidone-shims")
}

/// s6's scan directory, `/run/service`: `NAME` there links to each longrun's live directory,
/// as s6-rc and s6-overlay's services-up link it.
pub fn scan_dir(base: &Path) -> PathBuf {
    base.join("service")
}

/// Where the s6 mode reads and writes: the layout's root, the runtime base (`/run`), the
/// image's `/command`.
pub struct S6Paths {
    pub root: PathBuf,
    /// Base of the runtime files (`/run`).
    pub base: PathBuf,
    /// Where the image's `/command` is (PIDONE_S6_COMMAND_DIR, for tests and for images
    /// that keep the shims elsewhere).
    pub command_dir: PathBuf,
}

impl S6Paths {
    pub fn of(opts: &Options) -> S6Paths {
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
pub fn s6_container_env(
    env: &BTreeMap<String, String>,
    paths: &S6Paths,
) -> BTreeMap<String, String> {
    let mut contenv = env.clone();
    // Where the shims (with-contenv in a hook included) find the runtime files.
    contenv.insert("PIDONE_S6_RUN_DIR".into(), paths.base.display().to_string());
    let shims = shim_dir(&paths.base);
    contenv.insert(
        "PATH".into(),
        translate::service_path(Some(&shims), &paths.command_dir),
    );
    contenv
}

/// The runtime files s6-overlay scripts expect, written after the privilege drop (data
/// only, never executed from there): the container environment, each longrun's live
/// directory (`live_dirs`: its path under `service/` and its directory in the image), the
/// exitcode file holding `0`, and `s6/basedir/bin/halt` as a symlink to pidone on the image.
pub fn write_runtime(
    base: &Path,
    env: &std::collections::BTreeMap<String, String>,
    live_dirs: &[(PathBuf, PathBuf)],
    self_exe: &Path,
) -> Result<(), String> {
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
    };
    write_container_environment(base, env)?;
    let service_dirs = [
        translate::rc_service_dirs(base),
        translate::legacy_service_dirs(base),
    ];
    for (live, image) in live_dirs {
        real_dirs_under(base, live)?;
        fill_live_dir(live, image)?;
        // The other paths scripts use for a service, links to the live directory:
        // `/run/service/NAME` (s6's scan directory, what `s6-svc` is given) and v2's
        // `/var/run/s6/services/NAME`. A services.d logger (`NAME/log`) is reached through
        // its service's.
        let Some(name) = live.file_name() else {
            continue;
        };
        if service_dirs
            .iter()
            .any(|d| live.parent() == Some(d.as_path()))
        {
            for dir in [scan_dir(base), base.join("s6/services")] {
                real_dirs_under(base, &dir)?;
                replace_with_symlink(live, &dir.join(name))?;
            }
        }
    }
    let exitcode = shims::exitcode_file(base);
    mkdir(exitcode.parent().expect("has a parent"))?;
    std::fs::write(&exitcode, "0\n")
        .map_err(|e| format!("cannot write {}: {e}", exitcode.display()))?;
    let bin = base.join("s6/basedir/bin");
    mkdir(&bin)?;
    for name in ["halt", "poweroff"] {
        replace_with_symlink(self_exe, &bin.join(name))?;
    }
    shims::write_shims(&shim_dir(base), self_exe)?;
    Ok(())
}

/// `/run/s6/container_environment`, readable by every uid as under s6-overlay (0755/0644):
/// a job running as another user (cron as the image's service user) calls `with-contenv`
/// too. It holds the container's environment, which `docker inspect` and /proc already show
/// to whoever could read it here.
pub fn write_container_environment(
    base: &Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let dir = shims::container_environment(base);
    crate::config::s6::envdir::write(&dir, env, crate::config::s6::envdir::READABLE)
        .map_err(|e| with_run_hint(e, base))
}

/// A directory pidone cannot create under the s6 base: say what makes it writable. Not
/// `--tmpfs /run:mode=1777`: Docker 20.10 ignores that mode and gives the tmpfs the image's
/// `/run` mode; `uid=` is honoured.
fn with_run_hint(e: String, base: &Path) -> String {
    if e.contains("Permission denied") || e.contains("Read-only file system") {
        let uid = nix::unistd::geteuid();
        format!(
            "{e}; {base} must be writable by uid {uid}: mount a tmpfs owned by it (`docker run --tmpfs {base}:uid={uid}`), or make the image's /run writable for any uid (`RUN chmod 1777 /run` in the Dockerfile)",
            base = base.display(),
        )
    } else {
        e
    }
}

/// `dir` and every directory between `base` and it as real directories: one that is a
/// symlink (left from an earlier run, or planted by a service, which can write `/run`) is
/// removed, never followed, so pidone writes only under `base`.
fn real_dirs_under(base: &Path, dir: &Path) -> Result<(), String> {
    let fail = |p: &Path, e: std::io::Error| format!("cannot create {}: {e}", p.display());
    let rel = dir.strip_prefix(base).map_err(|_| {
        format!(
            "{} is not under the s6 run dir {}",
            dir.display(),
            base.display()
        )
    })?;
    let mut at = base.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&at).map_err(|e| fail(&at, e))?,
            Err(_) => {}
        }
        std::fs::create_dir(&at).map_err(|e| fail(&at, e))?;
    }
    Ok(())
}

/// A longrun's live directory (a real directory, made by `real_dirs_under`, so its path is
/// the cwd a script sees) gets a symlink to each entry of its directory in the image (`run`,
/// `data/`, `env/`, ...), so `./data/check` runs the image's file, which executes even on a
/// noexec `/run`. A services.d `log/` is not linked: it is the logger's own live directory.
/// A service may change these links (it can write /run); pidone itself never runs anything
/// through them.
fn fill_live_dir(live: &Path, image: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(image).map_err(|e| format!("cannot list {}: {e}", image.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if name.to_string_lossy().starts_with('.') || (name == "log" && is_dir) {
            continue;
        }
        replace_with_symlink(&entry.path(), &live.join(&name))?;
    }
    Ok(())
}

/// `link` → `target`, replacing what is there without following it: a file or symlink, or
/// a directory (a live directory of an earlier layout; s6-overlay wipes these at each start).
fn replace_with_symlink(target: &Path, link: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.is_dir() => {
            // remove_dir_all does not follow symlinks inside.
            std::fs::remove_dir_all(link)
                .map_err(|e| format!("cannot replace {}: {e}", link.display()))?;
        }
        Ok(_) => {
            let _ = std::fs::remove_file(link);
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("cannot create {}: {e}", link.display()))
}

/// `pidone s6-run-scripts --stop-on-failure yes|no --command-dir DIR [--time-limit MS] --
/// SCRIPT...`: the cont-init.d stage (and, at stop, cont-finish.d), one script after the other
/// in name order. A failure is reported and, with S6_BEHAVIOUR_IF_STAGE2_FAILS=2, stops the
/// stage (the oneshot fails with its code). With `--time-limit` (S6_KILL_FINISH_MAXTIME for
/// cont-finish.d) a script still running after that long gets SIGKILL, and the next one runs.
pub fn run_scripts(args: &[String]) -> i32 {
    let mut stop = false;
    let mut command_dir = PathBuf::from("/command");
    let mut limit = None;
    let mut i = 0;
    while i < args.len() && args[i] != "--" {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--stop-on-failure", Some(v)) => stop = v == "yes",
            ("--command-dir", Some(v)) => command_dir = v.into(),
            ("--time-limit", Some(v)) if v.parse::<u64>().is_ok() => {
                limit = v.parse().ok().map(std::time::Duration::from_millis)
            }
            _ => {
                eprintln!("s6-run-scripts: unknown argument {:?}", args[i]);
                return crate::exit::USAGE;
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
        let code = match fork_exec(&script.argv) {
            Ok(pid) => match wait_child_within(pid, limit) {
                Ok(Some((Some(c), _))) => c,
                Ok(Some((None, Some(sig)))) => 128 + sig,
                Ok(_) => 1,
                Err(limit) => {
                    eprintln!(
                        "{path}: still running after {} ms; killed",
                        limit.as_millis()
                    );
                    worst = 128 + libc::SIGKILL;
                    if stop {
                        return worst;
                    }
                    continue;
                }
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

/// fork + execvp for the s6 helpers (cont-init.d, s6-notifyoncheck's checker): the child
/// keeps this process's group (signals pidone sends to the group reach it). A failed exec
/// exits 127 (not found) or 126. Everything is prepared before the fork. (Not
/// `std::process::Command`: the same in a few hundred bytes instead of several KiB of the
/// static binary.)
pub fn fork_exec(argv: &[String]) -> std::io::Result<i32> {
    use std::ffi::CString;
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
    // SAFETY: the child only makes async-signal-safe calls on memory prepared above.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe {
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let not_found = *libc::__errno_location() == libc::ENOENT;
            libc::_exit(if not_found { 127 } else { 126 })
        },
        pid => Ok(pid),
    }
}

/// Wait for child `pid` at most `limit` (None: as long as it takes); at the limit it gets
/// SIGKILL and is reaped, and the limit comes back as the error. (These helpers are short-lived
/// processes of their own, not PID 1's loop: a 20 ms poll of waitpid is their whole timer.)
pub fn wait_child_within(
    pid: i32,
    limit: Option<std::time::Duration>,
) -> Result<Option<ChildStatus>, std::time::Duration> {
    let Some(limit) = limit else {
        return Ok(wait_child(pid, true));
    };
    let start = std::time::Instant::now();
    loop {
        match wait_child(pid, false) {
            Some(status) => return Ok(Some(status)),
            None if start.elapsed() >= limit => {
                // SAFETY: our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                wait_child(pid, true);
                return Err(limit);
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// How a child ended: (exit code, signal), one of them meaningful.
pub type ChildStatus = (Option<i32>, Option<i32>);

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
