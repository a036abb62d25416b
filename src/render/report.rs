//! Turning Tera errors into pidone messages that name the template file, line, column and the
//! variable or filter, and never a value.
//!
//! Tera 2's messages are good but leak in places: its `int`/`float` filters, `get(key=...)` and
//! arithmetic overflow print values, `throw(message=...)` and `required(msg=...)` print whatever
//! the template built, and "Available fields" lists all 450 env var names. So every message is
//! rebuilt from Tera's parts (message, span, template name). For a template that can read a
//! secret (`taint`), nothing Tera or a filter computed is printed at all: the message is made
//! of the template's own text and fixed words ([`Reveal::NamesOnly`]).

use super::RenderError;
use super::helpers::{REQUIRED_PREFIX, UNDEFINED_INPUT};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use tera::{ErrorKind, Span};

/// A loaded template: where it came from (for messages) and its text (for the source excerpt
/// and for naming the variable under an error's span).
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// How much of a render error a message may show (see `taint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reveal<'a> {
    /// Everything, values included: the template cannot see a secret (or the error comes
    /// from loading templates, before any value exists).
    Values,
    /// Only the template's own text (path, line, column, variable and filter names) and fixed
    /// words: the template can read a secret, so anything Tera or a filter computed may be
    /// derived from one. It holds the names of the variables and secrets files, which are not
    /// secret: a computed `throw` or `check` message made only of those, the template's own
    /// literals and fixed words is shown (`made_of_harmless_parts`).
    NamesOnly(&'a BTreeSet<String>),
}

/// Appended to messages of templates that read a secret, so the operator knows why a
/// message says less than usual and where to look.
const WITHHELD: &str = "details withheld: this template reads a secret";

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
    if is_undefined_variable(message) {
        return match path_at(text, span) {
            Some((p, whole)) => (format!("variable `{p}` is not defined"), Some(whole)),
            None => ("a variable used here is not defined".to_string(), None),
        };
    }
    if message == UNDEFINED_RENDER {
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
    reveal: Reveal,
) -> Vec<RenderError> {
    let path_of = |name: &str| {
        sources
            .get(name)
            .map(|s| s.path.display().to_string())
            .unwrap_or_else(|| name.to_string())
    };
    match err.kind() {
        ErrorKind::SyntaxError(r) | ErrorKind::RenderingError(r) => {
            // The error may be located in an included template, not the one being rendered.
            let name = if sources.contains_key(r.filename()) {
                r.filename()
            } else {
                template
            };
            let Some(src) = sources.get(name) else {
                return vec![RenderError(match reveal {
                    Reveal::Values => err.to_string(),
                    Reveal::NamesOnly(_) => {
                        format!("{}: rendering failed ({WITHHELD})", path_of(template))
                    }
                })];
            };
            let (message, better_span) = match reveal {
                Reveal::Values => rewrite(r.message(), &src.text, r.span()),
                Reveal::NamesOnly(names) => {
                    rewrite_names_only(r.message(), &src.text, r.span(), names)
                }
            };
            let span = better_span.as_ref().unwrap_or(r.span());
            vec![RenderError(format_at(&src.path, &src.text, span, &message))]
        }
        // Load-time checks (unknown filter, unknown include...) arrive as Tera's own reports
        // joined by blank lines; re-anchor each on the template's full path. They are made of
        // template text only.
        ErrorKind::Msg(m) if reveal == Reveal::Values => m
            .split("\n\n")
            .map(|block| RenderError(reanchor(block, sources)))
            .collect(),
        _ => vec![RenderError(match reveal {
            Reveal::Values => format!("{}: {err}", path_of(template)),
            Reveal::NamesOnly(_) => {
                format!("{}: rendering failed ({WITHHELD})", path_of(template))
            }
        })],
    }
}

/// Whether a computed message can be shown although its template reads a secret: cut out every
/// variable or secrets-file name (names are not secret), every string literal of the template
/// of at least 4 characters, and the helper's `fixed` words; what is left must be punctuation
/// and spaces, or a number the template writes as a literal (a `check` bound). A value, or
/// anything derived from one, leaves something else behind, and the message stays withheld.
pub(crate) fn made_of_harmless_parts(
    message: &str,
    text: &str,
    names: &BTreeSet<String>,
    fixed: &[&str],
) -> bool {
    let mut parts: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.len() >= 3)
        .collect();
    parts.extend(
        string_literals(text)
            .into_iter()
            .filter(|l| l.chars().count() >= 4),
    );
    parts.extend(fixed.iter().copied().filter(|w| !w.is_empty()));
    // Longest first, so a name is not cut out of a longer literal that holds it.
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut rest = message.to_string();
    for part in parts {
        rest = rest.replace(part, "\u{1}");
    }
    let numbers: BTreeSet<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|d| !d.is_empty())
        .collect();
    rest.split('\u{1}').all(|piece| {
        piece
            .split(|c: char| c.is_whitespace() || ":;,.()[]`'\"/=-".contains(c))
            .all(|word| word.is_empty() || numbers.contains(word))
    })
}

