//! The configuration steps the commands that read files share (`check`, `render`, `run`;
//! a client only looks for the run dir): the settings, the native services, the templates
//! rendered with this process's environment.

use crate::cli::Options;
use crate::config::{self, ConfigError, GlobalFile, Kind, Service, Settings};
use crate::exit;
use crate::log;
use crate::render::{self, Mode, RenderRequest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Load the global file and resolve settings; errors are printed.
pub(super) fn settings(opts: &Options) -> Result<(Settings, GlobalFile), i32> {
    let (settings, file) = config::settings::load(opts).map_err(|errs| report(&errs))?;
    log::configure(settings.log_level, settings.log_format);
    Ok((settings, file))
}

pub(super) fn report(errors: &[ConfigError]) -> i32 {
    for e in errors {
        log::error(e.to_string());
    }
    exit::CONFIG
}

pub(super) fn load_services(
    opts: &Options,
    settings: &Settings,
    file: &GlobalFile,
) -> Result<Vec<Service>, Vec<ConfigError>> {
    // The default directory may be absent (an image with CMD only); one that was named and
    // is missing is a typo, and treating it as empty would run nothing and answer healthy.
    if (opts.services_dir.is_some() || file.services_dir.is_some())
        && !settings.services_dir.exists()
    {
        let named_by = if opts.services_dir.is_some() {
            "--services-dir or PIDONE_SERVICES_DIR".to_string()
        } else {
            format!("services_dir in {}", settings.config.display())
        };
        return Err(vec![ConfigError {
            file: settings.services_dir.clone(),
            line: file
                .lines
                .get("services_dir")
                .copied()
                .filter(|_| opts.services_dir.is_none()),
            key: None,
            message: format!(
                "the services directory does not exist (named by {named_by}); fix the path or create the directory"
            ),
        }]);
    }
    let services = config::load_services(&settings.services_dir, &file.defaults)?;
    // `[render] after` must name oneshots (render waits for them to finish).
    let mut errors = Vec::new();
    for name in &file.render.after {
        match services.iter().find(|s| &s.name == name) {
            Some(s) if s.kind == Kind::Oneshot => {}
            found => errors.push(ConfigError {
                file: settings.config.clone(),
                line: file.lines.get("render.after").copied(),
                key: Some("render.after".into()),
                message: match found {
                    Some(_) => {
                        format!("{name:?} is a longrun; templates can only wait for oneshots")
                    }
                    None => format!("unknown service {name:?}"),
                },
            }),
        }
    }
    if errors.is_empty() {
        Ok(services)
    } else {
        Err(errors)
    }
}

pub(super) fn has_templates(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

pub(super) fn container_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

pub(super) fn secrets_dir() -> PathBuf {
    std::env::var_os("PIDONE_SECRETS_DIR").map_or_else(|| "/run/secrets".into(), PathBuf::from)
}

/// Render with this process's environment (the container's, plus what oneshots handed on
/// when pidone runs this as its render step).
pub(super) fn render_templates(
    settings: &Settings,
    file: &GlobalFile,
    mode: Mode,
) -> Result<Vec<PathBuf>, Vec<render::RenderError>> {
    let env = container_env();
    let secrets = secrets_dir();
    let req = RenderRequest {
        templates_dir: &settings.templates_dir,
        render_dir: &settings.render_dir,
        config: &file.render,
        env: &env,
        secrets_dir: &secrets,
    };
    render::render(&req, mode)
}
