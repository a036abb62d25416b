//! Reads an image's s6-overlay trees into plain data. Pure apart from reading files: nothing
//! is executed, and every problem names the path it is about and what to do, so a bad layout
//! is refused before anything starts.
//!
//! Trees (all under the `--s6-root`, `/` in an image):
//! - `etc/s6-overlay/s6-rc.d/NAME/` — s6-rc source definitions (`type` oneshot / longrun /
//!   bundle) and the `user` / `user2` bundles;
//! - `etc/s6-overlay/user-bundles.d/{user,user2}/contents.d/` — bundle membership since
//!   s6-overlay 3.2.3;
//! - `etc/cont-init.d/*`, `etc/services.d/NAME/`, `etc/cont-finish.d/*` — the v2 layout v3 still
//!   runs.
//!
//! With `S6_RUNTIME_PROFILE=P` every tree is read from `etc/cont-profile.d/P/` instead of `etc/`
//! (`.../P/s6-overlay/s6-rc.d`, `.../P/cont-init.d`, ...), as s6-overlay's stage 2 does;
//! `S6_RUNTIME_BUNDLEDIR` names another `user-bundles.d`.
//!
//! The `user` and `user2` bundles (and `base`) ship in s6-overlay's own tarball, not in the
//! image: an image only adds `s6-rc.d/user/contents.d/NAME`. Once pidone replaces s6-overlay
//! they are pidone's to supply, so a `user` or `user2` directory without a `type` file is
//! that bundle (s6-overlay writes `bundle` into it before compiling).

use crate::safe_read::{self, Symlinks};
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One file of a layout is at most this big: scripts and one-line settings. A run script of a
/// megabyte is a mistake (or a device someone linked there), not something to load.
const FILE_LIMIT: u64 = 1024 * 1024;

/// Services s6-overlay itself defines; images depend on them by name but do not ship them.
/// `base` is "after the early init" (cont-init.d here), the others are its v2 compatibility
/// services, which pidone runs in their place.
pub const BUILTIN: &[&str] = &["base", "legacy-cont-init", "legacy-services", "fix-attrs"];

/// Where a problem is and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

