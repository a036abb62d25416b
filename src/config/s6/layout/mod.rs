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
//!
//! The steps of `read`, one concern per file (this file holds the data they fill, where the
//! trees are, and the recipe):
//! 1. `rc.rs`: the s6-rc source tree, one service directory at a time (oneshot, longrun,
//!    bundle);
//! 2. `pipelines.rs`: the log pipelines among its longruns (`producer-for`/`consumer-for`
//!    naming each other, no loop) and the bundles their `pipeline-name` defines;
//! 3. `rc.rs` again: the `user`/`user2` bundles, in either form, as membership lists;
//! 4. `legacy.rs`: the v2 directories (cont-init.d, cont-finish.d, fix-attrs.d, services.d
//!    with their `log/` loggers);
//! 5. `graph.rs`: the whole layout as a graph (every name defined, no bundle loop, no
//!    dependency cycle), and the walks translate.rs orders services by.
//!
//! Beneath them: `files.rs` reads the small files (size-capped, every problem at its path) and
//! `scripts.rs` turns a script file or an `up`/`down` line into the argv pidone runs.

mod files;
mod graph;
mod legacy;
mod pipelines;
mod rc;
mod scripts;

pub use graph::{Dependencies, atomic_dependencies, dependencies_of, expand};
pub use legacy::legacy_logger_name;
pub use scripts::{parse_line, script_argv};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    rc::read_rc_tree(&rc_dir, env, &mut layout, &mut errors);
    pipelines::check_pipelines(&mut layout, &mut errors);
    rc::fold_user_bundles(&mut layout, &trees.bundles, &mut errors);
    layout.cont_init = legacy::read_scripts(&trees.etc.join("cont-init.d"), env, &mut errors);
    layout.cont_finish = legacy::read_scripts(&trees.etc.join("cont-finish.d"), env, &mut errors);
    legacy::note_fix_attrs(&trees.etc, &mut layout, &mut errors);
    legacy::read_services_d(&trees.etc.join("services.d"), env, &mut layout, &mut errors);
    graph::check_graph(&layout, &rc_dir, &mut errors);
    if errors.is_empty() {
        Ok(layout)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
