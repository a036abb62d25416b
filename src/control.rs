//! Stage 6 of the data flow: the control socket's transport and its clients. What a request
//! means (status, health, start/stop/restart, signal) is answered by `supervisor::requests`
//! against the state machine; this file only frames, checks peers and keeps deadlines.
//!
//! A unix stream socket `<run_dir>/control.sock`, mode 0600. Each peer's uid is checked with
//! SO_PEERCRED on accept: only pidone's own uid and root may talk to it (file mode alone is
//! not enough when the run dir is shared). Protocol: the client sends one line
//! (`status`, `health [NAME...]`, `start NAME`, `stop NAME`, `restart NAME`,
//! `signal NAME SIG`); the server answers `CODE\nDATA\nTEXT` and closes: the exit code the
//! client should use, one line of JSON (or `null`), and text for people. Clients are
//! served inside the event loop with non-blocking I/O, so a stuck client cannot block it;
//! each connection has deadlines and idle ones are evicted when all slots are taken, so
//! connections held open cannot lock out `healthcheck`. The client trusts an answer only
//! from a server whose SO_PEERCRED uid owns the socket's directory (`rundir::verify_server`).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const SOCKET_NAME: &str = "control.sock";
const MAX_REQUEST: usize = 4096;
/// Largest answer a client reads (status of hundreds of services fits easily).
const MAX_REPLY: u64 = 4 * 1024 * 1024;
/// Connections served at once. When all are taken, the oldest idle one (nothing received)
/// makes room for a new one, so a service holding connections open cannot lock out
/// `healthcheck`.
const MAX_CLIENTS: usize = 32;
/// A client must send its request within this time of connecting; a reply must be taken
/// (and the connection closed) within this time of being ready. Real clients need
/// milliseconds; the bounds keep idle or stalled connections from piling up.
const REQUEST_WITHIN: Duration = Duration::from_secs(2);
const REPLY_WITHIN: Duration = Duration::from_secs(2);
/// Connections accepted per wake-up, so a connect flood cannot keep the loop in `accept`.
const ACCEPT_BATCH: usize = 64;

pub struct Request {
    pub words: Vec<String>,
}

pub struct Reply {
    /// Exit code the client should exit with.
    pub code: i32,
    /// One line for people (healthcheck prints this).
    pub text: String,
    /// Structured data as one line of JSON (status --json); `null` when none.
    pub data: String,
}

impl Reply {
    pub fn new(code: i32, text: impl Into<String>) -> Reply {
        Reply {
            code,
            text: text.into(),
            data: "null".into(),
        }
    }
}

struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    answered: bool,
    done: bool,
    /// When the connection is closed if it has not finished by then.
    deadline: Instant,
    accepted: Instant,
}

impl Client {
    /// Nothing received and nothing waiting to be read: a candidate for eviction.
    fn idle(&self) -> bool {
        if self.done || self.answered || !self.input.is_empty() {
            return false;
        }
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD into a local int on a socket we own.
        let r = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut waiting) };
        r == 0 && waiting == 0
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.done = true;
    }
}

/// `Some(message)` when a pidone already serves `run_dir` (its socket answers). Checked at
/// start before anything runs, because a second pidone in the same container (`docker exec C
/// /init CMD`) would otherwise run every oneshot again and start a second set of daemons
/// before the bind found the first one.
pub fn live_server(run_dir: &Path) -> Option<String> {
    let path = run_dir.join(SOCKET_NAME);
    UnixStream::connect(&path).ok().map(|_| {
        format!(
            "{} answers: another pidone already runs with this run dir; talk to it with `pidone status` (or start this one with another --run-dir)",
            path.display()
        )
    })
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    uid: u32,
}

