//! s6-overlay drop-in (issue 14): fixture layouts (tests/fixtures/s6) run by the real binary as
//! PID 1 of a fresh PID namespace, dropping to 65534 as in a hardened image. Assertions come
//! from the kernel (/proc, exit codes) and from files the services write themselves.

mod common;

use common::{Scratch, assert_contiguous, fd_target, status_field, wait_until};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

/// Copy fixture `name` to `<scratch>/root`, replacing `@ROOT@` and `@COMMAND@`, keeping modes.
fn copy_fixture(s: &Scratch, name: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/s6")
        .join(name);
    let root = s.join("root");
    let command = s.join("command");
    fn walk(src: &Path, dst: &Path, root: &Path, command: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        for e in std::fs::read_dir(src).unwrap().flatten() {
            let to = dst.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &to, root, command);
            } else {
                let text = std::fs::read_to_string(e.path()).unwrap();
                let text = text
                    .replace("@ROOT@", &root.display().to_string())
                    .replace("@COMMAND@", &command.display().to_string());
                std::fs::write(&to, text).unwrap();
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
    }
    walk(&src, &root, &root, &command);
    // The shims, as an image that deleted s6-overlay has them in /command.
    let out = Command::new(common::bin())
        .arg("s6-shims")
        .arg(&command)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    std::fs::create_dir_all(s.join("out")).unwrap();
    std::fs::set_permissions(s.join("out"), std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// Start pidone on `<scratch>/root` with the s6 runtime files under `<scratch>/s6run`.
fn start(s: &Scratch, extra_env: &[(&str, &str)], args: &[&str]) -> common::Running {
    let mut all = vec![
        "--s6-root".to_string(),
        s.join("root").display().to_string(),
        "--s6-run-dir".to_string(),
        s.join("s6run").display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let command = s.join("command").display().to_string();
    let out = s.join("out").display().to_string();
    s.spawn_pid1_with(&refs, |cmd| {
        cmd.env("PIDONE_S6_COMMAND_DIR", &command).env("OUT", &out);
        // A root start of an s6 layout keeps root unless a user is named (as s6-overlay):
        // these fixtures run hardened, dropped to 65534 as the README's hardened start.
        if common::is_root() {
            cmd.env("PIDONE_USER", "65534:65534");
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
    })
}

fn out(s: &Scratch, f: &str) -> String {
    s.read(&format!("out/{f}"))
}

fn wait_out(s: &Scratch, f: &str) -> bool {
    wait_until(LONG, || !out(s, f).is_empty())
}

/// A shim run from the host against the running pidone, as a script would run it.
fn shim(s: &Scratch, name: &str, args: &[&str]) -> (i32, String) {
    // As `docker exec` runs it: in pidone's namespaces (a client trusts PID 1's uid).
    let mut cmd = common::exec_into(&s.join("run"), s.join("command").join(name));
    cmd.args(args)
        .env("PIDONE_RUN_DIR", s.join("run"))
        .env("PIDONE_S6_RUN_DIR", s.join("s6run"));
    let (o, _) = common::run_with_timeout(cmd, LONG);
    (
        o.status.code().unwrap_or(-1),
        format!("{}{}", common::text(&o.stdout), common::text(&o.stderr)),
    )
}

fn host_pid(p: &common::Running, ns_pid: i32) -> i32 {
    common::host_pid_of(p.pid, ns_pid).unwrap_or_else(|| panic!("no host pid for {ns_pid}"))
}

/// jitsi-web shape: a config oneshot on `base`, an execline `run` (not executable) calling a
/// with-contenv script that execs the daemon, a helper that turns itself off with `s6-svc -O`,
/// one that `s6-svwait`s the daemon; then `s6-svc -r` from outside restarts the daemon.
#[test]
fn jitsi_web_like_tree() {
    require_namespaces!();
    if which("execlineb").is_none() {
        panic!("execlineb is missing: apt-get install execline (.ci/run installs it)");
    }
    let s = Scratch::new();
    copy_fixture(&s, "web");
    let p = start(&s, &[("SITE_NAME", "meet.example")], &[]);
    assert!(wait_out(&s, "web-env"), "web did not start: {}", p.stderr());
    assert_eq!(out(&s, "config-done").trim(), "site=meet.example");
    assert_eq!(out(&s, "web-env").trim(), "meet.example");
    assert!(wait_out(&s, "account-waited"), "{}", p.stderr());

    // The daemon is `sleep` exec'd by the with-contenv script, as 65534.
    let web = s.status_row("web");
    let web_pid = host_pid(&p, web["pid"].as_i64().unwrap() as i32);
    let cmdline = std::fs::read_to_string(format!("/proc/{web_pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep\u{0}1000"), "{cmdline:?}");
    assert!(status_field(web_pid, "Uid").unwrap().starts_with("65534"));

    // -O: acme ran once and was not restarted; account neither.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(out(&s, "acme-runs").lines().count(), 1, "{}", p.stderr());
    assert_eq!(s.status_row("acme")["state"], "done");
    assert_eq!(s.status_row("account")["state"], "done");

    // Runtime files: data only, owned by the service user.
    let env_file = s.join("s6run/s6/container_environment/SITE_NAME");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), "meet.example");
    assert!(s.join("s6run/service/web").is_dir());
    assert_eq!(
        s.read("s6run/s6-linux-init-container-results/exitcode")
            .trim(),
        "0"
    );
    let halt = std::fs::symlink_metadata(s.join("s6run/s6/basedir/bin/halt")).unwrap();
    assert!(halt.file_type().is_symlink());

    // s6-svc -r by the v3 path: a new daemon process.
    let (code, text) = shim(&s, "s6-svc", &["-r", "/run/service/web"]);
    assert_eq!(code, 0, "{text}");
    assert!(wait_until(LONG, || {
        let row = s.status_row("web");
        row["pid"]
            .as_i64()
            .is_some_and(|n| host_pid(&p, n as i32) != web_pid)
    }));
    assert!(wait_until(LONG, || !Path::new(&format!("/proc/{web_pid}")).exists()));
    let (code, text) = shim(&s, "s6-svstat", &["/run/service/web"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("up (pid "), "{text}");

    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

fn which(name: &str) -> Option<String> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .map(|p| p.display().to_string())
}

/// linuxserver shape: a oneshot adds a variable to container_environment for later
/// services, a comment-only `up` ends the init chain, and readiness comes from
/// `s6-notifyoncheck -c` on the notification fd: the dependant starts only once the check
/// passes.
#[test]
fn linuxserver_like_tree() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "lsio");
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "app-env"), "{}", p.stderr());
    assert_eq!(out(&s, "app-env").trim(), "added");
    // Not ready yet: svc-after waits.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        out(&s, "after-started").is_empty(),
        "started before svc-app was ready"
    );
    assert_eq!(s.status_row("svc-app")["state"], "starting");
    std::fs::write(s.join("out/ready-flag"), "").unwrap();
    assert!(wait_out(&s, "after-started"), "{}", p.stderr());
    assert_eq!(s.status_row("svc-app")["state"], "running");
    // The checker was re-parented to pidone and reaped: no zombie in the namespace.
    std::thread::sleep(Duration::from_millis(300));
    for proc_ in p.processes() {
        assert_ne!(proc_.state, 'Z', "zombie {:?}", proc_);
    }
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// The v2 layout: cont-init.d in name order (a failing script does not stop the rest with
/// S6_BEHAVIOUR_IF_STAGE2_FAILS unset), `s6-setuidgid` to the current user execs and to
/// another user says why not, a services.d `down` file keeps a service from starting.
#[test]
fn legacy_cont_init_and_services_d() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "legacy");
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "app-uid"), "{}", p.stderr());
    assert_eq!(
        out(&s, "order").lines().collect::<Vec<_>>(),
        ["10", "20", "30"]
    );
    assert_eq!(out(&s, "app-uid").trim(), "65534");
    assert_eq!(out(&s, "setuid-root-rc").trim(), "111");
    let err = out(&s, "setuid-root-err");
    assert!(err.contains("uid 0") && err.contains("uid 65534"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!s.join("out/off-started").exists());
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// With S6_BEHAVIOUR_IF_STAGE2_FAILS=2 the failing cont-init script stops the start: the
/// rest does not run and the container ends with a failure.
#[test]
fn stage2_failure_stops_with_behaviour_2() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "legacy");
    let p = start(&s, &[("S6_BEHAVIOUR_IF_STAGE2_FAILS", "2")], &[]);
    let f = p.finish(LONG);
    assert_ne!(f.code, 0, "{}", f.stderr);
    assert_eq!(out(&s, "order").lines().collect::<Vec<_>>(), ["10", "20"]);
    assert!(!s.join("out/app-uid").exists());
}

