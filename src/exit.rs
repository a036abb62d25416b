//! pidone's own exit codes, shared by every stage (sysexits.h values, so they are unlikely
//! to be confused with a service's ordinary failures). A child's exit code is passed through
//! unchanged otherwise. At the bottom of the module order: anything may use it.

/// Bad command line or `PIDONE_*` variable.
pub const USAGE: i32 = 64;
/// A template failed to render (undefined variable, syntax, `required`, `_FILE` problem).
pub const TEMPLATE: i32 = 65;
/// Internal error (a syscall that cannot fail did).
pub const SOFTWARE: i32 = 70;
/// The privilege drop failed or could not be verified.
pub const PRIVILEGE: i32 = 77;
/// The run dir cannot be created, or is not pidone's own (owner, mode, symlink).
pub const RUN_DIR: i32 = 73;
/// A configuration file is invalid.
pub const CONFIG: i32 = 78;
/// CMD exists but cannot be executed.
pub const CANNOT_EXECUTE: i32 = 126;
/// CMD was not found.
pub const NOT_FOUND: i32 = 127;
/// `healthcheck`: not healthy (or still starting).
pub const UNHEALTHY: i32 = 1;
/// Control commands: pidone is not running / not reachable.
pub const UNREACHABLE: i32 = 69;
/// CMD was ended by a session limit (`--max-runtime`, `--idle-timeout`), as `timeout(1)`
/// reports a timeout: a script can tell it from the command's own exit.
pub const SESSION_LIMIT: i32 = 124;

/// Apply `--map-exit` rules to a final exit code.
pub fn map_exit_code(code: i32, rules: &[(u8, u8)]) -> i32 {
    rules
        .iter()
        .find(|(from, _)| i32::from(*from) == code)
        .map_or(code, |(_, to)| i32::from(*to))
}

#[cfg(test)]
mod tests {
    #[test]
    fn map_exit_rewrites_only_the_named_code() {
        assert_eq!(super::map_exit_code(143, &[(143, 0)]), 0);
        assert_eq!(super::map_exit_code(1, &[(143, 0)]), 1);
    }
}