fn problem(path: &Path, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// How to run a script file: the argv pidone spawns (the interpreter from its `#!` line, so a
/// script the image forgot to mark executable still runs, as s6-rc-compile's 0755 copy would).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub path: PathBuf,
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RcKind {
    /// `up`, `down`: None when the file is absent or holds only comments (nothing to run).
    /// `down` runs at stop when `up` succeeded, bounded by `timeout-down` (0 or absent: no
    /// limit).
    Oneshot {
        up: Option<Vec<String>>,
        down: Option<Vec<String>>,
        timeout_down: Option<Duration>,
    },
    Longrun {
        run: Script,
        finish: Option<Script>,
        /// `timeout-finish`: how long finish may run (absent: s6's 5 s).
        timeout_finish: Option<Duration>,
        notification_fd: Option<i32>,
        down_signal: Option<i32>,
        timeout_kill: Option<Duration>,
        /// `producer-for`: the longrun this one's stdout is piped into.
        producer_for: Option<String>,
        /// `consumer-for`: the longruns whose stdout this one reads (they share one pipe).
        consumer_for: Vec<String>,
        /// `pipeline-name`: on the last consumer, a bundle of the whole pipeline.
        pipeline_name: Option<String>,
    },
    Bundle {
        contents: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RcService {
    pub name: String,
    pub dir: PathBuf,
    pub kind: RcKind,
    pub dependencies: Vec<String>,
    /// `timeout-up`: a oneshot still running after this long fails (0 or absent: no limit).
    pub timeout_up: Option<Duration>,
    /// `env/`: an envdir of variables for this service.
    pub env: Vec<(String, String)>,
}

/// `/etc/services.d/NAME/`, or its logger `NAME/log/` (named `NAME-log`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyService {
    pub name: String,
    pub dir: PathBuf,
    pub run: Script,
    pub finish: Option<Script>,
    /// A `down` file: defined, but not started.
    pub down: bool,
    pub notification_fd: Option<i32>,
    /// The logger this service's stdout is piped into (`NAME-log` when `NAME/log/` exists).
    pub stdout_to: Option<String>,
}

/// The name of the logger a services.d `NAME/log/` directory defines.
pub fn legacy_logger_name(name: &str) -> String {
    format!("{name}-log")
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    pub rc: Vec<RcService>,
    /// Members of the `user` and `user2` bundles (as listed, bundles not yet expanded).
    pub user: Vec<String>,
    pub user2: Vec<String>,
    pub cont_init: Vec<Script>,
    pub services: Vec<LegacyService>,
    pub cont_finish: Vec<Script>,
    /// Files and features read but not honoured: warnings at start and in `pidone check`.
    pub unsupported: Vec<Problem>,
    /// Files pidone does not use that s6-rc-compile ignores silently too (a data file the
    /// service's own script reads, such as linuxserver's `branding`): info lines only.
    pub ignored: Vec<Problem>,
}

impl Layout {
    pub fn is_empty(&self) -> bool {
        self.rc.is_empty()
            && self.user.is_empty()
            && self.user2.is_empty()
            && self.cont_init.is_empty()
            && self.services.is_empty()
            && self.cont_finish.is_empty()
    }

    pub fn find(&self, name: &str) -> Option<&RcService> {
        self.rc.iter().find(|s| s.name == name)
    }
}

/// The directories whose presence makes an image an s6-overlay image.
pub fn markers(root: &Path) -> [PathBuf; 4] {
    [
        root.join("etc/s6-overlay/s6-rc.d"),
        root.join("etc/cont-profile.d"),
        root.join("etc/services.d"),
        root.join("etc/cont-init.d"),
    ]
}

/// What the drop-in needs from the world outside the trees.
pub struct Env<'a> {
    /// `execlineb` on the image, for `up`/`down` lines that are execline scripts.
    pub execlineb: Option<&'a Path>,
    /// Where the image's `/command` shims are (`/command`; tests point elsewhere). A `#!`
    /// naming `/command/X` runs `<command_dir>/X`.
    pub command_dir: &'a Path,
    /// S6_RUNTIME_PROFILE: the trees are under `etc/cont-profile.d/PROFILE/`.
    pub profile: Option<&'a str>,
    /// S6_RUNTIME_BUNDLEDIR: the `user-bundles.d` to read instead (a path in the image).
    pub bundle_dir: Option<&'a Path>,
}

/// Where the trees are, under a root: `etc/`, or `etc/cont-profile.d/PROFILE/` with
/// S6_RUNTIME_PROFILE.
pub struct Trees {
    /// Holds `cont-init.d`, `services.d`, `cont-finish.d`.
    pub etc: PathBuf,
    /// `s6-overlay`, holding `s6-rc.d` and `user-bundles.d`.
    pub overlay: PathBuf,
    /// `user-bundles.d` (or S6_RUNTIME_BUNDLEDIR).
    pub bundles: PathBuf,
}

impl Trees {
    /// The trees for `env`'s profile and bundle dir. A profile that is not one plain
    /// directory name, or whose directory is missing, is an error naming the variable.
    pub fn locate(root: &Path, env: &Env) -> Result<Trees, Problem> {
        let etc = match env.profile {
            None => root.join("etc"),
            Some(p) => {
                let base = root.join("etc/cont-profile.d");
                if p.is_empty() || p == "." || p == ".." || p.contains('/') {
                    return Err(problem(
                        &base,
                        format!(
                            "S6_RUNTIME_PROFILE={p:?} must be the name of a directory in /etc/cont-profile.d"
                        ),
                    ));
                }
                let dir = base.join(p);
                if !dir.join("s6-overlay").is_dir() {
                    return Err(problem(
                        &dir.join("s6-overlay"),
                        format!(
                            "S6_RUNTIME_PROFILE={p:?} names this profile, which has no s6-overlay directory; create it (with s6-rc.d and user-bundles.d) or unset the variable"
                        ),
                    ));
                }
                dir
            }
        };
        let overlay = etc.join("s6-overlay");
        let bundles = match env.bundle_dir {
            Some(d) => root.join(d.strip_prefix("/").unwrap_or(d)),
            None => overlay.join("user-bundles.d"),
        };
        Ok(Trees {
            etc,
            overlay,
            bundles,
        })
    }
}

/// Read every tree under `root`. Errors are all collected (one run shows every problem).
pub fn read(root: &Path, env: &Env) -> Result<Layout, Vec<Problem>> {
    let mut layout = Layout::default();
    let mut errors = Vec::new();
    let trees = Trees::locate(root, env).map_err(|e| vec![e])?;
    let rc_dir = trees.overlay.join("s6-rc.d");
    for name in entries(&rc_dir, &mut errors) {
        let dir = rc_dir.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let notes = (&mut layout.unsupported, &mut layout.ignored);
        if let Some(svc) = read_rc(&name, &dir, env, &mut errors, notes) {
            layout.rc.push(svc);
        }
    }
    check_pipelines(&mut layout, &mut errors);
    // `user` and `user2` as bundles in s6-rc.d (the form before 3.2.3) are folded into the
    // membership lists, so both forms (and a mix) mean the same.
    for (bundle, list) in [("user", &mut layout.user), ("user2", &mut layout.user2)] {
        if let Some(pos) = layout.rc.iter().position(|s| s.name == bundle) {
            let svc = layout.rc.remove(pos);
            match svc.kind {
                RcKind::Bundle { contents } => list.extend(contents),
                _ => errors.push(problem(
                    &svc.dir.join("type"),
                    format!("{bundle:?} is s6-overlay's bundle of services to start; it must be of type bundle"),
                )),
            }
        }
        let members = trees.bundles.join(bundle).join("contents.d");
        list.extend(entries(&members, &mut errors));
        list.sort();
        list.dedup();
    }
    for script in entries(&trees.etc.join("cont-init.d"), &mut errors) {
        let path = trees.etc.join("cont-init.d").join(&script);
        match script_argv(&path, env.command_dir) {
            Ok(s) => layout.cont_init.push(s),
            Err(e) => errors.push(e),
        }
    }
    for script in entries(&trees.etc.join("cont-finish.d"), &mut errors) {
        let path = trees.etc.join("cont-finish.d").join(&script);
        match script_argv(&path, env.command_dir) {
            Ok(s) => layout.cont_finish.push(s),
            Err(e) => errors.push(e),
        }
    }
    let fix_attrs = trees.etc.join("fix-attrs.d");
    if !entries(&fix_attrs, &mut errors).is_empty() {
        layout.unsupported.push(problem(
            &fix_attrs,
            "not run: fix-attrs is deprecated by s6-overlay and needs root to chown; set ownership in the image (RUN chown) or in a cont-init.d script",
        ));
    }
    let services_d = trees.etc.join("services.d");
    for name in entries(&services_d, &mut errors) {
        let dir = services_d.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let Some(mut svc) = read_legacy(name.clone(), &dir, env, &mut errors) else {
            continue;
        };
        // A `log/` service directory is the service's logger: s6-svscan pipes the service's
        // stdout into it, and so does pidone (`stdout_to`).
        let log_dir = dir.join("log");
        let logger = if log_dir.is_dir() {
            let logger = read_legacy(legacy_logger_name(&name), &log_dir, env, &mut errors);
            if let Some(l) = &logger {
                if l.down {
                    layout.unsupported.push(problem(
                        &log_dir.join("down"),
                        "ignored: a logger starts with its service (otherwise the service would block once the pipe is full)",
                    ));
                }
                svc.stdout_to = Some(l.name.clone());
            }
            logger
        } else {
            None
        };
        layout.services.push(svc);
        if let Some(mut l) = logger {
            l.down = false;
            layout.services.push(l);
        }
    }
    check_graph(&layout, &rc_dir, &mut errors);
    if errors.is_empty() {
        Ok(layout)
    } else {
        Err(errors)
    }
}

/// `/etc/services.d/NAME/` (or its `log/`): run, finish, notification-fd, down.
fn read_legacy(
    name: String,
    dir: &Path,
    env: &Env,
    errors: &mut Vec<Problem>,
) -> Option<LegacyService> {
    let run = script_argv(&dir.join("run"), env.command_dir)
        .map_err(|e| errors.push(e))
        .ok()?;
    let finish = optional_script(&dir.join("finish"), env.command_dir, errors);
    let notification_fd = read_number(&dir.join("notification-fd"), errors)
        .and_then(|n| fd_number(&dir.join("notification-fd"), n, errors));
    Some(LegacyService {
        name,
        down: dir.join("down").exists(),
        dir: dir.to_path_buf(),
        run,
        finish,
        notification_fd,
        stdout_to: None,
    })
}

/// Sorted names in `dir` (absent: none), without dot files: s6-rc and s6-overlay skip them,
/// and editors leave them behind.
fn entries(dir: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(problem(dir, format!("cannot list the directory: {e}")));
            return Vec::new();
        }
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn read_text(path: &Path) -> std::io::Result<String> {
    safe_read::read_to_string(path, FILE_LIMIT, Symlinks::Follow)
}

/// A file's text when it exists; an unreadable one is an error.
fn optional_text(path: &Path, errors: &mut Vec<Problem>) -> Option<String> {
    match read_text(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(problem(path, format!("cannot read the file: {e}")));
            None
        }
    }
}

