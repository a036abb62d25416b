//! Shared harness: run the real pidone binary as PID 1 of a fresh PID namespace and read
//! the truth from the kernel (/proc, exit codes).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pidone")
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// `unshare` arguments that make the next program PID 1 of a new PID namespace with its own
/// /proc. As root that is all; otherwise an unprivileged user namespace is added.
pub fn unshare_prefix() -> Vec<String> {
    let mut v: Vec<String> = vec!["unshare".into()];
    if !is_root() {
        v.extend(["--user".into(), "--map-root-user".into()]);
    }
    v.extend([
        "--pid".into(),
        "--fork".into(),
        "--mount-proc".into(),
        "--kill-child".into(),
    ]);
    v
}

/// Can this machine give us a PID namespace? Tests that need one skip (with a message) if not.
pub fn namespaces_available() -> bool {
    let mut cmd = Command::new(&unshare_prefix()[0]);
    cmd.args(&unshare_prefix()[1..]).arg("true");
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.status().is_ok_and(|s| s.success())
}

#[macro_export]
macro_rules! require_namespaces {
    () => {
        if !common::namespaces_available() {
            eprintln!("skipped: cannot create a PID namespace here (need root or unprivileged user namespaces)");
            return;
        }
    };
}

/// A scratch directory with `services.d/`, removed on drop.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("pidone-test-")
            .tempdir()
            .unwrap();
        // Readable by the unprivileged user pidone drops to (65534) when run as root.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::create_dir(dir.path().join("services.d")).unwrap();
        Scratch { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn service(&self, name: &str, toml: &str) {
        std::fs::write(self.join(&format!("services.d/{name}.toml")), toml).unwrap();
    }
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_default()
    }
    /// pidone options pointing every directory into the scratch dir.
    pub fn dir_args(&self) -> Vec<String> {
        let p = |s: &str| self.join(s).display().to_string();
        vec![
            "--services-dir".into(),
            p("services.d"),
            "--templates-dir".into(),
            p("templates"),
            "--render-dir".into(),
            p("rendered"),
            "--run-dir".into(),
            p("run"),
            "--config".into(),
            p("pidone.toml"),
        ]
    }
    /// A command running pidone as PID 1 with the scratch dirs and `args`.
    pub fn pid1(&self, args: &[&str]) -> Command {
        if !self.join("pidone.toml").exists() {
            self.write("pidone.toml", "");
        }
        let prefix = unshare_prefix();
        let mut cmd = Command::new(&prefix[0]);
        cmd.args(&prefix[1..])
            .arg(bin())
            .args(self.dir_args())
            .args(args);
        cmd.env("PIDONE_ALLOW_ROOT", "").env_remove("PIDONE_USER");
        cmd
    }
}

/// Run to completion with a timeout; panics (with output) if it hangs.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (Output, Duration) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let out = wait_output(child, timeout);
    (out, start.elapsed())
}

pub fn wait_output(mut child: Child, timeout: Duration) -> Output {
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host pid of the first child of `parent` (pidone under `unshare --fork`).
pub fn child_of(parent: u32, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if ppid(pid) == Some(parent as i32) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

pub fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A field of /proc/<pid>/status, e.g. "Uid" → "65534\t65534\t65534\t65534".
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

pub fn send(pid: i32, sig: i32) {
    unsafe { libc::kill(pid, sig) };
}

/// Wait until `f` returns true or the timeout passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
