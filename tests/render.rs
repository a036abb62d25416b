//! Integration tests of the template renderer (issue 4): real templates against hand-derived
//! expected output, every error kind and its message, secrets never in messages, `_FILE`
//! rules, atomic and symlink-safe writes, modes and ownership read back from the file system.
//! The tests of what a failed start prints (issue 20) run the real binary as PID 1.

mod common;

use pidone::render::{Mode, RenderConfig, RenderError, RenderRequest, TemplateSetting, render};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

// ------------------------------------------------------------------------------------------
// Harness

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pidone-render-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A test scene: templates dir, render dir, secrets dir, env, config.
struct Scene {
    tmp: TempDir,
    env: BTreeMap<String, String>,
    config: RenderConfig,
}

impl Scene {
    fn new() -> Self {
        let tmp = TempDir::new();
        for d in ["templates", "run", "secrets"] {
            fs::create_dir(tmp.path().join(d)).unwrap();
        }
        Scene {
            tmp,
            env: BTreeMap::new(),
            config: RenderConfig::default(),
        }
    }
    fn templates(&self) -> PathBuf {
        self.tmp.path().join("templates")
    }
    fn run(&self) -> PathBuf {
        self.tmp.path().join("run")
    }
    fn secrets(&self) -> PathBuf {
        self.tmp.path().join("secrets")
    }
    fn template(&self, name: &str, text: &str) -> &Self {
        let p = self.templates().join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }
    fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.to_string(), v.to_string());
        self
    }
    fn setting(&mut self, s: TemplateSetting) -> &mut Self {
        self.config.templates.push(s);
        self
    }
    fn render(&self, mode: Mode) -> Result<Vec<PathBuf>, Vec<RenderError>> {
        let templates = self.templates();
        let run = self.run();
        let secrets = self.secrets();
        let req = RenderRequest {
            templates_dir: &templates,
            render_dir: &run,
            config: &self.config,
            env: &self.env,
            secrets_dir: &secrets,
        };
        render(&req, mode)
    }
    fn write(&self) -> Result<Vec<PathBuf>, Vec<RenderError>> {
        self.render(Mode::Write)
    }
    /// Render expecting failure; return all messages joined.
    fn fail(&self, mode: Mode) -> String {
        match self.render(mode) {
            Ok(p) => panic!("expected an error, rendered {p:?}"),
            Err(errors) => errors.iter().map(|e| format!("{e}\n")).collect(),
        }
    }
    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.run().join(rel)).unwrap()
    }
}

fn setting(source: &str) -> TemplateSetting {
    TemplateSetting {
        source: source.to_string(),
        destination: None,
        mode: None,
        skip_empty: false,
    }
}

/// Every file under `dir`, relative path → contents.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_string();
                out.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// Names of files in `dir` (one level), to spot leftover temp files.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

// ------------------------------------------------------------------------------------------
// Real templates

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render")
}

/// Parse a fixture env file: `KEY=VALUE` lines (value taken literally, no quoting or escapes),
/// `#` comments and blank lines ignored, `@FIXTURE@` replaced by the fixture's directory.
fn load_env(file: &Path) -> BTreeMap<String, String> {
    let dir = file.parent().unwrap().to_str().unwrap();
    fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_string(), v.replace("@FIXTURE@", dir))
        })
        .collect()
}

