//! Tests of loading and validating the native format.

use super::*;
use crate::values::parse_http_url;
use std::path::Path;
use std::time::Duration;

fn parse(files: &[(&str, &str)]) -> Result<Vec<Service>, Vec<ConfigError>> {
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, t)| (PathBuf::from(format!("services.d/{n}.toml")), t.to_string()))
        .collect();
    parse_services(&sources, &RawService::default())
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    parse(files)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn minimal_service_gets_defaults() {
    let s = parse(&[("web", "command = [\"sh\", \"-c\", \"true\"]\n")]).unwrap();
    let web = &s[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.kind, Kind::Longrun);
    assert_eq!(web.restart, Restart::OnFailure);
    assert!(!web.critical);
    assert_eq!(web.stop_signal, libc::SIGTERM);
    assert_eq!(web.stop_timeout, Duration::from_secs(10));
    assert_eq!(web.backoff.initial, Duration::from_millis(100));
    assert!(web.log_prefix && web.forward_signals);
}

#[test]
fn full_service() {
    let text = r#"
command = ["sh", "-c", "exec sleep 1"]
after = ["init"]
env = { A = "1" }
umask = "0027"
restart = "always"
stop_signal = "QUIT"
stop_timeout = "3s"
max_runtime = 1800
reload_on = ["/run/certs/tls.crt"]
reload_signal = "USR1"
signal_map = { HUP = "USR2" }
[limits]
nofile = 1024
[backoff]
initial = "50ms"
factor = 3.0
[ready]
tcp = 8080
timeout = "5s"
[health]
http = "http://127.0.0.1:8080/health"
on_failure = "stop"
"#;
    let init = "command = [\"true\"]\nkind = \"oneshot\"\nexport_env = true\n";
    let s = parse(&[("web", text), ("init", init)]).unwrap();
    let web = s.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web.umask, Some(0o027));
    assert_eq!(web.restart, Restart::Always);
    assert_eq!(web.stop_signal, libc::SIGQUIT);
    assert_eq!(web.max_runtime, Some(Duration::from_secs(1800)));
    assert_eq!(web.reload, Reload::Signal(libc::SIGUSR1));
    assert_eq!(web.signal_map, vec![(libc::SIGHUP, libc::SIGUSR2)]);
    assert_eq!(web.limits.nofile, Some(1024));
    assert_eq!(web.backoff.factor, 3.0);
    let ready = web.ready.as_ref().unwrap();
    assert_eq!(
        ready.check,
        ReadyCheck::Probe(Probe::Tcp("127.0.0.1:8080".into()))
    );
    let health = web.health.as_ref().unwrap();
    assert_eq!(
        health.probe,
        Probe::Http {
            address: "127.0.0.1:8080".into(),
            path: "/health".into()
        }
    );
    assert_eq!(health.on_failure, OnUnhealthy::Stop);
    let init = s.iter().find(|s| s.name == "init").unwrap();
    assert!(init.critical && init.export_env);
    assert_eq!(init.restart, Restart::Never);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let errs = errors(&[("web", "command = [\"true\"]\n\nrestrat = \"always\"\n")]);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("services.d/web.toml:3: key `restrat`: unknown field"),
        "{}",
        errs[0]
    );
}

#[test]
fn bad_values_are_located() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nstop_signal = \"TREM\"\n[backoff]\ninitial = \"soon\"\n",
    )]);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("services.d/web.toml:2: key `stop_signal`: unknown signal")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("services.d/web.toml:4: key `backoff.initial`:")),
        "{errs:?}"
    );
}

#[test]
fn missing_command_and_program() {
    let errs = errors(&[
        ("a", "kind = \"oneshot\"\n"),
        ("b", "command = [\"no-such-program-xyz\"]\n"),
    ]);
    assert!(
        errs.iter()
            .any(|e| e.contains("a.toml: key `command`: is required")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e
                .contains("b.toml:1: key `command`: program \"no-such-program-xyz\" not found")),
        "{errs:?}"
    );
}

#[test]
fn unknown_after_target() {
    let errs = errors(&[("web", "command = [\"true\"]\nafter = [\"db\"]\n")]);
    assert!(
        errs[0].contains("web.toml:2: key `after`: unknown service \"db\""),
        "{errs:?}"
    );
}

