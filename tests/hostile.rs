//! Hostile input (issue 12): a service, another local uid or a crafted value cannot hang,
//! bloat or fool PID 1.
//!
//! pidone runs as PID 1 of a fresh PID namespace (tests/common). What is asserted comes from
//! the kernel: process states and VmRSS in /proc, open descriptors in /proc/PID/fd, file modes
//! and owners, exit codes. In service files, `@D@` stands for the scratch directory.

mod common;

use common::{Running, Scratch, start, svc, wait_until};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// VmRSS of a process in KiB, from /proc.
fn rss_kib(pid: i32) -> u64 {
    common::status_field(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// The status row of `name` answered within `within` (panics if not).
fn status_row_within(s: &Scratch, name: &str, within: Duration) -> serde_json::Value {
    let t = Instant::now();
    let row = s.status_row(name);
    assert!(
        t.elapsed() < within,
        "status took {:?}: PID 1 is not responsive",
        t.elapsed()
    );
    row
}

/// After TERM: pidone ended within a few seconds and left no zombie behind while it ran.
fn assert_clean_stop(run: Running) -> common::Finished {
    let zombies: Vec<_> = run
        .processes()
        .into_iter()
        .filter(|p| p.state == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    let done = run.stop(LONG);
    assert!(
        done.elapsed < Duration::from_secs(5),
        "TERM took {:?}\n{}",
        done.elapsed,
        done.stderr
    );
    done
}

/// A oneshot that replaces its env hand-off file (with `what`), a longrun after it (which
/// fails with it), and one that keeps pidone running. Not critical, so that pidone keeps
/// running and can be probed (a critical one would end the run with its failure).
fn handoff_attack(s: &Scratch, what: &str) {
    svc(
        s,
        "evil",
        &format!(
            "kind = \"oneshot\"\ncritical = false\nexport_env = true\ncommand = [\"sh\", \"-c\", \"rm -f \\\"$PIDONE_ENV_FILE\\\"; {what} \\\"$PIDONE_ENV_FILE\\\"\"]\n"
        ),
    );
    svc(
        s,
        "after",
        "after = [\"evil\"]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    svc(s, "web", "command = [\"sleep\", \"1000\"]\n");
}

#[test]
fn env_file_made_a_fifo_does_not_hang_pid1() {
    require_namespaces!();
    let s = Scratch::new();
    handoff_attack(&s, "mkfifo");
    let run = start(&s, &[]);
    let row = {
        let mut row = serde_json::Value::Null;
        assert!(
            wait_until(LONG, || {
                row = status_row_within(&s, "evil", Duration::from_secs(3));
                row["state"] != "starting" && row["state"] != "waiting"
            }),
            "evil never finished: {row}"
        );
        row
    };
    // The hand-off could not be read: the oneshot counts as failed, with the file named.
    assert_eq!(row["state"], "failed", "{row}");
    let err = run.stderr();
    assert!(
        err.contains("env/evil.env") && err.contains("a FIFO, not a regular file"),
        "{err}"
    );
    // PID 1 is in poll, not stuck in fifo_open.
    let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", run.pid)).unwrap_or_default();
    assert!(!wchan.contains("fifo"), "PID 1 waits in {wchan}");
    let done = assert_clean_stop(run);
    assert!(
        !s.join("run/env/evil.env").exists(),
        "hand-off left behind\n{}",
        done.stderr
    );
}

#[test]
fn env_file_symlinked_to_dev_zero_does_not_grow_pid1() {
    require_namespaces!();
    let s = Scratch::new();
    handoff_attack(&s, "ln -s /dev/zero");
    let run = start(&s, &[]);
    assert!(
        wait_until(LONG, || run.stderr().contains("refusing to follow")),
        "{}",
        run.stderr()
    );
    let row = status_row_within(&s, "evil", Duration::from_secs(3));
    assert_eq!(row["state"], "failed", "{row}");
    // Reading /dev/zero grows by about a gigabyte a second; pidone stays a few MiB.
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(run.pid);
    assert!(rss < 16 * 1024, "PID 1 VmRSS {rss} KiB");
    assert!(run.stderr().contains("env/evil.env"), "{}", run.stderr());
    assert_clean_stop(run);
}

#[test]
fn env_file_over_the_limit_is_refused_with_the_limit_named() {
    require_namespaces!();
    let s = Scratch::new();
    // 300 KiB of valid lines: over the 256 KiB limit.
    handoff_attack(
        &s,
        "yes A=0123456789012345678901234567890123456789 | head -c 307200 >",
    );
    let run = start(&s, &[]);
    assert!(
        wait_until(LONG, || run.stderr().contains("limit of 262144 bytes")),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("env/evil.env"), "{}", run.stderr());
    let rss = rss_kib(run.pid);
    assert!(rss < 16 * 1024, "PID 1 VmRSS {rss} KiB");
    assert_clean_stop(run);
}

#[test]
fn env_file_is_0600_under_umask_0_and_removed_after_use() {
    require_namespaces!();
    let s = Scratch::new();
    svc(
        &s,
        "prepare",
        r#"kind = "oneshot"
export_env = true
command = ["sh", "-c", "stat -c %a \"$PIDONE_ENV_FILE\" > @D@/mode; echo TOKEN=abc >> \"$PIDONE_ENV_FILE\"; for i in $(seq 20); do echo bad >> \"$PIDONE_ENV_FILE\"; done"]
"#,
    );
    svc(
        &s,
        "user",
        r#"after = ["prepare"]
command = ["sh", "-c", "echo \"$TOKEN\" > @D@/token; exec sleep 1000"]
"#,
    );
    let run = s.spawn_pid1_with(&[], |cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    });
    assert!(
        wait_until(LONG, || s.read("token").trim() == "abc"),
        "{}",
        run.stderr()
    );
    assert_eq!(s.read("mode").trim(), "600");
    // Merged and gone while pidone still runs.
    assert!(!s.join("run/env/prepare.env").exists());
    let done = run.stop(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(!s.join("run/env").exists(), "env dir left behind");
    // 20 bad lines: five are shown, the rest counted (a flood must not flood PID 1's log).
    assert_eq!(
        done.stderr.matches("not KEY=VALUE; line ignored").count(),
        5
    );
    assert!(done.stderr.contains("15 more lines"), "{}", done.stderr);
}

/// `pidone render` with `env` added; returns (exit code, stderr), panicking if it hangs.
fn render_with(s: &Scratch, env: &[(&str, &str)]) -> (i32, String, Duration) {
    let mut cmd = Command::new(common::bin());
    cmd.args(s.dir_args()).arg("render");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("PIDONE_SECRETS_DIR", s.join("secrets"));
    let (out, took) = common::run_with_timeout(cmd, LONG);
    (
        out.status.code().unwrap_or(-1),
        common::text(&out.stderr),
        took,
    )
}

#[test]
fn x_file_naming_a_device_a_fifo_or_a_huge_file_fails_fast_naming_it() {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    s.write("templates/app.conf.tera", "pw={{ env.PW }}\n");
    let fifo = s.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = s.join("big");
    std::fs::write(&big, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let cases = [
        ("/dev/zero".to_string(), "a character device"),
        (fifo.display().to_string(), "a FIFO"),
        (big.display().to_string(), "limit of 1048576 bytes"),
    ];
    for (path, why) in cases {
        let (code, err, took) = render_with(&s, &[("PW_FILE", &path)]);
        assert_eq!(code, 65, "{path}: {err}");
        assert!(err.contains(&path) && err.contains(why), "{path}: {err}");
        assert!(took < Duration::from_secs(5), "{path}: took {took:?}");
        assert!(!s.join("rendered").exists(), "{path}: rendered something");
    }
    // The same in the secrets dir.
    std::fs::create_dir(s.join("secrets")).unwrap();
    std::fs::copy(&big, s.join("secrets/pw")).unwrap();
    s.write("templates/app.conf.tera", "pw={{ secrets.pw }}\n");
    let (code, err, _) = render_with(&s, &[]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("secrets/pw") && err.contains("limit of 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn render_step_with_a_fifo_secret_keeps_pid1_responsive() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("templates/app.conf.tera", "pw={{ env.PW }}\n");
    let fifo = s.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = s.spawn_pid1_with(&[], |cmd| {
        cmd.env("PW_FILE", &fifo);
    });
    let done = run.finish(LONG);
    assert_eq!(done.code, 65, "{}", done.stderr);
    assert!(
        done.stderr.contains("a FIFO") && done.stderr.contains(&fifo.display().to_string()),
        "{}",
        done.stderr
    );
}

/// `Scratch::bin_for_any_user`, once it can be executed: while another test thread forks,
/// its child holds the copy's write descriptor until it execs (ETXTBSY meanwhile).
fn any_user_bin(s: &Scratch) -> String {
    let bin = s.bin_for_any_user();
    let ready = wait_until(LONG, || {
        Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(ready, "{bin} never became executable");
    bin
}

fn root_only() -> bool {
    if !common::is_root() {
        eprintln!("skipped: needs root (creates directories as other uids)");
        return false;
    }
    true
}

fn chown(path: &Path, uid: u32) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
    )
    .unwrap();
}

#[test]
fn run_dir_planted_by_another_uid_is_refused() {
    require_namespaces!();
    if !root_only() {
        return;
    }
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run_dir = s.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    chown(&run_dir, 4242);
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 73, "{}", done.stderr);
    assert!(
        done.stderr.contains(&run_dir.display().to_string())
            && done.stderr.contains("owned by uid 4242"),
        "{}",
        done.stderr
    );
    assert!(!run_dir.join("control.sock").exists());
    // Group- or world-writable but ours: refused too, naming the mode.
    chown(&run_dir, 65534);
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 73, "{}", done.stderr);
    assert!(done.stderr.contains("mode 0777"), "{}", done.stderr);
    // A symlink to a good directory is refused as well.
    std::fs::remove_dir(&run_dir).unwrap();
    std::fs::create_dir(s.join("elsewhere")).unwrap();
    chown(&s.join("elsewhere"), 65534);
    std::os::unix::fs::symlink(s.join("elsewhere"), &run_dir).unwrap();
    let done = s.spawn_pid1(&[]).finish(LONG);
    assert_eq!(done.code, 73, "{}", done.stderr);
    assert!(done.stderr.contains("is a symlink"), "{}", done.stderr);
}

/// `setpriv` to `uid` (same gid, no groups) running `args`, without XDG_RUNTIME_DIR.
fn as_uid(uid: u32, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    let id = uid.to_string();
    cmd.args(["--reuid", &id, "--regid", &id, "--clear-groups"])
        .args(args)
        .env_remove("XDG_RUNTIME_DIR");
    cmd
}

#[test]
fn fallback_run_dir_planted_by_another_uid_is_refused_by_server_and_client() {
    if !root_only() {
        return;
    }
    let s = Scratch::new();
    let bin = any_user_bin(&s);
    // A uid of its own for this test, so /tmp/pidone-UID is not shared with other tests.
    let victim = 47113;
    let fallback = std::path::PathBuf::from(format!("/tmp/pidone-{victim}"));
    let _ = std::fs::remove_dir_all(&fallback);
    // The attacker (uid 65534) plants the victim's fallback dir and serves a fake socket.
    std::fs::create_dir(&fallback).unwrap();
    chown(&fallback, 65534);
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut fake = as_uid(65534, &["/usr/bin/python3", "-c"]);
    fake.arg(
        "import socket,sys\n\
         import os\n\
         s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(8)\n\
         while True:\n    c,_=s.accept()\n    try: c.recv(100); c.sendall(b'0\\nnull\\nhealthy\\n')\n    except OSError: pass\n    c.close()\n",
    )
    .arg(fallback.join("control.sock"));
    let mut fake = fake.spawn().unwrap();
    assert!(wait_until(LONG, || fallback.join("control.sock").exists()));

    // The victim's healthcheck (no run dir of its own: /nonexistent) must not believe it.
    let mut hc = as_uid(
        victim,
        &[&bin, "--run-dir", "/nonexistent/run", "healthcheck"],
    );
    hc.current_dir("/");
    let (out, _) = common::run_with_timeout(hc, LONG);
    let said = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(77), "{said}");
    assert!(said.contains("not trusting"), "{said}");
    let _ = fake.kill();
    let _ = fake.wait();

    // The victim's pidone, using the default run dir (/run/pidone is root's, so it falls back
    // to /tmp/pidone-UID), refuses the planted directory instead of adopting it.
    let svcdir = s.join("services.d");
    let victims_pidone = || {
        let mut pidone = as_uid(
            victim,
            &[
                &bin,
                "--services-dir",
                svcdir.to_str().unwrap(),
                "--",
                "true",
            ],
        );
        pidone.current_dir("/").env_remove("PIDONE_RUN_DIR");
        pidone
    };
    let (out, _) = common::run_with_timeout(victims_pidone(), LONG);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.contains(&fallback.display().to_string()) && err.contains("owned by uid 65534"),
        "{err}"
    );
    std::fs::remove_dir_all(&fallback).unwrap();

    // Without a planted dir, the fallback is created 0700 for the victim and used.
    let (out, _) = common::run_with_timeout(victims_pidone(), LONG);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let meta = std::fs::symlink_metadata(&fallback).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (victim, 0o700));
    std::fs::remove_dir_all(&fallback).unwrap();
}

/// A fresh copy of the demo (services.d, templates, pidone.toml): no target/ yet.
fn demo_copy() -> Scratch {
    let s = Scratch::new();
    std::fs::remove_dir(s.join("services.d")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cp = Command::new("cp")
        .args(["-r", "services.d", "templates", "pidone.toml"])
        .arg(s.path())
        .current_dir(repo)
        .status()
        .unwrap();
    assert!(cp.success());
    s
}

#[test]
fn the_readme_demo_works_as_an_ordinary_user() {
    let s = demo_copy();
    let bin = any_user_bin(&s);
    let mut cmd = if common::is_root() {
        as_uid(4001, &[&bin])
    } else {
        Command::new(&bin)
    };
    cmd.args(["--config", "pidone.toml", "--once"])
        .current_dir(s.path())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin");
    let (out, _) = common::run_with_timeout(cmd, Duration::from_secs(30));
    let said = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("frontend: demo finished"), "{said}");
}

#[test]
fn the_readme_demo_works_as_root() {
    if !root_only() {
        return;
    }
    // Run as the README says, through the binary: relative run and render dirs.
    let s = demo_copy();
    let mut cmd = Command::new(any_user_bin(&s));
    cmd.args(["--config", "pidone.toml", "--once"])
        .current_dir(s.path())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("PIDONE_ALLOW_ROOT")
        .env_remove("PIDONE_USER");
    let (out, _) = common::run_with_timeout(cmd, Duration::from_secs(30));
    let said = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("frontend: demo finished"), "{said}");
    // Made before the drop, for the user pidone dropped to.
    for (dir, mode) in [
        ("target", 0o755),
        ("target/demo", 0o750),
        ("target/demo/run", 0o700),
    ] {
        let m = std::fs::symlink_metadata(s.join(dir)).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o7777), (65534, mode), "{dir}");
    }
    assert!(s.join("target/demo/demo/app.conf").is_file());
}

