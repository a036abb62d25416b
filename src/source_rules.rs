//! The rules the source keeps, checked by reading `src/` (docs/architecture.md, "Rules the
//! source keeps"). A rule that only lives in a document drifts; these fail the build's tests
//! the day a change breaks one, naming the file and line:
//! - the stage order (`RANKS`): a module uses only modules of its own rank or below;
//! - no function over `MAX_FN_LINES` lines, no file over `MAX_CODE_LINES` lines of code;
//! - no import circle between modules (a child using its parent's items is not a circle:
//!   the parent is the folder's public face).
//!
//! Test code (an inline `#[cfg(test)] mod … { … }` block, or a file declared under
//! `#[cfg(test)]`) is left out of all three: a test may borrow a helper from anywhere and
//! be as long as its scenario.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stage order as data: a module may use modules of its own rank or below, never one
/// above (docs/architecture.md). Rank 0 is the shared vocabulary every stage may use.
const RANKS: &[(&str, u8)] = &[
    ("exit", 0),
    ("values", 0),
    ("program", 0),
    ("log", 0),
    ("json", 0),
    ("output", 0),
    ("safe_read", 0),
    ("signals", 0),
    ("users", 0),
    ("rundir", 0),
    ("handoff", 0),
    ("schedule", 0),
    ("session", 0),
    ("cli", 1),
    ("config", 2),
    ("privilege", 3),
    ("render", 4),
    ("spawn", 5),
    ("probe", 5),
    ("supervisor", 6),
    ("control", 6),
    ("app", 7),
    // the s6 runtime: its shims are control clients
    ("s6", 7),
];

/// Longer than this and a function stops being readable in one screen or two; split it into
/// named steps.
const MAX_FN_LINES: usize = 120;
/// Lines of code (not blank, not a comment) of one file, its test module aside.
const MAX_CODE_LINES: usize = 800;

/// A module path inside the crate: `["render", "checks"]` for src/render/checks.rs, `[]` for
/// the crate root.
type ModPath = Vec<String>;

