//! The control socket and health checks (issue 5), through the real socket.
//!
//! pidone runs as PID 1 of a fresh PID namespace; `pidone healthcheck|status|start|stop|
//! restart|signal` run as separate processes on the host with `--run-dir` pointing at the
//! scratch run dir (the socket is a path, so the host can connect). What the verbs did is
//! checked in `/proc` (by host pid) and in files the services write themselves.
//!
//! In service files, `@D@` stands for the scratch directory.

mod common;

use common::{Running, Scratch, cpu_ticks, start, status_until, svc, wait_until};
use std::path::Path;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// Poll `pidone healthcheck ARGS` until its exit code is `code`; returns its output.
fn healthcheck_until(s: &Scratch, args: &[&str], code: i32) -> String {
    let mut last = (0, String::new());
    let ok = wait_until(LONG, || {
        let mut a = vec!["healthcheck"];
        a.extend_from_slice(args);
        last = s.client(&a);
        last.0 == code
    });
    assert!(
        ok,
        "healthcheck {args:?}: wanted exit {code}, last {last:?}"
    );
    last.1
}

fn ns_pid(row: &serde_json::Value) -> i32 {
    row["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {row}")) as i32
}

fn gone(host_pid: i32) -> bool {
    // Gone, not a zombie: the /proc entry disappears only once the process is reaped.
    !Path::new(&format!("/proc/{host_pid}")).exists()
}

/// Context switches of pidone over `span`, after things settled. The wait first lets pass
/// the one wake-up pidone makes after its first quiet second (to release start-up pages).
fn idle_switches(run: &Running, span: Duration) -> u64 {
    std::thread::sleep(Duration::from_millis(1100));
    let before = common::ctxt_switches(run.pid);
    std::thread::sleep(span);
    common::ctxt_switches(run.pid) - before
}

#[test]
fn healthcheck_exit_codes_across_the_lifecycle() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        r#"command = ["sleep", "1000"]
[ready]
file = "@D@/ready-flag"
interval = "50ms"
[health]
file = "@D@/healthy-flag"
interval = "100ms"
retries = 1
on_failure = "ignore"
"#,
    );
    let run = start(&s, &[]);
    // Not ready yet.
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!((code, out.trim()), (1, "starting: web"));
    // Ready, health check failing.
    std::fs::write(s.join("ready-flag"), "").unwrap();
    let out = healthcheck_until(&s, &[], 1);
    let out = if out.contains("starting") {
        let ok = wait_until(LONG, || s.client(&["healthcheck"]).1.contains("unhealthy"));
        assert!(ok, "never unhealthy");
        s.client(&["healthcheck"]).1
    } else {
        out
    };
    assert!(
        out.contains("unhealthy: web: health check failed:") && out.contains("does not exist"),
        "{out}"
    );
    // Healthy.
    std::fs::write(s.join("healthy-flag"), "").unwrap();
    let out = healthcheck_until(&s, &[], 0);
    assert_eq!(out.trim(), "healthy");
    let out = healthcheck_until(&s, &["web"], 0);
    assert_eq!(out.trim(), "healthy");
    // Unhealthy again.
    std::fs::remove_file(s.join("healthy-flag")).unwrap();
    let out = healthcheck_until(&s, &[], 1);
    assert!(out.contains("unhealthy: web"), "{out}");
    // Stopped on request.
    std::fs::write(s.join("healthy-flag"), "").unwrap();
    healthcheck_until(&s, &[], 0);
    let (code, out) = s.client(&["stop", "web"]);
    assert_eq!(code, 0, "{out}");
    // Unhealthy while it is still stopping, then "stopped": wait for the second answer.
    let mut last = (0, String::new());
    let stopped = wait_until(LONG, || {
        last = s.client(&["healthcheck"]);
        last.0 == 1 && last.1.contains("unhealthy: web is stopped")
    });
    assert!(stopped, "healthcheck after stop: {last:?}");
    // Unknown name: usage error.
    let (code, out) = s.client(&["healthcheck", "nope"]);
    assert_eq!(code, 64, "{out}");
    // pidone gone: unreachable.
    run.stop(LONG);
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!(code, 69, "{out}");
}