fn read_number(path: &Path, errors: &mut Vec<Problem>) -> Option<u64> {
    let text = optional_text(path, errors)?;
    match text.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(problem(
                path,
                format!("expected a number, found {:?}", text.trim()),
            ));
            None
        }
    }
}

fn fd_number(path: &Path, n: u64, errors: &mut Vec<Problem>) -> Option<i32> {
    // 0-2 are the service's stdio; s6 refuses them too.
    if (3..=1024).contains(&n) {
        Some(n as i32)
    } else {
        errors.push(problem(
            path,
            format!("notification fd {n} is not usable; use a number from 3 to 1024"),
        ));
        None
    }
}

fn millis(path: &Path, errors: &mut Vec<Problem>) -> Option<Duration> {
    read_number(path, errors)
        .filter(|&n| n > 0)
        .map(Duration::from_millis)
}

/// Names listed one per line in a file (`dependencies`, `contents`) and as entries of a
/// directory (`dependencies.d`, `contents.d`).
fn name_list(file: &Path, dir: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    let mut names = entries(dir, errors);
    names.extend(names_in(file, errors));
    names.sort();
    names.dedup();
    names
}

/// The names listed one per line in `file` (absent: none); `#` lines are comments.
fn names_in(file: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    optional_text(file, errors)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `producer-for` and `pipeline-name`: one name.
fn one_name(file: &Path, errors: &mut Vec<Problem>) -> Option<String> {
    let mut names = names_in(file, errors);
    if names.len() > 1 {
        errors.push(problem(
            file,
            format!("holds {} names; write exactly one", names.len()),
        ));
        return None;
    }
    names.pop()
}

/// Files of a source definition that pidone reads; anything else is reported.
const KNOWN_FILES: &[&str] = &[
    "type",
    "up",
    "down",
    "run",
    "finish",
    "dependencies",
    "dependencies.d",
    "contents",
    "contents.d",
    "notification-fd",
    "timeout-up",
    "timeout-down",
    "timeout-kill",
    "timeout-finish",
    "down-signal",
    "data",
    "env",
    "producer-for",
    "consumer-for",
    "pipeline-name",
];

fn read_rc(
    name: &str,
    dir: &Path,
    env: &Env,
    errors: &mut Vec<Problem>,
    (unsupported, ignored): (&mut Vec<Problem>, &mut Vec<Problem>),
) -> Option<RcService> {
    let type_path = dir.join("type");
    let kind_text = match read_text(&type_path) {
        Ok(t) => t.trim().to_string(),
        // s6-overlay's tarball supplies these two bundles; the image only adds members.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && matches!(name, "user" | "user2") => {
            "bundle".to_string()
        }
        Err(e) => {
            errors.push(problem(
                &type_path,
                format!(
                    "cannot read the service type ({e}); write oneshot, longrun or bundle into it"
                ),
            ));
            return None;
        }
    };
    for file in entries(dir, errors) {
        let pipeline_file = matches!(
            file.as_str(),
            "producer-for" | "consumer-for" | "pipeline-name"
        );
        if file == "log" {
            // s6-rc-compile ignores it too; a services.d-style logger would silently not run.
            unsupported.push(problem(
                &dir.join(&file),
                "not used (s6-rc ignores log/ too): define the logger as its own longrun, with producer-for here and consumer-for there",
            ));
        } else if !KNOWN_FILES.contains(&file.as_str()) {
            // s6-rc-compile skips it without a word: a data file its scripts read.
            ignored.push(problem(&dir.join(&file), "not used by pidone"));
        } else if pipeline_file && kind_text != "longrun" {
            // s6-rc-compile reads these for longruns only.
            unsupported.push(problem(
                &dir.join(&file),
                "ignored: only longruns take part in pipelines",
            ));
        }
    }
    let before = errors.len();
    let kind = match kind_text.as_str() {
        "oneshot" => {
            let up_path = dir.join("up");
            let up = match read_text(&up_path) {
                Ok(text) => parse_line(&text, env.execlineb)
                    .map_err(|e| errors.push(problem(&up_path, e)))
                    .ok()?,
                Err(e) => {
                    errors.push(problem(
                        &up_path,
                        format!("a oneshot needs an up file: {e}"),
                    ));
                    None
                }
            };
            // The same rules as `up`: one execline command line.
            let down_path = dir.join("down");
            let down = optional_text(&down_path, errors).and_then(|text| {
                parse_line(&text, env.execlineb)
                    .map_err(|e| errors.push(problem(&down_path, e)))
                    .ok()
                    .flatten()
            });
            RcKind::Oneshot {
                up,
                down,
                timeout_down: millis(&dir.join("timeout-down"), errors),
            }
        }
        "longrun" => {
            let run = match script_argv(&dir.join("run"), env.command_dir) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(e);
                    return None;
                }
            };
            let finish = optional_script(&dir.join("finish"), env.command_dir, errors);
            let nfd_path = dir.join("notification-fd");
            let notification_fd =
                read_number(&nfd_path, errors).and_then(|n| fd_number(&nfd_path, n, errors));
            let sig_path = dir.join("down-signal");
            let down_signal = optional_text(&sig_path, errors).and_then(|t| {
                crate::values::parse_signal(t.trim())
                    .map_err(|e| errors.push(problem(&sig_path, e)))
                    .ok()
            });
            RcKind::Longrun {
                run,
                finish,
                timeout_finish: millis(&dir.join("timeout-finish"), errors),
                notification_fd,
                down_signal,
                timeout_kill: millis(&dir.join("timeout-kill"), errors),
                producer_for: one_name(&dir.join("producer-for"), errors),
                consumer_for: {
                    let mut producers = names_in(&dir.join("consumer-for"), errors);
                    producers.sort();
                    producers.dedup();
                    producers
                },
                pipeline_name: one_name(&dir.join("pipeline-name"), errors),
            }
        }
        "bundle" => RcKind::Bundle {
            contents: name_list(&dir.join("contents"), &dir.join("contents.d"), errors),
        },
        other => {
            errors.push(problem(
                &type_path,
                format!("unknown service type {other:?}; write oneshot, longrun or bundle"),
            ));
            return None;
        }
    };
    let env_vars = read_envdir_strict(&dir.join("env"), errors);
    let svc = RcService {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        dependencies: name_list(
            &dir.join("dependencies"),
            &dir.join("dependencies.d"),
            errors,
        ),
        timeout_up: millis(&dir.join("timeout-up"), errors),
        env: env_vars,
        kind,
    };
    (errors.len() == before).then_some(svc)
}

