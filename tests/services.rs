//! Supervisor behaviour (issue 3), with the real binary as PID 1 of a fresh PID namespace.
//!
//! Every assertion is about what happened, as the kernel or the services themselves saw it:
//! exit codes, `/proc`, and files the services write (timestamps taken by the service, lines
//! appended by their own shell signal traps). pidone's log is only used to check the
//! wording of messages meant for people.
//!
//! In service files, `@D@` stands for the scratch directory. Unless a test says otherwise
//! pidone runs with its default privilege drop (to 65534), so services write only into the
//! scratch dir, which is world-writable.

mod common;

use common::{
    Running, Scratch, assert_contiguous, fd_target, nanos, send, status_field, svc, wait_until,
};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// Write `services.d/NAME.toml`, with `@D@` replaced by the scratch dir.
/// A shell command line with `@D@` replaced.
fn sh(s: &Scratch, script: &str) -> String {
    script.replace("@D@", &s.path().display().to_string())
}

fn ms(a: u128, b: u128) -> i64 {
    (b as i64 - a as i64) / 1_000_000
}

fn wait_file(s: &Scratch, rel: &str) -> bool {
    wait_until(LONG, || s.join(rel).exists())
}

fn wait_lines(s: &Scratch, rel: &str, n: usize) -> bool {
    wait_until(LONG, || s.lines(rel).len() >= n)
}

/// A longrun that records its TERM in `@D@/<marker>`, says it is up in `@D@/up_<name>`,
/// and otherwise sleeps.
fn trapping(name: &str, on_term: &str) -> String {
    format!(
        r#"command = ["sh", "-c", '''trap '{on_term}; exit 0' TERM; touch @D@/up_{name}; sleep 1000 & wait''']
"#
    )
}

// ------------------------------------------------------------------------------------------
// Readiness: each kind gates a dependant.
// ------------------------------------------------------------------------------------------

/// `provider` becomes ready 0.5 s after it starts (it writes `ready_at` just before it
/// signals readiness); `dependant` waits for it and records when it started; CMD waits for
/// both and ends the run. The dependant must have started after the provider was ready.
fn readiness_gates(ready: &str, signal_ready: &str) {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "provider",
        &format!(
            r#"command = ["sh", "-c", '''sleep 0.5; date +%s%N > @D@/ready_at; {signal_ready}''']
[ready]
{ready}
timeout = "15s"
"#
        ),
    );
    svc(
        &s,
        "dependant",
        r#"command = ["sh", "-c", "date +%s%N > @D@/dep_at; exec sleep 1000"]
after = ["provider"]
"#,
    );
    let cmd = sh(
        &s,
        "date +%s%N > @D@/cmd_at; while [ ! -s @D@/dep_at ]; do sleep 0.02; done",
    );
    let run = s.spawn_pid1(&["--", "sh", "-c", &cmd]);
    let done = run.finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let ready_at = nanos(&s, "ready_at");
    let dep_at = nanos(&s, "dep_at");
    let cmd_at = nanos(&s, "cmd_at");
    assert!(
        ready_at.len() == 1 && dep_at.len() == 1 && cmd_at.len() == 1,
        "provider {ready_at:?} dependant {dep_at:?} cmd {cmd_at:?}\n{}",
        done.stderr
    );
    assert!(
        dep_at[0] >= ready_at[0],
        "dependant started {} ms before the provider was ready",
        ms(dep_at[0], ready_at[0])
    );
    // CMD waits for every service; the dependant is ready as soon as it runs, so only the
    // provider's readiness orders CMD.
    assert!(
        cmd_at[0] >= ready_at[0],
        "CMD started before the provider was ready"
    );
}

#[test]
fn ready_notify_fd_gates_dependant() {
    readiness_gates("notify_fd = 3", "echo >&3; exec sleep 1000");
}

#[test]
fn ready_notify_socket_gates_dependant() {
    readiness_gates(
        "notify_socket = true",
        r#"exec python3 -c "import socket,os,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET']); time.sleep(1000)""#,
    );
}

#[test]
fn ready_tcp_gates_dependant() {
    let port = common::free_port();
    readiness_gates(
        &format!("tcp = {port}\ninterval = \"50ms\""),
        &format!(
            r#"exec python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(1000)""#
        ),
    );
}

#[test]
fn ready_file_gates_dependant() {
    readiness_gates(
        "file = \"@D@/ready-flag\"\ninterval = \"50ms\"",
        "touch @D@/ready-flag; exec sleep 1000",
    );
}

#[test]
fn ready_command_gates_dependant() {
    readiness_gates(
        "command = [\"test\", \"-e\", \"@D@/ready-flag\"]\ninterval = \"50ms\"",
        "touch @D@/ready-flag; exec sleep 1000",
    );
}

#[test]
fn not_ready_within_timeout_is_a_failed_start() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "slow",
        r#"command = ["sh", "-c", "echo x >> @D@/slow_starts; exec sleep 1000"]
restart = "never"
critical = true
[ready]
file = "@D@/never"
timeout = "300ms"
"#,
    );
    svc(
        &s,
        "dependant",
        "command = [\"sh\", \"-c\", \"touch @D@/dep_started; exec sleep 1000\"]\nafter = [\"slow\"]\n",
    );
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_ne!(done.code, 0, "{}", done.stderr);
    assert!(!s.join("dep_started").exists(), "dependant started");
    assert_eq!(s.lines("slow_starts").len(), 1);
    assert!(
        done.stderr.contains("slow was not ready within 300ms"),
        "{}",
        done.stderr
    );
}

// ------------------------------------------------------------------------------------------
// Failures, restarts, exit codes.
// ------------------------------------------------------------------------------------------

#[test]
fn oneshot_failure_stops_dependants_and_exits_with_its_code() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "init",
        "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 7\"]\n",
    );
    svc(
        &s,
        "web",
        "command = [\"sh\", \"-c\", \"touch @D@/web_started; exec sleep 1000\"]\nafter = [\"init\"]\n",
    );
    svc(&s, "side", &trapping("side", "touch @D@/side_term"));
    let cmd = sh(&s, "touch @D@/cmd_started; exec sleep 1000");
    let done = s.spawn_pid1(&["--", "sh", "-c", &cmd]).finish(LONG);
    assert_eq!(done.code, 7, "{}", done.stderr);
    assert!(
        !s.join("web_started").exists(),
        "dependant of the failed oneshot started"
    );
    assert!(!s.join("cmd_started").exists(), "CMD started");
    assert!(
        s.join("up_side").exists() && s.join("side_term").exists(),
        "side was not stopped with TERM"
    );
    assert!(
        done.stderr.contains("oneshot init exited with code 7"),
        "message does not name the oneshot:\n{}",
        done.stderr
    );
}

#[test]
fn backoff_doubles_from_100ms() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "flap",
        "command = [\"sh\", \"-c\", \"date +%s%N >> @D@/starts; exit 1\"]\nmax_restarts = 10\n",
    );
    let run = s.spawn_pid1(&["--allow-root"]);
    assert!(wait_lines(&s, "starts", 4), "{}", run.stderr());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let t = nanos(&s, "starts");
    let gaps: Vec<i64> = t.windows(2).map(|w| ms(w[0], w[1])).collect();
    // Timers never fire early; on a busy 2-core machine they may fire late.
    for (gap, want) in gaps.iter().zip([100, 200, 400]) {
        assert!(
            *gap >= want - 5 && *gap <= want + 300,
            "restart gaps {gaps:?} ms, want about 100, 200, 400"
        );
    }
}