#[test]
fn each_health_check_kind() {
    require_namespaces!();
    let s = Scratch::new();
    let tcp = common::free_port();
    let http = loop {
        let p = common::free_port();
        if p != tcp {
            break p;
        }
    };
    let unused = loop {
        let p = common::free_port();
        if p != tcp && p != http {
            break p;
        }
    };
    s.write("www/ok.txt", "ok\n");
    std::fs::write(s.join("exists"), "").unwrap();
    let health = |check: &str| {
        format!("[health]\n{check}\ninterval = \"100ms\"\nretries = 1\non_failure = \"ignore\"\n")
    };
    let sleeper = "command = [\"sleep\", \"1000\"]\n";
    svc(
        &s,
        "cmd_good",
        &format!("{sleeper}{}", health("command = [\"true\"]")),
    );
    svc(
        &s,
        "cmd_bad",
        &format!("{sleeper}{}", health("command = [\"false\"]")),
    );
    svc(
        &s,
        "tcp_good",
        &format!(
            "command = [\"python3\", \"-c\", \"import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {tcp})); s.listen(); time.sleep(1000)\"]\n{}",
            health(&format!("tcp = \"127.0.0.1:{tcp}\""))
        ),
    );
    svc(
        &s,
        "tcp_bad",
        &format!("{sleeper}{}", health(&format!("tcp = {unused}"))),
    );
    svc(
        &s,
        "http_good",
        &format!(
            "command = [\"python3\", \"-m\", \"http.server\", \"{http}\", \"--bind\", \"127.0.0.1\", \"--directory\", \"@D@/www\"]\n{}",
            health(&format!("http = \"http://127.0.0.1:{http}/ok.txt\""))
        ),
    );
    svc(
        &s,
        "http_bad",
        &format!(
            "{sleeper}{}",
            health(&format!("http = \"http://127.0.0.1:{http}/missing.txt\""))
        ),
    );
    svc(
        &s,
        "file_good",
        &format!("{sleeper}{}", health("file = \"@D@/exists\"")),
    );
    svc(
        &s,
        "file_bad",
        &format!("{sleeper}{}", health("file = \"@D@/nope\"")),
    );
    let run = start(&s, &[]);
    for good in ["cmd_good", "tcp_good", "http_good", "file_good"] {
        let out = healthcheck_until(&s, &[good], 0);
        assert_eq!(out.trim(), "healthy", "{good}");
    }
    for (bad, detail) in [
        ("cmd_bad", "false exited with code 1"),
        ("tcp_bad", "connection failed"),
        ("http_bad", "status not 2xx"),
        ("file_bad", "does not exist"),
    ] {
        let ok = wait_until(LONG, || {
            let (code, out) = s.client(&["healthcheck", bad]);
            code == 1 && out.contains(&format!("unhealthy: {bad}: health check failed:"))
        });
        let (_, out) = s.client(&["healthcheck", bad]);
        assert!(ok && out.contains(detail), "{bad}: {out}");
    }
    // All together: unhealthy, and still running (on_failure = "ignore").
    let (code, _) = s.client(&["healthcheck"]);
    assert_eq!(code, 1);
    assert_eq!(s.status_row("http_bad")["state"], "running");
    drop(run);
}

#[test]
fn unhealthy_service_is_restarted() {
    require_namespaces!();
    let s = Scratch::new();
    std::fs::write(s.join("alive"), "").unwrap();
    svc(
        &s,
        "flaky",
        r#"command = ["sh", "-c", "echo $$ >> @D@/pids; exec sleep 1000"]
[health]
file = "@D@/alive"
interval = "100ms"
retries = 2
"#,
    );
    let run = start(&s, &[]);
    let row = status_until(&s, "flaky", "healthy", |r| r["health"] == "healthy");
    let first = ns_pid(&row);
    let host = common::host_pid_of(run.pid, first).expect("host pid");
    std::fs::remove_file(s.join("alive")).unwrap();
    let row = status_until(&s, "flaky", "restarted", |r| {
        r["pid"].as_i64().is_some_and(|p| p as i32 != first)
    });
    std::fs::write(s.join("alive"), "").unwrap();
    assert!(row["restarts"].as_u64().unwrap() >= 1, "{row}");
    assert!(
        wait_until(LONG, || gone(host)),
        "the unhealthy process is still there"
    );
    assert!(s.lines("pids").len() >= 2);
    status_until(&s, "flaky", "healthy again", |r| r["health"] == "healthy");
    drop(run);
}

