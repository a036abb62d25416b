//! `check(var="NAME", type="...")`: the type and range check of one documented variable.
//!
//! Images document their variables; a value of the wrong type must stop the start (exit 65)
//! with a message that names the variable and what it must be, never the value itself (values
//! are env vars and secrets). Without this a template either renders nonsense that the daemon
//! silently reinterprets (`users=lots` becomes 1000, a port of 70000 wraps) or fails deep inside
//! a filter whose message names the filter, not the variable.
//!
//!     {{ env.TURN_MIN_PORT | default(value="49152") | check(var="TURN_MIN_PORT", type="port") }}
//!
//! Arguments: `var` (required: the name the operator sets), `type` (below), `min`/`max` (for
//! `int` and `port`), `values=[...]` (the value must be one of these; `type` may then be left
//! out), `list=true` (a comma-separated list: empty entries dropped, every entry checked, the
//! result is a list of checked entries). The result is the typed value: an integer for
//! `int`/`port`, a bool for `bool`, the string otherwise.

use super::strconv::{go_parse_bool, parse_int};
use tera::{Error, Kwargs, State, TeraResult, Value};

/// What each `type` accepts, in words that end "`VAR` must be ...".
fn describe(kind: &str) -> &'static str {
    match kind {
        "bool" => "a boolean (true/false, 1/0, t/f)",
        "port_range" => "a port range MIN-MAX (1-65535, MIN <= MAX)",
        "hostname" => "a DNS name (letters, digits, '-' and '.')",
        "host" => "a DNS name or an IP address",
        "host_port" => "HOST or HOST:PORT (an IPv6 address in brackets)",
        "ip" => "an IP address",
        "ip_mapping" => "an IP address or PUBLIC/PRIVATE IP addresses",
        "ip_range" => "an IP address or a range FIRST-LAST of IP addresses",
        "name" => "a name of letters, digits, '_', '.' and '-'",
        "jid" => "a JID (user@domain)",
        "url" => "an http(s):// or ws(s):// URL without spaces, quotes, ';' or '$'",
        "duration" => "a number with an optional unit (ms, s, m, h, d)",
        "line" => "one line of text (no control characters)",
        "ascii_line" => "one line of printable ASCII (no control or non-ASCII characters)",
        _ => "",
    }
}

/// Every fixed word of this filter's messages (everything but the variable's name, the bounds
/// and the listed values): what `report::made_of_harmless_parts` may cut out of a message whose
/// arguments were computed. Keep it in step with the messages below and `describe`.
pub(crate) const FIXED_WORDS: &[&str] = &[
    "a boolean (true/false, 1/0, t/f)",
    "a port range MIN-MAX (1-65535, MIN <= MAX)",
    "a DNS name (letters, digits, '-' and '.')",
    "a DNS name or an IP address",
    "HOST or HOST:PORT (an IPv6 address in brackets)",
    "an IP address or PUBLIC/PRIVATE IP addresses",
    "an IP address or a range FIRST-LAST of IP addresses",
    "an IP address",
    "a name of letters, digits, '_', '.' and '-'",
    "a JID (user@domain)",
    "an http(s):// or ws(s):// URL without spaces, quotes, ';' or '$'",
    "a number with an optional unit (ms, s, m, h, d)",
    "one line of text (no control characters)",
    "one line of printable ASCII (no control or non-ASCII characters)",
    " must be a comma-separated list of entries that are each ",
    " must be a comma-separated list",
    " must be set",
    " must be ",
    "; entry ",
    " is not",
    "an integer of at least ",
    "an integer of at most ",
    "an integer from ",
    " to ",
    "an integer",
];

const KINDS: &str = "int, port, bool, port_range, hostname, host, host_port, ip, name, jid, url, \
     duration, line, ascii_line";

