//! Stage 1 of the data flow: arguments and `PIDONE_*` environment variables.
//!
//! Every option has an environment form because `docker run --init`-style launchers pass
//! no arguments (tini #100). Precedence: argument > environment > global file > default; the
//! merge with the global file is `config::settings`.

use crate::log::{Format, Level};
use crate::values::{check_zero, limit, parse_duration, parse_signal};
use std::path::PathBuf;
use std::time::Duration;

/// Options as given on the command line or in the environment (unset = not given).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    pub user: Option<String>,
    pub allow_root: bool,
    pub allow_dangerous_caps: bool,
    pub keep_caps: Vec<String>,
    pub grace: Option<Duration>,
    pub stop_signal: Option<i32>,
    pub map_exit: Vec<(u8, u8)>,
    pub once: bool,
    pub log_format: Option<Format>,
    pub log_level: Option<Level>,
    pub config: Option<PathBuf>,
    pub services_dir: Option<PathBuf>,
    pub templates_dir: Option<PathBuf>,
    pub render_dir: Option<PathBuf>,
    pub run_dir: Option<PathBuf>,
    /// Read the image's s6-overlay layout (also automatic, see `s6`).
    pub s6: bool,
    /// Where the s6 `/etc` trees are looked up (`/`).
    pub s6_root: Option<PathBuf>,
    /// Base of the s6 runtime files (`/run`): `s6/container_environment`, `service/`, ...
    pub s6_run_dir: Option<PathBuf>,
    /// CMD's session limits (see `session`).
    pub max_runtime: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub warn_before: Option<Duration>,
    pub warn_signal: Option<i32>,
    /// Run with `/bin/sh -c`.
    pub warn_command: Option<String>,
    /// Bytes of recent output kept per service for `pidone logs`.
    pub log_keep_bytes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Supervise; `cmd` is the optional CMD after `--`.
    Run {
        cmd: Vec<String>,
    },
    Check,
    Render {
        out: Option<PathBuf>,
    },
    Healthcheck {
        services: Vec<String>,
    },
    Status {
        json: bool,
    },
    /// `logs [-n N] [-f] [--json] [NAME...]`: the words sent to the control socket.
    Logs {
        words: Vec<String>,
        follow: bool,
    },
    /// Re-read the service files and apply the difference.
    Reload,
    /// start / stop / restart / signal.
    Control {
        verb: String,
        service: String,
        signal: Option<String>,
    },
    Version,
    Help,
}

pub const USAGE: &str = "\
usage: pidone [OPTIONS] [--] [CMD [ARG...]]     run as PID 1 (supervise services, then CMD)
       pidone check [OPTIONS]                   validate services and templates, render in memory
       pidone render [--out DIR] [OPTIONS]      render templates (into the render dir or DIR)
       pidone healthcheck [SERVICE...]          exit 0 when every (named) service is healthy
       pidone status [--json]                   show every service
       pidone logs [-n N] [-f] [--json] [NAME...]  recent output of services (and pidone)
       pidone reload                            re-read services.d; start, stop, restart what changed
       pidone start|stop|restart SERVICE        control a service
       pidone signal SERVICE SIGNAL             send a signal to a service
       pidone version | -V                      version, commit, target (libc, arch, static)
       pidone s6-shims DIR                      link s6-overlay's commands (s6-svc, ...) to pidone

