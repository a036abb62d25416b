//! Stage 6 of the data flow: the single-threaded event loop.
//!
//! One `poll(2)` waits on everything: the signalfd (SIGCHLD included), the services'
//! output pipes (only those whose stream's queue takes lines now: the flow control is
//! described in `log/relay.rs`) and readiness fds, notify sockets, inotify, the control
//! socket, and pidone's own stdout/stderr when log lines are queued. The timeout comes from
//! the state machine's next deadline; with nothing due it is infinite, so an idle pidone
//! makes zero wakeups.
//!
//! `state/` decides; the other files perform the loop's syscalls and translate their
//! results into events for it. Shutdown ends with the drain: every process still alive
//! (adopted orphans included) gets SIGTERM, then SIGKILL after the grace period, and all
//! are reaped.
//!
//! One turn of the loop (`run`): let `Core` step until it asks for nothing more, performing
//! each `Action`; close the pipelines nobody writes to any more; stop once everything is
//! reaped; otherwise wait in poll, map each ready descriptor to what it means and hand that
//! to `Core` (`wait_and_dispatch`). The files, in the order of those steps:
//! - `mod.rs`: the loop itself, the state it keeps besides `Core`, and its setup;
//! - `units.rs`: the unit list it starts with (services, the render step, CMD);
//! - `state/`: the pure state machine (`Core::step(now) -> Vec<Action>`);
//! - `actions.rs`: performing the `Action`s (spawning a unit or helper, signals, probes);
//! - `ticks.rs`: the `Action`s about time (scheduled oneshots' ticks, session warnings);
//! - `pipelines.rs`: the `stdout_to` pipes, released at shutdown once nobody writes;
//! - `drain.rs`: the final drain, once the last unit stopped;
//! - `poll.rs`: the poll set and its timeout (what the loop waits on, until when);
//! - `signals.rs`: what a received signal means (reap, shut down, forward);
//! - `reap.rs`: exited children routed to their owner (unit, probe, orphan);
//! - `service_output.rs`: service output relayed into pidone's log, and the rest at exit;
//! - `notify.rs`: readiness notifications (notify pipes and sockets);
//! - `reload.rs`: `reload_on` (inotify and the quiet period before a reload);
//! - `clients.rs`: control requests routed (reload, `logs -f`, the rest to `requests.rs`);
//! - `requests.rs`: answers to control requests (the socket itself is `crate::control`);
//! - `reconfigure.rs`: `pidone reload`: the service files read again, the difference applied;
//! - `follow.rs`: `pidone logs -f` connections, fed from the rings;
//! - `logring.rs`: the recent lines of every unit and of pidone, for `pidone logs`;
//! - `procfs.rs`: reading /proc (pidone's own mappings, the process tree).

mod actions;
mod clients;
mod drain;
mod follow;
pub mod logring;
mod notify;
mod pipelines;
mod poll;
mod procfs;
mod reap;
mod reconfigure;
mod reload;
pub mod requests;
mod service_output;
mod signals;
pub mod state;
mod ticks;
mod units;

use crate::config::{ReadyCheck, Service};
use crate::control;
use crate::log;
use crate::output::ReadState;
use crate::signals::Signals;
use drain::Drain;
use pipelines::Pipeline;
use poll::{Token, Trim};
use service_output::ServiceOutput;
use state::{Core, Idx, ProbeKind, Role};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use units::{RENDER_UNIT, build_units};

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

    /// Block in poll until something happens or the next deadline, then handle it.
    fn wait_and_dispatch(&mut self) {
        let mut set = self.poll_set();
        let n = self.wait(&mut set);
        let now = Instant::now();
        if self.reload.due().is_some_and(|due| due <= now) {
            self.apply_reloads(now);
        }
        if n <= 0 && !set.held_ready {
            return; // timeout or EINTR: the next step() handles what is due
        }
        let mut closed_readers = Vec::new();
        let mut client_events = Vec::new();
        for (pfd, token) in set.fds.iter().zip(set.tokens) {
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
        self.serve_clients(client_events, now);
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