impl Server {
    /// Bind `<run_dir>/control.sock`. A socket left by an earlier run (nobody answers on it)
    /// is removed; one that answers belongs to a live pidone, which is an error.
    pub fn bind(run_dir: &Path) -> Result<Server, String> {
        let path = run_dir.join(SOCKET_NAME);
        if path.exists() {
            if let Some(e) = live_server(run_dir) {
                return Err(e);
            }
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove stale {}: {e}", path.display()))?;
        }
        let listener = UnixListener::bind(&path)
            .map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot configure {}: {e}", path.display()))?;
        Ok(Server {
            listener,
            path,
            clients: Vec::new(),
            // SAFETY: geteuid cannot fail.
            uid: unsafe { libc::geteuid() },
        })
    }

    pub fn listener_fd(&self) -> i32 {
        self.listener.as_raw_fd()
    }

    pub fn client_fds(&self) -> Vec<(i32, i16)> {
        self.clients
            .iter()
            .map(|c| {
                let events = if c.output.is_empty() {
                    libc::POLLIN
                } else {
                    libc::POLLOUT
                };
                (c.stream.as_raw_fd(), events)
            })
            .collect()
    }

    /// Accept waiting connections. Clients are only marked done here, never removed, so the
    /// indices of `client_fds` stay valid until `gc`.
    pub fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            let Ok((stream, _)) = self.listener.accept() else {
                break;
            };
            if self.clients.iter().filter(|c| !c.done).count() >= MAX_CLIENTS {
                // Only our uid or root can connect (mode 0600), but a service of our uid
                // holding connections open must neither grow pidone's memory without bound
                // nor lock out health checks: the oldest idle connection goes.
                let oldest_idle = self
                    .clients
                    .iter_mut()
                    .filter(|c| c.idle())
                    .min_by_key(|c| c.accepted);
                match oldest_idle {
                    Some(c) => c.close(),
                    None => {
                        drop(stream);
                        continue;
                    }
                }
            }
            let _ = stream.set_nonblocking(true);
            let mut client = Client {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                answered: false,
                done: false,
                deadline: now + REQUEST_WITHIN,
                accepted: now,
            };
            match peer_uid(&client.stream) {
                Some(uid) if uid == self.uid || uid == 0 => {}
                other => {
                    crate::log::warn(format!(
                        "control: refused a client with uid {}",
                        other.map_or("unknown".into(), |u| u.to_string())
                    ));
                    client.output = encode(&Reply::new(
                        crate::exit::PRIVILEGE,
                        "permission denied: wrong uid",
                    ));
                    client.answered = true;
                    client.deadline = now + REPLY_WITHIN;
                }
            }
            self.clients.push(client);
        }
    }

    /// Read/write ready clients; returns complete requests to answer.
    pub fn handle_io(&mut self, events: &[(usize, i16)]) -> Vec<(usize, Request)> {
        let mut requests = Vec::new();
        for &(n, revents) in events {
            let Some(c) = self.clients.get_mut(n) else {
                continue;
            };
            if c.done {
                continue;
            }
            if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                c.done = true;
                continue;
            }
            if !c.output.is_empty() {
                match c.stream.write(&c.output) {
                    Ok(k) => {
                        c.output.drain(..k);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => c.done = true,
                }
                if c.output.is_empty() && c.answered {
                    // Half-close and drop the client only at its EOF: closing while its
                    // request is still unread (a refused peer's) resets the connection, and
                    // the client then loses the reply to ECONNRESET.
                    let _ = c.stream.shutdown(std::net::Shutdown::Write);
                }
                continue;
            }
            let mut buf = [0u8; 1024];
            match c.stream.read(&mut buf) {
                Ok(0) => c.done = true,
                Ok(_) if c.answered => {}
                Ok(k) => c.input.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => c.done = true,
            }
            if c.answered {
                continue;
            }
            match parse_request(&c.input) {
                Incoming::Complete(request) => {
                    c.answered = true;
                    requests.push((n, request));
                }
                Incoming::TooLong => {
                    c.output = encode(&Reply::new(crate::exit::USAGE, "request too long"));
                    c.answered = true;
                    c.deadline = Instant::now() + REPLY_WITHIN;
                }
                Incoming::Partial => {}
            }
        }
        requests
    }

    pub fn reply(&mut self, client: usize, reply: Reply) {
        if let Some(c) = self.clients.get_mut(client) {
            c.output = encode(&reply);
            c.deadline = Instant::now() + REPLY_WITHIN;
        }
    }

    /// Hand a client's connection over (to `logs -f`, which keeps it open): it leaves this
    /// server's list and its deadlines. None when it is gone already.
    pub fn take(&mut self, client: usize) -> Option<UnixStream> {
        let c = self.clients.get_mut(client).filter(|c| !c.done)?;
        let stream = c.stream.try_clone().ok()?;
        // Dropped at the next gc without a shutdown: the duplicate keeps the connection.
        c.done = true;
        Some(stream)
    }

    /// Close clients past their deadline, then drop finished ones.
    pub fn expire(&mut self, now: Instant) {
        for c in &mut self.clients {
            if c.deadline <= now {
                c.close();
            }
        }
        self.gc();
    }

    /// The earliest client deadline (none without clients: an idle pidone sleeps).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|c| c.deadline).min()
    }

    /// Drop finished clients.
    pub fn gc(&mut self) {
        self.clients.retain(|c| !c.done);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a client's bytes so far amount to.
pub enum Incoming {
    /// One line, split into words (invalid UTF-8 replaced).
    Complete(Request),
    /// No newline yet.
    Partial,
    /// No newline within MAX_REQUEST bytes.
    TooLong,
}

/// Parse the request line at the start of `input` (pure, for tests and fuzzing).
pub fn parse_request(input: &[u8]) -> Incoming {
    match input.iter().position(|&b| b == b'\n') {
        Some(nl) => Incoming::Complete(Request {
            words: String::from_utf8_lossy(&input[..nl])
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }),
        None if input.len() > MAX_REQUEST => Incoming::TooLong,
        None => Incoming::Partial,
    }
}

/// Parse a server's answer, `CODE\nDATA\nTEXT` (pure, for tests and fuzzing).
pub fn parse_reply(answer: &str) -> Option<Reply> {
    let mut parts = answer.splitn(3, '\n');
    let code = parts.next().and_then(|c| c.trim().parse().ok())?;
    let data = parts.next()?;
    Some(Reply {
        code,
        data: data.to_string(),
        text: parts.next().unwrap_or_default().trim_end().to_string(),
    })
}

fn encode(reply: &Reply) -> Vec<u8> {
    format!("{}\n{}\n{}\n", reply.code, reply.data, reply.text).into_bytes()
}

fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a correctly sized ucred.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// "permission denied on /run/pidone (owned by uid 4242): run as that uid".
fn permission_denied(path: &Path) -> Reply {
    use std::os::unix::fs::MetadataExt;
    let owner =
        std::fs::metadata(path).map_or("another uid".into(), |m| format!("uid {}", m.uid()));
    Reply::new(
        crate::exit::PRIVILEGE,
        format!(
            "permission denied on {} (owned by {owner}): run as that uid (e.g. docker exec -u {}), or as root with CAP_DAC_OVERRIDE",
            path.display(),
            owner.strip_prefix("uid ").unwrap_or("UID")
        ),
    )
}

/// Where the run dir is when the configured one cannot be created (a non-root user on a
/// laptop with the default /run/pidone): `$XDG_RUNTIME_DIR/pidone`, else `/tmp/pidone-UID`.
pub fn fallback_run_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("pidone"),
        // SAFETY: getuid cannot fail.
        _ => PathBuf::from(format!("/tmp/pidone-{}", unsafe { libc::getuid() })),
    }
}