#[test]
fn crash_loop_fails_for_good_and_critical_stops_with_its_code() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "crash",
        r#"command = ["sh", "-c", "echo x >> @D@/crash_starts; exit 42"]
max_restarts = 2
critical = true
[backoff]
initial = "20ms"
"#,
    );
    svc(&s, "other", &trapping("other", "touch @D@/other_term"));
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 42, "{}", done.stderr);
    assert_eq!(
        s.lines("crash_starts").len(),
        3,
        "one start and max_restarts = 2 restarts"
    );
    assert!(
        s.join("other_term").exists(),
        "other was not stopped with TERM"
    );
    assert!(
        done.stderr
            .contains("crash exited with code 42; it restarted 2 times"),
        "{}",
        done.stderr
    );
}

#[test]
fn non_critical_crash_loop_keeps_the_rest_running() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "crash",
        r#"command = ["sh", "-c", "echo x >> @D@/crash_starts; exit 42"]
max_restarts = 1
[backoff]
initial = "10ms"
"#,
    );
    svc(&s, "other", &trapping("other", "touch @D@/other_term"));
    let run = s.spawn_pid1(&["--allow-root"]);
    assert!(wait_lines(&s, "crash_starts", 2));
    std::thread::sleep(Duration::from_millis(400));
    let mut run = run;
    assert!(
        run.alive(),
        "a non-critical failure ended the run: {}",
        run.stderr()
    );
    assert!(!s.join("other_term").exists());
    assert_eq!(s.lines("crash_starts").len(), 2);
    let done = run.stop(LONG);
    assert_eq!(done.code, 0);
    assert!(s.join("other_term").exists());
}

#[test]
fn cmd_exit_code_is_propagated_with_services_running() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "svc", &trapping("svc", "touch @D@/svc_term"));
    let cmd = sh(&s, "while [ ! -e @D@/up_svc ]; do sleep 0.02; done; exit 5");
    let done = s.spawn_pid1(&["--", "sh", "-c", &cmd]).finish(LONG);
    assert_eq!(done.code, 5, "{}", done.stderr);
    assert!(
        s.join("svc_term").exists(),
        "the service was not stopped with TERM"
    );

    // Killed by a signal: 128 + N, like a shell.
    let s = Scratch::new();
    let done = s
        .spawn_pid1(&["--", "sh", "-c", "kill -KILL $$"])
        .finish(LONG);
    assert_eq!(done.code, 137, "{}", done.stderr);
}

#[test]
fn shutdown_is_in_reverse_dependency_order() {
    require_namespaces!();
    let s = Scratch::new();
    // If all three were signalled at once, the delays would make the order a, b, c.
    svc(&s, "a", &trapping("a", "echo a >> @D@/order"));
    svc(
        &s,
        "b",
        &format!(
            "{}after = [\"a\"]\n",
            trapping("b", "sleep 0.15; echo b >> @D@/order")
        ),
    );
    svc(
        &s,
        "c",
        &format!(
            "{}after = [\"b\"]\n",
            trapping("c", "sleep 0.3; echo c >> @D@/order")
        ),
    );
    let cmd = sh(
        &s,
        "for f in a b c; do while [ ! -e @D@/up_$f ]; do sleep 0.02; done; done",
    );
    let done = s.spawn_pid1(&["--", "sh", "-c", &cmd]).finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(s.lines("order"), vec!["c", "b", "a"], "{}", done.stderr);
}

#[test]
fn stop_timeout_then_sigkill() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "stubborn",
        r#"command = ["sh", "-c", '''trap '' TERM; touch @D@/up_stubborn; sleep 1000 & wait; touch @D@/stubborn_exited''']
stop_timeout = "600ms"
"#,
    );
    let run = s.spawn_pid1(&[]);
    assert!(wait_file(&s, "up_stubborn"));
    let host = run
        .processes()
        .into_iter()
        .find(|p| p.cmdline.contains("up_stubborn"))
        .expect("stubborn's shell")
        .host_pid;
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.elapsed >= Duration::from_millis(550),
        "stopped after {:?}: did not wait for stop_timeout",
        done.elapsed
    );
    assert!(
        done.elapsed < Duration::from_millis(600 + 1500),
        "took {:?}: SIGKILL did not come at stop_timeout (the 5 s grace decided)",
        done.elapsed
    );
    assert!(
        !s.join("stubborn_exited").exists(),
        "stubborn exited by itself"
    );
    assert!(!std::path::Path::new(&format!("/proc/{host}")).exists());
    assert!(
        done.stderr
            .contains("stubborn did not stop within its stop_timeout")
    );
}

#[test]
fn fifty_services_stop_in_parallel() {
    require_namespaces!();
    let s = Scratch::new();
    for n in 0..50 {
        let name = format!("s{n:02}");
        svc(
            &s,
            &name,
            &format!(
                r#"command = ["sh", "-c", '''trap 'sleep 0.5; echo {name} >> @D@/stopped; exit 0' TERM; echo {name} >> @D@/up; sleep 1000 & wait''']
"#
            ),
        );
    }
    let run = s.spawn_pid1(&["--allow-root"]);
    assert!(wait_lines(&s, "up", 50), "{}", run.stderr());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let mut stopped = s.lines("stopped");
    stopped.sort();
    assert_eq!(stopped.len(), 50, "TERM handlers that ran: {stopped:?}");
    assert!(
        done.elapsed < Duration::from_secs(5),
        "50 handlers of 0.5 s took {:?} (one after the other would be 25 s)",
        done.elapsed
    );
}

#[test]
fn flooding_service_does_not_delay_another_restart() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "flood",
        r#"command = ["python3", "-c", "import sys\nl = b'x' * 1048576 + b'\\n'\nwhile 1: sys.stdout.buffer.write(l)"]
"#,
    );
    svc(
        &s,
        "flood2",
        r#"command = ["sh", "-c", "exec yes"]
"#,
    );
    svc(
        &s,
        "flap",
        r#"command = ["sh", "-c", "date +%s%N >> @D@/starts; exit 1"]
max_restarts = 100
[backoff]
initial = "100ms"
factor = 1.0
"#,
    );
    let run = s.spawn_pid1_with(&["--allow-root"], |c| {
        c.stdout(std::process::Stdio::null());
    });
    assert!(wait_lines(&s, "starts", 7), "{}", run.stderr());
    let done = run.stop(LONG);
    let t = nanos(&s, "starts");
    let gaps: Vec<i64> = t.windows(2).map(|w| ms(w[0], w[1])).take(6).collect();
    assert!(
        gaps.iter().all(|&g| (95..450).contains(&g)),
        "restart gaps {gaps:?} ms with 100 ms backoff while two services flood\n{}",
        done.stderr
    );
}