/// jvb / frigate endings: a service writes the exitcode file, then stops the container with
/// `s6-svscanctl -t` or `/run/s6/basedir/bin/halt`; the container exits with that code.
#[test]
fn exitcode_file_and_halt_end_the_container() {
    require_namespaces!();
    for (code, with) in [("0", "s6-svscanctl -t /run/service"), ("137", "@HALT@")] {
        let s = Scratch::new();
        copy_fixture(&s, "stop");
        let halt = s.join("s6run/s6/basedir/bin/halt").display().to_string();
        let with = with.replace("@HALT@", &halt);
        let p = start(&s, &[("STOP_CODE", code), ("STOP_WITH", &with)], &[]);
        let f = p.finish(LONG);
        assert_eq!(f.code.to_string(), code, "{with}: {}", f.stderr);
    }
}

/// Bad layouts exit 78 naming the path, before anything starts.
#[test]
fn bad_layouts_exit_78_before_anything_starts() {
    require_namespaces!();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/dependencies.d/ghost", ""),
            ],
            "a/dependencies.d/ghost",
        ),
        (
            &[
                ("a/type", "oneshot"),
                ("a/up", "/bin/true"),
                ("a/dependencies.d/b", ""),
                ("b/type", "oneshot"),
                ("b/up", "/bin/true"),
                ("b/dependencies.d/a", ""),
            ],
            "dependency cycle",
        ),
        (
            &[
                ("x/type", "bundle"),
                ("x/contents.d/y", ""),
                ("y/type", "bundle"),
                ("y/contents.d/x", ""),
            ],
            "bundle loop",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/producer-for", "ghost\n"),
            ],
            "a/producer-for: a is a producer for \"ghost\", which is not defined",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/producer-for", "b\n"),
                ("b/type", "oneshot"),
                ("b/up", "/bin/true"),
            ],
            "a/producer-for: \"b\" is a oneshot",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/producer-for", "b\n"),
                ("b/type", "longrun"),
                ("b/run", "#!/bin/sh\n"),
            ],
            "b/consumer-for: a is a producer for b, which does not declare it back",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("b/type", "longrun"),
                ("b/run", "#!/bin/sh\n"),
                ("b/consumer-for", "a\n"),
            ],
            "a/producer-for: b is a consumer for a, which does not declare it back",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/producer-for", "b\n"),
                ("a/consumer-for", "b\n"),
                ("b/type", "longrun"),
                ("b/run", "#!/bin/sh\n"),
                ("b/producer-for", "a\n"),
                ("b/consumer-for", "a\n"),
            ],
            "pipeline loop: a → b → a",
        ),
        (
            &[
                ("a/type", "longrun"),
                ("a/run", "#!/bin/sh\n"),
                ("a/producer-for", "b\n"),
                ("b/type", "longrun"),
                ("b/run", "#!/bin/sh\n"),
                ("b/consumer-for", "a\n"),
                ("b/pipeline-name", "a\n"),
            ],
            "b/pipeline-name: names the pipeline \"a\", which is already a service",
        ),
        (&[("a/type", "daemon")], "unknown service type"),
        (&[("a/type", "longrun")], "a/run"),
    ];
    for (files, expect) in cases {
        let s = Scratch::new();
        copy_fixture(&s, "legacy");
        for (rel, text) in *files {
            let p = s.join("root/etc/s6-overlay/s6-rc.d").join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let p = start(&s, &[], &[]);
        let f = p.finish(LONG);
        assert_eq!(f.code, 78, "{expect}: {}", f.stderr);
        assert!(f.stderr.contains(expect), "{expect}: {}", f.stderr);
        // The cont-init.d scripts of the same image never ran.
        assert!(!s.join("out/order").exists(), "{expect}");
    }
}

/// `pidone check` prints the translated services and what it does not honour.
#[test]
fn check_prints_the_translation() {
    let s = Scratch::new();
    copy_fixture(&s, "lsio");
    s.write("pidone.toml", "");
    let mut cmd = Command::new(common::bin());
    cmd.arg("check")
        .args(s.dir_args())
        .args(["--s6-root", &s.join("root").display().to_string()]);
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let text = format!("{}{}", common::text(&o.stdout), common::text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("svc-app (longrun) after [init-envfile]"),
        "{text}"
    );
    assert!(text.contains("ready notification fd 3"), "{text}");
    assert!(text.contains("init-mods/up: only comments"), "{text}");
}

/// frigate shape: when the daemon dies, `finish` gets `256 SIGNAL`, writes 128+signal into the
/// exitcode file and calls halt: the container exits with that code.
#[test]
fn finish_writes_exitcode_and_halts() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "frigate");
    let p = start(&s, &[], &[]);
    // `status` (and s6-svstat) name the daemon itself: pidone runs finish, no wrapper.
    let daemon = {
        let mut found = None;
        assert!(wait_until(LONG, || {
            if s.client(&["status"]).0 != 0 {
                return false; // not up yet
            }
            let row = s.status_row("detector");
            found = row["pid"]
                .as_i64()
                .and_then(|n| common::host_pid_of(p.pid, n as i32));
            found.is_some()
        }));
        found.unwrap()
    };
    let cmdline = std::fs::read_to_string(format!("/proc/{daemon}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep"), "{cmdline:?}");
    common::send(daemon, libc::SIGKILL);
    let f = p.finish(LONG);
    assert_eq!(f.code, 137, "{}", f.stderr);
}

/// jvb shape: finish runs with `EXITCODE SIGNAL` in the service directory; exit 125 from it
/// means "do not restart"; after a graceful exit 0 it calls `s6-svscanctl -t`, which ends the
/// container with code 0.
#[test]
fn finish_125_and_svscanctl() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "jvb");
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "helper-finish"), "{}", p.stderr());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(out(&s, "helper-runs").lines().count(), 1, "{}", p.stderr());
    // finish runs in the live service directory, as run does (s6-supervise's cwd).
    let dir = s.join("s6run/s6-rc/servicedirs/helper");
    assert_eq!(
        out(&s, "helper-finish").trim(),
        format!("1 0 {}", dir.display())
    );
    std::fs::write(s.join("out/graceful"), "").unwrap();
    let f = p.finish(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(f.stderr.contains("s6-svscanctl or halt"), "{}", f.stderr);
}