/// Client side: send one request and return the reply.
///
/// A socket this uid may not reach (`docker exec -u 0` into a `--user 4242` container with
/// no CAP_DAC_OVERRIDE) is not "not running": that is answered here, with the owner to run
/// as and exit code 77 (EX_NOPERM), without asking the server.
pub fn request(run_dir: &Path, words: &[String]) -> Result<Reply, String> {
    let (mut stream, path) = match connect(run_dir)? {
        Ok(connected) => connected,
        Err(reply) => return Ok(reply),
    };
    let timeout = Some(Duration::from_secs(5));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    stream
        .write_all(format!("{}\n", words.join(" ")).as_bytes())
        .map_err(|e| format!("cannot send to {}: {e}", path.display()))?;
    let mut answer = String::new();
    // Answers are a few KiB; a server (even a verified one) cannot make the client grow.
    stream
        .take(MAX_REPLY)
        .read_to_string(&mut answer)
        .map_err(|e| format!("no answer from {}: {e}", path.display()))?;
    parse_reply(&answer).ok_or_else(|| format!("bad answer from {}", path.display()))
}

/// Client side of `logs -f`: send the request, then copy what the server sends to `out`
/// until it closes the connection (Ok(Ok)) or until the process is interrupted. A refusal
/// (an unknown service, too many followers) is Ok(Err(reply)).
pub fn follow(
    run_dir: &Path,
    words: &[String],
    out: &mut dyn Write,
) -> Result<Result<(), Reply>, String> {
    let (mut stream, path) = match connect(run_dir)? {
        Ok(connected) => connected,
        Err(reply) => return Ok(Err(reply)),
    };
    stream
        .write_all(format!("{}\n", words.join(" ")).as_bytes())
        .map_err(|e| format!("cannot send to {}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(stream);
    let mut head = String::new();
    for _ in 0..2 {
        std::io::BufRead::read_line(&mut (&mut reader).take(MAX_REQUEST as u64), &mut head)
            .map_err(|e| format!("no answer from {}: {e}", path.display()))?;
    }
    let code: i32 = head
        .lines()
        .next()
        .and_then(|c| c.trim().parse().ok())
        .ok_or_else(|| format!("bad answer from {}", path.display()))?;
    if code != 0 {
        let mut text = String::new();
        let _ = (&mut reader).take(MAX_REPLY).read_to_string(&mut text);
        return Ok(Err(Reply::new(code, text.trim_end())));
    }
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(Ok(())),
            Ok(n) => {
                out.write_all(&buf[..n])
                    .and_then(|_| out.flush())
                    .map_err(|e| format!("cannot write the output: {e}"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading from {}: {e}", path.display())),
        }
    }
}

/// Connect to the control socket of `run_dir` (or the per-user fallback) and verify who
/// serves it. Ok(Err(reply)) when this uid may not reach it (answered without the server).
fn connect(run_dir: &Path) -> Result<Result<(UnixStream, PathBuf), Reply>, String> {
    // The fallback dir is per-uid: only a server of our own uid may answer there, even for
    // root (another user could have created /tmp/pidone-0).
    let candidates = [
        (run_dir.join(SOCKET_NAME), false),
        (fallback_run_dir().join(SOCKET_NAME), true),
    ];
    let mut denied = None;
    let mut found = None;
    for (p, own_uid_only) in &candidates {
        match std::fs::symlink_metadata(p) {
            Ok(_) => {
                found = Some((p, *own_uid_only));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied = denied.or(p.parent());
            }
            Err(_) => {}
        }
    }
    let Some((path, own_uid_only)) = found else {
        if let Some(dir) = denied {
            return Ok(Err(permission_denied(dir)));
        }
        return Err(format!(
            "pidone is not running here (no {})",
            candidates[0].0.display()
        ));
    };
    let stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Ok(Err(permission_denied(path)));
        }
        Err(e) => return Err(format!("cannot connect to {}: {e}", path.display())),
    };
    // Whoever answers must be the pidone that owns the directory: a socket planted by another
    // uid could otherwise answer "healthy".
    let peer =
        peer_uid(&stream).ok_or_else(|| format!("cannot tell who serves {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    crate::rundir::verify_server(dir, peer, own_uid_only)?;
    Ok(Ok((stream, path.clone())))
}
