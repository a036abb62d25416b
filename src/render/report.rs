//! Turning Tera errors into pidone messages that name the template file, line, column and the
//! variable or filter, and never a value.
//!
//! Tera 2's messages are good but leak in places: its `int`/`float` filters and arithmetic
//! overflow print operands, `throw(message=...)` prints whatever the template built, and
//! "Available fields" lists all 450 env var names. So we rebuild every message from Tera's parts
//! (message, span, template name) and then scrub any sensitive value that still appears.

use super::RenderError;
use super::helpers::UNDEFINED_INPUT;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tera::{ErrorKind, Span};

/// A loaded template: where it came from (for messages) and its text (for the source excerpt
/// and for naming the variable under an error's span).
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Replaces sensitive values in message text. Values of 8+ bytes are replaced wherever they
/// occur; shorter ones (3+ bytes) only as whole words, so an env value like `int` or `yes`
/// cannot mangle ordinary words of a message. 1–2 byte values carry no secret worth the noise.
pub(crate) struct Scrubber {
    values: Vec<String>,
}

const REDACTED: &str = "<redacted>";

impl Scrubber {
    pub fn new(sensitive: &[String]) -> Self {
        let mut values: Vec<String> = sensitive
            .iter()
            .flat_map(|v| [v.clone(), v.trim().to_string()])
            .filter(|v| v.len() >= 3)
            .collect();
        // Longest first, so a value containing another is replaced whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Scrubber { values }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if v.len() >= 8 {
                if out.contains(v.as_str()) {
                    out = out.replace(v.as_str(), REDACTED);
                }
            } else {
                out = replace_word(&out, v);
            }
        }
        out
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Replace occurrences of `word` not touching another word character on either side.
fn replace_word(text: &str, word: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(pos) = text[from..].find(word).map(|p| p + from) {
        let end = pos + word.len();
        let before_ok = pos == 0 || !is_word_byte(bytes[pos - 1]);
        let after_ok = end == bytes.len() || !is_word_byte(bytes[end]);
        // A value starting/ending with a non-word char (e.g. "-x-") has no boundary to check.
        let starts_word = is_word_byte(word.as_bytes()[0]);
        let ends_word = is_word_byte(word.as_bytes()[word.len() - 1]);
        if (before_ok || !starts_word) && (after_ok || !ends_word) {
            out.push_str(&text[last..pos]);
            out.push_str(REDACTED);
            last = end;
        }
        from = pos + word.chars().next().map_or(1, char::len_utf8);
    }
    out.push_str(&text[last..]);
    out
}

fn is_path_byte(b: u8) -> bool {
    is_word_byte(b) || b == b'.'
}

/// The dotted variable path (`env.XMPP_DOMAIN`) that covers the start of `span`, read from the
/// template source, with a span covering the whole path. Tera's spans point at one segment
/// (`XMPP_DOMAIN`, or `env`); pointing at the whole variable reads better.
fn path_at(text: &str, span: &Span) -> Option<(String, Span)> {
    let b = text.as_bytes();
    let at = span.range.start.min(b.len());
    let mut start = at;
    while start > 0 && (is_path_byte(b[start - 1]) || b[start - 1] == b'?') {
        start -= 1;
    }
    let mut end = at;
    while end < b.len() && is_path_byte(b[end]) {
        end += 1;
    }
    let raw = &text[start..end];
    let path = raw.trim_matches('.').replace('?', "");
    if path.is_empty() || path.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    // Path bytes are ASCII, so byte offsets and column offsets agree on this line.
    let start_col = span.start_col.saturating_sub(at - start);
    let whole = Span {
        start_line: span.start_line,
        start_col,
        end_line: span.start_line,
        end_col: start_col + raw.len(),
        range: start..end,
    };
    Some((path, whole))
}