#[test]
fn status_json_fields() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        "command = [\"sleep\", \"1000\"]\n[health]\ncommand = [\"true\"]\ninterval = \"100ms\"\n",
    );
    svc(&s, "init", "kind = \"oneshot\"\ncommand = [\"true\"]\n");
    svc(
        &s,
        "broken",
        "command = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"never\"\n",
    );
    svc(
        &s,
        "flappy",
        "command = [\"sh\", \"-c\", \"exit 1\"]\nmax_restarts = 2\n[backoff]\ninitial = \"20ms\"\n",
    );
    let run = start(&s, &[]);
    let web = status_until(&s, "web", "healthy", |r| r["health"] == "healthy");
    assert_eq!(web["state"], "running");
    assert_eq!(web["kind"], "longrun");
    assert_eq!(web["restarts"], 0);
    assert!(web["last_exit"].is_null(), "{web}");
    let host =
        common::host_pid_of(run.pid, ns_pid(&web)).expect("web's pid is not in the namespace");
    let procs = run.processes();
    let p = procs.iter().find(|p| p.host_pid == host).unwrap();
    assert_eq!(p.cmdline, "sleep 1000");
    assert!(web["uptime_seconds"].as_f64().is_some());

    let init = status_until(&s, "init", "done", |r| r["state"] == "done");
    assert_eq!(init["kind"], "oneshot");
    assert_eq!(init["last_exit"], 0);
    assert!(init["pid"].is_null());
    assert_eq!(init["health"], "none");

    let broken = status_until(&s, "broken", "failed", |r| r["state"] == "failed");
    assert_eq!(broken["last_exit"], 3);
    assert!(broken["pid"].is_null());
    assert!(
        broken["reason"]
            .as_str()
            .unwrap_or("")
            .contains("exited with code 3"),
        "{broken}"
    );

    let flappy = status_until(&s, "flappy", "failed", |r| r["state"] == "failed");
    assert_eq!(flappy["restarts"], 2);
    assert_eq!(flappy["last_exit"], 1);

    // The text form names every service.
    let (code, out) = s.client(&["status"]);
    assert_eq!(code, 0);
    for n in ["web", "init", "broken", "flappy"] {
        assert!(out.contains(n), "{out}");
    }
    drop(run);
}

#[test]
fn control_verbs_change_reality() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        r#"command = ["sh", "-c", '''trap 'echo usr1 >> @D@/sig' USR1; echo $$ >> @D@/pids; while :; do sleep 1000 & wait; done''']
"#,
    );
    let run = start(&s, &[]);
    let row = status_until(&s, "web", "running", |r| r["state"] == "running");
    let p1 = ns_pid(&row);
    let h1 = common::host_pid_of(run.pid, p1).unwrap();

    let (code, out) = s.client(&["stop", "web"]);
    assert_eq!((code, out.trim()), (0, "stop web: ok"));
    assert!(wait_until(LONG, || gone(h1)), "stop: {h1} is still there");
    let row = status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    assert!(row["pid"].is_null());
    assert_eq!(s.lines("pids").len(), 1, "stopped service was restarted");

    let (code, out) = s.client(&["start", "web"]);
    assert_eq!(code, 0, "{out}");
    let row = status_until(&s, "web", "running again", |r| r["state"] == "running");
    let p2 = ns_pid(&row);
    assert_ne!(p2, p1);
    let h2 = common::host_pid_of(run.pid, p2).expect("start: no new process");

    let (code, out) = s.client(&["restart", "web"]);
    assert_eq!(code, 0, "{out}");
    let row = status_until(&s, "web", "restarted", |r| {
        r["pid"].as_i64().is_some_and(|p| p as i32 != p2)
    });
    assert!(
        wait_until(LONG, || gone(h2)),
        "restart: old process still there"
    );
    // A restart on request is not a crash (issue 22).
    assert_eq!(row["restarts"], 0, "{row}");
    let p3 = ns_pid(&row);
    assert!(common::host_pid_of(run.pid, p3).is_some());
    assert!(wait_until(LONG, || s.lines("pids").len() == 3));

    let (code, out) = s.client(&["signal", "web", "USR1"]);
    assert_eq!((code, out.trim()), (0, "sent SIGUSR1 to web"));
    assert!(
        wait_until(LONG, || s.lines("sig") == ["usr1"]),
        "trap did not run"
    );

    let (code, out) = s.client(&["stop", "nope"]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("no service named \"nope\""), "{out}");
    let (code, out) = s.client(&["signal", "web", "NOPE"]);
    assert_eq!(code, 64, "{out}");
    drop(run);
}