options (environment form in brackets):
  --user NAME|UID[:GROUP|GID]  user to drop to when started as root [PIDONE_USER] (65534:65534;
                               an s6-overlay layout stays root, as s6-overlay runs it)
  --allow-root                 stay root when started as root [PIDONE_ALLOW_ROOT=1]
  --allow-dangerous-caps       permit --keep-cap of caps that undo the drop (README.md,
                               \"Security model\") [PIDONE_ALLOW_DANGEROUS_CAPS=1]
  --keep-cap CAP               keep a capability (ambient), repeatable [PIDONE_KEEP_CAPS=A,B]
  --grace DURATION             stop signal to SIGKILL delay for leftovers [PIDONE_GRACE] (5s)
  --stop-signal SIGNAL         signal CMD gets on shutdown [PIDONE_STOP_SIGNAL] (TERM)
  --map-exit FROM=TO           rewrite an exit code, repeatable [PIDONE_MAP_EXIT=143=0,130=0]
  --once                       no restarts; the first exit ends the run [PIDONE_ONCE=1]
  --max-runtime DURATION       stop CMD after this long; exit 124 [PIDONE_MAX_RUNTIME]
  --idle-timeout DURATION      stop CMD after this long without terminal activity (needs a
                               TTY); exit 124 [PIDONE_IDLE_TIMEOUT]
  --warn-before DURATION       warn this long before either limit [PIDONE_WARN_BEFORE]
  --warn-signal SIGNAL         the warning: a signal to CMD [PIDONE_WARN_SIGNAL]
  --warn-command 'SHELL CMD'   the warning: run with /bin/sh -c [PIDONE_WARN_COMMAND]
  --log-format text|json       [PIDONE_LOG_FORMAT] (text)
  --log-level LEVEL            error, warn, info, debug [PIDONE_LOG] (info)
  --log-keep-bytes N           output kept per service for `pidone logs`
                               [PIDONE_LOG_KEEP_BYTES] (16384)
  --config FILE                global file [PIDONE_CONFIG] (/etc/pidone/pidone.toml)
  --services-dir DIR           [PIDONE_SERVICES_DIR] (/etc/pidone/services.d)
  --templates-dir DIR          [PIDONE_TEMPLATES_DIR] (/etc/pidone/templates)
  --render-dir DIR             [PIDONE_RENDER_DIR] (/run)
  --run-dir DIR                control socket and runtime files [PIDONE_RUN_DIR] (/run/pidone)
  --s6                         run the image's s6-overlay layout [PIDONE_S6=1] (automatic
                               when there are no service files and /etc/s6-overlay/s6-rc.d,
                               /etc/services.d or /etc/cont-init.d exists)
  --s6-root DIR                where those /etc trees are looked up [PIDONE_S6_ROOT] (/)
  --s6-run-dir DIR             base of /run/s6/container_environment, /run/service, ...
                               [PIDONE_S6_RUN_DIR] (/run)
  (environment only)           PIDONE_SECRETS_DIR: where templates' `secrets` come from (/run/secrets)

service files, templates, exit codes: README.md and docs/ of pidone's source (not in the image)
";

const SUBCOMMANDS: &[&str] = &[
    "check",
    "render",
    "healthcheck",
    "status",
    "logs",
    "reload",
    "start",
    "stop",
    "restart",
    "signal",
    "version",
    "help",
];

/// Parse arguments (without argv[0]) and an environment lookup.
///
/// The recipe: the `PIDONE_*` variables, then the arguments walked once (options, the
/// command word, its own arguments, CMD), the options given on the command line laid over
/// their environment forms, then the command checked against its arguments.
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Options, Command), String> {
    let mut opts = options_from_env(env)?;
    let mut found = match walk_arguments(args, env, &mut opts)? {
        Walked::Whole(command) => return Ok((opts, command)),
        Walked::Words(found) => found,
    };
    if let Some(caps) = found.keep_caps.take() {
        opts.keep_caps = caps;
    }
    if let Some(map) = found.map_exit.take() {
        opts.map_exit = map;
    }
    let command = command_from(found)?;
    if opts.log_level.is_none() && matches!(command, Command::Run { .. }) && opts.once {
        // --once is for people reading the output: say what happens.
        opts.log_level = Some(Level::Info);
    }
    Ok((opts, command))
}

/// What the walk over the arguments found besides the global options (which it writes
/// into `Options` as it goes).
#[derive(Default)]
struct Found {
    subcommand: Option<String>,
    positional: Vec<String>,
    /// `render --out DIR`.
    out: Option<PathBuf>,
    /// `status --json`, `logs --json`.
    json: bool,
    /// CMD: after `--`, or from the first word that is no command word.
    cmd: Option<Vec<String>>,
    // Options given on the command line replace (not extend) their env forms.
    keep_caps: Option<Vec<String>>,
    map_exit: Option<Vec<(u8, u8)>>,
}

