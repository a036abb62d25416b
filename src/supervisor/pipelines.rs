//! Log pipelines (`stdout_to`): one pipe per consumer, shared by its producers, created
//! once and held by the loop (never read or written by it) until the producers are gone at
//! shutdown. Separate because the pipes outlive every process that uses them.

use super::Supervisor;
use super::state::Idx;
use crate::log;
use std::os::fd::OwnedFd;

/// A log pipeline's pipe (`stdout_to`): its consumer reads `read`; its producers write `write`.
pub(super) struct Pipeline {
    consumer: Idx,
    producers: Vec<Idx>,
    pub(super) read: OwnedFd,
    /// Let go at shutdown once every producer has exited (`release_drained_pipelines`).
    pub(super) write: Option<OwnedFd>,
}

impl Supervisor {
    /// One pipe per consumer named by a `stdout_to`; all its producers share the write end.
    pub(super) fn setup_pipelines(&mut self) -> std::io::Result<()> {
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
    pub(super) fn release_drained_pipelines(&mut self) {
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

    pub(super) fn pipeline(&self, consumer: Idx) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.consumer == consumer)
    }
}
