//! The init core (issue 2): pidone as PID 1 of a fresh PID namespace running a CMD.
//! Every assertion reads the kernel: exit codes, /proc/<pid>/status, files written by the
//! processes' own signal handlers.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn run_cmd(s: &Scratch, opts: &[&str], script: &str) -> (i32, String, Duration) {
    let mut args: Vec<&str> = vec!["--allow-root"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let (out, took) = run_with_timeout(s.pid1(&args), T);
    (out.status.code().unwrap_or(-1), text(&out.stderr), took)
}

#[test]
fn exit_codes_pass_through() {
    require_namespaces!();
    let s = Scratch::new();
    for code in [0, 1, 2, 42, 127, 200, 255] {
        let (got, err, _) = run_cmd(&s, &[], &format!("exit {code}"));
        assert_eq!(got, code, "stderr: {err}");
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    require_namespaces!();
    let s = Scratch::new();
    for sig in [libc::SIGKILL, libc::SIGSEGV, libc::SIGUSR1] {
        let (got, err, _) = run_cmd(&s, &[], &format!("kill -{sig} $$"));
        assert_eq!(got, 128 + sig, "stderr: {err}");
    }
}

#[test]
fn map_exit_rewrites_codes() {
    require_namespaces!();
    let s = Scratch::new();
    let (got, _, _) = run_cmd(&s, &["--map-exit", "143=0"], "kill -TERM $$");
    assert_eq!(got, 0);
    let (got, _, _) = run_cmd(&s, &["--map-exit", "143=0"], "exit 3");
    assert_eq!(got, 3);
    // Env form.
    let mut cmd = s.pid1(&["--allow-root", "--", "sh", "-c", "exit 7"]);
    cmd.env("PIDONE_MAP_EXIT", "7=9");
    let (out, _) = run_with_timeout(cmd, T);
    assert_eq!(out.status.code(), Some(9));
}

#[test]
fn command_not_found_and_not_executable() {
    require_namespaces!();
    let s = Scratch::new();
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", "/no/such/program"]), T);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );
    s.write("plain.txt", "not a program");
    std::fs::set_permissions(
        s.join("plain.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let p = s.join("plain.txt").display().to_string();
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", &p]), T);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_have_their_own_code() {
    let (out, _) = run_with_timeout(
        {
            let mut c = std::process::Command::new(bin());
            c.arg("--grace").arg("forever");
            c
        },
        T,
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("--grace"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn two_thousand_orphans_leave_no_zombie() {
    require_namespaces!();
    let s = Scratch::new();
    // Each orphan's parent (a subshell) exits at once, so PID 1 adopts 2000 processes that
    // then exit. The CMD counts zombies in the namespace after the storm.
    let script = format!(
        "i=0; while [ $i -lt 2000 ]; do (sleep 0.01 &) ; i=$((i+1)); done; sleep 1; \
         grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l > {}",
        s.join("zombies").display()
    );
    let (code, err, _) = run_cmd(&s, &[], &script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.read("zombies").trim(), "0");
}

#[test]
fn forwarded_signals_reach_cmd() {
    require_namespaces!();
    let s = Scratch::new();
    let sigs = ["HUP", "USR1", "USR2", "WINCH", "ALRM", "CONT", "URG"];
    let log = s.join("got").display().to_string();
    let traps: String = sigs
        .iter()
        .map(|sig| format!("trap 'echo {sig} >> {log}' {sig}; "))
        .collect();
    let script = format!("{traps} echo ready > {log}.ready; while :; do sleep 0.05; done");
    let mut cmd = s.pid1(&["--allow-root", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pidone = child_of(child.id(), T).expect("pidone pid");
    assert!(wait_until(T, || s.join("got.ready").exists()));
    for sig in sigs {
        let n = match sig {
            "HUP" => libc::SIGHUP,
            "USR1" => libc::SIGUSR1,
            "USR2" => libc::SIGUSR2,
            "WINCH" => libc::SIGWINCH,
            "ALRM" => libc::SIGALRM,
            "CONT" => libc::SIGCONT,
            _ => libc::SIGURG,
        };
        send(pidone, n);
        assert!(
            wait_until(Duration::from_secs(5), || s
                .read("got")
                .lines()
                .any(|l| l == sig)),
            "{sig} did not reach CMD; got {:?}",
            s.read("got")
        );
    }
    send(pidone, libc::SIGTERM);
    let out = wait_output(child, T);
    assert_eq!(out.status.code(), Some(143));
}

#[test]
fn real_time_signals_are_forwarded() {
    // SIGRTMIN is the C library's number (glibc keeps 32-33 for itself, musl 32-34): python
    // says which one it listens on, and that is the number sent, whatever libc this test and
    // pidone are built with.
    assert_forwarded_to_cmd("signal.SIGRTMIN+3");
}

/// 34 is glibc's SIGRTMIN (`docker kill -s RTMIN`), a number musl reserves: the musl build must
/// take it all the same (signals.rs).
#[test]
fn signal_34_is_forwarded_whatever_libc_pidone_uses() {
    assert_forwarded_to_cmd("34");
}

/// pidone as PID 1 with a python CMD that traps the signal `py_signal` (a python expression),
/// sent to pidone from outside the namespace: CMD must get it.
fn assert_forwarded_to_cmd(py_signal: &str) {
    require_namespaces!();
    let s = Scratch::new();
    // sh cannot trap RT signals portably; python can.
    let marker = s.join("rt").display().to_string();
    let py = format!(
        "import signal,sys,time\n\
         signal.signal({py_signal}, lambda *a: open('{marker}','w').write('rt'))\n\
         open('{marker}.ready','w').write(str(int({py_signal})))\n\
         while True: time.sleep(0.05)\n"
    );
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("1")
        .status()
        .is_err()
    {
        skip!("python3 not available");
    }
    let mut cmd = s.pid1(&["--allow-root", "--", "python3", "-c", &py]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pidone = child_of(child.id(), T).unwrap();
    assert!(wait_until(T, || !s.read("rt.ready").is_empty()));
    let signal: i32 = s.read("rt.ready").parse().unwrap();
    send(pidone, signal);
    assert!(
        wait_until(Duration::from_secs(5), || s.read("rt") == "rt"),
        "signal {signal} sent to pidone did not reach CMD"
    );
    send(pidone, libc::SIGTERM);
    wait_output(child, T);
}

#[test]
fn grandchild_term_handler_of_one_second_completes() {
    require_namespaces!();
    let s = Scratch::new();
    let done = s.join("grandchild-done").display().to_string();
    // The grandchild traps TERM, works for 1 s, then writes its marker. CMD exits at once.
    let script = format!(
        "sh -c 'trap \"sleep 1; echo finished > {done}; exit 0\" TERM; echo > {done}.ready; while :; do sleep 0.05; done' & \
         while [ ! -e {done}.ready ]; do sleep 0.02; done; exit 0"
    );
    let (code, err, took) = run_cmd(&s, &[], &script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.read("grandchild-done").trim(), "finished", "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn process_ignoring_term_is_killed_at_the_grace_deadline() {
    require_namespaces!();
    let s = Scratch::new();
    let script = "trap '' TERM; sh -c \"trap '' TERM; while :; do sleep 0.05; done\" & exit 0";
    let (code, err, took) = run_cmd(&s, &["--grace", "1s"], script);
    assert_eq!(code, 0, "{err}");
    assert!(
        took >= Duration::from_millis(950),
        "killed too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "killed too late: {took:?}"
    );
    assert!(err.contains("SIGKILL"), "{err}");
}

#[test]
fn subreaper_when_not_pid1() {
    // No namespace: pidone is an ordinary process, so it must make itself a subreaper to
    // adopt the orphan and drain it.
    let s = Scratch::new();
    let done = s.join("orphan-done").display().to_string();
    let script = format!(
        "(sh -c 'trap \"echo drained > {done}; exit 0\" TERM; echo > {done}.ready; while :; do sleep 0.05; done' &); \
         while [ ! -e {done}.ready ]; do sleep 0.02; done; exit 5"
    );
    let mut cmd = std::process::Command::new(bin());
    cmd.args(s.dir_args())
        .args(["--allow-root", "--", "sh", "-c", &script]);
    s.write("pidone.toml", "");
    let (out, _) = run_with_timeout(cmd, T);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(
        s.read("orphan-done").trim(),
        "drained",
        "{}",
        text(&out.stderr)
    );
}

/// Start pidone (as root, dropping privileges) with CMD `sleep 30` and return the host pid
/// of that sleep, to read its /proc status from outside.
fn dropped_cmd(s: &Scratch, opts: &[&str]) -> (std::process::Child, i32, i32) {
    let mut args: Vec<&str> = opts.to_vec();
    args.extend_from_slice(&["--", "sleep", "30"]);
    let mut cmd = s.pid1(&args);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pidone = child_of(child.id(), T).expect("pidone");
    let sleep = child_of(pidone as u32, T).expect("CMD");
    // Wait until it has exec'd (the forked child briefly is still pidone).
    assert!(wait_until(T, || std::fs::read_to_string(format!(
        "/proc/{sleep}/comm"
    ))
    .is_ok_and(|c| c.trim() == "sleep")));
    (child, pidone, sleep)
}

#[test]
fn privilege_drop_as_root_is_visible_in_proc() {
    require_namespaces!();
    if !is_root() {
        skip!("needs root");
    }
    let s = Scratch::new();
    let (child, pidone, sleep) = dropped_cmd(&s, &["--user", "1500:1600"]);
    for pid in [pidone, sleep] {
        assert_eq!(status_field(pid, "Uid").unwrap(), "1500\t1500\t1500\t1500");
        assert_eq!(status_field(pid, "Gid").unwrap(), "1600\t1600\t1600\t1600");
        assert_eq!(status_field(pid, "Groups").unwrap(), "1600");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                status_field(pid, set).unwrap(),
                "0000000000000000",
                "{set} of {pid}"
            );
        }
        assert_eq!(status_field(pid, "NoNewPrivs").unwrap(), "1");
    }
    send(pidone, libc::SIGTERM);
    let out = wait_output(child, T);
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
}

#[test]
fn default_user_is_nobody_and_keep_cap_is_ambient() {
    require_namespaces!();
    if !is_root() {
        skip!("needs root");
    }
    let s = Scratch::new();
    let (child, pidone, sleep) = dropped_cmd(&s, &["--keep-cap", "NET_BIND_SERVICE"]);
    assert_eq!(
        status_field(sleep, "Uid").unwrap(),
        "65534\t65534\t65534\t65534"
    );
    for set in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            status_field(sleep, set).unwrap(),
            "0000000000000400",
            "{set}"
        );
    }
    send(pidone, libc::SIGTERM);
    wait_output(child, T);
}

#[test]
fn non_root_start_still_sets_no_new_privs() {
    require_namespaces!();
    if !is_root() {
        skip!("needs root to become an arbitrary uid");
    }
    let s = Scratch::new();
    let any_user_bin = s.bin_for_any_user();
    // Start pidone itself as uid 4242 gid 0 (the OpenShift case), as PID 1.
    let prefix = unshare_prefix();
    let mut cmd = std::process::Command::new(&prefix[0]);
    cmd.args(&prefix[1..])
        .args([
            "setpriv",
            "--reuid",
            "4242",
            "--regid",
            "0",
            "--clear-groups",
            &any_user_bin,
        ])
        .args(s.dir_args())
        .args([
            "--",
            "sh",
            "-c",
            "grep -E '^(Uid|NoNewPrivs|CapAmb|CapInh)' /proc/self/status",
        ]);
    s.write("pidone.toml", "");
    let (out, _) = run_with_timeout(cmd, T);
    let o = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(o.contains("Uid:\t4242\t4242\t4242\t4242"), "{o}");
    assert!(o.contains("NoNewPrivs:\t1"), "{o}");
    assert!(o.contains("CapAmb:\t0000000000000000"), "{o}");
}

#[test]
fn refuses_root_target_without_opt_in() {
    require_namespaces!();
    if !is_root() {
        skip!("needs root to start pidone as root");
    }
    let s = Scratch::new();
    let (out, _) = run_with_timeout(s.pid1(&["--user", "0:0", "--", "true"]), T);
    assert_eq!(out.status.code(), Some(77), "{}", text(&out.stderr));
}

#[test]
fn ctrl_c_on_a_tty_reaches_cmd() {
    require_namespaces!();
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skip!("util-linux `script` not available");
    }
    let s = Scratch::new();
    let marker = s.join("int").display().to_string();
    let inner = format!(
        "{} {} --allow-root -- sh -c 'trap \"echo got-int > {marker}; exit 130\" INT; echo ready; while :; do sleep 0.05; done'",
        unshare_prefix().join(" "),
        bin(),
    );
    let inner = inner.replace(
        &format!("{} --allow-root", bin()),
        &format!("{} {} --allow-root", bin(), s.dir_args().join(" ")),
    );
    s.write("pidone.toml", "");
    // `script` gives the command a pseudo-terminal; bytes on its stdin are typed into it.
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ready") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(T).expect("CMD never printed ready");
    let start = Instant::now();
    stdin.write_all(&[3]).unwrap(); // Ctrl-C
    stdin.flush().unwrap();
    assert!(wait_until(Duration::from_secs(10), || s.read("int").trim()
        == "got-int"));
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < T, "pidone did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
}

#[test]
fn idle_pidone_makes_no_wakeups() {
    require_namespaces!();
    let s = Scratch::new();
    let mut cmd = s.pid1(&["--allow-root", "--", "sleep", "30"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pidone = child_of(child.id(), T).unwrap();
    // After its first quiet second pidone wakes once to release its start-up pages; from
    // then on it must not wake at all.
    std::thread::sleep(Duration::from_millis(1500));
    let switches = || common::ctxt_switches(pidone);
    let before = switches();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(switches(), before, "pidone woke up while idle");
    assert!(status_field(pidone, "State").unwrap().starts_with('S'));
    send(pidone, libc::SIGTERM);
    wait_output(child, T);
}

#[test]
fn term_during_start_up_is_not_lost() {
    require_namespaces!();
    let s = Scratch::new();
    // The global file is a FIFO, so pidone blocks in start-up (reading it) until we write.
    let fifo = s.join("pidone.toml");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
    let mut cmd = s.pid1(&["--allow-root", "--", "sleep", "30"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pidone = child_of(child.id(), T).unwrap();
    // Wait until it is blocked opening the FIFO, then TERM it: as PID 1 without a handler
    // yet, an unblocked TERM would simply be dropped by the kernel.
    assert!(wait_until(T, || std::fs::read_to_string(format!(
        "/proc/{pidone}/wchan"
    ))
    .is_ok_and(|w| w.contains("partner")
        || w.contains("fifo")
        || w.contains("pipe"))));
    send(pidone, libc::SIGTERM);
    std::fs::write(&fifo, "").unwrap();
    let start = Instant::now();
    let out = wait_output(child, T);
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the TERM was lost"
    );
}

/// HOME, USER and LOGNAME follow the identity pidone switched to, and are left alone when it
/// switched to none (`--allow-root` without `--user`). Read from CMD's /proc/self/environ.
#[test]
fn home_and_user_follow_the_identity_pidone_switched_to() {
    require_namespaces!();
    let s = Scratch::new();
    // $$, not self: /proc/self/environ opened for `tr` before its exec reads nothing after it.
    let show = "tr '\\0' '\\n' < /proc/$$/environ | grep -E '^(HOME|USER|LOGNAME)=' | sort";
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--", "sh", "-c", show]);
        let mut cmd = s.pid1(&all);
        cmd.env("HOME", "/srv/app")
            .env("USER", "app")
            .env("LOGNAME", "app");
        let (out, _) = run_with_timeout(cmd, T);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        run(&["--allow-root"]),
        "HOME=/srv/app\nLOGNAME=app\nUSER=app\n",
        "staying root without --user must not rewrite the runtime's HOME/USER"
    );
    if !is_root() {
        skip!("the drop half needs root (the first half ran)");
    }
    // The default user, 65534, is `nobody` in Debian's /etc/passwd.
    assert_eq!(run(&[]), "HOME=/nonexistent\nLOGNAME=nobody\nUSER=nobody\n");
}

/// The global file's `user` is the image's answer to "started as root": a non-root start
/// (`docker run --user 4242:0`) is the documented way around it and must not warn. A
/// `PIDONE_USER` given for this very run that cannot be applied is still reported.
#[test]
fn non_root_start_warns_only_about_an_explicit_user() {
    let s = Scratch::new();
    s.write("pidone.toml", "user = \"4243:0\"\n");
    let run = |explicit: bool| {
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid", "4242", "--regid", "0", "--clear-groups"])
                .arg(s.bin_for_any_user());
            c
        } else {
            std::process::Command::new(bin())
        };
        cmd.args(s.dir_args()).args(["--", "true"]);
        if explicit {
            cmd.env("PIDONE_USER", "4243:0");
        }
        let (out, _) = run_with_timeout(cmd, T);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let from_file = run(false);
    assert!(
        !from_file.contains("ignored"),
        "the image's user from pidone.toml must not be warned about:\n{from_file}"
    );
    let explicit = run(true);
    assert!(
        explicit.contains("warning: --user \"4243:0\"") && explicit.contains("ignored"),
        "an explicit PIDONE_USER that is not applied must be reported:\n{explicit}"
    );
}

/// A test that cannot run here must not hide among the passed ones: run this binary's root-only
/// `refuses_root_target_without_opt_in` as a non-root uid and read what it reports. It prints
/// `SKIPPED: name: reason` and the binary ends with the list of skipped tests; under
/// `PIDONE_NO_SKIPS=1` (CI) the same skip is a failure.
#[test]
fn tests_that_cannot_run_are_reported_skipped() {
    let s = Scratch::new();
    let me = std::env::current_exe().unwrap();
    let run = |no_skips: bool| {
        let mut cmd = if is_root() {
            // a copy any uid can execute (the checkout may be under /root)
            let copy = s.join("core-tests");
            if !copy.exists() {
                std::fs::copy(&me, &copy).unwrap();
            }
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid", "4242", "--regid", "4242", "--clear-groups"])
                .arg(&copy);
            c
        } else {
            std::process::Command::new(&me)
        };
        cmd.args(["--exact", "refuses_root_target_without_opt_in"])
            .current_dir(s.dir.path())
            .env_remove("PIDONE_NO_SKIPS");
        if no_skips {
            cmd.env("PIDONE_NO_SKIPS", "1");
        }
        let (out, _) = run_with_timeout(cmd, T);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = run(false);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("SKIPPED: refuses_root_target_without_opt_in: "),
        "{stderr}"
    );
    let summary = stdout
        .split("test result: ok. 1 passed")
        .nth(1)
        .unwrap_or_else(|| panic!("no test result line:\n{stdout}"));
    assert!(
        summary.contains("SKIPPED: 1 test(s) of this binary counted as passed above did not run:")
            && summary.contains("refuses_root_target_without_opt_in: "),
        "no list of skipped tests after libtest's summary:\n{stdout}"
    );

    let (code, stdout, stderr) = run(true);
    assert_ne!(code, Some(0), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("PIDONE_NO_SKIPS=1 forbids skipping"),
        "{stdout}{stderr}"
    );
}