#[test]
fn max_runtime_stops_and_policy_restarts() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "session",
        r#"command = ["sh", "-c", '''trap 'echo term >> @D@/mr_term; exit 0' TERM; date +%s%N >> @D@/mr_starts; sleep 1000 & wait''']
max_runtime = "400ms"
restart = "always"
[backoff]
initial = "50ms"
"#,
    );
    let run = s.spawn_pid1(&[]);
    assert!(wait_lines(&s, "mr_starts", 3), "{}", run.stderr());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0);
    let t = nanos(&s, "mr_starts");
    let gaps: Vec<i64> = t.windows(2).map(|w| ms(w[0], w[1])).take(2).collect();
    // The restart after a session limit is immediate (no backoff), so a gap between two
    // starts is 400 ms give or take how fast each shell came to its `date`.
    assert!(
        gaps.iter().all(|&g| (350..1200).contains(&g)),
        "runs lasted {gaps:?} ms with max_runtime 400ms"
    );
    assert!(
        s.lines("mr_term").len() >= 2,
        "TERM at max_runtime not seen by the service"
    );
}

#[test]
fn reload_on_sends_hup_on_change() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("certs/cert.pem", "v1\n");
    s.write("certs/other.pem", "x\n");
    svc(
        &s,
        "hup",
        r#"command = ["sh", "-c", '''trap 'echo hup >> @D@/hups' HUP; touch @D@/up_hup; while :; do sleep 1000 & wait; done''']
reload_on = ["@D@/certs/cert.pem"]
"#,
    );
    let run = s.spawn_pid1(&[]);
    assert!(wait_file(&s, "up_hup"));
    // Replaced by rename, as certificate renewals do.
    s.write("certs/cert.pem.tmp", "v2\n");
    std::fs::rename(s.join("certs/cert.pem.tmp"), s.join("certs/cert.pem")).unwrap();
    assert!(
        wait_lines(&s, "hups", 1),
        "no HUP after rename\n{}",
        run.stderr()
    );
    // Rewritten in place.
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(s.join("certs/cert.pem"), "v3, longer\n").unwrap();
    assert!(
        wait_lines(&s, "hups", 2),
        "no HUP after rewrite\n{}",
        run.stderr()
    );
    // Another file in the same directory: nothing.
    std::fs::write(s.join("certs/other.pem"), "y\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(s.lines("hups").len(), 2, "HUP for an unrelated file");
    run.stop(LONG);
}

#[test]
fn reload_waits_until_a_rewritten_file_is_complete() {
    require_namespaces!();
    use std::io::Write;
    let s = Scratch::new();
    s.write("certs/cert.pem", "v1\n");
    svc(
        &s,
        "hup",
        r#"command = ["sh", "-c", '''trap 'wc -c < @D@/certs/cert.pem >> @D@/sizes' HUP; touch @D@/up_hup; while :; do sleep 1000 & wait; done''']
reload_on = ["@D@/certs/cert.pem"]
"#,
    );
    let run = s.spawn_pid1(&[]);
    assert!(wait_file(&s, "up_hup"));
    // Rewritten in place by a writer that takes its time (cp of a big bundle, an ACME
    // client writing in pieces): truncate, write half, pause, write the rest, close.
    let mut f = std::fs::File::create(s.join("certs/cert.pem")).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    f.write_all(&[b'a'; 65536]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    f.write_all(&[b'b'; 65536]).unwrap();
    drop(f);
    assert!(wait_lines(&s, "sizes", 1), "no HUP\n{}", run.stderr());
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        s.lines("sizes"),
        vec!["131072"],
        "sizes of the file each time the service was told to reload"
    );
    run.stop(LONG);
}

#[test]
fn reload_signal_restart_gives_a_new_process() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("certs/cert.pem", "v1\n");
    svc(
        &s,
        "restarter",
        r#"command = ["sh", "-c", "echo $$ >> @D@/pids; exec sleep 1000"]
reload_on = ["@D@/certs/cert.pem"]
reload_signal = "restart"
"#,
    );
    let run = s.spawn_pid1(&[]);
    assert!(wait_lines(&s, "pids", 1));
    let first = s.lines("pids")[0].clone();
    let first_host = common::host_pid_of(run.pid, first.parse().unwrap()).expect("first process");
    std::fs::write(s.join("certs/cert.pem"), "v2\n").unwrap();
    assert!(wait_lines(&s, "pids", 2), "not restarted\n{}", run.stderr());
    let pids = s.lines("pids");
    assert_ne!(pids[0], pids[1]);
    assert!(
        wait_until(LONG, || !std::path::Path::new(&format!(
            "/proc/{first_host}"
        ))
        .exists()),
        "old process still there"
    );
    run.stop(LONG);
}

#[test]
fn oneshot_exports_env_to_later_services_and_cmd() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "init",
        r##"kind = "oneshot"
export_env = true
command = ["sh", "-c", '''echo "GREETING=hello from init" >> "$PIDONE_ENV_FILE"; echo "# comment" >> "$PIDONE_ENV_FILE"''']
"##,
    );
    svc(
        &s,
        "web",
        "command = [\"sh\", \"-c\", \"echo \\\"$GREETING\\\" > @D@/web_saw; exec sleep 1000\"]\nafter = [\"init\"]\n",
    );
    let cmd = sh(
        &s,
        "while [ ! -e @D@/web_saw ]; do sleep 0.02; done; echo \"$GREETING\" > @D@/cmd_saw",
    );
    let done = s.spawn_pid1(&["--", "sh", "-c", &cmd]).finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(s.read("web_saw"), "hello from init\n");
    assert_eq!(s.read("cmd_saw"), "hello from init\n");
}

// ------------------------------------------------------------------------------------------
// Bad configuration: exit 78, a located message, nothing started.
// ------------------------------------------------------------------------------------------