/// Without CMD, `docker stop` ends the container with the exitcode file's code (a finish or
/// any script may have written it), as under s6-overlay.
#[test]
fn exitcode_file_decides_the_code_without_cmd() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "stop");
    let p = start(&s, &[("STOP_CODE", "5"), ("STOP_WITH", "sleep 1000")], &[]);
    assert!(wait_until(LONG, || s
        .read("s6run/s6-linux-init-container-results/exitcode")
        .trim()
        == "5"));
    let f = p.stop(LONG);
    assert_eq!(f.code, 5, "{}", f.stderr);
}

/// S6_CMD_ARG0 goes before CMD, CMD's code is the container's, and an unknown S6_* variable
/// is named in a warning.
#[test]
fn cmd_arg0_and_unknown_variables() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "legacy");
    let p = start(
        &s,
        &[("S6_CMD_ARG0", "/bin/sh -c"), ("S6_FANCY_FEATURE", "1")],
        &["--", "exit 7"],
    );
    let f = p.finish(LONG);
    assert_eq!(f.code, 7, "{}", f.stderr);
    assert!(
        f.stderr.contains("S6_FANCY_FEATURE is not supported"),
        "{}",
        f.stderr
    );
    // cont-init.d ran before CMD
    assert_eq!(out(&s, "order").lines().count(), 3);
}

/// S6_CMD_WAIT_FOR_SERVICES_MAXTIME: CMD starts after that long even though a service is not
/// ready yet; with S6_BEHAVIOUR_IF_STAGE2_FAILS=2 the container fails instead and CMD never
/// runs.
#[test]
fn cmd_waits_for_services_at_most_maxtime() {
    require_namespaces!();
    for behaviour in ["0", "2"] {
        let s = Scratch::new();
        copy_fixture(&s, "lsio");
        let started = std::time::Instant::now();
        let p = start(
            &s,
            &[
                ("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", "1500"),
                ("S6_BEHAVIOUR_IF_STAGE2_FAILS", behaviour),
            ],
            &[
                "--",
                "/bin/sh",
                "-c",
                "date +%s%N > \"$OUT/cmd-started\"; exit 4",
            ],
        );
        let f = p.finish(LONG);
        if behaviour == "0" {
            assert_eq!(f.code, 4, "{}", f.stderr);
            assert!(started.elapsed() >= Duration::from_millis(1500));
            assert!(
                f.stderr.contains("svc-app not ready within 1.5s"),
                "{}",
                f.stderr
            );
            // svc-app never became ready, so svc-after never started
            assert!(out(&s, "after-started").is_empty());
        } else {
            assert_ne!(f.code, 0, "{}", f.stderr);
            assert!(out(&s, "cmd-started").is_empty(), "CMD ran");
        }
    }
}

/// An image that keeps s6-overlay: its own `s6-svc` in /command talks to s6-supervise, so
/// pidone says at start that services get its versions first on PATH, and a run script's bare
/// `s6-svc -O .` reaches pidone (the helper runs once), never s6-overlay's binary.
#[test]
fn s6_overlay_binaries_are_named_and_shadowed() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "web");
    let theirs = s.join("command/s6-svc");
    std::fs::remove_file(&theirs).unwrap();
    std::fs::write(
        &theirs,
        "#!/bin/sh\ntouch \"$OUT/s6-overlay-s6-svc-ran\"\nexit 111\n",
    )
    .unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = start(&s, &[("SITE_NAME", "x")], &[]);
    assert!(wait_out(&s, "acme-runs"), "{}", p.stderr());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(out(&s, "acme-runs").lines().count(), 1, "{}", p.stderr());
    assert!(!s.join("out/s6-overlay-s6-svc-ran").exists());
    let f = p.stop(LONG);
    assert!(
        f.stderr.contains("s6-svc in ") && f.stderr.contains("are s6-overlay's own"),
        "{}",
        f.stderr
    );
}

/// The runtime tree on a noexec tmpfs (Docker's `--tmpfs /run` default, where s6-overlay
/// fails, #397): the shims and `halt` there are symlinks to pidone on the image, which
/// execute.
#[test]
fn runtime_tree_works_on_a_noexec_tmpfs() {
    require_namespaces!();
    if !common::is_root() {
        skip!("mounting a tmpfs needs root");
    }
    let s = Scratch::new();
    copy_fixture(&s, "stop");
    let s6run = s.join("s6run");
    std::fs::create_dir_all(&s6run).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg("/bin/sh")
        .arg("-c")
        .arg(r#"mount -t tmpfs -o noexec,nosuid,nodev,mode=1777 tmpfs "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(&s6run)
        .arg(common::bin())
        .args(s.dir_args())
        .arg("--s6-root")
        .arg(s.join("root"))
        .arg("--s6-run-dir")
        .arg(&s6run)
        .env("PIDONE_S6_COMMAND_DIR", s.join("command"))
        .env("OUT", s.join("out"))
        .env("STOP_CODE", "9")
        .env(
            "STOP_WITH",
            format!("{}/s6/basedir/bin/halt", s6run.display()),
        )
        .env("PATH", common::SAFE_PATH);
    s.write("pidone.toml", "");
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let err = common::text(&o.stderr);
    assert_eq!(o.status.code(), Some(9), "{err}");
}

/// The events the teardown fixture's scripts wrote (`NAME NANOSECONDS` lines), by name.
fn events(s: &Scratch) -> Vec<(String, u128)> {
    out(s, "events")
        .lines()
        .map(|l| {
            let (name, at) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (name.to_string(), at.parse().unwrap())
        })
        .collect()
}

fn at(events: &[(String, u128)], name: &str) -> u128 {
    events
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
        .1
}

/// s6-rc's stop: oneshots init-a → init-b (init-b depends on init-a) with `down` scripts and
/// a longrun on init-b. At stop the longrun is gone (the kernel says so, asked from init-b's
/// down) before init-b's down runs, init-b's down before init-a's; then the cont-finish.d
/// scripts in name order (the last through `with-contenv`), after every down. A oneshot whose
/// `up` failed runs no down. The container's exit code stays CMD's.
#[test]
fn s6_down_scripts_and_cont_finish_run_in_stop_order() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "teardown");
    let p = start(
        &s,
        &[],
        &[
            "--",
            "/bin/sh",
            "-c",
            "while [ ! -e \"$OUT/go\" ]; do sleep 0.05; done; exit 3",
        ],
    );
    assert!(wait_out(&s, "svc-pid"), "{}", p.stderr());
    assert!(wait_until(LONG, || events(&s).len() >= 4), "{}", p.stderr());
    // Nothing of the stop ran at start.
    assert!(
        events(&s).iter().all(|(n, _)| n.starts_with("up-")),
        "{:?}",
        events(&s)
    );
    std::fs::write(s.join("out/go"), "").unwrap();
    let f = p.finish(LONG);
    assert_eq!(f.code, 3, "{}", f.stderr);
    let ev = events(&s);
    assert_eq!(out(&s, "svc-at-down-b").trim(), "gone", "{ev:?}");
    assert!(at(&ev, "svc-stopping") < at(&ev, "down-b"), "{ev:?}");
    assert!(at(&ev, "down-b") < at(&ev, "down-a"), "{ev:?}");
    let last_down = at(&ev, "down-a").max(at(&ev, "down-slow"));
    assert!(last_down < at(&ev, "finish-10"), "{ev:?}");
    assert!(at(&ev, "finish-10") < at(&ev, "finish-15"), "{ev:?}");
    assert!(at(&ev, "finish-15") < at(&ev, "finish-20"), "{ev:?}");
    assert!(ev.iter().any(|(n, _)| n == "up-fail"), "{ev:?}");
    assert!(!ev.iter().any(|(n, _)| n == "down-fail"), "{ev:?}");
    // Every down and finish script ran once.
    for name in ["down-a", "down-b", "down-slow", "finish-10", "finish-20"] {
        assert_eq!(ev.iter().filter(|(n, _)| n == name).count(), 1, "{ev:?}");
    }
}