/// The contents of the template's string literals ("...", '...', `...`), read loosely: a
/// literal found by mistake only adds a harmless part that the template's text holds anyway.
fn string_literals(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for quote in ['"', '\'', '`'] {
        let mut pieces = text.split(quote);
        pieces.next();
        while let (Some(inside), Some(_)) = (pieces.next(), pieces.next().or(Some(""))) {
            found.push(inside);
        }
    }
    found
}

/// The message of a render error of a template that reads a secret, made only of its text
/// and fixed words (see [`Reveal::NamesOnly`]). Tera's own message is only used to tell the
/// kind of error, never printed; a message of one of pidone's helpers is printed only when
/// the call's arguments are literals, since the helpers build their messages from their
/// arguments (`required(msg=...)`, `check(var=...)`) and never from their input.
fn rewrite_names_only(
    raw: &str,
    text: &str,
    span: &Span,
    names: &BTreeSet<String>,
) -> (String, Option<Span>) {
    if is_undefined_variable(raw) || raw == UNDEFINED_RENDER {
        // These are rebuilt from the template text alone.
        return rewrite(raw, text, span);
    }
    // A span always falls on a character of its own template; should it ever not, the
    // message loses its names rather than the process panicking on a slice.
    let at = span.range.start.min(text.len());
    let at = if text.is_char_boundary(at) { at } else { 0 };
    if let Some(call) = call_at(text, at) {
        let ours = super::helpers::OWN_FILTERS.contains(&call.name);
        let literal = args_are_literal(call.args);
        if call.is_filter && ours && raw.ends_with(UNDEFINED_INPUT) {
            let msg = match path_before_filter(text, span) {
                Some(p) => format!("variable `{p}` is not defined (filter `{}`)", call.name),
                None => format!("filter `{}`: {UNDEFINED_INPUT}", call.name),
            };
            return (msg, None);
        }
        // The error at a filter's own span is that filter's: with literal arguments, one of
        // ours can only have said fixed words and those literals. So can `throw`.
        if (call.is_filter && ours || !call.is_filter && call.name == "throw") && literal {
            return rewrite(raw, text, span);
        }
        // Computed, but from names and the template's own words only (`throw(message=name ~
        // ": unknown setting")`, `check(var=name, ...)` in a loop over env): the operator
        // needs the variable's name, and nothing in it can come from a value.
        let fixed: &[&str] = match call.name {
            "throw" if !call.is_filter => &[],
            "check" if call.is_filter => super::checks::FIXED_WORDS,
            _ => &[""],
        };
        if fixed != [""] && made_of_harmless_parts(raw, text, names, fixed) {
            return rewrite(raw, text, span);
        }
        let subject = match call.is_filter.then(|| pipeline_head(text, span)).flatten() {
            Some(var) => format!("`{var}`: "),
            None => String::new(),
        };
        let what = match call.name {
            "required" if call.is_filter && raw.starts_with(REQUIRED_PREFIX) => {
                "required value missing; its message is computed, so it is not shown".to_string()
            }
            "throw" if !call.is_filter => {
                "the template stopped (`throw`); its message is computed, so it is not shown"
                    .to_string()
            }
            name if call.is_filter && ours => format!(
                "filter `{name}` failed; its arguments are computed, so its message is not shown"
            ),
            name if call.is_filter => format!("{} (at filter `{name}`)", kind_of(raw)),
            name => format!("{} (at `{name}(...)`)", kind_of(raw)),
        };
        return (format!("{subject}{what} ({WITHHELD})"), None);
    }
    let names = variables_in_tag(text, at);
    let used = if names.is_empty() {
        String::new()
    } else {
        format!(" (variables here: {})", names.join(", "))
    };
    (format!("{}{used} ({WITHHELD})", kind_of(raw)), None)
}

/// Tera's message when `{{ x }}` prints an undefined value.
const UNDEFINED_RENDER: &str = "Tried to render a variable that is undefined";

fn is_undefined_variable(message: &str) -> bool {
    message.starts_with("Field `") && message.contains("is not defined")
        || message.starts_with("Variable `") && message.contains("is not defined")
        || message.contains("but got `undefined`")
}

