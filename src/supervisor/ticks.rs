//! The clocks behind scheduled oneshots: the state machine asks for a tick (`ArmTick`),
//! this computes it from the wall clock and arms it on the monotonic clock the loop sleeps
//! on; when it comes (`TickDue`), the wall clock is checked again before the run.
//!
//! Why both clocks: cron times are wall-clock times, but poll's timeout is a monotonic
//! interval. The tick is computed in wall-clock time and converted to a monotonic deadline
//! once, so between ticks the loop sleeps with one timeout and no wake-ups. If the clock is
//! set back meanwhile, the deadline comes before the wall-clock time: the check re-arms for
//! the rest, so a tick never runs early. If the clock is set forward, the tick runs late by
//! the size of the step at most (at its monotonic deadline); ticks jumped over are not made up.

use super::Supervisor;
use super::state::{Idx, SessionLimit, Tick};
use crate::log;
use crate::schedule::Schedule;
use crate::spawn::{Output, SpawnRequest, spawn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall clock as seconds since 1970 (fractional), or 0 before 1970.
fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A random delay in [0, max): spreads many containers' runs of the same schedule.
fn random_below(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `len` bytes into the buffer we own. It cannot block
    // once the kernel's pool is initialised, which it is long before a container starts.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let r = if n == bytes.len() as isize {
        u64::from_ne_bytes(bytes)
    } else {
        // No getrandom (seccomp): the clock's sub-second part is random enough for jitter.
        (wall_now().fract() * 1e9) as u64
    };
    Duration::from_nanos(r % max.as_nanos().max(1) as u64)
}

impl Supervisor {
    /// Compute and arm the next tick of scheduled oneshot `i`.
    pub(super) fn arm_tick(&mut self, i: Idx, now: Instant) {
        let unit = self.core.unit(i);
        let Some(sched) = unit.spec().schedule.clone() else {
            return;
        };
        let name = unit.spec().name.clone();
        let last = unit.last_tick();
        let first = last.is_none();
        let wall = wall_now();
        let (nominal, wall_tick) = match &sched.when {
            Schedule::Every(every) => {
                // Counted from the last tick, not from the end of the run, so runs keep to
                // a fixed rhythm; ticks that passed (a long sleep) are skipped, not bunched.
                let mut next = last.map_or(now, |t| t.nominal) + *every;
                while next <= now {
                    next += *every;
                }
                (next, None)
            }
            Schedule::Cron(cron) => {
                // After the tick that came last too, so a tick checked a little early on the
                // wall clock is not chosen twice.
                let from = (wall.floor() as i64).max(last.and_then(|t| t.wall).unwrap_or(i64::MIN));
                let Some(next) = cron.next_after(from, sched.offset) else {
                    log::error(format!(
                        "{name}: its schedule has no time left; it will not run again"
                    ));
                    return;
                };
                let wait = Duration::from_secs_f64((next as f64 - wall).max(0.0));
                (now + wait, Some(next))
            }
        };
        let at = nominal + random_below(sched.jitter);
        let in_words = crate::values::format_duration(at.saturating_duration_since(now));
        let when = match wall_tick {
            Some(w) => format!("{} (in {in_words})", crate::schedule::format_utc(w)),
            None => format!("in {in_words}"),
        };
        let msg = format!("{name}: next scheduled run {when}");
        // The first line says the schedule is armed; later ones would repeat every tick.
        if first {
            log::info(msg);
        } else {
            log::debug(msg);
        }
        self.core.arm_tick(
            i,
            Tick {
                at,
                nominal,
                wall: wall_tick,
            },
        );
    }

    /// The monotonic deadline of a tick came: run it if the wall clock agrees.
    pub(super) fn tick_due(&mut self, i: Idx, now: Instant) {
        let Some(tick) = self.core.unit(i).last_tick() else {
            return;
        };
        if let Some(w) = tick.wall {
            let early = w as f64 - wall_now();
            // Half a second of slack: poll's timeout is rounded, and a tick a moment early
            // is not worth a second wake-up.
            if early > 0.5 {
                log::debug(format!(
                    "{}: the clock is behind its next tick by {early:.1}s (set back?); waiting",
                    self.core.unit(i).spec().name
                ));
                let wait = Duration::from_secs_f64(early);
                self.core.arm_tick(
                    i,
                    Tick {
                        at: now + wait,
                        nominal: tick.nominal + wait,
                        wall: Some(w),
                    },
                );
                return;
            }
        }
        self.core.on_tick(i, now);
    }
}