#[test]
fn bad_configs_are_refused_before_anything_starts() {
    require_namespaces!();
    // (service files as (name, text), substrings wanted in the error output)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("bad", "command = [\"true\"]\nrestrat = \"always\"\n")],
            &["bad.toml:2: key `restrat`: unknown field"],
        ),
        (
            &[("bad", "command = [\"true\"]\nafter = [\"nope\"]\n")],
            &["bad.toml:2: key `after`: unknown service \"nope\""],
        ),
        (
            &[
                ("a", "command = [\"true\"]\nafter = [\"b\"]\n"),
                ("b", "command = [\"true\"]\nafter = [\"a\"]\n"),
            ],
            &["a.toml:2: key `after`: dependency cycle: a -> b -> a"],
        ),
        (
            &[("bad", "kind = \"oneshot\"\n")],
            &["bad.toml: key `command`: is required"],
        ),
        (
            &[("bad", "command = [\"no-such-program-pidone\"]\n")],
            &["bad.toml:1: key `command`: program \"no-such-program-pidone\" not found"],
        ),
        (
            &[("bad", "command = [\"true\"]\nstop_timeout = \"soon\"\n")],
            &["bad.toml:2: key `stop_timeout`:"],
        ),
        (
            &[(
                "bad",
                "command = [\"true\"]\n[ready]\nfile = \"/x\"\ntimeout = \"5 parsecs\"\n",
            )],
            &["bad.toml:4: key `ready.timeout`:"],
        ),
        (
            &[("bad", "command = [\"true\"]\nstdout_to = \"nope\"\n")],
            &["bad.toml:2: key `stdout_to`: \"nope\" is not a service"],
        ),
        (
            &[
                ("bad", "command = [\"true\"]\nstdout_to = \"once\"\n"),
                ("once", "command = [\"true\"]\nkind = \"oneshot\"\n"),
            ],
            &["bad.toml:2: key `stdout_to`: \"once\" is a oneshot"],
        ),
        (
            &[
                ("a", "command = [\"true\"]\nstdout_to = \"b\"\n"),
                ("b", "command = [\"true\"]\nstdout_to = \"a\"\n"),
            ],
            &["dependency cycle: a -> b -> a"],
        ),
        (
            &[("bad", "command = [\"true\"]\nstop_signal = \"TREM\"\n")],
            &["bad.toml:2: key `stop_signal`: unknown signal"],
        ),
        (
            &[(
                "bad",
                "command = [\"true\"]\nsignal_map = { HUP = \"NOPE\" }\n",
            )],
            &["bad.toml:2: key `signal_map`"],
        ),
    ];
    for (files, wanted) in cases {
        let s = Scratch::new();
        svc(
            &s,
            "ok",
            "command = [\"sh\", \"-c\", \"touch @D@/started\"]\n",
        );
        for (name, text) in *files {
            svc(&s, name, text);
        }
        let cmd = sh(&s, "touch @D@/cmd_started");
        let done = s.spawn_pid1(&["--", "sh", "-c", &cmd]).finish(LONG);
        assert_eq!(done.code, 78, "{files:?}\n{}", done.stderr);
        for w in *wanted {
            assert!(
                done.stderr.contains(w),
                "{files:?}: want {w:?} in\n{}",
                done.stderr
            );
        }
        assert!(
            done.stderr.contains("nothing was started"),
            "{}",
            done.stderr
        );
        assert!(
            !s.join("started").exists() && !s.join("cmd_started").exists(),
            "{files:?}: something started"
        );
    }
}

/// `stdout_to`: app's stdout is a pipe into logger's stdin (the same pipe inode in /proc), held
/// by pidone: with logger stopped, app keeps writing into it (no SIGPIPE, same pid) and the
/// lines arrive once logger is started again; a SIGKILLed logger is restarted on the same
/// pipe. app's stderr stays pidone's prefixed capture. Both have `[limits]`, so they are
/// spawned by the fork path (the s6 tests cover the posix_spawn one).
#[test]
fn stdout_to_pipes_a_service_into_its_logger() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "logger",
        r#"command = ["sh", "-c", '''while read l; do echo "$l" >> @D@/log; done''']
limits.nofile = 1000
"#,
    );
    svc(
        &s,
        "app",
        r#"command = ["sh", "-c", '''echo to-stderr >&2; i=0; while :; do i=$((i+1)); echo "line $i"; echo $i > @D@/count; sleep 0.05; done''']
stdout_to = "logger"
limits.nofile = 1000
"#,
    );
    let p = common::start(&s, &[]);
    assert!(wait_lines(&s, "log", 3), "{}", p.stderr());
    let host = |name: &str| {
        let ns = s.status_row(name)["pid"].as_i64().expect("a pid") as i32;
        common::host_pid_of(p.pid, ns).expect("host pid")
    };
    let (app, logger) = (host("app"), host("logger"));
    // The fork path really was taken (the limit is the service's, not pidone's).
    let nofile = std::fs::read_to_string(format!("/proc/{app}/limits")).unwrap();
    assert!(
        nofile.lines().any(|l| l.starts_with("Max open files")
            && l.split_whitespace().nth(3) == Some("1000")),
        "{nofile}"
    );
    let pipe = fd_target(app, 1);
    assert!(pipe.starts_with("pipe:["), "{pipe}");
    assert_eq!(pipe, fd_target(logger, 0));
    assert_ne!(fd_target(app, 2), pipe, "stderr must stay pidone's capture");
    assert!(wait_until(LONG, || p.stderr().contains("to-stderr")));
    assert!(!s.read("log").contains("to-stderr"));

    // Logger stopped: app writes on into the pipe, nothing reads it, nothing is lost.
    let (code, out) = s.client(&["stop", "logger"]);
    assert_eq!(code, 0, "{out}");
    common::status_until(&s, "logger", "stopped", |r| r["state"] == "stopped");
    let count = || s.read("count").trim().parse::<usize>().unwrap_or(0);
    let logged = s.lines("log").len();
    let target = count() + 10;
    assert!(wait_until(LONG, || count() >= target), "app stalled");
    assert!(s.lines("log").len() <= logged + 1, "read while stopped");
    let (code, out) = s.client(&["start", "logger"]);
    assert_eq!(code, 0, "{out}");
    assert!(wait_lines(&s, "log", target), "{}", p.stderr());
    assert_contiguous(&s.lines("log"), 1);

    // Logger killed: restarted on the same pipe; app never noticed.
    let old_logger = host("logger");
    send(old_logger, libc::SIGKILL);
    let restarted = wait_until(LONG, || {
        let row = s.status_row("logger");
        row["state"] == "running"
            && row["pid"]
                .as_i64()
                .and_then(|n| common::host_pid_of(p.pid, n as i32))
                .is_some_and(|h| h != old_logger && fd_target(h, 0) == pipe)
    });
    assert!(restarted, "{}", p.stderr());
    let target = count() + 5;
    assert!(wait_lines(&s, "log", target), "{}", p.stderr());
    assert_contiguous(&s.lines("log"), 2);
    assert_eq!(host("app"), app, "app was restarted");
    assert_eq!(fd_target(app, 1), pipe);

    let done = p.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}

/// The logger starts first (app waits while the logger is not ready) and stops last (if both
/// were signalled at once, app's slow TERM trap would make the order logger, app).
#[test]
fn stdout_to_logger_starts_first_and_stops_last() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "logger",
        r#"command = ["sh", "-c", '''trap 'echo logger >> @D@/order; exit 0' TERM; while read -r l; do echo "$l" >> @D@/log; done''']
ready.file = "@D@/go"
"#,
    );
    svc(
        &s,
        "app",
        r#"command = ["sh", "-c", '''trap 'sleep 0.3; echo app >> @D@/order; exit 0' TERM; echo hello; sleep 1000 & wait''']
stdout_to = "logger"
"#,
    );
    let p = common::start(&s, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let app = s.status_row("app");
    assert_eq!(app["state"], "waiting", "{app}");
    std::fs::write(s.join("go"), "").unwrap();
    assert!(wait_lines(&s, "log", 1), "{}", p.stderr());
    let done = p.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(s.lines("order"), ["app", "logger"], "{}", done.stderr);
}

/// At shutdown, once the producer has exited (its last words written), pidone closes its
/// write end: a logger that ignores TERM drains the pipe, gets EOF and exits on its own, long
/// before its stop_timeout's SIGKILL.
#[test]
fn stdout_to_logger_drains_to_eof_at_shutdown() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "logger",
        r#"command = ["sh", "-c", '''trap "" TERM; while read -r l; do echo "$l" >> @D@/log; done; echo eof >> @D@/log''']