/// The variable piped directly into the filter call at `span` (`env.X | to_int` → `env.X`).
fn path_before_filter(text: &str, span: &Span) -> Option<String> {
    let b = text.as_bytes();
    let mut i = span.range.start.min(b.len());
    while i > 0 && b[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    if i == 0 || b[i - 1] != b'|' {
        return None;
    }
    i -= 1;
    while i > 0 && b[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    let end = i;
    while i > 0 && is_path_byte(b[i - 1]) {
        i -= 1;
    }
    let path = text[i..end].trim_matches('.');
    // `x | trim | to_int`: the word before is another filter, not a variable.
    let mut j = i;
    while j > 0 && b[j - 1].is_ascii_whitespace() {
        j -= 1;
    }
    if j > 0 && b[j - 1] == b'|' {
        return None;
    }
    (!path.is_empty() && !path.as_bytes()[0].is_ascii_digit()).then(|| path.to_string())
}

/// Rewrite one of Tera's messages into ours: name the variable, drop name lists. Returns the
/// message and, when the variable was found, a span covering it.
fn rewrite(message: &str, text: &str, span: &Span) -> (String, Option<Span>) {
    let undefined_var = message.starts_with("Field `") && message.contains("is not defined")
        || message.starts_with("Variable `") && message.contains("is not defined")
        || message.contains("but got `undefined`");
    if undefined_var {
        return match path_at(text, span) {
            Some((p, whole)) => (format!("variable `{p}` is not defined"), Some(whole)),
            None => ("a variable used here is not defined".to_string(), None),
        };
    }
    if message == "Tried to render a variable that is undefined" {
        return (
            "this expression is undefined (a missing list item or map key?)".to_string(),
            None,
        );
    }
    if let Some(filter_msg) = message.strip_suffix(UNDEFINED_INPUT) {
        // "filter `x`: its input is not defined"
        let filter = filter_msg.trim_end_matches(": ");
        let msg = match path_before_filter(text, span) {
            Some(p) => format!("variable `{p}` is not defined ({filter})"),
            None => format!("{filter}: its input is not defined"),
        };
        return (msg, None);
    }
    let msg = match message.find(" Available ") {
        Some(cut) => message[..cut].to_string(),
        None => message.to_string(),
    };
    (msg, None)
}

/// `PATH:LINE:COL: MESSAGE` plus a rustc-style excerpt of the template line with a caret.
/// The excerpt is template text, not a value.
fn format_at(path: &std::path::Path, text: &str, span: &Span, message: &str) -> String {
    let line_no = span.start_line.max(1);
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let width = line_no.to_string().len();
    let pad = " ".repeat(width);
    let mut underline: String = line
        .chars()
        .take(span.start_col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let carets = if span.end_line == span.start_line && span.end_col > span.start_col {
        span.end_col - span.start_col
    } else {
        1
    };
    underline.push_str(&"^".repeat(carets));
    format!(
        "{}:{}:{}: {message}\n{pad} |\n{line_no} | {line}\n{pad} | {underline}",
        path.display(),
        line_no,
        span.start_col + 1,
    )
}

/// Convert a Tera error from compiling or rendering `template` into pidone messages.
pub(crate) fn tera_errors(
    err: &tera::Error,
    template: &str,
    sources: &BTreeMap<String, Source>,
    scrubber: &Scrubber,
) -> Vec<RenderError> {
    match err.kind() {
        ErrorKind::SyntaxError(r) | ErrorKind::RenderingError(r) => {
            // The error may be located in an included template, not the one being rendered.
            let name = if sources.contains_key(r.filename()) {
                r.filename()
            } else {
                template
            };
            let Some(src) = sources.get(name) else {
                return vec![RenderError(scrubber.scrub(&err.to_string()))];
            };
            let (message, better_span) = rewrite(r.message(), &src.text, r.span());
            let span = better_span.as_ref().unwrap_or(r.span());
            let message = scrubber.scrub(&message);
            vec![RenderError(format_at(&src.path, &src.text, span, &message))]
        }
        ErrorKind::Msg(m) => {
            // Load-time checks (unknown filter, unknown include...) arrive as Tera's own reports
            // joined by blank lines; re-anchor each on the template's full path.
            m.split("\n\n")
                .map(|block| RenderError(scrubber.scrub(&reanchor(block, sources))))
                .collect()
        }
        _ => {
            let path = sources
                .get(template)
                .map(|s| s.path.display().to_string())
                .unwrap_or_else(|| template.to_string());
            vec![RenderError(format!(
                "{path}: {}",
                scrubber.scrub(&err.to_string())
            ))]
        }
    }
}

/// Turn one of Tera's `error: MSG\n --> NAME:L:C\n...` reports into our
/// `PATH:L:C: MSG\n...` shape; anything unrecognised is returned as it is.
fn reanchor(block: &str, sources: &BTreeMap<String, Source>) -> String {
    let mut lines = block.lines();
    let (Some(first), Some(second)) = (lines.next(), lines.next()) else {
        return block.to_string();
    };
    let (Some(msg), Some(loc)) = (
        first.strip_prefix("error: "),
        second.trim_start().strip_prefix("--> "),
    ) else {
        return block.to_string();
    };
    // loc is NAME:LINE:COL; NAME may itself contain ':'.
    let mut parts = loc.rsplitn(3, ':');
    let (Some(col), Some(line), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return block.to_string();
    };
    let path = sources
        .get(name)
        .map(|s| s.path.display().to_string())
        .unwrap_or_else(|| name.to_string());
    let rest: Vec<&str> = lines.collect();
    format!("{path}:{line}:{col}: {msg}\n{}", rest.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, line: usize, col: usize, len: usize) -> Span {
        Span {
            start_line: line,
            start_col: col,
            end_line: line,
            end_col: col + len,
            range: start..start + len,
        }
    }

    #[test]
    fn scrubber_replaces_long_values_anywhere_and_short_ones_as_words() {
        let s = Scrubber::new(&[
            "hunter2-long".into(),
            "int".into(),
            "ab".into(),
            " padded \n".into(),
        ]);
        assert_eq!(s.scrub("x=hunter2-longy"), "x=<redacted>y");
        assert_eq!(
            s.scrub("filter `int`: integer"),
            "filter `<redacted>`: integer"
        );
        assert_eq!(s.scrub("ab cd"), "ab cd", "2-byte values are left alone");
        assert_eq!(
            s.scrub("a padded b"),
            "a <redacted> b",
            "trimmed value scrubbed"
        );
    }

    #[test]
    fn replace_word_handles_non_word_edges() {
        assert_eq!(replace_word("a -x- b", "-x-"), "a <redacted> b");
        assert_eq!(replace_word("yesyes yes", "yes"), "yesyes <redacted>");
    }

    #[test]
    fn paths_are_read_from_the_source() {
        let text = "a {{ env.XMPP_DOMAIN }} b";
        // span on the field segment, as Tera reports it
        let (path, whole) = path_at(text, &span(9, 1, 9, 11)).unwrap();
        assert_eq!(path, "env.XMPP_DOMAIN");
        assert_eq!(
            (whole.start_col, whole.end_col, whole.range),
            (5, 20, 5..20)
        );
        // span on the root variable
        let (path, whole) = path_at(text, &span(5, 1, 5, 3)).unwrap();
        assert_eq!(path, "env.XMPP_DOMAIN");
        assert_eq!(whole.range, 5..20);
        let text = "{{ env.P | to_int }}";
        assert_eq!(
            path_before_filter(text, &span(11, 1, 11, 6)).as_deref(),
            Some("env.P")
        );
        let text = "{{ env.P | trim | to_int }}";
        assert_eq!(path_before_filter(text, &span(18, 1, 18, 6)), None);
    }

    #[test]
    fn rewrite_drops_name_lists() {
        let text = "{{ env.NOPE }}";
        let (m, _) = rewrite(
            "Field `NOPE` is not defined. Available fields: A, B",
            text,
            &span(7, 1, 7, 4),
        );
        assert_eq!(m, "variable `env.NOPE` is not defined");
        let (m, _) = rewrite("Cannot sort. Available things: x", text, &span(0, 1, 0, 1));
        assert_eq!(m, "Cannot sort.");
    }
}