#[test]
fn idle_connections_cannot_lock_out_healthcheck_and_are_closed() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", run.pid))
            .unwrap()
            .count()
    };
    assert!(wait_until(LONG, || s.client(&["healthcheck"]).0 == 0));
    let baseline = fds();
    let sock = s.join("run/control.sock");
    let idle: Vec<_> = (0..40)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).unwrap())
        .collect();
    // All connected and accepted (at most 32 held).
    assert!(wait_until(LONG, || fds() >= baseline + 30), "{}", fds());
    let t = Instant::now();
    let (code, out) = s.client(&["healthcheck"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    // Connections that send nothing are closed at their deadline.
    assert!(
        wait_until(Duration::from_secs(5), || fds() == baseline),
        "PID 1 still holds {} fds (baseline {baseline})",
        fds()
    );
    drop(idle);
    // Clients that send a request but never read the answer nor close: closed at the reply
    // deadline (the server otherwise waits for their EOF).
    let stalled: Vec<_> = (0..10)
        .map(|_| {
            use std::io::Write;
            let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
            c.write_all(b"status\n").unwrap();
            c
        })
        .collect();
    assert!(wait_until(LONG, || fds() >= baseline + 10), "{}", fds());
    assert!(
        wait_until(Duration::from_secs(5), || fds() == baseline),
        "PID 1 still holds {} fds (baseline {baseline})",
        fds()
    );
    drop(stalled);
    assert_clean_stop(run);
}

#[test]
fn a_failed_render_leaves_no_new_directories() {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    // `sub/dir/y.conf` is staged (creating sub/ and sub/dir/) before `x.conf` is refused
    // because it exists as a symlink: the render fails as a whole.
    s.write("templates/sub/dir/y.conf.tera", "y\n");
    s.write("templates/x.conf.tera", "x\n");
    let render_dir = s.join("rendered");
    std::fs::create_dir(&render_dir).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", render_dir.join("x.conf")).unwrap();
    let (code, err, _) = render_with(&s, &[]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("is a symlink"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&render_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["x.conf"], "left behind: {left:?}");
}

#[test]
fn capabilities_that_undo_the_drop_need_an_explicit_override() {
    require_namespaces!();
    if !root_only() {
        return;
    }
    let s = Scratch::new();
    let args = ["--keep-cap", "SYS_PTRACE", "--", "cat", "/proc/self/status"];
    let done = s.spawn_pid1(&args).finish(LONG);
    assert_eq!(done.code, 77, "{}", done.stderr);
    assert!(
        done.stderr.contains("refusing to keep CAP_SYS_PTRACE")
            && done.stderr.contains("--allow-dangerous-caps"),
        "{}",
        done.stderr
    );
    assert!(!done.stdout.contains("CapEff"), "CMD ran: {}", done.stdout);
    // With the override: kept (bit 19 in the CMD's effective set), and said loudly.
    let mut with = vec!["--allow-dangerous-caps"];
    with.extend(args);
    let done = s.spawn_pid1(&with).finish(LONG);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.contains("CapEff:\t0000000000080000"),
        "{}",
        done.stdout
    );
    assert!(
        done.stderr
            .contains("keeping CAP_SYS_PTRACE (allow_dangerous_caps)"),
        "{}",
        done.stderr
    );
}

/// Render `template` with `env` through `pidone render`; returns the error output.
fn render_error(template: &str, env: &[(&str, &str)]) -> String {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    s.write("templates/app.conf.tera", template);
    let (code, err, _) = render_with(&s, env);
    assert_eq!(code, 65, "{template}: {err}");
    err
}

#[test]
fn values_derived_from_a_secret_do_not_leak_into_errors() {
    // Lower-cased: Tera prints the missing key.
    let err = render_error(
        "{{ env | get(key=env.DB_PASSWORD | lower) }}\n",
        &[("DB_PASSWORD", "Hunter2Secret")],
    );
    assert!(!err.to_lowercase().contains("hunter2secret"), "{err}");
    assert!(err.contains("this template reads a secret"), "{err}");
    // One part of a split secret.
    let err = render_error(
        "{{ env | get(key=(env.API_TOKEN | split(sep=':'))[1]) }}\n",
        &[("API_TOKEN", "alpha7:bravo9x")],
    );
    assert!(!err.contains("bravo9x"), "{err}");
    // A short secret joined to text, and a secret read from a file (X_FILE).
    let s = Scratch::new();
    s.write("pidone.toml", "");
    s.write("pw", "pw12\n");
    s.write(
        "templates/app.conf.tera",
        "{{ env | get(key=env.DB ~ 'abc') }}\n",
    );
    let pw_file = s.join("pw").display().to_string();
    let (code, err, _) = render_with(&s, &[("DB_FILE", &pw_file)]);
    assert_eq!(code, 65, "{err}");
    assert!(!err.contains("pw12"), "{err}");
}

#[test]
fn harmless_values_are_not_redacted_and_errors_name_the_variable() {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    // One template per error: rendering a template stops at its first.
    s.write(
        "templates/app.conf.tera",
        "{{ env.NGINX_WORKER_PROCESSES | to_int }}\n",
    );
    s.write(
        "templates/b.conf.tera",
        "{% if env.HTTP2 | parse_bool %}x{% endif %}\n",
    );
    s.write("templates/c.conf.tera", "{{ env.NOPE }}\n");
    let templates = s.join("templates").display().to_string();
    let (code, err, _) = render_with(
        &s,
        &[
            ("NGINX_WORKER_PROCESSES", "four"),
            ("HTTP2", "maybe"),
            ("ENABLE_X", "true"),
            ("MODE", "variable"),
            ("PWD", &templates),
        ],
    );
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("`env.NGINX_WORKER_PROCESSES`: the value is not an integer"),
        "{err}"
    );
    assert!(
        err.contains("`env.HTTP2`: the value is not a boolean (accepted: 1, t, T, TRUE, true,"),
        "{err}"
    );
    assert!(err.contains("variable `env.NOPE` is not defined"), "{err}");
    assert!(
        err.contains(&format!("{templates}/app.conf.tera:1:")),
        "{err}"
    );
    assert!(!err.contains("<redacted>"), "{err}");
}

