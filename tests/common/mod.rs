//! Shared harness: run the real pidone binary as PID 1 of a fresh PID namespace and read
//! the truth from the kernel (/proc, exit codes).
#![allow(dead_code)]

mod skip;
pub use skip::skip_test;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The pidone binary under test: the one cargo built for this test run, or the one named by
/// `PIDONE_TEST_BIN` (an absolute path), to run the suite against a release build such as the
/// musl static-pie: `PIDONE_TEST_BIN=$PWD/target/x86_64-unknown-linux-musl/release/pidone cargo test`.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match std::env::var("PIDONE_TEST_BIN") {
        Ok(path) if !path.is_empty() => {
            assert!(
                Path::new(&path).is_absolute() && Path::new(&path).is_file(),
                "PIDONE_TEST_BIN={path:?}: not an absolute path to a file; build it first \
                 (cargo build --release --target x86_64-unknown-linux-musl) and give its full path"
            );
            path
        }
        _ => env!("CARGO_BIN_EXE_pidone").to_string(),
    })
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
            $crate::skip!(
                "cannot create a PID namespace here (need root or unprivileged user namespaces)"
            );
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
    /// A copy of the pidone binary inside the scratch dir, for running it as another uid: the
    /// checkout may live under a directory that only root can enter (e.g. /root).
    pub fn bin_for_any_user(&self) -> String {
        let copy = self.join("pidone-bin");
        if !copy.exists() {
            std::fs::copy(bin(), &copy).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        copy.display().to_string()
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
        // Without real root the namespace is an unprivileged user namespace in which only our
        // own uid is mapped (as 0): there is no 65534 to drop to, so pidone stays "root" there,
        // which is the unprivileged user on the host. The privilege tests need real root.
        let allow_root = if is_root() { "" } else { "1" };
        cmd.env("PIDONE_ALLOW_ROOT", allow_root)
            .env_remove("PIDONE_USER");
        cmd
    }
}

/// Write a service file, with `@D@` replaced by the scratch dir.
pub fn svc(s: &Scratch, name: &str, toml: &str) {
    s.service(name, &toml.replace("@D@", &s.path().display().to_string()));
}

/// Run pidone as PID 1 with `args` and wait until its control socket exists.
pub fn start(s: &Scratch, args: &[&str]) -> Running {
    let run = s.spawn_pid1(args);
    assert!(
        wait_until(Duration::from_secs(20), || s
            .join("run/control.sock")
            .exists()),
        "no control socket\n{}",
        run.stderr()
    );
    run
}

/// Poll `status --json` until `pred` holds for the row of `name`; returns that row.
pub fn status_until(
    s: &Scratch,
    name: &str,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut row = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(20), || {
        row = s.status_row(name);
        pred(&row)
    });
    assert!(ok, "{name}: never {what}; last status row {row}");
    row
}