#[test]
fn peer_with_another_uid_is_refused() {
    require_namespaces!();
    if !common::is_root() {
        skip!("needs root to run a client as another uid");
    }
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    // Default privilege drop: pidone runs as 65534.
    let run = start(&s, &[]);
    assert_eq!(
        common::status_field(run.pid, "Uid")
            .unwrap()
            .split_whitespace()
            .next(),
        Some("65534")
    );
    // Open the file modes, so only the SO_PEERCRED check can refuse.
    std::fs::set_permissions(s.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        s.join("run/control.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let any_user_bin = s.bin_for_any_user();
    let as_uid = |uid: &str| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args([
            "--reuid",
            uid,
            "--regid",
            uid,
            "--clear-groups",
            &any_user_bin,
        ])
        .arg("--run-dir")
        .arg(s.join("run"))
        .arg("status");
        let (out, _) = common::run_with_timeout(cmd, LONG);
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", common::text(&out.stdout), common::text(&out.stderr)),
        )
    };
    // pidone's client refuses to trust a server that is neither its uid nor PID 1's (77)...
    let (code, out) = as_uid("12345");
    assert_eq!(code, 77, "{out}");
    assert!(out.contains("not trusting"), "{out}");
    // ...and the server refuses a raw client of another uid (SO_PEERCRED).
    let mut raw = std::process::Command::new("setpriv");
    raw.args(["--reuid", "12345", "--regid", "12345", "--clear-groups"])
        .args(["/usr/bin/python3", "-c"])
        .arg(
            "import socket,sys; c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); \
             c.sendall(b'status\\n'); print(c.makefile().read())",
        )
        .arg(s.join("run/control.sock"));
    let (out, _) = common::run_with_timeout(raw, LONG);
    let reply = common::text(&out.stdout);
    assert!(reply.starts_with("77\n"), "{reply}");
    assert!(reply.contains("permission denied"), "{reply}");
    // pidone's own uid and root (in pidone's namespace, as `docker exec -u 0`) are served.
    let (code, out) = as_uid("65534");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("web"), "{out}");
    let (code, out) = s.client(&["status"]);
    assert_eq!(code, 0, "{out}");
    drop(run);
}