// ---- Issue 20 (3): a stdout nobody reads ----

/// A pipe (or, with `socket`, a unix socket pair) whose reading end the test holds and never
/// reads: pidone's stdout with a stalled reader (`docker logs` stuck; journald's socket).
/// Returns (reading end, writing end for pidone). pidone reopens a pipe as a private
/// non-blocking description; a socket cannot be reopened and takes `pwritev2(RWF_NOWAIT)`.
fn stalled_stdout(socket: bool) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2/socketpair fill two new descriptors we then own.
    let rc = unsafe {
        if socket {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } else {
            libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)
        }
    };
    assert_eq!(rc, 0);
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// pidone's stdout is a pipe nobody reads and a service prints without end. pidone must not
/// spin (≤ 1 % of a CPU, from utime+stime in /proc), must keep answering `status`, must count
/// what it drops, and after TERM must exit within the grace period + 1 s.
fn stdout_nobody_reads(socket: bool) {
    let s = Scratch::new();
    svc(
        &s,
        "flood",
        "command = [\"yes\", \"a line nobody will read\"]\n",
    );
    let (stalled_reader, pidone_stdout) = stalled_stdout(socket);
    let grace = Duration::from_secs(1);
    let run = s.spawn_pid1_with(&["--grace", "1s"], |cmd| {
        cmd.stdout(pidone_stdout);
    });
    assert!(
        wait_until(LONG, || s.join("run/control.sock").exists()),
        "no control socket\n{}",
        run.stderr()
    );
    // The pipe fills at once; one second later pidone gives up waiting for its reader.
    std::thread::sleep(Duration::from_secs(2));
    let window = Duration::from_secs(6);
    let (ticks0, t0) = (common::cpu_ticks(run.pid), Instant::now());
    while t0.elapsed() < window {
        let row = status_row_within(&s, "flood", Duration::from_secs(1));
        assert_eq!(row["state"], "running", "{row}");
        std::thread::sleep(Duration::from_millis(2000));
    }
    let ticks = common::cpu_ticks(run.pid) - ticks0;
    let elapsed = t0.elapsed();
    // SAFETY: sysconf.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let share = ticks as f64 / hz / elapsed.as_secs_f64();
    eprintln!(
        "stdout blocked: pidone CPU {:.2} % ({ticks} ticks in {elapsed:?})",
        share * 100.0
    );
    assert!(
        share <= 0.01,
        "pidone used {:.1} % of a CPU with its stdout blocked ({ticks} ticks in {elapsed:?})\n{}",
        share * 100.0,
        run.stderr()
    );
    assert!(
        run.stderr().contains("the reader of stdout took less than"),
        "no note that service output is being dropped:\n{}",
        run.stderr()
    );
    let term = Instant::now();
    let done = run.stop(LONG);
    let took = term.elapsed();
    assert!(
        took <= grace + Duration::from_secs(1),
        "TERM to exit took {took:?} with stdout blocked (grace {grace:?})\n{}",
        done.stderr
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    let total = done
        .stderr
        .lines()
        .find(|l| l.contains("output lines to stdout dropped in this run"))
        .unwrap_or_else(|| panic!("no count of the dropped lines at exit:\n{}", done.stderr));
    let count: u64 = total
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {total:?}"));
    assert!(count > 0, "{total}");
    eprintln!("TERM to exit {took:?}; {total}");
    drop(stalled_reader);
}

#[test]
fn a_stdout_nobody_reads_costs_no_cpu_and_does_not_hold_up_the_exit() {
    require_namespaces!();
    stdout_nobody_reads(false);
}

/// The same with a socket as stdout (as journald gives): it cannot be reopened, so pidone's
/// writes take the other non-blocking way.
#[test]
fn a_socket_stdout_nobody_reads_costs_no_cpu_and_does_not_hold_up_the_exit() {
    require_namespaces!();
    stdout_nobody_reads(true);
}

/// Issue 20: 64 clients holding half-sent requests (one byte each, re-opened when dropped) and
/// 200 more connecting in a loop, as a service of pidone's uid could: every one of 200
/// healthchecks is answered within 1 s, and pidone's memory and descriptors stay bounded.
/// (Before, a connection that had sent a byte was never evicted and a full table dropped
/// the newcomer: 32 one-byte holders failed every healthcheck with "connection reset".)
#[test]
fn half_sent_requests_and_a_connect_storm_cannot_lock_out_healthcheck() {
    require_namespaces!();
    let s = Scratch::new();
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    assert!(wait_until(LONG, || s.client(&["healthcheck"]).0 == 0));
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", run.pid))
            .unwrap()
            .count()
    };
    let quiet_fds = fds();
    let attack = common::HalfSentClients::start(&s.join("run/control.sock"), 64, 200);
    // The holders are in: pidone holds their connections.
    assert!(
        wait_until(LONG, || fds() >= quiet_fds + 32),
        "only {} fds (quiet: {quiet_fds})",
        fds()
    );
    let (mut slowest, mut rss_warm, mut rss_max, mut fds_max) = (Duration::ZERO, 0, 0, 0);
    for k in 0..200 {
        let t = Instant::now();
        let (code, out) = s.client(&["healthcheck"]);
        let took = t.elapsed();
        assert_eq!((code, out.trim()), (0, "healthy"), "healthcheck {k}");
        assert!(
            took < Duration::from_secs(1),
            "healthcheck {k} took {took:?}"
        );
        slowest = slowest.max(took);
        // Memory once the connection table has filled, then its peak.
        if k == 20 {
            rss_warm = rss_kib(run.pid);
        }
        rss_max = rss_max.max(rss_kib(run.pid));
        fds_max = fds_max.max(fds());
    }
    let connections = attack.stop();
    eprintln!(
        "200 healthchecks, slowest {slowest:?}, against {connections} hostile connections; \
         VmRSS {rss_warm} KiB after 20, peak {rss_max} KiB; fds at most {fds_max} (quiet {quiet_fds})"
    );
    assert!(
        connections > 1000,
        "the attack made only {connections} connections"
    );
    assert!(
        rss_max <= rss_warm + 256,
        "VmRSS grew from {rss_warm} to {rss_max} KiB"
    );
    // At most 128 connections and one kept over (src/control.rs MAX_CLIENTS), plus those
    // evicted in the current round (closed at its end; ACCEPT_BATCH = 64 accepts a round).
    assert!(
        fds_max <= quiet_fds + 129 + 64,
        "{fds_max} fds (quiet: {quiet_fds})"
    );
    // Every hostile connection is closed at its deadline.
    assert!(
        wait_until(Duration::from_secs(5), || fds() == quiet_fds),
        "PID 1 still holds {} fds (quiet: {quiet_fds})",
        fds()
    );
    assert_clean_stop(run);
}

