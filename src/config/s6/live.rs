//! The live service directories: where each longrun runs, `/run/s6-rc/servicedirs/NAME` or
//! `/run/s6/legacy-services/NAME[/log]` as s6-overlay lays them out, and which image directory
//! each one mirrors. Apart from the translation: these paths are shared with the runtime side
//! (`crate::s6` creates them and links the image's files in), so both agree on one layout.

use super::layout::{Layout, legacy_logger_name};
use crate::config::{Kind, Service};
use std::path::{Path, PathBuf};

/// Whose live directory: an s6-rc longrun's, or a services.d (legacy) one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    S6Rc,
    ServicesD,
}

/// s6-rc's live service directories, `/run/s6-rc/servicedirs`: an s6-rc longrun runs in
/// `NAME` there (the real directory; `/run/service/NAME` links to it).
pub fn rc_service_dirs(run_dir: &Path) -> PathBuf {
    run_dir.join("s6-rc/servicedirs")
}

/// Where s6-overlay copies services.d, `/run/s6/legacy-services`: such a longrun runs in
/// `NAME` there (and its logger in `NAME/log`); `/run/service/NAME` links to it.
pub fn legacy_service_dirs(run_dir: &Path) -> PathBuf {
    run_dir.join("s6/legacy-services")
}

/// A longrun's live directory under the s6 run dir, as s6-overlay lays it out:
/// `s6-rc/servicedirs/NAME` for s6-rc, `s6/legacy-services/NAME` for services.d, and
/// `s6/legacy-services/NAME/log` for the logger a services.d `NAME/log/` directory defines
/// (s6-svscan's layout). Scripts see it as their cwd: linuxserver's with-contenv applies
/// `UMASK` only when `pwdx` matches `/servicedirs/svc-` or `/run/s6/legacy-services/`.
pub fn live_dir(run_dir: &Path, origin: Origin, name: &str, image_dir: &Path) -> PathBuf {
    if origin == Origin::S6Rc {
        return rc_service_dirs(run_dir).join(name);
    }
    let parent = image_dir.parent().and_then(Path::file_name);
    let tail = match (image_dir.file_name(), parent.and_then(|p| p.to_str())) {
        (Some(log), Some(p)) if log == "log" && name == legacy_logger_name(p) => {
            Path::new(p).join("log")
        }
        _ => PathBuf::from(name),
    };
    legacy_service_dirs(run_dir).join(tail)
}

/// Each translated longrun's live directory under `run_dir` with its directory in the image
/// (None `run_dir`, for `pidone check`: none, they run in the image's directories).
pub(super) fn live_dirs(
    services: &[Service],
    layout: &Layout,
    run_dir: Option<&Path>,
) -> Vec<(PathBuf, PathBuf)> {
    let image_dir = |name: &str| {
        layout.find(name).map(|s| s.dir.clone()).or_else(|| {
            layout
                .services
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.dir.clone())
        })
    };
    services
        .iter()
        .filter(|s| s.kind == Kind::Longrun)
        .filter_map(|s| Some((s.working_dir.clone()?, image_dir(&s.name)?)))
        .filter(|(live, _)| run_dir.is_some_and(|d| live.starts_with(d)))
        .collect()
}