/// A `down` that hangs is killed at its `timeout-down` (800 ms) and a cont-finish.d script
/// that hangs at S6_KILL_FINISH_MAXTIME (400 ms): the next steps run and the stop ends. Without
/// CMD the exit code is the exitcode file's, as before.
#[test]
fn s6_hanging_down_and_finish_scripts_are_cut_at_their_limits() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "teardown");
    let p = start(
        &s,
        &[
            ("HANG", "1"),
            ("S6_KILL_FINISH_MAXTIME", "400"),
            ("WRITE_EXITCODE", "6"),
        ],
        &[],
    );
    assert!(wait_out(&s, "svc-pid"), "{}", p.stderr());
    assert!(wait_until(LONG, || events(&s).len() >= 4), "{}", p.stderr());
    let f = p.stop(LONG);
    assert_eq!(f.code, 6, "{}", f.stderr);
    let ev = events(&s);
    let slow = at(&ev, "down-slow");
    // cont-finish.d waited for the hanging down until its timeout-down (less the moment
    // between the down's start and its first line, which a loaded machine stretches), not for
    // ever. Without the wait it would follow the other downs, about 0.3 s after down-slow.
    let waited = at(&ev, "finish-10") - slow;
    assert!(
        (600_000_000..5_000_000_000).contains(&waited),
        "{waited} ns: {ev:?}\n{}",
        f.stderr
    );
    let cut = at(&ev, "finish-20") - at(&ev, "finish-15");
    assert!(
        (300_000_000..5_000_000_000).contains(&cut),
        "{cut} ns: {ev:?}\n{}",
        f.stderr
    );
    assert!(
        f.stderr
            .contains("init-slow: stop command still running after 800ms; sending SIGKILL"),
        "{}",
        f.stderr
    );
    assert!(
        f.stderr
            .contains("15-hang: still running after 400 ms; killed"),
        "{}",
        f.stderr
    );
    assert!(f.elapsed < Duration::from_secs(8), "{:?}", f.elapsed);
}

/// S6_STAGE2_HOOK runs before the layout is read, so its edit of the s6-rc.d tree counts:
/// the service it drops from the `user` bundle never starts.
#[test]
fn s6_stage2_hook_edits_the_tree_before_it_is_read() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "teardown");
    let root = s.join("root").display().to_string();
    let hook = "rm \"$HOOK_ROOT/etc/s6-overlay/user-bundles.d/user/contents.d/init-fail\" && touch \"$OUT/hook-ran\"";
    let p = start(&s, &[("S6_STAGE2_HOOK", hook), ("HOOK_ROOT", &root)], &[]);
    assert!(wait_out(&s, "svc-pid"), "{}", p.stderr());
    assert!(s.join("out/hook-ran").exists());
    std::thread::sleep(Duration::from_millis(500));
    let ev = events(&s);
    assert!(ev.iter().any(|(n, _)| n == "up-a"), "{ev:?}");
    assert!(!ev.iter().any(|(n, _)| n == "up-fail"), "{ev:?}");
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(
        f.stderr
            .contains("init-fail: not in the user or user2 bundle"),
        "{}",
        f.stderr
    );
}

/// A failing hook is named with its exit code; with S6_BEHAVIOUR_IF_STAGE2_FAILS=2 nothing
/// starts and the container ends with that code, otherwise the start goes on.
#[test]
fn s6_failing_stage2_hook_follows_behaviour() {
    require_namespaces!();
    for behaviour in ["0", "2"] {
        let s = Scratch::new();
        copy_fixture(&s, "teardown");
        let p = start(
            &s,
            &[
                ("S6_STAGE2_HOOK", "/bin/false || exit 7"),
                ("S6_BEHAVIOUR_IF_STAGE2_FAILS", behaviour),
            ],
            &[],
        );
        let f = if behaviour == "2" {
            p.finish(LONG)
        } else {
            assert!(wait_out(&s, "svc-pid"), "{}", p.stderr());
            p.stop(LONG)
        };
        assert!(
            f.stderr
                .contains("S6_STAGE2_HOOK (/bin/false ...) exited with code 7"),
            "{}",
            f.stderr
        );
        if behaviour == "2" {
            assert_eq!(f.code, 7, "{}", f.stderr);
            assert!(out(&s, "events").is_empty(), "{}", out(&s, "events"));
        } else {
            assert_eq!(f.code, 0, "{}", f.stderr);
        }
    }
}

/// While PID 1 waits for the hook every signal is blocked; a TERM still ends the run at once
/// (the hook is killed), not after the hook's five-minute limit.
#[test]
fn s6_sigterm_during_stage2_hook_ends_promptly() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "teardown");
    let p = start(
        &s,
        &[("S6_STAGE2_HOOK", "touch \"$OUT/hook-started\"; sleep 1000")],
        &[],
    );
    assert!(
        wait_until(LONG, || s.join("out/hook-started").exists()),
        "{}",
        p.stderr()
    );
    let sleeper = p
        .processes()
        .into_iter()
        .find(|q| q.cmdline == "sleep 1000")
        .expect("the hook's sleep");
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert!(f.elapsed < Duration::from_secs(3), "{:?}", f.elapsed);
    assert!(
        f.stderr.contains("received SIGTERM while S6_STAGE2_HOOK"),
        "{}",
        f.stderr
    );
    assert!(!Path::new(&format!("/proc/{}", sleeper.host_pid)).exists());
    assert!(out(&s, "events").is_empty());
}

