//! The start-up path through the real binary: templates render before services start,
//! a bad template stops the start without writing anything or printing a secret, `check`
//! and `render --out` report and render, and the log formats are what the README says.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const SECRET: &str = "hunter2-Zx9-very-secret";

#[test]
fn templates_render_before_services_start() {
    require_namespaces!();
    let s = Scratch::new();
    s.write(
        "templates/app/app.conf.tera",
        "greeting = {{ env.GREETING | quote }}\n",
    );
    let out_file = s.join("seen").display().to_string();
    let conf = s.join("rendered/app/app.conf").display().to_string();
    s.service(
        "app",
        &format!("command = [\"sh\", \"-c\", \"cat {conf} > {out_file}\"]\nkind = \"oneshot\"\n"),
    );
    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("GREETING", "hi \"there\"");
    let (out, _) = run_with_timeout(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.read("seen"), "greeting = \"hi \\\"there\\\"\"\n");
    let meta = std::fs::metadata(&conf).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
}

#[test]
fn a_failing_template_stops_the_start_and_leaks_nothing() {
    require_namespaces!();
    let s = Scratch::new();
    // A previous render's output must survive a failed render untouched.
    s.write("rendered/a.conf", "previous\n");
    s.write(
        "templates/a.conf.tera",
        "password = {{ env.DB_PASSWORD }}\n",
    );
    s.write(
        "templates/b.conf.tera",
        "port = {{ env.DB_PASSWORD | int }}\n",
    );
    s.write("templates/c.conf.tera", "user = {{ env.MISSING_USER }}\n");
    let marker = s.join("started").display().to_string();
    s.service("app", &format!("command = [\"touch\", \"{marker}\"]\n"));
    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("DB_PASSWORD", SECRET);
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    // Every problem is reported, each with its template, line and column.
    assert!(err.contains("b.conf.tera:1:"), "{err}");
    assert!(
        err.contains("c.conf.tera:1:") && err.contains("MISSING_USER"),
        "{err}"
    );
    assert!(
        !err.contains(SECRET) && !text(&out.stdout).contains(SECRET),
        "{err}"
    );
    assert!(
        !s.join("started").exists(),
        "a service started after a failed render"
    );
    assert_eq!(s.read("rendered/a.conf"), "previous\n");
}

#[test]
fn check_reports_every_problem_and_leaks_nothing() {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    s.service("web", "command = [\"true\"]\nafter = [\"db\"]\n");
    s.write("templates/x.tera", "{{ env.SECRET_THING | int }}\n");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("check")
        .args(s.dir_args())
        .env("SECRET_THING", SECRET);
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("web.toml:2: key `after`: unknown service \"db\""),
        "{err}"
    );
    assert!(err.contains("x.tera:1:"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}

#[test]
fn check_passes_on_the_bundled_demo() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(root)
        .args(["check", "--config", "pidone.toml"]);
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("check passed: 3 service(s)"), "{err}");
}

