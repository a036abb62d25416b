//! Parsing of the small value types every configuration source shares:
//! durations, signals, octal modes and local addresses; and the calendar date of a day
//! (schedules and log timestamps both need it). Pure functions, unit-tested below.

use std::time::Duration;

/// Parse `"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"1.5s"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (use e.g. \"500ms\", \"5s\", \"2m\")"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=365.0 * 86400.0).contains(&seconds) {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What a duration of 0 means for a setting: one rule for every duration setting of pidone's
/// own (service keys, `pidone.toml`, options and `PIDONE_*`), the table in
/// docs/configuration.md ("Durations, and what 0 means"). `S6_*` variables keep s6-overlay's
/// meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroMeans {
    /// A limit on how long something may run or repeat: 0 is no limit.
    NoLimit,
    /// A wait before something happens: 0 is no wait.
    NoWait,
    /// Neither makes sense: "no limit" would let pidone wait for ever (or probe in a busy
    /// loop), "at once" would fail everything. The text says what to write instead.
    Refused(&'static str),
}

/// The rule for `setting`, named as in a service file (`[ready] timeout` is
/// `"ready.timeout"`); the global `grace` is `"grace"`. `None` for a name that is no duration.
pub fn zero_means(setting: &str) -> Option<ZeroMeans> {
    use ZeroMeans::*;
    Some(match setting {
        "max_runtime" | "idle_timeout" | "timeout" | "restart_window" => NoLimit,
        "backoff.initial"
        | "backoff.max"
        | "backoff.reset_after"
        | "jitter"
        | "health.start_period" => NoWait,
        "stop_timeout" => Refused(
            "it is how long a stop waits before SIGKILL, and a stop must end; write e.g. \"10s\" (\"1ms\" to kill almost at once)",
        ),
        "grace" => Refused(
            "it is how long the shutdown waits for leftover processes before SIGKILL, and a shutdown must end; write e.g. \"5s\" (\"1ms\" to kill almost at once)",
        ),
        "ready.timeout" => Refused(
            "what waits for the service would wait for ever; write how long it may take to be ready, e.g. \"1h\"",
        ),
        "ready.interval" | "health.interval" => Refused(
            "the check would run again the moment it ends, a busy loop; write how often to check, e.g. \"1s\"",
        ),
        "health.timeout" => Refused(
            "a hung check would never be killed and no check would run after it; write how long one may run, e.g. \"5s\"",
        ),
        "warn_before" => Refused(
            "a warning 0 before the end comes with the stop itself; write e.g. \"1m\", or leave out warn_before, warn_signal and warn_command for no warning",
        ),
        _ => return None,
    })
}

/// `Err` with the reason when `value` is 0 and `setting` refuses 0 (see `zero_means`).
pub fn check_zero(setting: &str, value: Duration) -> Result<Duration, String> {
    match zero_means(setting) {
        Some(ZeroMeans::Refused(why)) if value.is_zero() => Err(format!("cannot be 0: {why}")),
        _ => Ok(value),
    }
}

/// A limit as the program uses it: 0 (no limit, see `zero_means`) is `None`.
pub fn limit(value: Duration) -> Option<Duration> {
    (!value.is_zero()).then_some(value)
}

/// Format a duration the way users write them, for logs and `status`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

const SIGNAL_NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The real-time signals as Docker (`--stop-signal RTMIN`, `docker kill -s RTMIN+3`) and glibc
/// programs number them, whatever libc pidone is built with: musl keeps 32-34 for itself and
/// its SIGRTMIN() is 35, which would make pidone's `RTMIN` a different signal from Docker's.
pub const RTMIN: i32 = 34;
pub const RTMAX: i32 = 64;

/// Parse `"TERM"`, `"SIGTERM"`, `"term"`, `"15"`, `"RTMIN+3"`, `"SIGRTMAX-1"`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Ok(n) = name.parse::<i32>() {
        if (1..=RTMAX).contains(&n) {
            return Ok(n);
        }
        return Err(format!("signal number {n} is out of range"));
    }
    if let Some(&(_, n)) = SIGNAL_NAMES.iter().find(|(s, _)| *s == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest[1..].parse().ok()?
        };
        let n = base + sign * off;
        (RTMIN..=RTMAX).contains(&n).then_some(n)
    };
    let parsed = if let Some(rest) = name.strip_prefix("RTMIN") {
        (rest.is_empty() || rest.starts_with('+'))
            .then(|| rt(RTMIN, rest, 1))
            .flatten()
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        (rest.is_empty() || rest.starts_with('-'))
            .then(|| rt(RTMAX, rest, -1))
            .flatten()
    } else {
        None
    };
    parsed.ok_or_else(|| format!("unknown signal {text:?} (use a name such as TERM, QUIT, HUP)"))
}

/// The conventional name of a signal number, for logs.
pub fn signal_name(n: i32) -> String {
    if let Some(&(name, _)) = SIGNAL_NAMES.iter().find(|&&(_, v)| v == n) {
        return format!("SIG{name}");
    }
    if (RTMIN..=RTMAX).contains(&n) {
        return format!("SIGRTMIN+{}", n - RTMIN);
    }
    format!("signal {n}")
}

/// Parse an octal mode such as `"0640"`, `"640"`, `"0o027"`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    let octal = !digits.is_empty()
        && digits.len() <= 4
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8) {
        Ok(m) if octal => Ok(m),
        _ => Err(format!("{text:?} is not an octal mode (use e.g. \"0640\")")),
    }
}

/// Parse `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`. Host names are not resolved: the
/// binary is static, and glibc's getaddrinfo would need NSS modules that hardened images do
/// not ship; probes are for services in the same container anyway.
pub fn parse_socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    let local = text
        .strip_prefix("localhost:")
        .map(|port| format!("127.0.0.1:{port}"));
    local.as_deref().unwrap_or(text).parse().map_err(|_| {
        format!(
            "{text:?} is not IP:PORT (e.g. \"127.0.0.1:5222\"), localhost:PORT or a port number; host names are not resolved"
        )
    })
}

/// `http://HOST:PORT/path` → ("HOST:PORT", "/path"). Only plain HTTP to a local service.
pub fn parse_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} must start with http:// (plain HTTP to a local port)"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    parse_socket_addr(&hostport)?;
    Ok((hostport, path.to_string()))
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31). Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Levenshtein distance with adjacent transpositions counted as one edit (`stauts`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The one of `known` that `word` is most likely a misspelling of (at most 2 edits away,
/// and fewer edits than the word has letters), for "did you mean".
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2 && *d < word.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_the_closest_name() {
        assert_eq!(edit_distance("stauts", "status"), 1);
        assert_eq!(edit_distance("critcal", "critical"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("critcal", &["command", "critical"]),
            Some("critical")
        );
        assert_eq!(closest("xyz", &["command", "critical"]), None);
        // Replacing every letter is no misspelling.
        assert_eq!(closest("ab", &["xy"]), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m5s");
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("sigquit").unwrap(), libc::SIGQUIT);
        assert_eq!(parse_signal("9").unwrap(), 9);
        // Docker's numbers on glibc and musl alike (musl's SIGRTMIN() is 35).
        assert_eq!(parse_signal("RTMIN").unwrap(), 34);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("RTMAX").unwrap(), 64);
        assert_eq!(parse_signal("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert!(parse_signal("RTMIN-1").is_err());
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert_eq!(signal_name(libc::SIGHUP), "SIGHUP");
        assert_eq!(signal_name(36), "SIGRTMIN+2");
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0640").unwrap(), 0o640);
        assert_eq!(parse_mode("027").unwrap(), 0o027);
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("rw").is_err());
    }
}