/// The end of the walk: the words found, or a command that needs no more (`--help`, `-h`,
/// `--version`, `-V`), answered with the options as they were when it was met.
enum Walked {
    Words(Found),
    Whole(Command),
}

/// Walk the arguments once, left to right.
fn walk_arguments(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    opts: &mut Options,
) -> Result<Walked, String> {
    let mut found = Found::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            found.cmd = Some(args[i..].to_vec());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let mut value = || -> Result<String, String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("option --{name} needs a value"))?;
                i += 1;
                Ok(v)
            };
            if let Some(whole) = long_option(name, &mut value, opts, &mut found)? {
                return Ok(Walked::Whole(whole));
            }
            continue;
        }
        if arg == "-h" {
            return Ok(Walked::Whole(Command::Help));
        }
        let first_word = found.subcommand.is_none() && found.positional.is_empty();
        if arg == "-V" && first_word {
            return Ok(Walked::Whole(Command::Version));
        }
        if first_word && SUBCOMMANDS.contains(&arg.as_str()) {
            found.subcommand = Some(arg.clone());
            continue;
        }
        if found.subcommand.is_none() {
            refuse_misspelled_command(arg, env)?;
            // `/init nginx -g 'daemon off;'` (Docker's CMD appended to ENTRYPOINT, no `--`):
            // everything from the first non-option word on belongs to CMD.
            found.cmd = Some(args[i - 1..].to_vec());
            break;
        }
        found.positional.push(arg.clone());
    }
    Ok(Walked::Words(found))
}

/// `docker exec C /init stauts`: a misspelled command word would otherwise be taken as CMD
/// and refused as a second pidone; a program by that name wins.
fn refuse_misspelled_command(
    arg: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if let Some(meant) = misspelled_command(arg)
        && !on_path(arg, env("PATH").as_deref())
    {
        return Err(format!(
            "unknown command `{arg}`; did you mean `{meant}`? (a program named `{arg}` would run as CMD, but there is none on PATH)"
        ));
    }
    Ok(())
}

/// One `--name[=value]`: a global option, or one of the command's own; `Some` when it is
/// a whole command (`--help`, `--version`).
fn long_option(
    name: &str,
    value: &mut dyn FnMut() -> Result<String, String>,
    opts: &mut Options,
    found: &mut Found,
) -> Result<Option<Command>, String> {
    if global_option(name, value, opts, found)? {
        return Ok(None);
    }
    let subcommand = found.subcommand.as_deref();
    match name {
        "out" if subcommand == Some("render") => found.out = Some(value()?.into()),
        "json" if matches!(subcommand, Some("status" | "logs")) => found.json = true,
        "follow" if subcommand == Some("logs") => found.positional.push("-f".into()),
        "help" => return Ok(Some(Command::Help)),
        "version" => return Ok(Some(Command::Version)),
        _ => return Err(format!("unknown option --{name}")),
    }
    Ok(None)
}

