//! Stage 5 of the data flow: the single-threaded event loop.
//!
//! One `poll(2)` waits on everything: the signalfd (SIGCHLD included), the services'
//! output pipes (only those whose stream's queue takes lines now: the flow control is
//! described in `log/relay.rs`) and readiness fds, notify sockets, inotify, the control
//! socket, and pidone's own stdout/stderr when log lines are queued. The timeout comes from
//! the state machine's next deadline; with nothing due it is infinite, so an idle pidone
//! makes zero wakeups.
//!
//! `state.rs` decides; this file performs the loop's syscalls and translates their results
//! into events for it. Shutdown ends with the drain: every process still alive (adopted
//! orphans included) gets SIGTERM, then SIGKILL after the grace period, and all are reaped.
//!
//! Files:
//! - `mod.rs`: the loop (poll, spawning, reaping, signals, notify fds, the drain);
//! - `state.rs`: the pure state machine (`Core::step(now) -> Vec<Action>`);
//! - `requests.rs`: answers to control requests (the socket itself is `crate::control`);
//! - `reload.rs`: `reload_on` (inotify and the quiet period before a reload);
//! - `procfs.rs`: reading /proc (pidone's own mappings, the process tree);
//! - `logring.rs`: the recent lines of every unit and of pidone, for `pidone logs`;
//! - `follow.rs`: `pidone logs -f` connections, fed from the rings;
//! - `reconfigure.rs`: `pidone reload`: the service files read again, the difference applied.

mod follow;
pub mod logring;
mod procfs;
mod reconfigure;
mod reload;
pub mod requests;
pub mod state;
mod ticks;

use crate::config::{ReadyCheck, Service};
use crate::control;
use crate::log::{self, Level, Stream};
use crate::output::{LineReader, ReadState};
use crate::probe;
use crate::signals::Signals;
use crate::spawn::{Output, SpawnRequest, spawn};
use state::{Action, Core, ExitStatus, Idx, ProbeKind, Role};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything the loop needs besides the units.
pub struct RunContext {
    pub env: BTreeMap<String, String>,
    pub run_dir: PathBuf,
    pub grace: Duration,
    pub once: bool,
    /// CMD gets the controlling terminal (stdin is a TTY).
    pub tty: bool,
    /// Bytes of recent output kept per unit for `pidone logs` (0: none).
    pub log_keep_bytes: usize,
    /// Where `pidone reload` reads the services from (None: it cannot, as in s6 mode).
    pub reload_from: Option<ConfigSource>,
}

pub use reconfigure::ConfigSource;

/// Who a child pid belongs to, for routing its exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Unit(Idx),
    Probe(Idx, ProbeKind),
}

struct ServiceOutput {
    unit: Idx,
    stream: Stream,
    lines: LineReader,
}

/// A log pipeline's pipe (`stdout_to`): its consumer reads `read`; its producers write `write`.
struct Pipeline {
    consumer: Idx,
    producers: Vec<Idx>,
    read: OwnedFd,
    /// Let go at shutdown once every producer has exited (`release_drained_pipelines`).
    write: Option<OwnedFd>,
}

/// The drain after the last unit stopped.
enum Drain {
    NotStarted,
    Terminating { deadline: Instant },
    Killing,
}