/// A file of one number per line (timestamps services wrote), parsed.
pub fn nanos(s: &Scratch, rel: &str) -> Vec<u128> {
    s.lines(rel)
        .iter()
        .map(|l| {
            l.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{rel}: bad line {l:?}"))
        })
        .collect()
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
            // Kill pidone (the namespace's PID 1) too: see `Drop for Running`.
            if let Some(pid1) = child_of(child.id(), Duration::ZERO) {
                send(pid1, libc::SIGKILL);
            }
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
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if ppid(pid) == Some(parent as i32) {
                return Some(pid);
            }
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
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

/// utime + stime of `pid`, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat; `rest` starts at field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
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

// ---- Helpers for tests/services.rs and tests/control.rs: pidone running in the background ----

/// A PATH without root-only directories (pyenv shims under /root), so that programs resolved
/// while pidone is still root can also be executed after it dropped to 65534.
pub const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// pidone running as PID 1 of its own namespace; killed (with everything in it) on drop.
pub struct Running {
    child: Child,
    /// Host pid of pidone (the child of `unshare --fork`).
    pub pid: i32,
    pub started: Instant,
    out: PathBuf,
    err: PathBuf,
}

/// How a background pidone ended.
pub struct Finished {
    /// Exit code (128+N if killed by signal N).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// From `Running::finish` being called until the process was gone.
    pub elapsed: Duration,
}

impl Scratch {
    /// Start pidone as PID 1 in the background (stdout/stderr to files in the scratch dir).
    pub fn spawn_pid1(&self, args: &[&str]) -> Running {
        self.spawn_pid1_with(args, |_| {})
    }

    /// Like `spawn_pid1`, with a chance to adjust the command (env, stdout).
    pub fn spawn_pid1_with(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Running {
        let mut cmd = self.pid1(args);
        cmd.env("PATH", SAFE_PATH);
        let out = self.join("pidone.stdout");
        let err = self.join("pidone.stderr");
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("spawn unshare");
        // pidone may already be gone (a bad config, `-- true`): then its pid is unknown (0).
        let mut pid = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Some(p) = child_of(child.id(), Duration::from_millis(1)) {
                pid = p;
                break;
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            pid != 0 || matches!(child.try_wait(), Ok(Some(_))),
            "pidone did not start"
        );
        Running {
            child,
            pid,
            started: Instant::now(),
            out,
            err,
        }
    }

    /// Run `pidone --run-dir <scratch>/run ARGS` as a separate process, as `docker exec`
    /// would (`exec_into`); returns (exit code, stdout + stderr).
    pub fn client(&self, args: &[&str]) -> (i32, String) {
        let mut cmd = exec_into(&self.join("run"), bin());
        cmd.arg("--run-dir").arg(self.join("run")).args(args);
        let (out, _) = run_with_timeout(cmd, Duration::from_secs(20));
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }

    /// `pidone status --json` parsed; the row of service `name`.
    pub fn status_row(&self, name: &str) -> serde_json::Value {
        let (code, out) = self.client(&["status", "--json"]);
        assert_eq!(code, 0, "status failed: {out}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
        v["services"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no row for {name} in {out}"))
    }

    /// Lines of a file written by the services (missing file = no lines).
    pub fn lines(&self, rel: &str) -> Vec<String> {
        self.read(rel).lines().map(str::to_string).collect()
    }
}

impl Running {
    pub fn signal(&self, sig: i32) {
        // Never kill(0, ...): that would be our own process group.
        if self.pid > 0 {
            send(self.pid, sig);
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Wait for pidone to exit (panics with its output after `timeout`).
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return Finished {
                    code,
                    stdout: self.stdout(),
                    stderr: self.stderr(),
                    elapsed: start.elapsed(),
                };
            }
            if start.elapsed() > timeout {
                panic!(
                    "pidone did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// TERM to pidone, then wait for it.
    pub fn stop(self, timeout: Duration) -> Finished {
        self.signal(libc::SIGTERM);
        self.finish(timeout)
    }

    /// Every process in pidone's PID namespace (pidone included), by host pid.
    pub fn processes(&self) -> Vec<Proc> {
        namespace_processes(self.pid)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGKILL to pidone (PID 1) ends the whole namespace. unshare's --kill-child is not
            // enough on its own: the kernel clears the parent-death signal when pidone drops
            // its privileges, so killing only unshare would leave pidone running.
            if self.pid > 0 && ppid(self.pid) == Some(self.child.id() as i32) {
                send(self.pid, libc::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One process as the host sees it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub host_pid: i32,
    /// Pid inside the innermost namespace (last `NSpid` field).
    pub ns_pid: i32,
    /// `State:` letter (R, S, Z, ...).
    pub state: char,
    /// argv joined with spaces.
    pub cmdline: String,
}

/// pidone (host pid `root`) and every process below it. In a PID namespace whose init is
/// pidone that is every process of the namespace: orphans are re-parented to it. (The parent
/// tree, not /proc/<pid>/ns/pid, because a zombie's namespace links are already gone.)
pub fn namespace_processes(root: i32) -> Vec<Proc> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("{name}:"))
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let state = field("State").chars().next().unwrap_or('?');
        let ppid: i32 = field("PPid").parse().unwrap_or(0);
        let ns_pid = field("NSpid")
            .split_whitespace()
            .last()
            .and_then(|p| p.parse().ok())
            .unwrap_or(pid);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        all.push((
            ppid,
            Proc {
                host_pid: pid,
                ns_pid,
                state,
                cmdline,
            },
        ));
    }
    let mut out: Vec<Proc> = all
        .iter()
        .filter(|(_, p)| p.host_pid == root)
        .map(|(_, p)| p.clone())
        .collect();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (ppid, p) in &all {
            if *ppid == parent && !out.iter().any(|o| o.host_pid == p.host_pid) {
                out.push(p.clone());
                frontier.push(p.host_pid);
            }
        }
    }
    out
}

/// The host pid of namespace pid `ns_pid` in the namespace of `member`.
pub fn host_pid_of(member: i32, ns_pid: i32) -> Option<i32> {
    namespace_processes(member)
        .into_iter()
        .find(|p| p.ns_pid == ns_pid)
        .map(|p| p.host_pid)
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The kernel's name of a process's fd (`pipe:[inode]` for a pipe).
pub fn fd_target(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// `line 1`, `line 2`, ...: nothing doubled or reordered, and nothing lost except at most
/// `cuts` lines (one per stop or kill of the consumer): a shell's `read` takes a line byte by
/// byte, so a consumer stopped or killed in the middle of one, or between its read and its
/// write, took those bytes with it. The pipe itself loses nothing.
pub fn assert_contiguous(lines: &[String], cuts: usize) {
    let mut damaged = 0;
    let mut last = 0;
    for l in lines {
        if l.is_empty() {
            damaged += 1; // only the newline of a line the killed consumer had read
            continue;
        }
        let n: usize = l
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{l:?} in {lines:?}"));
        assert!(n > last, "{l:?} repeated or out of order in {lines:?}");
        let whole = format!("line {n}");
        assert!(whole.ends_with(l.as_str()), "{l:?} in {lines:?}");
        damaged += (n - last - 1) + usize::from(*l != whole);
        last = n;
    }
    assert!(damaged <= cuts, "{damaged} lines cut or lost in {lines:?}");
}

/// Voluntary plus involuntary context switches of `pid` so far (/proc/PID/status).
pub fn ctxt_switches(pid: i32) -> u64 {
    ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
        .iter()
        .map(|f| {
            status_field(pid, f)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {f} for {pid}"))
        })
        .sum()
}

/// Hostile control clients (issue 20), as a service of pidone's uid could run them: `holders`
/// connections that each send one byte of a request and hold it (re-opened at once when
/// pidone drops one), and `churners` connections that send one byte, hold it 5-50 ms,
/// close, and connect again. Runs until `stop`.
pub struct HalfSentClients {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl HalfSentClients {
    pub fn start(sock: &Path, holders: usize, churners: usize) -> HalfSentClients {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..holders + churners)
            .map(|k| {
                let (sock, stop) = (sock.to_path_buf(), stop.clone());
                let hold = k < holders;
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        let mut connections = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let Ok(mut c) = std::os::unix::net::UnixStream::connect(&sock) else {
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            };
                            connections += 1;
                            let _ = c.write_all(b"h");
                            if hold {
                                // Until pidone closes it (EOF or reset), checking `stop`.
                                let _ = c.set_read_timeout(Some(Duration::from_millis(100)));
                                let mut b = [0u8; 64];
                                loop {
                                    match c.read(&mut b) {
                                        Ok(0) => break,
                                        Ok(_) => {}
                                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                        Err(_) => break,
                                    }
                                    if stop.load(Ordering::Relaxed) {
                                        break;
                                    }
                                }
                            } else {
                                std::thread::sleep(Duration::from_millis(5 + k as u64 % 45));
                            }
                        }
                        connections
                    })
                    .unwrap()
            })
            .collect();
        HalfSentClients { stop, threads }
    }

    /// Stop every client; returns how many connections they made in all.
    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

/// Host pid of the pidone that is PID 1 of a PID namespace and serves `run_dir` (named on its
/// command line or in its PIDONE_RUN_DIR), if one runs.
pub fn pid1_serving(run_dir: &Path) -> Option<i32> {
    let want = run_dir.as_os_str().as_encoded_bytes();
    let names = |bytes: &[u8], prefix: &[u8]| {
        bytes
            .split(|&b| b == 0)
            .any(|a| a.strip_prefix(prefix) == Some(want))
    };
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let environ = || std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if !names(&cmdline, b"") && !names(&environ(), b"PIDONE_RUN_DIR=") {
                return None;
            }
            let nspid = status_field(pid, "NSpid")?;
            let nspid: Vec<&str> = nspid.split_whitespace().collect();
            (nspid.len() > 1 && nspid.last() == Some(&"1")).then_some(pid)
        })
}

/// A command running `program` the way `docker exec` reaches a container's pidone: as root,
/// inside the PID and mount namespaces of the pidone serving `run_dir`, where PID 1 is that
/// pidone (a client trusts a server of its own uid or of PID 1's uid only, so root on the
/// host does not trust a pidone that dropped to 65534). Otherwise `program` as it is: without
/// root the namespace belongs to our own uid, which a client trusts as its own.
pub fn exec_into(run_dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match pid1_serving(run_dir).filter(|_| is_root()) {
        Some(pid) => {
            let mut cmd = Command::new("nsenter");
            let cwd = std::env::current_dir().unwrap();
            cmd.args(["--target", &pid.to_string(), "--pid", "--mount"])
                .arg(format!("--wd={}", cwd.display()))
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// A command running `program` as the uid and gid that own `run_dir` (the uid pidone dropped
/// to), without a fork in between (`setpriv` execs): for a long-lived client such as
/// `logs -f` whose process the test signals itself, where `exec_into`'s `nsenter` would stand
/// between. Without root, or when root owns the dir, `program` as it is.
pub fn as_run_dir_owner(run_dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(run_dir).unwrap();
    if !is_root() || meta.uid() == 0 {
        return Command::new(program);
    }
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={}", meta.uid()))
        .arg(format!("--regid={}", meta.gid()))
        .args(["--clear-groups", "--"])
        .arg(program);
    cmd
}
