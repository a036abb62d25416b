//! Which templates can see a secret, read from their source before anything is rendered.
//!
//! Redacting secrets out of finished messages cannot work: a template derives new text from a
//! secret (`| b64encode`, `| truncate(length=7)`, `| replace`, `| split | first`) that no list
//! of needles contains, and the needles themselves redact harmless text (a secret `true`, a
//! directory name). So pidone decides per template instead: a template that can read a secret
//! is *tainted*, and `report` builds its error messages only from the template's own text
//! (file, line, column, variable and filter names) and fixed words, never from anything Tera
//! or a filter computed. Other templates cannot hold a secret, so their messages are shown as
//! they are, values included.
//!
//! The analysis errs on the side of tainting: it scans the whole text (literal text, comments
//! and strings too, so no disagreement with Tera's lexer can hide a read), and anything it does
//! not recognise as a plain read of a harmless variable counts as a read of a secret. A template
//! reads a secret when it mentions:
//! - `secrets` (when the secrets dir holds any file);
//! - `env.NAME` or `env?.NAME` where NAME holds a secret (see `context::Resolved::secret_env`);
//! - `env` in any other way (`env[...]`, `for k, v in env`, `env | ...`, `set e = env`, a
//!   component's `@env`), or `__tera_context` (Tera's dump of everything), when any env var
//!   holds a secret.
//!
//! Rendering one template can run another's code: `include`, `extends`, and components (defined
//! in any template, called with `<name ...>`). When any template reads a secret, every template
//! that can reach another one is tainted too.

use std::collections::{BTreeMap, BTreeSet};

/// What counts as a secret in this run.
pub(crate) struct SecretSources<'a> {
    /// Names of the env vars whose values are secrets.
    pub env: &'a BTreeSet<String>,
    /// Whether the secrets dir holds any file.
    pub secrets_dir: bool,
}

/// The names of the templates (keys of `texts`) whose errors must not show values.
pub(crate) fn tainted<'a>(
    texts: impl Iterator<Item = (&'a String, &'a str)> + Clone,
    secrets: &SecretSources,
) -> BTreeSet<String> {
    let readers: BTreeSet<String> = texts
        .clone()
        .filter(|(_, text)| reads_secret(text, secrets))
        .map(|(name, _)| name.clone())
        .collect();
    if readers.is_empty() {
        return readers;
    }
    let components = texts.clone().any(|(_, text)| has_word(text, "component"));
    let mut all = readers;
    all.extend(
        texts
            .filter(|(_, text)| reaches_other_templates(text, components))
            .map(|(name, _)| name.clone()),
    );
    all
}

/// A byte that may continue an identifier as far as this analysis is concerned. Non-ASCII
/// bytes count: treating more bytes as identifier bytes only finds more occurrences of `env`.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii()
}

/// Byte offsets just past each occurrence of `word` that is not part of a longer identifier.
fn word_ends<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    let b = text.as_bytes();
    text.match_indices(word).filter_map(move |(at, _)| {
        let end = at + word.len();
        let before_ok = at == 0 || !is_ident_byte(b[at - 1]);
        let after_ok = end == b.len() || !is_ident_byte(b[end]);
        (before_ok && after_ok).then_some(end)
    })
}

fn has_word(text: &str, word: &str) -> bool {
    word_ends(text, word).next().is_some()
}

fn reads_secret(text: &str, secrets: &SecretSources) -> bool {
    if secrets.secrets_dir && has_word(text, "secrets") {
        return true;
    }
    if secrets.env.is_empty() {
        return false;
    }
    if has_word(text, "__tera_context") {
        return true;
    }
    word_ends(text, "env").any(|end| match attribute_after(text, end) {
        Some(name) => secrets.env.contains(name),
        // Not a plain `env.NAME`: the whole env (or an entry chosen at render time) is used.
        None => true,
    })
}