/// A global option (the `Options` fields, each with a `PIDONE_*` form); false when `name`
/// is none of them.
fn global_option(
    name: &str,
    value: &mut dyn FnMut() -> Result<String, String>,
    opts: &mut Options,
    found: &mut Found,
) -> Result<bool, String> {
    match name {
        "user" => opts.user = Some(value()?),
        "allow-root" => opts.allow_root = true,
        "allow-dangerous-caps" => opts.allow_dangerous_caps = true,
        "keep-cap" => found.keep_caps.get_or_insert_with(Vec::new).push(value()?),
        "grace" => {
            opts.grace = Some(
                parse_duration(&value()?)
                    .and_then(|d| check_zero("grace", d))
                    .map_err(|e| format!("--grace: {e}"))?,
            )
        }
        "stop-signal" => {
            opts.stop_signal =
                Some(parse_signal(&value()?).map_err(|e| format!("--stop-signal: {e}"))?)
        }
        "map-exit" => found
            .map_exit
            .get_or_insert_with(Vec::new)
            .push(parse_map_exit(&value()?)?),
        "once" => opts.once = true,
        "max-runtime" | "idle-timeout" | "warn-before" => session_limit(name, &value()?, opts)?,
        "warn-signal" => {
            opts.warn_signal =
                Some(parse_signal(&value()?).map_err(|e| format!("--warn-signal: {e}"))?)
        }
        "warn-command" => opts.warn_command = Some(value()?),
        "log-keep-bytes" => {
            opts.log_keep_bytes =
                Some(parse_keep_bytes(&value()?).map_err(|e| format!("--log-keep-bytes: {e}"))?)
        }
        "log-format" => opts.log_format = Some(Format::parse(&value()?)?),
        "log-level" => opts.log_level = Some(Level::parse(&value()?)?),
        "config" => opts.config = Some(value()?.into()),
        "services-dir" => opts.services_dir = Some(value()?.into()),
        "templates-dir" => opts.templates_dir = Some(value()?.into()),
        "render-dir" => opts.render_dir = Some(value()?.into()),
        "run-dir" => opts.run_dir = Some(value()?.into()),
        "s6" => opts.s6 = true,
        "s6-root" => opts.s6_root = Some(value()?.into()),
        "s6-run-dir" => opts.s6_run_dir = Some(value()?.into()),
        _ => return Ok(false),
    }
    Ok(true)
}

/// `--max-runtime`, `--idle-timeout`, `--warn-before` (CMD's session limits).
fn session_limit(name: &str, text: &str, opts: &mut Options) -> Result<(), String> {
    let d = parse_duration(text).map_err(|e| format!("--{name}: {e}"))?;
    // 0 is no limit (values::zero_means); a warning cannot come 0 before.
    match name {
        "max-runtime" => opts.max_runtime = limit(d),
        "idle-timeout" => opts.idle_timeout = limit(d),
        _ => {
            opts.warn_before =
                Some(check_zero("warn_before", d).map_err(|e| format!("--{name}: {e}"))?)
        }
    }
    Ok(())
}

/// The command the walk found, checked against its own arguments.
fn command_from(found: Found) -> Result<Command, String> {
    let Found {
        subcommand,
        positional,
        out,
        json,
        cmd,
        ..
    } = found;
    let Some(sub) = subcommand.as_deref() else {
        return Ok(Command::Run {
            cmd: cmd.unwrap_or_default(),
        });
    };
    if cmd.is_some() {
        return Err(format!("`pidone {sub}` takes no command after --"));
    }
    let want = |n: usize| -> Result<(), String> {
        if positional.len() == n {
            Ok(())
        } else {
            Err(format!(
                "`pidone {sub}` takes {n} argument(s), got {}",
                positional.len()
            ))
        }
    };
    Ok(match sub {
        "check" => want(0).map(|_| Command::Check)?,
        "render" => want(0).map(|_| Command::Render { out })?,
        "healthcheck" => Command::Healthcheck {
            services: positional,
        },
        "status" => want(0).map(|_| Command::Status { json })?,
        "reload" => want(0).map(|_| Command::Reload)?,
        "logs" => logs_words(&positional, json)?,
        "start" | "stop" | "restart" => {
            want(1)?;
            Command::Control {
                verb: sub.into(),
                service: positional[0].clone(),
                signal: None,
            }
        }
        "signal" => {
            want(2)?;
            parse_signal(&positional[1])?;
            Command::Control {
                verb: sub.into(),
                service: positional[0].clone(),
                signal: Some(positional[1].clone()),
            }
        }
        "version" => Command::Version,
        _ => Command::Help,
    })
}

