//! Stage 4 of the data flow: render templates from the environment into the render dir.
//!
//! The steps, each collecting every problem rather than stopping at the first (so that
//! `pidone check` prints them all):
//! 1. `context`: resolve `env` (`VAR_FILE` indirection) and read `secrets`;
//! 2. find every file under the templates dir and apply the `[render]` settings
//!    (destination, mode, skip_empty), validating them;
//! 3. compile all templates with pidone's helpers (`helpers`), autoescaping off;
//! 4. decide which templates can read a secret (`taint`), then render every template in
//!    memory; errors are rewritten by `report` so they name file, line, column and variable,
//!    and for a template that reads a secret nothing else;
//! 5. only if everything succeeded: write them all atomically (`write`).
//!
//! # Files
//! In the order of the steps (step 2 and the recipe are this file):
//! - `context.rs`: step 1, `env` and `secrets`;
//! - `helpers.rs`: step 3, pidone's filters, registered on Tera;
//! - `checks.rs`: the `check` filter (type and range of a documented variable), one of the
//!   helpers, in its own file for its size;
//! - `strconv.rs`: Go's reading of a word as a boolean or an integer, which the helpers and
//!   `check` share;
//! - `taint.rs`: step 4, which templates can read a secret;
//! - `report.rs`: step 4, render errors rewritten to name file, line, column and variable;
//! - `write.rs`: step 5, the atomic write.
//!
//! Imports between them run one way: `helpers` → `checks` → `strconv`, `helpers` →
//! `strconv`; `report` → `helpers`, `checks` (the filters' names and fixed words);
//! `context`, `report`, `write` → this file's `RenderError`.
//!
//! See docs/templates.md for the user-facing reference.

mod checks;
mod context;
mod helpers;
mod report;
mod strconv;
mod taint;
mod write;

pub use helpers::{b64decode, b64encode, go_splitn, quote};
pub use strconv::{go_parse_bool, parse_int};

pub use crate::config::{RenderConfig, TemplateSetting};
use report::{Reveal, Source};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use tera::{Context, Tera};

/// What to render, from where, with which environment.
pub struct RenderRequest<'a> {
    pub templates_dir: &'a Path,
    pub render_dir: &'a Path,
    pub config: &'a RenderConfig,
    /// The environment the templates see as `env` (container env plus handed-on env).
    pub env: &'a BTreeMap<String, String>,
    /// Where `secrets.NAME` come from (normally `/run/secrets`).
    pub secrets_dir: &'a Path,
}

pub enum Mode {
    /// Render everything in memory, then write atomically into `render_dir`.
    Write,
    /// Render in memory only (`pidone check`).
    DryRun,
    /// Write into another directory (`pidone render --out DIR`); created if missing.
    OutDir(PathBuf),
}

/// One problem, already formatted with template path, line, column and variable name, never a value.
#[derive(Debug)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Default mode of rendered files when neither `[render] mode` nor the template's `mode` is set.
pub const DEFAULT_MODE: u32 = 0o640;

/// Suffix stripped from template file names to get the destination name.
pub const TEMPLATE_SUFFIX: &str = ".tera";

/// Parse an octal permission string like "0640" or "600". Only permission bits are allowed
/// (no setuid/setgid/sticky), and never world-writable: these are config files, often with
/// secrets in them.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let mode = crate::values::parse_mode(s)
        .map_err(|_| format!("mode {s:?} is not an octal permission like \"0640\""))?;
    if mode > 0o777 {
        return Err(format!(
            "mode {s:?}: setuid, setgid and sticky bits are not allowed"
        ));
    }
    if mode & 0o002 != 0 {
        return Err(format!(
            "mode {s:?}: rendered files must not be world-writable"
        ));
    }
    Ok(mode)
}

/// A path relative to a root, made only of normal components (no `..`, no root, not empty).
fn clean_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Where `destination` (relative to the render dir, or absolute inside it) points, relative to
/// the render dir. This is a lexical check; symlinks are refused at write time.
fn destination_rel(render_dir: &Path, destination: &str) -> Result<PathBuf, String> {
    let p = Path::new(destination);
    let rel = if p.is_absolute() {
        p.strip_prefix(render_dir).map_err(|_| {
            format!(
                "destination {destination:?} is outside the render dir {}",
                render_dir.display()
            )
        })?
    } else {
        p
    };
    clean_relative(rel).ok_or_else(|| {
        format!(
            "destination {destination:?} must be a file path inside the render dir {} (no `..`)",
            render_dir.display()
        )
    })
}

