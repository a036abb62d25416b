//! Template helpers: the filters real container configs need (ported from what Jitsi's Go
//! templates use) plus replacements for Tera built-ins whose behaviour or error text is wrong
//! for us (`default` must treat "" as missing; `int`/`float` print the raw value on error).
//!
//! Every error message here names the filter and never the value it was given: values are env
//! vars and secrets (consul-template CVE-2022-38149). The pure functions are separate from the
//! Tera glue so they can be unit-tested without a template.

use super::strconv::{go_parse_bool, parse_int};
use tera::{Error, Kwargs, State, Tera, TeraResult, Value};

/// Marker phrase for "the filter's input was undefined". `report.rs` recognises it and names the
/// variable from the template source, which the filter itself cannot see.
pub(crate) const UNDEFINED_INPUT: &str = "its input is not defined";

/// The names of pidone's filters (registered by [`register`]). Their error messages are made
/// of fixed words, type names and their arguments, never of their input: `report` relies on
/// that to show them for templates that read a secret when the arguments are literals.
pub(crate) const OWN_FILTERS: [&str; 16] = [
    "default",
    "parse_bool",
    "to_int",
    "int",
    "float",
    "splitn",
    "split",
    "compact",
    "trim_prefix",
    "trim_suffix",
    "b64encode",
    "b64decode",
    "quote",
    "ini_quote",
    "required",
    "check",
];

/// Register every pidone helper on `tera`, overriding built-ins of the same name.
pub(crate) fn register(tera: &mut Tera) {
    tera.register_filter("default", default);
    tera.register_filter("parse_bool", parse_bool_filter);
    tera.register_filter("to_int", |v: &Value, k: Kwargs, _: &State| {
        to_int_filter("to_int", v, &k)
    });
    tera.register_filter("int", |v: &Value, k: Kwargs, _: &State| {
        to_int_filter("int", v, &k)
    });
    tera.register_filter("float", float_filter);
    tera.register_filter("splitn", splitn_filter);
    tera.register_filter("split", split_filter);
    tera.register_filter("compact", compact_filter);
    tera.register_filter("trim_prefix", trim_prefix_filter);
    tera.register_filter("trim_suffix", trim_suffix_filter);
    tera.register_filter("b64encode", b64encode_filter);
    tera.register_filter("b64decode", b64decode_filter);
    tera.register_filter("quote", quote_filter);
    tera.register_filter("ini_quote", ini_quote_filter);
    tera.register_filter("required", required_filter);
    tera.register_filter("check", super::checks::check_filter);
}

fn err(filter: &str, what: &str) -> Error {
    Error::message(format!("filter `{filter}`: {what}"))
}

fn undefined(filter: &str) -> Error {
    err(filter, UNDEFINED_INPUT)
}

/// The input as a string, or an error naming only the filter and the value's type.
fn input_str<'v>(filter: &str, v: &'v Value) -> TeraResult<&'v str> {
    if v.is_undefined() {
        return Err(undefined(filter));
    }
    v.as_str()
        .ok_or_else(|| err(filter, &format!("expects a string, got a {}", v.name())))
}

/// A string keyword argument with a default (the argument text is template source, not a value,
/// but we still only name the argument on error).
fn str_kwarg<'k>(
    filter: &str,
    k: &'k Kwargs,
    name: &'k str,
    default: &'k str,
) -> TeraResult<&'k str> {
    k.get::<&str>(name)
        .map_err(|_| err(filter, &format!("argument `{name}` must be a string")))
        .map(|o| o.unwrap_or(default))
}

// ---------------------------------------------------------------------------------------------
// default

/// `default(value=X, boolean=false)`: X when the input is undefined, none or the empty string
/// (Go/sprig semantics, which Jitsi's templates rely on; Tera 2's own `default` only replaces
/// undefined). With `boolean=true`, any falsy input (false, 0, empty list) is replaced too.
fn default(v: &Value, k: Kwargs, _: &State) -> TeraResult<Value> {
    let fallback = k
        .get::<Value>("value")
        .ok()
        .flatten()
        .ok_or_else(|| err("default", "needs the argument `value`"))?;
    let boolean = k
        .get::<bool>("boolean")
        .map_err(|_| err("default", "argument `boolean` must be true or false"))?
        .unwrap_or(false);
    let missing = if boolean {
        !v.is_truthy()
    } else {
        v.is_undefined() || v.is_none() || v.as_str() == Some("")
    };
    Ok(if missing { fallback } else { v.clone() })
}

// ---------------------------------------------------------------------------------------------
// booleans