stop_timeout = "8s"
"#,
    );
    svc(
        &s,
        "app",
        r#"command = ["sh", "-c", '''trap 'echo bye; exit 0' TERM; echo hello; sleep 1000 & wait''']
stdout_to = "logger"
"#,
    );
    let p = common::start(&s, &[]);
    assert!(wait_lines(&s, "log", 1), "{}", p.stderr());
    let stopping = Instant::now();
    let done = p.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(s.lines("log"), ["hello", "bye", "eof"], "{}", done.stderr);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "took {:?}: the logger waited for SIGKILL",
        stopping.elapsed()
    );
}

/// Two services with the same `stdout_to` share one pipe (s6-rc's funnel): both fd 1 are the
/// logger's fd 0, and the logger gets the lines of both.
#[test]
fn stdout_to_funnel_shares_one_pipe() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "logger",
        r#"command = ["sh", "-c", '''while read l; do echo "$l" >> @D@/log; done''']
"#,
    );
    for name in ["one", "two"] {
        svc(
            &s,
            name,
            &format!(
                r#"command = ["sh", "-c", "echo from-{name}; exec sleep 1000"]
stdout_to = "logger"
"#
            ),
        );
    }
    let p = common::start(&s, &[]);
    assert!(wait_lines(&s, "log", 2), "{}", p.stderr());
    let mut got = s.lines("log");
    got.sort();
    assert_eq!(got, ["from-one", "from-two"]);
    let host = |name: &str| {
        let ns = s.status_row(name)["pid"].as_i64().expect("a pid") as i32;
        common::host_pid_of(p.pid, ns).expect("host pid")
    };
    let pipe = fd_target(host("logger"), 0);
    assert!(pipe.starts_with("pipe:["), "{pipe}");
    assert_eq!(fd_target(host("one"), 1), pipe);
    assert_eq!(fd_target(host("two"), 1), pipe);
    let done = p.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}

// ------------------------------------------------------------------------------------------
// Signals, --once, orphans.
// ------------------------------------------------------------------------------------------

#[test]
fn signals_are_forwarded_with_opt_out_and_map() {
    require_namespaces!();
    let s = Scratch::new();
    let looping = |name: &str, traps: &str, extra: &str| {
        format!(
            r#"command = ["sh", "-c", '''{traps} touch @D@/up_{name}; while :; do sleep 1000 & wait; done''']
{extra}"#
        )
    };
    svc(
        &s,
        "plain",
        &looping("plain", "trap 'echo hup >> @D@/plain' HUP;", ""),
    );
    svc(
        &s,
        "optout",
        &looping(
            "optout",
            "trap 'echo hup >> @D@/optout' HUP;",
            "forward_signals = false\n",
        ),
    );
    svc(
        &s,
        "mapped",
        &looping(
            "mapped",
            "trap 'echo hup >> @D@/mapped' HUP; trap 'echo usr1 >> @D@/mapped' USR1;",
            "signal_map = { HUP = \"USR1\" }\n",
        ),
    );
    let cmd = sh(
        &s,
        "trap 'echo hup >> @D@/cmd' HUP; touch @D@/up_cmd; while :; do sleep 1000 & wait; done",
    );
    let run = s.spawn_pid1(&["--", "sh", "-c", &cmd]);
    for n in ["plain", "optout", "mapped", "cmd"] {
        assert!(wait_file(&s, &format!("up_{n}")), "{n} did not start");
    }
    run.signal(libc::SIGHUP);
    assert!(wait_lines(&s, "plain", 1), "HUP did not reach plain");
    assert!(wait_lines(&s, "mapped", 1), "nothing reached mapped");
    assert!(wait_lines(&s, "cmd", 1), "HUP did not reach CMD");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.lines("mapped"), vec!["usr1"], "signal_map HUP -> USR1");
    assert_eq!(
        s.lines("optout"),
        Vec::<String>::new(),
        "forward_signals = false got HUP"
    );
    assert_eq!(s.lines("plain"), vec!["hup"]);
    let done = run.stop(LONG);
    // CMD has no TERM trap: the run ends with CMD's status.
    assert_eq!(done.code, 128 + libc::SIGTERM, "{}", done.stderr);
}

#[test]
fn once_ends_at_the_first_longrun_exit() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "a",
        "command = [\"sh\", \"-c\", \"echo x >> @D@/a_starts; sleep 0.3; exit 9\"]\nrestart = \"always\"\n",
    );
    svc(&s, "b", &trapping("b", "touch @D@/b_term"));
    let done = s.spawn_pid1(&["--once"]).finish(LONG);
    assert_eq!(done.code, 9, "{}", done.stderr);
    assert_eq!(s.lines("a_starts").len(), 1, "restarted under --once");
    assert!(s.join("b_term").exists(), "b was not stopped with TERM");
}

#[test]
fn two_thousand_orphans_leave_no_zombie() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "orphans",
        r#"kind = "oneshot"
command = ["python3", "-c", "import os\nfor i in range(2000):\n    p = os.fork()\n    if p == 0:\n        if os.fork() == 0:\n            os._exit(0)\n        os._exit(0)\n    os.waitpid(p, 0)\n"]
"#,
    );
    // CMD runs after the oneshot finished; it counts zombies in the namespace's /proc.
    let cmd = sh(
        &s,
        "sleep 0.5; cat /proc/[0-9]*/status 2>/dev/null | grep -c '^State:.Z' > @D@/zombies; ls -d /proc/[0-9]* | wc -l > @D@/procs",
    );
    let done = s
        .spawn_pid1(&["--", "sh", "-c", &cmd])
        .finish(Duration::from_secs(60));
    assert_eq!(
        s.read("zombies").trim(),
        "0",
        "zombies in the namespace\n{}",
        done.stderr
    );
    let procs: usize = s.read("procs").trim().parse().unwrap();
    assert!(procs < 20, "{procs} processes in the namespace");
    assert_eq!(done.code, 0, "{}", done.stderr);
}

#[test]
fn timing_sanity_true_is_fast() {
    require_namespaces!();
    let s = Scratch::new();
    let start = Instant::now();
    let done = s.spawn_pid1(&["--", "true"]).finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn cmd_ignoring_its_stop_signal_is_killed_after_grace() {
    require_namespaces!();
    let s = Scratch::new();
    let cmd = sh(&s, "trap '' TERM; touch @D@/up_cmd; sleep 1000 & wait");
    let run = s.spawn_pid1(&["--grace", "500ms", "--", "sh", "-c", &cmd]);
    assert!(wait_file(&s, "up_cmd"));
    let done = run.stop(LONG);
    assert_eq!(done.code, 128 + libc::SIGKILL, "{}", done.stderr);
    assert!(
        done.elapsed >= Duration::from_millis(450) && done.elapsed < Duration::from_secs(3),
        "stopped after {:?} with grace 500ms",
        done.elapsed
    );
}

#[test]
fn orphans_get_term_and_time_to_finish() {
    require_namespaces!();
    let s = Scratch::new();
    // A oneshot leaves a detached grandchild behind (re-parented to PID 1) whose TERM
    // handler needs a second: tini and dumb-init let the kernel SIGKILL it mid-cleanup.
    // `orphan_up` comes after its `sleep 1000` exists: a process born after the drain's TERM
    // gets only the KILL at the end of the grace (a loaded run once hit that race).
    svc(
        &s,
        "spawner",
        r#"kind = "oneshot"
command = ["sh", "-c", '''setsid sh -c "trap 'sleep 1; touch @D@/orphan_done; exit 0' TERM; sleep 1000 & touch @D@/orphan_up; wait" > /dev/null 2>&1 &''']
"#,
    );
    let cmd = sh(&s, "while [ ! -e @D@/orphan_up ]; do sleep 0.02; done");
    let done = s
        .spawn_pid1(&["--grace", "10s", "--", "sh", "-c", &cmd])
        .finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        s.join("orphan_done").exists(),
        "the orphan's TERM handler did not finish\n{}",
        done.stderr
    );
    assert!(
        // Well under the 10 s grace (the handler needs 1 s), with room for a loaded machine.
        done.elapsed < Duration::from_secs(8),
        "waited the whole grace: {:?}",
        done.elapsed
    );
}

