//! Go's readings of a word as a boolean or an integer (`strconv.ParseBool`, and
//! `strconv.ParseInt`'s digits with the usual prefixes), the one job of this file. Separate
//! because two steps need the same answer: the helpers' `parse_bool` and `to_int`/`int`
//! filters, and the `check` filter's `bool`, `int` and `port` types, which read a word as
//! the filters do. Pure, no Tera.

/// Go's `strconv.ParseBool`: exactly these spellings, nothing else (no "yes", no " true").
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parse an integer in `base` (2..=36), allowing surrounding whitespace, a sign and the usual
/// `0x`/`0o`/`0b` prefix for bases 16/8/2.
pub fn parse_int(s: &str, base: u32) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let prefix = match base {
        16 => "0x",
        8 => "0o",
        2 => "0b",
        _ => "",
    };
    let digits = if prefix.is_empty() {
        digits
    } else {
        digits.strip_prefix(prefix).unwrap_or(digits)
    };
    // from_str_radix would accept a second sign ("--1"); digits must be digits only.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    let n = i128::from_str_radix(digits, base).ok()?;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_parse_bool_accepts_exactly_go_spellings() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_parse_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "no", "tRUE", " true", "", "2", "on"] {
            assert_eq!(go_parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_int_rules() {
        assert_eq!(parse_int(" 42 ", 10), Some(42));
        assert_eq!(parse_int("-7", 10), Some(-7));
        assert_eq!(parse_int("+7", 10), Some(7));
        assert_eq!(parse_int("0x1F", 16), Some(31));
        assert_eq!(parse_int("ff", 16), Some(255));
        assert_eq!(parse_int("0o17", 8), Some(15));
        assert_eq!(parse_int("--1", 10), None);
        assert_eq!(parse_int("1.5", 10), None);
        assert_eq!(parse_int("", 10), None);
        assert_eq!(parse_int("12a", 10), None);
    }
}