/// One source file with its test code blanked out (lines kept, so numbers stay true).
struct Source {
    /// Path under `src/`, for messages.
    rel: String,
    module: ModPath,
    /// The file's lines; test blocks and comment lines are empty strings.
    code: Vec<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &Path) -> ModPath {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The names of modules a file declares under `#[cfg(test)]` (`#[cfg(test)] mod tests;`).
fn test_children(lines: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in lines.windows(2) {
        let next = pair[1].trim();
        if pair[0].trim() == "#[cfg(test)]" && next.ends_with(';') {
            let name = next.trim_start_matches("pub ").trim_start_matches("mod ");
            out.push(name.trim_end_matches(';').to_string());
        }
    }
    out
}

/// Blanks inline test blocks (`#[cfg(test)]` + `mod x {` … the `}` at the same indent) and
/// comment lines.
fn code_lines(lines: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut i = 0;
    while i + 1 < lines.len() {
        let next = lines[i + 1];
        let indent = &next[..next.len() - next.trim_start().len()];
        let opens_test_block = lines[i].trim() == "#[cfg(test)]"
            && next.trim_start().starts_with("mod ")
            && next.trim_end().ends_with('{');
        if opens_test_block {
            let close = format!("{indent}}}");
            let end = (i + 2..lines.len())
                .find(|&k| lines[k] == close)
                .unwrap_or(lines.len() - 1);
            for line in &mut out[i..=end] {
                line.clear();
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    for line in &mut out {
        if line.trim_start().starts_with("//") {
            line.clear();
        }
    }
    out
}

/// Every non-test source file under `src/`.
fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut texts = Vec::new();
    let mut test_modules: BTreeSet<ModPath> = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        let text = std::fs::read_to_string(file).unwrap();
        let module = module_of(&rel);
        let lines: Vec<&str> = text.lines().collect();
        for child in test_children(&lines) {
            let mut path = module.clone();
            path.push(child);
            test_modules.insert(path);
        }
        texts.push((rel, module, text));
    }
    texts
        .into_iter()
        .filter(|(_, module, _)| !test_modules.iter().any(|t| module.starts_with(t)))
        .map(|(rel, module, text)| {
            let lines: Vec<&str> = text.lines().collect();
            Source {
                rel: rel.display().to_string(),
                module,
                code: code_lines(&lines),
            }
        })
        .collect()
}

fn rank(module: &str) -> u8 {
    RANKS
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| panic!("module {module:?} has no rank in source_rules.rs RANKS"))
        .1
}

/// Every `crate::NAME` in every source file (`use` lines and inline paths) names a module at
/// the file's own rank or below.
#[test]
fn no_module_uses_a_later_stage() {
    let mut wrong = Vec::new();
    for file in sources() {
        let Some(top) = file.module.first() else {
            continue; // lib.rs and main.rs sit above every stage
        };
        let own = rank(top);
        for (n, line) in file.code.iter().enumerate() {
            for part in line.split("crate::").skip(1) {
                let used: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used.is_empty() || RANKS.iter().all(|(m, _)| *m != used) {
                    continue;
                }
                if rank(&used) > own {
                    wrong.push(format!("{}:{}: {top} uses {used}", file.rel, n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports up the stage order:\n{}",
        wrong.join("\n")
    );
}

/// Where a function's body ends, when `start` is the line of its `fn`: `Some(last line)`, or
/// None for a declaration without a body. Relies on rustfmt: a body that spans lines closes
/// with `}` at the indent of its `fn`.
fn function_end(code: &[String], start: usize) -> Option<usize> {
    let indent = &code[start][..code[start].len() - code[start].trim_start().len()];
    let close = format!("{indent}}}");
    for (j, line) in code.iter().enumerate().skip(start) {
        let line = line.trim_end();
        if line.ends_with('{') {
            return (j + 1..code.len()).find(|&k| code[k] == close);
        }
        if line.contains('{') {
            return Some(j); // a body on one line
        }
        if line.ends_with(';') {
            return None;
        }
    }
    None
}

/// The name of the function a line starts, if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "unsafe ",
        "extern \"C\" ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn no_function_is_over_the_limit() {
    let mut long = Vec::new();
    for file in sources() {
        for (i, line) in file.code.iter().enumerate() {
            let Some(name) = function_name(line) else {
                continue;
            };
            if let Some(end) = function_end(&file.code, i) {
                let lines = end - i + 1;
                if lines > MAX_FN_LINES {
                    long.push(format!("{}:{}: {name} has {lines} lines", file.rel, i + 1));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn no_file_is_over_the_limit() {
    let mut big = Vec::new();
    for file in sources() {
        let lines = file.code.iter().filter(|l| !l.trim().is_empty()).count();
        if lines > MAX_CODE_LINES {
            big.push(format!("{}: {lines} lines of code", file.rel));
        }
    }
    assert!(
        big.is_empty(),
        "files over {MAX_CODE_LINES} lines of code (split them by concern):\n{}",
        big.join("\n")
    );
}

/// The paths a `crate::`, `super::` or `self::` path at `text[at..]` names, its `{a, b::c}`
/// groups expanded: `super::{x, y::z}` gives `[super, x]` and `[super, y, z]`.
fn paths_at(text: &[char], at: &mut usize) -> Vec<Vec<String>> {
    let skip_space = |at: &mut usize| {
        while *at < text.len() && text[*at].is_whitespace() {
            *at += 1;
        }
    };
    let mut prefix = Vec::new();
    loop {
        skip_space(at);
        if *at < text.len() && text[*at] == '{' {
            *at += 1;
            let mut out = Vec::new();
            loop {
                skip_space(at);
                if *at >= text.len() || text[*at] == '}' {
                    *at += 1;
                    return out;
                }
                for tail in paths_at(text, at) {
                    let mut path = prefix.clone();
                    path.extend(tail);
                    out.push(path);
                }
                skip_space(at);
                if *at < text.len() && text[*at] == ',' {
                    *at += 1;
                }
            }
        }
        let start = *at;
        while *at < text.len() && (text[*at].is_ascii_alphanumeric() || text[*at] == '_') {
            *at += 1;
        }
        let segment: String = text[start..*at].iter().collect();
        if segment.is_empty() {
            return vec![prefix];
        }
        prefix.push(segment);
        if text[*at..].starts_with(&[':', ':']) {
            *at += 2;
        } else {
            return vec![prefix];
        }
    }
}

/// Each `crate::`/`super::`/`self::` path of a file resolved against its own module:
/// (absolute path, line number).
fn paths_used(file: &Source) -> Vec<(ModPath, usize)> {
    let text: Vec<char> = file.code.join("\n").chars().collect();
    let mut out = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let starts_path = ["crate::", "super::", "self::"].iter().any(|p| {
            text[at..].starts_with(&p.chars().collect::<Vec<_>>())
                && (at == 0
                    || !(text[at - 1].is_ascii_alphanumeric() || ":_".contains(text[at - 1])))
        });
        if !starts_path {
            at += 1;
            continue;
        }
        let line = text[..at].iter().filter(|c| **c == '\n').count() + 1;
        for path in paths_at(&text, &mut at) {
            let mut absolute = file.module.clone();
            for segment in path {
                match segment.as_str() {
                    "crate" => absolute.clear(),
                    "self" => {}
                    "super" => {
                        absolute.pop();
                    }
                    _ => absolute.push(segment),
                }
            }
            out.push((absolute, line));
        }
    }
    out
}

/// Module → modules it uses (edge → where first seen), leaving out a module's use of itself
/// and of its ancestors.
fn module_graph(files: &[Source]) -> BTreeMap<ModPath, BTreeMap<ModPath, String>> {
    let modules: BTreeSet<&ModPath> = files.iter().map(|f| &f.module).collect();
    let mut graph: BTreeMap<ModPath, BTreeMap<ModPath, String>> = BTreeMap::new();
    for file in files {
        for (path, line) in paths_used(file) {
            let Some(target) = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            if file.module.starts_with(&target) {
                continue;
            }
            graph
                .entry(file.module.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| format!("{}:{line}", file.rel));
        }
    }
    graph
}

fn reachable(
    graph: &BTreeMap<ModPath, BTreeMap<ModPath, String>>,
    from: &ModPath,
) -> BTreeSet<ModPath> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.clone()];
    while let Some(m) = todo.pop() {
        for next in graph.get(&m).into_iter().flat_map(|e| e.keys()) {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_import_circle() {
    let files = sources();
    let graph = module_graph(&files);
    let mut circles = Vec::new();
    for (module, edges) in &graph {
        for (target, at) in edges {
            if reachable(&graph, target).contains(module) {
                circles.push(format!(
                    "{} uses {} ({at}), which leads back to it",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles (move what both need to one side or into a file of its own):\n{}",
        circles.join("\n")
    );
}

/// The rules above catch what they claim: each finds a planted case.
#[test]
fn the_rules_find_what_they_look_for() {
    let planted = "fn long() {\n".to_string() + &"    x();\n".repeat(MAX_FN_LINES) + "}\n";
    let lines: Vec<&str> = planted.lines().collect();
    let code = code_lines(&lines);
    assert_eq!(function_name(&code[0]), Some("long"));
    assert_eq!(function_end(&code, 0), Some(MAX_FN_LINES + 1));
    let one_liner = vec!["    pub fn name(&self) -> &str { &self.name }".to_string()];
    assert_eq!(function_end(&one_liner, 0), Some(0));

    let with_tests = [
        "fn a() {}",
        "#[cfg(test)]",
        "mod tests {",
        "    fn t() {}",
        "}",
        "fn b() {}",
    ];
    let kept: Vec<String> = code_lines(&with_tests)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(kept, ["fn a() {}", "fn b() {}"]);

    let file = Source {
        rel: "render/checks.rs".into(),
        module: vec!["render".into(), "checks".into()],
        code: vec![
            "use super::helpers::{go_parse_bool, parse_int};".into(),
            "use crate::{log, values::{self, Duration}};".into(),
            "use super::Error;".into(),
        ],
    };
    let used: Vec<ModPath> = paths_used(&file).into_iter().map(|(p, _)| p).collect();
    let names: Vec<String> = used.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        names,
        [
            "render::helpers::go_parse_bool",
            "render::helpers::parse_int",
            "log",
            "values",
            "values::Duration",
            "render::Error"
        ]
    );
    let other = Source {
        rel: "render/helpers.rs".into(),
        module: vec!["render".into(), "helpers".into()],
        code: vec!["    tera.register_filter(\"check\", super::checks::check_filter);".into()],
    };
    let parent = Source {
        rel: "render/mod.rs".into(),
        module: vec!["render".into()],
        code: vec![],
    };
    let graph = module_graph(&[file, other, parent]);
    let checks = vec!["render".to_string(), "checks".to_string()];
    assert!(reachable(&graph, &checks).contains(&checks), "{graph:?}");
}
