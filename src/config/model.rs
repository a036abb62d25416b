//! The validated model: what every configuration source produces and what the later stages
//! (privilege, render, supervisor) read. Plain data with its defaults; no parsing here.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Longrun,
    Oneshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    pub reset_after: Duration,
    /// The delay counts from the previous start, not from the exit (s6-supervise's rule):
    /// what the service ran is taken off it.
    pub from_start: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub nofile: Option<u64>,
    pub nproc: Option<u64>,
    pub core: Option<u64>,
}

/// A check that runs to completion: used for readiness and for health.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// `host:port` to connect to.
    Tcp(String),
    /// Plain HTTP/1.0 GET; 2xx passes.
    Http {
        address: String,
        path: String,
    },
    File(PathBuf),
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReadyCheck {
    /// s6: the service writes a newline to this fd.
    NotifyFd(i32),
    /// systemd: `READY=1` on `$NOTIFY_SOCKET`.
    NotifySocket,
    Probe(Probe),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub check: ReadyCheck,
    pub timeout: Duration,
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnhealthy {
    Restart,
    Ignore,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub on_failure: OnUnhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Signal(i32),
    Restart,
}

/// A validated service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub command: Vec<String>,
    pub kind: Kind,
    pub after: Vec<String>,
    /// The longrun whose stdin this service's stdout is piped into (a log pipeline, s6's
    /// `producer-for`). The consumer starts before this service and stops after it; the pipe
    /// is held by pidone (until shutdown), so a restart of either side loses nothing.
    pub stdout_to: Option<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    pub umask: Option<u32>,
    pub limits: Limits,
    pub restart: Restart,
    pub backoff: Backoff,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub critical: bool,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub max_runtime: Option<Duration>,
    /// A oneshot still running after this long is stopped and fails (None: no limit).
    pub timeout: Option<Duration>,
    /// (longrun, CMD) No output for this long ends the session, like `max_runtime`.
    pub idle_timeout: Option<Duration>,
    /// How long before a session limit ends it to warn (`warn_signal`, `warn_command`).
    pub warn_before: Option<Duration>,
    pub warn_signal: Option<i32>,
    pub warn_command: Option<Vec<String>>,
    /// A scheduled oneshot runs at these times instead of once at start.
    pub schedule: Option<Scheduled>,
    /// Services reloaded (their `reload_signal`, or restarted) after a scheduled run exits 0.
    pub then_reload: Vec<String>,
    pub reload_on: Vec<PathBuf>,
    pub reload: Reload,
    pub log_prefix: bool,
    pub forward_signals: bool,
    /// Forwarded signal → signal this service gets instead.
    pub signal_map: Vec<(i32, i32)>,
    pub export_env: bool,
    pub ready: Option<Ready>,
    pub health: Option<Health>,
    /// How long the unit waits for its dependencies before it starts anyway (or, with
    /// `fail`, fails): s6-overlay's `S6_CMD_WAIT_FOR_SERVICES_MAXTIME` for CMD. None: as long
    /// as they take (a dependency that fails or ends is decided as usual).
    pub dependency_wait: Option<DependencyWait>,
    /// (oneshot) The clean-up of what the oneshot set up (s6-rc's `down`): run at shutdown,
    /// once every unit that waits for it has stopped (and run its own), when its last run
    /// had succeeded. An empty `command` (from an s6 layout only) means "nothing to run at
    /// start": such a oneshot is done at once and exists for its stop command.
    pub stop_command: Option<StopCommand>,
    /// (longrun) s6's `finish`: run each time the service's process ended, before the restart
    /// policy decides, with the arguments `EXITCODE SIGNAL` (256 and the signal number when
    /// it was killed) and the service's working directory. Exit 125 = do not restart. Not a
    /// key of the native format (from an s6 layout only).
    pub finish_command: Option<FinishCommand>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StopCommand {
    pub argv: Vec<String>,
    /// SIGKILL to its process group after this long; None: no limit (s6-rc's `timeout-down`
    /// absent or 0), said in the log when it starts.
    pub timeout: Option<Duration>,
}

/// Exit code of a finish command that means "do not restart the service" (s6-supervise's).
pub const FINISH_DO_NOT_RESTART: i32 = 125;

#[derive(Debug, Clone, PartialEq)]
pub struct FinishCommand {
    pub argv: Vec<String>,
    /// SIGKILL to its process group after this long (s6's `timeout-finish`, 5 s by default).
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DependencyWait {
    pub limit: Duration,
    /// Fail instead of starting (S6_BEHAVIOUR_IF_STAGE2_FAILS=2).
    pub fail: bool,
}

/// When a scheduled oneshot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub when: crate::schedule::Schedule,
    /// Seconds east of UTC the cron fields are read in.
    pub offset: crate::schedule::Offset,
    /// Each run starts up to this much later than its tick, chosen at random per tick.
    pub jitter: Duration,
    /// `timezone` was given (otherwise UTC by default).
    pub zone_given: bool,
}

impl Service {
    /// A service with every default: the base every source builds on (the native reader
    /// overrides what a file sets; another loader what its format says), and the implicit
    /// steps (CMD, render).
    pub fn with_defaults(name: &str, command: Vec<String>, kind: Kind) -> Service {
        Service {
            name: name.to_string(),
            command,
            kind,
            after: Vec::new(),
            stdout_to: None,
            env: Vec::new(),
            working_dir: None,
            umask: None,
            limits: Limits::default(),
            restart: Restart::default_for(kind),
            backoff: Backoff::DEFAULT,
            max_restarts: DEFAULT_MAX_RESTARTS,
            restart_window: DEFAULT_RESTART_WINDOW,
            critical: kind == Kind::Oneshot,
            stop_signal: libc::SIGTERM,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            max_runtime: None,
            timeout: (kind == Kind::Oneshot).then_some(DEFAULT_ONESHOT_TIMEOUT),
            idle_timeout: None,
            warn_before: None,
            warn_signal: None,
            warn_command: None,
            schedule: None,
            then_reload: Vec::new(),
            reload_on: Vec::new(),
            reload: Reload::Signal(libc::SIGHUP),
            log_prefix: true,
            // A HUP meant for the daemons' reload must not kill a migration or a renewal
            // that happens to be running: oneshots opt in.
            forward_signals: kind == Kind::Longrun,
            signal_map: Vec::new(),
            export_env: false,
            ready: None,
            health: None,
            dependency_wait: None,
            stop_command: None,
            finish_command: None,
        }
    }

    /// The services this one starts after: its `after`, and the consumer of its stdout.
    pub fn waits_for(&self) -> impl Iterator<Item = &String> {
        self.after.iter().chain(&self.stdout_to)
    }
}

impl Restart {
    /// A longrun is restarted when it fails; a oneshot runs once.
    pub fn default_for(kind: Kind) -> Restart {
        match kind {
            Kind::Longrun => Restart::OnFailure,
            Kind::Oneshot => Restart::Never,
        }
    }
}

impl Backoff {
    pub const DEFAULT: Backoff = Backoff {
        initial: Duration::from_millis(100),
        factor: 2.0,
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(10),
        from_start: false,
    };
    /// s6-supervise's pace (s6 longruns): the next start comes at least a second after the
    /// previous one, so a service that died within a second of its start waits the rest of
    /// that second, and one that ran longer is restarted at once.
    pub const S6_SUPERVISE: Backoff = Backoff {
        initial: Duration::from_secs(1),
        factor: 1.0,
        max: Duration::from_secs(1),
        reset_after: Duration::from_secs(1),
        from_start: true,
    };
}

/// Restarts allowed within `restart_window` before the service is given up on.
pub const DEFAULT_MAX_RESTARTS: u32 = 5;
pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(60);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a oneshot may run unless its `timeout` says otherwise: generous for init tasks
/// (migrations, key generation), but not for ever, so a hung one is named in the log and
/// fails its dependants instead of holding them and CMD in silence.
pub const DEFAULT_ONESHOT_TIMEOUT: Duration = Duration::from_secs(300);
