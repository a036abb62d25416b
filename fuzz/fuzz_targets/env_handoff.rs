//! The `export_env` hand-off file a oneshot (possibly a hostile one) writes for PID 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidone::handoff::{BadLine, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (vars, bad) = parse(text);
    let lines = text.lines().count();
    assert!(vars.len() + bad.len() <= lines);
    for (k, _) in &vars {
        assert!(!k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
    for BadLine(n) in bad {
        assert!(n >= 1 && n <= lines);
    }
});
