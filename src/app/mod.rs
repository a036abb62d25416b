//! The path of one container start, in order: cli → config → privilege → render →
//! supervise (+ control) → shutdown. Also the short-lived subcommands.
//!
//! This file: `main`, which reads the command line and hands each command to its recipe:
//! - `load.rs`: the steps the commands that read the configuration share (settings, the
//!   services, the templates);
//! - `client.rs`: the commands that ask a running pidone (`status`, `logs`, `healthcheck`,
//!   `reload`, `start`/`stop`/...);
//! - `check.rs`: `pidone check` and `pidone render`, which read and exit;
//! - `run.rs`: `pidone run`, the container start, as its recipe; its steps after the drop
//!   in `dirs.rs` (the render and run dirs) and `units.rs` (the render step and CMD as units).
//!
//! s6-overlay's part in each stage is asked of `s6::front`, its one door: "native or s6" is
//! decided there, once.

mod check;
mod client;
mod dirs;
mod load;
mod run;
mod units;

use crate::cli::{self, Command};
use crate::exit;
use crate::log;
use client::Show;

/// `argv0`: the name pidone was started as (an s6 command's, through a symlink); `args`:
/// the words after it.
pub fn main(argv0: &str, args: Vec<String>) -> i32 {
    if let Some(code) = crate::s6::front::entry(argv0, &args) {
        return code;
    }
    let env_lookup = |k: &str| std::env::var(k).ok();
    let (opts, command) = match cli::parse(&args, &env_lookup) {
        Ok(parsed) => parsed,
        Err(e) => {
            log::error(format!("{e}; see `pidone --help`"));
            return exit::USAGE;
        }
    };
    log::configure(
        opts.log_level.unwrap_or(log::Level::Info),
        opts.log_format.unwrap_or(log::Format::Text),
    );
    match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Command::Version => {
            print!("{}", version());
            0
        }
        Command::Healthcheck { services } => {
            let mut words = vec!["health".to_string()];
            words.extend(services);
            // Its verdict ("unhealthy: ...") is an answer, not an error: Docker shows it.
            client::client(&opts, &words, Show::Verdict)
        }
        Command::Status { json } => client::client(
            &opts,
            &["status".into()],
            if json { Show::Data } else { Show::Text },
        ),
        Command::Logs { words, follow } => {
            if follow {
                client::follow_logs(&opts, &words)
            } else {
                client::client(&opts, &words, Show::Text)
            }
        }
        Command::Reload => client::client(&opts, &["reload".into()], Show::Text),
        Command::Control {
            verb,
            service,
            signal,
        } => {
            let mut words = vec![verb, service];
            words.extend(signal);
            client::client(&opts, &words, Show::Text)
        }
        Command::Check => check::check(&opts),
        Command::Render { out } => check::render_command(&opts, out),
        Command::Run { cmd } => run::run(&opts, cmd),
    }
}

/// `pidone version`: what a bug report needs.
fn version() -> String {
    let libc = if cfg!(target_env = "musl") {
        "musl"
    } else if cfg!(target_env = "gnu") {
        "glibc"
    } else {
        "unknown libc"
    };
    let linking = if cfg!(target_feature = "crt-static") {
        "static"
    } else {
        "dynamically linked"
    };
    format!(
        "pidone {}\ncommit {}\ntarget {} ({libc}, {linking})\n",
        env!("CARGO_PKG_VERSION"),
        env!("PIDONE_COMMIT"),
        env!("PIDONE_TARGET"),
    )
}