#[test]
fn a_restarted_longrun_leaves_no_children_behind() {
    require_namespaces!();
    let s = Scratch::new();
    // Each run leaves a background child in its process group and exits; without the group
    // TERM on exit, every restart would add one more `sleep 999`.
    svc(
        &s,
        "leaky",
        r#"command = ["sh", "-c", "sleep 999 & echo x >> @D@/leaky_starts; exit 1"]
max_restarts = 2
[backoff]
initial = "10ms"
"#,
    );
    svc(&s, "other", &trapping("other", "touch @D@/other_term"));
    let mut run = s.spawn_pid1(&["--allow-root"]);
    assert!(wait_lines(&s, "leaky_starts", 3));
    assert!(wait_until(LONG, || s.join("run/control.sock").exists()));
    let settled = wait_until(LONG, || s.status_row("leaky")["state"] == "failed");
    assert!(settled, "{}", run.stderr());
    let leftovers = || {
        run.processes()
            .iter()
            .filter(|p| p.cmdline == "sleep 999" && p.state != 'Z')
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(5), || leftovers() == 0),
        "leftover children: {:?}",
        run.processes()
    );
    assert!(run.alive());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0);
}

#[test]
fn a_crashed_master_s_workers_do_not_block_its_restart() {
    require_namespaces!();
    let s = Scratch::new();
    // Like nginx: a master (sh) with a worker that holds the listening socket and ignores
    // TERM. When the master is SIGKILLed, the worker would keep the port and every restart
    // would fail with EADDRINUSE; pidone kills the old group before restarting.
    let port = common::free_port();
    s.write(
        "worker.py",
        &format!(
            "import signal, socket, time\n\
             signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
             s = socket.socket()\n\
             s.bind(('127.0.0.1', {port}))\n\
             s.listen()\n\
             time.sleep(1000)\n"
        ),
    );
    svc(
        &s,
        "web",
        &format!(
            r#"command = ["sh", "-c", "python3 @D@/worker.py & wait"]
restart = "always"
[backoff]
initial = "300ms"
[ready]
tcp = {port}
timeout = "10s"
"#
        ),
    );
    let mut run = s.spawn_pid1(&["--allow-root"]);
    assert!(wait_until(LONG, || s.join("run/control.sock").exists()));
    assert!(
        wait_until(LONG, || s.status_row("web")["state"] == "running"),
        "{}",
        run.stderr()
    );
    let find = |run: &Running, what: &str| {
        run.processes()
            .into_iter()
            .find(|p| p.cmdline.contains(what) && p.state != 'Z')
            .map(|p| p.host_pid)
    };
    let master = find(&run, "sh -c python3").expect("master");
    let worker = find(&run, "python3 /").expect("worker");
    send(master, libc::SIGKILL);
    let restarted = wait_until(LONG, || {
        let row = s.status_row("web");
        row["restarts"] == 1 && row["state"] == "running"
    });
    assert!(restarted, "{:?}\n{}", s.status_row("web"), run.stderr());
    assert!(
        !std::path::Path::new(&format!("/proc/{worker}")).exists()
            || status_field(worker, "State").is_some_and(|st| st.starts_with('Z')),
        "the old worker still runs"
    );
    assert!(run.alive());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}

// ---------------------------------------------------------------------------------------
// What a service starts with, on both spawn paths (posix_spawn, and fork for [limits]).
// ---------------------------------------------------------------------------------------

/// pidone keeps its signals blocked for the whole run (signals.rs) and may have inherited
/// descriptors: neither may reach a service. Each service reports, from the kernel, its own
/// signal mask, ignored signals, open descriptors, umask and cwd.
#[test]
fn services_start_with_a_clean_signal_state_and_no_stray_fds_on_both_spawn_paths() {
    require_namespaces!();
    let s = Scratch::new();
    std::fs::create_dir(s.join("work")).unwrap();
    std::fs::set_permissions(
        s.join("work"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let report = |name: &str| {
        format!(
            r#"grep -E '^(SigBlk|SigIgn):' /proc/self/status > @D@/{name}.sig; ls /proc/self/fd > @D@/{name}.fds; umask > @D@/{name}.umask; pwd > @D@/{name}.cwd; exec sleep 1000"#
        )
    };
    // posix_spawn path: no limits.
    svc(
        &s,
        "plain",
        &format!(
            "command = [\"sh\", \"-c\", '''{}''']\numask = \"0027\"\nworking_dir = \"@D@/work\"\n",
            report("plain")
        ),
    );
    // fork path: resource limits need a pre_exec step.
    svc(
        &s,
        "limited",
        &format!(
            "command = [\"sh\", \"-c\", '''{}''']\numask = \"0077\"\nworking_dir = \"@D@/work\"\n[limits]\nnofile = 512\n",
            report("limited")
        ),
    );
    // An inherited descriptor without close-on-exec (fd 9, as a runtime might leave one).
    let leaked = std::fs::File::open("/dev/null").unwrap();
    let leaked_fd = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    let pid1 = s.spawn_pid1_with(&[], |cmd| {
        // SAFETY: dup2 in the child before exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, move || {
                libc::dup2(leaked_fd, 9);
                Ok(())
            });
        }
    });
    assert!(wait_file(&s, "plain.cwd") && wait_file(&s, "limited.cwd"));
    for (name, umask) in [("plain", "0027"), ("limited", "0077")] {
        let sig = s.read(&format!("{name}.sig"));
        assert!(
            sig.contains("SigBlk:\t0000000000000000") && sig.contains("SigIgn:\t0000000000000000"),
            "{name}: a service must start with an empty mask and no ignored signals:\n{sig}"
        );
        // 0, 1, 2 and the one ls itself opens to list the directory.
        let fds: Vec<String> = s.lines(&format!("{name}.fds"));
        assert_eq!(fds.len(), 4, "{name}: unexpected open fds {fds:?}");
        assert!(
            !fds.contains(&"9".to_string()),
            "{name}: inherited fd 9 leaked"
        );
        assert_eq!(s.read(&format!("{name}.umask")).trim(), umask, "{name}");
        assert_eq!(
            s.read(&format!("{name}.cwd")).trim(),
            s.join("work").display().to_string(),
            "{name}"
        );
    }
    drop(leaked);
    pid1.stop(LONG);
}

