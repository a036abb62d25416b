//! The commands that ask a running pidone over its control socket (`status`, `logs`,
//! `healthcheck`, `reload`, `start`/`stop`/...): where the socket is, and how the answer
//! is shown.

use super::load::settings;
use crate::cli::Options;
use crate::config::DEFAULT_RUN_DIR;
use crate::control;
use crate::exit;
use crate::log;
use std::path::PathBuf;

/// How a client shows the server's answer.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Show {
    /// The text; a failure is an error (`pidone: error: ...` on stderr).
    Text,
    /// The JSON data (`status --json`); a failure as for `Text`.
    Data,
    /// `healthcheck`: the verdict on stdout, whatever it is.
    Verdict,
}

/// Where the control socket is. The run dir may be set in the global file; a broken file
/// must not stop a health probe from reaching the socket, so fall back to the option or the
/// default.
pub(super) fn client_run_dir(opts: &Options) -> PathBuf {
    match settings(opts) {
        Ok((s, _)) => s.run_dir,
        Err(_) => opts
            .run_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_RUN_DIR.into()),
    }
}

pub(super) fn client(opts: &Options, words: &[String], show: Show) -> i32 {
    match control::request(&client_run_dir(opts), words) {
        Ok(reply) => {
            if reply.code != 0 && show != Show::Verdict {
                // (one error per line: `reload` answers with every configuration error)
                for line in reply.text.lines() {
                    log::error(line);
                }
            } else if show == Show::Data {
                println!("{}", reply.data);
            } else if !reply.text.is_empty() {
                println!("{}", reply.text);
            }
            reply.code
        }
        Err(e) => {
            log::error(format!("unreachable: {e}"));
            exit::UNREACHABLE
        }
    }
}

/// `pidone logs -f`: the recent lines, then every new one until interrupted.
pub(super) fn follow_logs(opts: &Options, words: &[String]) -> i32 {
    match control::follow(&client_run_dir(opts), words, &mut std::io::stdout()) {
        Ok(Err(reply)) => {
            log::error(&reply.text);
            reply.code
        }
        Ok(Ok(())) => {
            log::error(
                "the log stream ended: pidone stopped, or dropped this follower because it did not read its output",
            );
            exit::UNREACHABLE
        }
        Err(e) => {
            log::error(format!("unreachable: {e}"));
            exit::UNREACHABLE
        }
    }
}
