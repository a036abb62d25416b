//! What s6-overlay's tarball supplied and pidone now answers (issue 19): its `/command`
//! scripts (`logutil-service`, `printcontenv`, `with-retries`), the setuidgid family, and
//! the root start of linuxserver.io-style images (root for the image's scripts, services
//! dropping with `s6-setuidgid`). Fixture trees written here in the shapes of real images;
//! the real binary runs as PID 1 of a fresh PID namespace; uids, gids, groups and
//! environments are read from /proc.

mod common;

use common::{Scratch, status_field, wait_until};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

/// `<scratch>/root` gets `files` (path relative to the image root → text, written 0755 like
/// s6-rc-compile's copies), `@ROOT@`, `@COMMAND@` and `@OUT@` replaced; `<scratch>/command`
/// gets the shims as `pidone s6-shims` makes them; `<scratch>/out` is writable by anyone.
fn image(s: &Scratch, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let text = text
            .replace("@ROOT@", &s.join("root").display().to_string())
            .replace("@COMMAND@", &s.join("command").display().to_string())
            .replace("@OUT@", &s.join("out").display().to_string());
        s.write(&format!("root/{rel}"), &text);
    }
    let out = Command::new(common::bin())
        .arg("s6-shims")
        .arg(s.join("command"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    std::fs::create_dir_all(s.join("out")).unwrap();
    std::fs::set_permissions(s.join("out"), std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// pidone's s6 options for the scratch image.
fn s6_args(s: &Scratch) -> Vec<String> {
    vec![
        "--s6-root".into(),
        s.join("root").display().to_string(),
        "--s6-run-dir".into(),
        s.join("s6run").display().to_string(),
    ]
}

/// Start pidone (started as root, as a linuxserver image is) with `env`, after making
/// `passwd` and `group` (copies of the host's, which the image's scripts may append to,
/// as `usermod` would edit them) the namespace's /etc/passwd and /etc/group: bind mounts
/// in pidone's own mount namespace, set up by a shell that then execs pidone as PID 1.
fn start_as_root(s: &Scratch, env: &[(&str, &str)], extra: &[&str]) -> common::Running {
    for f in ["passwd", "group"] {
        std::fs::copy(format!("/etc/{f}"), s.join(f)).unwrap();
    }
    let mut args = s6_args(s);
    args.extend(extra.iter().map(|a| a.to_string()));
    s.spawn_pid1_with(&[], |cmd| {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg("/bin/sh")
            .arg("-c")
            .arg(r#"mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && exec "$@""#)
            .arg("sh")
            .arg(s.join("passwd"))
            .arg(s.join("group"))
            .arg(common::bin())
            .args(s.dir_args())
            .args(&args)
            .env_remove("PIDONE_USER")
            .env_remove("PIDONE_ALLOW_ROOT")
            .env("PATH", common::SAFE_PATH)
            .env("PIDONE_S6_COMMAND_DIR", s.join("command"))
            .env("OUT", s.join("out"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(s.join("pidone.stdout")).unwrap())
            .stderr(std::fs::File::create(s.join("pidone.stderr")).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        *cmd = c;
    })
}

/// The host pid of the process in pidone's namespace whose command line starts with `cmd`.
fn find_process(p: &common::Running, cmd: &str) -> Option<i32> {
    p.processes()
        .into_iter()
        .find(|pr| pr.cmdline.starts_with(cmd))
        .map(|pr| pr.host_pid)
}

fn wait_process(p: &common::Running, cmd: &str) -> i32 {
    let mut found = None;
    wait_until(LONG, || {
        found = find_process(p, cmd);
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no process {cmd:?}; pidone said:\n{}", p.stderr()))
}

/// The four ids of a `Uid:`/`Gid:` line, or the `Groups:` list, from /proc.
fn ids(pid: i32, field: &str) -> Vec<u32> {
    status_field(pid, field)
        .unwrap_or_default()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// A services.d app whose log/run is `exec logutil-service DIR` (s6-overlay's README
/// example), started non-root: s6-log rotates per S6_LOGGING_SCRIPT, every line arrives
/// once, and the logger runs as the container's user with an empty environment.
#[test]
fn logutil_service_rotates_as_non_root() {
    require_namespaces!();
    if !Path::new("/usr/bin/s6-log").exists() {
        panic!("s6-log is missing: apt-get install s6 (.ci/run installs it)");
    }
    const LINES: usize = 3000;
    let s = Scratch::new();
    image(
        &s,
        &[
            (
                "etc/services.d/app/run",
                &format!(
                    "#!/bin/sh\nexec 2>&1\ni=1\nwhile [ $i -le {LINES} ]; do echo \"line $i of the app's output, padded to rotate sooner\"; i=$((i+1)); done\nexec sleep 3600\n"
                ),
            ),
            (
                "etc/services.d/app/log/run",
                "#!/bin/sh\nexec logutil-service @OUT@/log/app\n",
            ),
        ],
    );
    std::fs::create_dir_all(s.join("out/log")).unwrap();
    std::fs::set_permissions(s.join("out/log"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let args = s6_args(&s);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let command = s.join("command");
    let p = s.spawn_pid1_with(&refs, |cmd| {
        cmd.env("PIDONE_S6_COMMAND_DIR", &command)
            .env("S6_LOGGING_SCRIPT", "n100 s4096 T")
            .env("SECRET_TOKEN", "not-for-the-logger");
        if common::is_root() {
            cmd.env("PIDONE_USER", "65534:65534");
        }
    });

    let logdir = s.join("out/log/app");
    let mut numbers: Vec<usize> = Vec::new();
    let mut files = 0;
    let complete = wait_until(LONG, || {
        numbers.clear();
        files = 0;
        for e in std::fs::read_dir(&logdir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "current" && !(name.starts_with('@') && name.ends_with(".s")) {
                continue;
            }
            files += 1;
            for line in std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
            {
                // `T`: an ISO 8601 timestamp, two spaces, then the line.
                let (stamp, rest) = line.split_once("  ").unwrap_or(("", line));
                assert!(stamp.len() >= 19 && stamp.as_bytes()[4] == b'-', "{line:?}");
                let n = rest.strip_prefix("line ").and_then(|r| r.split(' ').next());
                numbers.push(n.and_then(|n| n.parse().ok()).expect(line));
            }
        }
        numbers.len() >= LINES
    });
    assert!(
        complete,
        "{} of {LINES} lines in {files} file(s); pidone said:\n{}",
        numbers.len(),
        p.stderr()
    );
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=LINES).collect::<Vec<_>>(), "lost or doubled");
    assert!(files >= 10, "rotated at 4096 bytes: {files} file(s)");

    // The logger: s6-log itself (exec'd), as the container's user, with no environment.
    let logger = wait_process(&p, "/usr/bin/s6-log");
    let cmdline = std::fs::read_to_string(format!("/proc/{logger}/cmdline")).unwrap();
    assert!(cmdline.contains("-b\0--\0n100\0s4096\0T\0"), "{cmdline:?}");
    let me = if common::is_root() {
        65534
    } else {
        unsafe { libc::geteuid() }
    };
    assert_eq!(ids(logger, "Uid"), [me; 4]);
    let environ = std::fs::read(format!("/proc/{logger}/environ")).unwrap();
    assert!(environ.is_empty(), "{}", String::from_utf8_lossy(&environ));
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// s6-overlay's README example, started as root: a cont-init script makes the log
/// directory nobody's, `log/run` is `exec logutil-service DIR`; the logger runs as nobody.
#[test]
fn logutil_service_started_as_root_becomes_nobody() {
    require_namespaces!();
    if !common::is_root() {
        skip!("a root start needs real root");
    }
    let s = Scratch::new();
    image(
        &s,
        &[
            (
                "etc/cont-init.d/myapp-log-prepare",
                "#!/bin/sh -e\nmkdir -p @OUT@/log/myapp\nchown nobody:nogroup @OUT@/log/myapp\nchmod 02755 @OUT@/log/myapp\n",
            ),
            (
                "etc/services.d/myapp/run",
                "#!/bin/sh\nexec 2>&1\necho started as $(id -u)\nexec sleep 3603\n",
            ),
            (
                "etc/services.d/myapp/log/run",
                "#!/bin/sh\nexec logutil-service @OUT@/log/myapp\n",
            ),
        ],
    );
    let p = start_as_root(&s, &[], &[]);
    let current = s.join("out/log/myapp/current");
    assert!(
        wait_until(LONG, || std::fs::read_to_string(&current)
            .is_ok_and(|t| t.contains("started as 0"))),
        "{}",
        p.stderr()
    );
    let logger = wait_process(&p, "/usr/bin/s6-log");
    assert_eq!(ids(logger, "Uid"), [65534; 4]);
    assert_eq!(ids(logger, "Gid"), [65534; 4]);
    assert_eq!(std::fs::metadata(&current).unwrap().uid(), 65534);
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// The linuxserver.io shape, started as root without --user: an `init-adduser` oneshot
/// (with-contenv, run as root) adds `abc` with PUID/PGID to /etc/passwd and /etc/group,
/// as `usermod` does, and gives it /config (`lsiown`); the app's longrun drops with
/// `s6-setuidgid abc`, a worker with `s6-envuidgid abc s6-applyuidgid -U`. The kernel's
/// view of the daemons: abc's uid, gid and supplementary groups, no capabilities.
#[test]
fn root_start_runs_init_as_root_and_services_drop_with_s6_setuidgid() {
    require_namespaces!();
    if !common::is_root() {
        skip!("a root start and bind mounts need real root");
    }
    let s = Scratch::new();
    let rc = "etc/s6-overlay/s6-rc.d";
    let adduser = "#!@COMMAND@/with-contenv sh\n\
        echo \"abc:x:${PUID}:${PGID}:abc:/config:/bin/false\" >> /etc/passwd\n\
        echo \"abc:x:${PGID}:abc\" >> /etc/group\n\
        echo \"media:x:4800:other,abc\" >> /etc/group\n\
        mkdir -p @OUT@/config\n\
        chown -R abc:abc @OUT@/config\n\
        id -u > @OUT@/adduser-uid\n";
    let files = [
        (format!("{rc}/init-adduser/type"), "oneshot\n".to_string()),
        (
            format!("{rc}/init-adduser/up"),
            "@ROOT@/etc/s6-overlay/s6-rc.d/init-adduser/run\n".into(),
        ),
        (format!("{rc}/init-adduser/run"), adduser.into()),
        (
            format!("{rc}/init-adduser/dependencies.d/base"),
            String::new(),
        ),
        (format!("{rc}/svc-app/type"), "longrun\n".into()),
        (
            format!("{rc}/svc-app/run"),
            "#!@COMMAND@/with-contenv sh\nexec s6-setuidgid abc sleep 3601\n".into(),
        ),
        (
            format!("{rc}/svc-app/dependencies.d/init-adduser"),
            String::new(),
        ),
        (format!("{rc}/svc-worker/type"), "longrun\n".into()),
        (
            format!("{rc}/svc-worker/run"),
            "#!/bin/sh\nexec s6-envuidgid abc s6-applyuidgid -U sleep 3602\n".into(),
        ),
        (
            format!("{rc}/svc-worker/dependencies.d/init-adduser"),
            String::new(),
        ),
        (format!("{rc}/user/type"), "bundle\n".into()),
        (format!("{rc}/user/contents.d/init-adduser"), String::new()),
        (format!("{rc}/user/contents.d/svc-app"), String::new()),
        (format!("{rc}/user/contents.d/svc-worker"), String::new()),
    ];
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    image(&s, &refs);
    let p = start_as_root(&s, &[("PUID", "4711"), ("PGID", "4712")], &[]);

    for (daemon, name) in [("sleep 3601", "svc-app"), ("sleep 3602", "svc-worker")] {
        let pid = wait_process(&p, daemon);
        assert_eq!(ids(pid, "Uid"), [4711; 4], "{name}");
        assert_eq!(ids(pid, "Gid"), [4712; 4], "{name}");
        // abc's groups as s6 reads /etc/group: those whose member list names abc.
        let mut groups = ids(pid, "Groups");
        groups.sort_unstable();
        assert_eq!(groups, [4712, 4800], "{name}");
        assert_eq!(
            status_field(pid, "CapEff").as_deref(),
            Some("0000000000000000"),
            "{name}"
        );
        assert_eq!(status_field(pid, "NoNewPrivs").as_deref(), Some("1"));
    }
    // The init ran as root and did what only root can.
    assert_eq!(s.read("out/adduser-uid").trim(), "0");
    let config = std::fs::metadata(s.join("out/config")).unwrap();
    assert_eq!((config.uid(), config.gid()), (4711, 4712));
    // pidone itself kept root, and said so once, with how to drop instead.
    assert_eq!(ids(p.pid, "Uid"), [0; 4]);
    let err = p.stderr();
    assert_eq!(
        err.matches("the image's scripts run as root").count(),
        1,
        "{err}"
    );
    assert!(err.contains("PIDONE_USER"), "{err}");
    let f = p.stop(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
}

/// A legacy cont-init.d script of a root-started image runs as root (chown to the PUID,
/// as linuxserver's do), then CMD runs; with an explicit PIDONE_USER the same start drops
/// (the script then fails, as it would under s6-overlay with USER).
#[test]
fn root_start_cont_init_runs_as_root_unless_a_user_is_named() {
    require_namespaces!();
    if !common::is_root() {
        skip!("a root start needs real root");
    }
    let adduser = [(
        "etc/cont-init.d/10-adduser",
        "#!/bin/sh -e\nmkdir -p @OUT@/data\nchown 4242:4243 @OUT@/data\nid -u > @OUT@/init-uid\n",
    )];
    let s = Scratch::new();
    image(&s, &adduser);
    let p = start_as_root(&s, &[], &["--", "/bin/sh", "-c", "id -u > $OUT/cmd-uid"]);
    let f = p.finish(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert_eq!(s.read("out/init-uid").trim(), "0");
    assert_eq!(s.read("out/cmd-uid").trim(), "0");
    let data = std::fs::metadata(s.join("out/data")).unwrap();
    assert_eq!((data.uid(), data.gid()), (4242, 4243));

    // Named user (a fresh image: the first run's runtime files belong to root): dropped
    // before anything runs; the chown fails and is reported.
    let s = Scratch::new();
    image(&s, &adduser);
    let p = start_as_root(
        &s,
        &[("PIDONE_USER", "65534:65534")],
        &["--", "/bin/sh", "-c", "id -u > $OUT/cmd-uid"],
    );
    let f = p.finish(LONG);
    assert_eq!(s.read("out/cmd-uid").trim(), "65534", "{}", f.stderr);
    assert!(s.read("out/init-uid").is_empty(), "{}", f.stderr);
    assert!(
        f.stderr.contains("10-adduser exited with code"),
        "{}",
        f.stderr
    );
    assert!(
        !f.stderr.contains("the image's scripts run as root"),
        "{}",
        f.stderr
    );
}

/// A shim run from the host as a script would run it.
fn shim(s: &Scratch, name: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(s.join("command").join(name));
    cmd.args(args)
        .env_remove("S6_KEEP_ENV")
        .env("PIDONE_S6_RUN_DIR", s.join("s6run"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (o, _) = common::run_with_timeout(cmd, LONG);
    (
        o.status.code().unwrap_or(-1),
        common::text(&o.stdout),
        common::text(&o.stderr),
    )
}

/// s6's answers for bad accounts: an unknown user is named and exits 1 (s6 2.11 does, as
/// its documentation says); a switch the process cannot make names the service, who it
/// is and what to do, and exits 111; a switch to who it already is runs the program.
#[test]
fn s6_setuidgid_errors_name_the_user() {
    let s = Scratch::new();
    image(&s, &[]);
    let (code, _, err) = shim(&s, "s6-setuidgid", &["nosuchuser", "true"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown user: nosuchuser"), "{err}");
    let (code, _, err) = shim(&s, "s6-envuidgid", &["nosuchuser", "true"], &[]);
    assert_eq!((code, err.contains("nosuchuser")), (1, true), "{err}");
    let (code, out, _) = shim(
        &s,
        "s6-envuidgid",
        &[
            "-D",
            "7:8:9,10",
            "nosuchuser",
            "/bin/sh",
            "-c",
            "echo $UID:$GID:$GIDLIST",
        ],
        &[],
    );
    assert_eq!((code, out.trim()), (0, "7:8:9,10"));
    let (code, _, err) = shim(&s, "s6-applyuidgid", &["-U", "true"], &[]);
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("UID not set"), "{err}");

    if common::is_root() {
        // Unable to switch: 65534 without capabilities asks for root.
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(s.join("command/s6-setuidgid"))
            .args(["root", "true"]);
        let (o, _) = common::run_with_timeout(cmd, LONG);
        let err = common::text(&o.stderr);
        assert_eq!(o.status.code(), Some(111), "{err}");
        assert!(err.contains("asks to run as root (uid 0 gid 0)"), "{err}");
        assert!(err.contains("runs as uid 65534"), "{err}");
        // Already that user: runs the program as it is.
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(s.join("command/s6-setuidgid"))
            .args(["65534:65534", "/bin/sh", "-c", "id -u"]);
        let (o, _) = common::run_with_timeout(cmd, LONG);
        assert_eq!(common::text(&o.stdout).trim(), "65534");
    }
}

/// printcontenv prints a variable of the container environment and a newline (the file's
/// bytes as they are), or its own environment's with S6_KEEP_ENV; unset is exit 1.
#[test]
fn printcontenv_prints_the_container_environment() {
    let s = Scratch::new();
    image(&s, &[]);
    s.write("s6run/s6/container_environment/DB_HOST", "db.internal");
    s.write("s6run/s6/container_environment/MOTD", "two\nlines\n");
    let (code, out, _) = shim(&s, "printcontenv", &["DB_HOST"], &[("DB_HOST", "ignored")]);
    assert_eq!((code, out.as_str()), (0, "db.internal\n"));
    let (code, out, _) = shim(&s, "printcontenv", &["MOTD"], &[]);
    assert_eq!((code, out.as_str()), (0, "two\nlines\n\n"));
    let (code, out, _) = shim(&s, "printcontenv", &["NOPE"], &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    let (code, _, err) = shim(&s, "printcontenv", &["../../etc"], &[]);
    assert_eq!(code, 100, "{err}");
    let (code, _, err) = shim(&s, "printcontenv", &[], &[]);
    assert_eq!(code, 100, "{err}");
    let keep = [("S6_KEEP_ENV", "1"), ("DB_HOST", "from-env")];
    let (code, out, _) = shim(&s, "printcontenv", &["DB_HOST"], &keep);
    assert_eq!((code, out.as_str()), (0, "from-env\n"));
    let (code, _, _) = shim(&s, "printcontenv", &["NOPE"], &keep);
    assert_eq!(code, 1);
}

/// with-retries runs the command until it succeeds, at most -n times (3), each try cut
/// with SIGTERM at -t ms (500).
#[test]
fn with_retries_tries_n_times_and_cuts_each_try() {
    let s = Scratch::new();
    image(&s, &[]);
    // Fails until its third run (a service not listening yet).
    s.write(
        "flaky",
        "#!/bin/sh\necho run >> \"$0.runs\"\n[ \"$(wc -l < \"$0.runs\")\" -ge 3 ]\n",
    );
    let flaky = s.join("flaky").display().to_string();
    let (code, _, err) = shim(&s, "with-retries", &[&flaky], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.lines("flaky.runs").len(), 3);

    std::fs::remove_file(s.join("flaky.runs")).unwrap();
    let (code, _, err) = shim(&s, "with-retries", &["-n", "2", &flaky], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(s.lines("flaky.runs").len(), 2);
    assert!(err.contains("failed 2 time(s)"), "{err}");

    // Each try of a command that hangs is cut at -t: 3 tries of 200 ms, not 3 × 30 s.
    s.write(
        "hang",
        "#!/bin/sh\ntrap 'kill $child; echo term >> \"$0.terms\"; exit 143' TERM\necho $$ >> \"$0.runs\"\nsleep 30 &\nchild=$!\nwait $child\n",
    );
    let hang = s.join("hang").display().to_string();
    let started = Instant::now();
    let (code, _, err) = shim(&s, "with-retries", &["-t200", &hang], &[]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(s.lines("hang.runs").len(), 3);
    assert!(
        wait_until(LONG, || s.lines("hang.terms").len() == 3),
        "every try got SIGTERM: {:?}",
        s.lines("hang.terms")
    );
}

/// `pidone s6-shims DIR` links s6-overlay's helper scripts and the setuidgid family with
/// the rest, and lists what it links (with what each does) and what not (with what to use).
#[test]
fn s6_shims_lists_what_it_links_and_what_not() {
    let s = Scratch::new();
    let out = Command::new(common::bin())
        .arg("s6-shims")
        .arg(s.join("command"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let listing = common::text(&out.stdout);
    let bin = std::fs::canonicalize(common::bin()).unwrap();
    for name in [
        "printcontenv",
        "with-retries",
        "logutil-service",
        "logutil-newfifo",
        "s6-setuidgid",
        "s6-applyuidgid",
        "s6-envuidgid",
        "with-contenv",
        "s6-svc",
    ] {
        let link = s.join("command").join(name);
        assert_eq!(std::fs::canonicalize(&link).unwrap(), bin, "{name}");
        assert!(
            listing.contains(&format!("  {name} ")),
            "{name} not listed:\n{listing}"
        );
    }
    let (linked, not_linked) = listing
        .split_once("not linked")
        .unwrap_or_else(|| panic!("no 'not linked' part:\n{listing}"));
    assert!(linked.contains("S6_LOGGING_SCRIPT"), "{listing}");
    for (name, instead) in [("s6-log", "apt-get install s6"), ("s6-rc", "pidone status")] {
        let line = not_linked
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not in:\n{not_linked}"));
        assert!(line.contains(instead), "{line}");
    }
}

/// With PIDONE_ALLOW_ROOT=1 (root kept on purpose) `s6-setuidgid` switches too, where it
/// used to refuse: CMD drops to nobody, as the kernel reports it to the process itself.
#[test]
fn allow_root_start_lets_s6_setuidgid_switch() {
    require_namespaces!();
    if !common::is_root() {
        skip!("a root start needs real root");
    }
    let s = Scratch::new();
    image(&s, &[("etc/cont-init.d/00-nothing", "#!/bin/sh\n")]);
    let shim = s.join("command/s6-setuidgid").display().to_string();
    let p = start_as_root(
        &s,
        &[("PIDONE_ALLOW_ROOT", "1")],
        &[
            "--",
            &shim,
            "nobody",
            "/bin/sh",
            "-c",
            "grep -E '^(Uid|Gid|CapEff)' /proc/self/status > $OUT/ids",
        ],
    );
    let f = p.finish(LONG);
    assert_eq!(f.code, 0, "{}", f.stderr);
    let ids = s.read("out/ids");
    assert!(ids.contains("Uid:\t65534\t65534\t65534\t65534"), "{ids}");
    assert!(ids.contains("Gid:\t65534\t65534\t65534\t65534"), "{ids}");
    assert!(ids.contains("CapEff:\t0000000000000000"), "{ids}");
}

/// `pidone s6-shims --help` prints its usage; an option-looking word is refused (64) instead
/// of becoming a directory named `--force` in the current directory.
#[test]
fn s6_shims_takes_no_option_for_a_directory() {
    let s = Scratch::new();
    let help = Command::new(common::bin())
        .args(["s6-shims", "--help"])
        .current_dir(s.path())
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(common::text(&help.stdout).contains("usage: pidone s6-shims DIR"));
    let odd = Command::new(common::bin())
        .args(["s6-shims", "--force"])
        .current_dir(s.path())
        .output()
        .unwrap();
    assert_eq!(odd.status.code(), Some(64), "{}", common::text(&odd.stderr));
    assert!(!s.join("--help").exists() && !s.join("--force").exists());
}