/// A log pipeline `app` → `consumer` (fixtures `pipe` and `pipe-legacy`, where app prints a
/// numbered line every 50 ms and the consumer appends what it reads to `$OUT/log`): app's fd 1
/// and the consumer's fd 0 are the same pipe (kernel truth); app's stderr is not in it. Taken
/// down with `s6-svc -d`, the consumer reads nothing while app writes on, and after `-u` every
/// line arrives. SIGKILLed, it comes back on the same pipe while app keeps its pid (no
/// SIGPIPE death). `consumer_dir` is the path `s6-svc` is given, `live` the consumer's cwd
/// under the s6 run dir.
fn pipeline_survives_its_consumer(fixture: &str, consumer: &str, consumer_dir: &str, live: &str) {
    let s = Scratch::new();
    copy_fixture(&s, fixture);
    let p = start(&s, &[], &[]);
    assert!(
        wait_until(LONG, || out(&s, "log").lines().count() >= 3),
        "{}",
        p.stderr()
    );
    let host = |name: &str| host_pid(&p, s.status_row(name)["pid"].as_i64().unwrap() as i32);
    let app = host("app");
    let pipe = fd_target(app, 1);
    assert!(pipe.starts_with("pipe:["), "{pipe}");
    assert_eq!(fd_target(host(consumer), 0), pipe);
    assert_ne!(fd_target(app, 2), pipe);
    // The consumer runs in its live directory, as under s6-overlay (a services.d logger's is
    // NAME/log, as under s6-svscan).
    let live = s.join(live);
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", host(consumer))).unwrap(),
        live
    );
    assert!(wait_until(LONG, || p.stderr().contains("to-stderr")));
    assert!(!out(&s, "log").contains("to-stderr"));

    let count = || out(&s, "count").trim().parse::<usize>().unwrap_or(0);
    let dir = consumer_dir;
    let (code, text) = shim(&s, "s6-svc", &["-wd", "-d", dir]);
    assert_eq!(code, 0, "{text}");
    let logged = out(&s, "log").lines().count();
    let target = count() + 10;
    assert!(wait_until(LONG, || count() >= target), "app stalled");
    assert!(
        out(&s, "log").lines().count() <= logged + 1,
        "read while down"
    );
    let (code, text) = shim(&s, "s6-svc", &["-u", dir]);
    assert_eq!(code, 0, "{text}");
    assert!(
        wait_until(LONG, || out(&s, "log").lines().count() >= target),
        "{}",
        p.stderr()
    );
    assert_contiguous(&s.lines("out/log"), 1);

    let killed = host(consumer);
    common::send(killed, libc::SIGKILL);
    assert!(
        wait_until(LONG, || {
            let row = s.status_row(consumer);
            row["state"] == "running"
                && row["pid"]
                    .as_i64()
                    .and_then(|n| common::host_pid_of(p.pid, n as i32))
                    .is_some_and(|h| h != killed && fd_target(h, 0) == pipe)
        }),
        "{}",
        p.stderr()
    );
    let target = count() + 5;
    assert!(
        wait_until(LONG, || out(&s, "log").lines().count() >= target),
        "{}",
        p.stderr()
    );
    assert_contiguous(&s.lines("out/log"), 2);
    assert_eq!(host("app"), app, "app was restarted");
    assert_eq!(fd_target(app, 1), pipe);
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// s6-rc.d: `app` has `producer-for logger`, `logger` has `consumer-for app` and
/// `pipeline-name app-pipeline`, and the user bundle lists only the pipeline's bundle.
#[test]
fn s6_rc_log_pipeline() {
    require_namespaces!();
    pipeline_survives_its_consumer(
        "pipe",
        "logger",
        "/run/service/logger",
        "s6run/s6-rc/servicedirs/logger",
    );
}

/// v2: `services.d/app/log/run` is app's logger, the service `app-log` (which `s6-svc` also
/// reaches as `/run/service/app/log`, as under s6-svscan).
#[test]
fn services_d_log_directory_is_a_pipeline() {
    require_namespaces!();
    pipeline_survives_its_consumer(
        "pipe-legacy",
        "app-log",
        "/run/service/app/log",
        "s6run/s6/legacy-services/app/log",
    );
}

/// `pidone check` shows the pipe and the start order it implies.
#[test]
fn check_prints_pipelines() {
    let s = Scratch::new();
    copy_fixture(&s, "pipe");
    s.write("pidone.toml", "");
    let mut cmd = Command::new(common::bin());
    cmd.arg("check")
        .args(s.dir_args())
        .args(["--s6-root", &s.join("root").display().to_string()]);
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let text = format!("{}{}", common::text(&o.stdout), common::text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("app (longrun) after [logger]"), "{text}");
    assert!(text.contains("stdout piped into logger"), "{text}");
    assert!(!text.contains("not used by pidone"), "{text}");
}

// ---- issue 19: s6-overlay fidelity ----

/// The tree of a real image: only `s6-rc.d/user/contents.d/NAME` entries (the `user` bundle
/// itself ships in s6-overlay's tarball, which the image no longer has), a `run` that is not
/// executable. It loads, runs, and `pidone check` reads it as a checkout of the rootfs.
#[test]
fn s6_tree_with_only_user_contents_d_entries() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "userdirs");
    assert!(!s.join("root/etc/s6-overlay/s6-rc.d/user/type").exists());
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "app-data"), "{}", p.stderr());
    assert_eq!(out(&s, "config-done").trim(), "config ran");
    let row = s.status_row("svc-app");
    assert_eq!(row["state"], "running", "{row}");
    assert!(
        !p.stderr().contains("cannot read the service type"),
        "{}",
        p.stderr()
    );
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);

    s.write("pidone.toml", "");
    let mut cmd = Command::new(common::bin());
    cmd.arg("check")
        .args(s.dir_args())
        .args(["--s6-root", &s.join("root").display().to_string()]);
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let text = format!("{}{}", common::text(&o.stdout), common::text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("svc-app (longrun) after [init-config]"),
        "{text}"
    );
    assert!(
        text.contains("0 service(s) in") && text.contains("2 from the s6-overlay layout in"),
        "{text}"
    );

    // execlineb is looked for in the tree checked (the image), not on this host.
    s.write("root/etc/s6-overlay/s6-rc.d/hello/type", "oneshot\n");
    s.write(
        "root/etc/s6-overlay/s6-rc.d/hello/up",
        "foreground { echo hi }\n",
    );
    s.write("root/etc/s6-overlay/s6-rc.d/user/contents.d/hello", "");
    let check = || {
        let mut cmd = Command::new(common::bin());
        cmd.arg("check")
            .args(s.dir_args())
            .args(["--s6-root", &s.join("root").display().to_string()])
            .env_remove("PIDONE_S6_COMMAND_DIR");
        let (o, _) = common::run_with_timeout(cmd, LONG);
        let text = format!("{}{}", common::text(&o.stdout), common::text(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "{text}");
        text
    };
    let text = check();
    assert!(text.contains("execlineb is not in"), "{text}");
    assert!(text.contains("apt-get install execline"), "{text}");
    s.write("root/command/execlineb", "");
    let text = check();
    assert!(!text.contains("execlineb is not in"), "{text}");
    assert!(
        text.contains("hello (oneshot) after []: /command/execlineb -Pc foreground"),
        "{text}"
    );
}

/// The `user` bundle's `type`, as s6-overlay's tarball had it: a test of something else than
/// the supplied bundles (s6_tree_with_only_user_contents_d_entries) does not depend on them.
fn with_user_type(s: &Scratch) {
    s.write("root/etc/s6-overlay/s6-rc.d/user/type", "bundle\n");
}

