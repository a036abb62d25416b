//! An s6 [`Layout`] as pidone services, in s6-overlay's order: the cont-init.d scripts (one
//! oneshot that runs them one after the other), then the atomic services of the `user`
//! bundle in dependency order, then services.d, then what only `user2` needs; CMD after all
//! (as every service does in pidone).

use super::layout::{
    Dependencies, Layout, RcKind, RcService, Script, atomic_dependencies, dependencies_of, expand,
};
// The runtime side (`crate::s6`) finds the live directories' parents here, beside the
// services that run in them.
use super::live::{Origin, live_dir};
pub use super::live::{legacy_service_dirs, rc_service_dirs};
use crate::config::{FinishCommand, Kind, Ready, ReadyCheck, Restart, Service, StopCommand};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `S6_*` variables the translation honours, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct S6Settings {
    /// S6_BEHAVIOUR_IF_STAGE2_FAILS: 0 continue, 1 continue with a warning, 2 stop.
    pub behaviour: u8,
    /// S6_SERVICES_GRACETIME: how long a longrun gets to stop before SIGKILL.
    pub services_grace: Duration,
    /// Where the `/command` shims are (`PATH` starts with it).
    pub command_dir: PathBuf,
    /// pidone's own binary, for the cont-init.d runner.
    pub self_exe: String,
    /// pidone's own shims (under the s6 run dir), first on `PATH`, so a bare `s6-svc` is
    /// pidone's even when the image still has s6-overlay's in `/command`.
    pub shim_dir: Option<PathBuf>,
    /// S6_KILL_FINISH_MAXTIME: how long each cont-finish.d script may run (None: no limit).
    pub finish_maxtime: Option<Duration>,
    /// The s6 run dir (`/run`): a longrun runs in its live directory under it, as under
    /// s6-overlay (`live_dir`); None: in its directory in the image, for `pidone check`.
    pub run_dir: Option<PathBuf>,
}

impl Default for S6Settings {
    fn default() -> S6Settings {
        S6Settings {
            behaviour: 0,
            services_grace: Duration::from_millis(3000),
            command_dir: PathBuf::from("/command"),
            self_exe: "/proc/self/exe".into(),
            shim_dir: None,
            finish_maxtime: Some(DEFAULT_FINISH_MAXTIME),
            run_dir: None,
        }
    }
}

/// s6-supervise's default `timeout-finish`.
pub const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_millis(5000);

/// s6-overlay's default S6_KILL_FINISH_MAXTIME.
pub const DEFAULT_FINISH_MAXTIME: Duration = Duration::from_millis(5000);

/// Name of the oneshot that runs cont-init.d.
pub const CONT_INIT: &str = "cont-init.d";
/// Name of the oneshot that runs cont-finish.d at stop: nothing at start, first of all, so
/// every service is ordered after it and at stop its scripts run after every other stop.
pub const CONT_FINISH: &str = "cont-finish.d";
/// A longrun's readiness (notification-fd) without a `timeout-up`: s6 waits without limit;
/// pidone gives up after an hour rather than never, and says so.
const READY_WITHOUT_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the start log and `pidone check` say about a layout besides its services.
#[derive(Debug, Default, PartialEq)]
pub struct Notes {
    /// Features read but not honoured, services defined but not started: warnings.
    pub warnings: Vec<String>,
    /// What s6-rc accepts silently (a comments-only `up`, a data file in a service's
    /// directory): info lines, so a start of a sound image prints no warning.
    pub infos: Vec<String>,
}

/// The translated services, and the notes for the start log and `pidone check`.
pub fn services(layout: &Layout, settings: &S6Settings) -> (Vec<Service>, Notes) {
    let mut notes = Notes {
        warnings: layout.unsupported.iter().map(|p| p.to_string()).collect(),
        infos: layout.ignored.iter().map(|p| p.to_string()).collect(),
    };
    let (mut out, first_stage) = first_stage(layout, settings);
    let order = Order::new(layout);
    let user = order.closure(&layout.user);
    let user2: Vec<String> = order
        .closure(&layout.user2)
        .into_iter()
        .filter(|n| !user.contains(n))
        .collect();
    let user_services = order.rc_stage(&user, &first_stage, settings, &mut notes.infos);
    let stage_user: Vec<String> = user_services.iter().map(|s| s.name.clone()).collect();
    // `user2` waits for `user` and for services.d too.
    let mut user2_after: Vec<String> = first_stage.iter().chain(&stage_user).cloned().collect();
    user2_after.extend(
        layout
            .services
            .iter()
            .filter(|s| !s.down)
            .map(|s| s.name.clone()),
    );
    let user2_services = order.rc_stage(&user2, &user2_after, settings, &mut notes.infos);
    out.extend(user_services);
    out.extend(user2_services);
    notes.warnings.extend(not_started(layout, &user, &user2));
    let legacy_after: Vec<String> = first_stage.iter().chain(&stage_user).cloned().collect();
    out.extend(legacy_services(
        layout,
        &legacy_after,
        settings,
        &mut notes.warnings,
    ));
    let path = service_path(settings.shim_dir.as_deref(), &settings.command_dir);
    for s in &mut out {
        if !s.env.iter().any(|(k, _)| k == "PATH") {
            s.env.push(("PATH".into(), path.clone()));
        }
    }
    (out, notes)
}

