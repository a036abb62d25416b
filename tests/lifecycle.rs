//! Lifecycle robustness (issue 11): health-check restarts obey the restart policy, a hung
//! oneshot times out, a named services dir must exist, control verbs on stopping services
//! and oneshots, the HTTP check's manners, limits, and the status client's errors.
//!
//! pidone runs as PID 1 of a fresh PID namespace. What happened is read from the kernel
//! (/proc, exit codes), from files the services write themselves, and from `status --json`;
//! pidone's log only for the wording of messages meant for people.
//!
//! In service files, `@D@` stands for the scratch directory.

mod common;

use common::{Scratch, cpu_ticks, start, status_until, svc, wait_until};
use std::path::Path;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// A longrun that appends its pid to `@D@/starts_NAME` at every start, then sleeps.
fn counted(name: &str, extra: &str) -> String {
    format!(
        "command = [\"sh\", \"-c\", \"echo $$ >> @D@/starts_{name}; exec sleep 1000\"]\n{extra}"
    )
}

// ------------------------------------------------------------------------------------------
// 1. Health-check restarts are failures: backoff, max_restarts, restart, critical.
// ------------------------------------------------------------------------------------------

/// The reproduction of the issue: a check that can never pass, retries = 1. Before, it
/// restarted the service hundreds of times a second; now it is restarted with the backoff,
/// given up on after max_restarts, and pidone stays nearly idle.
#[test]
fn failing_health_check_restarts_with_backoff_and_gives_up() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "dead",
        &counted(
            "dead",
            "max_restarts = 3\nrestart_window = \"60s\"\n[health]\ntcp = \"127.0.0.1:1\"\ninterval = \"100ms\"\nretries = 1\n",
        ),
    );
    svc(&s, "other", &counted("other", ""));
    let run = start(&s, &[]);
    let row = status_until(&s, "dead", "failed", |r| r["state"] == "failed");
    assert_eq!(row["restarts"], 3, "{row}");
    let reason = row["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("health check failed") && reason.contains("giving up"),
        "{row}"
    );
    // One start and three restarts, as the service itself saw them; and no more later.
    assert_eq!(s.lines("starts_dead").len(), 4, "{}", run.stderr());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.lines("starts_dead").len(), 4);
    // Backoff 100 + 200 + 400 ms plus four intervals of 100 ms: at least 1.1 s in all.
    assert!(run.started.elapsed() >= Duration::from_millis(1100));
    // Not critical: the rest runs on.
    assert_eq!(s.status_row("other")["state"], "running");
    // A storm costs seconds of CPU; this took a few hundredths.
    let ticks = cpu_ticks(run.pid);
    assert!(ticks < 100, "pidone used {ticks} ticks of CPU");
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}

#[test]
fn failing_health_check_with_restart_never_and_critical_ends_the_run() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "dead",
        &counted(
            "dead",
            "restart = \"never\"\ncritical = true\n[health]\ntcp = \"127.0.0.1:1\"\ninterval = \"100ms\"\nretries = 1\n",
        ),
    );
    let run = s.spawn_pid1(&["--", "sleep", "1000"]);
    let done = run.finish(LONG);
    // Critical and failed for good: the run ends with a failure code, after one start.
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert_eq!(s.lines("starts_dead").len(), 1, "{}", done.stderr);
    assert!(
        done.stderr.contains("dead is unhealthy") && done.stderr.contains("failed and is critical"),
        "{}",
        done.stderr
    );
}

