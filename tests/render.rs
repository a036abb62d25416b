//! Integration tests of the template renderer (issue 4): real templates against hand-derived
//! expected output, every error kind and its message, secrets never in messages, `_FILE`
//! rules, atomic and symlink-safe writes, modes and ownership read back from the file system.

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
            panic!("{name}/{file} differs from expected, first difference at {diff}\n--- got:\n{got_text}");
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