pub(crate) fn check_filter(v: &Value, k: Kwargs, _: &State) -> TeraResult<Value> {
    let arg_err = |what: &str| Error::message(format!("filter `check`: {what}"));
    let var: &str = k
        .get::<&str>("var")
        .map_err(|_| arg_err("argument `var` must be a string"))?
        .ok_or_else(|| arg_err("argument `var` (the variable's name) is required"))?;
    let kind: Option<&str> = k
        .get::<&str>("type")
        .map_err(|_| arg_err("argument `type` must be a string"))?;
    let values: Option<Vec<String>> = k
        .get::<Vec<String>>("values")
        .map_err(|_| arg_err("argument `values` must be a list of strings"))?;
    let list = k
        .get::<bool>("list")
        .map_err(|_| arg_err("argument `list` must be a bool"))?
        .unwrap_or(false);
    let bound = |name: &str| {
        k.get::<i64>(name)
            .map_err(|_| arg_err(&format!("argument `{name}` must be an integer")))
    };
    let (min, max) = (bound("min")?, bound("max")?);
    let rule = Rule::new(kind, values, min, max).map_err(|e| arg_err(&e))?;

    if v.is_undefined() || v.is_none() {
        return Err(Error::message(format!("{var} must be set")));
    }
    if list {
        let text = v
            .as_str()
            .ok_or_else(|| Error::message(format!("{var} must be a comma-separated list")))?;
        let mut out = Vec::new();
        for (i, entry) in text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let checked = rule.apply(&Value::from(entry)).map_err(|what| {
                Error::message(format!(
                    "{var} must be a comma-separated list of entries that are each {what}; entry {} is not",
                    i + 1
                ))
            })?;
            out.push(checked);
        }
        return Ok(Value::from(out));
    }
    rule.apply(v)
        .map_err(|what| Error::message(format!("{var} must be {what}")))
}

struct Rule<'a> {
    kind: &'a str,
    values: Option<Vec<String>>,
    min: i64,
    max: i64,
}

impl<'a> Rule<'a> {
    fn new(
        kind: Option<&'a str>,
        values: Option<Vec<String>>,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Rule<'a>, String> {
        let kind = match (kind, &values) {
            (Some(k), _) => k,
            (None, Some(_)) => "values",
            (None, None) => return Err("give `type` or `values`".into()),
        };
        let (lo, hi) = match kind {
            "port" => (1, 65535),
            "int" => (i64::MIN, i64::MAX),
            _ if min.is_some() || max.is_some() => {
                return Err("`min`/`max` apply to type int and port only".into());
            }
            _ => (0, 0),
        };
        if kind != "values" && kind != "int" && kind != "port" && describe(kind).is_empty() {
            return Err(format!("unknown type `{kind}` (known: {KINDS})"));
        }
        Ok(Rule {
            kind,
            values,
            min: min.unwrap_or(lo),
            max: max.unwrap_or(hi),
        })
    }

    /// The checked, typed value, or what it must be (for the message).
    fn apply(&self, v: &Value) -> Result<Value, String> {
        let text = v.as_str();
        if let Some(allowed) = &self.values {
            let s = match text {
                Some(s) => s.to_string(),
                None => v.to_string(),
            };
            if !allowed.contains(&s) {
                return Err(format!("one of: {}", allowed.join(", ")));
            }
            if self.kind == "values" {
                return Ok(Value::from(s));
            }
        }
        match self.kind {
            "int" | "port" => {
                let what = match (self.min, self.max) {
                    (i64::MIN, i64::MAX) => "an integer".to_string(),
                    (lo, i64::MAX) => format!("an integer of at least {lo}"),
                    (i64::MIN, hi) => format!("an integer of at most {hi}"),
                    (lo, hi) => format!("an integer from {lo} to {hi}"),
                };
                let n = if v.is_bool() {
                    None
                } else if let Some(n) = v.as_i128() {
                    Some(n)
                } else {
                    text.and_then(|s| parse_int(s, 10))
                };
                match n {
                    Some(n) if n >= i128::from(self.min) && n <= i128::from(self.max) => {
                        Ok(Value::from(n as i64))
                    }
                    _ => Err(what),
                }
            }
            "bool" => {
                if let Some(b) = v.as_bool() {
                    return Ok(Value::from(b));
                }
                text.and_then(go_parse_bool)
                    .map(Value::from)
                    .ok_or_else(|| describe("bool").to_string())
            }
            kind => {
                let ok = text.is_some_and(|s| match kind {
                    "port_range" => is_port_range(s),
                    "hostname" => is_hostname(s),
                    "host" => is_hostname(s) || is_ip(s),
                    "host_port" => is_host_port(s),
                    "ip" => is_ip(s),
                    "ip_mapping" => s.split('/').count() <= 2 && s.split('/').all(is_ip),
                    "ip_range" => s.split('-').count() <= 2 && s.split('-').all(is_ip),
                    "name" => is_name(s),
                    "jid" => is_jid(s),
                    "url" => is_url(s),
                    "duration" => is_duration(s),
                    "line" => is_line(s),
                    // for a daemon that reads bytes as Latin-1 (murmurd -readsupw)
                    "ascii_line" => s.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    _ => false,
                });
                if ok {
                    Ok(v.clone())
                } else {
                    Err(describe(kind).to_string())
                }
            }
        }
    }
}