fn options_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Options, String> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    let flag = |name: &str| -> Result<bool, String> {
        match get(name).as_deref() {
            None | Some("0") | Some("false") | Some("no") => Ok(false),
            Some("1") | Some("true") | Some("yes") => Ok(true),
            Some(other) => Err(format!("{name}={other:?}: use 1 or 0")),
        }
    };
    fn with_name<T>(name: &str, r: Result<T, String>) -> Result<T, String> {
        r.map_err(|e| format!("{name}: {e}"))
    }
    let list = |name: &str| -> Vec<String> {
        get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Options {
        user: get("PIDONE_USER"),
        allow_root: flag("PIDONE_ALLOW_ROOT")?,
        allow_dangerous_caps: flag("PIDONE_ALLOW_DANGEROUS_CAPS")?,
        keep_caps: list("PIDONE_KEEP_CAPS"),
        grace: get("PIDONE_GRACE")
            .map(|v| {
                with_name(
                    "PIDONE_GRACE",
                    parse_duration(&v).and_then(|d| check_zero("grace", d)),
                )
            })
            .transpose()?,
        stop_signal: get("PIDONE_STOP_SIGNAL")
            .map(|v| with_name("PIDONE_STOP_SIGNAL", parse_signal(&v)))
            .transpose()?,
        map_exit: list("PIDONE_MAP_EXIT")
            .iter()
            .map(|m| with_name("PIDONE_MAP_EXIT", parse_map_exit(m)))
            .collect::<Result<_, _>>()?,
        once: flag("PIDONE_ONCE")?,
        log_format: get("PIDONE_LOG_FORMAT")
            .map(|v| with_name("PIDONE_LOG_FORMAT", Format::parse(&v)))
            .transpose()?,
        log_level: get("PIDONE_LOG")
            .map(|v| with_name("PIDONE_LOG", Level::parse(&v)))
            .transpose()?,
        config: get("PIDONE_CONFIG").map(PathBuf::from),
        services_dir: get("PIDONE_SERVICES_DIR").map(PathBuf::from),
        templates_dir: get("PIDONE_TEMPLATES_DIR").map(PathBuf::from),
        render_dir: get("PIDONE_RENDER_DIR").map(PathBuf::from),
        run_dir: get("PIDONE_RUN_DIR").map(PathBuf::from),
        s6: flag("PIDONE_S6")?,
        s6_root: get("PIDONE_S6_ROOT").map(PathBuf::from),
        s6_run_dir: get("PIDONE_S6_RUN_DIR").map(PathBuf::from),
        // 0 is no limit (values::zero_means), as an unset variable.
        max_runtime: get("PIDONE_MAX_RUNTIME")
            .map(|v| with_name("PIDONE_MAX_RUNTIME", parse_duration(&v)))
            .transpose()?
            .and_then(limit),
        idle_timeout: get("PIDONE_IDLE_TIMEOUT")
            .map(|v| with_name("PIDONE_IDLE_TIMEOUT", parse_duration(&v)))
            .transpose()?
            .and_then(limit),
        warn_before: get("PIDONE_WARN_BEFORE")
            .map(|v| {
                with_name(
                    "PIDONE_WARN_BEFORE",
                    parse_duration(&v).and_then(|d| check_zero("warn_before", d)),
                )
            })
            .transpose()?,
        warn_signal: get("PIDONE_WARN_SIGNAL")
            .map(|v| with_name("PIDONE_WARN_SIGNAL", parse_signal(&v)))
            .transpose()?,
        warn_command: get("PIDONE_WARN_COMMAND"),
        log_keep_bytes: get("PIDONE_LOG_KEEP_BYTES")
            .map(|v| with_name("PIDONE_LOG_KEEP_BYTES", parse_keep_bytes(&v)))
            .transpose()?,
    })
}