#[test]
fn cycles_are_named() {
    let errs = errors(&[
        ("a", "command = [\"true\"]\nafter = [\"b\"]\n"),
        ("b", "command = [\"true\"]\nafter = [\"c\"]\n"),
        ("c", "command = [\"true\"]\nafter = [\"a\"]\n"),
    ]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("dependency cycle: a -> b -> c -> a"),
        "{errs:?}"
    );
}

#[test]
fn ready_needs_exactly_one_check() {
    let errs = errors(&[("w", "command = [\"true\"]\n[ready]\ntimeout = \"1s\"\n")]);
    assert!(errs[0].contains("exactly one of"), "{errs:?}");
    let errs = errors(&[("w", "command = [\"true\"]\n[ready]\ntcp = \"nohost\"\n")]);
    assert!(errs[0].contains("w.toml:3: key `ready.tcp`"), "{errs:?}");
}

#[test]
fn syntax_error_has_line() {
    let errs = errors(&[("w", "command = [\"true\"\nkind = 1\n")]);
    assert!(errs[0].starts_with("services.d/w.toml:"), "{errs:?}");
}

#[test]
fn reserved_and_bad_names() {
    let errs = errors(&[
        ("main", "command = [\"true\"]\n"),
        ("we b", "command = [\"true\"]\n"),
    ]);
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn global_defaults_apply_and_are_checked() {
    let g = parse_global(
        Path::new("pidone.toml"),
        "grace = \"2s\"\n[defaults]\nstop_timeout = \"4s\"\nrestart = \"always\"\n",
    )
    .unwrap();
    let s = parse_services(
        &[(PathBuf::from("x.toml"), "command = [\"true\"]\n".into())],
        &g.defaults,
    )
    .unwrap();
    assert_eq!(s[0].stop_timeout, Duration::from_secs(4));
    assert_eq!(s[0].restart, Restart::Always);
    let errs =
        parse_global(Path::new("pidone.toml"), "[defaults]\ncommand = [\"x\"]\n").unwrap_err();
    assert!(
        errs[0]
            .to_string()
            .contains("pidone.toml:2: key `defaults.command`"),
        "{errs:?}"
    );
    let errs = parse_global(
        Path::new("pidone.toml"),
        "[defaults]\nstop_timeout = \"x\"\n",
    )
    .unwrap_err();
    assert!(
        errs[0]
            .to_string()
            .contains("pidone.toml:2: key `stop_timeout`"),
        "{errs:?}"
    );
    // A oneshot's key in [defaults] is checked here too, against this file and its line.
    let errs = parse_global(Path::new("pidone.toml"), "[defaults]\ntimeout = \"x\"\n").unwrap_err();
    assert!(
        errs[0]
            .to_string()
            .contains("pidone.toml:2: key `timeout`: \"x\" is not a duration"),
        "{errs:?}"
    );
}

#[test]
fn http_urls() {
    assert_eq!(
        parse_http_url("http://127.0.0.1:8080/x").unwrap(),
        ("127.0.0.1:8080".into(), "/x".into())
    );
    assert_eq!(
        parse_http_url("http://localhost").unwrap(),
        ("localhost:80".into(), "/".into())
    );
    assert!(parse_http_url("https://x").is_err());
}

fn global_errors(text: &str) -> Vec<String> {
    parse_global(Path::new("pidone.toml"), text)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn unknown_keys_are_located_in_every_table() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n[health]\ntcp = 80\n\nretriez = 3\n",
    )]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/web.toml:5: key `health.retriez`: unknown field"),
        "{errs:?}"
    );
    assert!(
        errs[0].contains("unknown field; did you mean `retries`? expected one of ")
            && errs[0].ends_with(super::tomlread::KEYS_DOC),
        "{errs:?}"
    );
    // An unknown table is an unknown key too, located at its header.
    let errs = errors(&[("web", "command = [\"true\"]\n\n[helth]\ntcp = 80\n")]);
    assert!(
        errs[0].starts_with("services.d/web.toml:3: key `helth`: unknown field"),
        "{errs:?}"
    );
    let errs = global_errors(
        "[render]\nmode = \"0600\"\n[[render.template]]\nsource = \"a\"\n\
         [[render.template]]\nsource = \"b\"\nmdoe = \"0600\"\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("pidone.toml:7: key `render.template.mdoe`: unknown field"),
        "{errs:?}"
    );
}

