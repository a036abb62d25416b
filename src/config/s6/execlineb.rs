//! Where execlineb is, for `up`/`down` lines that are execline scripts: in the image's root
//! filesystem for `pidone check --s6-root`, on this system for a run; and when a check has to
//! assume it, the warning that the image must install it. Apart from the layout reader, which
//! is only told the path (or that there is none).

use crate::config::Service;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `pidone check` assumes execlineb is when the tree it reads does not have it.
const ASSUMED_EXECLINEB: &str = "/usr/bin/execlineb";

/// execlineb's path, and whether it is assumed (`image_at_root` and the tree does not have
/// it). `image_at_root`: look in the image under `root`; otherwise on this system's `PATH`.
pub(super) fn locate(
    root: &Path,
    command_dir: &Path,
    env: &BTreeMap<String, String>,
    image_at_root: bool,
) -> (Option<PathBuf>, bool) {
    if image_at_root {
        match which_in_image("execlineb", root, command_dir) {
            Some(p) => (Some(p), false),
            // A checkout of an image's rootfs rarely has it (the Dockerfile installs it):
            // show the lines as they will run, and say below what the image needs.
            None => (Some(PathBuf::from(ASSUMED_EXECLINEB)), true),
        }
    } else {
        let path = env.get("PATH").map(String::as_str);
        (which_in("execlineb", command_dir, path), false)
    }
}

/// A service whose command or stop command runs the assumed execlineb.
pub(super) fn needs_assumed(services: &[Service]) -> bool {
    services.iter().any(|s| {
        s.command.first().map(String::as_str) == Some(ASSUMED_EXECLINEB)
            || s.stop_command
                .as_ref()
                .and_then(|c| c.argv.first())
                .map(String::as_str)
                == Some(ASSUMED_EXECLINEB)
    })
}

/// The warning when lines are shown with the assumed execlineb.
pub(super) fn assumed_warning(root: &Path, command_dir: &Path) -> String {
    format!(
        "execlineb is not in {} ({}, usr/bin, bin): lines that need it are shown as {ASSUMED_EXECLINEB} ...; the image must install execline (Debian: apt-get install execline) or they fail at start",
        root.display(),
        command_dir
            .strip_prefix("/")
            .unwrap_or(command_dir)
            .display()
    )
}

/// `name` in the image under `root` (in `command_dir`, `usr/bin` or `bin`, a symlink counts:
/// it may point into `/package`), as the path it has in the image.
fn which_in_image(name: &str, root: &Path, command_dir: &Path) -> Option<PathBuf> {
    [command_dir, Path::new("/usr/bin"), Path::new("/bin")]
        .iter()
        .map(|d| d.join(name))
        .find(|p| std::fs::symlink_metadata(root.join(p.strip_prefix("/").unwrap_or(p))).is_ok())
}

/// An executable `name` in `first` or on `path`.
pub fn which_in(name: &str, first: &Path, path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    std::iter::once(first.to_path_buf())
        .chain(path.split(':').filter(|d| !d.is_empty()).map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
