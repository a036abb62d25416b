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

/// Replaces secrets, and what templates commonly derive from them, in message text.
///
/// Only real secrets reach it (see `context::Resolved::sensitive`), so it can afford to be
/// thorough: each secret is also looked for trimmed, upper- and lower-cased (`| lower`), and
/// as each of its parts split at non-alphanumeric characters (`| split`), and matching
/// ignores ASCII case. A secret of 4+ bytes is replaced wherever it occurs (a short secret
/// joined to text: `pw12abc`); 3-byte secrets and the parts only as whole words, so that a
/// part like `long` of `hunter2-long` cannot mangle the words of a message. Shorter ones
/// carry no secret worth the noise.
pub(crate) struct Scrubber {
    /// (needle, replace anywhere rather than only as a whole word)
    needles: Vec<(String, bool)>,
}

const REDACTED: &str = "<redacted>";
/// Needles at least this long are replaced anywhere; shorter (3-byte) ones as whole words.
const ANYWHERE_MIN: usize = 4;

impl Scrubber {
    pub fn new(sensitive: &[String]) -> Self {
        let mut needles: Vec<(String, bool)> = Vec::new();
        for v in sensitive {
            let trimmed = v.trim();
            for whole in [
                v.clone(),
                trimmed.to_string(),
                trimmed.to_lowercase(),
                trimmed.to_uppercase(),
            ] {
                let anywhere = whole.len() >= ANYWHERE_MIN;
                needles.push((whole, anywhere));
            }
            for part in trimmed.split(|c: char| !c.is_alphanumeric()) {
                if part.len() < trimmed.len() {
                    needles.push((part.to_string(), false));
                }
            }
        }
        needles.retain(|(n, _)| n.len() >= 3);
        // Longest first, so a value containing another is replaced whole.
        needles.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Scrubber { needles }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (n, anywhere) in &self.needles {
            out = replace_ignoring_ascii_case(&out, n, *anywhere);
        }
        out
    }
}