#[test]
fn wrong_types_say_what_was_expected_and_found() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n# a comment\nmax_restarts = \"5\"\n",
    )]);
    assert_eq!(
        errs,
        ["services.d/web.toml:3: key `max_restarts`: expected an integer, found a string"]
    );
    let errs = errors(&[(
        "web",
        "command = [\n  \"sh\",\n  5,\n]\n[ready]\nnotify_socket = \"yes\"\n",
    )]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:3: key `command`: expected an array of strings, but item 2 is an integer",
            "services.d/web.toml:6: key `ready.notify_socket`: expected a boolean (true or false), found a string",
        ]
    );
    let errs = global_errors("[render]\n[[render.template]]\nsource = \"a\"\nmode = 640\n");
    assert_eq!(
        errs,
        ["pidone.toml:4: key `render.template.mode`: expected a string, found an integer"]
    );
    let errs = global_errors("[render]\n[[render.template]]\ndestination = \"x\"\n");
    assert_eq!(
        errs,
        [
            "pidone.toml:2: key `render.template.source`: is required: the template's path under the templates dir"
        ]
    );
}

#[test]
fn integers_out_of_range() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nmax_restarts = -1\n[ready]\ntcp = 70000\n",
    )]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:2: key `max_restarts`: -1 is out of range: expected an integer from 0 to 4294967295",
            "services.d/web.toml:4: key `ready.tcp`: 70000 is out of range: expected an integer from 0 to 65535",
        ]
    );
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n[limits]\nnofile = -5\n[ready]\nnotify_fd = 3000000000\n",
    )]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:3: key `limits.nofile`: -5 is out of range: expected an integer of at least 0",
            "services.d/web.toml:5: key `ready.notify_fd`: 3000000000 is out of range: expected an integer from -2147483648 to 2147483647",
        ]
    );
    let errs = global_errors("map_exit = { \"143\" = 0, \"1\" = 256 }\n");
    assert_eq!(
        errs,
        ["pidone.toml:1: key `map_exit.1`: 256 is out of range: expected an integer from 0 to 255"]
    );
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nrestrat = \"always\"\ncritical = 1\n[backoff]\nfactor = \"x\"\n",
    )]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].starts_with("services.d/web.toml:2: key `restrat`: unknown field"));
    assert!(errs[1].starts_with("services.d/web.toml:3: key `critical`: expected a boolean"));
    assert!(errs[2].starts_with("services.d/web.toml:5: key `backoff.factor`: expected a number"));
    // Problems in several files are all reported as well.
    let errs = errors(&[
        ("a", "command = [\"true\"]\nkind = 1\n"),
        ("b", "command = [\"true\"]\nafter = \"a\"\n"),
    ]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("services.d/a.toml:2: key `kind`: expected a string"));
    assert!(errs[1].starts_with("services.d/b.toml:2: key `after`: expected an array"));
}

#[test]
fn durations_are_strings_or_seconds() {
    let s = parse(&[(
        "web",
        "command = [\"true\"]\nstop_timeout = \"250ms\"\nmax_runtime = 90\n\
         restart_window = 1.5\n[backoff]\nmax = \"2m\"\n",
    )])
    .unwrap();
    assert_eq!(s[0].stop_timeout, Duration::from_millis(250));
    assert_eq!(s[0].max_runtime, Some(Duration::from_secs(90)));
    assert_eq!(s[0].restart_window, Duration::from_millis(1500));
    assert_eq!(s[0].backoff.max, Duration::from_secs(120));
    let errs = errors(&[("web", "command = [\"true\"]\nstop_timeout = [5]\n")]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:2: key `stop_timeout`: expected a duration (a string like \"5s\" or a number of seconds), found an array"
        ]
    );
}