/// A service slow to listen (0.5 s) with a 1 s interval and retries = 1 becomes healthy
/// without a restart: the first check runs an interval after it started, as in Docker.
/// Before, the first check ran at once, failed, and restarted it before it could bind.
#[test]
fn slow_listener_gets_one_interval_before_the_first_check() {
    require_namespaces!();
    let s = Scratch::new();
    let port = common::free_port();
    svc(
        &s,
        "slow",
        &format!(
            r#"command = ["sh", "-c", '''echo $$ >> @D@/starts_slow; sleep 0.5; exec python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(1000)"''']
[health]
tcp = {port}
interval = "1s"
retries = 1
"#
        ),
    );
    let run = start(&s, &[]);
    let row = status_until(&s, "slow", "healthy", |r| r["health"] == "healthy");
    assert_eq!(row["restarts"], 0, "{row}\n{}", run.stderr());
    assert_eq!(s.lines("starts_slow").len(), 1);
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!((code, out.trim()), (0, "healthy"));
    drop(run);
}

// ------------------------------------------------------------------------------------------
// 2. A hung oneshot times out; dependants say why; `stop` on a oneshot says what it did.
// ------------------------------------------------------------------------------------------

#[test]
fn hung_oneshot_times_out_and_fails_its_dependants_with_the_reason() {
    require_namespaces!();
    let s = Scratch::new();
    // Ignores TERM: killed at its stop_timeout.
    svc(
        &s,
        "hang",
        r#"command = ["sh", "-c", "trap '' TERM; echo $$ > @D@/hang_pid; while :; do sleep 0.1; done"]
kind = "oneshot"
critical = false
timeout = "1s"
stop_timeout = "500ms"
"#,
    );
    svc(
        &s,
        "web",
        "command = [\"sleep\", \"1000\"]\nafter = [\"hang\"]\n",
    );
    let t0 = Instant::now();
    let run = s.spawn_pid1(&[
        "--",
        "sh",
        "-c",
        "echo started > @D@/cmd_ran"
            .replace("@D@", &s.path().display().to_string())
            .as_str(),
    ]);
    let done = run.finish(LONG);
    // Neither is critical: CMD ran after both failed, and its exit ended the run.
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(s.join("cmd_ran").exists(), "{}", done.stderr);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(
        done.stderr
            .contains("dependency hang failed: oneshot hang timed out after 1.0s"),
        "{}",
        done.stderr
    );
}

#[test]
fn hung_critical_oneshot_ends_the_run_after_its_timeout() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "hang",
        "command = [\"sleep\", \"1000\"]\nkind = \"oneshot\"\ntimeout = \"1s\"\n",
    );
    let t0 = Instant::now();
    let done = s.spawn_pid1(&["--", "true"]).finish(LONG);
    // Stopped by pidone for a cause: exit 1, not the 143 of pidone's own TERM.
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        done.stderr.contains("oneshot hang timed out after 1.0s"),
        "{}",
        done.stderr
    );
}

