//! The template path with hostile env values and templates: compile, render and error
//! reporting (the redaction of secrets included).
//!
//! Input: `TEMPLATE \0 KEY=VALUE\n...`. The env always holds `DB_PASSWORD` (a secret by its
//! name); besides "no panic", the target checks the promise of `render/taint.rs`: when neither
//! the template text nor another env value contains the secret, no error message does, nor
//! its lower-cased form (`b.conf` lower-cases it). Non-secret values are shown as they are,
//! so a secret that is also another variable's value, or that reads like the fixed words of
//! a message, cannot be checked: the secret must be 8+ letters and digits, both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, env_text) = text.split_once('\0').unwrap_or((text, ""));
    // Loops over ranges are the template author's business (templates ship in the image);
    // they would only make the fuzzer time out on Tera doing what it was told.
    if template.len() > 2048 || template.contains("range") {
        return;
    }
    let mut env = BTreeMap::new();
    for line in env_text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let secret = env
        .entry("DB_PASSWORD".to_string())
        .or_insert_with(|| "Sw0rdf1shX".to_string())
        .clone();
    let templates: BTreeMap<String, String> = [
        ("a.conf".to_string(), template.to_string()),
        (
            "b.conf".to_string(),
            "{% include \"a.conf\" %}{{ env.DB_PASSWORD | lower }}".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    if let Err(errors) = pidone::render::render_texts(&templates, &env) {
        let lower = secret.to_ascii_lowercase();
        let checkable = secret.len() >= 8
            && secret.bytes().all(|b| b.is_ascii_alphanumeric())
            && secret.bytes().any(|b| b.is_ascii_digit())
            && secret.bytes().any(|b| b.is_ascii_alphabetic())
            && !template.to_ascii_lowercase().contains(&lower)
            && env
                .iter()
                .filter(|(k, _)| k.as_str() != "DB_PASSWORD")
                .all(|(k, v)| {
                    !v.to_ascii_lowercase().contains(&lower)
                        && !k.to_ascii_lowercase().contains(&lower)
                });
        for e in &errors {
            if checkable {
                assert!(
                    !e.0.to_ascii_lowercase()
                        .contains(&secret.to_ascii_lowercase()),
                    "secret leaked: {}",
                    e.0
                );
            }
        }
    }
});
