//! Stage 4 of the data flow: render templates from the environment into the render dir.
//! (Skeleton: the implementation lands with issue 4.)

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[render]` table of the global file (docs/configuration.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderConfig {
    #[serde(default)]
    pub after: Vec<String>,
    pub mode: Option<String>,
    #[serde(default, rename = "template")]
    pub templates: Vec<TemplateSetting>,
}

/// One `[[render.template]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSetting {
    pub source: String,
    pub destination: Option<String>,
    pub mode: Option<String>,
    #[serde(default)]
    pub skip_empty: bool,
}

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
    /// Write into another directory (`pidone render --out DIR`).
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

/// Render every template. Returns the destination paths written (or that would be written).
pub fn render(req: &RenderRequest, mode: Mode) -> Result<Vec<PathBuf>, Vec<RenderError>> {
    let _ = (req, mode);
    Ok(Vec::new())
}