/// The default destination of a template: its path with the `.tera` suffix removed.
fn default_destination(name: &str) -> PathBuf {
    PathBuf::from(name.strip_suffix(TEMPLATE_SUFFIX).unwrap_or(name))
}

/// Every file under `dir`, as (name relative to `dir` with `/` separators, full path), sorted.
/// Symlinks to files are templates too (image content is trusted); symlinked directories are
/// refused so a loop cannot hang startup. A FIFO, socket or device (or a symlink to one) is an
/// error naming it: a FIFO is never opened here, and `safe_read` opens templates non-blocking
/// and refuses anything but a regular file, should one be swapped in after this look.
fn find_templates(dir: &Path, errors: &mut Vec<RenderError>) -> Vec<(String, PathBuf)> {
    fn walk(
        dir: &Path,
        prefix: &str,
        out: &mut Vec<(String, PathBuf)>,
        errors: &mut Vec<RenderError>,
    ) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(RenderError(format!(
                    "templates: cannot read {}: {e}",
                    dir.display()
                )));
                return;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
                errors.push(RenderError(format!(
                    "templates: {}: the file name is not UTF-8",
                    path.display()
                )));
                continue;
            };
            let name = format!("{prefix}{fname}");
            // Gone since read_dir listed it: nothing to render.
            let Ok(lmeta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let kind = lmeta.file_type();
            if kind.is_dir() {
                walk(&path, &format!("{name}/"), out, errors);
            } else if kind.is_file() {
                out.push((name, path));
            } else if kind.is_symlink() {
                // stat(2) never opens the target, so a FIFO there cannot block.
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => out.push((name, path)),
                    Ok(m) if m.is_dir() => errors.push(RenderError(format!(
                        "templates: {} is a symlink to a directory; pidone does not follow those",
                        path.display()
                    ))),
                    Ok(m) => errors.push(RenderError(format!(
                        "templates: {} is a symlink to {} ({}); a template must be a regular file",
                        path.display(),
                        crate::safe_read::kind_of(&m),
                        std::fs::read_link(&path)
                            .map(|t| t.display().to_string())
                            .unwrap_or_else(|_| "?".to_string()),
                    ))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(RenderError(
                        format!("templates: {} is a dangling symlink", path.display()),
                    )),
                    Err(e) => errors.push(RenderError(format!(
                        "templates: {}: cannot follow the symlink: {e}",
                        path.display()
                    ))),
                }
            } else {
                errors.push(RenderError(format!(
                    "templates: {} is {}; a template must be a regular file",
                    path.display(),
                    crate::safe_read::kind_of(&lmeta)
                )));
            }
        }
    }
    let mut out = Vec::new();
    match std::fs::metadata(dir) {
        // No templates dir: nothing to render.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => errors.push(RenderError(format!(
            "templates: cannot read {}: {e}",
            dir.display()
        ))),
        Ok(m) if !m.is_dir() => errors.push(RenderError(format!(
            "templates: {} is not a directory",
            dir.display()
        ))),
        Ok(_) => walk(dir, "", &mut out, errors),
    }
    out
}

/// One template with its settings applied.
struct Planned {
    name: String,
    dest: PathBuf,
    mode: u32,
    skip_empty: bool,
}

/// Apply `[render]` settings to the found templates, validating them.
fn plan(req: &RenderRequest, names: &[String], errors: &mut Vec<RenderError>) -> Vec<Planned> {
    let default_mode = match req.config.mode.as_deref().map(parse_mode) {
        None => DEFAULT_MODE,
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            errors.push(RenderError(format!("[render] mode: {e}")));
            DEFAULT_MODE
        }
    };
    let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut settings: BTreeMap<String, &TemplateSetting> = BTreeMap::new();
    for s in &req.config.templates {
        let what = format!("[[render.template]] source = {:?}", s.source);
        let Some(rel) =
            clean_relative(Path::new(&s.source)).and_then(|p| p.to_str().map(str::to_string))
        else {
            errors.push(RenderError(format!(
                "{what}: must be a path relative to the templates dir {} (no `..`)",
                req.templates_dir.display()
            )));
            continue;
        };
        if !known.contains(rel.as_str()) {
            let hint = if known.contains(format!("{rel}{TEMPLATE_SUFFIX}").as_str()) {
                format!(" (did you mean \"{rel}{TEMPLATE_SUFFIX}\"?)")
            } else {
                String::new()
            };
            errors.push(RenderError(format!(
                "{what}: no such template in {}{hint}",
                req.templates_dir.display()
            )));
            continue;
        }
        if settings.insert(rel, s).is_some() {
            errors.push(RenderError(format!("{what}: configured more than once")));
        }
    }

    let mut planned = Vec::with_capacity(names.len());
    let mut dests: BTreeMap<PathBuf, &str> = BTreeMap::new();
    for name in names {
        let setting = settings.get(name.as_str());
        let what = format!("[[render.template]] source = {name:?}");
        let dest = match setting.and_then(|s| s.destination.as_deref()) {
            None => default_destination(name),
            Some(d) => match destination_rel(req.render_dir, d) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(RenderError(format!("{what}: {e}")));
                    continue;
                }
            },
        };
        let mode = match setting.and_then(|s| s.mode.as_deref()).map(parse_mode) {
            None => default_mode,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                errors.push(RenderError(format!("{what}: {e}")));
                continue;
            }
        };
        if let Some(other) = dests.insert(dest.clone(), name) {
            errors.push(RenderError(format!(
                "templates {other:?} and {name:?} both render to {}",
                req.render_dir.join(&dest).display()
            )));
            continue;
        }
        planned.push(Planned {
            name: name.clone(),
            dest,
            mode,
            skip_empty: setting.is_some_and(|s| s.skip_empty),
        });
    }
    planned
}