pub struct Supervisor {
    core: Core,
    ctx: RunContext,
    is_pid1: bool,
    signals: Signals,
    children: HashMap<i32, Owner>,
    readers: Vec<ServiceOutput>,
    /// s6-style readiness pipes, by unit.
    notify_pipes: HashMap<Idx, OwnedFd>,
    /// systemd-style notify sockets, by unit (bound once, reused across restarts).
    notify_sockets: HashMap<Idx, (UnixDatagram, PathBuf)>,
    /// Log pipelines (`stdout_to`), one per consumer. Created once and held until shutdown,
    /// so a restart of a producer or of the consumer loses nothing and the other side sees
    /// neither EOF nor SIGPIPE. pidone never reads or writes them, so they
    /// cannot block the loop: with the consumer down, a producer blocks on a full pipe. (A
    /// vector: there are a few, and every new map type is code in the static binary.)
    pipelines: Vec<Pipeline>,
    /// `reload_on`: inotify and the quiet period before a reload.
    reload: reload::Watcher,
    control: Option<control::Server>,
    /// `pidone logs -f` connections.
    followers: follow::Followers,
    drain: Drain,
    /// Where `release_startup_pages` stands (it runs once, after the first quiet second).
    trim: Trim,
    /// Process groups of exited longruns that were sent SIGTERM, by unit.
    old_groups: HashMap<Idx, i32>,
    /// CMD, when it has an `idle_timeout` and the terminal: its activity is read from the tty.
    tty_idle_unit: Option<Idx>,
    /// The terminal's atime (seconds) last seen by `observe_terminal`.
    tty_last_input: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Trim {
    /// Start-up may still be going on.
    Pending,
    /// A quiet second passed: release right before the next poll.
    Due,
    Done,
}

/// Quiet time after start-up before `release_startup_pages`.
const QUIET_BEFORE_TRIM_MS: i32 = 1000;

/// The name of the render step's unit in `status` and `logs`: pidone's own step, named by
/// what it does, in a form no service file name can take (`[A-Za-z0-9_.-]+`).
pub const RENDER_UNIT: &str = "(templates)";

/// Build the unit list: the services, the implicit render step, and CMD.
///
/// Render waits for `render_after`; every service waits for render unless render (through
/// `render_after`) waits for it. CMD waits for every service.
pub fn build_units(
    services: Vec<Service>,
    render: Option<(Vec<String>, Service)>,
    cmd: Option<Service>,
) -> Vec<(Service, Role)> {
    let mut units: Vec<(Service, Role)> = Vec::new();
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    if let Some((after, mut render_svc)) = render {
        let mut services = services;
        wait_for_render(&mut services, &after, &render_svc.name);
        render_svc.after = after;
        units.push((render_svc, Role::Render));
        units.extend(services.into_iter().map(|s| (s, Role::Service)));
    } else {
        units.extend(services.into_iter().map(|s| (s, Role::Service)));
    }
    if let Some(mut main) = cmd {
        main.after = names;
        if units.iter().any(|(_, r)| *r == Role::Render) {
            main.after.push(RENDER_UNIT.into());
        }
        units.push((main, Role::Main));
    }
    units
}

/// Every service waits for the render step (`render_name`), except what render itself
/// (transitively, through `render_after`) waits for.
fn wait_for_render(services: &mut [Service], render_after: &[String], render_name: &str) {
    let mut before_render: Vec<String> = Vec::new();
    let mut todo = render_after.to_vec();
    while let Some(n) = todo.pop() {
        if before_render.contains(&n) {
            continue;
        }
        if let Some(s) = services.iter().find(|s| s.name == n) {
            todo.extend(s.waits_for().cloned());
        }
        before_render.push(n);
    }
    for s in services {
        if !before_render.contains(&s.name) {
            s.after.push(render_name.to_string());
        }
    }
}

/// The control socket is bound before the first spawn: a service may call `pidone status`
/// or an s6 shim (`s6-svc -O .`) as its first line, and would otherwise find no socket
/// (seen in CI). It costs three syscalls (bind, chmod, fcntl) before CMD starts.
fn bind_control(dir: &Path) -> Option<control::Server> {
    match control::Server::bind(dir) {
        Ok(server) => Some(server),
        Err(e) => {
            log::warn(format!("control socket disabled: {e}"));
            None
        }
    }
}

impl Supervisor {
    pub fn new(
        units: Vec<(Service, Role)>,
        ctx: RunContext,
        control_dir: Option<PathBuf>,
    ) -> std::io::Result<Supervisor> {
        let signals = Signals::new()?;
        let is_pid1 = std::process::id() == 1;
        if !is_pid1 {
            // Orphans of our services re-parent to us rather than to the real init, so we can
            // reap them and include them in the drain (s6-overlay #634 is the anti-example).
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        }
        let core = Core::new(units, ctx.once);
        let mut sup = Supervisor {
            core,
            ctx,
            is_pid1,
            signals,
            children: HashMap::new(),
            readers: Vec::new(),
            notify_pipes: HashMap::new(),
            notify_sockets: HashMap::new(),
            pipelines: Vec::new(),
            reload: reload::Watcher::default(),
            control: control_dir.and_then(|dir| bind_control(&dir)),
            followers: follow::Followers::default(),
            drain: Drain::NotStarted,
            trim: Trim::Pending,
            old_groups: HashMap::new(),
            tty_idle_unit: None,
            tty_last_input: None,
        };
        sup.tty_idle_unit = sup
            .core
            .units()
            .iter()
            .position(|u| u.role() == Role::Main && u.spec().idle_timeout.is_some())
            .filter(|_| sup.ctx.tty);
        let names: Vec<&str> = sup
            .core
            .units()
            .iter()
            .map(|u| u.spec().name.as_str())
            .collect();
        logring::set_sources(sup.ctx.log_keep_bytes, &names);
        sup.setup_notify_sockets()?;
        sup.setup_pipelines()?;
        sup.watch_reload_on();
        Ok(sup)
    }

