//! Writing JSON lines (log records, `status --json`). pidone only ever writes JSON, flat
//! objects and arrays of them, so this small writer replaces a general JSON library to stay
//! within the static binary's size budget.

use std::fmt::Write;

/// Append `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object built field by field: `Object::new().str("a", "x").num("b", 1).finish()`.
pub struct Object {
    buf: String,
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

impl Object {
    pub fn new() -> Object {
        Object {
            buf: String::from("{"),
        }
    }
    fn key(&mut self, key: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        push_str(&mut self.buf, key);
        self.buf.push(':');
    }
    pub fn str(mut self, key: &str, value: &str) -> Object {
        self.key(key);
        push_str(&mut self.buf, value);
        self
    }
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Object {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }
    pub fn num(mut self, key: &str, value: impl std::fmt::Display) -> Object {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }
    pub fn opt_num<T: std::fmt::Display>(self, key: &str, value: Option<T>) -> Object {
        match value {
            Some(v) => self.num(key, v),
            None => self.raw(key, "null"),
        }
    }
    pub fn bool(self, key: &str, value: bool) -> Object {
        self.raw(key, if value { "true" } else { "false" })
    }
    /// A value that is already JSON (a nested object or array).
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key);
        self.buf.push_str(json);
        self
    }
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// `[a,b,c]` from already-encoded items.
pub fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nests() {
        let inner = Object::new().num("n", 1).bool("b", true).finish();
        let obj = Object::new()
            .str("s", "a\"b\\c\nd\u{1}é")
            .opt_str("none", None)
            .opt_num("x", Some(1.5))
            .raw("list", &array(&[inner.clone(), inner]))
            .finish();
        assert_eq!(
            obj,
            r#"{"s":"a\"b\\c\nd\u0001é","none":null,"x":1.5,"list":[{"n":1,"b":true},{"n":1,"b":true}]}"#
        );
    }
}