fn is_port(s: &str) -> bool {
    parse_int(s, 10).is_some_and(|n| (1..=65535).contains(&n))
        && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_port_range(s: &str) -> bool {
    match s.split_once('-') {
        Some((a, b)) if is_port(a) && is_port(b) => {
            parse_int(a, 10).unwrap_or(0) <= parse_int(b, 10).unwrap_or(0)
        }
        _ => false,
    }
}

/// RFC 1123 host name: labels of letters, digits and inner hyphens, 1-63 bytes, 253 in all.
/// Underscores are allowed too: Docker and Kubernetes service names use them.
fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

fn is_host_port(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, "")) => ip.parse::<std::net::Ipv6Addr>().is_ok(),
            Some((ip, port)) => {
                ip.parse::<std::net::Ipv6Addr>().is_ok()
                    && port.strip_prefix(':').is_some_and(is_port)
            }
            None => false,
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (is_hostname(host) || is_ip(host)) && is_port(port),
        None => is_hostname(s) || is_ip(s),
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_jid(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && user
                    .chars()
                    .all(|c| !c.is_control() && !c.is_whitespace() && !"\"&'/:<>@\\".contains(c))
                && is_hostname(domain)
        }
        None => false,
    }
}

fn is_url(s: &str) -> bool {
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|p| s.strip_prefix(p));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_graphic() && !"\"'\\<>`{}|^;$".contains(c))
    })
}

fn is_duration(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "" | "ms" | "s" | "m" | "h" | "d")
}