/// A longrun runs in its live service directory, `/run/s6-rc/servicedirs/NAME` (here under
/// the s6 run dir), as under s6-overlay: a real directory (the cwd the kernel reports) whose
/// `data/` and `run` are links to the image's files; `/run/service/NAME` links to it. Nothing
/// in it is executed by pidone.
#[test]
fn s6_longrun_runs_in_its_live_service_directory() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "userdirs");
    with_user_type(&s);
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "app-data"), "{}", p.stderr());
    let live = s.join("s6run/s6-rc/servicedirs/svc-app");
    let pid = host_pid(&p, s.status_row("svc-app")["pid"].as_i64().unwrap() as i32);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        live,
        "the daemon's cwd"
    );
    assert!(std::fs::symlink_metadata(&live).unwrap().is_dir());
    assert_eq!(out(&s, "app-in-service-dir").trim(), "yes");
    assert_eq!(out(&s, "app-data").trim(), "from the image");
    let image = s.join("root/etc/s6-overlay/s6-rc.d/svc-app");
    assert_eq!(
        std::fs::read_link(live.join("run")).unwrap(),
        image.join("run")
    );
    assert_eq!(
        std::fs::read_link(live.join("data")).unwrap(),
        image.join("data")
    );
    // The other paths scripts use reach the same directory.
    for other in ["s6run/service/svc-app", "s6run/s6/services/svc-app"] {
        assert_eq!(std::fs::read_link(s.join(other)).unwrap(), live, "{other}");
    }
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// S6_STAGE2_HOOK runs after container_environment is written: a `#!/command/with-contenv`
/// hook sees the container's variables, and what it adds there reaches the services.
#[test]
fn s6_stage2_hook_uses_with_contenv() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "userdirs");
    with_user_type(&s);
    let hook = s.join("root/scripts/hook").display().to_string();
    let s6run = s.join("s6run").display().to_string();
    let p = start(
        &s,
        &[
            ("S6_STAGE2_HOOK", &hook),
            ("HOOK_SEES", "the container env"),
            ("HOOK_S6RUN", &s6run),
        ],
        &[],
    );
    assert!(wait_out(&s, "app-hookvar"), "{}", p.stderr());
    assert_eq!(
        out(&s, "hook-env").trim(),
        "the container env",
        "{}",
        p.stderr()
    );
    assert_eq!(out(&s, "app-hookvar").trim(), "from-hook", "{}", p.stderr());
    assert!(!p.stderr().contains("exited with code"), "{}", p.stderr());
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// container_environment is readable like s6-overlay's (0755 / 0644): `with-contenv` run by
/// another uid (a cron job as the image's service user) loads it.
#[test]
fn s6_with_contenv_from_another_uid() {
    require_namespaces!();
    if !common::is_root() {
        panic!("this test changes uid: run it as root (the CI does)");
    }
    use std::os::unix::process::CommandExt;
    let s = Scratch::new();
    copy_fixture(&s, "userdirs");
    with_user_type(&s);
    let p = start(&s, &[("SITE_NAME", "meet.example")], &[]);
    assert!(wait_out(&s, "app-data"), "{}", p.stderr());
    let dir = s.join("s6run/s6/container_environment");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join("SITE_NAME")), 0o644);
    let mut cmd = Command::new(s.join("command/with-contenv"));
    cmd.args(["sh", "-c", "echo \"$SITE_NAME\"; id -u"])
        .env("PIDONE_S6_RUN_DIR", s.join("s6run"))
        .uid(4242)
        .gid(4242);
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let text = common::text(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        common::text(&o.stderr)
    );
    assert_eq!(text.lines().collect::<Vec<_>>(), ["meet.example", "4242"]);
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// s6-supervise never gives up on a longrun: killed 10 times in about 10 s it is restarted
/// every time, and a service that dies at once for ever is started about once a second (not
/// given up, not a busy loop): pidone's own CPU time (from /proc) stays near zero.
#[test]
fn s6_longruns_are_never_given_up() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "crashloop");
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "crasher-starts"), "{}", p.stderr());
    let ticks = common::cpu_ticks(p.pid);
    let t0 = std::time::Instant::now();
    let starts0 = out(&s, "crasher-starts").lines().count();
    let mut last = 0;
    for n in 0..10 {
        let mut pid = 0;
        assert!(
            wait_until(LONG, || {
                let row = s.status_row("daemon");
                pid = row["pid"].as_i64().unwrap_or(0) as i32;
                row["state"] == "running" && pid != 0 && pid != last
            }),
            "kill {n}: daemon not restarted: {}\n{}",
            s.status_row("daemon"),
            p.stderr()
        );
        last = pid;
        common::send(host_pid(&p, pid), libc::SIGKILL);
    }
    assert!(
        wait_until(LONG, || {
            let row = s.status_row("daemon");
            row["state"] == "running" && row["pid"].as_i64().unwrap_or(0) as i32 != last
        }),
        "not restarted after the 10th kill: {}\n{}",
        s.status_row("daemon"),
        p.stderr()
    );
    let elapsed = t0.elapsed();
    let cpu = common::cpu_ticks(p.pid) - ticks;
    let starts = out(&s, "crasher-starts").lines().count() - starts0;
    let secs = elapsed.as_secs_f64();
    assert!(secs < 15.0, "10 kills took {secs:.1} s");
    assert_ne!(s.status_row("crasher")["state"], "failed");
    // About one start a second (s6-supervise's pace), never a burst.
    assert!(
        (starts as f64) >= secs - 3.0 && (starts as f64) <= secs + 2.0,
        "{starts} starts of the crasher in {secs:.1} s"
    );
    // Two services restarted ~20 times: a few spawns, no busy loop (100 ticks = 1 s).
    assert!(cpu <= 20, "pidone used {cpu} ticks in {secs:.1} s");
    eprintln!("crash loop: {starts} starts in {secs:.1} s, pidone cpu {cpu} ticks");
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// S6_RUNTIME_PROFILE=alt: every tree is read from /etc/cont-profile.d/alt instead of /etc, as
/// s6-overlay's stage 2 does; without it, /etc's.
#[test]
fn s6_runtime_profile_replaces_the_trees() {
    require_namespaces!();
    for profile in [Some("alt"), None] {
        let s = Scratch::new();
        copy_fixture(&s, "profile");
        let env: Vec<(&str, &str)> = profile
            .map(|p| ("S6_RUNTIME_PROFILE", p))
            .into_iter()
            .collect();
        let p = start(&s, &env, &[]);
        let (want, not) = match profile {
            Some(_) => (["alt-init", "alt-svc"], ["main-init", "main-svc"]),
            None => (["main-init", "main-svc"], ["alt-init", "alt-svc"]),
        };
        for f in want {
            assert!(
                wait_until(LONG, || s.join("out").join(f).exists()),
                "{profile:?} {f}: {}",
                p.stderr()
            );
        }
        for f in not {
            assert!(!s.join("out").join(f).exists(), "{profile:?} {f}");
        }
        assert!(!p.stderr().contains("not supported"), "{}", p.stderr());
        let f = p.stop(LONG);
        assert_eq!(f.code, 0, "{}", f.stderr);
    }
    // A profile that does not exist is named before anything starts.
    let s = Scratch::new();
    copy_fixture(&s, "profile");
    let f = start(&s, &[("S6_RUNTIME_PROFILE", "nope")], &[]).finish(LONG);
    assert_eq!(f.code, 78, "{}", f.stderr);
    assert!(
        f.stderr.contains("S6_RUNTIME_PROFILE=\"nope\""),
        "{}",
        f.stderr
    );
}