/// `logs` arguments checked here (a usage error needs no running pidone) and passed on as
/// the request's words: `logs [-n N] [-f] [--json] [NAME...]`.
fn logs_words(args: &[String], json: bool) -> Result<Command, String> {
    let mut words = vec!["logs".to_string()];
    let mut follow = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => follow = true,
            "-n" => {
                let n = it
                    .next()
                    .ok_or("`pidone logs -n` needs a number of lines")?;
                n.parse::<u32>()
                    .map_err(|_| format!("`pidone logs -n {n}`: use a number of lines"))?;
                words.extend(["-n".to_string(), n.clone()]);
            }
            _ if a.starts_with('-') => return Err(format!("`pidone logs` has no option {a}")),
            name => words.push(name.to_string()),
        }
    }
    if json {
        words.insert(1, "--json".into());
    }
    if follow {
        words.insert(1, "-f".into());
    }
    Ok(Command::Logs { words, follow })
}

/// The subcommand `word` is a misspelling of: at most 2 edits away from one (and not a
/// word of 2 letters or less, which would be 2 edits from too much).
pub fn misspelled_command(word: &str) -> Option<&'static str> {
    if word.len() <= 2 || word.contains('/') {
        return None;
    }
    SUBCOMMANDS
        .iter()
        .chain(["version", "healthcheck"].iter())
        .map(|c| (crate::values::edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Whether `program` is found in `path` (the environment's PATH) as CMD would be.
fn on_path(program: &str, path: Option<&str>) -> bool {
    let path = crate::program::search_path(path);
    crate::program::resolve(program, &path).is_ok()
}

/// `--log-keep-bytes`: bytes, 0 (keep nothing) to 16 MiB.
fn parse_keep_bytes(text: &str) -> Result<u32, String> {
    const MAX: u32 = 16 * 1024 * 1024;
    match text.trim().parse::<u32>() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(format!(
            "{text:?}: a number of bytes from 0 to {MAX} (16 MiB)"
        )),
    }
}

/// `143=0` → (143, 0).
pub fn parse_map_exit(text: &str) -> Result<(u8, u8), String> {
    let (from, to) = text
        .split_once('=')
        .ok_or_else(|| format!("--map-exit {text:?}: use FROM=TO, e.g. 143=0"))?;
    let code = |s: &str| {
        s.trim()
            .parse::<u8>()
            .map_err(|_| format!("--map-exit {text:?}: exit codes are 0 to 255"))
    };
    Ok((code(from)?, code(to)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }
    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn cmd_with_and_without_dashes() {
        let (_, c) = parse(&args(&["--grace", "2s", "--", "sh", "-c", "x"]), &no_env).unwrap();
        assert_eq!(
            c,
            Command::Run {
                cmd: args(&["sh", "-c", "x"])
            }
        );
        // Docker appends CMD to ENTRYPOINT without `--`; CMD options stay CMD's.
        let (o, c) = parse(
            &args(&["--once", "nginx", "-g", "daemon off;", "--grace"]),
            &no_env,
        )
        .unwrap();
        assert!(o.once);
        assert_eq!(
            c,
            Command::Run {
                cmd: args(&["nginx", "-g", "daemon off;", "--grace"])
            }
        );
        let (_, c) = parse(&[], &no_env).unwrap();
        assert_eq!(c, Command::Run { cmd: vec![] });
        // A program named like a subcommand needs `--`.
        let (_, c) = parse(&args(&["--", "status"]), &no_env).unwrap();
        assert_eq!(
            c,
            Command::Run {
                cmd: args(&["status"])
            }
        );
    }

    #[test]
    fn subcommands() {
        let (_, c) = parse(&args(&["render", "--out", "/tmp/x"]), &no_env).unwrap();
        assert_eq!(
            c,
            Command::Render {
                out: Some("/tmp/x".into())
            }
        );
        let (_, c) = parse(&args(&["status", "--json"]), &no_env).unwrap();
        assert_eq!(c, Command::Status { json: true });
        let (_, c) = parse(&args(&["healthcheck", "a", "b"]), &no_env).unwrap();
        assert_eq!(
            c,
            Command::Healthcheck {
                services: args(&["a", "b"])
            }
        );
        let (_, c) = parse(&args(&["signal", "web", "HUP"]), &no_env).unwrap();
        assert!(matches!(c, Command::Control { ref verb, .. } if verb == "signal"));
        assert!(parse(&args(&["signal", "web", "NOPE"]), &no_env).is_err());
        assert!(parse(&args(&["restart"]), &no_env).is_err());
        assert!(parse(&args(&["--out", "x"]), &no_env).is_err());
    }

    #[test]
    fn env_forms_and_precedence() {
        let env = |k: &str| match k {
            "PIDONE_USER" => Some("app".to_string()),
            "PIDONE_GRACE" => Some("2s".to_string()),
            "PIDONE_MAP_EXIT" => Some("143=0, 130=0".to_string()),
            "PIDONE_KEEP_CAPS" => Some("NET_BIND_SERVICE".to_string()),
            "PIDONE_ONCE" => Some("1".to_string()),
            _ => None,
        };
        let (o, _) = parse(&args(&["--grace=7s"]), &env).unwrap();
        assert_eq!(o.user.as_deref(), Some("app"));
        assert_eq!(o.grace, Some(Duration::from_secs(7)));
        assert_eq!(o.map_exit, vec![(143, 0), (130, 0)]);
        assert_eq!(o.keep_caps, args(&["NET_BIND_SERVICE"]));
        assert!(o.once);
        let bad = |k: &str| (k == "PIDONE_GRACE").then(|| "forever".to_string());
        assert!(parse(&[], &bad).unwrap_err().starts_with("PIDONE_GRACE"));
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&args(&["--nope"]), &no_env).is_err());
        assert!(parse(&args(&["--grace"]), &no_env).is_err());
        assert!(parse(&args(&["--map-exit", "143"]), &no_env).is_err());
        assert!(parse(&args(&["--map-exit", "300=0"]), &no_env).is_err());
    }

    #[test]
    fn misspelled_commands_and_logs_arguments() {
        assert_eq!(misspelled_command("stauts"), Some("status"));
        assert_eq!(misspelled_command("helthcheck"), Some("healthcheck"));
        assert_eq!(misspelled_command("nginx"), None);
        assert_eq!(misspelled_command("./stats"), None);
        let (_, c) = parse(&args(&["logs", "-n", "5", "--json", "-f", "web"]), &no_env).unwrap();
        assert_eq!(
            c,
            Command::Logs {
                words: args(&["logs", "-f", "--json", "-n", "5", "web"]),
                follow: true
            }
        );
        assert!(parse(&args(&["logs", "-n", "x"]), &no_env).is_err());
        assert_eq!(parse(&args(&["-V"]), &no_env).unwrap().1, Command::Version);
    }

    #[test]
    fn exit_mapping() {
        assert_eq!(parse_map_exit("143=0").unwrap(), (143, 0));
    }

    /// 0 for a limit is no limit, from an option or a variable; a 0 that cannot make sense
    /// is refused naming the option or variable (values::zero_means).
    #[test]
    fn zero_durations_from_options_and_variables() {
        let (o, _) = parse(
            &args(&["--max-runtime", "0", "--idle-timeout", "0s"]),
            &no_env,
        )
        .unwrap();
        assert_eq!((o.max_runtime, o.idle_timeout), (None, None));
        let only = |name: &'static str| move |k: &str| (k == name).then(|| "0".to_string());
        let (o, _) = parse(&[], &only("PIDONE_MAX_RUNTIME")).unwrap();
        assert_eq!(o.max_runtime, None);
        let (o, _) = parse(&[], &only("PIDONE_IDLE_TIMEOUT")).unwrap();
        assert_eq!(o.idle_timeout, None);
        for name in ["PIDONE_GRACE", "PIDONE_WARN_BEFORE"] {
            let err = parse(&[], &only(name)).unwrap_err();
            assert!(err.starts_with(&format!("{name}: cannot be 0:")), "{err}");
        }
        for opt in ["--grace", "--warn-before"] {
            let err = parse(&args(&[opt, "0"]), &no_env).unwrap_err();
            assert!(err.starts_with(&format!("{opt}: cannot be 0:")), "{err}");
        }
    }
}
