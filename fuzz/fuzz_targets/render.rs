//! The template path with hostile env values and templates: compile, render and error
//! reporting (the redaction of secrets included).
//!
//! Input: `TEMPLATE \0 KEY=VALUE\n...`. The env always holds `DB_PASSWORD` (a secret by its
//! name); besides "no panic", the target checks the redaction promise: when the template text
//! does not itself contain the secret, no error message does.
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
        let checkable = secret.len() >= 4
            && secret.bytes().all(|b| b.is_ascii_alphanumeric())
            && !template
                .to_ascii_lowercase()
                .contains(&secret.to_ascii_lowercase());
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