/// A Tera instance with pidone's helpers and autoescaping off for every file: these are config
/// files, and a `.xml` or `.html` config must not get `&amp;`.
fn new_tera() -> Tera {
    let mut tera = Tera::new();
    tera.autoescape_on(Vec::<&str>::new());
    helpers::register(&mut tera);
    tera
}

/// Load all templates. The batch load is all-or-nothing in Tera, so when it fails each template
/// is parsed alone to report every syntax error, then the rest are loaded together (includes
/// between templates need them in one instance). Returns the names that loaded.
fn compile(
    tera: &mut Tera,
    sources: &BTreeMap<String, Source>,
    errors: &mut Vec<RenderError>,
) -> BTreeSet<String> {
    // Loading involves template text only, no value: its errors are shown in full.
    let reveal = Reveal::Values;
    let all = || sources.iter().map(|(n, s)| (n.as_str(), s.text.as_str()));
    if tera.add_raw_templates(all()).is_ok() {
        return sources.keys().cloned().collect();
    }
    let mut good = BTreeSet::new();
    for (name, src) in sources {
        let mut alone = new_tera();
        match alone.add_raw_template(name, &src.text) {
            Err(e) if matches!(e.kind(), tera::ErrorKind::SyntaxError(_)) => {
                errors.extend(report::tera_errors(&e, name, sources, reveal));
            }
            // Ok, or a load-time check that may only fail alone (an include of a sibling).
            _ => {
                good.insert(name.clone());
            }
        }
    }
    let batch = good.iter().map(|n| (n.as_str(), sources[n].text.as_str()));
    match tera.add_raw_templates(batch) {
        Ok(()) => good,
        Err(e) => {
            errors.extend(report::tera_errors(&e, "", sources, reveal));
            BTreeSet::new()
        }
    }
}

/// How much the errors of rendering `name` may show.
fn reveal_for<'a>(
    tainted: &BTreeSet<String>,
    names: &'a BTreeSet<String>,
    name: &str,
) -> Reveal<'a> {
    if tainted.contains(name) {
        Reveal::NamesOnly(names)
    } else {
        Reveal::Values
    }
}