/// Render `tests/fixtures/render/NAME/templates` with `NAME/env` (and `NAME/secrets` if present)
/// into a scratch dir and compare the whole tree with `NAME/expected`.
fn check_fixture(name: &str) {
    let dir = fixtures().join(name);
    let env = load_env(&dir.join("env"));
    let out = TempDir::new();
    let run = out.path().join("run");
    let config = RenderConfig::default();
    let templates = dir.join("templates");
    let secrets = dir.join("secrets");
    let req = RenderRequest {
        templates_dir: &templates,
        render_dir: Path::new("/run"),
        config: &config,
        env: &env,
        secrets_dir: &secrets,
    };
    let written = match render(&req, Mode::OutDir(run.clone())) {
        Ok(w) => w,
        Err(errors) => panic!(
            "{name}: {}",
            errors.iter().map(|e| format!("{e}\n")).collect::<String>()
        ),
    };
    let got = tree(&run);
    let want = tree(&dir.join("expected"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{name}: set of files"
    );
    assert_eq!(written.len(), want.len());
    for (file, want_text) in &want {
        let got_text = &got[file];
        if got_text != want_text {
            // Show the first differing line, which is far more readable than two whole files.
            let diff = got_text
                .lines()
                .zip(want_text.lines())
                .enumerate()
                .find(|(_, (g, w))| g != w)
                .map(|(i, (g, w))| format!("line {}:\n  got:  {g:?}\n  want: {w:?}", i + 1))
                .unwrap_or_else(|| "(differ in length or trailing newline)".to_string());
            panic!(
                "{name}/{file} differs from expected, first difference at {diff}\n--- got:\n{got_text}"
            );
        }
    }
}

#[test]
fn real_template_jitsi_jvb_conf() {
    check_fixture("jvb");
}

#[test]
fn real_template_jitsi_prosody_cfg_lua() {
    check_fixture("prosody");
}

#[test]
fn real_template_jitsi_web_meet_conf() {
    check_fixture("web");
}

#[test]
fn real_template_synapse_homeserver_yaml() {
    check_fixture("synapse");
}

#[test]
fn ported_templates_fail_cleanly_without_their_required_env() {
    // The synapse port demands SYNAPSE_REPORT_STATS like start.py does.
    let dir = fixtures().join("synapse");
    let mut env = load_env(&dir.join("env"));
    env.remove("SYNAPSE_REPORT_STATS");
    let config = RenderConfig::default();
    let (templates, secrets) = (dir.join("templates"), dir.join("secrets"));
    let req = RenderRequest {
        templates_dir: &templates,
        render_dir: Path::new("/run"),
        config: &config,
        env: &env,
        secrets_dir: &secrets,
    };
    let errors = render(&req, Mode::DryRun).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let msg = errors[0].to_string();
    assert!(
        msg.contains("synapse/homeserver.yaml.tera:")
            && msg.contains("required value missing: set SYNAPSE_REPORT_STATS to yes or no"),
        "{msg}"
    );
    // The password read through POSTGRES_PASSWORD_FILE is in no message.
    assert!(!msg.contains("pg-pa55word"));
}

// ------------------------------------------------------------------------------------------
// Basic rendering and the context

#[test]
fn renders_mirrored_tree_with_suffix_stripped() {
    let mut s = Scene::new();
    s.template(
        "prosody/prosody.cfg.lua.tera",
        "domain = {{ env.XMPP_DOMAIN | quote }}\n",
    )
    .template("plain.conf", "kept name {{ env.XMPP_DOMAIN }}\n");
    s.env("XMPP_DOMAIN", "meet.example.org");
    let mut written = s.write().unwrap();
    written.sort();
    assert_eq!(
        written,
        [
            s.run().join("plain.conf"),
            s.run().join("prosody/prosody.cfg.lua")
        ]
    );
    assert_eq!(
        s.read("prosody/prosody.cfg.lua"),
        "domain = \"meet.example.org\"\n"
    );
    assert_eq!(s.read("plain.conf"), "kept name meet.example.org\n");
}

#[test]
fn missing_templates_dir_renders_nothing() {
    let s = Scene::new();
    fs::remove_dir(s.templates()).unwrap();
    assert_eq!(s.write().unwrap(), Vec::<PathBuf>::new());
    assert!(names(&s.run()).is_empty());
}

#[test]
fn autoescape_is_off_for_every_suffix() {
    let mut s = Scene::new();
    for name in ["a.xml.tera", "b.html.tera", "c.htm", "d.xml"] {
        s.template(name, "<v>{{ env.V }}</v>");
    }
    s.env("V", "a & b <c> \"d\" 'e'");
    s.write().unwrap();
    for name in ["a.xml", "b.html", "c.htm", "d.xml"] {
        assert_eq!(s.read(name), "<v>a & b <c> \"d\" 'e'</v>", "{name}");
    }
}

#[test]
fn secrets_dir_files_are_in_the_context() {
    let s = Scene::new();
    fs::write(s.secrets().join("db_password"), "from-secrets\n").unwrap();
    fs::write(s.secrets().join(".hidden"), "skipped").unwrap();
    fs::create_dir(s.secrets().join("..data")).unwrap();
    s.template(
        "x.tera",
        "{{ secrets.db_password }}|{{ secrets | length }}|{{ secrets['db_password'] | b64encode }}",
    );
    s.write().unwrap();
    assert_eq!(s.read("x"), "from-secrets|1|ZnJvbS1zZWNyZXRz");
}

#[test]
fn missing_secrets_dir_is_an_empty_map() {
    let s = Scene::new();
    fs::remove_dir(s.secrets()).unwrap();
    s.template("x.tera", "{{ secrets | length }}");
    s.write().unwrap();
    assert_eq!(s.read("x"), "0");
}

#[test]
fn skip_empty_writes_nothing_for_blank_output() {
    let mut s = Scene::new();
    s.template(
        "opt.conf.tera",
        "{% if env.FEATURE | default(value='') %}on{% endif %}\n  \n",
    );
    s.template(
        "always.conf.tera",
        "{% if env.FEATURE | default(value='') %}on{% endif %}\n",
    );
    s.setting(TemplateSetting {
        skip_empty: true,
        ..setting("opt.conf.tera")
    });
    assert_eq!(s.write().unwrap(), [s.run().join("always.conf")]);
    assert_eq!(names(&s.run()), ["always.conf"]);
    assert_eq!(s.read("always.conf"), "\n");
}

#[test]
fn dry_run_writes_nothing_and_out_dir_writes_elsewhere() {
    let s = Scene::new();
    s.template("a/b.conf.tera", "x");
    assert_eq!(s.render(Mode::DryRun).unwrap(), [s.run().join("a/b.conf")]);
    assert!(names(&s.run()).is_empty());

    let out = s.tmp.path().join("inspect/nested");
    assert_eq!(
        s.render(Mode::OutDir(out.clone())).unwrap(),
        [out.join("a/b.conf")]
    );
    assert_eq!(fs::read_to_string(out.join("a/b.conf")).unwrap(), "x");
    assert!(names(&s.run()).is_empty());
}

#[test]
fn destination_setting_moves_the_output() {
    let mut s = Scene::new();
    s.template("jvb.conf.tera", "x");
    s.setting(TemplateSetting {
        destination: Some("jvb/custom.conf".into()),
        ..setting("jvb.conf.tera")
    });
    assert_eq!(s.write().unwrap(), [s.run().join("jvb/custom.conf")]);
    assert_eq!(s.read("jvb/custom.conf"), "x");
    // An absolute destination inside the render dir is accepted too.
    s.config.templates[0].destination = Some(s.run().join("abs.conf").to_str().unwrap().into());
    s.write().unwrap();
    assert_eq!(s.read("abs.conf"), "x");
}

// ------------------------------------------------------------------------------------------
// _FILE rules

#[test]
fn var_file_reads_the_file_and_strips_one_newline() {
    let mut s = Scene::new();
    let f = s.tmp.path().join("pw");
    fs::write(&f, "line1\nline2\n\n").unwrap();
    s.env("DB_PASSWORD_FILE", f.to_str().unwrap());
    s.template(
        "x.tera",
        "[{{ env.DB_PASSWORD }}]|{{ env.DB_PASSWORD_FILE is defined }}",
    );
    s.write().unwrap();
    assert_eq!(
        s.read("x"),
        format!("[line1\nline2\n]|true"),
        "one trailing newline stripped, the rest kept"
    );
}

#[test]
fn var_and_var_file_together_is_an_error_naming_both_not_the_values() {
    let mut s = Scene::new();
    let f = s.tmp.path().join("pw");
    fs::write(&f, "FILE-SECRET-9c1\n").unwrap();
    s.env("DB_PASSWORD", "ENV-SECRET-77f")
        .env("DB_PASSWORD_FILE", f.to_str().unwrap());
    s.template("x.tera", "{{ env.DB_PASSWORD }}");
    let msg = s.fail(Mode::DryRun);
    assert!(
        msg.contains("both `DB_PASSWORD` and `DB_PASSWORD_FILE` are set"),
        "{msg}"
    );
    assert!(
        !msg.contains("ENV-SECRET-77f") && !msg.contains("FILE-SECRET-9c1"),
        "{msg}"
    );
}

#[test]
fn unreadable_var_file_names_the_variable_and_path() {
    let mut s = Scene::new();
    let missing = s.tmp.path().join("no-such-file");
    s.env("TOKEN_FILE", missing.to_str().unwrap());
    s.template("x.tera", "{{ env.TOKEN | default(value='') }}");
    let msg = s.fail(Mode::Write);
    assert!(
        msg.contains("`TOKEN_FILE`") && msg.contains(missing.to_str().unwrap()),
        "{msg}"
    );
    assert!(names(&s.run()).is_empty(), "nothing written on error");
}

#[test]
fn var_file_problems_of_unused_variables_are_ignored() {
    // Containers carry unrelated *_FILE variables (TF_CLI_CONFIG_FILE, LOG_FILE, ...) whose
    // files the unprivileged user may not read; only variables a template uses count.
    let mut s = Scene::new();
    s.env("LOG_FILE", "/nonexistent/log").env("LOG", "x");
    s.env("TOKENIZER_FILE", "/nonexistent/t");
    s.template(
        "x.tera",
        "{{ env.TOKENIZER | default(value='-') }}{{ env.TOKEN | default(value='') }}",
    );
    s.env("TOKEN_FILE", "/nonexistent/token");
    let msg = s.fail(Mode::DryRun);
    assert!(
        msg.contains("`TOKEN_FILE`") && msg.contains("`TOKENIZER_FILE`"),
        "{msg}"
    );
    assert!(!msg.contains("LOG_FILE"), "{msg}");
}

#[test]
fn empty_var_file_counts_as_unset() {
    let mut s = Scene::new();
    s.env("TOKEN_FILE", "").env("TOKEN", "direct");
    s.template("x.tera", "{{ env.TOKEN }}");
    s.write().unwrap();
    assert_eq!(s.read("x"), "direct");
}

// ------------------------------------------------------------------------------------------
// Error kinds and their messages

#[test]
fn undefined_variable_names_path_line_column_and_variable() {
    let mut s = Scene::new();
    s.template(
        "prosody/prosody.cfg.lua.tera",
        "-- head\nVirtualHost \"{{ env.XMPP_DOMAIN }}\"\n",
    );
    s.env("OTHER", "x");
    let msg = s.fail(Mode::DryRun);
    let path = s.templates().join("prosody/prosody.cfg.lua.tera");
    assert!(
        msg.starts_with(&format!(
            "{}:2:17: variable `env.XMPP_DOMAIN` is not defined\n",
            path.display()
        )),
        "{msg}"
    );
    assert!(
        msg.contains("2 | VirtualHost \"{{ env.XMPP_DOMAIN }}\""),
        "{msg}"
    );
    assert!(!msg.contains("Available"), "no list of env names: {msg}");
}

#[test]
fn undefined_variable_through_a_filter_is_named() {
    let s = Scene::new();
    s.template("a.tera", "{{ env.JVB_PORT | to_int }}");
    s.template("b.tera", "{{ env.HOST | upper }}");
    let msg = s.fail(Mode::DryRun);
    assert!(
        msg.contains("a.tera:1:")
            && msg.contains("variable `env.JVB_PORT` is not defined (filter `to_int`)"),
        "{msg}"
    );
    assert!(
        msg.contains("b.tera:1:") && msg.contains("variable `env.HOST` is not defined"),
        "{msg}"
    );
}

#[test]
fn syntax_error_names_path_line_column() {
    let s = Scene::new();
    s.template("bad.conf.tera", "ok\n{{ env.X | }}\n");
    let msg = s.fail(Mode::DryRun);
    assert!(
        msg.starts_with(&format!(
            "{}:2:12: Found `}}}}` but expected identifier.",
            s.templates().join("bad.conf.tera").display()
        )),
        "{msg}"
    );
}

#[test]
fn unknown_filter_is_reported_with_location() {
    let s = Scene::new();
    s.template("f.tera", "\n{{ env.X | tobool }}");
    let msg = s.fail(Mode::DryRun);
    assert!(
        msg.starts_with(&format!("{}:2:", s.templates().join("f.tera").display()))
            && msg.contains("Unknown filter `tobool`"),
        "{msg}"
    );
}

#[test]
fn failed_required_shows_the_custom_message() {
    let s = Scene::new();
    s.template(
        "mumble/mumble-server.ini.tera",
        "serverpassword={{ env.MUMBLE_SUPERUSER_PASSWORD | required(msg=\"set MUMBLE_SUPERUSER_PASSWORD: no default server password\") }}\n",
    );
    let msg = s.fail(Mode::Write);
    assert!(
        msg.starts_with(&format!(
            "{}:1:51: required value missing: set MUMBLE_SUPERUSER_PASSWORD: no default server password\n",
            s.templates().join("mumble/mumble-server.ini.tera").display()
        )),
        "{msg}"
    );
    assert!(names(&s.run()).is_empty());
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let mut s = Scene::new();
    s.template("one.tera", "{{ env.A }}");
    s.template("two.tera", "{% if %}");
    s.template("three.tera", "{{ env.B | parse_bool }}{{ env.C }}");
    s.env("B", "maybe").env("C", "");
    s.env("C_FILE", "/nonexistent/c");
    s.config.mode = Some("0666".into());
    s.setting(setting("nope.tera"));
    let msg = s.fail(Mode::DryRun);
    for part in [
        "one.tera:1:",
        "two.tera:1:",
        "three.tera:1:",
        "filter `parse_bool`",
        "`C` and `C_FILE`",
        "[render] mode",
        "source = \"nope.tera\": no such template",
    ] {
        assert!(msg.contains(part), "missing {part:?} in:\n{msg}");
    }
}

#[test]
fn bad_settings_are_rejected() {
    let s = Scene::new();
    s.template("a.conf.tera", "x");
    s.template("b.conf", "y");
    let cases: Vec<(TemplateSetting, &str)> = vec![
        (
            TemplateSetting {
                mode: Some("0649".into()),
                ..setting("a.conf.tera")
            },
            "is not an octal permission",
        ),
        (
            TemplateSetting {
                mode: Some("4755".into()),
                ..setting("a.conf.tera")
            },
            "setuid",
        ),
        (
            TemplateSetting {
                destination: Some("../etc/passwd".into()),
                ..setting("a.conf.tera")
            },
            "no `..`",
        ),
        (
            TemplateSetting {
                destination: Some("/etc/passwd".into()),
                ..setting("a.conf.tera")
            },
            "outside the render dir",
        ),
        (
            TemplateSetting {
                destination: Some("b.conf".into()),
                ..setting("a.conf.tera")
            },
            "both render to",
        ),
        (setting("a.conf"), "did you mean \"a.conf.tera\""),
        (setting("../x"), "no `..`"),
    ];
    for (bad, expect) in cases {
        let mut s2 = Scene {
            tmp: TempDir::new(),
            env: BTreeMap::new(),
            config: RenderConfig::default(),
        };
        for d in ["templates", "run", "secrets"] {
            fs::create_dir(s2.tmp.path().join(d)).unwrap();
        }
        fs::write(s2.templates().join("a.conf.tera"), "x").unwrap();
        fs::write(s2.templates().join("b.conf"), "y").unwrap();
        s2.setting(bad);
        let msg = s2.fail(Mode::Write);
        assert!(msg.contains(expect), "expected {expect:?} in {msg}");
        assert!(names(&s2.run()).is_empty());
    }
    drop(s);
}

/// A distinctive secret, set in the env, a `_FILE` and the secrets dir, must appear in no error
/// message of any kind — including Tera's own `int`/`float`, arithmetic, `throw` and type errors.
#[test]
fn secret_values_appear_in_no_error_message() {
    const SECRET: &str = "Zq8-SECRET-v4lue";
    let mut s = Scene::new();
    let f = s.tmp.path().join("pw");
    fs::write(&f, format!("{SECRET}-file\n")).unwrap();
    fs::write(s.secrets().join("api_key"), format!("{SECRET}-dir")).unwrap();
    s.env("PASSWORD", SECRET)
        .env("TOKEN_FILE", f.to_str().unwrap())
        .env("BIG", "170141183460469231731687303715884105727")
        .env("SECRET_COPY", SECRET)
        .env("SECRET_COPY_FILE", "/also/set");
    let failing = [
        "{{ env.PASSWORD | int }}",
        "{{ env.PASSWORD | to_int }}",
        "{{ env.PASSWORD | float }}",
        "{{ env.PASSWORD | parse_bool }}",
        "{{ env.PASSWORD | b64decode }}",
        "{{ env.PASSWORD + 1 }}",
        "{{ env.BIG | int + 1 }}",
        "{{ throw(message='bad: ' ~ env.PASSWORD) }}",
        "{{ throw(message=env.TOKEN) }}",
        "{{ throw(message=secrets.api_key) }}",
        "{{ env.PASSWORD | splitn(n='x') }}",
        "{{ env.PASSWORD.nope }}",
        "{{ env[env.PASSWORD] }}",
        "{{ env.MISSING | required(msg='need it') }}{{ env.PASSWORD }}",
        "{% for x in env.PASSWORD | int %}{% endfor %}",
        "{{ env.SECRET_COPY }}",
    ];
    for (i, t) in failing.iter().enumerate() {
        s.template(&format!("t{i:02}.tera"), t);
    }
    let msg = s.fail(Mode::Write);
    // Every template failed (the last through the _FILE conflict), and no message holds a secret.
    for i in 0..failing.len() - 1 {
        assert!(
            msg.contains(&format!("t{i:02}.tera:1:")),
            "t{i:02} not reported:\n{msg}"
        );
    }
    assert!(msg.contains("`SECRET_COPY` and `SECRET_COPY_FILE`"));
    assert!(!msg.contains("SECRET-v4lue"), "leaked:\n{msg}");
    assert!(!msg.contains("Zq8"), "leaked:\n{msg}");
    assert!(
        !msg.contains("170141183460469231731687303715884105727"),
        "leaked:\n{msg}"
    );
    assert!(names(&s.run()).is_empty());
}

/// Every way a template can turn a secret into text that an error prints: filters and
/// functions whose messages hold their arguments, and the paths from one template to
/// another (include, extends, components). Each template fails; no message holds the
/// secret, its lower-cased form or its base64.
#[test]
fn derived_secrets_reach_no_message_by_any_path() {
    const S: &str = "Pq4wXz8LmKt2";
    let mut s = Scene::new();
    let f = s.tmp.path().join("k");
    fs::write(&f, format!("{S}\n")).unwrap();
    fs::write(s.secrets().join("tok"), S).unwrap();
    s.env("K_FILE", f.to_str().unwrap()).env("HOST", "h");
    let failing = [
        "{{ {'a': 1} | get(key=env.K | lower) }}",
        "{{ {'a': 1} | get(key=secrets.tok | b64encode) }}",
        "{{ env.NONE | required(msg='x' ~ env.K) }}",
        "{{ env.HOST | check(var=env.K, type='port') }}",
        "{{ env.HOST | check(var='HOST', values=[env.K | lower]) }}",
        "{{ throw(message=env.K | lower) }}",
        "{{ __tera_context | get(key='nope') }}{{ env.NOPE_A }}",
        "{% for k, v in env %}{{ {'a': 1} | get(key=v | lower) }}{% endfor %}",
        "{% set e = env %}{{ {'a': 1} | get(key=e.K) }}",
        "{{ [1][env.K | lower] }}",
        "{{ env.K | lower | float }}{{ env.K + 1 }}",
        "{% include 'lib.inc' %}",
        "{% extends 'base.inc' %}{% block b %}{% endblock b %}",
        "{{ <leak /> }}",
    ];
    for (i, t) in failing.iter().enumerate() {
        s.template(&format!("t{i:02}.tera"), t);
    }
    s.template("lib.inc", "{{ {'a': 1} | get(key=env.K | upper) }}");
    s.template(
        "base.inc",
        "{% block b %}{% endblock b %}{{ {'a': 1} | get(key=secrets.tok | lower) }}",
    );
    s.template(
        "comp.inc",
        "{% component leak(@env) %}{{ {'a': 1} | get(key=env.K | b64encode) }}{% endcomponent leak %}",
    );
    let msg = s.fail(Mode::DryRun);
    for i in 0..failing.len() {
        assert!(
            msg.contains(&format!("t{i:02}.tera:1:")) || msg.contains(".inc:1:"),
            "t{i:02} not reported:\n{msg}"
        );
    }
    let b64 = pidone::render::b64encode(S.as_bytes());
    let b64_lower = pidone::render::b64encode(S.to_lowercase().as_bytes());
    for hidden in [S, &b64, &b64_lower] {
        assert!(
            !msg.to_lowercase().contains(&hidden.to_lowercase()),
            "{hidden} leaked:\n{msg}"
        );
    }
    assert!(!msg.contains("Pq4wXz8"), "a prefix leaked:\n{msg}");
}

// ------------------------------------------------------------------------------------------
// Safe writes

#[test]
fn failing_second_template_leaves_the_first_destination_untouched() {
    let mut s = Scene::new();
    s.template("a.conf.tera", "new a {{ env.X }}\n");
    s.template("b.conf.tera", "new b {{ env.MISSING }}\n");
    s.env("X", "1");
    fs::write(s.run().join("a.conf"), b"old a\n").unwrap();
    fs::set_permissions(s.run().join("a.conf"), fs::Permissions::from_mode(0o600)).unwrap();
    let before = fs::metadata(s.run().join("a.conf")).unwrap();
    s.fail(Mode::Write);
    let after = fs::metadata(s.run().join("a.conf")).unwrap();
    assert_eq!(fs::read(s.run().join("a.conf")).unwrap(), b"old a\n");
    assert_eq!(before.ino(), after.ino(), "same inode: not replaced");
    assert_eq!(after.mode() & 0o777, 0o600);
    assert_eq!(names(&s.run()), ["a.conf"], "no temp files, no b.conf");
}

#[test]
fn write_failure_on_one_destination_changes_no_other_file() {
    // b.conf's destination is a directory: staging fails after a.conf's temp file was written.
    let s = Scene::new();
    s.template("a.conf.tera", "new a\n");
    s.template("b.conf.tera", "new b\n");
    fs::write(s.run().join("a.conf"), "old a\n").unwrap();
    fs::create_dir(s.run().join("b.conf")).unwrap();
    let msg = s.fail(Mode::Write);
    assert!(
        msg.contains("b.conf exists and is not a regular file"),
        "{msg}"
    );
    assert_eq!(s.read("a.conf"), "old a\n");
    assert_eq!(
        names(&s.run()),
        ["a.conf", "b.conf"],
        "temp file of a.conf removed"
    );
}

#[test]
fn successful_write_replaces_atomically_and_leaves_no_temp_files() {
    let s = Scene::new();
    s.template("d/a.conf.tera", "new\n");
    fs::create_dir(s.run().join("d")).unwrap();
    fs::write(s.run().join("d/a.conf"), "old\n").unwrap();
    let old_ino = fs::metadata(s.run().join("d/a.conf")).unwrap().ino();
    s.write().unwrap();
    assert_eq!(s.read("d/a.conf"), "new\n");
    assert_ne!(
        fs::metadata(s.run().join("d/a.conf")).unwrap().ino(),
        old_ino,
        "renamed over, not truncated"
    );
    assert_eq!(names(&s.run().join("d")), ["a.conf"]);
}

#[test]
fn default_mode_is_0640_owned_by_the_process_user() {
    let s = Scene::new();
    s.template("app/app.conf.tera", "x");
    s.write().unwrap();
    let m = fs::metadata(s.run().join("app/app.conf")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.uid(), euid());
    assert_eq!(m.gid(), nix::unistd::getegid().as_raw());
    let d = fs::metadata(s.run().join("app")).unwrap();
    assert_eq!(d.mode() & 0o7777, 0o750, "created parent dir mode");
    assert_eq!(d.uid(), euid());
}

#[test]
fn configured_modes_apply_even_over_an_existing_file() {
    let mut s = Scene::new();
    s.template("secret.conf.tera", "x");
    s.template("public.conf.tera", "y");
    s.template("other.conf.tera", "z");
    fs::write(s.run().join("secret.conf"), "old").unwrap();
    fs::set_permissions(
        s.run().join("secret.conf"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    s.config.mode = Some("0600".into());
    s.setting(TemplateSetting {
        mode: Some("0644".into()),
        ..setting("public.conf.tera")
    });
    s.write().unwrap();
    let mode = |n: &str| fs::metadata(s.run().join(n)).unwrap().mode() & 0o7777;
    assert_eq!(mode("secret.conf"), 0o600, "global [render] mode");
    assert_eq!(mode("other.conf"), 0o600);
    assert_eq!(mode("public.conf"), 0o644, "per-template mode");
}

#[test]
fn symlink_at_destination_is_refused() {
    let s = Scene::new();
    s.template("a.conf.tera", "evil?\n");
    let target = s.tmp.path().join("target");
    fs::write(&target, "precious\n").unwrap();
    symlink(&target, s.run().join("a.conf")).unwrap();
    let msg = s.fail(Mode::Write);
    assert!(msg.contains("a.conf is a symlink"), "{msg}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(
        fs::symlink_metadata(s.run().join("a.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn symlinked_directory_under_the_render_dir_is_not_followed() {
    let s = Scene::new();
    s.template("prosody/prosody.cfg.lua.tera", "x\n");
    let outside = s.tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    symlink(&outside, s.run().join("prosody")).unwrap();
    let msg = s.fail(Mode::Write);
    assert!(
        msg.contains("prosody is a symlink; refusing to follow it"),
        "{msg}"
    );
    assert!(
        names(&outside).is_empty(),
        "nothing written through the link"
    );
}

#[test]
fn dotdot_destination_is_refused_before_anything_is_written() {
    let mut s = Scene::new();
    s.template("ok.conf.tera", "ok\n");
    s.template("a.conf.tera", "x\n");
    s.setting(TemplateSetting {
        destination: Some("sub/../../escaped.conf".into()),
        ..setting("a.conf.tera")
    });
    let msg = s.fail(Mode::Write);
    assert!(msg.contains("no `..`"), "{msg}");
    assert!(!s.tmp.path().join("escaped.conf").exists());
    assert!(
        names(&s.run()).is_empty(),
        "not even the valid template is written"
    );
}

// ------------------------------------------------------------------------------------------
// Bundled demo and the benchmark generator

#[test]
fn bundled_demo_template_renders() {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let config = RenderConfig::default();
    let out = TempDir::new();
    let render_with = |env: &BTreeMap<String, String>| {
        let req = RenderRequest {
            templates_dir: &templates,
            render_dir: Path::new("/run"),
            config: &config,
            env,
            secrets_dir: Path::new("/nonexistent"),
        };
        render(&req, Mode::OutDir(out.path().to_path_buf())).unwrap();
        fs::read_to_string(out.path().join("demo/app.conf")).unwrap()
    };
    assert_eq!(
        render_with(&BTreeMap::new()),
        "# demo app configuration, rendered by pidone\ngreeting = \"hello\"\ndebug = false\npeers = []\n"
    );
    let env: BTreeMap<String, String> = [
        ("DEMO_GREETING", "say \"hi\""),
        ("DEMO_DEBUG", "T"),
        ("DEMO_PEERS", "a.example, b.example,,"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        render_with(&env),
        "# demo app configuration, rendered by pidone\ngreeting = \"say \\\"hi\\\"\"\ndebug = true\npeers = [\"a.example\", \"b.example\"]\n"
    );
}

#[test]
fn jitsi_sized_generator_produces_a_renderable_set() {
    let out = TempDir::new();
    let status = std::process::Command::new("sh")
        .arg(fixtures().join("make-jitsi-sized.sh"))
        .arg(out.path())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let env = load_env(&out.path().join("env"));
    assert!((440..=470).contains(&env.len()), "{} env vars", env.len());
    let templates = out.path().join("templates");
    let lines: usize = tree(&templates).values().map(|t| t.lines().count()).sum();
    assert!((3300..=3900).contains(&lines), "{lines} lines");
    let config = RenderConfig::default();
    let secrets = out.path().join("secrets");
    let req = RenderRequest {
        templates_dir: &templates,
        render_dir: Path::new("/run"),
        config: &config,
        env: &env,
        secrets_dir: &secrets,
    };
    let written = render(&req, Mode::DryRun).unwrap();
    assert_eq!(written.len(), 27);
}

// ------------------------------------------------------------------------------------------
// What a failed start prints (issue 20): the real binary as PID 1, its whole stdout and stderr

/// A secret with nothing a redaction list could split it at (no punctuation), so only the
/// design can keep what a template derives from it out of the messages.
const SECRET: &str = "Vk2pQ7xRz9LmW4tY";

/// Start pidone as PID 1 with `templates` (name, text) under the scratch templates dir, the
/// secret in the file named by `APP_DB_FILE` (a harmless-looking name: the `_FILE` makes it a
/// secret) and in the secrets dir as `api`, plus `env`. The render must fail (exit 65);
/// returns stdout and stderr together.
fn failed_start(templates: &[(&str, &str)], env: &[(&str, &str)]) -> (common::Scratch, String) {
    let s = common::Scratch::new();
    s.write("keys/db", &format!("{SECRET}\n"));
    s.write("secrets/api", SECRET);
    for (name, text) in templates {
        s.write(&format!("templates/{name}"), text);
    }
    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("APP_DB_FILE", s.join("keys/db"))
        .env("PIDONE_SECRETS_DIR", s.join("secrets"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (out, _) = common::run_with_timeout(cmd, std::time::Duration::from_secs(30));
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(65), "{all}");
    assert!(!s.join("rendered").join("app.conf").exists(), "{all}");
    (s, all)
}

/// The template failed at `app.conf.tera:1:COL`, and neither the secret nor `derived` (nor
/// their lower- or upper-cased forms) appears anywhere in the output.
fn assert_hidden(s: &common::Scratch, all: &str, col: usize, derived: &str) {
    let at = format!("{}:1:{col}: ", s.join("templates/app.conf.tera").display());
    assert!(all.contains(&at), "no {at:?} in:\n{all}");
    for hidden in [SECRET, derived] {
        for form in [
            hidden.to_string(),
            hidden.to_lowercase(),
            hidden.to_uppercase(),
        ] {
            assert!(!all.contains(&form), "{form:?} printed:\n{all}");
        }
    }
    assert!(all.contains("this template reads a secret"), "{all}");
}

fn base64(s: &str) -> String {
    pidone::render::b64encode(s.as_bytes())
}

#[test]
fn base64_of_a_file_secret_is_never_printed() {
    require_namespaces!();
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ {\"a\": 1} | get(key=env.APP_DB | b64encode) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 15, &base64(SECRET));
    assert!(
        all.contains("a key that the map does not have (at filter `get`)"),
        "{all}"
    );
}

#[test]
fn a_seven_character_substring_of_a_secret_is_never_printed() {
    require_namespaces!();
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ {\"a\": 1} | get(key=env.APP_DB | truncate(length=7, end=\"\")) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 15, &SECRET[..7]);
}

#[test]
fn a_replaced_secret_is_never_printed() {
    require_namespaces!();
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ {\"a\": 1} | get(key=env.APP_DB | replace(from=\"Q\", to=\"_\")) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 15, &SECRET.replace('Q', "_"));
}

#[test]
fn the_first_part_of_a_split_secrets_dir_file_is_never_printed() {
    require_namespaces!();
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ {\"a\": 1} | get(key=secrets.api | split(sep=\"9\") | first) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 15, SECRET.split('9').next().unwrap());
}

#[test]
fn a_required_message_computed_from_a_secret_is_never_printed() {
    require_namespaces!();
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ env.APP_NAME | required(msg=env.APP_DB | lower | b64encode) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 19, &base64(&SECRET.to_lowercase()));
    assert!(
        all.contains("`env.APP_NAME`: required value missing"),
        "{all}"
    );
    // A literal message in the same kind of template is shown: it is template text.
    let (_, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ env.APP_DB }}{{ env.APP_NAME | required(msg=\"set APP_NAME\") }}\n",
        )],
        &[],
    );
    assert!(
        all.contains("required value missing: set APP_NAME\n"),
        "{all}"
    );
}

/// The path in `X_FILE` is not a secret, even when the variable's name looks secret: it is
/// shown where it appears, and its parts do not vanish from template paths.
#[test]
fn x_file_paths_are_shown_as_they_are() {
    require_namespaces!();
    let s = common::Scratch::new();
    s.write("keys/db", &format!("{SECRET}\n"));
    s.write("templates/app.conf.tera", "port = {{ env.PORT | }}\n");
    s.write(
        "templates/where.conf.tera",
        "{{ {\"a\": 1} | get(key=env.DB_PASSWORD_FILE) }}\n",
    );
    let key_path = s.join("keys/db").display().to_string();
    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("DB_PASSWORD_FILE", &key_path);
    let (out, _) = common::run_with_timeout(cmd, std::time::Duration::from_secs(30));
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(65), "{all}");
    let parse_error = format!("{}:1:", s.join("templates/app.conf.tera").display());
    assert!(all.contains(&parse_error), "no {parse_error:?} in:\n{all}");
    assert!(
        all.contains(&format!("Map does not have a key {key_path} ")),
        "{all}"
    );
    assert!(!all.contains("redacted") && !all.contains(SECRET), "{all}");
}

/// A secret of a few letters that equals common text (`true`) hides nothing that is not
/// derived from it: not a template path, not a variable name, not the excerpt.
#[test]
fn a_short_secret_equal_to_common_text_hides_nothing_else() {
    require_namespaces!();
    let s = common::Scratch::new();
    s.write("keys/flag", "true\n");
    s.write(
        "templates/true/app.conf.tera",
        "{% if true %}dns = {{ env.USE_TRUE_DNS }}{% endif %}\n",
    );
    // This one reads the secret: its message is the template's own text only, which still
    // holds `true` where the template author wrote it.
    s.write(
        "templates/true/flag.conf.tera",
        "{% if env.FLAG | parse_bool == true %}{{ env.TRUE_NAME }}{% endif %}\n",
    );
    let mut cmd = s.pid1(&["--allow-root", "--", "true"]);
    cmd.env("FLAG_FILE", s.join("keys/flag"));
    let (out, _) = common::run_with_timeout(cmd, std::time::Duration::from_secs(30));
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(65), "{all}");
    let app = s.join("templates/true/app.conf.tera").display().to_string();
    assert!(
        all.contains(&format!(
            "{app}:1:23: variable `env.USE_TRUE_DNS` is not defined\n"
        )),
        "{all}"
    );
    assert!(
        all.contains("1 | {% if true %}dns = {{ env.USE_TRUE_DNS }}{% endif %}\n"),
        "{all}"
    );
    let flag = s
        .join("templates/true/flag.conf.tera")
        .display()
        .to_string();
    assert!(
        all.contains(&format!(
            "{flag}:1:42: variable `env.TRUE_NAME` is not defined\n"
        )),
        "{all}"
    );
    assert!(!all.contains("redacted"), "{all}");
}

/// A FIFO among the templates (also behind a symlink), and a socket, are errors naming each
/// file and what it is; nothing blocks on the FIFO, which has no writer.
#[test]
fn fifo_and_socket_templates_are_errors_naming_them() {
    require_namespaces!();
    let s = common::Scratch::new();
    s.write("templates/ok.conf.tera", "ok\n");
    let dir = s.join("templates");
    nix::unistd::mkfifo(
        &dir.join("pipe.conf.tera"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .unwrap();
    symlink(dir.join("pipe.conf.tera"), dir.join("via-link.conf.tera")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("sock.conf.tera")).unwrap();
    let started = std::time::Instant::now();
    let (out, _) = common::run_with_timeout(
        s.pid1(&["--allow-root", "--", "true"]),
        std::time::Duration::from_secs(30),
    );
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{all}"
    );
    assert_eq!(out.status.code(), Some(65), "{all}");
    for (name, what) in [
        ("pipe.conf.tera", "is a FIFO"),
        ("via-link.conf.tera", "is a symlink to a FIFO"),
        ("sock.conf.tera", "is a socket"),
    ] {
        let line = format!("{} {what}", dir.join(name).display());
        assert!(all.contains(&line), "no {line:?} in:\n{all}");
    }
    assert!(!s.join("rendered/ok.conf").exists(), "{all}");
}

#[test]
fn a_template_linked_to_dev_zero_is_an_error_naming_the_device() {
    require_namespaces!();
    let s = common::Scratch::new();
    s.write("templates/ok.conf.tera", "ok\n");
    let link = s.join("templates/zero.conf.tera");
    symlink("/dev/zero", &link).unwrap();
    let (out, _) = common::run_with_timeout(
        s.pid1(&["--allow-root", "--", "true"]),
        std::time::Duration::from_secs(30),
    );
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert_eq!(out.status.code(), Some(65), "{all}");
    let line = format!(
        "{} is a symlink to a character device (/dev/zero)",
        link.display()
    );
    assert!(all.contains(&line), "no {line:?} in:\n{all}");
    assert!(!all.contains("dangling"), "{all}");
}

/// A template that reads a secret and loops over env to map `APP_*` variables (as the mumble
/// image does) still names the variable when it stops: a `throw` or `check` message computed
/// only from variable names, the template's own literals and `check`'s fixed words is shown.
/// One that carries the secret, or a value derived from it, stays withheld.
#[test]
fn messages_computed_from_names_only_are_shown_in_a_template_that_reads_a_secret() {
    require_namespaces!();
    let mapping = "{%- for name, value in env %}{% if name is starting_with(pat=\"APP_X\") %}\
        {%- if name == \"APP_X_USERS\" %}{{ value | check(var=name, type=\"int\", min=1, max=1000) }}\
        {%- else %}{{ throw(message=name ~ \": no setting of that name\") }}{% endif %}\
        {%- endif %}{% endfor %}\n";
    for (env, shown) in [
        (("APP_X_NOPE", "1"), "APP_X_NOPE: no setting of that name"),
        (
            ("APP_X_USERS", "many"),
            "APP_X_USERS must be an integer from 1 to 1000",
        ),
    ] {
        let (_, all) = failed_start(&[("app.conf.tera", mapping)], &[env]);
        assert!(all.contains(shown), "{shown:?} not shown:\n{all}");
        assert!(!all.contains(SECRET), "{all}");
    }
    let (s, all) = failed_start(
        &[(
            "app.conf.tera",
            "{{ throw(message=\"APP_DB: \" ~ env.APP_DB | lower) }}\n",
        )],
        &[],
    );
    assert_hidden(&s, &all, 4, &SECRET.to_lowercase());
}