/// The runner of cont-init.d and cont-finish.d: one script after the other, in name order.
fn run_scripts(
    settings: &S6Settings,
    stop_on_failure: bool,
    time_limit: Option<Duration>,
    scripts: &[Script],
) -> Vec<String> {
    let mut argv = vec![
        settings.self_exe.clone(),
        "s6-run-scripts".into(),
        "--stop-on-failure".into(),
        if stop_on_failure { "yes" } else { "no" }.into(),
        "--command-dir".into(),
        settings.command_dir.display().to_string(),
    ];
    if let Some(t) = time_limit {
        argv.extend(["--time-limit".into(), t.as_millis().to_string()]);
    }
    argv.push("--".into());
    argv.extend(scripts.iter().map(|s| s.path.display().to_string()));
    argv
}

/// The oneshots every other service is after: cont-finish.d (then) cont-init.d, when the
/// image has their scripts; with their names.
fn first_stage(layout: &Layout, settings: &S6Settings) -> (Vec<Service>, Vec<String>) {
    let critical = settings.behaviour >= 2;
    let mut out = Vec::new();
    let mut first_stage: Vec<String> = Vec::new();
    if !layout.cont_finish.is_empty() {
        // s6-overlay runs cont-finish.d after every service is down, whatever the start did:
        // a oneshot with nothing to run at start is done at once, and owes its stop command.
        let mut svc = Service::with_defaults(CONT_FINISH, Vec::new(), Kind::Oneshot);
        svc.timeout = None;
        svc.critical = false;
        svc.stop_command = Some(StopCommand {
            argv: run_scripts(
                settings,
                false,
                settings.finish_maxtime,
                &layout.cont_finish,
            ),
            // Each script is bounded by S6_KILL_FINISH_MAXTIME in the runner; this bounds the
            // runner too (its group holds the scripts), with a second to spare.
            timeout: settings
                .finish_maxtime
                .map(|t| t * layout.cont_finish.len() as u32 + Duration::from_secs(1)),
        });
        out.push(svc);
        first_stage.push(CONT_FINISH.into());
    }
    if !layout.cont_init.is_empty() {
        let argv = run_scripts(settings, critical, None, &layout.cont_init);
        let mut svc = Service::with_defaults(CONT_INIT, argv, Kind::Oneshot);
        // s6-overlay gives cont-init.d no time limit.
        svc.timeout = None;
        svc.critical = critical;
        // After cont-finish.d, whose scripts must run after cont-init.d's stop.
        svc.after = std::mem::take(&mut first_stage);
        out.push(svc);
        first_stage.push(CONT_INIT.into());
    }
    (out, first_stage)
}

/// The s6-rc graph as the start order needs it: what a bundle set starts, and what a service
/// waits for.
struct Order<'a> {
    layout: &'a Layout,
    deps: Dependencies,
}

impl<'a> Order<'a> {
    fn new(layout: &'a Layout) -> Order<'a> {
        Order {
            layout,
            deps: atomic_dependencies(layout),
        }
    }

    fn deps_of(&self, n: &str) -> &[String] {
        dependencies_of(&self.deps, n)
    }

    /// The atomic services `roots` stand for and everything they depend on, sorted.
    fn closure(&self, roots: &[String]) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let mut todo: Vec<String> = roots
            .iter()
            .flat_map(|r| expand(self.layout, r).unwrap_or_default())
            .collect();
        while let Some(n) = todo.pop() {
            if !seen.contains(&n) {
                todo.extend(self.deps_of(&n).iter().cloned());
                seen.push(n);
            }
        }
        // s6-rc's order does not matter (dependencies decide); a stable one does for logs.
        seen.sort();
        seen
    }

    /// Oneshots with comment-only `up` and no `down` run nothing: their dependants wait for
    /// their dependencies instead. (With a `down`, the oneshot stays, to run it at stop.)
    fn elided(&self, n: &str) -> bool {
        matches!(
            self.layout.find(n).map(|s| &s.kind),
            Some(RcKind::Oneshot {
                up: None,
                down: None,
                ..
            })
        )
    }