#[test]
fn addresses_are_strings_or_ports() {
    let s = parse(&[(
        "web",
        "command = [\"true\"]\n[ready]\ntcp = \"[::1]:8080\"\n[health]\ntcp = 8081\n",
    )])
    .unwrap();
    assert_eq!(
        s[0].ready.as_ref().unwrap().check,
        ReadyCheck::Probe(Probe::Tcp("[::1]:8080".into()))
    );
    assert_eq!(
        s[0].health.as_ref().unwrap().probe,
        Probe::Tcp("127.0.0.1:8081".into())
    );
    let errs = errors(&[("web", "command = [\"true\"]\n[health]\ntcp = 80.5\n")]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:3: key `health.tcp`: expected an address (a string like \"127.0.0.1:8080\") or a port number, found a float"
        ]
    );
}

#[test]
fn global_file_keys_are_read() {
    let g = parse_global(
        Path::new("pidone.toml"),
        "user = \"app\"\nallow_root = false\nkeep_caps = [\"NET_BIND_SERVICE\"]\n\
         services_dir = \"/s\"\nlog_level = \"debug\"\n\
         [defaults]\nenv = { PATH = \"/bin\" }\nmax_restarts = 2\n\
         [defaults.limits]\nnofile = 64\n\
         [render]\nafter = [\"keys\"]\n\
         [[render.template]]\nsource = \"a.conf.tera\"\nskip_empty = true\n\
         [[render.template]]\nsource = \"b\"\ndestination = \"etc/b\"\nmode = \"0600\"\n",
    )
    .unwrap();
    assert_eq!(g.user.as_deref(), Some("app"));
    assert_eq!(g.allow_root, Some(false));
    assert_eq!(g.keep_caps, Some(vec!["NET_BIND_SERVICE".to_string()]));
    assert_eq!(g.services_dir, Some(PathBuf::from("/s")));
    assert_eq!(g.log_level.as_deref(), Some("debug"));
    assert_eq!(g.defaults.max_restarts, Some(2));
    assert_eq!(g.defaults.limits.as_ref().unwrap().nofile, Some(64));
    assert_eq!(g.render.after, ["keys"]);
    assert_eq!(g.render.mode, None);
    assert_eq!(g.render.templates.len(), 2);
    assert!(g.render.templates[0].skip_empty);
    assert_eq!(g.render.templates[1].source, "b");
    assert_eq!(g.render.templates[1].destination.as_deref(), Some("etc/b"));
    assert_eq!(g.render.templates[1].mode.as_deref(), Some("0600"));
    assert!(!g.render.templates[1].skip_empty);
    let s = parse_services(
        &[(PathBuf::from("x.toml"), "command = [\"true\"]\n".into())],
        &g.defaults,
    )
    .unwrap();
    assert_eq!(s[0].max_restarts, 2);
    assert_eq!(s[0].limits.nofile, Some(64));
    assert_eq!(s[0].env, [("PATH".to_string(), "/bin".to_string())]);

    let errs = global_errors("grace = \"1s\"\n[defaults]\ncritical = \"yes\"\nrestrat = 1\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "pidone.toml:3: key `defaults.critical`: expected a boolean (true or false), found a string"
    );
    assert!(
        errs[1].starts_with("pidone.toml:4: key `defaults.restrat`: unknown field"),
        "{errs:?}"
    );
    let errs = global_errors("defaults = 1\nrender = []\n");
    assert_eq!(
        errs,
        [
            "pidone.toml:1: key `defaults`: expected a table, found an integer",
            "pidone.toml:2: key `render`: expected a table, found an array",
        ]
    );
}

#[test]
fn inline_tables_and_dotted_keys_are_located() {
    let text = "command = [\"true\"]\n\
                limits = { nofile = 10, core = \"big\" }\n\
                health.tcp = 80\n\
                health.retries = -2\n\
                env = { A = \"1\", B = 2 }\n\
                backoff.facter = 2.0\n";
    let errs = errors(&[("web", text)]);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert_eq!(
        errs[0],
        "services.d/web.toml:2: key `limits.core`: expected an integer, found a string"
    );
    assert!(
        errs[1].starts_with("services.d/web.toml:4: key `health.retries`: -2 is out of range"),
        "{errs:?}"
    );
    assert_eq!(
        errs[2],
        "services.d/web.toml:5: key `env.B`: expected a string, found an integer"
    );
    assert!(
        errs[3].starts_with("services.d/web.toml:6: key `backoff.facter`: unknown field"),
        "{errs:?}"
    );
    let s = parse(&[(
        "web",
        "command = [\"true\"]\nlimits = { nofile = 10 }\nhealth.tcp = 80\n",
    )])
    .unwrap();
    assert_eq!(s[0].limits.nofile, Some(10));
    assert_eq!(
        s[0].health.as_ref().unwrap().probe,
        Probe::Tcp("127.0.0.1:80".into())
    );
}

