//! The template context: `env` (with `VAR_FILE` indirection resolved) and `secrets` (the files
//! of the secrets dir), plus the names of the env vars that hold secrets (`taint` decides from
//! them which templates' errors must not show values).

use super::RenderError;
use crate::safe_read::{SECRET_LIMIT, Symlinks, read_to_string};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

/// What the templates see, and what error messages must not show.
pub(crate) struct Resolved {
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// The env vars whose values are secrets: `X` of every `X_FILE` read, env vars whose
    /// names say they are secrets ([`is_secret_name`]) and those listed in
    /// `PIDONE_SECRET_VARS`. Not `X_FILE` itself: its value is a path, shown as it is.
    pub secret_env: BTreeSet<String>,
    /// `_FILE` problems, by the variable they would define. They only matter when a template
    /// uses that variable: containers carry unrelated `*_FILE` variables (`TF_CLI_CONFIG_FILE`,
    /// `LOG_FILE`, ...) whose files the unprivileged user may not be able to read.
    pub deferred: Vec<(String, RenderError)>,
}

/// Does an env var's name say it holds a secret? `DB_PASSWORD`, `JWT_APP_SECRET`, `API_TOKEN`,
/// `TURN_CREDENTIALS`, `TLS_PRIVATE_KEY`, `PW`, `API_KEY`... (case-insensitive). `PWD` (the
/// working directory) and names that merely contain `KEY` or `PASS` inside a word
/// (`KEYBOARD`, `PASSTHROUGH`) do not count.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const ANYWHERE: [&str; 6] = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE",
    ];
    const WORDS: [&str; 5] = ["PW", "PASS", "KEY", "APIKEY", "PASSPHRASE"];
    ANYWHERE.iter().any(|w| upper.contains(w)) || upper.split('_').any(|part| WORDS.contains(&part))
}