fn read_envdir_strict(dir: &Path, errors: &mut Vec<Problem>) -> Vec<(String, String)> {
    if !dir.is_dir() {
        return Vec::new();
    }
    match super::envdir::read(dir) {
        Ok(vars) => vars
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        Err(e) => {
            errors.push(problem(dir, e));
            Vec::new()
        }
    }
}

fn optional_script(path: &Path, command_dir: &Path, errors: &mut Vec<Problem>) -> Option<Script> {
    if std::fs::symlink_metadata(path).is_err() {
        return None;
    }
    script_argv(path, command_dir)
        .map_err(|e| errors.push(e))
        .ok()
}

/// The argv that runs a script file. A `#!` line is honoured by pidone itself (interpreter,
/// its one optional argument, the file), so the script need not be executable; without one
/// the file must be an executable (a binary).
pub fn script_argv(path: &Path, command_dir: &Path) -> Result<Script, Problem> {
    let bytes = safe_read::read(path, FILE_LIMIT, Symlinks::Follow).map_err(|e| {
        problem(
            path,
            format!("cannot read the script ({e}); it must be a readable regular file"),
        )
    })?;
    let file = path.display().to_string();
    let argv = match shebang(&bytes) {
        Some((interp, arg)) => {
            let mut argv = vec![remap_command(&interp, command_dir)];
            argv.extend(arg);
            argv.push(file);
            argv
        }
        None => {
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode());
            if mode.is_ok_and(|m| m & 0o111 != 0) {
                vec![file]
            } else {
                return Err(problem(
                    path,
                    "the script has no #! line and is not executable; add a #! line (for example #!/bin/sh) or chmod +x it",
                ));
            }
        }
    };
    Ok(Script {
        path: path.to_path_buf(),
        argv,
    })
}

/// Linux's reading of `#!`: the interpreter, then the rest of the line as one argument.
fn shebang(bytes: &[u8]) -> Option<(String, Option<String>)> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    (!interp.is_empty()).then(|| (interp.to_string(), arg))
}

/// `/command/X` → `<command_dir>/X` when the shims live elsewhere.
fn remap_command(interp: &str, command_dir: &Path) -> String {
    match interp.strip_prefix("/command/") {
        Some(name) if command_dir != Path::new("/command") => {
            command_dir.join(name).display().to_string()
        }
        _ => interp.to_string(),
    }
}