    /// What waiting for `n` means: `n`, or for an elided oneshot, what it waits for.
    fn resolve(&self, n: &str) -> Vec<String> {
        let mut result = Vec::new();
        let mut todo = vec![n.to_string()];
        let mut seen: Vec<String> = Vec::new();
        while let Some(d) = todo.pop() {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d.clone());
            if self.elided(&d) {
                todo.extend(self.deps_of(&d).iter().cloned());
            } else {
                result.push(d);
            }
        }
        result
    }

    /// The services of one stage (`user`, then `user2`), each after `stage_after` and its
    /// own dependencies; an elided oneshot is an info line instead.
    fn rc_stage(
        &self,
        set: &[String],
        stage_after: &[String],
        settings: &S6Settings,
        infos: &mut Vec<String>,
    ) -> Vec<Service> {
        let mut out = Vec::new();
        for name in set {
            let svc = self
                .layout
                .find(name)
                .expect("closure holds defined services");
            if self.elided(name) {
                infos.push(format!(
                    "{}: only comments; nothing to run",
                    svc.dir.join("up").display()
                ));
                continue;
            }
            let mut after: Vec<String> = stage_after.to_vec();
            for d in self.deps_of(name) {
                after.extend(self.resolve(d));
            }
            after.sort();
            after.dedup();
            out.push(rc_service(svc, after, settings));
        }
        out
    }
}

/// A note for each atomic s6-rc service that neither bundle starts.
fn not_started(layout: &Layout, user: &[String], user2: &[String]) -> Vec<String> {
    let mut notes = Vec::new();
    for svc in &layout.rc {
        let atomic = !matches!(svc.kind, RcKind::Bundle { .. });
        if atomic && !user.contains(&svc.name) && !user2.contains(&svc.name) {
            notes.push(format!(
                "{}: not in the user or user2 bundle (nor needed by them); not started",
                svc.dir.display()
            ));
        }
    }
    notes
}

/// The services.d longruns (loggers included), each after `after`; one with a `down` file is
/// a note instead.
fn legacy_services(
    layout: &Layout,
    after: &[String],
    settings: &S6Settings,
    notes: &mut Vec<String>,
) -> Vec<Service> {
    let mut out = Vec::new();
    for l in &layout.services {
        if l.down {
            notes.push(format!(
                "{}: a down file; not started",
                l.dir.join("down").display()
            ));
            continue;
        }
        let finish = l.finish.as_ref().map(|f| (f, None));
        let mut s = longrun(
            &l.name,
            (Origin::ServicesD, &l.dir),
            &l.run,
            finish,
            settings,
        );
        s.after = after.to_vec();
        s.ready = l.notification_fd.map(|fd| notify_ready(fd, None));
        s.stdout_to = l.stdout_to.clone();
        out.push(s);
    }
    out
}

/// The `PATH` s6 services get: pidone's shims, `/command`, then the container's `PATH`, to
/// which `/usr/bin` and `/bin` are added when missing (s6-overlay always adds them).
pub fn service_path(shim_dir: Option<&Path>, command_dir: &Path) -> String {
    let mut dirs: Vec<String> = shim_dir
        .into_iter()
        .chain([command_dir])
        .map(|d| d.display().to_string())
        .collect();
    let container = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    for d in container.split(':').chain(["/usr/bin", "/bin"]) {
        if !d.is_empty() && !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_string());
        }
    }
    dirs.join(":")
}

fn notify_ready(fd: i32, timeout: Option<Duration>) -> Ready {
    Ready {
        check: ReadyCheck::NotifyFd(fd),
        timeout: timeout.unwrap_or(READY_WITHOUT_TIMEOUT),
        interval: Duration::from_millis(100),
    }
}

fn longrun(
    name: &str,
    (origin, dir): (Origin, &Path),
    run: &Script,
    finish: Option<(&Script, Option<Duration>)>,
    settings: &S6Settings,
) -> Service {
    let mut s = Service::with_defaults(name, run.argv.clone(), Kind::Longrun);
    // Run by pidone itself after each exit of `run`, as s6-supervise does (state machine).
    s.finish_command = finish.map(|(f, timeout)| FinishCommand {
        argv: f.argv.clone(),
        timeout: timeout.unwrap_or(DEFAULT_FINISH_TIMEOUT),
    });
    // s6 runs `run` in the live service directory (`live_dir`): scripts use `./data/...`
    // and `s6-svc -O .`, and some test their cwd (linuxserver's with-contenv applies UMASK
    // only there). The runtime side fills it with links to `dir`'s files.
    s.working_dir = Some(match &settings.run_dir {
        Some(run_dir) => live_dir(run_dir, origin, name, dir),
        None => dir.to_path_buf(),
    });
    s.restart = Restart::Always;
    // s6-supervise never gives up on a longrun: it restarts it for ever, at least a second
    // after its previous start (so a crash loop costs one start a second, never a busy loop).
    s.backoff = crate::config::Backoff::S6_SUPERVISE;
    s.max_restarts = u32::MAX;
    s.restart_window = Duration::ZERO;
    s.critical = false;
    s.stop_timeout = settings.services_grace;
    s
}