/// The NAME of `env.NAME` / `env?.NAME` (whitespace allowed around the dot) when `text` at
/// `at` continues that way with a plain ASCII name; None for anything else.
fn attribute_after(text: &str, at: usize) -> Option<&str> {
    let b = text.as_bytes();
    let skip_space = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_space(at);
    if b.get(i) == Some(&b'?') {
        i += 1;
    }
    if b.get(i) != Some(&b'.') {
        return None;
    }
    let start = skip_space(i + 1);
    let mut end = start;
    while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
        end += 1;
    }
    // A non-ASCII byte right after would make Tera read a longer name than we did.
    if end == start || b.get(end).is_some_and(|c| !c.is_ascii()) {
        return None;
    }
    Some(&text[start..end])
}

/// Can rendering this template run another template's code?
fn reaches_other_templates(text: &str, components_defined: bool) -> bool {
    has_word(text, "include")
        || has_word(text, "extends")
        || (components_defined && text.contains('<'))
}

/// The texts of a map of sources, for [`tainted`].
pub(crate) fn texts_of<T>(
    sources: &BTreeMap<String, T>,
    text: impl Fn(&T) -> &str + Copy,
) -> impl Iterator<Item = (&String, &str)> + Clone {
    sources.iter().map(move |(n, s)| (n, text(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn reads(text: &str) -> bool {
        let env = names(&["DB_PASSWORD", "API"]);
        reads_secret(
            text,
            &SecretSources {
                env: &env,
                secrets_dir: true,
            },
        )
    }

    #[test]
    fn plain_reads_of_harmless_variables_are_not_secret_reads() {
        for harmless in [
            "{{ env.HOST }}",
            "{{ env . HOST | upper }}",
            "{{ env?.APIX }}",
            "{{ environment }} {{ myenv.API }} {{ env_API }}",
            "{{ env.DB_PASSWORD_FILE }}",
            "plain text",
        ] {
            assert!(!reads(harmless), "{harmless}");
        }
    }

    #[test]
    fn every_way_to_a_secret_is_a_secret_read() {
        for secret in [
            "{{ env.DB_PASSWORD }}",
            "{{ env .API }}",
            "{{ env?.API | lower }}",
            "{{ env['API'] }}",
            "{% for k, v in env %}{{ v }}{% endfor %}",
            "{% set e = env %}{{ e.API }}",
            "{{ env | length }}",
            "{{ secrets.tls }}",
            "{{ secrets['x'] }}",
            "{{ __tera_context }}",
            "{% component c(@env) %}{% endcomponent c %}",
            "{{ env.APIé }}",
            "text mentions env",
        ] {
            assert!(reads(secret), "{secret}");
        }
    }

    #[test]
    fn without_secrets_nothing_is_tainted() {
        let none = BTreeSet::new();
        let s = SecretSources {
            env: &none,
            secrets_dir: false,
        };
        assert!(!reads_secret("{{ env | length }}{{ secrets.x }}", &s));
    }

    #[test]
    fn templates_that_reach_a_reader_are_tainted() {
        let env = names(&["PW"]);
        let s = SecretSources {
            env: &env,
            secrets_dir: false,
        };
        let texts: BTreeMap<String, String> = [
            ("reader", "{{ env.PW }}"),
            ("includer", "{% include \"reader\" %}"),
            ("child", "{% extends \"reader\" %}"),
            ("alone", "{{ env.HOST }} <b>"),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
        let got = tainted(texts_of(&texts, |t| t.as_str()), &s);
        assert_eq!(got, names(&["child", "includer", "reader"]));

        // Components are global: with one defined anywhere, a `<` may be a call.
        let mut with_component = texts.clone();
        with_component.insert(
            "lib".into(),
            "{% component show(@env) %}{{ env.PW }}{% endcomponent show %}".into(),
        );
        let got = tainted(texts_of(&with_component, |t| t.as_str()), &s);
        assert!(got.contains("alone") && got.contains("lib"), "{got:?}");
    }
}