/// db ← mid ← app, and mid was taken down (`s6-svc -d`) before the stop: s6-rc still counts
/// mid as up, so app is stopped (and gone) before db gets its signal.
#[test]
fn s6_stop_order_is_transitive_through_a_longrun_already_down() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "stopchain");
    let p = start(&s, &[], &[]);
    assert!(
        wait_until(LONG, || out(&s, "events").contains("app-up")),
        "{}",
        p.stderr()
    );
    let (code, text) = shim(&s, "s6-svc", &["-d", "/run/service/mid"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        wait_until(LONG, || s.status_row("mid")["state"] == "stopped"),
        "{}",
        s.status_row("mid")
    );
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    let ev = events(&s);
    let (app, db) = (at(&ev, "app-stopping"), at(&ev, "db-stopping"));
    // app takes 500 ms to go after its signal; db's comes after that.
    assert!(db >= app + 400_000_000, "{ev:?}");
}

/// A non-root start whose /run it cannot write (Docker's --tmpfs /run is root-owned with the
/// image's mode): exit 73, saying what to do.
#[test]
fn s6_unwritable_run_says_what_to_do() {
    if !common::is_root() {
        panic!("this test starts pidone as another uid: run it as root (the CI does)");
    }
    use std::os::unix::process::CommandExt;
    let s = Scratch::new();
    copy_fixture(&s, "userdirs");
    with_user_type(&s);
    let s6run = s.join("s6run");
    std::fs::create_dir(&s6run).unwrap();
    std::fs::set_permissions(&s6run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = s.join("run");
    std::fs::create_dir(&run).unwrap();
    std::os::unix::fs::chown(&run, Some(4242), Some(4242)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    s.write("pidone.toml", "");
    let mut cmd = Command::new(common::bin());
    cmd.args(s.dir_args())
        .args(["--s6-root", &s.join("root").display().to_string()])
        .args(["--s6-run-dir", &s6run.display().to_string()])
        .env("PIDONE_S6_COMMAND_DIR", s.join("command"))
        .env("OUT", s.join("out"))
        .uid(4242)
        .gid(4242);
    let (o, _) = common::run_with_timeout(cmd, LONG);
    let err = common::text(&o.stderr);
    assert_eq!(o.status.code(), Some(73), "{err}");
    assert!(
        err.contains("container_environment: Permission denied")
            && err.contains("RUN chmod 1777 /run"),
        "{err}"
    );
    // Docker 20.10 ignores `--tmpfs /run:mode=1777` (the tmpfs gets the image's /run mode);
    // `uid=` is honoured: the hint leads with it, for the uid that failed.
    assert!(
        err.contains(&format!("--tmpfs {}:uid=4242", s6run.display())),
        "{err}"
    );
    assert!(!err.contains("mode=1777"), "{err}");
    assert!(!s.join("out/config-done").exists());
}

/// `s6-svc -r` is a restart on request (issue 22): not counted in RESTARTS nor toward
/// `max_restarts`, and status says "restarted on request" instead of the 143 it caused.
#[test]
fn s6_svc_restart_is_a_request_not_a_crash() {
    require_namespaces!();
    if which("execlineb").is_none() {
        panic!("execlineb is missing: apt-get install execline (.ci/run installs it)");
    }
    let s = Scratch::new();
    copy_fixture(&s, "web");
    let p = start(&s, &[("SITE_NAME", "meet.example")], &[]);
    assert!(wait_out(&s, "web-env"), "web did not start: {}", p.stderr());
    let web_pid = host_pid(&p, s.status_row("web")["pid"].as_i64().unwrap() as i32);
    let (code, text) = shim(&s, "s6-svc", &["-r", "/run/service/web"]);
    assert_eq!(code, 0, "{text}");
    let mut row = serde_json::Value::Null;
    assert!(wait_until(LONG, || {
        row = s.status_row("web");
        row["pid"]
            .as_i64()
            .is_some_and(|n| host_pid(&p, n as i32) != web_pid)
    }));
    assert_eq!(row["restarts"], 0, "{row}");
    assert!(row["last_exit"].is_null(), "{row}");
    assert_eq!(row["reason"], "restarted on request", "{row}");
    let f = p.stop(LONG);
    assert!(
        f.stderr.contains("web restarted on request"),
        "{}",
        f.stderr
    );
}

// ---- issue 19, after the real-image run (docs/s6-real-images.md) ----

/// s6-overlay's live directories: an s6-rc longrun runs in `/run/s6-rc/servicedirs/NAME`, a
/// services.d one in `/run/s6/legacy-services/NAME` (both real directories, the cwd the
/// kernel reports), and `/run/service/NAME` links there. A with-contenv-shaped wrapper
/// (fixture `umask`) that applies `UMASK` only when its cwd is a service's (`/servicedirs/svc-`,
/// `/s6/legacy-services/`) applies it to both, and not to `other`, whose name does not match.
#[test]
fn s6_live_directories_are_laid_out_as_s6_overlay() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "umask");
    // Planted symlinks (a service can write /run): replaced, never followed.
    let decoy = s.join("decoy");
    std::fs::create_dir(&decoy).unwrap();
    std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o777)).unwrap();
    for d in ["s6run", "s6run/service", "s6run/s6-rc"] {
        std::fs::create_dir(s.join(d)).unwrap();
        std::fs::set_permissions(s.join(d), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::os::unix::fs::symlink(&decoy, s.join("s6run/s6-rc/servicedirs")).unwrap();
    std::os::unix::fs::symlink(&decoy, s.join("s6run/service/svc-app")).unwrap();
    let p = start(&s, &[("UMASK", "002")], &[]);
    assert!(
        wait_until(LONG, || s.client(&["status"]).0 == 0),
        "{}",
        p.stderr()
    );
    let pid_of = |name: &str| {
        let mut pid = None;
        wait_until(LONG, || {
            pid = s.status_row(name)["pid"]
                .as_i64()
                .and_then(|n| common::host_pid_of(p.pid, n as i32))
                .filter(|h| {
                    std::fs::read_to_string(format!("/proc/{h}/cmdline"))
                        .is_ok_and(|c| c.starts_with("sleep\u{0}"))
                });
            pid.is_some()
        });
        pid.unwrap_or_else(|| panic!("{name} did not start: {}", p.stderr()))
    };
    for (name, live) in [
        ("svc-app", "s6run/s6-rc/servicedirs/svc-app"),
        ("other", "s6run/s6-rc/servicedirs/other"),
        ("legacy-app", "s6run/s6/legacy-services/legacy-app"),
    ] {
        let pid = pid_of(name);
        let live = s.join(live);
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
            live,
            "{name}'s cwd"
        );
        assert!(std::fs::symlink_metadata(&live).unwrap().is_dir(), "{name}");
        assert_eq!(
            std::fs::read_link(s.join("s6run/service").join(name)).unwrap(),
            live,
            "/run/service/{name}"
        );
        let umask = status_field(pid, "Umask").unwrap();
        let want = if name == "other" { "0022" } else { "0002" };
        assert_eq!(umask.trim(), want, "{name}'s umask");
    }
    let servicedirs = std::fs::symlink_metadata(s.join("s6run/s6-rc/servicedirs")).unwrap();
    assert!(servicedirs.is_dir());
    assert_eq!(
        std::fs::read_dir(&decoy).unwrap().count(),
        0,
        "wrote through a link"
    );
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// What s6-rc accepts without a word is no warning: a start of a tree (fixture `quiet`, the
/// linuxserver shape) with a comments-only `up` (the "end of the init chain" oneshot) and a
/// data file beside a oneshot's `run` (its `branding`) prints no `warning:` line, only info.
#[test]
fn s6_quiet_start_of_a_sound_tree() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "quiet");
    let p = start(&s, &[], &[]);
    assert!(wait_out(&s, "branding"), "{}", p.stderr());
    assert!(
        wait_until(LONG, || s.client(&["status"]).0 == 0
            && s.status_row("svc-app")["state"] == "running"),
        "{}",
        p.stderr()
    );
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    let warnings: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}\n{}", f.stderr);
    // Still said, as info lines (`pidone: TEXT`; a warning is `pidone: warning: TEXT`).
    for said in [
        "init-noop/up: only comments",
        "init-adduser/branding: not used by pidone",
    ] {
        assert!(
            f.stderr
                .lines()
                .any(|l| l.starts_with("pidone: /") && l.contains(said)),
            "{said}: {}",
            f.stderr
        );
    }
}