fn rc_service(svc: &RcService, after: Vec<String>, settings: &S6Settings) -> Service {
    let mut s = match &svc.kind {
        RcKind::Oneshot {
            up,
            down,
            timeout_down,
        } => {
            // No `up` (comments only) with a `down`: nothing to run at start.
            let argv = up.clone().unwrap_or_default();
            let mut s = Service::with_defaults(&svc.name, argv, Kind::Oneshot);
            s.timeout = svc.timeout_up;
            s.critical = settings.behaviour >= 2;
            s.stop_command = down.as_ref().map(|argv| StopCommand {
                argv: argv.clone(),
                timeout: *timeout_down,
            });
            s
        }
        RcKind::Longrun {
            run,
            finish,
            timeout_finish,
            notification_fd,
            down_signal,
            timeout_kill,
            producer_for,
            ..
        } => {
            let finish = finish.as_ref().map(|f| (f, *timeout_finish));
            let mut s = longrun(&svc.name, (Origin::S6Rc, &svc.dir), run, finish, settings);
            s.ready = notification_fd.map(|fd| notify_ready(fd, svc.timeout_up));
            if let Some(sig) = down_signal {
                s.stop_signal = *sig;
            }
            if let Some(t) = timeout_kill {
                s.stop_timeout = *t;
            }
            s.stdout_to = producer_for.clone();
            s
        }
        RcKind::Bundle { .. } => unreachable!("bundles are expanded"),
    };
    s.after = after;
    s.env = svc.env.clone();
    s
}

