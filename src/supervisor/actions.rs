//! Performing the state machine's `Action`s: spawning a unit's command or helper (its
//! environment, output, pipes and notify fd), signalling, starting and killing probes, its
//! log lines. `Core` decides without syscalls; this is where its decisions become them.

use super::service_output::ServiceOutput;
use super::state::{Action, Idx, ProbeKind, Role};
use super::{Owner, Supervisor, probe_of, signal_group};
use crate::config::ReadyCheck;
use crate::log::{self, Level, Stream};
use crate::output::LineReader;
use crate::probe;
use crate::spawn::{Output, SpawnRequest, Spawned, spawn};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Instant;

impl Supervisor {
    /// Perform one `Action` the state machine asked for.
    pub(super) fn execute(&mut self, action: Action, now: Instant) {
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

    pub(super) fn unit_env(&self, i: Idx) -> BTreeMap<String, String> {
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

    pub(super) fn env_file(&self, i: Idx) -> PathBuf {
        self.ctx
            .run_dir
            .join("env")
            .join(format!("{}.env", self.core.unit(i).spec().name))
    }

    fn spawn_unit(&mut self, i: Idx, now: Instant) {
        self.kill_previous_leftovers(i);
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
            Ok(spawned) => self.track_spawned(i, &name, spawned, now),
            Err(e) => {
                let msg = format!("{name}: {}", e.message);
                // No process: the state machine treats it as an exit (and has no pid for it).
                self.core.on_spawn_failed(i, e.code, msg, now);
            }
        }
    }

    /// Before a unit's restart: what its previous instance left in its process group.
    fn kill_previous_leftovers(&mut self, i: Idx) {
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
            // SAFETY: kill(2) on a process group this unit's previous instance led.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }

    /// A unit's process started: its exit, output and readiness pipe are the loop's to watch.
    fn track_spawned(&mut self, i: Idx, name: &str, spawned: Spawned, now: Instant) {
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
}
