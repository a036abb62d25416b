//! Stage 2 of the data flow: load the optional global file and every service definition,
//! and validate all of it before anything starts. Every error names the file, the line and
//! the key, and says what to do. The result is plain data; nothing here touches processes.
//!
//! One file per step, in the order a configuration goes through them:
//! - `tomlread.rs`: walks a parsed TOML table, recording each key's line and every wrong
//!   type, bad number and unknown key;
//! - `raw.rs`: the files as written (every key optional) and the TOML readers that fill them;
//!   `render.rs`: the same for the global file's `[render]` table;
//! - `native/`: pidone's own TOML format: load the files, merge each service with
//!   `[defaults]`, validate every value into the model, locate every error;
//! - `model.rs`: the validated model (`Service` and its parts) with its defaults, which is
//!   what every source produces and what the rest of pidone reads;
//! - `graph.rs`: the dependency graph of any list of services (unknown `after`, cycles);
//! - `settings.rs`: pidone's own settings: options, else the global file, else defaults;
//! - `s6/`: the second source, an s6-overlay v3 image's layout, translated into the same
//!   `Service`s (docs/s6-overlay.md).
//!
//! A second source (another on-disk format) is a sibling of `native/` that builds
//! `Service`s (starting from `Service::with_defaults`) and runs `graph::check_graph`.

mod graph;
mod model;
mod native;
mod raw;
mod render;
pub mod s6;
pub mod settings;
pub mod tomlread;

pub use graph::check_graph;
pub use model::*;
pub use native::{load_global, load_services, parse_global, parse_services};
pub use raw::{
    GlobalFile, RawAddress, RawBackoff, RawDuration, RawHealth, RawLimits, RawReady, RawService,
};
pub use render::{RenderConfig, TemplateSetting};
pub use settings::{DEFAULT_CONFIG, DEFAULT_RUN_DIR, Settings};
use std::fmt;
use std::path::PathBuf;

/// One configuration problem, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests;