/// What kind of error Tera reported, in fixed words (its message may hold values).
fn kind_of(raw: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        (
            "Math operations",
            "arithmetic on something that is not a number",
        ),
        (
            "Unable to perform ",
            "arithmetic failed: the result overflows or an operand is not usable",
        ),
        ("Cannot compare", "these values cannot be compared"),
        (
            "Iteration not possible",
            "this value cannot be iterated over",
        ),
        ("Key/value iteration", "key/value iteration needs a map"),
        (
            "Cannot index into an undefined",
            "a value used here is undefined",
        ),
        (
            "Cannot slice an undefined",
            "a value used here is undefined",
        ),
        (
            "Index expression is undefined",
            "a value used here is undefined",
        ),
        ("Slice ", "a slice bound is not usable"),
        ("Invalid type for the value", "a value of the wrong type"),
        ("Missing keyword argument", "a required argument is missing"),
        (
            "Spread operator",
            "a spread (`...`) of something that is not a map or list",
        ),
        (
            "Map does not have a key",
            "a key that the map does not have",
        ),
        ("Array index", "an index that does not fit the list"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| raw.starts_with(prefix))
        .map_or("this expression failed", |(_, kind)| kind)
}

/// A call at byte `at` of the template text: `| name(args)` (a filter), `name(args)` (a
/// function) or `is name(args)` (a test).
struct CallAt<'a> {
    name: &'a str,
    /// The text between the parentheses ("" without any).
    args: &'a str,
    is_filter: bool,
}

fn call_at(text: &str, at: usize) -> Option<CallAt<'_>> {
    let b = text.as_bytes();
    let mut end = at;
    while end < b.len() && is_word_byte(b[end]) {
        end += 1;
    }
    if end == at || b[at].is_ascii_digit() {
        return None;
    }
    let name = &text[at..end];
    let mut before = at;
    while before > 0 && b[before - 1].is_ascii_whitespace() {
        before -= 1;
    }
    let is_filter = before > 0 && b[before - 1] == b'|';
    let is_test = text[..before].ends_with("is") && (before < 3 || !is_word_byte(b[before - 3]));
    let mut open = end;
    while open < b.len() && b[open].is_ascii_whitespace() {
        open += 1;
    }
    let args = if b.get(open) == Some(&b'(') {
        let close = matching_paren(text, open)?;
        &text[open + 1..close]
    } else if is_filter || is_test {
        ""
    } else {
        // A variable, not a call.
        return None;
    };
    Some(CallAt {
        name,
        args,
        is_filter,
    })
}

/// The `)` closing the `(` at `open`, skipping string literals.
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = string_end(b, i)?,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote closing the string literal opened at `open`, with backslash
/// escapes as Tera's lexer reads them.
fn string_end(b: &[u8], open: usize) -> Option<usize> {
    let quote = b[open];
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Are a call's arguments made of literals only (strings, numbers, booleans, none, lists
/// and maps of those)? Any other name is a value read at render time.
fn args_are_literal(args: &str) -> bool {
    let b = args.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            match string_end(b, i) {
                Some(end) => i = end + 1,
                None => return false,
            }
        } else if is_word_byte(c) || !c.is_ascii() {
            let start = i;
            while i < b.len() && (is_word_byte(b[i]) || !b[i].is_ascii()) {
                i += 1;
            }
            let word = &args[start..i];
            let mut next = i;
            while next < b.len() && b[next].is_ascii_whitespace() {
                next += 1;
            }
            let keyword = b.get(next) == Some(&b'=') && b.get(next + 1) != Some(&b'=');
            let constant = matches!(word, "true" | "false" | "none" | "True" | "False");
            if !(c.is_ascii_digit() || keyword || constant) {
                return false;
            }
        } else {
            i += 1;
        }
    }
    true
}

