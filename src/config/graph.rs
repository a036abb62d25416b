//! The dependency graph of a list of validated services, whatever their source: unknown
//! `after` targets and cycles, each reported once at the `after` that causes it.

use super::{ConfigError, Service};
use std::collections::HashMap;
use std::path::PathBuf;

/// Unknown `after` targets and cycles among `services`, from any source. `locate(name)` says
/// where service `name` declares its dependencies (file, and line when there is one), which
/// is where each error is reported.
pub fn check_graph(
    services: &[Service],
    locate: &dyn Fn(&str) -> (PathBuf, Option<usize>),
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    for svc in services {
        let (path, line) = locate(&svc.name);
        for dep in &svc.after {
            if !index.contains_key(dep.as_str()) {
                let mut known: Vec<&str> = index.keys().copied().collect();
                known.sort();
                errors.push(ConfigError {
                    file: path.clone(),
                    line,
                    key: Some("after".into()),
                    message: format!(
                        "unknown service {dep:?}; services are the file names in the services directory: {}",
                        if known.is_empty() { "(none)".into() } else { known.join(", ") }
                    ),
                });
            }
        }
    }
    // Depth-first search with colours; report each cycle once, naming every member.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; services.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        services: &[Service],
        index: &HashMap<&str, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        marks[i] = Mark::Active;
        stack.push(i);
        // The consumer of a service's stdout starts before it, like an `after` entry.
        for dep in services[i].waits_for() {
            let Some(&j) = index.get(dep.as_str()) else {
                continue;
            };
            match marks[j] {
                Mark::New => visit(j, services, index, marks, stack, cycles),
                Mark::Active => {
                    let start = stack.iter().position(|&k| k == j).unwrap_or(0);
                    cycles.push(stack[start..].to_vec());
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
    }
    let mut cycles = Vec::new();
    for i in 0..services.len() {
        if marks[i] == Mark::New {
            visit(i, services, &index, &mut marks, &mut stack, &mut cycles);
        }
    }
    for cycle in cycles {
        let mut names: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
        names.push(names[0]);
        let first = &services[cycle[0]].name;
        let (path, line) = locate(first);
        errors.push(ConfigError {
            file: path,
            line,
            key: Some("after".into()),
            message: format!(
                "dependency cycle: {} (each waits for the next after it, or pipes its stdout to it); remove one of these `after` or `stdout_to` entries",
                names.join(" -> ")
            ),
        });
    }
    errors
}

/// Where service `name` sets `key`: its file, and the line when there is one.
pub type KeyLocator<'a> = dyn Fn(&str, &str) -> (PathBuf, Option<usize>) + 'a;

/// Links that involve scheduled oneshots: `after` naming one (it is never done for good, so
/// nothing could know when to start), and `then_reload` targets (must be longruns that
/// exist). `locate(name, key)` says where service `name` sets `key`.
pub fn check_schedule_links(services: &[Service], locate: &KeyLocator<'_>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    for svc in services {
        for dep in &svc.after {
            if let Some(&d) = index.get(dep.as_str())
                && services[d].schedule.is_some()
            {
                let (file, line) = locate(&svc.name, "after");
                errors.push(ConfigError {
                    file,
                    line,
                    key: Some("after".into()),
                    message: format!(
                        "{dep:?} is a scheduled oneshot; nothing can wait for it (drop it from `after`, or give it no `schedule` to run once at start)"
                    ),
                });
            }
        }
        for target in &svc.then_reload {
            let problem = match index.get(target.as_str()) {
                None => Some("is not a service in the services directory"),
                Some(&t) if services[t].kind == super::Kind::Oneshot => {
                    Some("is a oneshot; only a longrun can be reloaded")
                }
                Some(_) => None,
            };
            if let Some(problem) = problem {
                let (file, line) = locate(&svc.name, "then_reload");
                errors.push(ConfigError {
                    file,
                    line,
                    key: Some("then_reload".into()),
                    message: format!("{target:?} {problem}"),
                });
            }
        }
    }
    errors
}

/// `stdout_to` targets: a longrun that exists (a oneshot would
/// never see the end of its input: pidone holds the write end while producers may run).
/// Cycles through `stdout_to` are reported by `check_graph`. `locate(name, key)` says where
/// service `name` sets `key`.
pub fn check_pipes(services: &[Service], locate: &KeyLocator<'_>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for svc in services {
        let Some(target) = &svc.stdout_to else {
            continue;
        };
        let problem = match services.iter().find(|s| &s.name == target) {
            None => "is not a service in the services directory",
            Some(t) if t.kind == super::Kind::Oneshot => {
                "is a oneshot; the service reading the output must be a longrun"
            }
            Some(_) => continue,
        };
        let (file, line) = locate(&svc.name, "stdout_to");
        errors.push(ConfigError {
            file,
            line,
            key: Some("stdout_to".into()),
            message: format!("{target:?} {problem}"),
        });
    }
    errors
}