/// S6_CMD_WAIT_FOR_SERVICES_MAXTIME unset is 0, no limit, as in s6-overlay 3.2.0.0+: CMD waits
/// for svc-app (fixture `lsio`, ready once `$OUT/ready-flag` exists) past the 5 s pidone used
/// to give it, and starts once svc-app is ready.
#[test]
fn cmd_waits_for_services_without_limit_by_default() {
    require_namespaces!();
    let s = Scratch::new();
    copy_fixture(&s, "lsio");
    let p = start(
        &s,
        &[],
        &[
            "--",
            "/bin/sh",
            "-c",
            "date +%s%N > \"$OUT/cmd-started\"; exit 4",
        ],
    );
    assert!(wait_out(&s, "app-env"), "{}", p.stderr());
    std::thread::sleep(Duration::from_millis(6500));
    assert!(out(&s, "cmd-started").is_empty(), "{}", p.stderr());
    assert!(!p.stderr().contains("not ready within"), "{}", p.stderr());
    let flagged = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(s.join("out/ready-flag"), "").unwrap();
    let f = p.finish(LONG);
    assert_eq!(f.code, 4, "{}", f.stderr);
    let cmd_started: u128 = out(&s, "cmd-started").trim().parse().unwrap();
    assert!(
        cmd_started >= flagged,
        "CMD started before svc-app was ready"
    );
}

/// Issue 20: `s6-svc` on a service that does not exist fails as s6-svc does on a missing
/// supervise dir (exit 111, saying so); a signal to an existing service that is down exits
/// 0, as in s6. (Before, `s6-svc -k /run/service/nonexistent` printed the error
/// and exited 0.)
#[test]
fn s6_svc_on_a_missing_service_exits_111() {
    require_namespaces!();
    let s = Scratch::new();
    common::svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    common::svc(
        &s,
        "job",
        "kind = \"oneshot\"\ncommand = [\"true\"]\ncritical = false\n",
    );
    let run = common::start(&s, &[]);
    common::status_until(&s, "job", "done", |r| r["state"] == "done");
    let s6_svc = |args: &[&str]| {
        let mut cmd = common::exec_into(&s.join("run"), common::bin());
        cmd.arg("s6-svc")
            .args(args)
            .env("PIDONE_RUN_DIR", s.join("run"));
        let (out, _) = common::run_with_timeout(cmd, LONG);
        (out.status.code(), common::text(&out.stderr))
    };
    for flag in ["-k", "-t", "-u", "-d", "-r"] {
        let (code, err) = s6_svc(&[flag, "/run/service/nonexistent"]);
        assert_eq!(code, Some(111), "s6-svc {flag}: {err}");
        assert!(err.contains("\"nonexistent\""), "s6-svc {flag}: {err}");
    }
    // A signal to a service that is not running is no error, as in s6 (a note is printed).
    let (code, err) = s6_svc(&["-t", "/run/service/job"]);
    assert_eq!(code, Some(0), "{err}");
    // A real one is signalled: the sleep dies of the KILL and is restarted.
    let before = s.status_row("web")["pid"].clone();
    assert_eq!(s6_svc(&["-k", "/run/service/web"]).0, Some(0));
    common::status_until(&s, "web", "restarted", |r| {
        r["state"] == "running" && r["pid"] != before
    });
    drop(run);
}

/// `s6-svc -k` (issue 21) restarts the service as s6-supervise does, as a restart on request:
/// not a crash in RESTARTS, no backoff growth (two kills in a row both come back at once),
/// status says "restarted on request"; the old process is gone and a new one runs (/proc).
#[test]
fn s6_svc_kill_restarts_on_request_without_counting_a_crash() {
    require_namespaces!();
    if which("execlineb").is_none() {
        panic!("execlineb is missing: apt-get install execline (.ci/run installs it)");
    }
    let s = Scratch::new();
    copy_fixture(&s, "web");
    let p = start(&s, &[("SITE_NAME", "meet.example")], &[]);
    assert!(wait_out(&s, "web-env"), "web did not start: {}", p.stderr());
    let mut web_pid = host_pid(&p, s.status_row("web")["pid"].as_i64().unwrap() as i32);
    for round in 0..2 {
        let asked = seconds_since_boot();
        let (code, text) = shim(&s, "s6-svc", &["-k", "/run/service/web"]);
        assert_eq!(code, 0, "{text}");
        let mut row = serde_json::Value::Null;
        assert!(
            wait_until(LONG, || {
                row = s.status_row("web");
                row["state"] == "running"
                    && row["pid"]
                        .as_i64()
                        .and_then(|n| common::host_pid_of(p.pid, n as i32))
                        .is_some_and(|h| h != web_pid)
            }),
            "round {round}: not restarted: {row}"
        );
        // s6-supervise's pace after a crash is a second since the last start; a request
        // restarts at once. When the new process started, as the kernel recorded it.
        let new_pid = host_pid(&p, row["pid"].as_i64().unwrap() as i32);
        let took = started_since_boot(new_pid) - asked;
        assert!(
            took < 0.9,
            "round {round}: started {took:.2} s after the kill"
        );
        eprintln!("round {round}: the new process started {took:.3} s after s6-svc -k");
        assert!(
            wait_until(LONG, || !Path::new(&format!("/proc/{web_pid}")).exists()),
            "round {round}: the killed process is still there"
        );
        assert_eq!(row["restarts"], 0, "round {round}: {row}");
        assert!(row["last_exit"].is_null(), "round {round}: {row}");
        assert_eq!(
            row["reason"], "restarted on request",
            "round {round}: {row}"
        );
        web_pid = new_pid;
        assert_eq!(
            status_field(web_pid, "State").map(|s| s.starts_with('R') || s.starts_with('S')),
            Some(true)
        );
    }
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert_eq!(
        f.stderr.matches("web restarted on request").count(),
        2,
        "{}",
        f.stderr
    );
}

/// Seconds since boot now (/proc/uptime), to compare with `started_since_boot`.
fn seconds_since_boot() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// When process `pid` started, in seconds since boot (/proc/PID/stat field 22, clock ticks).
fn started_since_boot(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let ticks: f64 = after.split_whitespace().nth(19).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}
