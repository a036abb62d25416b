//! The keys that are an argv (`command`, `stop_command`): each must name a program the start
//! will find, looked up by the same resolver and PATH the start uses, so that a typo is
//! reported by `pidone check` with its line instead of as exit 127 at the start. Separate
//! because the lookup (and its PATH) is one rule for every command key.

use super::errors::Errors;
use crate::config::{Kind, RawService, StopCommand};
use crate::program::{self, Unrunnable};
use std::time::Duration;

/// `command`: the argv to run; its absence is reported by the caller (`[defaults]` has none).
pub(super) fn build_command(
    command: Option<&Vec<String>>,
    search_path: &str,
    errors: &mut Errors,
) -> Vec<String> {
    let Some(command) = command else {
        return Vec::new();
    };
    if command.is_empty() || command[0].is_empty() {
        errors.push(
            None,
            "command",
            "must name a program: command = [\"prog\", \"arg\"]".into(),
        );
    } else if let Err(e) = check_program(&command[0], search_path) {
        errors.push(None, "command", e);
    }
    command.clone()
}

/// `stop_command`: a oneshot's clean-up at shutdown, bounded by its `stop_timeout`. A longrun
/// or a scheduled oneshot has none.
pub(super) fn build_stop_command(
    raw: &RawService,
    kind: Kind,
    stop_timeout: Duration,
    search_path: &str,
    errors: &mut Errors,
) -> Option<StopCommand> {
    let argv = raw.stop_command.as_ref()?;
    let problem = if kind != Kind::Oneshot {
        Some("only a oneshot has a stop command (run at shutdown to undo what it set up); a longrun is stopped with its `stop_signal`".to_string())
    } else if raw.schedule.is_some() {
        Some("a scheduled oneshot has no stop command: it is not \"up\" between its runs".into())
    } else if argv.first().is_none_or(|p| p.is_empty()) {
        Some("must name a program: stop_command = [\"prog\", \"arg\"]".into())
    } else {
        check_program(&argv[0], search_path).err()
    };
    match problem {
        Some(p) => {
            errors.push(None, "stop_command", p);
            None
        }
        None => Some(StopCommand {
            argv: argv.clone(),
            timeout: Some(stop_timeout),
        }),
    }
}

/// The PATH a service's command is looked up in: its own `env.PATH`, else its defaults', else
/// the container's (as spawn will give it).
pub(super) fn command_search_path(raw: &RawService, defaults: &RawService) -> String {
    let own = raw
        .env
        .as_ref()
        .and_then(|e| e.get("PATH"))
        .or_else(|| defaults.env.as_ref().and_then(|e| e.get("PATH")));
    program::search_path(own.map(String::as_str))
}

/// The program of a `command`, found by the same resolver the start uses; the error text
/// says what to do.
fn check_program(program: &str, search_path: &str) -> Result<(), String> {
    match program::resolve(program, search_path) {
        Ok(_) => Ok(()),
        Err(Unrunnable::NotFound) if program.contains('/') => {
            Err(format!("{program:?} does not exist"))
        }
        Err(Unrunnable::NotExecutable) if program.contains('/') => {
            Err(format!("{program:?} is not an executable file"))
        }
        Err(Unrunnable::NotFound) => Err(format!(
            "program {program:?} not found in PATH ({search_path}); install it or use an absolute path"
        )),
        Err(Unrunnable::NotExecutable) => Err(format!(
            "program {program:?} is in PATH ({search_path}) but not executable; chmod +x it or use another path"
        )),
    }
}