/// The env vars that hold secrets: the names listed in `PIDONE_SECRET_VARS` (comma- or
/// space-separated), and secret-looking names except `X_FILE` (a path: `DB_PASSWORD_FILE`)
/// and pidone's own `PIDONE_*` settings (`PIDONE_SECRETS_DIR` is a directory).
pub(crate) fn secret_env_names(env: &BTreeMap<String, String>) -> BTreeSet<String> {
    let listed: Vec<&str> = env
        .get("PIDONE_SECRET_VARS")
        .map(|l| l.split([',', ' ']).filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    let looks_secret =
        |k: &str| is_secret_name(k) && !k.ends_with("_FILE") && !k.starts_with("PIDONE_");
    env.keys()
        .filter(|k| looks_secret(k) || listed.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// Strip exactly one trailing newline (`\n` or `\r\n`): `echo pw > file` must give `pw`, but a
/// value that really ends in blank lines keeps the rest.
fn strip_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
        _ => e.to_string(),
    }
}

/// Resolve `X_FILE=/path` into `X` = the file's content (one trailing newline stripped) and read
/// the secrets dir. Problems are appended to `errors`; the returned context is still usable so
/// that `pidone check` can report template problems in the same run.
pub(crate) fn resolve(
    env: &BTreeMap<String, String>,
    secrets_dir: &Path,
    errors: &mut Vec<RenderError>,
) -> Resolved {
    let mut secret_env = secret_env_names(env);
    let mut resolved = env.clone();
    let mut deferred = Vec::new();

    for (key, path) in env {
        let Some(base) = key.strip_suffix("_FILE").filter(|b| !b.is_empty()) else {
            continue;
        };
        // An empty X_FILE is how compose files spell "not set" (`X_FILE=${X_FILE:-}`).
        if path.is_empty() {
            continue;
        }
        if env.contains_key(base) {
            deferred.push((
                base.to_string(),
                RenderError(format!(
                    "environment: both `{base}` and `{key}` are set; set only one of them"
                )),
            ));
            continue;
        }
        match read_to_string(Path::new(path), SECRET_LIMIT, Symlinks::Follow) {
            Ok(content) => {
                secret_env.insert(base.to_string());
                resolved.insert(base.to_string(), strip_one_newline(content));
            }
            Err(e) => deferred.push((
                base.to_string(),
                RenderError(format!(
                    "environment: `{key}`: cannot read {path}: {}",
                    io_reason(&e)
                )),
            )),
        }
    }

    let secrets = read_secrets(secrets_dir, errors);
    Resolved {
        env: resolved,
        secrets,
        secret_env,
        deferred,
    }
}

/// Every regular file directly in `dir` (following symlinks, as Kubernetes secret volumes are
/// symlinks into `..data/`), skipping dot-files. A missing dir is an empty map.
fn read_secrets(dir: &Path, errors: &mut Vec<RenderError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
        Err(e) => {
            errors.push(RenderError(format!(
                "secrets: cannot read directory {}: {e}",
                dir.display()
            )));
            return out;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(RenderError(format!(
                    "secrets: cannot read directory {}: {e}",
                    dir.display()
                )));
                continue;
            }
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            errors.push(RenderError(format!(
                "secrets: {}: the file name is not UTF-8",
                entry.path().display()
            )));
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => continue,
            Err(e) => {
                errors.push(RenderError(format!("secrets: {}: {e}", path.display())));
                continue;
            }
        }
        match read_to_string(&path, SECRET_LIMIT, Symlinks::Follow) {
            Ok(content) => {
                out.insert(name.to_string(), strip_one_newline(content));
            }
            Err(e) => errors.push(RenderError(format!(
                "secrets: cannot read {}: {}",
                path.display(),
                io_reason(&e)
            ))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_newline() {
        assert_eq!(strip_one_newline("pw\n".into()), "pw");
        assert_eq!(strip_one_newline("pw\r\n".into()), "pw");
        assert_eq!(strip_one_newline("pw\n\n".into()), "pw\n");
        assert_eq!(strip_one_newline("pw".into()), "pw");
        assert_eq!(strip_one_newline(String::new()), "");
    }

    #[test]
    fn secret_names() {
        for yes in [
            "DB_PASSWORD",
            "JICOFO_AUTH_PASSWORD",
            "JWT_APP_SECRET",
            "api_token",
            "PW",
            "TURN_CREDENTIALS",
            "API_KEY",
            "TLS_PRIVATE_KEY",
            "XMPP_PASSWD",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in [
            "PWD",
            "PATH",
            "KEYBOARD",
            "PASSTHROUGH",
            "HOME",
            "XMPP_DOMAIN",
        ] {
            assert!(!is_secret_name(no), "{no}");
        }
    }

    #[test]
    fn only_secrets_are_secret_env() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let env: BTreeMap<String, String> = [
            ("PW", "hunter22"),
            ("ENABLE", "true"),
            ("PWD", "/etc/pidone/templates"),
            ("DSN", "postgres://u:dbpw@h/db"),
            ("PIDONE_SECRET_VARS", "DSN"),
            ("PIDONE_SECRETS_DIR", "/run/secrets"),
            ("DB_PASSWORD_FILE", pw.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = resolve(&env, Path::new("/nonexistent"), &mut Vec::new());
        let names: Vec<&str> = r.secret_env.iter().map(String::as_str).collect();
        assert_eq!(names, ["DB_PASSWORD", "DSN", "PW"]);
        assert_eq!(r.env["DB_PASSWORD"], "s3cret");
    }

    #[test]
    fn bare_file_suffix_is_an_ordinary_variable() {
        let env: BTreeMap<String, String> = [("_FILE".to_string(), "/nonexistent".to_string())]
            .into_iter()
            .collect();
        let mut errors = Vec::new();
        let r = resolve(&env, Path::new("/nonexistent-secrets"), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(r.env, env);
        assert!(r.secrets.is_empty());
    }
}
