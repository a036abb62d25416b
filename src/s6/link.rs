//! `pidone s6-shims DIR`: the image author's command that links s6-overlay's command names
//! to this binary and lists what is and is not linked. Separate from `shims.rs`, which
//! answers those names once linked.

use super::shims::{self, NAMES, NOT_LINKED};
use crate::exit;
use crate::log;
use std::path::Path;

/// `pidone s6-shims DIR`: link s6-overlay's command names to this binary.
pub fn s6_shims(args: &[String]) -> i32 {
    const USAGE: &str = "usage: pidone s6-shims DIR (for example /command): link s6-overlay's commands in DIR to this binary and list what is and is not linked";
    let dir = match args {
        [h] if h == "--help" || h == "-h" => {
            println!("{USAGE}");
            return 0;
        }
        // An option-looking word is a mistake, not a directory to create.
        [dir] if !dir.starts_with('-') => dir,
        _ => {
            log::error(USAGE);
            return exit::USAGE;
        }
    };
    let self_exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(e) => {
            log::error(format!("cannot tell where pidone's binary is: {e}"));
            return exit::SOFTWARE;
        }
    };
    match shims::write_shims(Path::new(dir), &self_exe) {
        Ok(made) => {
            // What was linked and what was not (and why): the image author's checklist.
            println!("linked in {dir}:");
            for link in &made {
                let name = link.file_name().unwrap_or_default().to_string_lossy();
                let target = std::fs::read_link(link).unwrap_or_default();
                let what = NAMES.iter().find(|(n, _)| *n == name).map_or(
                    "the image's execline (run scripts' #!/command/execlineb)",
                    |(_, w)| *w,
                );
                println!("  {name:<17} -> {}  {what}", target.display());
            }
            println!("not linked (s6-overlay has them; what to do instead):");
            for (names, instead) in NOT_LINKED {
                println!("  {names}: {instead}");
            }
            log::info(format!(
                "linked {} command(s) in {dir} to {}",
                made.len(),
                self_exe.display()
            ));
            0
        }
        Err(e) => {
            log::error(e);
            exit::CANNOT_EXECUTE
        }
    }
}
