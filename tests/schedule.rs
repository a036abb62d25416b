//! Scheduled oneshots (issue 15), with the real binary as PID 1 of a fresh PID namespace.
//!
//! Runs are counted and timed by the files the task itself writes (nanosecond timestamps
//! taken by `date` in the task), reloads by the lines a longrun's own HUP trap appends, and
//! idleness by pidone's context switches in /proc. In service files `@D@` stands for the
//! scratch directory.

mod common;

use common::{Scratch, nanos, start, svc, wait_until};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn every_2s_runs_on_its_ticks_without_holding_cmd_and_reloads_after_success() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "renew",
        r#"kind = "oneshot"
schedule = "@every 2s"
then_reload = ["web"]
command = ["sh", "-c", "date +%s%N >> @D@/runs"]
"#,
    );
    svc(
        &s,
        "web",
        r#"command = ["sh", "-c", "trap 'date +%s%N >> @D@/hups' HUP; while :; do sleep 0.05; done"]
reload_signal = "HUP"
"#,
    );
    let begun = now_ns();
    let run = s.spawn_pid1(&[
        "--",
        "sh",
        "-c",
        &format!("date +%s%N > {}/cmd; exec sleep 1000", s.path().display()),
    ]);
    assert!(
        wait_until(LONG, || nanos(&s, "runs").len() >= 3),
        "fewer than 3 runs\n{}",
        run.stderr()
    );
    let runs = nanos(&s, "runs");
    let cmd = nanos(&s, "cmd");
    // CMD did not wait for the scheduled oneshot, and nothing ran at start.
    assert!(
        cmd[0] < runs[0],
        "CMD started after the first run: {cmd:?} {runs:?}"
    );
    let first_ms = (runs[0] - begun) / 1_000_000;
    assert!(
        first_ms >= 1900,
        "first run {first_ms} ms after start, not at its first tick"
    );
    // Every 2 s, counted from tick to tick (a loaded machine may delay one run a little).
    for w in runs.windows(2) {
        let gap = (w[1] - w[0]) / 1_000_000;
        assert!(
            (1700..=2600).contains(&gap),
            "runs {gap} ms apart: {runs:?}"
        );
    }
    // Each successful run reloaded web once, after the run.
    assert!(wait_until(LONG, || nanos(&s, "hups").len() >= runs.len()));
    let hups = nanos(&s, "hups");
    assert!(
        hups[0] > runs[0],
        "reload before the run: {hups:?} {runs:?}"
    );
    // Still running: a scheduled oneshot's runs do not end the container.
    let fin = run.stop(LONG);
    assert_eq!(fin.code, 143, "{}", fin.stderr);
    assert!(
        fin.stderr.contains("renew: next scheduled run in 2"),
        "{}",
        fin.stderr
    );
}

#[test]
fn a_run_still_going_at_the_next_tick_skips_it() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "slow",
        r#"kind = "oneshot"
schedule = "@every 1s"
command = ["sh", "-c", "date +%s%N >> @D@/starts; sleep 2.5; date +%s%N >> @D@/ends"]
"#,
    );
    let run = s.spawn_pid1(&["--", "sleep", "1000"]);
    assert!(
        wait_until(LONG, || nanos(&s, "starts").len() >= 3),
        "fewer than 3 runs\n{}",
        run.stderr()
    );
    let starts = nanos(&s, "starts");
    let ends = nanos(&s, "ends");
    // Never two at once: each run starts after the one before ended, at a later tick.
    for (n, w) in starts.windows(2).enumerate() {
        assert!(w[1] > ends[n], "run {} started before run {n} ended", n + 1);
        let gap = (w[1] - w[0]) / 1_000_000;
        assert!(gap >= 2500, "runs {gap} ms apart: {starts:?}");
    }
    let fin = run.stop(LONG);
    assert!(
        fin.stderr
            .contains("slow is still running at its next scheduled time; skipping that run"),
        "{}",
        fin.stderr
    );
    // The failing exit of a run stopped by shutdown is not what ended the run.
    assert_eq!(fin.code, 143, "{}", fin.stderr);
}