#[test]
fn stop_on_a_oneshot_says_what_it_does() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "init",
        "command = [\"sleep\", \"1000\"]\nkind = \"oneshot\"\ncritical = false\n",
    );
    svc(&s, "done", "command = [\"true\"]\nkind = \"oneshot\"\n");
    svc(
        &s,
        "web",
        "command = [\"sleep\", \"1000\"]\nafter = [\"init\"]\n",
    );
    let run = start(&s, &[]);
    let row = status_until(&s, "init", "started", |r| r["state"] == "starting");
    let host = common::host_pid_of(run.pid, row["pid"].as_i64().unwrap() as i32).unwrap();
    let (code, out) = s.client(&["stop", "init"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the oneshot is running: sent SIGTERM")
            && out.contains("services waiting for it will not start"),
        "{out}"
    );
    assert!(wait_until(LONG, || !Path::new(&format!("/proc/{host}")).exists()));
    let row = status_until(&s, "web", "failed", |r| r["state"] == "failed");
    assert_eq!(row["reason"], "dependency init was stopped", "{row}");
    status_until(&s, "done", "done", |r| r["state"] == "done");
    let (code, out) = s.client(&["stop", "done"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already finished; nothing to stop"), "{out}");
    drop(run);
}

// ------------------------------------------------------------------------------------------
// 3. A named services dir must exist; nothing to supervise is an error.
// ------------------------------------------------------------------------------------------

#[test]
fn a_missing_named_services_dir_is_a_config_error() {
    require_namespaces!();
    let s = Scratch::new();
    let typo = s.join("services.d-typo").display().to_string();
    // As an option (the scratch default is replaced: the last --services-dir wins).
    let run = s.spawn_pid1(&["--services-dir", &typo, "--", "sleep", "1000"]);
    let done = run.finish(LONG);
    assert_eq!(done.code, 78, "{}", done.stderr);
    assert!(
        done.stderr.contains(&typo)
            && done
                .stderr
                .contains("the services directory does not exist")
            && done.stderr.contains("--services-dir"),
        "{}",
        done.stderr
    );
    // From the global file, and for `check` too.
    s.write("pidone.toml", &format!("services_dir = \"{typo}\"\n"));
    let mut cmd = std::process::Command::new(common::bin());
    let mut args = s.dir_args();
    // Drop the scratch's own --services-dir so the file's value is the one used.
    let at = args.iter().position(|a| a == "--services-dir").unwrap();
    args.drain(at..at + 2);
    cmd.args(&args)
        .arg("check")
        .env_remove("PIDONE_SERVICES_DIR");
    let (out, _) = common::run_with_timeout(cmd, LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("pidone.toml") && err.contains("services_dir") && err.contains(&typo),
        "{err}"
    );
}

#[test]
fn no_services_and_no_cmd_is_an_error() {
    require_namespaces!();
    let s = Scratch::new();
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 78, "{}", done.stderr);
    assert!(
        done.stderr.contains("nothing to supervise"),
        "{}",
        done.stderr
    );
}

// ------------------------------------------------------------------------------------------
// 4. `start` while stopping is kept; no stale health after `stop`.
// ------------------------------------------------------------------------------------------

#[test]
fn start_while_stopping_starts_again_and_stop_clears_health() {
    require_namespaces!();
    let s = Scratch::new();
    std::fs::write(s.join("alive"), "").unwrap();
    // Takes 0.5 s to stop.
    svc(
        &s,
        "web",
        r#"command = ["sh", "-c", "echo $$ >> @D@/starts_web; trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.05; done"]
[health]
file = "@D@/alive"
interval = "100ms"
"#,
    );
    let run = start(&s, &[]);
    let row = status_until(&s, "web", "healthy", |r| r["health"] == "healthy");
    let first = row["pid"].as_i64().unwrap();
    let (code, out) = s.client(&["stop", "web"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = s.client(&["start", "web"]);
    assert_eq!(code, 0, "{out}");
    let row = status_until(&s, "web", "running again", |r| {
        r["state"] == "running" && r["pid"].as_i64().is_some_and(|p| p != first)
    });
    assert!(out.contains("will start again"), "{out}");
    assert_eq!(s.lines("starts_web").len(), 2, "{row}");
    // Stopped: no health verdict left over from the process that is gone.
    status_until(&s, "web", "healthy", |r| r["health"] == "healthy");
    let (code, out) = s.client(&["stop", "web"]);
    assert_eq!(code, 0, "{out}");
    let row = status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    assert_eq!(row["health"], "none", "{row}");
    let (_, text) = s.client(&["status"]);
    assert!(!text.contains("healthy"), "{text}");
    drop(run);
}

// ------------------------------------------------------------------------------------------
// 5. The HTTP check reads the whole answer: the server logs no reset connection.
// ------------------------------------------------------------------------------------------

#[test]
fn http_check_does_not_reset_the_connection() {
    require_namespaces!();
    let python = "/usr/bin/python3";
    assert!(
        Path::new(python).exists(),
        "the test needs Debian's python3"
    );
    let s = Scratch::new();
    let port = common::free_port();
    let www = s.join("www");
    std::fs::create_dir(&www).unwrap();
    // ~1 MB: far more than fits in the socket buffers, so the server is still writing when
    // a client that read only the status line closes.
    std::fs::write(www.join("big"), vec![b'x'; 1 << 20]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&www, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(www.join("big"), std::fs::Permissions::from_mode(0o644)).unwrap();
    // The server runs beside pidone (not under it), so its stderr is the server's own.
    let log = std::fs::File::create(s.join("server.log")).unwrap();
    let mut server = std::process::Command::new(python)
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&www)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    assert!(wait_until(LONG, || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_ok()));
    svc(
        &s,
        "web",
        &format!(
            "command = [\"sleep\", \"1000\"]\n[health]\nhttp = \"http://127.0.0.1:{port}/big\"\ninterval = \"100ms\"\non_failure = \"ignore\"\n"
        ),
    );
    let run = start(&s, &[]);
    let checks = || s.read("server.log").matches("GET /big").count();
    let ok = wait_until(LONG, || checks() >= 12);
    let log = s.read("server.log");
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok, "only {} checks\n{log}\n{}", checks(), run.stderr());
    assert_eq!(s.status_row("web")["health"], "healthy");
    for bad in ["ConnectionResetError", "BrokenPipe", "Traceback"] {
        assert!(!log.contains(bad), "the server logged {bad}:\n{log}");
    }
    drop(run);
}

// ------------------------------------------------------------------------------------------
// 6. [limits]: checked by `pidone check`; a limit the kernel refuses is named at start.
// ------------------------------------------------------------------------------------------

#[test]
fn limits_out_of_range_fail_check_with_their_line() {
    let s = Scratch::new();
    s.service(
        "web",
        "command = [\"true\"]\n[limits]\nnofile = 99999999999\n",
    );
    s.write("pidone.toml", "");
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(s.dir_args()).arg("check");
    let (out, _) = common::run_with_timeout(cmd, LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("web.toml:3: key `limits.nofile`: must be from 1 to"),
        "{err}"
    );
}

#[test]
fn a_limit_above_the_hard_limit_is_named_at_start() {
    require_namespaces!();
    if !common::is_root() {
        eprintln!("skipped: needs root (pidone must drop privileges to lose CAP_SYS_RESOURCE)");
        return;
    }
    let s = Scratch::new();
    s.service(
        "web",
        "command = [\"sleep\", \"1000\"]\ncritical = true\nrestart = \"never\"\n[limits]\nnofile = 4096\n",
    );
    // pidone itself runs with a hard limit of 1024 (and drops to 65534: no CAP_SYS_RESOURCE).
    let run = s.spawn_pid1_with(&[], |cmd| {
        use std::os::unix::process::CommandExt;
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 1024,
                    rlim_max: 1024,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let done = run.finish(LONG);
    assert_ne!(done.code, 0);
    assert!(
        done.stderr
            .contains("limits.nofile = 4096 is above the hard limit pidone runs with (1024)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("noexec"), "{}", done.stderr);
}

// ------------------------------------------------------------------------------------------
// 8. `status` has a header; a socket this uid may not reach is said as such.
// ------------------------------------------------------------------------------------------

#[test]
fn status_text_has_a_header_row() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    status_until(&s, "web", "running", |r| r["state"] == "running");
    let (code, out) = s.client(&["status"]);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATE",
            "PID",
            "UP",
            "RESTARTS",
            "LAST_EXIT",
            "HEALTH"
        ]
    );
    let web: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        (web[0], web[1], web[6]),
        ("web", "running", "none"),
        "{out}"
    );
    drop(run);
}

#[test]
fn status_from_another_uid_says_permission_denied() {
    require_namespaces!();
    if !common::is_root() {
        eprintln!("skipped: needs root (to run pidone and the client as two other uids)");
        return;
    }
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &["--user", "4242"]);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(s.join("run")).unwrap().uid(), 4242);
    // The client as uid 4343: like `docker exec -u 0` into a --user 4242 container run
    // with --cap-drop ALL (root without CAP_DAC_OVERRIDE cannot enter the 0700 run dir).
    let mut cmd = std::process::Command::new(s.bin_for_any_user());
    cmd.arg("--run-dir").arg(s.join("run")).arg("status");
    use std::os::unix::process::CommandExt;
    cmd.uid(4343).gid(4343);
    let (out, _) = common::run_with_timeout(cmd, LONG);
    let text = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(77), "{text}");
    let want = format!(
        "permission denied on {} (owned by uid 4242): run as that uid",
        s.join("run").display()
    );
    assert!(text.contains(&want), "{text}");
    drop(run);
}