/// A bare program name is looked up in the service's PATH; a name found nowhere is a failed
/// start (the shell's 127), not a hang.
#[test]
fn bare_program_names_are_found_through_path() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "found",
        "command = [\"touch\", \"@D@/found\"]\nkind = \"oneshot\"\n",
    );
    let done = s
        .spawn_pid1(&["--once", "--", "no-such-program-anywhere"])
        .finish(LONG);
    assert!(s.join("found").exists(), "touch was not found through PATH");
    assert_eq!(done.code, 127, "{}", done.stderr);
    assert!(done.stderr.contains("not found"), "{}", done.stderr);
}

/// A working directory that is missing at start (say, a oneshot was to create it) fails the
/// start with a message naming the directory, not "program not found", on both spawn paths.
#[test]
fn a_missing_working_dir_is_named_as_such() {
    require_namespaces!();
    for (name, extra) in [("plain", ""), ("limited", "[limits]\nnofile = 512\n")] {
        let s = Scratch::new();
        svc(
            &s,
            name,
            &format!(
                "command = [\"true\"]\nkind = \"oneshot\"\nworking_dir = \"@D@/nowhere\"\n{extra}"
            ),
        );
        let done = s.spawn_pid1(&["--once"]).finish(LONG);
        assert_ne!(done.code, 0, "{name}: {}", done.stderr);
        assert!(
            done.stderr.contains("working_dir") && done.stderr.contains("nowhere does not exist"),
            "{name}: {}",
            done.stderr
        );
    }
}

/// Oneshots do not get forwarded signals unless they ask: a HUP meant for the daemons'
/// reload must not kill a migration that happens to be running. One without the key finishes
/// its work through the HUP; one with `forward_signals = true` is killed by it.
#[test]
fn oneshots_opt_in_to_forwarded_signals() {
    require_namespaces!();
    let s = Scratch::new();
    let slow_oneshot = |name: &str, extra: &str| {
        format!(
            "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"touch @D@/up_{name}; sleep 2; touch @D@/done_{name}\"]\n{extra}"
        )
    };
    svc(&s, "job", &slow_oneshot("job", ""));
    svc(
        &s,
        "jobin",
        &slow_oneshot("jobin", "forward_signals = true\ncritical = false\n"),
    );
    svc(
        &s,
        "stay",
        "command = [\"sleep\", \"1000\"]\nforward_signals = false\n",
    );
    let run = s.spawn_pid1(&[]);
    for n in ["job", "jobin"] {
        assert!(wait_file(&s, &format!("up_{n}")), "{n} did not start");
    }
    run.signal(libc::SIGHUP);
    assert!(
        wait_file(&s, "done_job"),
        "a oneshot was killed by a forwarded HUP: {}",
        run.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !s.join("done_jobin").exists(),
        "forward_signals = true on a oneshot: HUP did not reach it"
    );
    let jobin = s.status_row("jobin");
    let done = run.stop(LONG);
    assert!(
        jobin.to_string().contains("SIGHUP"),
        "jobin's status does not say SIGHUP: {jobin}"
    );
    // A non-critical oneshot that failed does not decide the code of a clean stop.
    assert_eq!(done.code, 0, "{}", done.stderr);
}

/// `stop_command`: at shutdown the oneshot's clean-up runs once the longrun that waits for it
/// has stopped (its TERM handler takes 0.3 s), as the service user, and CMD's exit code
/// stays the container's.
#[test]
fn oneshot_stop_command_runs_after_its_dependants_stopped() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "mount",
        r#"kind = "oneshot"
command = ["sh", "-c", "touch @D@/mounted"]
stop_command = ["sh", "-c", "date +%s%N > @D@/undo_at; id -u > @D@/undo_uid"]
"#,
    );
    svc(
        &s,
        "web",
        r#"after = ["mount"]
command = ["sh", "-c", '''trap 'sleep 0.3; date +%s%N > @D@/web_stopped_at; exit 0' TERM; touch @D@/up_web; sleep 1000 & wait''']
"#,
    );
    let cmd = sh(&s, "while [ ! -e @D@/go ]; do sleep 0.05; done; exit 5");
    let run = s.spawn_pid1(&["--", "sh", "-c", &cmd]);
    assert!(wait_file(&s, "up_web"), "{}", run.stderr());
    assert!(s.join("mounted").exists());
    assert!(!s.join("undo_at").exists(), "stop command ran at start");
    std::fs::write(s.join("go"), "").unwrap();
    let done = run.finish(LONG);
    assert_eq!(done.code, 5, "{}", done.stderr);
    let undo = nanos(&s, "undo_at");
    let web = nanos(&s, "web_stopped_at");
    assert!(undo[0] > web[0], "undo ran before web stopped");
    if common::is_root() {
        assert_eq!(s.read("undo_uid").trim(), "65534");
    }
}

/// `pidone stop` on a finished oneshot with a `stop_command` runs it (s6-rc's `-d` on a
/// oneshot), but not while a service that waits for it still runs; once run, shutdown does
/// not run it a second time.
#[test]
fn control_stop_runs_a_finished_oneshots_stop_command() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "mount",
        r#"kind = "oneshot"