/// An `up`/`down` file: one execline command line. Comments only → None (nothing to run).
/// Plain words starting with an absolute path run as they are; anything else (blocks, quotes,
/// substitutions) through `execlineb -Pc` when the image has it.
pub fn parse_line(text: &str, execlineb: Option<&Path>) -> Result<Option<Vec<String>>, String> {
    let code: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if code.is_empty() {
        return Ok(None);
    }
    let special = |c: char| "{}\"'$\\;#`".contains(c);
    if code.len() == 1 && !code[0].contains(special) && code[0].starts_with('/') {
        return Ok(Some(code[0].split_whitespace().map(String::from).collect()));
    }
    match execlineb {
        Some(exe) => Ok(Some(vec![
            exe.display().to_string(),
            "-Pc".into(),
            code.join("\n"),
        ])),
        None => Err(
            "this line needs execline's execlineb, which the image does not have; make the file a single absolute path to a script, or install execline (Debian: apt-get install execline)".into(),
        ),
    }
}

/// The pipeline files of a longrun: (`producer-for`, `consumer-for`, `pipeline-name`).
type PipelineFiles<'a> = (&'a Option<String>, &'a Vec<String>, &'a Option<String>);

fn pipeline_files(svc: &RcService) -> Option<PipelineFiles<'_>> {
    match &svc.kind {
        RcKind::Longrun {
            producer_for,
            consumer_for,
            pipeline_name,
            ..
        } => Some((producer_for, consumer_for, pipeline_name)),
        _ => None,
    }
}

fn kind_name(kind: &RcKind) -> &'static str {
    match kind {
        RcKind::Oneshot { .. } => "oneshot",
        RcKind::Longrun { .. } => "longrun",
        RcKind::Bundle { .. } => "bundle",
    }
}

/// Log pipelines, as s6-rc-compile checks them: a producer and its consumer are longruns that
/// name each other (`producer-for` one consumer, `consumer-for` any number of producers), and
/// no pipeline loops. A last consumer's `pipeline-name` becomes a bundle of the whole pipeline.
fn check_pipelines(layout: &mut Layout, errors: &mut Vec<Problem>) {
    let before = errors.len();
    for svc in &layout.rc {
        let Some((producer_for, consumer_for, _)) = pipeline_files(svc) else {
            continue;
        };
        let name = &svc.name;
        if let Some(c) = producer_for {
            let file = svc.dir.join("producer-for");
            match layout.find(c) {
                None => errors.push(problem(
                    &file,
                    format!("{name} is a producer for {c:?}, which is not defined in s6-rc.d; add that longrun or remove the file"),
                )),
                Some(t) => match pipeline_files(t) {
                    None => errors.push(problem(
                        &file,
                        format!("{c:?} is a {}; a producer's output can only go to a longrun", kind_name(&t.kind)),
                    )),
                    Some((_, theirs, _)) if !theirs.contains(name) => errors.push(problem(
                        &t.dir.join("consumer-for"),
                        format!("{name} is a producer for {c}, which does not declare it back; add {name:?} to this file"),
                    )),
                    Some(_) => {}
                },
            }
        }
        for p in consumer_for {
            let file = svc.dir.join("consumer-for");
            match layout.find(p) {
                None => errors.push(problem(
                    &file,
                    format!("{name} is a consumer for {p:?}, which is not defined in s6-rc.d; add that longrun or remove the line"),
                )),
                Some(t) => match pipeline_files(t) {
                    None => errors.push(problem(
                        &file,
                        format!("{p:?} is a {}; only a longrun can produce into a pipeline", kind_name(&t.kind)),
                    )),
                    Some((theirs, _, _)) if theirs.as_deref() != Some(name.as_str()) => {
                        errors.push(problem(
                            &t.dir.join("producer-for"),
                            format!("{name} is a consumer for {p}, which does not declare it back; write {name:?} into this file"),
                        ))
                    }
                    Some(_) => {}
                },
            }
        }
    }
    if errors.len() > before {
        return;
    }
    // Each producer has one consumer: a loop is found by following producer-for.
    for svc in &layout.rc {
        let mut path = vec![svc.name.clone()];
        let mut current = svc;
        while let Some((Some(next), _, _)) = pipeline_files(current) {
            if next == &svc.name {
                path.push(next.clone());
                errors.push(problem(
                    &svc.dir.join("producer-for"),
                    format!(
                        "pipeline loop: {}; a pipeline must end in a consumer that produces for nobody",
                        path.join(" → ")
                    ),
                ));
                return;
            }
            if path.contains(next) {
                break; // a loop further on, reported from one of its own members
            }
            path.push(next.clone());
            current = layout.find(next).expect("consumers checked above");
        }
    }
    let mut bundles: Vec<RcService> = Vec::new();
    for svc in &layout.rc {
        let Some((producer_for, consumer_for, Some(bundle))) = pipeline_files(svc) else {
            continue;
        };
        let file = svc.dir.join("pipeline-name");
        if producer_for.is_some() || consumer_for.is_empty() {
            layout.unsupported.push(problem(
                &file,
                "ignored: only the last consumer of a pipeline names it (as s6-rc-compile does)",
            ));
            continue;
        }
        if layout.find(bundle).is_some()
            || BUILTIN.contains(&bundle.as_str())
            || bundles.iter().any(|b| &b.name == bundle)
        {
            errors.push(problem(
                &file,
                format!("names the pipeline {bundle:?}, which is already a service or pipeline; rename one of them"),
            ));
            continue;
        }
        // The consumer and, transitively, everything that produces into it.
        let mut contents = vec![svc.name.clone()];
        let mut i = 0;
        while i < contents.len() {
            if let Some((_, producers, _)) = layout.find(&contents[i]).and_then(pipeline_files) {
                for p in producers {
                    if !contents.contains(p) {
                        contents.push(p.clone());
                    }
                }
            }
            i += 1;
        }
        contents.sort();
        bundles.push(RcService {
            name: bundle.clone(),
            dir: svc.dir.clone(),
            kind: RcKind::Bundle { contents },
            dependencies: Vec::new(),
            timeout_up: None,
            env: Vec::new(),
        });
    }
    layout.rc.extend(bundles);
}