#[test]
fn render_out_writes_to_another_directory() {
    let s = Scratch::new();
    s.write("pidone.toml", "");
    s.write(
        "templates/sub/c.yaml.tera",
        "a: {{ env.A | default(value=\"<none>\") }}\n",
    );
    let out_dir = s.join("inspect");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("render")
        .args(s.dir_args())
        .arg("--out")
        .arg(&out_dir)
        .env_remove("A");
    let (out, _) = run_with_timeout(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Autoescaping is off: `<none>` stays as written.
    assert_eq!(
        std::fs::read_to_string(out_dir.join("sub/c.yaml")).unwrap(),
        "a: <none>\n"
    );
    assert!(!s.join("rendered/sub/c.yaml").exists());
}

#[test]
fn service_lines_are_prefixed_or_json() {
    require_namespaces!();
    let s = Scratch::new();
    s.service(
        "talker",
        "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"echo out-line; echo err-line >&2; printf partial\"]\n",
    );
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", "true"]), T);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(o.contains("[talker] out-line\n"), "{o}");
    assert!(o.contains("[talker] partial\n"), "{o}");
    assert!(e.contains("[talker] err-line\n"), "{e}");

    let (out, _) = run_with_timeout(
        s.pid1(&["--allow-root", "--log-format", "json", "--", "true"]),
        T,
    );
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    let line = o.lines().find(|l| l.contains("out-line")).expect(&o);
    assert!(line.starts_with("{\"time\":\"20"), "{line}");
    assert!(
        line.contains("\"service\":\"talker\",\"stream\":\"stdout\",\"line\":\"out-line\""),
        "{line}"
    );
    for l in e.lines() {
        assert!(
            l.starts_with('{') && l.ends_with('}'),
            "not a JSON line: {l}"
        );
    }
    assert!(
        e.contains("\"source\":\"pidone\",\"level\":\"info\""),
        "{e}"
    );
}

/// The render step is a pidone child: its lines are pidone's own, so they pass through as
/// they are (text: no `[render]` prefix; JSON: one JSON object per line, never a JSON line
/// quoted inside another one's `line` field), and the child writes the run's format even
/// when that was chosen with `--log-format` rather than the environment.
#[test]
fn render_step_lines_pass_through_as_pidones_own() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("templates/x.conf.tera", "n = {{ env.PORT_X | to_int }}\n");
    let mut cmd = s.pid1(&["--allow-root", "--log-format", "json", "--", "true"]);
    cmd.env("PORT_X", "not-a-number")
        .env_remove("PIDONE_LOG_FORMAT");
    let (out, _) = run_with_timeout(cmd, T);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{e}");
    let lines: Vec<serde_json::Value> = e
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}\n{e}")))
        .collect();
    let err = lines
        .iter()
        .find(|v| {
            v["msg"]
                .as_str()
                .is_some_and(|m| m.contains("x.conf.tera:1:"))
        })
        .unwrap_or_else(|| panic!("no render error line of its own:\n{e}"));
    assert_eq!(err["source"], "pidone", "{err}");
    assert_eq!(err["level"], "error", "{err}");
    assert!(
        lines.iter().all(|v| v.get("service").is_none()),
        "a pidone line was wrapped as service output:\n{e}"
    );

    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("PORT_X", "not-a-number")
        .env_remove("PIDONE_LOG_FORMAT");
    let (out, _) = run_with_timeout(cmd, T);
    let e = text(&out.stderr);
    assert!(e.contains("\npidone: error: "), "{e}");
    assert!(!e.contains("[render]"), "{e}");
    // The one line that matters (file, line, column, variable) is the only error line; what
    // follows (nothing written, the render step's exit, the shutdown) is secondary.
    let errors: Vec<&str> = e.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    assert!(
        errors[0].starts_with("pidone: error: ") && errors[0].contains("x.conf.tera:1:"),
        "{e}"
    );
}

#[test]
fn long_lines_are_truncated_and_marked() {
    require_namespaces!();
    let s = Scratch::new();
    s.service(
        "long",
        "kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"head -c 40000 /dev/zero | tr '\\\\0' x; echo; echo after\"]\n",
    );
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", "true"]), T);
    let o = text(&out.stdout);
    let long = o.lines().find(|l| l.starts_with("[long] xxx")).expect(&o);
    assert_eq!(
        long.len(),
        "[long] ".len() + 16 * 1024 + " [truncated]".len()
    );
    assert!(long.ends_with(" [truncated]"));
    assert!(o.contains("[long] after\n"), "{o}");
}

#[test]
fn templates_see_env_handed_on_by_a_oneshot_they_wait_for() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("pidone.toml", "[render]\nafter = [\"keys\"]\n");
    s.service(
        "keys",
        "kind = \"oneshot\"\nexport_env = true\ncommand = [\"sh\", \"-c\", \"echo GENERATED=k-42 >> $PIDONE_ENV_FILE\"]\n",
    );
    s.write("templates/k.conf.tera", "key = {{ env.GENERATED }}\n");
    let seen = s.join("seen").display().to_string();
    let conf = s.join("rendered/k.conf").display().to_string();
    // A service that does not say `after = ["render"]` still waits for the render.
    s.service(
        "reader",
        &format!("kind = \"oneshot\"\ncommand = [\"sh\", \"-c\", \"cat {conf} > {seen}\"]\n"),
    );
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", "true"]), T);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.read("seen"), "key = k-42\n");
}

#[test]
fn render_after_must_name_a_oneshot() {
    let s = Scratch::new();
    // The key is on line 3: the error names that line, not the table's.
    s.write(
        "pidone.toml",
        "[render]\n# templates wait for these oneshots\nafter = [\"web\", \"ghost\"]\n",
    );
    s.service("web", "command = [\"sleep\", \"1\"]\n");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("check").args(s.dir_args());
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("pidone.toml:3: key `render.after`: \"web\" is a longrun"),
        "{err}"
    );
    assert!(
        err.contains("pidone.toml:3: key `render.after`: unknown service \"ghost\""),
        "{err}"
    );
}

// ---- issue 22: errors that point at the real fix ----