#[test]
fn a_read_error_does_not_hide_the_other_errors_of_the_file() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nmax_restarts = -1\nstop_timeout = \"abc\"\n[health]\ntcp = true\n",
    )]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/web.toml:2: key `max_restarts`: -1 is out of range"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/web.toml:3: key `stop_timeout`: "),
        "{errs:?}"
    );
    // A bad check value is not also reported as a missing check.
    assert!(
        errs[2].starts_with("services.d/web.toml:5: key `health.tcp`: expected an address"),
        "{errs:?}"
    );
    // The same in the global file's [defaults].
    let errs = global_errors("[defaults]\nmax_restarts = -1\nstop_timeout = \"abc\"\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[1].starts_with("pidone.toml:3: key `stop_timeout`: "),
        "{errs:?}"
    );
}

#[test]
fn limits_are_range_checked() {
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n[limits]\nnofile = 99999999999\nnproc = 0\ncore = 0\n",
    )]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/web.toml:3: key `limits.nofile`: must be from 1 to "),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/web.toml:4: key `limits.nproc`: must be from 1 to "),
        "{errs:?}"
    );
    let ok = parse(&[(
        "web",
        "command = [\"true\"]\n[limits]\nnofile = 1024\nnproc = 64\ncore = 0\n",
    )])
    .unwrap();
    assert_eq!(ok[0].limits.nofile, Some(1024));
}

#[test]
fn oneshot_timeout_and_max_runtime_apply_to_their_kind_only() {
    let svcs = parse(&[
        ("init", "command = [\"true\"]\nkind = \"oneshot\"\n"),
        (
            "slow",
            "command = [\"true\"]\nkind = \"oneshot\"\ntimeout = \"2s\"\n",
        ),
        (
            "free",
            "command = [\"true\"]\nkind = \"oneshot\"\ntimeout = 0\n",
        ),
        ("web", "command = [\"true\"]\n"),
    ])
    .unwrap();
    let by = |n: &str| svcs.iter().find(|s| s.name == n).unwrap().timeout;
    assert_eq!(by("init"), Some(DEFAULT_ONESHOT_TIMEOUT));
    assert_eq!(by("slow"), Some(Duration::from_secs(2)));
    assert_eq!(by("free"), None);
    assert_eq!(by("web"), None);
    let errs = errors(&[
        (
            "init",
            "command = [\"true\"]\nkind = \"oneshot\"\nmax_runtime = \"1m\"\n",
        ),
        ("web", "command = [\"true\"]\ntimeout = \"1m\"\n"),
    ]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "services.d/init.toml:3: key `max_runtime`: a oneshot has no max_runtime; use `timeout`"
        ),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/web.toml:2: key `timeout`: "),
        "{errs:?}"
    );
}

