//! The layout as a graph, once every tree is read: every name resolved, no bundle loop, no
//! dependency cycle; and the walks translate.rs builds the start order from (bundles expanded
//! to atomic services, each one's dependencies). It works on s6 names, before any `Service`
//! exists, so a problem is located at the s6 file that made it.

use super::pipelines::pipeline_files;
use super::{BUILTIN, Layout, Problem, RcKind, RcService, problem};
use std::path::Path;

/// Names resolved, bundles without loops, dependencies without cycles.
pub(super) fn check_graph(layout: &Layout, rc_dir: &Path, errors: &mut Vec<Problem>) {
    check_names_defined(layout, rc_dir, errors);
    check_legacy_names(layout, rc_dir, errors);
    if !errors.is_empty() {
        return;
    }
    if let Some(found) = bundle_loop(layout) {
        errors.push(found);
        return;
    }
    if let Some(cycle) = find_cycle(layout) {
        let first = layout.find(&cycle[0]).map(|s| s.dir.clone());
        errors.push(problem(
            &first
                .unwrap_or_else(|| rc_dir.to_path_buf())
                .join("dependencies.d"),
            format!(
                "dependency cycle: {}; remove one of these dependencies",
                cycle.join(" → ")
            ),
        ));
    }
}

/// Every dependency, bundle member and `user`/`user2` member names an s6-rc service or one of
/// s6-overlay's own.
fn check_names_defined(layout: &Layout, rc_dir: &Path, errors: &mut Vec<Problem>) {
    let names: Vec<&str> = layout.rc.iter().map(|s| s.name.as_str()).collect();
    let known = |n: &str| names.contains(&n) || BUILTIN.contains(&n);
    for svc in &layout.rc {
        let (list, what, file) = match &svc.kind {
            RcKind::Bundle { contents } => (contents, "contains", "contents.d"),
            _ => (&svc.dependencies, "depends on", "dependencies.d"),
        };
        for dep in list {
            if !known(dep) {
                errors.push(problem(
                    &svc.dir.join(file).join(dep),
                    format!("{} {what} {dep:?}, which is not defined in {}; add that service or remove the entry", svc.name, rc_dir.display()),
                ));
            }
        }
    }
    for (bundle, list) in [("user", &layout.user), ("user2", &layout.user2)] {
        for m in list {
            if !known(m) {
                errors.push(problem(
                    &rc_dir.join(m),
                    format!("the {bundle} bundle lists {m:?}, which is not defined; add its directory or remove it from the bundle"),
                ));
            }
        }
    }
}

/// Each services.d name (loggers included) is defined once, and not in s6-rc.d too.
fn check_legacy_names(layout: &Layout, rc_dir: &Path, errors: &mut Vec<Problem>) {
    let names: Vec<&str> = layout.rc.iter().map(|s| s.name.as_str()).collect();
    for (i, l) in layout.services.iter().enumerate() {
        // services.d/NAME/log is the service `NAME-log`, which a services.d dir may also be.
        if layout.services[..i].iter().any(|o| o.name == l.name) {
            errors.push(problem(
                &l.dir,
                format!(
                    "{:?} is defined twice in services.d (a NAME/log logger is named NAME-log); rename one of them",
                    l.name
                ),
            ));
        }
        if names.contains(&l.name.as_str()) || l.name == "cont-init.d" {
            errors.push(problem(
                &l.dir,
                format!(
                    "{:?} is also defined in {}; rename one of them",
                    l.name,
                    rc_dir.display()
                ),
            ));
        }
    }
}

/// The first bundle that contains itself, located at its `contents.d`.
fn bundle_loop(layout: &Layout) -> Option<Problem> {
    for svc in &layout.rc {
        if let RcKind::Bundle { .. } = svc.kind
            && let Err(path) = expand(layout, &svc.name)
        {
            return Some(problem(
                &svc.dir.join("contents.d"),
                format!(
                    "bundle loop: {}; a bundle cannot contain itself",
                    path.join(" → ")
                ),
            ));
        }
    }
    None
}

/// carrying the path through the loop.
pub fn expand(layout: &Layout, name: &str) -> Result<Vec<String>, Vec<String>> {
    fn walk(
        layout: &Layout,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Vec<String>> {
        if stack.iter().any(|s| s == name) {
            let mut path = stack.clone();
            path.push(name.to_string());
            return Err(path);
        }
        match layout.find(name) {
            Some(RcService {
                kind: RcKind::Bundle { contents },
                ..
            }) => {
                stack.push(name.to_string());
                for c in contents {
                    walk(layout, c, stack, out)?;
                }
                stack.pop();
            }
            Some(_) if !out.iter().any(|o| o == name) => out.push(name.to_string()),
            _ => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(layout, name, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// Each atomic service with the atomic services it depends on (bundles expanded, built-ins
/// dropped), in the layout's order. (Vectors, not maps: layouts have tens of services, and
/// every new map type is code in the static binary.)
pub type Dependencies = Vec<(String, Vec<String>)>;

pub fn atomic_dependencies(layout: &Layout) -> Dependencies {
    let mut deps = Vec::new();
    for svc in &layout.rc {
        if let RcKind::Bundle { .. } = svc.kind {
            continue;
        }
        let mut list: Vec<String> = Vec::new();
        // A producer depends on its consumer: the consumer is started first (and with it,
        // whenever the producer is wanted) and stopped last.
        let consumer = pipeline_files(svc).and_then(|(c, _, _)| c.as_ref());
        for d in svc.dependencies.iter().chain(consumer) {
            for a in expand(layout, d).unwrap_or_default() {
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        deps.push((svc.name.clone(), list));
    }
    deps
}

/// The dependencies of `name` in `deps` (none for an unknown name).
pub fn dependencies_of<'a>(deps: &'a Dependencies, name: &str) -> &'a [String] {
    deps.iter()
        .find(|(n, _)| n == name)
        .map_or(&[], |(_, d)| d.as_slice())
}

fn find_cycle(layout: &Layout) -> Option<Vec<String>> {
    let deps = atomic_dependencies(layout);
    // per service: 0 unvisited, 1 on the stack, 2 done
    let mut state: Vec<u8> = vec![0; deps.len()];
    fn visit(
        i: usize,
        deps: &Dependencies,
        state: &mut Vec<u8>,
        stack: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        match state[i] {
            2 => return None,
            1 => {
                let start = stack.iter().position(|&s| s == i).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[start..].iter().map(|&s| deps[s].0.clone()).collect();
                cycle.push(deps[i].0.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        stack.push(i);
        for d in &deps[i].1 {
            if let Some(j) = deps.iter().position(|(n, _)| n == d)
                && let Some(c) = visit(j, deps, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    (0..deps.len()).find_map(|i| visit(i, &deps, &mut state, &mut Vec::new()))
}
