//! The TOML readers: the global file (with `[defaults]` and `[render]`) and a service file.
//! Any text must give services or errors, never a panic, a hang or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidone::config::{RawService, parse_global, parse_services};
use std::path::{Path, PathBuf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = match parse_global(Path::new("pidone.toml"), text) {
        Ok(global) => global.defaults,
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let _ = e.to_string();
            }
            RawService::default()
        }
    };
    let sources = vec![
        (PathBuf::from("services.d/a.toml"), text.to_string()),
        (
            PathBuf::from("services.d/b.toml"),
            "command = [\"true\"]\nafter = [\"a\"]\n".to_string(),
        ),
    ];
    match parse_services(&sources, &defaults) {
        Ok(services) => assert_eq!(services.len(), 2),
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let _ = e.to_string();
            }
        }
    }
});