/// Names resolved, bundles without loops, dependencies without cycles.
fn check_graph(layout: &Layout, rc_dir: &Path, errors: &mut Vec<Problem>) {
    let names: Vec<&str> = layout.rc.iter().map(|s| s.name.as_str()).collect();
    let known = |n: &str| names.contains(&n) || BUILTIN.contains(&n);
    for svc in &layout.rc {
        let (list, what, file) = match &svc.kind {
            RcKind::Bundle { contents } => (contents, "contains", "contents.d"),
            _ => (&svc.dependencies, "depends on", "dependencies.d"),
        };
        for dep in list {
            if !known(dep) {
                errors.push(problem(
                    &svc.dir.join(file).join(dep),
                    format!("{} {what} {dep:?}, which is not defined in {}; add that service or remove the entry", svc.name, rc_dir.display()),
                ));
            }
        }
    }
    for (bundle, list) in [("user", &layout.user), ("user2", &layout.user2)] {
        for m in list {
            if !known(m) {
                errors.push(problem(
                    &rc_dir.join(m),
                    format!("the {bundle} bundle lists {m:?}, which is not defined; add its directory or remove it from the bundle"),
                ));
            }
        }
    }
    for (i, l) in layout.services.iter().enumerate() {
        // services.d/NAME/log is the service `NAME-log`, which a services.d dir may also be.
        if layout.services[..i].iter().any(|o| o.name == l.name) {
            errors.push(problem(
                &l.dir,
                format!(
                    "{:?} is defined twice in services.d (a NAME/log logger is named NAME-log); rename one of them",
                    l.name
                ),
            ));
        }
        if names.contains(&l.name.as_str()) || l.name == "cont-init.d" {
            errors.push(problem(
                &l.dir,
                format!(
                    "{:?} is also defined in {}; rename one of them",
                    l.name,
                    rc_dir.display()
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return;
    }
    for svc in &layout.rc {
        if let RcKind::Bundle { .. } = svc.kind
            && let Err(path) = expand(layout, &svc.name)
        {
            errors.push(problem(
                &svc.dir.join("contents.d"),
                format!(
                    "bundle loop: {}; a bundle cannot contain itself",
                    path.join(" → ")
                ),
            ));
            return;
        }
    }
    if let Some(cycle) = find_cycle(layout) {
        let first = layout.find(&cycle[0]).map(|s| s.dir.clone());
        errors.push(problem(
            &first
                .unwrap_or_else(|| rc_dir.to_path_buf())
                .join("dependencies.d"),
            format!(
                "dependency cycle: {}; remove one of these dependencies",
                cycle.join(" → ")
            ),
        ));
    }
}

/// The atomic services (oneshots and longruns) a name stands for; a bundle loop is an error
/// carrying the path through the loop.
pub fn expand(layout: &Layout, name: &str) -> Result<Vec<String>, Vec<String>> {
    fn walk(
        layout: &Layout,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        if stack.iter().any(|s| s == name) {
            let mut path = stack.clone();
            path.push(name.to_string());
            return Err(path);
        }
        match layout.find(name) {
            Some(RcService {
                kind: RcKind::Bundle { contents },
                ..
            }) => {
                stack.push(name.to_string());
                for c in contents {
                    walk(layout, c, stack, out)?;
                }
                stack.pop();
            }
            Some(_) if !out.iter().any(|o| o == name) => out.push(name.to_string()),
            _ => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(layout, name, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// Each atomic service with the atomic services it depends on (bundles expanded, built-ins
/// dropped), in the layout's order. (Vectors, not maps: layouts have tens of services, and
/// every new map type is code in the static binary.)
pub type Dependencies = Vec<(String, Vec<String>)>;

pub fn atomic_dependencies(layout: &Layout) -> Dependencies {
    let mut deps = Vec::new();
    for svc in &layout.rc {
        if let RcKind::Bundle { .. } = svc.kind {
            continue;
        }
        let mut list: Vec<String> = Vec::new();
        // A producer depends on its consumer: the consumer is started first (and with it,
        // whenever the producer is wanted) and stopped last.
        let consumer = pipeline_files(svc).and_then(|(c, _, _)| c.as_ref());
        for d in svc.dependencies.iter().chain(consumer) {
            for a in expand(layout, d).unwrap_or_default() {
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        deps.push((svc.name.clone(), list));
    }
    deps
}

/// The dependencies of `name` in `deps` (none for an unknown name).
pub fn dependencies_of<'a>(deps: &'a Dependencies, name: &str) -> &'a [String] {
    deps.iter()
        .find(|(n, _)| n == name)
        .map_or(&[], |(_, d)| d.as_slice())
}

fn find_cycle(layout: &Layout) -> Option<Vec<String>> {
    let deps = atomic_dependencies(layout);
    // per service: 0 unvisited, 1 on the stack, 2 done
    let mut state: Vec<u8> = vec![0; deps.len()];
    fn visit(
        i: usize,
        deps: &Dependencies,
        state: &mut Vec<u8>,
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        match state[i] {
            2 => return None,
            1 => {
                let start = stack.iter().position(|&s| s == i).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[start..].iter().map(|&s| deps[s].0.clone()).collect();
                cycle.push(deps[i].0.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        stack.push(i);
        for d in &deps[i].1 {
            if let Some(j) = deps.iter().position(|(n, _)| n == d)
                && let Some(c) = visit(j, deps, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    (0..deps.len()).find_map(|i| visit(i, &deps, &mut state, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn rc(root: &Path, name: &str, file: &str, text: &str) {
        write(
            root,
            &format!("etc/s6-overlay/s6-rc.d/{name}/{file}"),
            text,
            0o644,
        );
    }

    fn env() -> Env<'static> {
        Env {
            execlineb: None,
            command_dir: Path::new("/command"),
            profile: None,
            bundle_dir: None,
        }
    }

    fn messages(errs: &[Problem]) -> String {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reads_oneshot_longrun_bundles_and_membership() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rc(r, "init-config", "type", "oneshot\n");
        rc(
            r,
            "init-config",
            "up",
            "# the config step\n/etc/s6-overlay/scripts/config\n",
        );
        rc(r, "init-config", "dependencies.d/base", "");
        rc(r, "web", "type", "longrun\n");
        rc(
            r,
            "web",
            "run",
            "#!/command/execlineb -P\nwith-contenv /bin/web\n",
        );
        rc(r, "web", "notification-fd", "3\n");
        rc(r, "web", "down-signal", "SIGQUIT\n");
        rc(r, "web", "timeout-kill", "2500\n");
        rc(r, "web", "dependencies", "init-config\n");
        rc(r, "grp", "type", "bundle");
        rc(r, "grp", "contents.d/web", "");
        write(
            r,
            "etc/s6-overlay/user-bundles.d/user/contents.d/grp",
            "",
            0o644,
        );
        rc(r, "user", "type", "bundle");
        rc(r, "user", "contents.d/init-config", "");
        let l = read(r, &env()).unwrap();
        assert_eq!(l.user, vec!["grp".to_string(), "init-config".to_string()]);
        let web = l.find("web").unwrap();
        assert_eq!(web.dependencies, vec!["init-config".to_string()]);
        match &web.kind {
            RcKind::Longrun {
                run,
                notification_fd,
                down_signal,
                timeout_kill,
                ..
            } => {
                assert_eq!(run.argv[0], "/command/execlineb");
                assert_eq!(run.argv[1], "-P");
                assert!(run.argv[2].ends_with("web/run"));
                assert_eq!(*notification_fd, Some(3));
                assert_eq!(*down_signal, Some(libc::SIGQUIT));
                assert_eq!(*timeout_kill, Some(Duration::from_millis(2500)));
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(
            l.find("init-config").unwrap().kind,
            RcKind::Oneshot {
                up: Some(vec!["/etc/s6-overlay/scripts/config".into()]),
                down: None,
                timeout_down: None,
            }
        );
        assert_eq!(expand(&l, "grp").unwrap(), vec!["web".to_string()]);
    }

    /// A real image's tree: `user/contents.d` entries without the bundle's `type` (s6-overlay's
    /// tarball had it), and the same tree under a runtime profile.
    #[test]
    fn user_bundles_without_type_and_runtime_profiles() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rc(r, "app", "type", "longrun");
        rc(r, "app", "run", "#!/bin/sh\n");
        rc(r, "user", "contents.d/app", "");
        rc(r, "user2", "contents.d/app", "");
        let l = read(r, &env()).unwrap();
        assert_eq!(
            (l.user.as_slice(), l.user2.as_slice()),
            (
                ["app".to_string()].as_slice(),
                ["app".to_string()].as_slice()
            )
        );
        // Any other type-less directory is still an error.
        rc(r, "other", "contents.d/app", "");
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(
            m.contains("other/type: cannot read the service type"),
            "{m}"
        );

        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let p = "etc/cont-profile.d/alt";
        write(
            r,
            &format!("{p}/s6-overlay/s6-rc.d/alt/type"),
            "longrun",
            0o644,
        );
        write(
            r,
            &format!("{p}/s6-overlay/s6-rc.d/alt/run"),
            "#!/bin/sh\n",
            0o644,
        );
        write(
            r,
            &format!("{p}/s6-overlay/user-bundles.d/user/contents.d/alt"),
            "",
            0o644,
        );
        write(r, &format!("{p}/cont-init.d/10-x"), "#!/bin/sh\n", 0o644);
        rc(r, "main", "type", "longrun");
        rc(r, "main", "run", "#!/bin/sh\n");
        let with = |profile| Env { profile, ..env() };
        let l = read(r, &with(Some("alt"))).unwrap();
        assert_eq!(l.user, ["alt"]);
        assert!(l.find("main").is_none());
        assert_eq!(l.cont_init.len(), 1);
        let l = read(r, &with(None)).unwrap();
        assert!(l.find("alt").is_none() && l.find("main").is_some());
        for bad in ["nope", "../alt", ""] {
            let m = messages(&read(r, &with(Some(bad))).unwrap_err());
            assert!(m.contains("S6_RUNTIME_PROFILE="), "{bad}: {m}");
        }
        // S6_RUNTIME_BUNDLEDIR: the bundles from elsewhere in the image.
        write(r, "opt/bundles/user/contents.d/main", "", 0o644);
        let l = read(
            r,
            &Env {
                bundle_dir: Some(Path::new("/opt/bundles")),
                ..env()
            },
        )
        .unwrap();
        assert_eq!(l.user, ["main"]);
    }

    #[test]
    fn up_lines_plain_comment_only_and_execline() {
        assert_eq!(parse_line("# nothing\n\n", None), Ok(None));
        assert_eq!(
            parse_line("/usr/bin/setup --fast\n", None),
            Ok(Some(vec!["/usr/bin/setup".into(), "--fast".into()]))
        );
        let e = parse_line("foreground { echo hi }", None).unwrap_err();
        assert!(e.contains("execlineb"), "{e}");
        assert_eq!(
            parse_line(
                "foreground { echo hi }",
                Some(Path::new("/usr/bin/execlineb"))
            ),
            Ok(Some(vec![
                "/usr/bin/execlineb".into(),
                "-Pc".into(),
                "foreground { echo hi }".into()
            ]))
        );
        // a bare word is looked up by execline's rules, not ours
        assert!(parse_line("echo hi", None).is_err());
    }

    #[test]
    fn script_without_exec_bit_runs_through_its_shebang() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "run", "#!/bin/sh -e\nexec sleep 1\n", 0o644);
        let s = script_argv(&t.path().join("run"), Path::new("/command")).unwrap();
        assert_eq!(s.argv[..2], ["/bin/sh".to_string(), "-e".to_string()]);
        write(t.path(), "bin", "\x7fELF", 0o644);
        let e = script_argv(&t.path().join("bin"), Path::new("/command")).unwrap_err();
        assert!(e.message.contains("not executable"), "{e}");
        write(t.path(), "wc", "#!/command/with-contenv bash\n", 0o755);
        let s = script_argv(&t.path().join("wc"), Path::new("/opt/shims")).unwrap();
        assert_eq!(
            s.argv[..2],
            ["/opt/shims/with-contenv".to_string(), "bash".to_string()]
        );
    }

    #[test]
    fn bad_layouts_are_located() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rc(r, "a", "type", "longrun");
        rc(r, "a", "run", "#!/bin/sh\n");
        rc(r, "a", "dependencies.d/ghost", "");
        rc(r, "b", "type", "daemon");
        let errs = read(r, &env()).unwrap_err();
        let m = messages(&errs);
        assert!(
            m.contains("a/dependencies.d/ghost") && m.contains("\"ghost\""),
            "{m}"
        );
        assert!(
            m.contains("b/type") && m.contains("unknown service type \"daemon\""),
            "{m}"
        );

        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for (n, d) in [("a", "b"), ("b", "c"), ("c", "a")] {
            rc(r, n, "type", "oneshot");
            rc(r, n, "up", "/bin/true");
            rc(r, n, &format!("dependencies.d/{d}"), "");
        }
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(m.contains("dependency cycle: a → b → c → a"), "{m}");

        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rc(r, "x", "type", "bundle");
        rc(r, "x", "contents.d/y", "");
        rc(r, "y", "type", "bundle");
        rc(r, "y", "contents.d/x", "");
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(m.contains("bundle loop: x → y → x"), "{m}");

        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        rc(r, "s", "type", "longrun");
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(
            m.contains("s/run") && m.contains("cannot read the script"),
            "{m}"
        );
    }

    /// Two producers into one consumer (s6-rc's funnel), the consumer named as a pipeline
    /// bundle; the consumer is a dependency of each producer.
    #[test]
    fn funnel_pipeline_and_its_bundle() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for (n, file, text) in [
            ("web", "producer-for", "log\n"),
            ("api", "producer-for", "log\n"),
            ("log", "consumer-for", "web\n# and\napi\n"),
            ("log", "pipeline-name", "front\n"),
            ("web", "pipeline-name", "ignored\n"),
        ] {
            rc(r, n, "type", "longrun");
            rc(r, n, "run", "#!/bin/sh\n");
            rc(r, n, file, text);
        }
        let l = read(r, &env()).unwrap();
        match &l.find("log").unwrap().kind {
            RcKind::Longrun { consumer_for, .. } => assert_eq!(consumer_for, &["api", "web"]),
            k => panic!("{k:?}"),
        }
        assert_eq!(expand(&l, "front").unwrap(), ["api", "log", "web"]);
        let deps = atomic_dependencies(&l);
        assert_eq!(dependencies_of(&deps, "web"), ["log"]);
        assert_eq!(dependencies_of(&deps, "log"), [] as [String; 0]);
        let m = messages(&l.unsupported);
        assert!(
            m.contains("web/pipeline-name: ignored: only the last consumer"),
            "{m}"
        );
        rc(r, "log", "log/run", "#!/bin/sh\n");
        let m = messages(&read(r, &env()).unwrap().unsupported);
        assert!(
            m.contains("log/log: not used (s6-rc ignores log/ too)"),
            "{m}"
        );
        // producer-for with two names
        rc(r, "api", "producer-for", "log\nweb\n");
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(m.contains("api/producer-for: holds 2 names"), "{m}");
    }

    #[test]
    fn legacy_log_directory_is_a_logger() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "etc/services.d/app/run", "#!/bin/sh\n", 0o755);
        write(r, "etc/services.d/app/log/run", "#!/bin/sh\n", 0o755);
        let l = read(r, &env()).unwrap();
        assert_eq!(l.services.len(), 2);
        assert_eq!(l.services[0].stdout_to.as_deref(), Some("app-log"));
        assert_eq!(l.services[1].name, "app-log");
        assert!(l.services[1].dir.ends_with("app/log"));
        // a services.d dir of the logger's name
        write(r, "etc/services.d/app-log/run", "#!/bin/sh\n", 0o755);
        let m = messages(&read(r, &env()).unwrap_err());
        assert!(m.contains("\"app-log\" is defined twice"), "{m}");
    }

    #[test]
    fn legacy_trees() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(r, "etc/cont-init.d/20-b", "#!/bin/sh\n", 0o644);
        write(r, "etc/cont-init.d/10-a", "#!/bin/sh\n", 0o755);
        write(r, "etc/services.d/app/run", "#!/bin/sh\n", 0o755);
        write(r, "etc/services.d/app/notification-fd", "4", 0o644);
        write(r, "etc/services.d/off/run", "#!/bin/sh\n", 0o755);
        write(r, "etc/services.d/off/down", "", 0o644);
        let l = read(r, &env()).unwrap();
        let names: Vec<_> = l
            .cont_init
            .iter()
            .map(|s| s.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["10-a", "20-b"]);
        assert_eq!(l.services[0].notification_fd, Some(4));
        assert!(!l.services[0].down && l.services[1].down);
    }
}