command = ["sh", "-c", "echo up >> @D@/mount"]
stop_command = ["sh", "-c", "echo down >> @D@/mount"]
"#,
    );
    svc(
        &s,
        "web",
        "after = [\"mount\"]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let run = common::start(&s, &[]);
    common::status_until(&s, "web", "running", |r| r["state"] == "running");
    let (code, text) = s.client(&["stop", "mount"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("web still runs"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.lines("mount"), vec!["up"]);
    let (code, text) = s.client(&["stop", "web"]);
    assert_eq!(code, 0, "{text}");
    common::status_until(&s, "web", "stopped", |r| r["state"] == "stopped");
    let (code, text) = s.client(&["stop", "mount"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("running its stop_command"), "{text}");
    common::status_until(&s, "mount", "stopped", |r| r["state"] == "stopped");
    assert_eq!(s.lines("mount"), vec!["up", "down"]);
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(s.lines("mount"), vec!["up", "down"], "{}", done.stderr);
}

/// The pid (in pidone's namespace) `status` shows for `name`, once it has one; and that the
/// process is really there, by its host pid in /proc.
fn live_pid(s: &Scratch, run: &Running, name: &str) -> (i64, i32) {
    let row = common::status_until(s, name, "running", |r| {
        r["state"] == "running" && r["pid"].is_i64()
    });
    let ns = row["pid"].as_i64().unwrap();
    let host = common::host_pid_of(run.pid, ns as i32)
        .unwrap_or_else(|| panic!("{name}: pid {ns} of status is not in /proc"));
    (ns, host)
}

/// `pidone reload` (issue 22): a bad file changes nothing (errors as at start, exit 78);
/// then new services start (after what they wait for), removed ones stop, changed ones
/// restart, and unchanged ones keep their process, as /proc shows; `status` says what the
/// reload did.
#[test]
fn reload_applies_the_difference_and_keeps_unchanged_services() {
    require_namespaces!();
    let s = Scratch::new();
    let sleeper = |tag: &str| {
        format!("command = [\"sh\", \"-c\", 'echo {tag} >> @D@/started; exec sleep 1000']\n")
    };
    svc(&s, "keep", &sleeper("keep"));
    svc(&s, "edit", &sleeper("edit-old"));
    // Two removed services, one after the other: they stop in reverse dependency order.
    svc(
        &s,
        "gone",
        "command = [\"sh\", \"-c\", 'trap \"echo gone-term >> @D@/order; exit 0\" TERM; while :; do sleep 1000 & wait; done']\n",
    );
    svc(
        &s,
        "gone2",
        "after = [\"gone\"]\ncommand = [\"sh\", \"-c\", 'trap \"echo gone2-term >> @D@/order; sleep 0.3; echo gone2-exit >> @D@/order; exit 0\" TERM; while :; do sleep 1000 & wait; done']\n",
    );
    let run = common::start(&s, &[]);
    live_pid(&s, &run, "gone2");
    let (keep_ns, keep_host) = live_pid(&s, &run, "keep");
    let (_, edit_host) = live_pid(&s, &run, "edit");
    let (_, gone_host) = live_pid(&s, &run, "gone");

    // A mistake: reported at its file, line and key, and nothing changes.
    svc(&s, "bad", "command = [\"true\"]\ncritcal = true\n");
    // The changed `edit` is ready once it has written its line: `new` (after it) waits for
    // that. (Without readiness a longrun counts as up when spawned, and the two lines would
    // race.)
    svc(
        &s,
        "edit",
        "command = [\"sh\", \"-c\", 'echo edit-new >> @D@/started; touch @D@/edit-ready; exec sleep 1000']\n[ready]\nfile = \"@D@/edit-ready\"\ninterval = \"50ms\"\n",
    );
    let (code, out) = s.client(&["reload"]);
    assert_eq!(code, 78, "{out}");
    assert!(
        out.lines().next().unwrap().starts_with("pidone: error: ")
            && out.contains("bad.toml:2: key `critcal`"),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    for (name, host) in [
        ("keep", keep_host),
        ("edit", edit_host),
        ("gone", gone_host),
    ] {
        assert!(
            std::path::Path::new(&format!("/proc/{host}")).exists(),
            "{name} was stopped by a failed reload"
        );
    }
    let (_, json) = s.client(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect(&json);
    assert!(v["last_reload"].is_null(), "{v}");

    // Fixed: `new` waits for the changed `edit`; `gone` is removed.
    std::fs::remove_file(s.join("services.d/bad.toml")).unwrap();
    std::fs::remove_file(s.join("services.d/gone.toml")).unwrap();
    std::fs::remove_file(s.join("services.d/gone2.toml")).unwrap();
    svc(
        &s,
        "new",
        "after = [\"edit\"]\ncommand = [\"sh\", \"-c\", 'echo new >> @D@/started; exec sleep 1000']\n",
    );
    let (code, out) = s.client(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("started new")
            && out.contains("stopped gone, gone2")
            && out.contains("restarted edit")
            && out.contains("1 unchanged"),
        "{out}"
    );
    let (_, edit2_host) = live_pid(&s, &run, "edit");
    let (_, _new_host) = live_pid(&s, &run, "new");
    assert!(
        wait_until(LONG, || !std::path::Path::new(&format!(
            "/proc/{gone_host}"
        ))
        .exists()),
        "gone still runs"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{edit_host}")).exists(),
        "the old edit still runs"
    );
    assert_ne!(edit2_host, edit_host);
    assert!(
        wait_until(LONG, || s.lines("order").len() == 3),
        "{:?}",
        s.lines("order")
    );
    assert_eq!(s.lines("order"), ["gone2-term", "gone2-exit", "gone-term"]);
    // The restart for the reload is no crash either.
    let row = s.status_row("edit");
    assert!(row["last_exit"].is_null() && row["restarts"] == 0, "{row}");
    // The unchanged service is the same process.
    assert_eq!(live_pid(&s, &run, "keep"), (keep_ns, keep_host));
    let started = s.lines("started");
    let pos = |t: &str| started.iter().position(|l| l == t);
    assert!(
        pos("edit-new").is_some() && pos("edit-new") < pos("new"),
        "{started:?}"
    );
    assert_eq!(
        started.iter().filter(|l| *l == "keep").count(),
        1,
        "{started:?}"
    );

    let (code, text) = s.client(&["status"]);
    assert_eq!(code, 0);
    assert!(!text.contains("\ngone "), "{text}");
    assert!(
        text.contains(
            "last reload: started new; stopped gone, gone2; restarted edit; 1 unchanged at "
        ),
        "{text}"
    );
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}

/// Poll `pidone healthcheck` (every 20 ms) until its exit code is `code`; returns when.
fn healthcheck_turns(s: &Scratch, code: i32, within: Duration) -> Instant {
    let mut last = (0, String::new());
    let mut when = Instant::now();
    let ok = wait_until(within, || {
        last = s.client(&["healthcheck"]);
        when = Instant::now();
        last.0 == code
    });
    assert!(ok, "healthcheck never exited {code}; last {last:?}");
    when
}

/// Issue 21: with a health check of `interval = 10s`, `pidone healthcheck` says healthy
/// within a second of the service being ready (the first check runs at readiness, not one
/// interval later), and turns unhealthy at the first failing check (retries = 1), not
/// earlier; the service's process is the same throughout (on_failure = "ignore").
#[test]
fn healthy_within_a_second_of_readiness_and_unhealthy_at_the_first_failed_check() {
    require_namespaces!();
    let s = Scratch::new();
    std::fs::write(s.join("healthy-flag"), "").unwrap();
    svc(
        &s,
        "web",
        r#"command = ["sleep", "1000"]
[ready]
file = "@D@/ready-flag"
interval = "50ms"
[health]
file = "@D@/healthy-flag"
interval = "10s"
retries = 1
on_failure = "ignore"
"#,
    );
    let run = common::start(&s, &[]);
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!((code, out.trim()), (1, "starting: web"));
    let (_, host) = {
        std::fs::write(s.join("ready-flag"), "").unwrap();
        let ready_at = Instant::now();
        let healthy_at = healthcheck_turns(&s, 0, LONG);
        let took = healthy_at - ready_at;
        assert!(
            took < Duration::from_secs(1),
            "healthy {took:?} after ready"
        );
        eprintln!("healthy {took:?} after the readiness file was written");
        live_pid(&s, &run, "web")
    };
    // The last check passed at readiness; the next runs 10 s later and fails.
    let passed_at = Instant::now();
    std::fs::remove_file(s.join("healthy-flag")).unwrap();
    let unhealthy_at = healthcheck_turns(&s, 1, LONG);
    let after = unhealthy_at - passed_at;
    assert!(
        after > Duration::from_secs(8) && after < Duration::from_secs(12),
        "unhealthy {after:?} after the last pass (interval 10s)"
    );
    let (_, out) = s.client(&["healthcheck"]);
    assert!(
        out.contains("unhealthy: web: health check failed:"),
        "{out}"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{host}")).exists(),
        "the service was not kept"
    );
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
}
