//! The unit list the loop starts with: the services, pidone's render step and CMD, and the
//! order they imply (every service after render unless render waits for it, CMD after
//! everything). Separate from the loop because it is built once, from the configuration
//! alone, before anything runs.

use super::state::Role;
use crate::config::Service;

/// The name of the render step's unit in `status` and `logs`: pidone's own step, named by
/// what it does, in a form no service file name can take (`[A-Za-z0-9_.-]+`).
pub const RENDER_UNIT: &str = "(templates)";

/// Build the unit list: the services, the implicit render step, and CMD.
///
/// Render waits for `render_after`; every service waits for render unless render (through
/// `render_after`) waits for it. CMD waits for every service.
pub fn build_units(
    services: Vec<Service>,
    render: Option<(Vec<String>, Service)>,
    cmd: Option<Service>,
) -> Vec<(Service, Role)> {
    let mut units: Vec<(Service, Role)> = Vec::new();
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    if let Some((after, mut render_svc)) = render {
        let mut services = services;
        wait_for_render(&mut services, &after, &render_svc.name);
        render_svc.after = after;
        units.push((render_svc, Role::Render));
        units.extend(services.into_iter().map(|s| (s, Role::Service)));
    } else {
        units.extend(services.into_iter().map(|s| (s, Role::Service)));
    }
    if let Some(mut main) = cmd {
        main.after = names;
        if units.iter().any(|(_, r)| *r == Role::Render) {
            main.after.push(RENDER_UNIT.into());
        }
        units.push((main, Role::Main));
    }
    units
}

/// Every service waits for the render step (`render_name`), except what render itself
/// (transitively, through `render_after`) waits for.
pub(super) fn wait_for_render(
    services: &mut [Service],
    render_after: &[String],
    render_name: &str,
) {
    let mut before_render: Vec<String> = Vec::new();
    let mut todo = render_after.to_vec();
    while let Some(n) = todo.pop() {
        if before_render.contains(&n) {
            continue;
        }
        if let Some(s) = services.iter().find(|s| s.name == n) {
            todo.extend(s.waits_for().cloned());
        }
        before_render.push(n);
    }
    for s in services {
        if !before_render.contains(&s.name) {
            s.after.push(render_name.to_string());
        }
    }
}