/// One line per service for `pidone check`.
pub fn describe(s: &Service) -> String {
    let kind = match s.kind {
        Kind::Oneshot => "oneshot",
        Kind::Longrun => "longrun",
    };
    let ready = match s.ready.as_ref().map(|r| &r.check) {
        Some(ReadyCheck::NotifyFd(fd)) => format!("notification fd {fd}"),
        Some(_) => "probe".into(),
        None => "when started".into(),
    };
    let command = if s.command.is_empty() {
        "(nothing at start)".to_string()
    } else {
        s.command.join(" ")
    };
    let stop = s.stop_command.as_ref().map_or(String::new(), |c| {
        format!(" ; at stop: {}", c.argv.join(" "))
    });
    let pipe = s
        .stdout_to
        .as_ref()
        .map_or(String::new(), |c| format!(" ; stdout piped into {c}"));
    format!(
        "{} ({kind}) after [{}]: {command} ; ready {ready}{stop}{pipe}",
        s.name,
        s.after.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::super::layout::{Env, read};
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    }

    #[test]
    fn order_elision_and_stages() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let rc = "etc/s6-overlay/s6-rc.d";
        write(r, "etc/cont-init.d/01-a", "#!/bin/sh\n");
        write(r, &format!("{rc}/config/type"), "oneshot");
        write(r, &format!("{rc}/config/up"), "/bin/config\n");
        write(r, &format!("{rc}/config/dependencies.d/base"), "");
        write(r, &format!("{rc}/noop/type"), "oneshot");
        write(r, &format!("{rc}/noop/up"), "# nothing to do here\n");
        write(r, &format!("{rc}/noop/dependencies.d/config"), "");
        write(r, &format!("{rc}/web/type"), "longrun");
        write(r, &format!("{rc}/web/run"), "#!/bin/sh\nexec web\n");
        write(r, &format!("{rc}/web/notification-fd"), "5");
        write(r, &format!("{rc}/web/dependencies.d/noop"), "");
        write(r, &format!("{rc}/late/type"), "longrun");
        write(r, &format!("{rc}/late/run"), "#!/bin/sh\n");
        write(r, &format!("{rc}/unused/type"), "longrun");
        write(r, &format!("{rc}/unused/run"), "#!/bin/sh\n");
        write(r, "etc/s6-overlay/user-bundles.d/user/contents.d/web", "");
        write(r, "etc/s6-overlay/user-bundles.d/user2/contents.d/late", "");
        write(r, "etc/services.d/legacy/run", "#!/bin/sh\n");
        let env = Env {
            execlineb: None,
            command_dir: Path::new("/command"),
            profile: None,
            bundle_dir: None,
        };
        let layout = read(r, &env).unwrap();
        let (svcs, notes) = services(&layout, &S6Settings::default());
        let by = |n: &str| svcs.iter().find(|s| s.name == n).unwrap();
        assert_eq!(svcs.len(), 5, "{svcs:?}");
        assert!(svcs.iter().all(|s| s.name != "noop" && s.name != "unused"));
        assert_eq!(by("config").after, ["cont-init.d"]);
        // noop is elided: web waits for what noop waited for
        assert_eq!(by("web").after, ["config", "cont-init.d"]);
        assert_eq!(
            by("web").ready.as_ref().unwrap().check,
            ReadyCheck::NotifyFd(5)
        );
        assert_eq!(
            by("web").working_dir.as_deref(),
            Some(&*r.join(rc).join("web"))
        );
        assert_eq!(by("legacy").after, ["cont-init.d", "config", "web"]);
        assert_eq!(by("late").after, ["config", "cont-init.d", "legacy", "web"]);
        assert!(
            by("web")
                .env
                .iter()
                .any(|(k, v)| k == "PATH" && v.starts_with("/command:"))
        );
        assert!(
            notes
                .warnings
                .iter()
                .any(|n| n.contains("unused") && n.contains("not started"))
        );
        assert_eq!(
            by("cont-init.d").command[1..4],
            ["s6-run-scripts", "--stop-on-failure", "no"]
        );
    }
    /// `down` becomes the oneshot's stop command (bounded by `timeout-down`); a comment-only
    /// `up` with a `down` stays, with nothing to run at start; cont-finish.d is a oneshot
    /// every service is ordered after (through cont-init.d), so its scripts run last at stop.
    #[test]
    fn down_and_cont_finish() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let rc = "etc/s6-overlay/s6-rc.d";
        write(r, "etc/cont-init.d/01-a", "#!/bin/sh\n");
        write(r, "etc/cont-finish.d/20-b", "#!/bin/sh\n");
        write(r, "etc/cont-finish.d/10-a", "#!/bin/sh\n");
        write(r, &format!("{rc}/mount/type"), "oneshot");
        write(r, &format!("{rc}/mount/up"), "/bin/mount-it\n");
        write(
            r,
            &format!("{rc}/mount/down"),
            "# undo\n/bin/umount-it --all\n",
        );
        write(r, &format!("{rc}/mount/timeout-down"), "1500");
        write(r, &format!("{rc}/flag/type"), "oneshot");
        write(r, &format!("{rc}/flag/up"), "# nothing at start\n");
        write(r, &format!("{rc}/flag/down"), "/bin/clear-flag\n");
        write(r, &format!("{rc}/flag/dependencies.d/mount"), "");
        write(r, "etc/s6-overlay/user-bundles.d/user/contents.d/flag", "");
        let env = Env {
            execlineb: None,
            command_dir: Path::new("/command"),
            profile: None,
            bundle_dir: None,
        };
        let layout = read(r, &env).unwrap();
        let settings = S6Settings {
            finish_maxtime: Some(Duration::from_millis(700)),
            ..S6Settings::default()
        };
        let (svcs, _) = services(&layout, &settings);
        let by = |n: &str| svcs.iter().find(|s| s.name == n).unwrap();
        assert_eq!(
            by("mount").stop_command,
            Some(StopCommand {
                argv: vec!["/bin/umount-it".into(), "--all".into()],
                timeout: Some(Duration::from_millis(1500)),
            })
        );
        assert!(by("flag").command.is_empty());
        assert_eq!(by("flag").after, ["cont-init.d", "mount"]);
        assert_eq!(by("cont-init.d").after, [CONT_FINISH]);
        let finish = by(CONT_FINISH);
        assert!(finish.command.is_empty() && finish.after.is_empty());
        let stop = finish.stop_command.as_ref().unwrap();
        assert_eq!(stop.timeout, Some(Duration::from_millis(2 * 700 + 1000)));
        let argv = &stop.argv;
        assert_eq!(argv[1..4], ["s6-run-scripts", "--stop-on-failure", "no"]);
        let limit = argv.iter().position(|a| a == "--time-limit").unwrap();
        assert_eq!(argv[limit + 1], "700");
        assert!(argv[argv.len() - 2].ends_with("cont-finish.d/10-a"));
        assert!(argv[argv.len() - 1].ends_with("cont-finish.d/20-b"));
    }
}
