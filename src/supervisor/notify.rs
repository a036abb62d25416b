//! Readiness notifications a service sends: s6-style pipes (`notify_fd`, one per spawn)
//! and systemd-style sockets (`NOTIFY_SOCKET`, bound once per unit and reused across
//! restarts). Each is a descriptor the loop polls; a readiness message becomes
//! `Core::on_ready`, nothing else: the state machine only knows "ready".

use super::Supervisor;
use super::state::Idx;
use crate::config::ReadyCheck;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::time::Instant;

impl Supervisor {
    /// Bind each unit's notify socket that is not bound yet (at start, and for what a
    /// `pidone reload` added).
    pub(super) fn setup_notify_sockets(&mut self) -> std::io::Result<()> {
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

    pub(super) fn read_notify_pipe(&mut self, i: Idx, now: Instant) {
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

    pub(super) fn read_notify_socket(&mut self, i: Idx, now: Instant) {
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
}
