//! Session limits (issue 15): `idle_timeout`, `max_runtime`, `warn_before` on real processes.
//!
//! Services: the warning and the stop arrive at the service's own signal traps, which write
//! timestamps. CMD: an interactive shell on a pseudo-terminal (util-linux `script`), as in a
//! web terminal; what the user would see is script's output, the end is pidone's exit code.
//! In service files `@D@` stands for the scratch directory.

mod common;

use common::{Scratch, bin, nanos, svc, unshare_prefix, wait_until};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

fn ms_between(a: u128, b: u128) -> i64 {
    (b as i64 - a as i64) / 1_000_000
}

#[test]
fn idle_service_is_warned_then_stopped_cleanly_while_a_chatty_one_runs_on() {
    require_namespaces!();
    let s = Scratch::new();
    // Prints once, then is silent: idle after 2 s, warned 1 s before.
    svc(
        &s,
        "quiet",
        r#"command = ["sh", "-c", "trap 'date +%s%N >> @D@/warned' USR1; trap 'date +%s%N >> @D@/termed; exit 0' TERM; date +%s%N > @D@/spoke; echo hello; while :; do sleep 1000 & wait $!; done"]
idle_timeout = "2s"
warn_before = "1s"
warn_signal = "USR1"
"#,
    );
    // Prints every 300 ms: never idle.
    svc(
        &s,
        "chatty",
        r#"command = ["sh", "-c", "trap 'date +%s%N >> @D@/chatty-termed; exit 0' TERM; while :; do echo tick; sleep 0.3; done"]
idle_timeout = "2s"
"#,
    );
    let mut run = s.spawn_pid1(&["--", "sleep", "1000"]);
    assert!(
        wait_until(LONG, || !s.lines("termed").is_empty()),
        "quiet was never stopped\n{}",
        run.stderr()
    );
    let spoke = nanos(&s, "spoke")[0];
    let warned = nanos(&s, "warned");
    let termed = nanos(&s, "termed")[0];
    assert_eq!(warned.len(), 1, "one warning for one end: {warned:?}");
    let warn_ms = ms_between(spoke, warned[0]);
    let end_ms = ms_between(spoke, termed);
    assert!(
        (900..=1700).contains(&warn_ms),
        "warned {warn_ms} ms after its last output"
    );
    assert!(
        (1900..=2800).contains(&end_ms),
        "stopped {end_ms} ms after its last output"
    );
    // It exited 0 on the stop signal and stays done (a clean end, not a failure).
    assert!(wait_until(LONG, || s.status_row("quiet")["state"] == "done"));
    // The chatty one outlived the quiet one's idle time twice over.
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.lines("chatty-termed").is_empty(), "chatty was stopped");
    assert_eq!(s.status_row("chatty")["state"], "running");
    assert!(run.alive());
    let fin = run.stop(LONG);
    assert!(
        fin.stderr
            .contains("quiet was idle for its idle_timeout (2.0s); stopping it"),
        "{}",
        fin.stderr
    );
}

/// pidone as PID 1 of a fresh namespace on a pseudo-terminal, CMD after `--`; stdin is what
/// the user types, stdout what the terminal shows.
fn on_a_terminal(s: &Scratch, options: &str, cmd: &str) -> Child {
    s.write("pidone.toml", "");
    let inner = format!(
        "{} {} {} --allow-root {options} -- {cmd}",
        unshare_prefix().join(" "),
        bin(),
        s.dir_args().join(" "),
    );
    std::process::Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("PATH", common::SAFE_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for the child; (exit code, everything the terminal showed).
fn finish(mut child: Child, within: Duration) -> (i32, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < within,
            "pidone did not end within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.code().unwrap_or(-1), out)
}

fn have_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok()
}

#[test]
fn web_terminal_max_runtime_warns_the_user_then_ends_with_124() {
    require_namespaces!();
    if !have_script() {
        skip!("util-linux `script` not available");
    }
    let s = Scratch::new();
    let warned = s.join("warned").display().to_string();
    let started = Instant::now();
    let mut child = on_a_terminal(
        &s,
        &format!(
            "--stop-signal HUP --max-runtime 4s --warn-before 2s --warn-command 'date +%s%N > {warned}; echo \"*** session ends in $PIDONE_SESSION_LEFT s ($PIDONE_SESSION_LIMIT) ***\"'"
        ),
        "sh -i",
    );
    // The user is active all along: max_runtime ends the session anyway.
    let mut stdin = child.stdin.take().unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"echo typed\n").unwrap();
    }
    let (code, out) = finish(child, LONG);
    let took = started.elapsed();
    drop(stdin);
    assert_eq!(code, 124, "{out}");
    assert!(took >= Duration::from_secs(4), "ended after {took:?}");
    let warn = out
        .find("*** session ends in 2 s (max_runtime) ***")
        .unwrap_or_else(|| panic!("no warning on the terminal:\n{out}"));
    let end = out
        .find("main reached its max_runtime (4.0s); stopping it")
        .unwrap_or_else(|| panic!("no end line:\n{out}"));
    assert!(warn < end, "the warning came after the end:\n{out}");
    assert!(out.contains("typed"), "{out}");
    assert!(!s.read("warned").is_empty());
}

