//! The control socket: a client's request bytes (parsed, then answered against live state),
//! and a server's answer as the client parses it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidone::config::{Kind, Service};
use pidone::control::{Incoming, parse_reply, parse_request};
use pidone::supervisor::requests::answer;
use pidone::supervisor::state::{Core, Role};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(&String::from_utf8_lossy(data));
    let Incoming::Complete(request) = parse_request(data) else {
        return;
    };
    let units = vec![
        (
            Service::with_defaults("init", vec!["true".into()], Kind::Oneshot),
            Role::Service,
        ),
        (
            Service::with_defaults("web", vec!["sleep".into(), "1".into()], Kind::Longrun),
            Role::Service,
        ),
    ];
    let mut core = Core::new(units, false);
    let now = Instant::now();
    let reply = answer(&mut core, &request, now);
    assert!(!reply.data.contains('\n'), "data must be one line");
    // A second request against the changed state (start/stop/restart act on it).
    let _ = answer(&mut core, &request, now);
    let _ = core.step(now);
});
