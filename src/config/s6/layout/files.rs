//! The small files of a layout, read safely: a directory's names, a file's text, a number, a
//! list of names. Every tree reader uses them, so each file is read the same way (size-capped,
//! non-blocking) and each problem is located at its path the same way.

use super::{Problem, problem};
use crate::safe_read::{self, Symlinks};
use std::path::Path;
use std::time::Duration;

/// One file of a layout is at most this big: scripts and one-line settings. A run script of a
/// megabyte is a mistake (or a device someone linked there), not something to load.
pub(super) const FILE_LIMIT: u64 = 1024 * 1024;

/// Sorted names in `dir` (absent: none), without dot files: s6-rc and s6-overlay skip them,
/// and editors leave them behind.
pub(super) fn entries(dir: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(problem(dir, format!("cannot list the directory: {e}")));
            return Vec::new();
        }
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

pub(super) fn read_text(path: &Path) -> std::io::Result<String> {
    safe_read::read_to_string(path, FILE_LIMIT, Symlinks::Follow)
}

/// A file's text when it exists; an unreadable one is an error.
pub(super) fn optional_text(path: &Path, errors: &mut Vec<Problem>) -> Option<String> {
    match read_text(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            errors.push(problem(path, format!("cannot read the file: {e}")));
            None
        }
    }
}

pub(super) fn read_number(path: &Path, errors: &mut Vec<Problem>) -> Option<u64> {
    let text = optional_text(path, errors)?;
    match text.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(problem(
                path,
                format!("expected a number, found {:?}", text.trim()),
            ));
            None
        }
    }
}

pub(super) fn fd_number(path: &Path, n: u64, errors: &mut Vec<Problem>) -> Option<i32> {
    // 0-2 are the service's stdio; s6 refuses them too.
    if (3..=1024).contains(&n) {
        Some(n as i32)
    } else {
        errors.push(problem(
            path,
            format!("notification fd {n} is not usable; use a number from 3 to 1024"),
        ));
        None
    }
}

pub(super) fn millis(path: &Path, errors: &mut Vec<Problem>) -> Option<Duration> {
    read_number(path, errors)
        .filter(|&n| n > 0)
        .map(Duration::from_millis)
}

/// Names listed one per line in a file (`dependencies`, `contents`) and as entries of a
/// directory (`dependencies.d`, `contents.d`).
pub(super) fn name_list(file: &Path, dir: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    let mut names = entries(dir, errors);
    names.extend(names_in(file, errors));
    names.sort();
    names.dedup();
    names
}

/// The names listed one per line in `file` (absent: none); `#` lines are comments.
pub(super) fn names_in(file: &Path, errors: &mut Vec<Problem>) -> Vec<String> {
    optional_text(file, errors)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `producer-for` and `pipeline-name`: one name.
pub(super) fn one_name(file: &Path, errors: &mut Vec<Problem>) -> Option<String> {
    let mut names = names_in(file, errors);
    if names.len() > 1 {
        errors.push(problem(
            file,
            format!("holds {} names; write exactly one", names.len()),
        ));
        return None;
    }
    names.pop()
}
