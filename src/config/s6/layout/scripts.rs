//! How a layout's commands run: a script file as the argv pidone spawns (its `#!` line read by
//! pidone, `/command/X` remapped), and an `up`/`down` file as one execline command line. Apart
//! from the trees that hold them: cont-init.d, services.d and s6-rc.d scripts obey the same
//! rules, and the runtime (`crate::s6`) runs cont-init.d scripts through `script_argv` too.

use super::files::FILE_LIMIT;
use super::{Problem, Script, problem};
use crate::safe_read::{self, Symlinks};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(super) fn optional_script(
    path: &Path,
    command_dir: &Path,
    errors: &mut Vec<Problem>,
) -> Option<Script> {
    if std::fs::symlink_metadata(path).is_err() {
        return None;
    }
    script_argv(path, command_dir)
        .map_err(|e| errors.push(e))
        .ok()
}

/// The argv that runs a script file. A `#!` line is honoured by pidone itself (interpreter,
/// its one optional argument, the file), so the script need not be executable; without one
/// the file must be an executable (a binary).
pub fn script_argv(path: &Path, command_dir: &Path) -> Result<Script, Problem> {
    let bytes = safe_read::read(path, FILE_LIMIT, Symlinks::Follow).map_err(|e| {
        problem(
            path,
            format!("cannot read the script ({e}); it must be a readable regular file"),
        )
    })?;
    let file = path.display().to_string();
    let argv = match shebang(&bytes) {
        Some((interp, arg)) => {
            let mut argv = vec![remap_command(&interp, command_dir)];
            argv.extend(arg);
            argv.push(file);
            argv
        }
        None => {
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode());
            if mode.is_ok_and(|m| m & 0o111 != 0) {
                vec![file]
            } else {
                return Err(problem(
                    path,
                    "the script has no #! line and is not executable; add a #! line (for example #!/bin/sh) or chmod +x it",
                ));
            }
        }
    };
    Ok(Script {
        path: path.to_path_buf(),
        argv,
    })
}

/// Linux's reading of `#!`: the interpreter, then the rest of the line as one argument.
fn shebang(bytes: &[u8]) -> Option<(String, Option<String>)> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    (!interp.is_empty()).then(|| (interp.to_string(), arg))
}

/// `/command/X` → `<command_dir>/X` when the shims live elsewhere.
fn remap_command(interp: &str, command_dir: &Path) -> String {
    match interp.strip_prefix("/command/") {
        Some(name) if command_dir != Path::new("/command") => {
            command_dir.join(name).display().to_string()
        }
        _ => interp.to_string(),
    }
}

/// An `up`/`down` file: one execline command line. Comments only → None (nothing to run).
/// Plain words starting with an absolute path run as they are; anything else (blocks, quotes,
/// substitutions) through `execlineb -Pc` when the image has it.
pub fn parse_line(text: &str, execlineb: Option<&Path>) -> Result<Option<Vec<String>>, String> {
    let code: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if code.is_empty() {
        return Ok(None);
    }
    let special = |c: char| "{}\"'$\\;#`".contains(c);
    if code.len() == 1 && !code[0].contains(special) && code[0].starts_with('/') {
        return Ok(Some(code[0].split_whitespace().map(String::from).collect()));
    }
    match execlineb {
        Some(exe) => Ok(Some(vec![
            exe.display().to_string(),
            "-Pc".into(),
            code.join("\n"),
        ])),
        None => Err(
            "this line needs execline's execlineb, which the image does not have; make the file a single absolute path to a script, or install execline (Debian: apt-get install execline)".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn up_lines_plain_comment_only_and_execline() {
        assert_eq!(parse_line("# nothing\n\n", None), Ok(None));
        assert_eq!(
            parse_line("/usr/bin/setup --fast\n", None),
            Ok(Some(vec!["/usr/bin/setup".into(), "--fast".into()]))
        );
        let e = parse_line("foreground { echo hi }", None).unwrap_err();
        assert!(e.contains("execlineb"), "{e}");
        assert_eq!(
            parse_line(
                "foreground { echo hi }",
                Some(Path::new("/usr/bin/execlineb"))
            ),
            Ok(Some(vec![
                "/usr/bin/execlineb".into(),
                "-Pc".into(),
                "foreground { echo hi }".into()
            ]))
        );
        // a bare word is looked up by execline's rules, not ours
        assert!(parse_line("echo hi", None).is_err());
    }

    #[test]
    fn script_without_exec_bit_runs_through_its_shebang() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "run", "#!/bin/sh -e\nexec sleep 1\n", 0o644);
        let s = script_argv(&t.path().join("run"), Path::new("/command")).unwrap();
        assert_eq!(s.argv[..2], ["/bin/sh".to_string(), "-e".to_string()]);
        write(t.path(), "bin", "\x7fELF", 0o644);
        let e = script_argv(&t.path().join("bin"), Path::new("/command")).unwrap_err();
        assert!(e.message.contains("not executable"), "{e}");
        write(t.path(), "wc", "#!/command/with-contenv bash\n", 0o755);
        let s = script_argv(&t.path().join("wc"), Path::new("/opt/shims")).unwrap();
        assert_eq!(
            s.argv[..2],
            ["/opt/shims/with-contenv".to_string(), "bash".to_string()]
        );
    }
}