#[test]
fn hung_health_command_is_killed_at_its_timeout_and_reaped() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        r#"command = ["sleep", "1001"]
[health]
command = ["sleep", "1000"]
interval = "200ms"
timeout = "300ms"
retries = 1
on_failure = "ignore"
"#,
    );
    let run = start(&s, &[]);
    // Watch the probes come and go for a while: (first seen, last seen) per host pid.
    let mut seen: std::collections::HashMap<i32, (Instant, Instant)> = Default::default();
    let mut max_alive = 0;
    // A zombie exists for a moment between exit and reap; one that lasts is a leak.
    let mut zombies: std::collections::HashMap<i32, (Instant, Instant)> = Default::default();
    let begin = Instant::now();
    while begin.elapsed() < Duration::from_millis(1800) {
        let now = Instant::now();
        let procs = run.processes();
        let probes: Vec<_> = procs.iter().filter(|p| p.cmdline == "sleep 1000").collect();
        max_alive = max_alive.max(probes.len());
        for z in procs.iter().filter(|p| p.state == 'Z') {
            zombies.entry(z.host_pid).or_insert((now, now)).1 = now;
        }
        for p in probes {
            seen.entry(p.host_pid).or_insert((now, now)).1 = now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen.len() >= 2, "probes seen: {seen:?}");
    assert!(max_alive <= 1, "{max_alive} probes alive at once");
    for (pid, (first, last)) in &seen {
        if *last + Duration::from_millis(50) < Instant::now() {
            let lived = *last - *first;
            assert!(
                lived < Duration::from_millis(300 + 300),
                "probe {pid} lived {lived:?} with timeout 300ms"
            );
        }
    }
    let row = s.status_row("web");
    assert_eq!(row["health"], "unhealthy", "{row}");
    assert!(
        row["reason"].as_str().unwrap_or("").contains("timed out"),
        "{row}"
    );
    // Stop the service: no probe may outlive it, and nothing is left unreaped.
    let (code, _) = s.client(&["stop", "web"]);
    assert_eq!(code, 0);
    status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    let ok = wait_until(Duration::from_secs(3), || {
        run.processes().iter().all(|p| p.host_pid == run.pid)
    });
    assert!(
        ok,
        "left in the namespace after stop: {:?}",
        run.processes()
    );
    for (pid, (first, last)) in &zombies {
        assert!(
            *last - *first < Duration::from_millis(100),
            "zombie {pid} stayed for {:?}",
            *last - *first
        );
    }
    // And pidone is idle again (no busy loop on a stale probe deadline).
    std::thread::sleep(Duration::from_millis(300));
    let n = idle_switches(&run, Duration::from_secs(1));
    assert_eq!(n, 0, "pidone woke up {n} times while idle");
    drop(run);
}

#[test]
fn probe_finishing_after_its_service_stopped_does_not_wake_pidone() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        r#"command = ["sleep", "1001"]
[health]
command = ["sleep", "0.6"]
interval = "100ms"
timeout = "10s"
"#,
    );
    let run = start(&s, &[]);
    // Stop while a probe runs (the first starts as soon as web is up and runs 0.6 s).
    assert!(wait_until(LONG, || run
        .processes()
        .iter()
        .any(|p| p.cmdline == "sleep 0.6")));
    let (code, _) = s.client(&["stop", "web"]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_millis(1000));
    let n = idle_switches(&run, Duration::from_secs(1));
    assert_eq!(n, 0, "pidone woke up {n} times in 1 s with nothing running");
    drop(run);
}

#[test]
fn idle_pidone_makes_no_context_switches() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    svc(&s, "init", "kind = \"oneshot\"\ncommand = [\"true\"]\n");
    let run = start(&s, &[]);
    status_until(&s, "web", "running", |r| r["state"] == "running");
    std::thread::sleep(Duration::from_millis(300));
    let n = idle_switches(&run, Duration::from_secs(2));
    assert_eq!(n, 0, "pidone woke up {n} times in 2 s of idleness");
    drop(run);
}

#[test]
fn unhealthy_with_on_failure_stop_ends_the_run() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        "command = [\"sleep\", \"1000\"]\n[health]\nfile = \"@D@/nope\"\ninterval = \"100ms\"\nretries = 2\non_failure = \"stop\"\n",
    );
    svc(
        &s,
        "other",
        r#"command = ["sh", "-c", '''trap 'touch @D@/other_term; exit 0' TERM; sleep 1000 & wait''']
"#,
    );
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(
        s.join("other_term").exists(),
        "other was not stopped with TERM"
    );
    assert!(
        done.stderr
            .contains("web is unhealthy and its on_failure is \"stop\""),
        "{}",
        done.stderr
    );
}

#[test]
fn stop_during_backoff_ends_the_restarts() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "flap",
        "command = [\"sh\", \"-c\", \"echo x >> @D@/starts; exit 1\"]\nmax_restarts = 100\n[backoff]\ninitial = \"300ms\"\nfactor = 1.0\n",
    );
    let run = start(&s, &[]);
    assert!(wait_until(LONG, || s.lines("starts").len() >= 2));
    status_until(&s, "flap", "in backoff", |r| r["state"] == "backoff");
    let (code, out) = s.client(&["stop", "flap"]);
    assert_eq!(code, 0, "{out}");
    let n = s.lines("starts").len();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(s.lines("starts").len(), n, "restarted after stop");
    assert_eq!(s.status_row("flap")["state"], "stopped");
    // And started again on request.
    let (code, out) = s.client(&["start", "flap"]);
    assert_eq!(code, 0, "{out}");
    assert!(wait_until(LONG, || s.lines("starts").len() > n));
    drop(run);
}