/// `pidone check` and the start find a command's program with the same lookup: an empty
/// PATH entry is the current directory, as for execvp. (Check used to skip empty entries and
/// reject a program that the start then found.)
#[test]
fn check_and_start_agree_on_an_empty_path_entry() {
    require_namespaces!();
    let s = Scratch::new();
    // Reachable only through the empty entry: pidone runs with the scratch dir as its cwd.
    s.write("here-only", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(
        s.join("here-only"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    s.service(
        "local",
        "kind = \"oneshot\"\ncommand = [\"here-only\"]\nenv = { PATH = \"/nonexistent:\" }\n",
    );
    s.write("pidone.toml", "");
    let mut cmd = std::process::Command::new(common::bin());
    cmd.current_dir(s.path()).args(s.dir_args()).arg("check");
    let (out, _) = common::run_with_timeout(cmd, LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "check: {err}");
    // The real start runs it (a critical oneshot that fails would end the run non-zero).
    let done = s
        .spawn_pid1_with(&["--", "true"], |c| {
            c.current_dir(s.path());
        })
        .finish(LONG);
    assert_eq!(done.code, 0, "start: {}", done.stderr);
}

// ------------------------------------------------------------------------------------------
// A second pidone in the same container (`docker exec C /init CMD`) runs nothing.
// ------------------------------------------------------------------------------------------

/// Before, a second pidone with the same run dir ran every oneshot again and started a
/// second set of services, and only found the first pidone when it bound the socket.
#[test]
fn a_second_pidone_with_the_same_run_dir_refuses_before_running_anything() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "init",
        "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"echo $$ >> @D@/starts_init\"]\n",
    );
    svc(&s, "web", &counted("web", "after = [\"init\"]"));
    let run = start(&s, &[]);
    status_until(&s, "web", "running", |r| r["state"] == "running");
    let (out, _) = common::run_with_timeout(s.pid1(&["--", "true"]), LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(err.contains("another pidone already runs"), "{err}");
    // The kernel's and the services' own record: one run of each, one sleep in the first
    // pidone's namespace, and nothing of the second one left.
    assert_eq!(s.lines("starts_init").len(), 1);
    assert_eq!(s.lines("starts_web").len(), 1);
    let sleeps = common::namespace_processes(run.pid)
        .into_iter()
        .filter(|p| p.cmdline.starts_with("sleep"))
        .count();
    assert_eq!(sleeps, 1);
    drop(run);
}

/// `docker exec C /init s6-svc -d /run/service/web` reaches the running pidone (before, it
/// started a second pidone with `s6-svc` as its CMD).
#[test]
fn control_shims_answer_as_subcommands() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", &counted("web", ""));
    let run = start(&s, &[]);
    status_until(&s, "web", "running", |r| r["state"] == "running");
    let sleeping = || {
        common::namespace_processes(run.pid)
            .into_iter()
            .filter(|p| p.cmdline.starts_with("sleep"))
            .count()
    };
    assert_eq!(sleeping(), 1);
    let mut cmd = common::exec_into(&s.join("run"), common::bin());
    cmd.args(["s6-svc", "-d", "/run/service/web"])
        .env("PIDONE_RUN_DIR", s.join("run"));
    let (out, _) = common::run_with_timeout(cmd, LONG);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    assert!(
        wait_until(LONG, || sleeping() == 0),
        "the service still runs"
    );
    assert_eq!(s.lines("starts_web").len(), 1);
    drop(run);
}
