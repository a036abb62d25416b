//! s6-overlay drop-in, the runtime side (the layout is read by `config::s6`). In the order
//! of a start:
//! - `front.rs`: the s6 mode's one door, which `app` asks once per stage: an s6 command
//!   rather than a start? a layout to run? what the drop, the services and the exit code
//!   need from it;
//! - `hook.rs`: `S6_STAGE2_HOOK`, run before the layout is read;
//! - this file: where the s6 mode reads and writes (`S6Paths`, `shim_dir`, `scan_dir`) and
//!   the container environment as its services get it (`s6_container_env`);
//! - `runtime.rs`: `write_runtime`, after the privilege drop, the files scripts expect under
//!   `/run` — data only: nothing is copied to `/run` and executed from there, as `/run` is
//!   often a noexec tmpfs (s6-overlay #397): the container environment
//!   (`write_container_environment`, also called before S6_STAGE2_HOOK), each longrun's live
//!   directory (its cwd, laid out as s6-overlay's: `/run/s6-rc/servicedirs/NAME` or
//!   `/run/s6/legacy-services/NAME`, holding links to its files in the image, with
//!   `/run/service/NAME` linking to it), the exitcode file, `halt`;
//! - `scripts.rs`: `run_scripts`, the cont-init.d stage, one script after the other, and the
//!   fork/wait helpers the shims share;
//! - `shims.rs`: the commands scripts call (`with-contenv`, `s6-svc`, ...) answered by pidone's
//!   own binary, dispatched on `argv[0]`, so an image may delete s6-overlay;
//! - `link.rs`: `pidone s6-shims DIR`, which links those names in an image.

pub mod front;
pub mod hook;
pub mod link;
mod runtime;
mod scripts;
pub mod shims;

pub use runtime::{write_container_environment, write_runtime};
pub use scripts::{fork_exec, run_scripts, wait_child};

use crate::cli::Options;
use crate::config::s6::translate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// pidone's shims in the run tree: symlinks to its binary on the image, which execute even
/// on a noexec `/run` (the kernel checks the mount of the binary, not of the link).
pub fn shim_dir(base: &Path) -> PathBuf {
    base.join("s6/pidone-shims")
}

/// s6's scan directory, `/run/service`: `NAME` there links to each longrun's live directory,
/// as s6-rc and s6-overlay's services-up link it.
pub fn scan_dir(base: &Path) -> PathBuf {
    base.join("service")
}

/// Where the s6 mode reads and writes: the layout's root, the runtime base (`/run`), the
/// image's `/command`.
pub struct S6Paths {
    pub root: PathBuf,
    /// Base of the runtime files (`/run`).
    pub base: PathBuf,
    /// Where the image's `/command` is (PIDONE_S6_COMMAND_DIR, for tests and for images
    /// that keep the shims elsewhere).
    pub command_dir: PathBuf,
}

impl S6Paths {
    pub fn of(opts: &Options) -> S6Paths {
        S6Paths {
            root: opts.s6_root.clone().unwrap_or_else(|| "/".into()),
            base: opts.s6_run_dir.clone().unwrap_or_else(|| "/run".into()),
            command_dir: std::env::var_os("PIDONE_S6_COMMAND_DIR")
                .map_or_else(|| PathBuf::from("/command"), PathBuf::from),
        }
    }
}

/// The container environment as s6 services start with it: `env` with their `PATH` (scripts
/// after with-contenv still find s6-svc by name).
pub fn s6_container_env(
    env: &BTreeMap<String, String>,
    paths: &S6Paths,
) -> BTreeMap<String, String> {
    let mut contenv = env.clone();
    // Where the shims (with-contenv in a hook included) find the runtime files.
    contenv.insert("PIDONE_S6_RUN_DIR".into(), paths.base.display().to_string());
    let shims = shim_dir(&paths.base);
    contenv.insert(
        "PATH".into(),
        translate::service_path(Some(&shims), &paths.command_dir),
    );
    contenv
}