    /// inotify for every unit's `reload_on` files (at start, and again after a reload).
    fn watch_reload_on(&mut self) {
        let wanted: Vec<(Idx, &Path, &str)> = self
            .core
            .units()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.core.index(&self.core.unit(*i).spec().name) == Some(*i))
            .flat_map(|(i, u)| {
                u.spec()
                    .reload_on
                    .iter()
                    .map(move |p| (i, p.as_path(), u.spec().name.as_str()))
            })
            .collect();
        self.reload = reload::Watcher::new(&wanted);
    }

    /// Bind each unit's notify socket that is not bound yet (at start, and for what a
    /// `pidone reload` added).
    fn setup_notify_sockets(&mut self) -> std::io::Result<()> {
        for (i, u) in self.core.units().iter().enumerate() {
            if !self.notify_sockets.contains_key(&i)
                && matches!(
                    u.spec().ready.as_ref().map(|r| &r.check),
                    Some(ReadyCheck::NotifySocket)
                )
            {
                let dir = self.ctx.run_dir.join("notify");
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(format!("{}.sock", u.spec().name));
                let _ = std::fs::remove_file(&path);
                let sock = UnixDatagram::bind(&path)?;
                sock.set_nonblocking(true)?;
                self.notify_sockets.insert(i, (sock, path));
            }
        }
        Ok(())
    }

    /// One pipe per consumer named by a `stdout_to`; all its producers share the write end.
    fn setup_pipelines(&mut self) -> std::io::Result<()> {
        for (i, u) in self.core.units().iter().enumerate() {
            let Some(consumer) = u.spec().stdout_to.as_deref() else {
                continue;
            };
            let Some(c) = self.core.index(consumer) else {
                continue;
            };
            match self.pipelines.iter_mut().find(|p| p.consumer == c) {
                // (already there when a `pidone reload` sets the pipelines up again)
                Some(p) if p.producers.contains(&i) => continue,
                Some(p) => p.producers.push(i),
                None => {
                    let (read, write) = crate::spawn::pipe_cloexec()?;
                    self.pipelines.push(Pipeline {
                        consumer: c,
                        producers: vec![i],
                        read,
                        write: Some(write),
                    });
                }
            }
            log::debug(format!("{}: stdout piped into {consumer}", u.spec().name));
        }
        Ok(())
    }

    /// At shutdown, once every producer of a pipeline has exited, pidone closes its write end:
    /// the pipe then has no writer left, so the consumer reads what is still in it and gets
    /// EOF. A logger that finishes its input before it exits (one that ignores or defers its
    /// stop signal) ends with nothing lost instead of waiting for SIGKILL.
    fn release_drained_pipelines(&mut self) {
        if !self.core.shutting_down() {
            return;
        }
        for p in &mut self.pipelines {
            if p.write.is_some()
                && p.producers
                    .iter()
                    .all(|&i| self.core.unit(i).pid().is_none())
            {
                p.write = None;
            }
        }
    }