/// Replace `needle` in `text`, ignoring ASCII case: anywhere, or only where it is not
/// touching another word character on either side.
fn replace_ignoring_ascii_case(text: &str, needle: &str, anywhere: bool) -> String {
    let hay = text.to_ascii_lowercase();
    let pat = needle.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let starts_word = is_word_byte(pat.as_bytes()[0]);
    let ends_word = is_word_byte(pat.as_bytes()[pat.len() - 1]);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    // ASCII lower-casing keeps byte offsets, so positions in `hay` are positions in `text`.
    while let Some(pos) = hay[from..].find(&pat).map(|p| p + from) {
        let end = pos + pat.len();
        let before_ok = pos == 0 || !is_word_byte(bytes[pos - 1]) || !starts_word;
        let after_ok = end == bytes.len() || !is_word_byte(bytes[end]) || !ends_word;
        if anywhere || (before_ok && after_ok) {
            out.push_str(&text[last..pos]);
            out.push_str(REDACTED);
            last = end;
            from = end;
        } else {
            from = pos + pat.chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[last..]);
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
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

/// What is piped into the filter that starts at byte `at`: `x | f` → the word `x`. None
/// when nothing is piped in there.
struct PipedIn<'a> {
    word: &'a str,
    /// Where `word` starts: the next step back along the chain begins there.
    start: usize,
    /// `word` came with call arguments (`split(sep=",")`), which were skipped.
    called: bool,
    /// A `|` comes before `word`: it is an earlier filter of the chain, not its input.
    is_filter: bool,
}

fn piped_in(text: &str, at: usize) -> Option<PipedIn<'_>> {
    let b = text.as_bytes();
    let skip_space = |mut i: usize| {
        while i > 0 && b[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        i
    };
    let mut i = skip_space(at.min(b.len()));
    if i == 0 || b[i - 1] != b'|' {
        return None;
    }
    i = skip_space(i - 1);
    let called = i > 0 && b[i - 1] == b')';
    if called {
        let mut depth = 0usize;
        while i > 0 {
            i -= 1;
            match b[i] {
                b')' => depth += 1,
                b'(' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        if depth != 0 {
            return None;
        }
    }
    let end = i;
    while i > 0 && is_path_byte(b[i - 1]) {
        i -= 1;
    }
    let j = skip_space(i);
    Some(PipedIn {
        word: text[i..end].trim_matches('.'),
        start: i,
        called,
        is_filter: j > 0 && b[j - 1] == b'|',
    })
}

/// A variable path, not a literal or nothing.
fn as_variable(word: &str) -> Option<String> {
    (!word.is_empty() && !word.as_bytes()[0].is_ascii_digit()).then(|| word.to_string())
}

/// The variable piped directly into the filter call at `span` (`env.X | to_int` → `env.X`).
fn path_before_filter(text: &str, span: &Span) -> Option<String> {
    let input = piped_in(text, span.range.start)?;
    if input.called || input.is_filter {
        return None;
    }
    as_variable(input.word)
}

/// The variable at the head of the filter chain whose filter is at `span`, so a filter's
/// error can name the variable it was given: `env.X | trim | to_int` → `env.X`. None when
/// the chain starts with a literal or a parenthesised expression.
fn pipeline_head(text: &str, span: &Span) -> Option<String> {
    let mut at = span.range.start;
    loop {
        let input = piped_in(text, at)?;
        if !input.is_filter {
            return as_variable(input.word);
        }
        at = input.start;
    }
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
    // Tera's "Unable to perform LHS + RHS" prints both operands, which come from env values
    // that need not have secret-looking names: drop them.
    if message.starts_with("Unable to perform ") {
        return (
            "this arithmetic failed: the result overflows or an operand is not usable".to_string(),
            None,
        );
    }
    // One of our filters' errors ("filter `to_int`: the value is not an integer..."): name
    // the variable first, which is what the operator has to fix.
    if let Some((filter, what)) = message
        .strip_prefix("filter `")
        .and_then(|m| m.split_once("`: "))
        && let Some(var) = pipeline_head(text, span)
    {
        return (format!("`{var}`: {what} (filter `{filter}`)"), None);
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
    fn scrubber_replaces_secrets_and_what_is_derived_from_them() {
        let s = Scrubber::new(&[
            "Hunter2-Long".into(),
            "int".into(),
            "ab".into(),
            " padded \n".into(),
            "pw12".into(),
        ]);
        assert_eq!(s.scrub("x=Hunter2-Longy"), "x=<redacted>y");
        assert_eq!(s.scrub("key `hunter2-long`"), "key `<redacted>`", "lowered");
        assert_eq!(s.scrub("HUNTER2-LONG"), "<redacted>", "upper-cased");
        assert_eq!(
            s.scrub("[\"Hunter2\", \"x\"]"),
            "[\"<redacted>\", \"x\"]",
            "split part"
        );
        assert_eq!(
            s.scrub("user=pw12abc"),
            "user=<redacted>abc",
            "short, joined"
        );
        assert_eq!(s.scrub("too long"), "too <redacted>", "a part, as a word");
        assert_eq!(s.scrub("longer"), "longer", "a part inside a word is left");
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
    fn three_byte_needles_only_as_words() {
        assert_eq!(
            replace_ignoring_ascii_case("a -x- b", "-x-", false),
            "a <redacted> b"
        );
        assert_eq!(
            replace_ignoring_ascii_case("yesyes YES", "yes", false),
            "yesyes <redacted>"
        );
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
        assert_eq!(
            pipeline_head(text, &span(18, 1, 18, 6)).as_deref(),
            Some("env.P")
        );
        let text = "{{ env.L | split(sep=\",\") | first | int }}";
        let at = text.find("int").unwrap();
        assert_eq!(
            pipeline_head(text, &span(at, 1, at, 3)).as_deref(),
            Some("env.L")
        );
        let text = "{{ (env.A ~ 'x') | int }}";
        let at = text.find("int").unwrap();
        assert_eq!(pipeline_head(text, &span(at, 1, at, 3)), None);
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