/// pidone in a fresh PID and mount namespace whose /run is an empty root-owned 0755 tmpfs
/// (Docker's `--tmpfs /run` of an image that did not `chmod 1777 /run`), started as uid
/// 65534 (`--user 65534`).
fn as_nobody_under_a_root_run(s: &Scratch, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount", "--mount-proc", "--kill-child"])
        .args([
            "sh",
            "-c",
            "mount -t tmpfs -o mode=755 tmpfs /run && exec \"$@\"",
            "sh",
        ])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(s.bin_for_any_user())
        .args(args)
        .env("PATH", SAFE_PATH)
        .env("XDG_RUNTIME_DIR", s.join("xdg"))
        .env_remove("PIDONE_USER");
    run_with_timeout(cmd, T).0
}

#[test]
fn a_run_or_render_dir_pidone_cannot_create_exits_73_naming_the_fix() {
    if !is_root() {
        skip!("needs root (a tmpfs over /run in a mount namespace, then setpriv to uid 65534)");
    }
    let s = Scratch::new();
    s.write("templates/app.conf.tera", "x = 1\n");
    s.service("app", "command = [\"true\"]\nkind = \"oneshot\"\n");
    s.write("pidone.toml", "");
    std::fs::create_dir(s.join("xdg")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.join("xdg"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let dirs = |render: &str, run: &str| -> Vec<String> {
        vec![
            "--services-dir".into(),
            s.join("services.d").display().to_string(),
            "--templates-dir".into(),
            s.join("templates").display().to_string(),
            "--config".into(),
            s.join("pidone.toml").display().to_string(),
            "--render-dir".into(),
            render.into(),
            "--run-dir".into(),
            run.into(),
        ]
    };
    let fix = "`RUN chmod 1777 /run` in the Dockerfile; with `docker run --read-only` also `--tmpfs /run`";
    // The render dir: not a template error (65) but the image's /run, before anything runs.
    let run_dir = s.join("run").display().to_string();
    let args = dirs("/run/app", &run_dir);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--", "true"]);
    let out = as_nobody_under_a_root_run(&s, &a);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.contains("pidone: error: refusing to start: cannot create the render dir /run/app")
            && err.contains("pidone runs as uid 65534")
            && err.contains(fix)
            && err.contains("--render-dir"),
        "{err}"
    );
    assert!(!err.contains("fix the templates"), "{err}");
    // A run dir it cannot create, named by --run-dir: 73 and the same fix.
    let render_dir = s.join("rendered").display().to_string();
    let args = dirs(&render_dir, "/run/mine");
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--", "true"]);
    let out = as_nobody_under_a_root_run(&s, &a);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.contains("/run/mine") && err.contains(fix) && err.contains("--run-dir"),
        "{err}"
    );
    // The default run dir falls back to $XDG_RUNTIME_DIR/pidone, with a warning saying why.
    let mut args = dirs(&render_dir, "/run/pidone");
    args.truncate(8);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--", "true"]);
    let out = as_nobody_under_a_root_run(&s, &a);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("pidone: warning: run dir /run/pidone is not usable (")
            && err.contains(&format!("using {}/pidone instead", s.join("xdg").display())),
        "{err}"
    );
}

#[test]
fn a_misspelled_command_word_gets_a_did_you_mean_unless_it_is_a_program() {
    require_namespaces!();
    let s = Scratch::new();
    s.service("web", "command = [\"sleep\", \"1000\"]\n");
    for word in ["stauts", "restat", "relaod", "lgos"] {
        let (out, _) = run_with_timeout(s.pid1(&[word, "web"]), T);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{word}: {err}");
        let meant = match word {
            "stauts" => "status",
            "restat" => "restart",
            "relaod" => "reload",
            _ => "logs",
        };
        assert!(
            err.starts_with(&format!(
                "pidone: error: unknown command `{word}`; did you mean `{meant}`?"
            )),
            "{err}"
        );
    }
    // A program of that name on PATH is CMD, as before.
    s.write("bin/stopp", "#!/bin/sh\nexit 7\n");
    let mut cmd = s.pid1(&["stopp"]);
    cmd.env("PATH", format!("{}:{SAFE_PATH}", s.join("bin").display()));
    let (out, _) = run_with_timeout(cmd, T);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_key_suggests_the_key_meant_and_names_where_keys_are_described() {
    let s = Scratch::new();
    s.service("web", "command = [\"true\"]\ncritcal = true\n");
    s.write("pidone.toml", "");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("check").args(s.dir_args());
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("web.toml:2: key `critcal`: unknown field; did you mean `critical`?")
            && err.contains("docs/configuration.md of pidone's source (not in the image)"),
        "{err}"
    );
}