/// Does template text mention `env.VAR` (as a whole name)?
fn uses_env_var(text: &str, var: &str) -> bool {
    let needle = format!("env.{var}");
    text.match_indices(&needle).any(|(at, _)| {
        let next = text[at + needle.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Render template texts in memory with `env` as the context (no files, no `_FILE`
/// resolution, no secrets dir): compile, render and error reporting exactly as [`render`]
/// does them. Returns the outputs in template-name order. For the fuzzer and tests.
pub fn render_texts(
    templates: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, Vec<RenderError>> {
    let secret_env = context::secret_env_names(env);
    let sources: BTreeMap<String, Source> = templates
        .iter()
        .map(|(name, text)| {
            let source = Source {
                path: PathBuf::from("/templates").join(name),
                text: text.clone(),
            };
            (name.clone(), source)
        })
        .collect();
    let mut errors = Vec::new();
    let mut tera = new_tera();
    let loaded = compile(&mut tera, &sources, &mut errors);
    let tainted = taint::tainted(
        taint::texts_of(&sources, |s| s.text.as_str()),
        &taint::SecretSources {
            env: &secret_env,
            secrets_dir: false,
        },
    );
    let names: BTreeSet<String> = env.keys().cloned().collect();
    let mut ctx = Context::new();
    ctx.insert("env", env);
    ctx.insert("secrets", &BTreeMap::<String, String>::new());
    let mut outputs = Vec::new();
    for name in &loaded {
        match tera.render(name, &ctx) {
            Ok(text) => outputs.push(text),
            Err(e) => errors.extend(report::tera_errors(
                &e,
                name,
                &sources,
                reveal_for(&tainted, &names, name),
            )),
        }
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors)
    }
}

/// Render every template. Returns the destination paths written (or that would be written).
pub fn render(req: &RenderRequest, mode: Mode) -> Result<Vec<PathBuf>, Vec<RenderError>> {
    let mut errors = Vec::new();

    let resolved = context::resolve(req.env, req.secrets_dir, &mut errors);

    let found = find_templates(req.templates_dir, &mut errors);
    let mut sources = BTreeMap::new();
    for (name, path) in &found {
        use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
        match read_to_string(path, CONFIG_LIMIT, Symlinks::Follow) {
            Ok(text) => {
                sources.insert(
                    name.clone(),
                    Source {
                        path: path.clone(),
                        text,
                    },
                );
            }
            Err(e) => errors.push(RenderError(format!("{}: cannot read: {e}", path.display()))),
        }
    }
    for (var, problem) in resolved.deferred {
        if sources.values().any(|s| uses_env_var(&s.text, &var)) {
            errors.push(problem);
        }
    }
    let names: Vec<String> = found.into_iter().map(|(n, _)| n).collect();
    let planned = plan(req, &names, &mut errors);

    let mut tera = new_tera();
    let loaded = compile(&mut tera, &sources, &mut errors);
    let tainted = taint::tainted(
        taint::texts_of(&sources, |s| s.text.as_str()),
        &taint::SecretSources {
            env: &resolved.secret_env,
            secrets_dir: !resolved.secrets.is_empty(),
        },
    );

    // Names of variables and secrets files are not secret (values are): a message of a
    // template that reads a secret may still name them (`report::made_of_harmless_parts`).
    let var_names: BTreeSet<String> = (resolved.env.keys())
        .chain(resolved.secrets.keys())
        .cloned()
        .collect();
    let mut ctx = Context::new();
    ctx.insert("env", &resolved.env);
    ctx.insert("secrets", &resolved.secrets);

    let mut outputs = Vec::with_capacity(planned.len());
    for p in &planned {
        if !loaded.contains(&p.name) {
            continue;
        }
        match tera.render(&p.name, &ctx) {
            Ok(text) if p.skip_empty && text.trim().is_empty() => {}
            Ok(contents) => outputs.push(write::Output {
                rel: p.dest.clone(),
                contents,
                mode: p.mode,
            }),
            Err(e) => errors.extend(report::tera_errors(
                &e,
                &p.name,
                &sources,
                reveal_for(&tainted, &var_names, &p.name),
            )),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    match mode {
        Mode::DryRun => Ok(outputs
            .iter()
            .map(|o| req.render_dir.join(&o.rel))
            .collect()),
        Mode::Write => write::write_all(req.render_dir, &outputs),
        Mode::OutDir(dir) => {
            let created =
                crate::rundir::create_all(&dir, 0o750, None).map_err(|e| vec![RenderError(e)])?;
            let result = write::write_all(&dir, &outputs);
            if result.is_err() {
                crate::rundir::remove_created(&created);
            }
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_permissions_without_world_write() {
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        for bad in ["", "0x640", "0648", "rw-r-----", "04755", "0666", "12345"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn destinations_stay_inside_the_render_dir() {
        let run = Path::new("/run");
        assert_eq!(
            destination_rel(run, "a/b.conf"),
            Ok(PathBuf::from("a/b.conf"))
        );
        assert_eq!(destination_rel(run, "./a/./b"), Ok(PathBuf::from("a/b")));
        assert_eq!(destination_rel(run, "/run/x/y"), Ok(PathBuf::from("x/y")));
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "/etc/passwd",
            "/run/../etc/x",
            "",
            ".",
            "/run",
        ] {
            assert!(destination_rel(run, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_destination_strips_the_suffix_once() {
        assert_eq!(
            default_destination("a/b.conf.tera"),
            PathBuf::from("a/b.conf")
        );
        assert_eq!(default_destination("x.tera.tera"), PathBuf::from("x.tera"));
        assert_eq!(
            default_destination("plain.conf"),
            PathBuf::from("plain.conf")
        );
    }
}
