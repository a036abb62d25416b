//! The `[render]` table of the global file as written, read here with the other global
//! keys so that render depends on config, not the reverse. Its values (modes, destinations)
//! are checked by the render stage, which knows the templates they apply to.

use super::tomlread::{Fields, Reader};

/// `[render]` table of the global file (docs/configuration.md).
#[derive(Debug, Clone, Default)]
pub struct RenderConfig {
    pub after: Vec<String>,
    pub mode: Option<String>,
    /// The `[[render.template]]` entries.
    pub templates: Vec<TemplateSetting>,
}

/// One `[[render.template]]` entry.
#[derive(Debug, Clone)]
pub struct TemplateSetting {
    pub source: String,
    pub destination: Option<String>,
    pub mode: Option<String>,
    pub skip_empty: bool,
}

impl RenderConfig {
    /// Reads the `[render]` table (see `tomlread`).
    pub(super) fn read(mut t: Fields, r: &mut Reader) -> RenderConfig {
        let config = RenderConfig {
            after: t.strings(r, "after").unwrap_or_default(),
            mode: t.string(r, "mode"),
            templates: t
                .tables(r, "template")
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| TemplateSetting::read(t, r))
                .collect(),
        };
        t.finish(r);
        config
    }
}

impl TemplateSetting {
    /// `None` when `source` is missing or not a string (reported to `r`).
    fn read(mut t: Fields, r: &mut Reader) -> Option<TemplateSetting> {
        let source = match t.get(r, "source") {
            Some(item) => r.string(&item),
            None => {
                t.required(r, "source", "the template's path under the templates dir");
                None
            }
        };
        let destination = t.string(r, "destination");
        let mode = t.string(r, "mode");
        let skip_empty = t.bool(r, "skip_empty").unwrap_or(false);
        t.finish(r);
        Some(TemplateSetting {
            source: source?,
            destination,
            mode,
            skip_empty,
        })
    }
}