/// The variables (`env.X`, `secrets.y`, as written) of the tag around byte `at`, for a
/// message that may not say more.
fn variables_in_tag(text: &str, at: usize) -> Vec<String> {
    let start = ["{{", "{%"]
        .iter()
        .filter_map(|open| text[..at].rfind(open))
        .max()
        .unwrap_or(0);
    let end = ["}}", "%}"]
        .iter()
        .filter_map(|close| text[at..].find(close).map(|p| p + at))
        .min()
        .unwrap_or(text.len());
    let tag = &text[start..end];
    let b = tag.as_bytes();
    let mut names = Vec::new();
    for root in ["env", "secrets"] {
        for (pos, _) in tag.match_indices(root) {
            if pos > 0 && (is_path_byte(b[pos - 1])) {
                continue;
            }
            let mut e = pos + root.len();
            while e < b.len() && is_path_byte(b[e]) {
                e += 1;
            }
            let name = format!("`{}`", tag[pos..e].trim_end_matches('.'));
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
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
    fn literal_arguments_are_told_from_computed_ones() {
        for literal in [
            "",
            "msg=\"set PW\"",
            "msg = 'a' ~ \"b\", n=2",
            "var=\"P\", type=\"port\", min=1, list=true, values=[\"a\", 'b']",
            "msg=\"quoted \\\" env.PW \\\" inside\"",
            "msg=`env.PW`",
        ] {
            assert!(args_are_literal(literal), "{literal}");
        }
        for computed in [
            "msg=env.PW",
            "msg=\"x\" ~ env.PW",
            "msg=PW",
            "var=x",
            "values=[env.L]",
            "msg=\"a\" | lower",
            "n=x == 1",
            "msg=\"unterminated",
            "msg=é",
        ] {
            assert!(!args_are_literal(computed), "{computed}");
        }
    }

    #[test]
    fn calls_are_read_at_a_span() {
        let text = "{{ env.X | required(msg=\"m (x)\") }}{{ throw(message='t') }}{{ a is odd }}";
        let at = text.find("required").unwrap();
        let c = call_at(text, at).unwrap();
        assert_eq!(
            (c.name, c.args, c.is_filter),
            ("required", "msg=\"m (x)\"", true)
        );
        let c = call_at(text, text.find("throw").unwrap()).unwrap();
        assert_eq!(
            (c.name, c.args, c.is_filter),
            ("throw", "message='t'", false)
        );
        let c = call_at(text, text.find("odd").unwrap()).unwrap();
        assert_eq!((c.name, c.args, c.is_filter), ("odd", "", false));
        // A variable is not a call.
        assert!(call_at(text, text.find("env").unwrap()).is_none());
        assert!(call_at(text, text.len()).is_none());
    }

    #[test]
    fn harmless_parts_are_names_literals_fixed_words_and_literal_numbers() {
        let names: BTreeSet<String> = ["APP_X_USERS", "PATH"].map(String::from).into();
        let text = r#"{{ throw(message=name ~ ": no setting of that name") }} min=1, max=1000"#;
        let fixed = crate::render::checks::FIXED_WORDS;
        assert!(made_of_harmless_parts(
            "APP_X_USERS: no setting of that name",
            text,
            &names,
            &[]
        ));
        assert!(made_of_harmless_parts(
            "APP_X_USERS must be an integer from 1 to 1000",
            text,
            &names,
            fixed
        ));
        // A value (or a number the template does not write) is left over: withheld.
        assert!(!made_of_harmless_parts(
            "APP_X_USERS: hunter2",
            text,
            &names,
            &[]
        ));
        assert!(!made_of_harmless_parts(
            "APP_X_USERS must be an integer from 1 to 4711",
            text,
            &names,
            fixed
        ));
        // `check`'s words count for `check` only.
        assert!(!made_of_harmless_parts(
            "APP_X_USERS must be set",
            text,
            &names,
            &[]
        ));
    }

    #[test]
    fn names_only_messages_hold_no_computed_text() {
        let text = "{{ {'a': 1} | get(key=env.K | b64encode) }}";
        let at = text.find("get").unwrap();
        let (m, _) = rewrite_names_only(
            "Map does not have a key U2VjcmV0 and no default values were defined",
            text,
            &span(at, 1, at, 3),
            &BTreeSet::new(),
        );
        assert!(!m.contains("U2VjcmV0"), "{m}");
        assert!(
            m.contains("a key that the map does not have (at filter `get`)"),
            "{m}"
        );
        let text = "{{ env.N | required(msg=env.K) }}";
        let at = text.find("required").unwrap();
        let (m, _) = rewrite_names_only(
            "required value missing: hunter2",
            text,
            &span(at, 1, at, 8),
            &BTreeSet::new(),
        );
        assert!(!m.contains("hunter2") && m.starts_with("`env.N`: required value missing"));
        let text = "{{ x ~ env.K ~ secrets.t }}";
        let (m, _) = rewrite_names_only(
            "Some(hunter2) odd",
            text,
            &span(3, 1, 3, 1),
            &BTreeSet::new(),
        );
        assert_eq!(
            m,
            "this expression failed (variables here: `env.K`, `secrets.t`) \
             (details withheld: this template reads a secret)"
        );
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