/// One mistake, one error: a service file that does not validate is not also an "unknown
/// service" in the files that name it.
#[test]
fn a_service_file_with_an_error_is_no_unknown_service_elsewhere() {
    let s = Scratch::new();
    s.service("setup", "kind = \"one-shot\"\ncommand = [\"true\"]\n");
    s.service("web", "after = [\"setup\"]\ncommand = [\"sleep\", \"1\"]\n");
    s.service("log", "command = [\"cat\"]\n");
    s.service("app", "command = [\"true\"]\nstdout_to = \"setup\"\n");
    s.write("pidone.toml", "");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("check").args(s.dir_args());
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("setup.toml:1: key `kind`"), "{err}");
    assert!(!err.contains("unknown service"), "{err}");
    assert!(
        !err.contains("web.toml") && !err.contains("app.toml"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The render step shows as what it is: `(templates)` in `status`, and a failure says
/// "templates" (not "render failed and is critical", a service nobody declared).
#[test]
fn the_render_step_is_named_templates() {
    require_namespaces!();
    let s = Scratch::new();
    s.write("templates/a.conf.tera", "x = {{ env.GREETING }}\n");
    s.service("web", "command = [\"sleep\", \"1000\"]\n");
    let mut run = s.spawn_pid1_with(&[], |c| {
        c.env("GREETING", "hi");
    });
    assert!(
        wait_until(T, || s.join("run/control.sock").exists()),
        "{}",
        run.stderr()
    );
    let row = status_until(&s, "(templates)", "done", |r| r["state"] == "done");
    assert_eq!(row["kind"], "render", "{row}");
    let (_, table) = s.client(&["status"]);
    assert!(!table.lines().any(|l| l.starts_with("render ")), "{table}");
    assert!(run.alive());
    drop(run);

    let (out, _) = run_with_timeout(s.pid1(&["--", "true"]), T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.contains(
            "the templates failed to render (exit code 65; the lines above name each problem)"
        ),
        "{err}"
    );
    assert!(
        !err.contains("render failed") && !err.contains("critical"),
        "{err}"
    );
}

/// `pidone version` says what a bug report needs; a client's error starts `pidone: error:`.
#[test]
fn version_names_commit_and_target_and_client_errors_say_error() {
    let out = std::process::Command::new(bin())
        .arg("version")
        .output()
        .unwrap();
    let v = text(&out.stdout);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines.len(), 3, "{v}");
    assert!(lines[0].starts_with("pidone 0."), "{v}");
    let commit = lines[1].strip_prefix("commit ").expect(&v);
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    assert!(
        lines[2].starts_with(&format!("target {}-", std::env::consts::ARCH))
            && (lines[2].contains("(glibc, ") || lines[2].contains("(musl, "))
            && (lines[2].ends_with("static)") || lines[2].ends_with("dynamically linked)")),
        "{v}"
    );
    let s = Scratch::new();
    let (code, out) = s.client(&["status"]);
    assert_eq!(code, 69, "{out}");
    assert!(
        out.starts_with("pidone: error: unreachable: pidone is not running here"),
        "{out}"
    );
}

/// Issue 21: 0 means the same for every duration setting. `PIDONE_MAX_RUNTIME=0` and
/// `PIDONE_IDLE_TIMEOUT=0` are both "no limit" (CMD runs to its own end, no terminal needed),
/// as are `max_runtime = 0` and `idle_timeout = 0` in a service file (the service is still
/// running, same pid, past a second); `PIDONE_GRACE=0` and `stop_timeout = 0` are refused
/// before anything starts, naming the setting and what to write.
#[test]
fn zero_durations_mean_no_limit_or_are_refused_by_name() {
    require_namespaces!();
    let s = Scratch::new();
    let marker = s.join("up").display().to_string();
    s.service(
        "web",
        &format!(
            "command = [\"sh\", \"-c\", \"echo $$ > {marker}; exec sleep 1000\"]\n\
             max_runtime = 0\nidle_timeout = \"0s\"\n"
        ),
    );
    let mut cmd = s.pid1(&[
        "--allow-root",
        "--",
        "sh",
        "-c",
        &format!("sleep 1.5; test -s {marker} && kill -0 $(cat {marker}) && exit 3"),
    ]);
    cmd.env("PIDONE_MAX_RUNTIME", "0")
        .env("PIDONE_IDLE_TIMEOUT", "0");
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        !err.contains("max_runtime") && !err.contains("idle"),
        "{err}"
    );

    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("PIDONE_GRACE", "0");
    let (out, _) = run_with_timeout(cmd, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("PIDONE_GRACE: cannot be 0:") && err.contains("\"1ms\""),
        "{err}"
    );

    s.service("web", "command = [\"sleep\", \"1000\"]\nstop_timeout = 0\n");
    let (out, _) = run_with_timeout(s.pid1(&["--allow-root", "--", "true"]), T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("web.toml:2: key `stop_timeout`: cannot be 0:"),
        "{err}"
    );
}