impl Supervisor {
    /// A session limit is near: tell the unit (its main process gets `warn_signal`) and run
    /// `warn_command`, with `PIDONE_SESSION_LIMIT` (which limit) and `PIDONE_SESSION_LEFT`
    /// (seconds) in its environment. The command shares pidone's stdout and stderr: for CMD
    /// on a TTY that is the user's terminal, which is where a web terminal's notice belongs.
    /// It is not waited for; it is reaped like any child, and drained at shutdown.
    pub(super) fn warn(&mut self, i: Idx, limit: SessionLimit, left: Duration) {
        let unit = self.core.unit(i);
        // To the main process only, not its group: USR1's default action is to terminate, so
        // a group signal would end every helper that has no handler (and their deaths, which
        // a shell reports on its output, would count as activity and move the end).
        if let (Some(sig), Some(pid)) = (unit.spec().warn_signal, unit.pid()) {
            // SAFETY: kill(2) to our own child.
            unsafe { libc::kill(pid, sig) };
        }
        let Some(argv) = unit.spec().warn_command.clone() else {
            return;
        };
        let name = unit.spec().name.clone();
        let mut env = self.unit_env(i);
        env.insert(
            "PIDONE_SESSION_LIMIT".into(),
            match limit {
                SessionLimit::MaxRuntime => "max_runtime",
                SessionLimit::Idle => "idle_timeout",
            }
            .into(),
        );
        // Whole seconds, rounded up: "0" would read as "already over".
        let secs = left.as_millis().div_ceil(1000);
        env.insert("PIDONE_SESSION_LEFT".into(), secs.to_string());
        let req = SpawnRequest {
            argv: &argv,
            env: &env,
            working_dir: None,
            umask: None,
            limits: &Default::default(),
            output: Output::Inherit,
            take_tty: false,
            notify_fd: None,
            stdin_pipe: None,
            stdout_pipe: None,
        };
        if let Err(e) = spawn(&req) {
            log::warn(format!("{name}: warn_command: {}", e.message));
        }
    }

    /// CMD on a TTY with `idle_timeout`: pidone does not see its output (CMD writes to the
    /// terminal itself), so the terminal's own record counts: the kernel sets the pts's
    /// atime when a program reads input from it, i.e. when the user typed something (in
    /// 8-second steps, so keystroke timing does not leak; `w`'s IDLE column reads the same).
    /// Not the mtime (output): pidone's own log lines and the warning go to the same
    /// terminal and would count as activity, so a warning would postpone the end it warns
    /// of. One fstat per loop iteration, only in this setup; the timer still comes from the
    /// state machine, which re-checks at its deadline.
    pub(super) fn observe_terminal(&mut self, now: Instant) {
        let Some(main) = self.tty_idle_unit else {
            return;
        };
        // SAFETY: fstat of fd 0 into a zeroed stat buffer we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(0, &mut st) } != 0 {
            return;
        }
        // Only a new value is news: converting the same second again would move the
        // activity by the clocks' jitter, and every move re-arms the warning.
        if self.tty_last_input == Some(st.st_atime) {
            return;
        }
        self.tty_last_input = Some(st.st_atime);
        let last = st.st_atime as f64 + st.st_atime_nsec as f64 / 1e9;
        let ago = (wall_now() - last).max(0.0);
        let at = now.checked_sub(Duration::from_secs_f64(ago)).unwrap_or(now);
        self.core.on_activity(main, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_below_its_bound_and_varies() {
        assert_eq!(random_below(Duration::ZERO), Duration::ZERO);
        let max = Duration::from_secs(30);
        let draws: Vec<Duration> = (0..64).map(|_| random_below(max)).collect();
        assert!(draws.iter().all(|d| *d < max), "{draws:?}");
        let first = draws[0];
        assert!(
            draws.iter().any(|d| *d != first),
            "64 equal draws: {first:?}"
        );
    }
}
