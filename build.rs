//! Embeds what `pidone version` prints besides the version: the commit the binary was built
//! from (`git rev-parse`, when the source is a git checkout and git is installed; else
//! "unknown") and the target triple.

use std::process::Command;

fn main() {
    // A build without the git checkout (the root Dockerfile's stage) is told the commit by
    // PIDONE_COMMIT (images/build passes it as a build argument).
    println!("cargo:rerun-if-env-changed=PIDONE_COMMIT");
    let given = std::env::var("PIDONE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = given.unwrap_or_else(commit_from_git);
    println!("cargo:rustc-env=PIDONE_COMMIT={commit}");
    println!(
        "cargo:rustc-env=PIDONE_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".into())
    );
    // A commit or a checkout appends to logs/HEAD. (In a
    // worktree `.git` is a file naming the real directory: ask git where it is.)
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok());
    if let Some(dir) = git_dir {
        for file in ["HEAD", "logs/HEAD"] {
            let path = std::path::Path::new(dir.trim()).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// `git rev-parse --short=12 HEAD`, when the source is a git checkout and git is installed.
fn commit_from_git() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
