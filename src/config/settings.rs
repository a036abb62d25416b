//! pidone's own settings: the options of stage 1 (arguments, else `PIDONE_*` variables)
//! merged with the global file, else the defaults. Global-file values are validated here
//! and their errors located at their line, like every other configuration error.

use super::{ConfigError, GlobalFile};
use crate::cli::Options;
use crate::log::{Format, Level};
use crate::values::parse_signal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The global file when `--config` does not name one (a missing default file is no error).
pub const DEFAULT_CONFIG: &str = "/etc/pidone/pidone.toml";
/// The run dir (control socket, hand-off files) when none is configured.
pub const DEFAULT_RUN_DIR: &str = "/run/pidone";

/// Everything resolved: the values the rest of pidone uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub user: Option<String>,
    /// `user` came from the global file (the image's "when started as root" answer), not from
    /// `--user`/`PIDONE_USER`: a non-root start then overrides it as documented, silently.
    pub user_from_file: bool,
    pub allow_root: bool,
    pub allow_dangerous_caps: bool,
    pub keep_caps: Vec<String>,
    pub grace: Duration,
    pub stop_signal: i32,
    pub map_exit: Vec<(u8, u8)>,
    pub once: bool,
    pub log_format: Format,
    pub log_level: Level,
    pub config: PathBuf,
    pub services_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub render_dir: PathBuf,
    pub run_dir: PathBuf,
    /// Bytes of recent output kept per service (and for pidone) for `pidone logs`.
    pub log_keep_bytes: usize,
}

/// Bytes of recent output kept per service when `log_keep_bytes` is not set. 10 services
/// that each filled theirs hold 160 KiB (docs/configuration.md has the measured idle PSS).
pub const DEFAULT_LOG_KEEP_BYTES: u32 = 16 * 1024;
/// The largest `log_keep_bytes`: 500 services keeping that much stay under 8 GiB, and the
/// point is "the last lines", not an archive.
pub const MAX_LOG_KEEP_BYTES: u32 = 16 * 1024 * 1024;

/// The option if given, else the file's value, else the default: the one precedence rule.
fn pick<T: Clone>(option: &Option<T>, file: &Option<T>, default: impl FnOnce() -> T) -> T {
    option
        .clone()
        .or_else(|| file.clone())
        .unwrap_or_else(default)
}

/// The file's parsed value, unless an option overrides it: an overridden file value is not
/// parsed, so a bad one does not stop a start that does not use it.
fn unless_given<T>(
    option: Option<T>,
    file: Option<Result<T, String>>,
) -> Result<Option<T>, String> {
    match option {
        Some(_) => Ok(None),
        None => file.transpose(),
    }
}

/// Read the global file (`--config`, else the default, which may be missing) and merge it
/// with the options.
pub fn load(opts: &Options) -> Result<(Settings, GlobalFile), Vec<ConfigError>> {
    let path = opts.config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
    let file = super::load_global(&path, opts.config.is_some())?;
    let settings = resolve(opts, &file, &path).map_err(|e| vec![e])?;
    Ok((settings, file))
}