#[test]
fn value_errors_are_located_from_the_spans() {
    // A key that also appears inside a string, a quoted key, a table that is never named by
    // a header, and an inline table over several lines (TOML 1.1).
    let web = "command = [\"true\"]\n\
               env = { NOTE = \"\"\"\n\
               stop_timeout = 1\n\
               \"\"\" }\n\
               \"stop_timeout\" = \"soon\"\n\
               backoff.max = \"later\"\n\
               ready = {\n\
                 timeout = \"1s\",\n\
                 tcp = \"nohost\",\n\
               }\n";
    let api =
        "command = [\"true\"]\nenv = { NOTE = '''\nafter = [\"x\"]\n''' }\nafter = [\"db\"]\n";
    let errs = errors(&[("web", web), ("api", api)]);
    let at = |line: usize, file: &str, key: &str| {
        let want = format!("services.d/{file}.toml:{line}: key `{key}`:");
        assert!(
            errs.iter().any(|e| e.starts_with(&want)),
            "{want} in {errs:?}"
        );
    };
    at(5, "web", "stop_timeout");
    at(6, "web", "backoff.max");
    at(9, "web", "ready.tcp");
    at(5, "api", "after");
    // The unusable tcp check is the one check [ready] has: no second, wrong "needs
    // exactly one of" error about it.
    assert_eq!(errs.len(), 4, "{errs:?}");
    // Two checks: reported at the second one, which is in the file.
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n\n[health]\ntcp = 80\nhttp = \"http://127.0.0.1/\"\n",
    )]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:5: key `health.http`: [health] takes exactly one kind of check, but has `tcp` and `http`: keep one"
        ]
    );
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n[ready]\nnotify_fd = 3\ntimeout = \"5s\"\nfile = \"/x\"\n",
    )]);
    assert_eq!(
        errs,
        [
            "services.d/web.toml:5: key `ready.file`: [ready] takes exactly one kind of check, but has `notify_fd` and `file`: keep one"
        ]
    );
    // An invalid health tcp address is one error, at its key.
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\n[health]\ntcp = \"nohost:x\"\n",
    )]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/web.toml:3: key `health.tcp`: "),
        "{errs:?}"
    );
    // In the global file, a default is found in [defaults], not at the top level.
    let errs = global_errors("stop_signal = \"QUIT\"\n[defaults]\nstop_signal = \"TREM\"\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("pidone.toml:3: key `stop_signal`: unknown signal"),
        "{errs:?}"
    );
    let errs = global_errors("[defaults.backoff]\n\nfactor = 1000\n");
    assert_eq!(
        errs,
        ["pidone.toml:3: key `backoff.factor`: must be between 1.0 and 100.0"]
    );
}

#[test]
fn with_defaults_is_what_a_minimal_file_gives() {
    for (kind, text) in [
        (Kind::Longrun, "command = [\"/bin/true\"]\n"),
        (
            Kind::Oneshot,
            "command = [\"/bin/true\"]\nkind = \"oneshot\"\n",
        ),
    ] {
        let from_file = parse(&[("web", text)]).unwrap().remove(0);
        let built = Service::with_defaults("web", vec!["/bin/true".into()], kind);
        assert_eq!(from_file, built, "{kind:?}");
    }
}

#[test]
fn graph_check_takes_services_from_any_source() {
    let mut a = Service::with_defaults("a", vec!["/bin/true".into()], Kind::Longrun);
    let mut b = Service::with_defaults("b", vec!["/bin/true".into()], Kind::Longrun);
    a.after = vec!["b".into()];
    b.after = vec!["a".into(), "ghost".into()];
    let errors = check_graph(&[a, b], &|name: &str| {
        (
            PathBuf::from(format!("s6-rc.d/{name}/dependencies.d")),
            None,
        )
    });
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("s6-rc.d/b/dependencies.d: key `after`: unknown service \"ghost\""),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("dependency cycle: a -> b -> a"),
        "{texts:?}"
    );
}

