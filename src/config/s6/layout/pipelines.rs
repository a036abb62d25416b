//! Log pipelines among the s6-rc longruns (`producer-for`, `consumer-for`, `pipeline-name`),
//! checked as s6-rc-compile checks them once the whole s6-rc.d tree is read: each file names
//! another service, so no single service's directory can be judged alone.

use super::{BUILTIN, Layout, Problem, RcKind, RcService, problem};

/// The pipeline files of a longrun: (`producer-for`, `consumer-for`, `pipeline-name`).
type PipelineFiles<'a> = (&'a Option<String>, &'a Vec<String>, &'a Option<String>);

pub(super) fn pipeline_files(svc: &RcService) -> Option<PipelineFiles<'_>> {
    match &svc.kind {
        RcKind::Longrun {
            producer_for,
            consumer_for,
            pipeline_name,
            ..
        } => Some((producer_for, consumer_for, pipeline_name)),
        _ => None,
    }
}

fn kind_name(kind: &RcKind) -> &'static str {
    match kind {
        RcKind::Oneshot { .. } => "oneshot",
        RcKind::Longrun { .. } => "longrun",
        RcKind::Bundle { .. } => "bundle",
    }
}

/// Log pipelines, as s6-rc-compile checks them: a producer and its consumer are longruns that
/// name each other (`producer-for` one consumer, `consumer-for` any number of producers), and
/// no pipeline loops. A last consumer's `pipeline-name` becomes a bundle of the whole pipeline.
pub(super) fn check_pipelines(layout: &mut Layout, errors: &mut Vec<Problem>) {
    let before = errors.len();
    for svc in &layout.rc {
        let Some((producer_for, consumer_for, _)) = pipeline_files(svc) else {
            continue;
        };
        if let Some(c) = producer_for {
            check_producer_for(layout, svc, c, errors);
        }
        for p in consumer_for {
            check_consumer_for(layout, svc, p, errors);
        }
    }
    if errors.len() > before {
        return;
    }
    if let Some(found) = pipeline_loop(layout) {
        errors.push(found);
        return;
    }
    let (bundles, ignored) = pipeline_bundles(layout, errors);
    layout.unsupported.extend(ignored);
    layout.rc.extend(bundles);
}

/// `svc`'s `producer-for` names `c`: a longrun whose `consumer-for` names `svc` back.
fn check_producer_for(layout: &Layout, svc: &RcService, c: &str, errors: &mut Vec<Problem>) {
    let name = &svc.name;
    let file = svc.dir.join("producer-for");
    match layout.find(c) {
        None => errors.push(problem(
            &file,
            format!("{name} is a producer for {c:?}, which is not defined in s6-rc.d; add that longrun or remove the file"),
        )),
        Some(t) => match pipeline_files(t) {
            None => errors.push(problem(
                &file,
                format!("{c:?} is a {}; a producer's output can only go to a longrun", kind_name(&t.kind)),
            )),
            Some((_, theirs, _)) if !theirs.contains(name) => errors.push(problem(
                &t.dir.join("consumer-for"),
                format!("{name} is a producer for {c}, which does not declare it back; add {name:?} to this file"),
            )),
            Some(_) => {}
        },
    }
}

/// `svc`'s `consumer-for` names `p`: a longrun whose `producer-for` names `svc` back.
fn check_consumer_for(layout: &Layout, svc: &RcService, p: &str, errors: &mut Vec<Problem>) {
    let name = &svc.name;
    let file = svc.dir.join("consumer-for");
    match layout.find(p) {
        None => errors.push(problem(
            &file,
            format!("{name} is a consumer for {p:?}, which is not defined in s6-rc.d; add that longrun or remove the line"),
        )),
        Some(t) => match pipeline_files(t) {
            None => errors.push(problem(
                &file,
                format!("{p:?} is a {}; only a longrun can produce into a pipeline", kind_name(&t.kind)),
            )),
            Some((theirs, _, _)) if theirs.as_deref() != Some(name.as_str()) => {
                errors.push(problem(
                    &t.dir.join("producer-for"),
                    format!("{name} is a consumer for {p}, which does not declare it back; write {name:?} into this file"),
                ))
            }
            Some(_) => {}
        },
    }
}

/// The first pipeline loop, located at the `producer-for` of the service it was found from.
/// (Producers and consumers are known to name each other.)
fn pipeline_loop(layout: &Layout) -> Option<Problem> {
    // Each producer has one consumer: a loop is found by following producer-for.
    for svc in &layout.rc {
        let mut path = vec![svc.name.clone()];
        let mut current = svc;
        while let Some((Some(next), _, _)) = pipeline_files(current) {
            if next == &svc.name {
                path.push(next.clone());
                return Some(problem(
                    &svc.dir.join("producer-for"),
                    format!(
                        "pipeline loop: {}; a pipeline must end in a consumer that produces for nobody",
                        path.join(" → ")
                    ),
                ));
            }
            if path.contains(next) {
                break; // a loop further on, reported from one of its own members
            }
            path.push(next.clone());
            current = layout.find(next).expect("consumers checked above");
        }
    }
    None
}

/// The bundles the last consumers' `pipeline-name` files define, and the `pipeline-name`
/// files ignored because they are not in a last consumer (warnings).
fn pipeline_bundles(layout: &Layout, errors: &mut Vec<Problem>) -> (Vec<RcService>, Vec<Problem>) {
    let mut bundles: Vec<RcService> = Vec::new();
    let mut ignored = Vec::new();
    for svc in &layout.rc {
        let Some((producer_for, consumer_for, Some(bundle))) = pipeline_files(svc) else {
            continue;
        };
        let file = svc.dir.join("pipeline-name");
        if producer_for.is_some() || consumer_for.is_empty() {
            ignored.push(problem(
                &file,
                "ignored: only the last consumer of a pipeline names it (as s6-rc-compile does)",
            ));
            continue;
        }
        if layout.find(bundle).is_some()
            || BUILTIN.contains(&bundle.as_str())
            || bundles.iter().any(|b| &b.name == bundle)
        {
            errors.push(problem(
                &file,
                format!("names the pipeline {bundle:?}, which is already a service or pipeline; rename one of them"),
            ));
            continue;
        }
        bundles.push(RcService {
            name: bundle.clone(),
            dir: svc.dir.clone(),
            kind: RcKind::Bundle {
                contents: pipeline_members(layout, &svc.name),
            },
            dependencies: Vec::new(),
            timeout_up: None,
            env: Vec::new(),
        });
    }
    (bundles, ignored)
}

/// The consumer and, transitively, everything that produces into it, sorted.
fn pipeline_members(layout: &Layout, consumer: &str) -> Vec<String> {
    let mut contents = vec![consumer.to_string()];
    let mut i = 0;
    while i < contents.len() {
        if let Some((_, producers, _)) = layout.find(&contents[i]).and_then(pipeline_files) {
            for p in producers {
                if !contents.contains(p) {
                    contents.push(p.clone());
                }
            }
        }
        i += 1;
    }
    contents.sort();
    contents
}