/// Merge options with the global file read from `path`; a bad file value is reported at its
/// key and line.
pub fn resolve(opts: &Options, file: &GlobalFile, path: &Path) -> Result<Settings, ConfigError> {
    // A file value is only parsed when no option overrides it.
    let in_file = |key: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        line: file.lines.get(key).copied(),
        key: Some(key.to_string()),
        message,
    };
    let grace = unless_given(
        opts.grace,
        file.grace.as_ref().map(|raw| {
            raw.parse()
                .and_then(|d| crate::values::check_zero("grace", d))
        }),
    )
    .map_err(|e| in_file("grace", e))?;
    let stop_signal = unless_given(
        opts.stop_signal,
        file.stop_signal.as_deref().map(parse_signal),
    )
    .map_err(|e| in_file("stop_signal", e))?;
    let log_format = unless_given(
        opts.log_format,
        file.log_format.as_deref().map(Format::parse),
    )
    .map_err(|e| in_file("log_format", e))?;
    let log_level = unless_given(opts.log_level, file.log_level.as_deref().map(Level::parse))
        .map_err(|e| in_file("log_level", e))?;
    let log_keep_bytes = match (opts.log_keep_bytes, file.log_keep_bytes) {
        (Some(n), _) => n,
        (None, Some(n)) if n > MAX_LOG_KEEP_BYTES => {
            return Err(in_file(
                "log_keep_bytes",
                format!("{n} is more than the largest, {MAX_LOG_KEEP_BYTES} (16 MiB per service)"),
            ));
        }
        (None, Some(n)) => n,
        (None, None) => DEFAULT_LOG_KEEP_BYTES,
    };
    let mut map_exit = opts.map_exit.clone();
    if map_exit.is_empty()
        && let Some(map) = &file.map_exit
    {
        for (from, to) in map {
            let from: u8 = from
                .parse()
                .map_err(|_| in_file("map_exit", format!("{from:?} is not an exit code")))?;
            map_exit.push((from, *to));
        }
    }
    let keep_caps = if opts.keep_caps.is_empty() {
        file.keep_caps.clone().unwrap_or_default()
    } else {
        opts.keep_caps.clone()
    };
    Ok(Settings {
        user: opts.user.clone().or_else(|| file.user.clone()),
        user_from_file: opts.user.is_none() && file.user.is_some(),
        allow_root: opts.allow_root || file.allow_root.unwrap_or(false),
        allow_dangerous_caps: opts.allow_dangerous_caps,
        keep_caps,
        grace: pick(&opts.grace, &grace, || Duration::from_secs(5)),
        stop_signal: pick(&opts.stop_signal, &stop_signal, || libc::SIGTERM),
        map_exit,
        once: opts.once,
        log_format: pick(&opts.log_format, &log_format, || Format::Text),
        log_level: pick(&opts.log_level, &log_level, || Level::Info),
        config: pick(&opts.config, &None, || DEFAULT_CONFIG.into()),
        services_dir: pick(&opts.services_dir, &file.services_dir, || {
            "/etc/pidone/services.d".into()
        }),
        templates_dir: pick(&opts.templates_dir, &file.templates_dir, || {
            "/etc/pidone/templates".into()
        }),
        render_dir: pick(&opts.render_dir, &file.render_dir, || "/run".into()),
        run_dir: pick(&opts.run_dir, &file.run_dir, || DEFAULT_RUN_DIR.into()),
        log_keep_bytes: log_keep_bytes as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(text: &str) -> GlobalFile {
        super::super::parse_global(Path::new("g.toml"), text).unwrap()
    }

    #[test]
    fn log_keep_bytes_from_option_file_or_default_and_bounded() {
        let s = resolve(&Options::default(), &global(""), Path::new("g.toml")).unwrap();
        assert_eq!(s.log_keep_bytes, DEFAULT_LOG_KEEP_BYTES as usize);
        let file = global("log_keep_bytes = 0\n");
        let s = resolve(&Options::default(), &file, Path::new("g.toml")).unwrap();
        assert_eq!(s.log_keep_bytes, 0);
        let opts = Options {
            log_keep_bytes: Some(4096),
            ..Options::default()
        };
        assert_eq!(
            resolve(&opts, &file, Path::new("g.toml"))
                .unwrap()
                .log_keep_bytes,
            4096
        );
        let e = resolve(
            &Options::default(),
            &global("log_keep_bytes = 99999999\n"),
            Path::new("g.toml"),
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("log_keep_bytes"))
        );
    }

    #[test]
    fn options_win_over_the_file_which_wins_over_defaults() {
        let file = global(
            "user = \"app\"\ngrace = 3\nstop_signal = \"QUIT\"\nmap_exit = { \"143\" = 0 }\n",
        );
        let s = resolve(&Options::default(), &file, Path::new("g.toml")).unwrap();
        assert_eq!(s.user.as_deref(), Some("app"));
        assert_eq!(s.grace, Duration::from_secs(3));
        assert_eq!(s.stop_signal, libc::SIGQUIT);
        assert_eq!(s.map_exit, vec![(143, 0)]);
        assert_eq!(s.run_dir, Path::new(DEFAULT_RUN_DIR));
        let o = Options {
            grace: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let s = resolve(&o, &file, Path::new("g.toml")).unwrap();
        assert_eq!(s.grace, Duration::from_secs(1));
    }

    #[test]
    fn a_bad_file_value_is_located_at_its_line_unless_overridden() {
        let file = global("user = \"app\"\n\nlog_level = \"loud\"\n");
        let e = resolve(&Options::default(), &file, Path::new("g.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("g.toml:3: key `log_level`: "),
            "{e}"
        );
        let o = Options {
            log_level: Some(Level::Debug),
            ..Default::default()
        };
        assert_eq!(
            resolve(&o, &file, Path::new("g.toml")).unwrap().log_level,
            Level::Debug
        );
    }
}