fn is_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_description_is_among_the_fixed_words() {
        for kind in KINDS.split(", ") {
            let d = describe(kind);
            assert!(d.is_empty() || FIXED_WORDS.contains(&d), "{kind}: {d}");
        }
    }

    use tera::{Context, Tera};

    fn render(src: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        super::super::helpers::register(&mut tera);
        tera.add_raw_template("t", src).map_err(|e| e.to_string())?;
        let mut ctx = Context::new();
        let env: std::collections::BTreeMap<_, _> = env.iter().cloned().collect();
        ctx.insert("env", &env);
        tera.render("t", &ctx).map_err(|e| {
            use std::error::Error;
            let mut msg = e.to_string();
            let mut src = e.source();
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })
    }

    fn check(args: &str, value: &str) -> Result<String, String> {
        render(
            &format!("{{{{ env.V | check(var=\"MY_VAR\", {args}) }}}}"),
            &[("V", value)],
        )
    }

    #[test]
    fn ports_and_ints_are_range_checked_and_named() {
        assert_eq!(check("type=\"port\"", "3478").unwrap(), "3478");
        for bad in ["70000", "0", "abc", "12x", "-1", ""] {
            let e = check("type=\"port\"", bad).unwrap_err();
            assert!(
                e.contains("MY_VAR must be an integer from 1 to 65535"),
                "{bad}: {e}"
            );
        }
        assert_eq!(check("type=\"int\", min=1, max=10", "10").unwrap(), "10");
        let e = check("type=\"int\", min=1, max=10", "lots").unwrap_err();
        assert!(e.contains("MY_VAR must be an integer from 1 to 10"), "{e}");
        let e = check("type=\"int\", min=1", "0").unwrap_err();
        assert!(e.contains("MY_VAR must be an integer of at least 1"), "{e}");
        let e = check("type=\"port\", min=1024", "80").unwrap_err();
        assert!(e.contains("from 1024 to 65535"), "{e}");
    }

    #[test]
    fn messages_never_show_the_value() {
        let secret = "s3cr3t value \"xyz";
        for args in [
            "type=\"port\"",
            "type=\"hostname\"",
            "values=[\"a\", \"b\"]",
            "type=\"bool\"",
        ] {
            let e = check(args, secret).unwrap_err();
            assert!(!e.contains(secret), "{args}: {e}");
            assert!(e.contains("MY_VAR must be"), "{args}: {e}");
        }
    }

    #[test]
    fn kinds_accept_and_refuse() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("bool", &["true", "0", "T"], &["yes", "2", ""]),
            (
                "port_range",
                &["20000-40000", "1-1"],
                &["abc", "40000-20000", "1-70000", "5"],
            ),
            (
                "hostname",
                &["meet.jitsi", "a-b.c_d", "x."],
                &["-a.b", "a..b", "a b", "a\"b", ""],
            ),
            ("host", &["10.0.0.1", "::1", "turn.example"], &["a/b", ""]),
            (
                "host_port",
                &["turn.example:3478", "10.0.0.1", "[::1]:80", "h"],
                &["h:0", "h:x", "[::1", "a b:1"],
            ),
            ("ip", &["1.2.3.4", "fe80::1"], &["1.2.3", "x"]),
            (
                "ip_mapping",
                &["1.2.3.4", "1.2.3.4/10.0.0.1"],
                &["1.2.3.4/", "a/b", "1.1.1.1/2.2.2.2/3.3.3.3"],
            ),
            (
                "ip_range",
                &["10.0.0.1", "10.0.0.1-10.0.0.9", "::1-::9"],
                &["10.0.0.1-", "x-y"],
            ),
            ("name", &["mod_foo", "libjanus_sip.so"], &["a b", "a/b", ""]),
            (
                "jid",
                &["admin@meet.jitsi"],
                &["admin", "a b@x", "a@b c", "\"@x"],
            ),
            (
                "url",
                &["http://xmpp.meet.jitsi:5280", "https://meet.example.org/x"],
                &[
                    "ftp://x",
                    "http://",
                    "http://a b",
                    "http://a\"b",
                    "http://a;b",
                    "http://$host",
                ],
            ),
            ("duration", &["65s", "65", "500ms"], &["s", "65 s", "1y"]),
            (
                "line",
                &["any text, \"quotes\" ok"],
                &["two\nlines", "tab\there"],
            ),
            (
                "ascii_line",
                &[" any 'text', \"quotes\" ok; ~ "],
                &["two\nlines", "tab\there", "é", "\u{7f}"],
            ),
        ];
        for (kind, good, bad) in cases {
            for g in *good {
                assert!(
                    check(&format!("type=\"{kind}\""), g).is_ok(),
                    "{kind} should accept {g:?}"
                );
            }
            for b in *bad {
                let e = check(&format!("type=\"{kind}\""), b).unwrap_err();
                assert!(e.contains("MY_VAR must be"), "{kind} {b:?}: {e}");
            }
        }
    }

    #[test]
    fn values_lists_and_typed_results() {
        assert_eq!(
            check("values=[\"info\", \"debug\"]", "debug").unwrap(),
            "debug"
        );
        let e = check("values=[\"info\", \"debug\"]", "loud").unwrap_err();
        assert!(e.contains("MY_VAR must be one of: info, debug"), "{e}");
        assert_eq!(
            render(
                "{% for x in env.V | check(var=\"L\", type=\"name\", list=true) %}[{{ x }}]{% endfor %}",
                &[("V", " a, ,b ,")]
            )
            .unwrap(),
            "[a][b]"
        );
        let e = check("type=\"name\", list=true", "a,b c").unwrap_err();
        assert!(
            e.contains("MY_VAR must be a comma-separated list") && e.contains("entry 2"),
            "{e}"
        );
        // typed: arithmetic and if work on the result
        assert_eq!(
            render(
                "{{ env.V | check(var=\"P\", type=\"port\") + 1 }}",
                &[("V", "10")]
            )
            .unwrap(),
            "11"
        );
        assert_eq!(
            render(
                "{% if env.V | check(var=\"B\", type=\"bool\") %}on{% endif %}",
                &[("V", "1")]
            )
            .unwrap(),
            "on"
        );
        let e = render(
            "{{ env.MISSING | check(var=\"MISSING\", type=\"port\") }}",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("MISSING must be set"), "{e}");
    }

    #[test]
    fn template_mistakes_in_the_arguments_are_reported() {
        let e = check("type=\"nope\"", "x").unwrap_err();
        assert!(e.contains("unknown type `nope`"), "{e}");
        let e = render("{{ env.V | check(type=\"port\") }}", &[("V", "1")]).unwrap_err();
        assert!(e.contains("argument `var`"), "{e}");
        let e = check("type=\"hostname\", min=1", "x").unwrap_err();
        assert!(e.contains("`min`/`max`"), "{e}");
    }
}