#[test]
fn web_terminal_idle_timeout_counts_typing_and_ends_an_idle_shell() {
    require_namespaces!();
    if !have_script() {
        skip!("util-linux `script` not available");
    }
    let s = Scratch::new();
    let started = Instant::now();
    let mut child = on_a_terminal(
        &s,
        "--stop-signal HUP --idle-timeout 12s --warn-before 3s --warn-command 'echo \"*** idle: session ends in $PIDONE_SESSION_LEFT s ***\"'",
        "sh -i",
    );
    let mut stdin = child.stdin.take().unwrap();
    // Typing for 16 s: longer than the idle timeout, so only the typing kept it alive.
    while started.elapsed() < Duration::from_secs(16) {
        stdin.write_all(b"true\n").unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended while the user typed"
        );
    }
    let last_input = Instant::now();
    // Then nothing: the kernel updates the terminal's access time only when it moves to
    // another 8-second step, so the recorded input may be up to 8 s older than the last key:
    // the end comes 12 - 8 = 4 s (3 s with the test's own timing slack) to 12 s (plus the
    // stop) after it.
    let (code, out) = finish(child, Duration::from_secs(30));
    let idle_for = last_input.elapsed();
    drop(stdin);
    assert_eq!(code, 124, "{out}");
    assert!(
        (Duration::from_secs(3)..=Duration::from_secs(14)).contains(&idle_for),
        "ended {idle_for:?} after the last input"
    );
    assert_eq!(
        out.matches("idle_timeout ends the session in").count(),
        1,
        "one warning for one end:\n{out}"
    );
    let warn = out
        .find("*** idle: session ends in 3 s ***")
        .unwrap_or_else(|| panic!("no warning on the terminal:\n{out}"));
    let end = out
        .find("main was idle for its idle_timeout (12.0s); stopping it")
        .unwrap_or_else(|| panic!("no end line:\n{out}"));
    assert!(warn < end, "{out}");
}

#[test]
fn idle_timeout_for_cmd_without_a_terminal_is_refused() {
    let s = Scratch::new();
    let run = s.spawn_pid1(&["--idle-timeout", "1m", "--", "true"]);
    let fin = run.finish(LONG);
    assert_eq!(fin.code, 64, "{}", fin.stderr);
    assert!(
        fin.stderr
            .contains("--idle-timeout / PIDONE_IDLE_TIMEOUT: needs CMD on a terminal"),
        "{}",
        fin.stderr
    );
}

/// Issue 20: session-limit ends with `restart = "always"` are clean ends, not crashes. Eight
/// ends in a row (max_runtime for one service, idle_timeout for another, well past
/// `max_restarts = 5` within `restart_window`): each is restarted at once, without a growing
/// backoff, and the service still runs. (Before, the backoff grew 100, 200, 400 ms... and
/// after 5 ends pidone gave up: "restarted 5 times within 1m0s, giving up: failed".)
#[test]
fn session_limit_ends_restart_at_once_and_never_give_up() {
    require_namespaces!();
    let s = Scratch::new();
    // Each start records its pid and time, each TERM its time (the limits' stop signal).
    let session = |name: &str, limit: &str| {
        format!(
            r#"command = ["sh", "-c", "echo $$ >> @D@/pids_{name}; date +%s%N >> @D@/starts_{name}; trap 'date +%s%N >> @D@/ends_{name}; exit 0' TERM; {chatter}while :; do sleep 1000 & wait $!; done"]
restart = "always"
{limit}
"#,
            chatter = if limit.starts_with("max") {
                "while :; do echo busy; sleep 0.1; done & "
            } else {
                ""
            }
        )
    };
    svc(&s, "timed", &session("timed", "max_runtime = \"300ms\""));
    svc(&s, "idle", &session("idle", "idle_timeout = \"300ms\""));
    let run = s.spawn_pid1(&[]);
    for name in ["timed", "idle"] {
        assert!(
            wait_until(Duration::from_secs(30), || {
                s.lines(&format!("ends_{name}")).len() >= 8
                    && s.lines(&format!("starts_{name}")).len() >= 9
            }),
            "{name}: only {} ends\n{}",
            s.lines(&format!("ends_{name}")).len(),
            run.stderr()
        );
        let starts = nanos(&s, &format!("starts_{name}"));
        let ends = nanos(&s, &format!("ends_{name}"));
        // Every end is followed by a start right away, not after a growing backoff (100,
        // 200, 400, 800 ms...; the slack is for a shell's start on a loaded machine).
        for (k, end) in ends.iter().take(8).enumerate() {
            let gap = ms_between(*end, starts[k + 1]);
            assert!(
                (0..250).contains(&gap),
                "{name}: end {k} restarted after {gap} ms (starts {starts:?}, ends {ends:?})"
            );
        }
        // Still running: the pid status reports is the last one started, alive in /proc.
        let row = common::status_until(&s, name, "running", |r| r["state"] == "running");
        let ns_pid = row["pid"].as_i64().unwrap() as i32;
        let pids: Vec<i32> = s
            .lines(&format!("pids_{name}"))
            .iter()
            .map(|p| p.trim().parse().unwrap())
            .collect();
        assert!(pids.len() >= 9, "{name}: {pids:?}");
        let host = common::host_pid_of(run.pid, ns_pid)
            .unwrap_or_else(|| panic!("{name}: pid {ns_pid} is not in /proc"));
        let state = common::status_field(host, "State").unwrap();
        assert!(!state.starts_with('Z'), "{name}: {state}");
        assert!(pids.contains(&ns_pid), "{name}: {ns_pid} not in {pids:?}");
        // The earlier sessions are gone, not left behind as zombies or orphans.
        let alive: Vec<i32> = common::namespace_processes(run.pid)
            .iter()
            .map(|p| p.ns_pid)
            .filter(|p| pids.contains(p) && *p != ns_pid)
            .collect();
        assert!(alive.is_empty(), "{name}: old sessions live on: {alive:?}");
        assert!(row["restarts"].as_u64().unwrap() >= 8, "{name}: {row}");
    }
    let done = run.stop(LONG);
    assert!(!done.stderr.contains("giving up"), "{}", done.stderr);
    assert!(
        done.stderr.contains("timed") && done.stderr.contains("at its session limit; restarting"),
        "{}",
        done.stderr
    );
}
