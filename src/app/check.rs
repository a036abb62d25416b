//! The commands that read the configuration and exit without starting anything:
//! `pidone check` (everything, with templates rendered as a dry run) and `pidone render`
//! (templates only).

use super::load::{container_env, load_services, render_templates, report, settings};
use crate::cli::Options;
use crate::exit;
use crate::log;
use crate::render::Mode;
use std::path::PathBuf;

pub(super) fn check(opts: &Options) -> i32 {
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    let mut code = 0;
    let mut services = match load_services(opts, &settings, &file) {
        Ok(s) => s,
        Err(errs) => {
            code = report(&errs);
            Vec::new()
        }
    };
    let native = services.len();
    let s6_services = match crate::s6::front::check(opts, &container_env(), &mut services) {
        Ok(found) => found,
        Err(c) => {
            code = c;
            None
        }
    };
    let rendered = match render_templates(&settings, &file, Mode::DryRun) {
        Ok(files) => files.len(),
        Err(errs) => {
            for e in &errs {
                log::error(e.to_string());
            }
            if code == 0 {
                code = exit::TEMPLATE;
            }
            0
        }
    };
    if code == 0 {
        let s6 = s6_services.map_or(String::new(), |(n, root)| {
            format!(", {n} from the s6-overlay layout in {}", root.display())
        });
        log::info(format!(
            "check passed: {native} service(s) in {}{s6}, {} template(s) in {}",
            settings.services_dir.display(),
            rendered,
            settings.templates_dir.display()
        ));
    }
    code
}

pub(super) fn render_command(opts: &Options, out: Option<PathBuf>) -> i32 {
    let Ok((settings, file)) = settings(opts) else {
        return exit::CONFIG;
    };
    let mode = match out {
        Some(dir) => Mode::OutDir(dir),
        None => Mode::Write,
    };
    match render_templates(&settings, &file, mode) {
        Ok(files) => {
            log::info(format!("rendered {} file(s)", files.len()));
            0
        }
        Err(errs) => {
            for e in &errs {
                log::error(e.to_string());
            }
            // secondary to the errors above, which name what to fix
            log::info("nothing was written; fix the templates or the environment and start again");
            exit::TEMPLATE
        }
    }
}