fn parse_bool_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<bool> {
    const F: &str = "parse_bool";
    if v.is_undefined() {
        return Err(undefined(F));
    }
    if let Some(b) = v.as_bool() {
        return Ok(b);
    }
    if let Some(n) = v.as_i128() {
        match n {
            0 => return Ok(false),
            1 => return Ok(true),
            _ => {}
        }
    }
    v.as_str().and_then(go_parse_bool).ok_or_else(|| {
        err(
            F,
            "the value is not a boolean (accepted: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// numbers

fn int_value(n: i128) -> Value {
    match i64::try_from(n) {
        Ok(small) => Value::from(small),
        Err(_) => Value::from(n),
    }
}

/// `to_int(base=10)` (also registered as `int`, replacing Tera's, whose error message prints
/// the string it failed on).
fn to_int_filter(name: &str, v: &Value, k: &Kwargs) -> TeraResult<Value> {
    let base = k
        .get::<u32>("base")
        .map_err(|_| err(name, "argument `base` must be an integer"))?
        .unwrap_or(10);
    if !(2..=36).contains(&base) {
        return Err(err(name, "argument `base` must be between 2 and 36"));
    }
    if v.is_undefined() {
        return Err(undefined(name));
    }
    if v.is_bool() {
        return Err(err(name, "cannot convert a bool to an integer"));
    }
    if let Some(n) = v.as_i128() {
        return Ok(int_value(n));
    }
    if let Some(f) = v.as_f64() {
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 {
            return Ok(int_value(f as i128));
        }
        return Err(err(name, "the number is not a whole number"));
    }
    match v.as_str() {
        Some(s) => parse_int(s, base)
            .map(int_value)
            .ok_or_else(|| err(name, &format!("the value is not an integer in base {base}"))),
        None => Err(err(
            name,
            &format!("cannot convert a {} to an integer", v.name()),
        )),
    }
}

/// `float`: replaces Tera's, whose error message prints the string it failed on.
fn float_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<f64> {
    const F: &str = "float";
    if v.is_undefined() {
        return Err(undefined(F));
    }
    if v.is_bool() {
        return Err(err(F, "cannot convert a bool to a number"));
    }
    if let Some(f) = v.as_f64() {
        return Ok(f);
    }
    match v.as_str() {
        Some(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| err(F, "the value is not a number")),
        None => Err(err(
            F,
            &format!("cannot convert a {} to a number", v.name()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// lists

/// Go's `strings.SplitN`: `n > 0` gives at most n parts (the last holds the rest), `n == 0`
/// gives none, `n < 0` gives all. An empty separator splits into characters.
pub fn go_splitn(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let mut out: Vec<String> = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if out.len() + 1 == limit {
                break;
            }
            out.push(c.to_string());
            rest = &rest[c.len_utf8()..];
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
        return out;
    }
    s.splitn(limit, sep).map(str::to_string).collect()
}

fn strings_value(parts: Vec<String>) -> Value {
    Value::from(parts.into_iter().map(Value::from).collect::<Vec<Value>>())
}

/// `splitn(sep=",", n=2)` → list of at most n strings; missing parts are absent, so use
/// `parts[1] | default(value=...)` or `parts | nth(n=1)`.
fn splitn_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<Value> {
    const F: &str = "splitn";
    let s = input_str(F, v)?;
    let sep = str_kwarg(F, &k, "sep", ",")?;
    let n = k
        .get::<i64>("n")
        .map_err(|_| err(F, "argument `n` must be an integer"))?
        .unwrap_or(2);
    Ok(strings_value(go_splitn(s, sep, n)))
}

/// `split(sep=",")` → list of all parts. Replaces Tera's `split`, which requires `pat`; `pat`
/// is still accepted so Tera-style templates keep working.
fn split_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<Value> {
    const F: &str = "split";
    let s = input_str(F, v)?;
    let sep = match k.get::<&str>("pat") {
        Ok(Some(p)) => p,
        Ok(None) => str_kwarg(F, &k, "sep", ",")?,
        Err(_) => return Err(err(F, "argument `pat` must be a string")),
    };
    Ok(strings_value(go_splitn(s, sep, -1)))
}

/// Whether `compact` drops this item: none, undefined, or a blank string.
pub fn is_blank(v: &Value) -> bool {
    v.is_undefined() || v.is_none() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// `compact`: drop none and empty/whitespace-only strings from a list (sprig's `compact`, so
/// `"a,,b," | split | compact` is `["a", "b"]`).
fn compact_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<Value> {
    const F: &str = "compact";
    if v.is_undefined() {
        return Err(undefined(F));
    }
    let items = v
        .as_array()
        .ok_or_else(|| err(F, &format!("expects a list, got a {}", v.name())))?;
    Ok(Value::from(
        items
            .iter()
            .filter(|x| !is_blank(x))
            .cloned()
            .collect::<Vec<Value>>(),
    ))
}

// ---------------------------------------------------------------------------------------------
// strings

/// `trim_prefix(prefix=...)`: remove the prefix once if present (Tera's `trim_start(pat=)`
/// removes it repeatedly, which is not what Go's `trimPrefix` does).
fn trim_prefix_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<String> {
    const F: &str = "trim_prefix";
    let s = input_str(F, v)?;
    let p = k
        .get::<&str>("prefix")
        .ok()
        .flatten()
        .ok_or_else(|| err(F, "needs the string argument `prefix`"))?;
    Ok(s.strip_prefix(p).unwrap_or(s).to_string())
}

/// `trim_suffix(suffix=...)`: remove the suffix once if present.
fn trim_suffix_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<String> {
    const F: &str = "trim_suffix";
    let s = input_str(F, v)?;
    let p = k
        .get::<&str>("suffix")
        .ok()
        .flatten()
        .ok_or_else(|| err(F, "needs the string argument `suffix`"))?;
    Ok(s.strip_suffix(p).unwrap_or(s).to_string())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with `=` padding.
pub fn b64encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64; padding is optional, surrounding whitespace is ignored, anything
/// else (URL-safe alphabet, bad length, non-zero trailing bits) is rejected.
pub fn b64decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 6 leftover bits means a length of 4k+1, which no encoder produces.
    if bits >= 6 || acc != 0 {
        return None;
    }
    Some(out)
}

fn b64encode_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    Ok(b64encode(input_str("b64encode", v)?.as_bytes()))
}

fn b64decode_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    const F: &str = "b64decode";
    let bytes =
        b64decode(input_str(F, v)?).ok_or_else(|| err(F, "the value is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| err(F, "the decoded value is not UTF-8 text"))
}

/// Double-quote a string for Lua, YAML, nginx, HOCON and shell-ish formats: `\` and `"` are
/// backslash-escaped, newline/CR/tab become `\n`/`\r`/`\t`, other control characters `\xHH`.
/// The first five escapes mean the same in all those formats; `\xHH` is valid in Lua 5.2+ and
/// YAML but not in JSON/HOCON, where such a character would be a broken value anyway.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    const F: &str = "quote";
    if v.is_undefined() {
        return Err(undefined(F));
    }
    match v.as_str() {
        Some(s) => Ok(quote(s)),
        None if v.is_number() || v.is_bool() => Ok(quote(&v.to_string())),
        None => Err(err(F, &format!("expects a string, got a {}", v.name()))),
    }
}

/// Double-quote a string for a Qt `QSettings` ini file (Murmur's mumble-server.ini), whose
/// reader gives `"`, `\\`, `,` (a list), `;` (a comment), leading/trailing spaces and a leading
/// `@` (`@Invalid()`, `@ByteArray(..)`) a meaning. Inside `"..."` only `\\` and `"` are special;
/// they are backslash-escaped. Control and non-ASCII characters become `\xHHHH` per UTF-16 unit,
/// which Qt reads whatever the file's codec; its hex escape runs until the first non-hex
/// character, so a hex digit right after one is escaped too. A leading `@` is doubled (`@@`
/// reads back as `@`). Checked against Debian's Murmur 1.3 with a real client (images/test).
pub fn ini_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    if s.starts_with('@') {
        out.push('@');
    }
    let mut after_hex_escape = false;
    for c in s.chars() {
        let needs_hex =
            (c as u32) < 0x20 || c as u32 >= 0x7f || (after_hex_escape && c.is_ascii_hexdigit());
        if needs_hex {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\x{unit:04x}"));
            }
        } else if c == '\\' || c == '"' {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
        after_hex_escape = needs_hex;
    }
    out.push('"');
    out
}

fn ini_quote_filter(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    const F: &str = "ini_quote";
    if v.is_undefined() {
        return Err(undefined(F));
    }
    match v.as_str() {
        Some(s) => Ok(ini_quote(s)),
        None if v.is_number() || v.is_bool() => Ok(ini_quote(&v.to_string())),
        None => Err(err(F, &format!("expects a string, got a {}", v.name()))),
    }
}

// ---------------------------------------------------------------------------------------------
// required

/// Prefix of the message of a failed `required`, so callers (and tests) can tell it apart.
pub(crate) const REQUIRED_PREFIX: &str = "required value missing: ";

/// `required(msg="...")`: stop with `msg` when the input is undefined, none, or blank;
/// otherwise pass it through. Works on undefined variables because Tera hands a filter an
/// undefined value for `env.MISSING` (only printing it is an error).
fn required_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<Value> {
    if !is_blank(v) {
        return Ok(v.clone());
    }
    let msg = str_kwarg(
        "required",
        &k,
        "msg",
        "a required value is missing or empty",
    )?;
    Err(Error::message(format!("{REQUIRED_PREFIX}{msg}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tera::Context;

    /// Render one template with pidone's helpers and `env`.
    fn render(src: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        register(&mut tera);
        tera.add_raw_template("t", src).map_err(|e| e.to_string())?;
        let mut ctx = Context::new();
        let env: std::collections::BTreeMap<_, _> = env.iter().cloned().collect();
        ctx.insert("env", &env);
        tera.render("t", &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_bool_filter_in_templates() {
        assert_eq!(
            render("{{ env.A | parse_bool }}", &[("A", "T")]).unwrap(),
            "true"
        );
        assert_eq!(render("{{ true | parse_bool }}", &[]).unwrap(), "true");
        assert_eq!(render("{{ 0 | parse_bool }}", &[]).unwrap(), "false");
        assert_eq!(
            render(
                "{{ env.A | default(value='false') | parse_bool }}",
                &[("A", "")]
            )
            .unwrap(),
            "false"
        );
        let e = render("{{ env.A | parse_bool }}", &[("A", "yesSECRET")]).unwrap_err();
        assert!(
            e.contains("filter `parse_bool`") && !e.contains("yesSECRET"),
            "{e}"
        );
    }

    #[test]
    fn default_treats_empty_as_missing() {
        let t = "{{ env.A | default(value='d') }}";
        assert_eq!(render(t, &[("A", "")]).unwrap(), "d");
        assert_eq!(render(t, &[]).unwrap(), "d");
        assert_eq!(render(t, &[("A", " ")]).unwrap(), " ");
        assert_eq!(render(t, &[("A", "0")]).unwrap(), "0");
        assert_eq!(
            render("{{ false | default(value='d', boolean=true) }}", &[]).unwrap(),
            "d"
        );
        assert_eq!(
            render("{{ false | default(value='d') }}", &[]).unwrap(),
            "false"
        );
    }

    #[test]
    fn to_int_and_int_do_not_print_the_value() {
        assert_eq!(
            render("{{ env.P | to_int + 1 }}", &[("P", "4443")]).unwrap(),
            "4444"
        );
        assert_eq!(
            render("{{ env.P | int(base=16) }}", &[("P", "0x10")]).unwrap(),
            "16"
        );
        assert_eq!(render("{{ 3.0 | to_int }}", &[]).unwrap(), "3");
        for f in ["to_int", "int"] {
            let e = render(&format!("{{{{ env.P | {f} }}}}"), &[("P", "12SECRETx")]).unwrap_err();
            assert!(e.contains(&format!("filter `{f}`")), "{e}");
            assert!(!e.contains("SECRET"), "{e}");
        }
        let e = render("{{ env.P | float }}", &[("P", "1.2.SECRET")]).unwrap_err();
        assert!(e.contains("filter `float`") && !e.contains("SECRET"), "{e}");
        assert_eq!(
            render("{{ env.P | float }}", &[("P", " 2.5")]).unwrap(),
            "2.5"
        );
    }

    #[test]
    fn go_splitn_matches_go() {
        assert_eq!(go_splitn("a:b:c", ":", 2), ["a", "b:c"]);
        assert_eq!(go_splitn("a", ":", 2), ["a"]);
        assert_eq!(go_splitn("a:b", ":", 0), Vec::<String>::new());
        assert_eq!(go_splitn("a:b:c", ":", -1), ["a", "b", "c"]);
        assert_eq!(go_splitn("", ",", -1), [""]);
        assert_eq!(go_splitn("abc", "", 2), ["a", "bc"]);
        assert_eq!(go_splitn("abc", "", -1), ["a", "b", "c"]);
        assert_eq!(go_splitn("héllo", "", 3), ["h", "é", "llo"]);
    }

    #[test]
    fn splitn_split_compact_in_templates() {
        let env = [
            ("S", "host.example:5269"),
            ("H", "host.example"),
            ("L", "a,, b ,,c,"),
        ];
        assert_eq!(
            render("{{ (env.S | splitn(sep=':'))[1] }}", &env).unwrap(),
            "5269"
        );
        assert_eq!(
            render(
                "{{ (env.H | splitn(sep=':', n=2))[1] | default(value='52220') }}",
                &env
            )
            .unwrap(),
            "52220"
        );
        assert_eq!(
            render("{{ env.H | splitn(sep=':') | length }}", &env).unwrap(),
            "1"
        );
        assert_eq!(
            render("{{ env.L | split | compact | join(sep='|') }}", &env).unwrap(),
            "a| b |c"
        );
        assert_eq!(
            render("{{ env.L | split(pat=',') | length }}", &env).unwrap(),
            "6"
        );
        assert_eq!(
            render("{{ ['', none, ' ', 1] | compact | length }}", &env).unwrap(),
            "1"
        );
    }

    #[test]
    fn trim_prefix_and_suffix_once() {
        let env = [("U", "https://https://meet.example//")];
        assert_eq!(
            render(
                "{{ env.U | trim_prefix(prefix='https://') | trim_suffix(suffix='/') }}",
                &env
            )
            .unwrap(),
            "https://meet.example/"
        );
        assert_eq!(
            render("{{ 'abc' | trim_prefix(prefix='x') }}", &[]).unwrap(),
            "abc"
        );
    }

    #[test]
    fn base64_round_trips_and_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(b64encode(plain.as_bytes()), enc);
            assert_eq!(b64decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(b64decode("Zm8").unwrap(), b"fo");
        assert_eq!(b64decode(" Zm9v\n").unwrap(), b"foo");
        assert_eq!(b64decode("Zm9v!"), None);
        assert_eq!(b64decode("Z"), None);
        assert_eq!(b64decode("Zh=="), None, "non-zero trailing bits");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(b64decode(&b64encode(&all)).unwrap(), all);
        assert_eq!(
            render("{{ 'user:pw' | b64encode }}", &[]).unwrap(),
            "dXNlcjpwdw=="
        );
        assert_eq!(
            render("{{ 'dXNlcjpwdw==' | b64decode }}", &[]).unwrap(),
            "user:pw"
        );
        let e = render("{{ env.B | b64decode }}", &[("B", "SECRET*")]).unwrap_err();
        assert!(
            e.contains("filter `b64decode`") && !e.contains("SECRET"),
            "{e}"
        );
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
        assert_eq!(quote("\u{1}\u{7f}é"), "\"\\x01\\x7fé\"");
        assert_eq!(render("{{ 5222 | quote }}", &[]).unwrap(), "\"5222\"");
    }

    #[test]
    fn ini_quote_escapes_for_qsettings() {
        assert_eq!(ini_quote("plain text"), "\"plain text\"");
        assert_eq!(ini_quote("a,b;c"), "\"a,b;c\"");
        assert_eq!(ini_quote("p\"a\\s"), "\"p\\\"a\\\\s\"");
        assert_eq!(ini_quote(" x "), "\" x \"");
        assert_eq!(ini_quote("@Invalid()"), "\"@@Invalid()\"");
        assert_eq!(ini_quote("a@b"), "\"a@b\"");
        assert_eq!(ini_quote("l1\nl2"), "\"l1\\x000al2\"");
        // a hex digit after a \x escape is escaped too; one after a plain character is not
        assert_eq!(ini_quote("éab z1"), "\"\\x00e9\\x0061\\x0062 z1\"");
        // outside the BMP: a UTF-16 surrogate pair
        assert_eq!(ini_quote("😀"), "\"\\xd83d\\xde00\"");
        assert_eq!(ini_quote(""), "\"\"");
        assert_eq!(render("{{ 42 | ini_quote }}", &[]).unwrap(), "\"42\"");
        let e = render("{{ env.NOPE | ini_quote }}", &[]).unwrap_err();
        assert!(e.contains("ini_quote"), "{e}");
    }

    #[test]
    fn required_passes_values_and_fails_with_the_message() {
        let t = "{{ env.PW | required(msg='set PW') }}";
        assert_eq!(render(t, &[("PW", "s3cret")]).unwrap(), "s3cret");
        for env in [&[][..], &[("PW", "")][..], &[("PW", "  ")][..]] {
            let e = render(t, env).unwrap_err();
            assert!(e.contains("required value missing: set PW"), "{e}");
        }
        let e = render("{{ env.PW | required }}", &[]).unwrap_err();
        assert!(e.contains("a required value is missing or empty"), "{e}");
    }
}