#[test]
fn slow_stop_of_a_checked_service_does_not_busy_loop() {
    require_namespaces!();
    let s = Scratch::new();
    std::fs::write(s.join("alive"), "").unwrap();
    // A graceful stop takes 1.5 s; the health check interval is far shorter.
    svc(
        &s,
        "web",
        r#"command = ["sh", "-c", '''trap 'sleep 1.5; exit 0' TERM; touch @D@/up_web; sleep 1000 & wait''']
[health]
file = "@D@/alive"
interval = "50ms"
"#,
    );
    let run = start(&s, &[]);
    status_until(&s, "web", "healthy", |r| r["health"] == "healthy");
    let (code, _) = s.client(&["stop", "web"]);
    assert_eq!(code, 0);
    status_until(&s, "web", "stopping", |r| r["state"] == "stopping");
    let cpu = cpu_ticks(run.pid);
    let n = idle_switches(&run, Duration::from_millis(800));
    let cpu = cpu_ticks(run.pid) - cpu;
    assert!(
        n < 20 && cpu < 10,
        "while web was stopping, pidone woke up {n} times and used {cpu}0 ms of CPU in 0.8 s"
    );
    status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    drop(run);
}

/// A service may talk to pidone in its first line (`pidone status`, an s6 run script's
/// `s6-svc -O .`), so the socket exists before the first spawn. Forty services that start
/// at once look for it first thing; each one that found it leaves a mark. (Bound after the
/// first spawns, the early ones found nothing: CI saw `s6-svc -O .` fail this way.)
#[test]
fn control_socket_exists_before_the_first_service_starts() {
    require_namespaces!();
    let s = Scratch::new();
    for n in 0..40 {
        svc(
            &s,
            &format!("s{n:02}"),
            &format!(
                "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", 'test -S @D@/run/control.sock && touch @D@/saw-{n}; touch @D@/ran-{n}']\n"
            ),
        );
    }
    svc(&s, "stay", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    let ran = wait_until(LONG, || {
        (0..40).all(|n| s.join(&format!("ran-{n}")).exists())
    });
    assert!(ran, "not all 40 oneshots ran: {}", run.stderr());
    let missing: Vec<usize> = (0..40)
        .filter(|n| !s.join(&format!("saw-{n}")).exists())
        .collect();
    let done = run.stop(LONG);
    assert!(
        missing.is_empty(),
        "no socket for {missing:?}: {}",
        done.stderr
    );
}