#[test]
fn far_tick_means_zero_wakeups_and_start_runs_one_now() {
    require_namespaces!();
    let s = Scratch::new();
    // New Year at midnight UTC: months away (or, on 31 December, hours) — far beyond the test.
    svc(
        &s,
        "yearly",
        r#"kind = "oneshot"
schedule = "0 0 1 1 *"
command = ["sh", "-c", "date +%s%N >> @D@/runs; exit 3"]
"#,
    );
    let run = start(&s, &["--", "sleep", "1000"]);
    assert!(wait_until(LONG, || s.status_row("yearly")["state"] == "scheduled"));
    // Status says when; health is not held by a task waiting for its tick.
    let next = s.status_row("yearly")["next_run_seconds"].as_f64().unwrap();
    assert!(next > 60.0, "next run in {next} s");
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!(code, 0, "{out}");
    // Let the one quiet-second wake-up (start-up pages released) pass, then measure.
    std::thread::sleep(Duration::from_millis(1300));
    let before = common::ctxt_switches(run.pid);
    std::thread::sleep(Duration::from_secs(2));
    let woke = common::ctxt_switches(run.pid) - before;
    assert_eq!(woke, 0, "pidone woke {woke} times between ticks");
    assert!(s.lines("runs").is_empty());
    // `start` runs it now; its failure is logged and the container goes on.
    let (code, out) = s.client(&["start", "yearly"]);
    assert_eq!(code, 0, "{out}");
    assert!(wait_until(LONG, || nanos(&s, "runs").len() == 1));
    assert!(wait_until(LONG, || s.status_row("yearly")["state"] == "scheduled"));
    // Its failed run leaves the container healthy.
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!(code, 0, "{out}");
    let (_, out) = s.client(&["status"]);
    assert!(out.contains("next run in"), "{out}");
    let mut run = run;
    assert!(run.alive());
    let fin = run.stop(LONG);
    assert!(
        fin.stderr.contains(
            "scheduled oneshot yearly exited with code 3; it runs again at its next tick"
        ),
        "{}",
        fin.stderr
    );
    assert!(
        fin.stderr.contains("yearly: next scheduled run 20"),
        "{}",
        fin.stderr
    );
    assert_eq!(nanos(&s, "runs").len(), 1);
}

#[test]
fn a_scheduled_run_is_supervised_like_any_oneshot_prefix_env_and_timeout() {
    require_namespaces!();
    let s = Scratch::new();
    // Each run prints, records its env and pid, then hangs past its timeout.
    svc(
        &s,
        "hung",
        r#"kind = "oneshot"
schedule = "@every 1s"
timeout = "500ms"
stop_timeout = "300ms"
env = { GREETING = "hello-from-env" }
command = ["sh", "-c", "echo \"run says $GREETING\"; echo $$ >> @D@/pids; exec sleep 30"]
"#,
    );
    let run = s.spawn_pid1(&["--", "sleep", "1000"]);
    assert!(
        wait_until(LONG, || s.lines("pids").len() >= 2),
        "fewer than 2 runs\n{}",
        run.stderr()
    );
    // The first run's process is gone (stopped at its timeout), not left behind.
    let first: i32 = s.lines("pids")[0].trim().parse().unwrap();
    let ns_pids: Vec<i32> = run.processes().iter().map(|p| p.ns_pid).collect();
    assert!(
        !ns_pids.contains(&first),
        "run 1 ({first}) still alive: {ns_pids:?}"
    );
    let fin = run.stop(LONG);
    let out = format!("{}{}", fin.stdout, fin.stderr);
    assert!(out.contains("[hung] run says hello-from-env"), "{out}");
    assert!(
        out.contains("scheduled oneshot hung timed out after 500ms"),
        "{out}"
    );
    // The timeouts did not end the container: it ended by our SIGTERM.
    assert_eq!(fin.code, 143, "{out}");
}

#[test]
fn a_named_tz_is_not_used_and_says_so_once() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "nightly",
        "kind = \"oneshot\"\nschedule = \"0 3 * * *\"\ncommand = [\"true\"]\n",
    );
    svc(
        &s,
        "offset",
        "kind = \"oneshot\"\nschedule = \"0 3 * * *\"\ntimezone = \"+01:00\"\ncommand = [\"true\"]\n",
    );
    let run = s.spawn_pid1_with(&["--", "sleep", "1000"], |c| {
        c.env("TZ", "Europe/Berlin");
    });
    assert!(wait_until(LONG, || run
        .stderr()
        .contains("next scheduled run")));
    let fin = run.stop(LONG);
    let warnings: Vec<&str> = fin.stderr.lines().filter(|l| l.contains("TZ=")).collect();
    assert_eq!(
        warnings,
        [
            "pidone: warning: TZ=Europe/Berlin is not used for schedules: nightly run on UTC times; give them `timezone` (\"UTC\" or an offset like \"+01:00\") to say which"
        ],
        "{}",
        fin.stderr
    );
}