    fn pipeline(&self, consumer: Idx) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.consumer == consumer)
    }

    /// Run until everything stopped and every process is reaped; returns the exit code.
    pub fn run(mut self) -> i32 {
        log::loop_flushes();
        loop {
            // Let the state machine act until it has nothing more to do right now.
            loop {
                let now = Instant::now();
                self.observe_terminal(now);
                let actions = self.core.step(now);
                if actions.is_empty() {
                    break;
                }
                for action in actions {
                    self.execute(action, now);
                }
            }
            self.release_drained_pipelines();
            if self.core.finished() && self.advance_drain() {
                break;
            }
            self.wait_and_dispatch();
        }
        // Hand-off files may hold secrets: none outlives the run (one is normally removed
        // when its oneshot exits; this covers a shutdown while it was still running).
        for i in 0..self.core.units().len() {
            if self.core.unit(i).spec().export_env {
                crate::handoff::remove(&self.env_file(i));
            }
        }
        let _ = std::fs::remove_dir(self.ctx.run_dir.join("env"));
        self.relay_the_rest();
        log::flush_at_exit();
        self.core.exit_code()
    }

    fn execute(&mut self, action: Action, now: Instant) {
        match action {
            // (the unit's phase tells which of its commands)
            Action::Spawn(i) | Action::SpawnHelper(i) => self.spawn_unit(i, now),
            Action::Signal(i, sig) => {
                if let Some(pid) = self.core.unit(i).pid() {
                    signal_group(pid, sig);
                }
            }
            Action::RunProbe(i, kind) => self.run_probe(i, kind, now),
            Action::KillProbe(i, kind) => {
                let pid = self
                    .children
                    .iter()
                    .find(|(_, o)| **o == Owner::Probe(i, kind))
                    .map(|(p, _)| *p);
                if let Some(pid) = pid {
                    signal_group(pid, libc::SIGKILL);
                }
            }
            Action::Log(level, msg) => match level {
                Level::Error => log::error(msg),
                Level::Warn => log::warn(msg),
                Level::Info => log::info(msg),
                Level::Debug => log::debug(msg),
            },
            Action::ArmTick(i) => self.arm_tick(i, now),
            Action::TickDue(i) => self.tick_due(i, now),
            Action::Warn(i, limit, left) => self.warn(i, limit, left),
        }
    }

    fn unit_env(&self, i: Idx) -> BTreeMap<String, String> {
        let spec = &self.core.unit(i).spec();
        let mut env = self.ctx.env.clone();
        env.extend(spec.env.iter().cloned());
        if let Some((_, path)) = self.notify_sockets.get(&i) {
            env.insert("NOTIFY_SOCKET".into(), path.display().to_string());
        }
        if spec.export_env && !self.core.unit(i).running_helper() {
            env.insert(
                "PIDONE_ENV_FILE".into(),
                self.env_file(i).display().to_string(),
            );
        }
        env
    }

    fn env_file(&self, i: Idx) -> PathBuf {
        self.ctx
            .run_dir
            .join("env")
            .join(format!("{}.env", self.core.unit(i).spec().name))
    }

    fn spawn_unit(&mut self, i: Idx, now: Instant) {
        // Leftovers of the previous instance had the backoff delay to act on their SIGTERM;
        // whatever still lives now would hold the old listening sockets (nginx workers of a
        // crashed master: EADDRINUSE on every restart), so it is killed before the restart.
        if let Some(pgid) = self.old_groups.remove(&i)
            // SAFETY: kill(2); signal 0 only tests whether the group still exists.
            && unsafe { libc::kill(-pgid, 0) } == 0
        {
            log::warn(format!(
                "{}: killing what the previous instance left in its process group",
                self.core.unit(i).spec().name
            ));
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let env = self.unit_env(i);
        let unit = self.core.unit(i);
        let spec = &unit.spec();
        // The state machine put the unit in its stop or finish phase before asking for a
        // helper's spawn; `argv` is the helper's then.
        let helper = unit.running_helper();
        let argv = unit.argv();
        if spec.export_env && !helper {
            let file = self.env_file(i);
            if let Err(e) = crate::handoff::create(&file) {
                log::warn(format!(
                    "{}: cannot create the env hand-off file {}: {e}",
                    spec.name,
                    file.display()
                ));
            }
        }
        let notify_fd = match spec.ready.as_ref().map(|r| &r.check) {
            _ if helper => None,
            Some(ReadyCheck::NotifyFd(fd)) => Some(*fd),
            _ => None,
        };
        let is_main = unit.role() == Role::Main;
        let stdout_pipe = spec
            .stdout_to
            .as_deref()
            .and_then(|c| self.core.index(c))
            .and_then(|c| self.pipeline(c))
            .and_then(|p| p.write.as_ref())
            .map(|w| w.as_raw_fd());
        let req = SpawnRequest {
            argv: &argv,
            env: &env,
            working_dir: spec.working_dir.as_ref(),
            umask: spec.umask,
            limits: &spec.limits,
            output: if is_main {
                Output::Inherit
            } else {
                Output::Capture
            },
            take_tty: is_main && self.ctx.tty,
            notify_fd,
            stdin_pipe: self.pipeline(i).map(|p| p.read.as_raw_fd()),
            stdout_pipe,
        };
        let name = spec.name.clone();
        match spawn(&req) {
            Ok(spawned) => {
                log::debug(format!("started {name} (pid {})", spawned.pid));
                self.children.insert(spawned.pid, Owner::Unit(i));
                for (fd, stream) in [
                    (spawned.stdout, Stream::Stdout),
                    (spawned.stderr, Stream::Stderr),
                ] {
                    if let Some(fd) = fd {
                        self.readers.push(ServiceOutput {
                            unit: i,
                            stream,
                            lines: LineReader::new(fd),
                        });
                    }
                }
                if let Some(fd) = spawned.notify {
                    self.notify_pipes.insert(i, fd);
                }
                self.core.on_spawned(i, spawned.pid, now);
            }
            Err(e) => {
                let msg = format!("{name}: {}", e.message);
                // No process: the state machine treats it as an exit (and has no pid for it).
                self.core.on_spawn_failed(i, e.code, msg, now);
            }
        }
    }

    fn run_probe(&mut self, i: Idx, kind: ProbeKind, now: Instant) {
        let Some((probe, timeout)) = probe_of(self.core.unit(i).spec(), kind) else {
            return;
        };
        let env = self.unit_env(i);
        match probe::start(&probe, &env, timeout) {
            probe::Started::Done { ok, detail } => {
                self.core.on_probe_result(i, kind, ok, detail, now)
            }
            probe::Started::Child(pid) => {
                self.children.insert(pid, Owner::Probe(i, kind));
            }
        }
    }

    /// Block in poll until something happens or the next deadline, then handle it.
    fn wait_and_dispatch(&mut self) {
        #[derive(Clone, Copy)]
        enum Token {
            Signals,
            Reader(usize),
            NotifyPipe(Idx),
            NotifySocket(Idx),
            Inotify,
            Control,
            Client(usize),
            Follower(usize),
            Log(Stream),
        }
        // Before the poll set is built: clients are only removed here and in gc below, so
        // the Client(n) indices stay valid through the dispatch.
        let before_poll = Instant::now();
        if let Some(ctl) = &mut self.control {
            ctl.expire(before_poll);
        }
        // pidone's own lines since the last round (and what `expire` leaves).
        self.followers.expire(Instant::now());
        self.followers.pump(Instant::now());
        // Flow control of service output (log::relay): a stream whose queue is full has its
        // service pipes left unread (not polled), so the services' writes wait in the kernel.
        let before = Instant::now();
        let relay_due = log::check_stalls(before);
        let open = |s: Stream| log::open_for_services(s, before);
        // A reader that stopped mid-chunk holds lines already read: no POLLIN will come for
        // them, so the poll must not sleep while its stream takes lines again.
        let held_ready = self
            .readers
            .iter()
            .any(|r| r.lines.holds_data() && open(r.stream));
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut tokens: Vec<Token> = Vec::new();
        let mut add = |fd: i32, events: i16, t: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(t);
        };
        add(self.signals.fd(), libc::POLLIN, Token::Signals);
        for (n, r) in self.readers.iter().enumerate() {
            if open(r.stream) {
                add(r.lines.fd(), libc::POLLIN, Token::Reader(n));
            }
        }
        for (i, fd) in &self.notify_pipes {
            add(fd.as_raw_fd(), libc::POLLIN, Token::NotifyPipe(*i));
        }
        for (i, (sock, _)) in &self.notify_sockets {
            add(sock.as_raw_fd(), libc::POLLIN, Token::NotifySocket(*i));
        }
        if let Some(fd) = self.reload.fd() {
            add(fd, libc::POLLIN, Token::Inotify);
        }
        if let Some(ctl) = &self.control {
            // Keep answering while stopping: `healthcheck` then says "stopping" at once
            // instead of timing out. (No listener while every slot is busy and none may be
            // freed yet: new connections wait in the listen queue until `next_deadline`.)
            if let Some(fd) = ctl.listener_fd(before_poll) {
                add(fd, libc::POLLIN, Token::Control);
            }
            for (n, (fd, events)) in ctl.client_fds().into_iter().enumerate() {
                add(fd, events, Token::Client(n));
            }
        }
        for (n, (fd, events)) in self.followers.fds().into_iter().enumerate() {
            add(fd, events, Token::Follower(n));
        }
        for (s, fd) in log::waiting() {
            add(fd, libc::POLLOUT, Token::Log(s));
        }

        let deadline = match self.drain {
            Drain::Terminating { deadline } => Some(deadline),
            _ => self.core.next_deadline(),
        };
        let deadline = [
            deadline,
            self.reload.due(),
            self.control.as_ref().and_then(|c| c.next_deadline()),
            relay_due,
            held_ready.then_some(before),
            self.followers.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout_ms: i32 = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so we never wake a millisecond early and spin.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        // Once start-up is over (the loop could sleep for a second or more) and a second has
        // passed quietly, hand back the pages only start-up needed: one wake-up per run, and
        // none at all for a short run such as `pidone -- /bin/true`. The release happens just
        // before a poll, so no code runs between it and the sleep to fault pages back in.
        let long_sleep = !(0..QUIET_BEFORE_TRIM_MS).contains(&timeout_ms);
        let timeout_ms = match self.trim {
            Trim::Pending if long_sleep => QUIET_BEFORE_TRIM_MS,
            Trim::Due => {
                procfs::release_startup_pages();
                self.trim = Trim::Done;
                timeout_ms
            }
            _ => timeout_ms,
        };
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if self.trim == Trim::Pending && long_sleep && n == 0 {
            self.trim = Trim::Due;
        }
        let now = Instant::now();
        if self.reload.due().is_some_and(|due| due <= now) {
            self.apply_reloads(now);
        }
        if n <= 0 && !held_ready {
            return; // timeout or EINTR: the next step() handles what is due
        }
        let mut closed_readers = Vec::new();
        let mut client_events = Vec::new();
        for (pfd, token) in fds.iter().zip(tokens) {
            let held = matches!(token, Token::Reader(n) if self.readers[n].lines.holds_data());
            if pfd.revents == 0 && !held {
                continue;
            }
            match token {
                Token::Signals => self.handle_signals(now),
                Token::Reader(n) => {
                    // Output is activity, for `idle_timeout`.
                    self.core.on_activity(self.readers[n].unit, now);
                    if let ReadState::Closed = self.relay_output(n, now) {
                        closed_readers.push(n);
                    }
                    // Before the next pipe's read can push these lines out of the ring.
                    self.followers.pump(now);
                }
                Token::NotifyPipe(i) => self.read_notify_pipe(i, now),
                Token::NotifySocket(i) => self.read_notify_socket(i, now),
                Token::Inotify => self.reload.read_events(now),
                Token::Control => {
                    if let Some(ctl) = &mut self.control {
                        ctl.accept(now);
                    }
                }
                Token::Client(n) => client_events.push((n, pfd.revents)),
                Token::Follower(n) => self.followers.handle(n, pfd.revents),
                Token::Log(s) => log::flush_ready(s),
            }
        }
        log::round_done(now);
        for n in closed_readers.into_iter().rev() {
            self.readers.swap_remove(n);
        }
        if !client_events.is_empty()
            && let Some(mut ctl) = self.control.take()
        {
            let requests = ctl.handle_io(&client_events);
            for (client, request) in requests {
                let words = &request.words;
                if words.len() == 1 && words[0] == "reload" {
                    let reply = self.reload_config(now);
                    ctl.reply(client, reply);
                } else if words.first().is_some_and(|w| w == "logs")
                    && words.iter().any(|w| w == "-f")
                {
                    match requests::logs_request(words) {
                        Ok(q) => self.start_follower(&mut ctl, client, q),
                        Err(reply) => ctl.reply(client, reply),
                    }
                } else {
                    let reply = requests::answer(&mut self.core, &request, now);
                    ctl.reply(client, reply);
                }
            }
            ctl.gc();
            self.control = Some(ctl);
        }
    }

    /// Read service output from reader `n` into pidone's queue, as far as its stream takes
    /// lines now (checked again here: an earlier reader of this turn may have filled it).
    fn relay_output(&mut self, n: usize, now: Instant) -> ReadState {
        let r = &mut self.readers[n];
        if !log::open_for_services(r.stream, now) {
            return ReadState::Open;
        }
        let unit = self.core.unit(r.unit);
        let name = &unit.spec().name;
        let prefix = unit.spec().log_prefix;
        // The render step is pidone itself (`pidone render`, same log format):
        // its lines are pidone's own and pass through unwrapped.
        let own = unit.role() == Role::Render;
        let stream = r.stream;
        let index = r.unit;
        r.lines.read(log::read_budget(stream), |line, cut| {
            // (in JSON, only what is a JSON object: a panic message stays wrapped)
            let passes = match log::format() {
                log::Format::Text => true,
                log::Format::Json => line.first() == Some(&b'{'),
            };
            let taken = if own && !cut && passes {
                log::own_output_line(stream, line)
            } else {
                log::service_line(name, stream, prefix, line, cut)
            };
            // A line not taken is read again later: keep it for `pidone logs` once.
            if taken {
                logring::record_unit(index, stream, line, cut);
            }
            taken
        })
    }

    /// After the last process was reaped, what the services wrote before they exited may
    /// still be in their pipes: the loop leaves it there while a queue is full, and the end
    /// of the run can come before the last POLLIN was handled. Relay it now, until the pipes
    /// are empty or the exit deadline (`log::EXIT_FLUSH`) has passed; what is still in them
    /// then is counted as dropped (one read budget per pipe: a process that escaped the drain
    /// could write without end).
    fn relay_the_rest(&mut self) {
        let deadline = log::exit_deadline();
        while !self.readers.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let relay_due = log::check_stalls(now);
            for n in (0..self.readers.len()).rev() {
                if let ReadState::Closed = self.relay_output(n, now) {
                    self.readers.swap_remove(n);
                }
            }
            log::round_done(now);
            // Wait for room in the queues (or for the stall limit / next round), or for the
            // pipes of a process that escaped the drain.
            let mut fds: Vec<libc::pollfd> = Vec::new();
            let mut streams = Vec::new();
            for (s, fd) in log::waiting() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                });
                streams.push(s);
            }
            for r in &self.readers {
                if log::open_for_services(r.stream, now) && !r.lines.holds_data() {
                    fds.push(libc::pollfd {
                        fd: r.lines.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
            if self.readers.is_empty() || fds.is_empty() && relay_due.is_none() {
                break;
            }
            let until = relay_due.map_or(deadline, |d| d.min(deadline));
            let ms = until
                .saturating_duration_since(now)
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32;
            // SAFETY: fds is a valid array of pollfd for the duration of the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            for (pfd, s) in fds.iter().zip(streams) {
                if pfd.revents != 0 {
                    log::flush_ready(s);
                }
            }
        }
        for r in &mut self.readers {
            let stream = r.stream;
            r.lines.read(log::read_budget(stream), |_, _| {
                log::count_dropped(stream);
                true
            });
        }
        self.readers.clear();
    }

    /// `logs -f`: the connection leaves the control server for the followers, which send
    /// the recent lines first (after the reply header a client reads as for any request).
    /// (With as many followers as allowed, the oldest makes room: `Followers::add`.)
    fn start_follower(
        &mut self,
        ctl: &mut control::Server,
        client: usize,
        q: requests::LogsRequest,
    ) {
        if let Some(stream) = ctl.take(client) {
            let first = format!(
                "0\nnull\n{}",
                requests::recent_lines(&q, follow::QUEUE_LIMIT / 2)
            );
            self.followers.add(stream, q.wanted, first, Instant::now());
        }
    }

    fn handle_signals(&mut self, now: Instant) {
        for sig in self.signals.take() {
            match sig {
                libc::SIGCHLD => self.reap(now),
                libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                    let name = crate::values::signal_name(sig);
                    self.core
                        .begin_shutdown_on_signal(&format!("received {name}"));
                }
                _ => self.forward(sig),
            }
        }
    }

    /// Send a forwarded signal to CMD's and every running service's process group.
    fn forward(&self, sig: i32) {
        log::debug(format!("forwarding {}", crate::values::signal_name(sig)));
        for u in self.core.units() {
            let Some(pid) = u.pid() else { continue };
            // A helper (finish, stop command) is not the service the signal is meant for.
            if u.role() == Role::Render
                || u.running_helper()
                || (!u.spec().forward_signals && u.role() != Role::Main)
            {
                continue;
            }
            let mapped = u
                .spec()
                .signal_map
                .iter()
                .find(|(from, _)| *from == sig)
                .map_or(sig, |(_, to)| *to);
            signal_group(pid, mapped);
        }
    }

    /// Collect every exited child: ours, probes, and orphans adopted as PID 1 / subreaper.
    fn reap(&mut self, now: Instant) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let exit = if libc::WIFSIGNALED(status) {
                ExitStatus::Signal(libc::WTERMSIG(status))
            } else {
                ExitStatus::Code(libc::WEXITSTATUS(status))
            };
            match self.children.remove(&pid) {
                Some(Owner::Unit(i)) => {
                    let mut exit = exit;
                    if self.core.unit(i).spec().export_env && !self.core.unit(i).running_helper() {
                        if exit.success() && !self.merge_env_file(i) {
                            // What it meant to hand on is unknown: starting the services
                            // after it without that environment would be a silent failure.
                            exit = ExitStatus::Code(1);
                        }
                        crate::handoff::remove(&self.env_file(i));
                    }
                    self.notify_pipes.remove(&i);
                    let name = &self.core.unit(i).spec().name;
                    log::debug(format!("{name} (pid {pid}) {}", exit.describe()));
                    // What a longrun left behind in its process group goes with it (TERM now;
                    // the final drain KILLs stragglers), so restarts cannot pile up leftover
                    // children. A oneshot's background processes are left alone: init tasks
                    // may start helpers on purpose; they are drained at shutdown.
                    // kill() of an empty group just fails with ESRCH.
                    let longrun = self.core.unit(i).spec().kind == crate::config::Kind::Longrun;
                    // SAFETY: kill(2) to the group the exited leader created.
                    if longrun && unsafe { libc::kill(-pid, libc::SIGTERM) } == 0 {
                        unsafe { libc::kill(-pid, libc::SIGCONT) };
                        log::debug(format!(
                            "{name}: sent SIGTERM to what its process group left"
                        ));
                        self.old_groups.insert(i, pid);
                    }
                    self.core.on_exit(i, exit, now);
                }
                Some(Owner::Probe(i, kind)) => {
                    if let Some((p, _)) = probe_of(self.core.unit(i).spec(), kind) {
                        let (ok, detail) = probe::describe_exit(&p, exit);
                        self.core.on_probe_result(i, kind, ok, detail, now);
                    }
                }
                None => log::debug(format!("reaped orphan pid {pid} ({})", exit.describe())),
            }
        }
    }

    /// A oneshot with `export_env` succeeded: merge its `KEY=VALUE` lines into the env of
    /// everything started from now on. False (logged) when the file could not be read: the
    /// service replaced it with a FIFO, a symlink or something over the size limit.
    fn merge_env_file(&mut self, i: Idx) -> bool {
        let path = self.env_file(i);
        let name = self.core.unit(i).spec().name.clone();
        let (vars, bad) = match crate::handoff::read(&path) {
            Ok(parsed) => parsed,
            Err(e) => {
                log::error(format!("{name}: {e}; counting the oneshot as failed"));
                return false;
            }
        };
        // A few lines are enough to fix the file; a flood of bad lines must not become a
        // flood of log lines queued in PID 1.
        const SHOWN: usize = 5;
        for crate::handoff::BadLine(n) in bad.iter().take(SHOWN) {
            log::warn(format!(
                "{name}: {}:{n}: not KEY=VALUE; line ignored",
                path.display()
            ));
        }
        if bad.len() > SHOWN {
            log::warn(format!(
                "{name}: {}: {} more lines that are not KEY=VALUE ignored",
                path.display(),
                bad.len() - SHOWN
            ));
        }
        let count = vars.len();
        self.ctx.env.extend(vars);
        log::info(format!("{name} handed on {count} environment variable(s)"));
        true
    }

    fn read_notify_pipe(&mut self, i: Idx, now: Instant) {
        let Some(fd) = self.notify_pipes.get(&i) else {
            return;
        };
        let mut buf = [0u8; 512];
        // SAFETY: reading into a local buffer from a descriptor we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 && buf[..n as usize].contains(&b'\n') {
            self.core.on_ready(i, now);
            self.notify_pipes.remove(&i);
        } else if n == 0 {
            // Closed without a newline: the service will not notify; the timeout decides.
            self.notify_pipes.remove(&i);
        }
    }

    fn read_notify_socket(&mut self, i: Idx, now: Instant) {
        let Some((sock, _)) = self.notify_sockets.get(&i) else {
            return;
        };
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l.trim() == "READY=1") {
                self.core.on_ready(i, now);
            }
        }
    }

    /// The quiet period is over: reload every service whose watched file really changed.
    fn apply_reloads(&mut self, now: Instant) {
        for (i, path) in self.reload.changed() {
            let name = self.core.unit(i).spec().name.clone();
            if let Some(sig) = self.core.on_reload(i, now) {
                log::info(format!(
                    "{} changed: sending {} to {name}",
                    path.display(),
                    crate::values::signal_name(sig)
                ));
                if let Some(pid) = self.core.unit(i).pid() {
                    signal_group(pid, sig);
                }
            } else {
                log::info(format!("{} changed: restarting {name}", path.display()));
            }
        }
    }

    /// The drain. Returns true when every process is reaped.
    fn advance_drain(&mut self) -> bool {
        match self.drain {
            Drain::NotStarted => {
                if !self.has_children() {
                    return true;
                }
                log::info(format!(
                    "sending SIGTERM to remaining processes (SIGKILL in {})",
                    crate::values::format_duration(self.ctx.grace)
                ));
                self.signal_leftovers(libc::SIGTERM);
                self.drain = Drain::Terminating {
                    deadline: Instant::now() + self.ctx.grace,
                };
                false
            }
            Drain::Terminating { deadline } => {
                if !self.has_children() {
                    return true;
                }
                if Instant::now() >= deadline {
                    log::warn("grace period over: sending SIGKILL to remaining processes");
                    self.signal_leftovers(libc::SIGKILL);
                    self.drain = Drain::Killing;
                }
                false
            }
            Drain::Killing => !self.has_children(),
        }
    }

    /// Reap what has exited, then tell whether any child is left.
    fn has_children(&mut self) -> bool {
        self.reap(Instant::now());
        // SAFETY: waitid with WNOHANG|WNOWAIT only peeks; a zeroed siginfo is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        r == 0
    }

    fn signal_leftovers(&self, sig: i32) {
        // As PID 1 of the namespace, kill(-1) reaches every other process in it: the orphans
        // that tini #229 / dumb-init #191 never signal. As a subreaper, our descendants.
        // A stopped process cannot act on TERM until it is continued, hence the SIGCONT.
        let targets: Vec<i32> = if self.is_pid1 {
            vec![-1]
        } else {
            procfs::descendants(std::process::id() as i32)
        };
        for pid in targets {
            // SAFETY: kill(2).
            unsafe {
                libc::kill(pid, sig);
                if sig == libc::SIGTERM {
                    libc::kill(pid, libc::SIGCONT);
                }
            }
        }
    }
}

/// The probe a unit runs for readiness or health, with its timeout.
fn probe_of(spec: &Service, kind: ProbeKind) -> Option<(crate::config::Probe, Duration)> {
    let probe = match kind {
        ProbeKind::Ready => match spec.ready.as_ref().map(|r| &r.check) {
            Some(ReadyCheck::Probe(p)) => p,
            _ => return None,
        },
        ProbeKind::Health => &spec.health.as_ref()?.probe,
    };
    Some((probe.clone(), state::probe_timeout(spec, kind)))
}

/// Signal a unit's process group; fall back to the pid if the group is gone.
fn signal_group(pid: i32, sig: i32) {
    // SAFETY: kill(2).
    unsafe {
        if libc::kill(-pid, sig) < 0 {
            libc::kill(pid, sig);
        }
    }
}
