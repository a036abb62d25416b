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
//! served inside the event loop with non-blocking I/O, so a stuck client cannot block it.
//!
//! Connections held open cannot lock out `healthcheck` (a service of pidone's uid can open
//! as many as it likes): every connection has a deadline from accept, and when all slots are
//! taken a new connection is never turned away. It takes the slot of one that gave its
//! chance up (see `Client::eviction_rank`: a delivered answer, then the oldest connection
//! that has not sent a complete request, then one that does not take its answer), but never
//! of a connection younger than `NEWCOMER_GRACE` or one whose request has arrived. When no
//! slot can be freed yet, new connections wait in the kernel's listen queue, in arrival
//! order, and the listener is not polled until a slot can be freed (no busy loop).
//!
//! The client trusts an answer only from a server whose SO_PEERCRED uid owns the socket's
//! directory and is the client's own uid or that of PID 1 of its PID namespace
//! (`rundir::verify_server`).

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
/// Connections served at once (each costs a descriptor and at most ~5 KiB of request
/// buffer). When all are taken, a new one takes the slot of one that gave its chance up.
const MAX_CLIENTS: usize = 128;
/// A connection is never evicted within this time of being accepted, nor within this time of
/// its answer being ready: a real client sends its request right after connecting and reads
/// the answer at once, so this is its time to do so however many others connect. With
/// MAX_CLIENTS slots, the listen queue then moves by at least MAX_CLIENTS connections per
/// NEWCOMER_GRACE (512 a second) whatever the other connections do.
const NEWCOMER_GRACE: Duration = Duration::from_millis(250);
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
    /// When the connection is closed if it has not finished by then (from accept for the
    /// request: trickling bytes does not extend it).
    deadline: Instant,
    accepted: Instant,
    /// When its answer was ready to send.
    replied: Option<Instant>,
    /// A whole request line has arrived and waits unread in the socket (found by a peek;
    /// it is read and answered at the next POLLIN, so the connection must not be evicted).
    request_waiting: bool,
}

impl Client {
    fn new(stream: UnixStream, now: Instant) -> Client {
        Client {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            answered: false,
            done: false,
            deadline: now + REQUEST_WITHIN,
            accepted: now,
            replied: None,
            request_waiting: false,
        }
    }

    /// Set the answer and send what the socket takes now.
    fn answer(&mut self, reply: &Reply, now: Instant) {
        self.output = encode(reply);
        self.answered = true;
        self.replied = Some(now);
        self.deadline = now + REPLY_WITHIN;
        self.flush();
    }

