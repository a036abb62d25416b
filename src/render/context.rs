//! The template context: `env` (with `VAR_FILE` indirection resolved) and `secrets` (the files
//! of the secrets dir), plus the list of every value that must never appear in a message.

use super::RenderError;
use crate::safe_read::{SECRET_LIMIT, Symlinks, read_to_string};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// What the templates see, and what error messages must not show.
pub(crate) struct Resolved {
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// Every env value (before and after `_FILE` resolution) and every secret's content. All of
    /// them are treated as secret: pidone cannot know which env var holds a password.
    pub sensitive: Vec<String>,
    /// `_FILE` problems, by the variable they would define. They only matter when a template
    /// uses that variable: containers carry unrelated `*_FILE` variables (`TF_CLI_CONFIG_FILE`,
    /// `LOG_FILE`, ...) whose files the unprivileged user may not be able to read.
    pub deferred: Vec<(String, RenderError)>,
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
    let mut sensitive: Vec<String> = env.values().cloned().collect();
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
                let content = strip_one_newline(content);
                sensitive.push(content.clone());
                resolved.insert(base.to_string(), content);
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
    sensitive.extend(secrets.values().cloned());
    Resolved {
        env: resolved,
        secrets,
        sensitive,
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