#[test]
fn schedules_parse_and_bad_ones_are_located() {
    let svcs = parse(&[
        (
            "renew",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"0 3 * * *\"\ntimezone = \"+02:00\"\njitter = \"30s\"\nthen_reload = [\"web\"]\n",
        ),
        ("web", "command = [\"true\"]\n"),
    ])
    .unwrap();
    let renew = svcs.iter().find(|s| s.name == "renew").unwrap();
    let sched = renew.schedule.as_ref().unwrap();
    assert_eq!(sched.offset, 7200);
    assert_eq!(sched.jitter, Duration::from_secs(30));
    assert_eq!(renew.then_reload, vec!["web".to_string()]);
    let errs = errors(&[
        ("a", "command = [\"true\"]\nschedule = \"@daily\"\n"),
        (
            "b",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"0 25 * * *\"\n",
        ),
        (
            "c",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@hourly\"\ntimezone = \"Europe/Berlin\"\nthen_reload = [\"nope\"]\n",
        ),
        (
            "d",
            "command = [\"true\"]\njitter = \"1s\"\nafter = [\"c\"]\n",
        ),
        (
            "e",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@daily\"\nexport_env = true\ncritical = true\n",
        ),
    ]);
    assert_eq!(errs.len(), 6, "{errs:?}");
    assert!(
        errs[4].starts_with("services.d/e.toml:4: key `export_env`: a scheduled oneshot cannot"),
        "{errs:?}"
    );
    assert!(
        errs[5].starts_with("services.d/e.toml:5: key `critical`: a failed scheduled run"),
        "{errs:?}"
    );
    assert!(
        errs[0].starts_with("services.d/a.toml:2: key `schedule`: only a oneshot"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/b.toml:3: key `schedule`: hour field: 25 is out of range"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with(
            "services.d/c.toml:4: key `timezone`: `Europe/Berlin` is not a supported time zone"
        ),
        "{errs:?}"
    );
    assert!(
        errs[3]
            .starts_with("services.d/d.toml:2: key `jitter`: applies only to a scheduled oneshot"),
        "{errs:?}"
    );
    // Checks across files, between services that are valid on their own.
    let errs = errors(&[
        (
            "c",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@hourly\"\nthen_reload = [\"nope\", \"init\"]\n",
        ),
        ("d", "command = [\"true\"]\nafter = [\"c\"]\n"),
        ("init", "command = [\"true\"]\nkind = \"oneshot\"\n"),
    ]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/c.toml:4: key `then_reload`: \"nope\" is not a service"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/c.toml:4: key `then_reload`: \"init\" is a oneshot"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("services.d/d.toml:2: key `after`: \"c\" is a scheduled oneshot"),
        "{errs:?}"
    );
}