/// `pidone logs` (issue 22): the last lines of each service and of pidone itself, kept by
/// PID 1, merged in order; `-n` per source, `--json` as the JSON log format; an unknown name
/// is a usage error that says so.
#[test]
fn logs_shows_the_last_lines_of_each_service_and_of_pidone() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "a",
        "command = [\"sh\", \"-c\", 'for i in 1 2 3 4 5; do echo a$i; done; echo err-a >&2; exec sleep 1000']\n",
    );
    svc(
        &s,
        "init",
        "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", 'echo b1; echo b2']\n",
    );
    let run = start(&s, &[]);
    let mut out = String::new();
    let ok = wait_until(LONG, || {
        out = s.client(&["logs"]).1;
        out.contains("[a] err-a")
            && out.contains("[init] b2")
            && out.contains("[pidone] init finished")
    });
    assert!(
        ok,
        "logs never showed every source: {out}\n{}",
        run.stderr()
    );
    // Each line: an RFC 3339 time, the source, the text; a's lines in order.
    let a: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" [a] "))
        .map(|l| l.split_once(" [a] ").unwrap().1)
        .collect();
    assert_eq!(a, ["a1", "a2", "a3", "a4", "a5", "err-a"], "{out}");
    assert!(
        out.lines()
            .all(|l| l.as_bytes()[4] == b'-' && l.contains('T')),
        "{out}"
    );

    let (code, out) = s.client(&["logs", "-n", "2", "a"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(lines, ["[a] a5", "[a] err-a"], "{out}");

    let (code, out) = s.client(&["logs", "--json", "-n", "1", "a"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(
        (&v["service"], &v["stream"], &v["line"]),
        (&"a".into(), &"stderr".into(), &"err-a".into()),
        "{v}"
    );

    let (code, out) = s.client(&["logs", "nope"]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.starts_with("pidone: error: no service named \"nope\""),
        "{out}"
    );
    drop(run);
}

/// `pidone logs -f` prints the recent lines, then each new line as the service writes it,
/// until interrupted.
#[test]
fn logs_follow_streams_new_lines_until_interrupted() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "tick",
        "command = [\"sh\", \"-c\", 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done']\n",
    );
    let run = start(&s, &[]);
    status_until(&s, "tick", "running", |r| r["state"] == "running");
    let mut follower = common::as_run_dir_owner(&s.join("run"), common::bin())
        .args(["--run-dir", &s.join("run").display().to_string()])
        .args(["logs", "-f", "-n", "1", "tick"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut numbers = Vec::new();
    let started = Instant::now();
    while numbers.len() < 15 && started.elapsed() < LONG {
        let line = lines.next().expect("the follower's output ended").unwrap();
        let n: u32 = line
            .rsplit_once("[tick] tick ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .1
            .parse()
            .unwrap();
        numbers.push(n);
    }
    // 15 consecutive lines, the first of them the last one kept before it followed: they
    // came as the service wrote them (1.5 s of output), none lost or repeated.
    assert_eq!(numbers.len(), 15);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "{numbers:?}"
    );
    // Still following: interrupted, not ended.
    assert!(follower.try_wait().unwrap().is_none());
    follower.kill().unwrap();
    follower.wait().unwrap();
    drop(run);
}

/// A follower that stops reading is dropped and told, and neither blocks nor grows PID 1:
/// the service floods, the follower's reader (the client's stdout) does not read; `status`
/// keeps answering at once, pidone's memory stays where it was, and once the reader reads
/// again the client says it was dropped and exits 69.
#[test]
fn a_follower_that_stops_reading_is_dropped_and_pidone_does_not_grow() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "flood",
        "command = [\"sh\", \"-c\", 'while :; do echo 0123456789012345678901234567890123456789012345678901234567890123456789; done']\n",
    );
    let run = start(&s, &[]);
    status_until(&s, "flood", "running", |r| r["state"] == "running");
    let rss = |pid: i32| -> u64 {
        common::status_field(pid, "VmRSS")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = rss(run.pid);
    let mut follower = common::as_run_dir_owner(&s.join("run"), common::bin())
        .args(["--run-dir", &s.join("run").display().to_string()])
        .args(["logs", "-f", "flood"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads the client's stdout: it blocks writing, and stops reading the socket.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let (code, out) = s.client(&["status"]);
        assert_eq!(code, 0, "{out}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "status took {:?}",
            t.elapsed()
        );
    }
    let after = rss(run.pid);
    assert!(
        after < before + 2048,
        "pidone grew from {before} KiB to {after} KiB with a stuck follower"
    );
    // Now read: what was sent, then the end of the stream and the client's explanation.
    let mut stdout = follower.stdout.take().unwrap();
    let mut stderr = follower.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut sink).unwrap();
        sink.len()
    });
    let mut code = None;
    assert!(
        wait_until(LONG, || {
            code = follower.try_wait().unwrap().and_then(|st| st.code());
            code.is_some()
        }),
        "the dropped follower's client never ended"
    );
    let code = code.unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    drain.join().unwrap();
    assert_eq!(code, 69, "{err}");
    assert!(
        err.starts_with("pidone: error: the log stream ended")
            && err.contains("dropped this follower"),
        "{err}"
    );
    // pidone itself is fine and still follows new followers.
    assert!(run.pid > 0 && common::status_field(run.pid, "State").is_some());
    drop(run);
}