    /// Write as much of the answer as the socket takes.
    fn flush(&mut self) {
        if self.output.is_empty() || self.done {
            return;
        }
        match self.stream.write(&self.output) {
            Ok(k) => {
                self.output.drain(..k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => self.done = true,
        }
        if self.output.is_empty() && self.answered {
            // Half-close and drop the client only at its EOF: closing while its request is
            // still unread (a refused peer's) resets the connection, and the client then
            // loses the reply to ECONNRESET.
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// How readily this connection gives its slot to a newcomer (rank, lower first) and from
    /// when (which also orders each rank, oldest first), or `None` while it must keep it:
    /// (0) its answer was delivered and only its EOF is awaited, so closing it loses
    /// nothing: at once; (1) no complete request yet (silent or half-sent): NEWCOMER_GRACE
    /// after its accept; (2) its answer is not being taken: NEWCOMER_GRACE after the answer
    /// was ready. Never while a request is being answered or waits to be read. Uses what is
    /// known without a syscall; `Server::evict_one` peeks for a waiting request
    /// (`request_arrived`) before it evicts one of rank 1.
    fn eviction_rank(&self) -> Option<(u8, Instant)> {
        if self.done {
            return None;
        }
        match self.replied {
            Some(_) if self.output.is_empty() => Some((0, self.accepted)),
            Some(at) => Some((2, at + NEWCOMER_GRACE)),
            None if self.answered || self.request_waiting => None,
            None => Some((1, self.accepted + NEWCOMER_GRACE)),
        }
    }

    /// Whether a complete request line (or more than MAX_REQUEST bytes) has arrived beyond
    /// what was read: peeked, not read, so that the next POLLIN still reads it. Sticky.
    fn request_arrived(&mut self) -> bool {
        if !self.request_waiting && !self.answered {
            let mut buf = [0u8; MAX_REQUEST + 1];
            let want = buf.len().saturating_sub(self.input.len()).max(1);
            // SAFETY: recv into a local buffer of at least `want` bytes on a socket we own.
            let n = unsafe {
                libc::recv(
                    self.stream.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    want,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                let n = n as usize;
                self.request_waiting =
                    buf[..n].contains(&b'\n') || self.input.len() + n > MAX_REQUEST;
            }
        }
        self.request_waiting
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

    /// The listener, when a new connection could be given a slot now. Otherwise `None`:
    /// the connection waits in the listen queue, and the listener is left out of the poll
    /// set (it would stay readable and spin the loop) until `next_deadline`.
    pub fn listener_fd(&self, now: Instant) -> Option<i32> {
        (self.live() < MAX_CLIENTS || self.next_eviction().is_some_and(|at| at <= now))
            .then(|| self.listener.as_raw_fd())
    }

    fn live(&self) -> usize {
        self.clients.iter().filter(|c| !c.done).count()
    }

    /// When the first connection may give up its slot (by what is known without a syscall).
    fn next_eviction(&self) -> Option<Instant> {
        self.clients
            .iter()
            .filter_map(Client::eviction_rank)
            .map(|(_, at)| at)
            .min()
    }

    /// Close the connection that gives up its slot most readily; false when none may yet.
    fn evict_one(&mut self, now: Instant) -> bool {
        loop {
            let candidate = self
                .clients
                .iter()
                .enumerate()
                .filter_map(|(n, c)| c.eviction_rank().map(|r| (r, n)))
                .filter(|((_, at), _)| *at <= now)
                .min();
            let Some((_, n)) = candidate else {
                return false;
            };
            let c = &mut self.clients[n];
            // A request that arrived but was not read yet is about to be answered.
            if c.replied.is_none() && c.request_arrived() {
                continue;
            }
            c.close();
            return true;
        }
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

    /// Accept waiting connections, each into a slot of its own: a full table makes room
    /// (`evict_one`); when nothing may be evicted yet, the newcomer is kept anyway (one over
    /// MAX_CLIENTS at most) and accepting pauses (`listener_fd`). Clients are only
    /// marked done here, never removed, so the indices of `client_fds` stay valid until `gc`.
    pub fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            // One over: the last newcomer was kept without a free slot; first make up for it.
            if self.live() > MAX_CLIENTS && !self.evict_one(now) {
                break;
            }
            let Ok((stream, _)) = self.listener.accept() else {
                break;
            };
            if self.live() >= MAX_CLIENTS {
                // When nothing may be evicted yet, the newcomer is kept all the same (the
                // table is one over) and accepting pauses until a slot frees.
                self.evict_one(now);
            }
            let _ = stream.set_nonblocking(true);
            let mut client = Client::new(stream, now);
            match peer_uid(&client.stream) {
                Some(uid) if uid == self.uid || uid == 0 => {}
                other => {
                    crate::log::warn(format!(
                        "control: refused a client with uid {}",
                        other.map_or("unknown".into(), |u| u.to_string())
                    ));
                    let refusal =
                        Reply::new(crate::exit::PRIVILEGE, "permission denied: wrong uid");
                    client.answer(&refusal, now);
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
                c.flush();
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
                    c.answer(
                        &Reply::new(crate::exit::USAGE, "request too long"),
                        Instant::now(),
                    );
                }
                Incoming::Partial => {}
            }
        }
        requests
    }

    /// Answer a request, sending at once what the socket takes (a small answer is then
    /// delivered before the next accept could need the slot).
    pub fn reply(&mut self, client: usize, reply: Reply) {
        if let Some(c) = self.clients.get_mut(client) {
            c.answer(&reply, Instant::now());
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

    /// The earliest client deadline, or when accepting resumes with every slot taken (none
    /// without clients: an idle pidone sleeps).
    pub fn next_deadline(&self) -> Option<Instant> {
        let resume = (self.live() >= MAX_CLIENTS)
            .then(|| self.next_eviction())
            .flatten();
        self.clients.iter().map(|c| c.deadline).chain(resume).min()
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
/// as and exit code 77 (EX_NOPERM), without asking the server. So is a server this client
/// does not trust (`rundir::verify_server`: not its own uid nor PID 1's).
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
    // Whoever answers must be the pidone that owns the directory, of a uid we trust: a
    // socket planted by another uid could otherwise answer "healthy" (exit 77 with why).
    let Some(peer) = peer_uid(&stream) else {
        let why = format!("cannot tell who serves {}; not trusting it", path.display());
        return Ok(Err(Reply::new(crate::exit::PRIVILEGE, why)));
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    if let Err(why) = crate::rundir::verify_server(dir, peer, own_uid_only) {
        return Ok(Err(Reply::new(crate::exit::PRIVILEGE, why)));
    }
    Ok(Ok((stream, path.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Whether pidone closed `c` (EOF), without blocking when it did not.
    fn closed(c: &mut UnixStream) -> bool {
        c.set_nonblocking(true).unwrap();
        matches!(c.read(&mut [0u8; 16]), Ok(0))
    }

    #[test]
    fn a_full_table_evicts_the_oldest_half_sent_request_never_a_newcomer() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::bind(dir.path()).unwrap();
        let sock = dir.path().join(SOCKET_NAME);
        let t0 = Instant::now();
        // Every slot taken by a half-sent request, its byte read as a poll round would.
        let mut holders: Vec<UnixStream> = (0..MAX_CLIENTS)
            .map(|_| {
                let mut c = UnixStream::connect(&sock).unwrap();
                c.write_all(b"h").unwrap();
                c
            })
            .collect();
        while server.live() < MAX_CLIENTS {
            server.accept(t0); // ACCEPT_BATCH at a time
        }
        let events: Vec<_> = (0..MAX_CLIENTS).map(|n| (n, libc::POLLIN)).collect();
        assert!(server.handle_io(&events).is_empty());
        // Within the grace nothing may be evicted: the newcomer is kept one over, and
        // accepting pauses (no listener to poll) until the grace ends.
        let mut health = UnixStream::connect(&sock).unwrap();
        health.write_all(b"health\n").unwrap();
        server.accept(t0 + ms(10));
        assert_eq!(server.live(), MAX_CLIENTS + 1);
        assert_eq!(server.listener_fd(t0 + ms(10)), None);
        assert_eq!(server.next_deadline(), Some(t0 + NEWCOMER_GRACE));
        // Then the two oldest holders go (one makes up for the newcomer kept over), and
        // neither newcomer, whose requests have arrived or are young.
        let late = t0 + NEWCOMER_GRACE;
        assert!(server.listener_fd(late).is_some());
        let mut status = UnixStream::connect(&sock).unwrap();
        status.write_all(b"status\n").unwrap();
        server.accept(late);
        assert_eq!(server.live(), MAX_CLIENTS);
        assert!(closed(&mut holders[0]) && closed(&mut holders[1]));
        assert!(!closed(&mut holders[2]));
        let events = [(MAX_CLIENTS, libc::POLLIN), (MAX_CLIENTS + 1, libc::POLLIN)];
        let requests = server.handle_io(&events);
        let words: Vec<_> = requests.iter().map(|(_, r)| r.words.join(" ")).collect();
        assert_eq!(words, ["health", "status"]);
        // Answered at once: its answer is read without another poll round.
        server.reply(requests[0].0, Reply::new(0, "healthy"));
        health.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        health.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "0\nnull\nhealthy\n");
    }
}