#[test]
fn session_limit_keys() {
    let svcs = parse(&[(
        "term",
        "command = [\"true\"]\nmax_runtime = \"30m\"\nidle_timeout = \"10m\"\nwarn_before = \"1m\"\nwarn_signal = \"USR1\"\nwarn_command = [\"wall\", \"bye\"]\n",
    )])
    .unwrap();
    assert_eq!(svcs[0].idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(svcs[0].warn_before, Some(Duration::from_secs(60)));
    assert_eq!(svcs[0].warn_signal, Some(libc::SIGUSR1));
    assert_eq!(
        svcs[0].warn_command.as_deref(),
        Some(&["wall".to_string(), "bye".to_string()][..])
    );
    let errs = errors(&[
        (
            "a",
            "command = [\"true\"]\nkind = \"oneshot\"\nidle_timeout = \"1m\"\n",
        ),
        (
            "b",
            "command = [\"true\"]\nmax_runtime = \"1m\"\nwarn_before = \"2m\"\nwarn_signal = \"USR1\"\n",
        ),
        ("c", "command = [\"true\"]\nwarn_signal = \"USR1\"\n"),
    ]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0]
            .starts_with("services.d/a.toml:3: key `idle_timeout`: a oneshot has no idle_timeout"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with(
            "services.d/b.toml:3: key `warn_before`: (2m0s) must be shorter than max_runtime (1m0s)"
        ),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with(
            "services.d/c.toml:2: key `warn_signal`: warn_before is needed with warn_signal"
        ),
        "{errs:?}"
    );
}

#[test]
fn stop_command_is_a_oneshot_key_bounded_by_stop_timeout() {
    let svcs = parse(&[(
        "mount",
        "command = [\"true\"]\nkind = \"oneshot\"\nstop_command = [\"true\", \"undo\"]\nstop_timeout = \"3s\"\n",
    )])
    .unwrap();
    assert_eq!(
        svcs[0].stop_command,
        Some(StopCommand {
            argv: vec!["true".into(), "undo".into()],
            timeout: Some(Duration::from_secs(3)),
        })
    );
    let errs = errors(&[
        ("web", "command = [\"true\"]\nstop_command = [\"true\"]\n"),
        (
            "tick",
            "command = [\"true\"]\nkind = \"oneshot\"\nschedule = \"@every 1h\"\nstop_command = [\"true\"]\n",
        ),
        (
            "typo",
            "command = [\"true\"]\nkind = \"oneshot\"\nstop_command = [\"no-such-program-here\"]\n",
        ),
    ]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with("services.d/web.toml:2: key `stop_command`: only a oneshot"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("services.d/tick.toml:4: key `stop_command`: a scheduled oneshot"),
        "{errs:?}"
    );
    assert!(
        errs[2].starts_with("services.d/typo.toml:3: key `stop_command`: program"),
        "{errs:?}"
    );
    // [defaults] cannot hold it: it is one service's clean-up.
    let global = parse_global(
        Path::new("pidone.toml"),
        "[defaults]\nstop_command = [\"true\"]\n",
    )
    .unwrap_err();
    assert!(
        global[0].to_string().contains("belongs in a service file"),
        "{global:?}"
    );
}

/// Issue 21: one meaning for 0 across duration keys (values::zero_means). A limit at 0 is no
/// limit, from a service file and from [defaults]; a wait at 0 is no wait; a key where neither
/// makes sense refuses 0, naming file, line and key and saying what to write.
#[test]
fn zero_is_no_limit_no_wait_or_refused_the_same_way_everywhere() {
    let s = parse(&[
        (
            "web",
            "command = [\"true\"]\nmax_runtime = 0\nidle_timeout = \"0s\"\nrestart_window = 0\n\
             [backoff]\ninitial = 0\nmax = \"0ms\"\nreset_after = 0\n\
             [health]\nfile = \"/x\"\nstart_period = 0\n",
        ),
        (
            "init",
            "command = [\"true\"]\nkind = \"oneshot\"\ntimeout = 0\n",
        ),
    ])
    .unwrap();
    let web = s.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web.max_runtime, None);
    assert_eq!(web.idle_timeout, None);
    assert_eq!(web.restart_window, Duration::ZERO);
    assert_eq!(web.backoff.initial, Duration::ZERO);
    assert_eq!(web.backoff.max, Duration::ZERO);
    assert_eq!(web.health.as_ref().unwrap().start_period, Duration::ZERO);
    assert_eq!(s.iter().find(|s| s.name == "init").unwrap().timeout, None);
    // 0 limits make no warn_before possible: it needs a limit to warn before.
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nmax_runtime = 0\nwarn_before = \"1s\"\nwarn_signal = \"USR1\"\n",
    )]);
    assert!(
        errs.len() == 1 && errs[0].contains("set one of them"),
        "{errs:?}"
    );
    // From [defaults] too.
    let g = parse_global(Path::new("pidone.toml"), "[defaults]\nmax_runtime = 0\n").unwrap();
    let s = parse_services(
        &[(PathBuf::from("x.toml"), "command = [\"true\"]\n".into())],
        &g.defaults,
    )
    .unwrap();
    assert_eq!(s[0].max_runtime, None);

    // Refused: each names its line and key and what to write.
    let errs = errors(&[(
        "web",
        "command = [\"true\"]\nstop_timeout = 0\nwarn_before = 0\nmax_runtime = \"1h\"\n\
         warn_signal = \"USR1\"\n\
         [ready]\nfile = \"/r\"\ntimeout = 0\ninterval = \"0s\"\n\
         [health]\nfile = \"/x\"\ninterval = 0\ntimeout = \"0ms\"\n",
    )]);
    let expect = [
        ("2", "stop_timeout", "\"10s\""),
        ("3", "warn_before", "leave out warn_before"),
        ("8", "ready.timeout", "\"1h\""),
        ("9", "ready.interval", "busy loop"),
        ("12", "health.interval", "busy loop"),
        ("13", "health.timeout", "hung check"),
    ];
    assert_eq!(errs.len(), expect.len(), "{errs:?}");
    for (line, key, hint) in expect {
        let prefix = format!("services.d/web.toml:{line}: key `{key}`: cannot be 0: ");
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(hint)),
            "{prefix} ... {hint} not in {errs:?}"
        );
    }
    // The global file's grace.
    let g = parse_global(Path::new("pidone.toml"), "grace = 0\n").unwrap();
    let err = crate::config::settings::resolve(
        &crate::cli::Options::default(),
        &g,
        Path::new("pidone.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("pidone.toml:1: key `grace`: cannot be 0:"),
        "{err}"
    );
}