/// `restart` is a request, not a crash (issue 22): it does not count in RESTARTS nor toward
/// `max_restarts`, LAST_EXIT does not show the 143 the request caused, and status and the
/// log say "restarted on request".
#[test]
fn restart_on_request_is_not_counted_as_a_crash() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "web",
        "command = [\"sh\", \"-c\", 'echo $$ >> @D@/pids; exec sleep 1000']\nmax_restarts = 1\nrestart_window = \"60s\"\n",
    );
    let run = start(&s, &[]);
    let mut last = ns_pid(&status_until(&s, "web", "running", |r| {
        r["state"] == "running"
    }));
    for n in 1..=3 {
        let (code, out) = s.client(&["restart", "web"]);
        assert_eq!(code, 0, "{out}");
        let row = status_until(&s, "web", "running again", |r| {
            r["state"] == "running" && r["pid"].as_i64().is_some_and(|p| p as i32 != last)
        });
        last = ns_pid(&row);
        assert!(common::host_pid_of(run.pid, last).is_some());
        assert_eq!(s.lines("pids").len(), n + 1);
        assert_eq!(row["restarts"], 0, "{row}");
        assert!(row["last_exit"].is_null(), "{row}");
        assert_eq!(row["reason"], "restarted on request", "{row}");
    }
    let (_, text) = s.client(&["status"]);
    assert!(text.contains("(restarted on request)"), "{text}");
    let done = run.stop(LONG);
    assert_eq!(
        done.stderr.matches("web restarted on request").count(),
        3,
        "{}",
        done.stderr
    );
    assert!(
        !done
            .stderr
            .contains("web was killed by SIGTERM; restarting"),
        "{}",
        done.stderr
    );
}

/// `docker exec C /init something` while pidone runs: the refusal names what it was asked to
/// run, which may have been meant as a pidone command (issue 22).
#[test]
fn a_second_pidone_names_the_program_it_was_asked_to_run() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    let (out, _) = common::run_with_timeout(s.pid1(&["--", "my-tool", "--flag"]), LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.starts_with("pidone: error: refusing to start `my-tool` (given as the command to run; for pidone's own commands see `pidone --help`): ")
            && err.contains("another pidone already runs with this run dir"),
        "{err}"
    );
    assert!(!err.contains("--flag"), "{err}");
    drop(run);
}

/// pidone's own lines from before the supervisor ran (start-up warnings) are in
/// `pidone logs pidone` too.
#[test]
fn logs_of_pidone_include_its_start_up_warnings() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "nightly",
        "kind = \"oneshot\"\nschedule = \"0 3 * * *\"\ncommand = [\"true\"]\n",
    );
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = s.spawn_pid1_with(&[], |c| {
        c.env("TZ", "Europe/Berlin");
    });
    assert!(
        wait_until(LONG, || s.join("run/control.sock").exists()),
        "{}",
        run.stderr()
    );
    let (code, out) = s.client(&["logs", "pidone"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().next().is_some_and(|l| l.contains(
            " [pidone] warning: TZ=Europe/Berlin is not used for schedules: nightly run on UTC times"
        )),
        "{out}\n{}",
        run.stderr()
    );
    drop(run);
}

/// Followers held open (a service of pidone's uid can connect) cannot lock `logs -f` out:
/// with 8 following, a new one makes the oldest leave, and the oldest is told why.
#[test]
fn followers_held_open_cannot_lock_out_a_new_one() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "tick",
        "command = [\"sh\", \"-c\", 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done']\n",
    );
    let run = start(&s, &[]);
    status_until(&s, "tick", "running", |r| r["state"] == "running");
    use std::io::{BufRead, Read, Write};
    let socket = s.join("run/control.sock");
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        c.write_all(b"logs -f tick\n").unwrap();
        held.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut follower = common::as_run_dir_owner(&s.join("run"), common::bin())
        .args(["--run-dir", &s.join("run").display().to_string()])
        .args(["logs", "-f", "-n", "0", "tick"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the new follower got nothing").unwrap();
    assert!(first.contains("[tick] tick "), "{first}");
    // The oldest was told and closed; the others still follow.
    let mut oldest = String::new();
    held[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    held[0].read_to_string(&mut oldest).unwrap();
    assert!(
        oldest.trim_end().ends_with(
            "pidone: error: this follower was dropped: 8 followers at most: the oldest makes room for a new one; run `pidone logs -f` again"
        ),
        "{oldest}"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();
    drop(run);
}