/// Issue 20: in a /run of mode 1777 another uid plants `pidone/` with a socket answering like
/// pidone. No client trusts it, root included: root's `healthcheck` and `status` exit 77
/// naming the uid, on the host and inside a container whose PID 1 is a real pidone of yet
/// another uid. (Before, root trusted any server that owned its directory: exit 0, "healthy".)
#[test]
fn a_planted_server_is_not_trusted_by_root() {
    require_namespaces!();
    if !root_only() {
        return;
    }
    let s = Scratch::new();
    let shared_run = s.join("shared-run");
    std::fs::create_dir(&shared_run).unwrap();
    std::fs::set_permissions(&shared_run, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = shared_run.join("pidone");
    std::fs::create_dir(&planted).unwrap();
    chown(&planted, 4243);
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = planted.join("control.sock");
    let mut fake = as_uid(4243, &["/usr/bin/python3", "-c"]);
    fake.arg(
        "import socket,sys\n\
         s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)\n\
         while True:\n    c,_=s.accept()\n    try: c.recv(100); c.sendall(b'0\\n{\"services\":[]}\\nhealthy\\n')\n    except OSError: pass\n    c.close()\n",
    )
    .arg(&sock)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let _fake = KillOnDrop(fake.spawn().unwrap());
    assert!(wait_until(LONG, || sock.exists()));
    let refused = |cmd: Command| {
        let (out, _) = common::run_with_timeout(cmd, LONG);
        let said = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
        assert_eq!(out.status.code(), Some(77), "{said}");
        assert!(
            said.contains("belong to uid 4243") && said.contains("not trusting it"),
            "{said}"
        );
        assert!(!said.contains("healthy"), "{said}");
    };
    for verb in ["healthcheck", "status"] {
        let mut cmd = Command::new(common::bin());
        cmd.arg("--run-dir").arg(&planted).arg(verb);
        refused(cmd);
    }
    // Inside a container whose PID 1 is a real pidone (uid 65534): that uid is trusted, 4243
    // is not.
    svc(&s, "web", "command = [\"sleep\", \"1000\"]\n");
    let run = start(&s, &[]);
    assert_eq!(s.client(&["healthcheck"]).0, 0);
    let mut cmd = common::exec_into(&s.join("run"), common::bin());
    cmd.arg("--run-dir").arg(&planted).arg("healthcheck");
    refused(cmd);
    drop(run);
}

/// A helper process killed when the test ends, failed or not (an orphan holding the test's
/// output pipe would keep `cargo test | ...` waiting).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
