//! The hardened images under `images/` (issue 7), tested in real Docker containers by
//! `images/test`: it builds pidone statically and every image, then runs each daemon with
//! `--read-only --tmpfs /run --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges`,
//! as the image's uid and as an arbitrary uid, and probes it with a real client; then every image
//! again under `docker run --init` and under rootless podman (`images/podman-setup` prepares it);
//! `images/k8s/*.yaml` under `podman kube play` (rootless and as root), and each image's start-up
//! log checked for noise.
//!
//! Docker is installed and started by `images/build` when missing (root only). When Docker
//! cannot be made available the test is reported SKIPPED with the reason, unless `PIDONE_REQUIRE_DOCKER=1`
//! (CI), where that is a failure. `PIDONE_SKIP_IMAGES=1` skips the test on purpose.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_docker() -> bool {
    std::env::var("PIDONE_REQUIRE_DOCKER").as_deref() == Ok("1")
}

/// Skip (or fail under PIDONE_REQUIRE_DOCKER=1) with a reason.
fn unavailable(why: &str) {
    if require_docker() {
        panic!("images test: Docker is required (PIDONE_REQUIRE_DOCKER=1) but {why}");
    }
    common::skip_test(&format!(
        "{why} (set PIDONE_REQUIRE_DOCKER=1 to make this a failure)"
    ));
}

fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn images_in_docker() {
    if std::env::var("PIDONE_SKIP_IMAGES").as_deref() == Ok("1") && !require_docker() {
        skip!("PIDONE_SKIP_IMAGES=1");
    }
    let images = repo().join("images");
    let is_root = unsafe { libc::geteuid() } == 0;

    // Make Docker available: images/build installs docker.io and starts dockerd (root only),
    // and creates the debian:bookworm-slim base with debootstrap when it is absent.
    if !docker_answers() && !is_root {
        return unavailable("no Docker daemon answers and this test is not running as root");
    }
    let ensure = Command::new(images.join("build"))
        .arg("--ensure-docker")
        .current_dir(repo())
        .status();
    match ensure {
        Ok(s) if s.success() => {}
        Ok(s) => return unavailable(&format!("`images/build --ensure-docker` failed ({s})")),
        Err(e) => return unavailable(&format!("cannot run images/build: {e}")),
    }

    // The static build of pidone goes to its own target dir so it never waits for the lock of
    // the `cargo test` that runs us, and is reused between runs.
    let target: &Path = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let status = Command::new(images.join("test"))
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", target.join("images-static"))
        .status()
        .expect("run images/test");
    assert!(
        status.success(),
        "images/test failed ({status}): see the FAIL lines above"
    );
}
