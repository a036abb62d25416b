//! Typed reading of a parsed TOML document, for the configuration files.
//!
//! `toml::de::DeTable::parse` keeps the byte span of every key and value. `Fields` hands out
//! the values of one table by key, checking their type and range, and remembers which keys
//! were asked for so that every other key can be reported as unknown. Problems are collected
//! in a `Reader` with the line they are on, so a file's problems are reported all at once.
//! The `Reader` also keeps the line of every key it handed out, for the checks on the values
//! that come later (`config/native/service.rs`, `build_service`).
//!
//! This replaces serde derive, which cost 135 KB of the static binary, stopped at a file's
//! first problem and could not always name the line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A value with its byte span in the document.
pub type Value<'i> = Spanned<DeValue<'i>>;

/// One problem: the 1-based line, the dotted key (`health.retries`) and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// The line of every key that was read, by dotted name (`backoff.initial`), for the checks
/// that run on the values later and report against the key.
pub type KeyLines = BTreeMap<String, usize>;

/// Collects the problems of one document, and where its keys are.
pub struct Reader<'t> {
    text: &'t str,
    errors: Vec<ReadError>,
    lines: KeyLines,
}

impl<'t> Reader<'t> {
    pub fn new(text: &'t str) -> Self {
        Reader {
            text,
            errors: Vec::new(),
            lines: KeyLines::new(),
        }
    }

    /// The 1-based line a byte offset is on.
    pub fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    pub fn error(&mut self, span: &Range<usize>, key: &str, message: String) {
        self.errors.push(ReadError {
            line: self.line(span.start),
            key: key.to_string(),
            message,
        });
    }

    /// Reports `item` as not being what the caller expected; returns `None` for the caller.
    pub fn wrong_type<T>(&mut self, item: &Item, expected: &str) -> Option<T> {
        let found = a_type(item.value.get_ref());
        self.error(
            &item.value.span(),
            &item.name,
            format!("expected {expected}, found {found}"),
        );
        None
    }

    /// The problems in the order of their lines (within a line, in the order found), and
    /// the lines of the keys.
    pub fn finish(mut self) -> (Vec<ReadError>, KeyLines) {
        self.errors.sort_by_key(|e| e.line);
        (self.errors, self.lines)
    }

    pub fn string(&mut self, item: &Item) -> Option<String> {
        match item.value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => self.wrong_type(item, "a string"),
        }
    }

    pub fn bool(&mut self, item: &Item) -> Option<bool> {
        match item.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => self.wrong_type(item, "a boolean (true or false)"),
        }
    }

    /// An integer that must fit into `T`.
    pub fn int<T: Int>(&mut self, item: &Item) -> Option<T> {
        self.int_in(item, T::MIN, T::MAX)
            .and_then(|n| T::try_from(n).ok())
    }

    /// Not generic, so that each integer type adds only a conversion to the binary.
    fn int_in(&mut self, item: &Item, min: i64, max: i64) -> Option<i64> {
        let DeValue::Integer(n) = item.value.get_ref() else {
            return self.wrong_type(item, "an integer");
        };
        match i64::from_str_radix(n.as_str(), n.radix()) {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                let range = if max == i64::MAX {
                    format!("of at least {min}")
                } else {
                    format!("from {min} to {max}")
                };
                self.error(
                    &item.value.span(),
                    &item.name,
                    format!("{n} is out of range: expected an integer {range}"),
                );
                None
            }
        }
    }

    /// A float; an integer is accepted too (`factor = 3`).
    pub fn float(&mut self, item: &Item) -> Option<f64> {
        let parsed = match item.value.get_ref() {
            DeValue::Float(f) => f.as_str().parse().ok(),
            DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix())
                .ok()
                .map(|n| n as f64),
            _ => return self.wrong_type(item, "a number"),
        };
        if parsed.is_none() {
            let text = &self.text[item.value.span()];
            self.error(
                &item.value.span(),
                &item.name,
                format!("{text} is not a number pidone can use"),
            );
        }
        parsed
    }

    pub fn strings(&mut self, item: &Item) -> Option<Vec<String>> {
        let DeValue::Array(array) = item.value.get_ref() else {
            return self.wrong_type(item, "an array of strings");
        };
        let mut out = Vec::with_capacity(array.len());
        for (i, element) in array.iter().enumerate() {
            match element.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                other => {
                    let found = a_type(other);
                    self.error(
                        &element.span(),
                        &item.name,
                        format!(
                            "expected an array of strings, but item {} is {found}",
                            i + 1
                        ),
                    );
                }
            }
        }
        (out.len() == array.len()).then_some(out)
    }
}

/// Integer types a value can be read into, with their range.
pub trait Int: TryFrom<i64> {
    const MIN: i64;
    const MAX: i64;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            const MIN: i64 = <$t>::MIN as i64;
            // u64 holds more than TOML can write (TOML integers are i64).
            const MAX: i64 = if <$t>::MAX as u64 > i64::MAX as u64 { i64::MAX } else { <$t>::MAX as i64 };
        }
    )*};
}
int!(u8, u16, u32, u64, i32);

/// A present key with its value, named as errors name it.
pub struct Item<'a, 'i> {
    /// Dotted path from the document root, e.g. `health.retries`.
    pub name: String,
    pub value: &'a Value<'i>,
}

/// One table being read. Every key must be asked for (present or not) before `finish`, which
/// reports the keys nobody asked for.
pub struct Fields<'a, 'i> {
    table: &'a DeTable<'i>,
    /// Where the table starts, for keys that are required but missing.
    span: Range<usize>,
    /// Dotted path of this table, empty for the document root.
    path: String,
    known: Vec<&'static str>,
}

impl<'a, 'i> Fields<'a, 'i> {
    /// The document's root table.
    pub fn root(document: &'a Spanned<DeTable<'i>>) -> Self {
        Fields {
            table: document.get_ref(),
            span: document.span(),
            path: String::new(),
            known: Vec::new(),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, if present.
    pub fn get(&mut self, r: &mut Reader, key: &'static str) -> Option<Item<'a, 'i>> {
        self.known.push(key);
        let table: &'a DeTable<'i> = self.table;
        let (spanned_key, value) = table.get_key_value(key)?;
        let name = self.name(key);
        // The entries of an array of tables share names; the first is as good as any.
        let line = r.line(spanned_key.span().start);
        r.lines.entry(name.clone()).or_insert(line);
        Some(Item { name, value })
    }

    /// Reports a missing key that must be there, at the start of this table.
    pub fn required(&self, r: &mut Reader, key: &str, message: &str) {
        r.error(
            &self.span,
            &self.name(key),
            format!("is required: {message}"),
        );
    }

    pub fn string(&mut self, r: &mut Reader, key: &'static str) -> Option<String> {
        self.get(r, key).and_then(|item| r.string(&item))
    }

    pub fn path(&mut self, r: &mut Reader, key: &'static str) -> Option<PathBuf> {
        self.string(r, key).map(PathBuf::from)
    }

    pub fn bool(&mut self, r: &mut Reader, key: &'static str) -> Option<bool> {
        self.get(r, key).and_then(|item| r.bool(&item))
    }

    pub fn int<T: Int>(&mut self, r: &mut Reader, key: &'static str) -> Option<T> {
        self.get(r, key).and_then(|item| r.int(&item))
    }

    pub fn float(&mut self, r: &mut Reader, key: &'static str) -> Option<f64> {
        self.get(r, key).and_then(|item| r.float(&item))
    }

    pub fn strings(&mut self, r: &mut Reader, key: &'static str) -> Option<Vec<String>> {
        self.get(r, key).and_then(|item| r.strings(&item))
    }

    pub fn paths(&mut self, r: &mut Reader, key: &'static str) -> Option<Vec<PathBuf>> {
        self.strings(r, key)
            .map(|v| v.into_iter().map(PathBuf::from).collect())
    }

    /// A sub-table (`[limits]`, `limits = { ... }` or `limits.nofile = ...`), to be read and
    /// finished by the caller.
    pub fn table(&mut self, r: &mut Reader, key: &'static str) -> Option<Fields<'a, 'i>> {
        let item = self.get(r, key)?;
        match item.value.get_ref() {
            DeValue::Table(table) => Some(Fields {
                table,
                span: item.value.span(),
                path: item.name,
                known: Vec::new(),
            }),
            _ => r.wrong_type(&item, "a table"),
        }
    }

    /// An array of tables (`[[render.template]]`); each element is named by the array's key.
    pub fn tables(&mut self, r: &mut Reader, key: &'static str) -> Option<Vec<Fields<'a, 'i>>> {
        let item = self.get(r, key)?;
        let DeValue::Array(array) = item.value.get_ref() else {
            return r.wrong_type(&item, "an array of tables");
        };
        let mut out = Vec::with_capacity(array.len());
        for element in array.iter() {
            match element.get_ref() {
                DeValue::Table(table) => out.push(Fields {
                    table,
                    span: element.span(),
                    path: item.name.clone(),
                    known: Vec::new(),
                }),
                other => {
                    let found = a_type(other);
                    r.error(
                        &element.span(),
                        &item.name,
                        format!("expected an array of tables, but an item is {found}"),
                    );
                }
            }
        }
        Some(out)
    }

    /// A table of free-form keys, each value read by `read` (`env`, `map_exit`).
    fn map<T>(
        &mut self,
        r: &mut Reader,
        key: &'static str,
        read: impl Fn(&mut Reader, &Item) -> Option<T>,
    ) -> Option<BTreeMap<String, T>> {
        let item = self.get(r, key)?;
        let DeValue::Table(table) = item.value.get_ref() else {
            return r.wrong_type(&item, "a table");
        };
        let mut out = BTreeMap::new();
        let mut complete = true;
        for (k, value) in table.iter() {
            let entry = Item {
                name: format!("{}.{}", item.name, k.get_ref()),
                value,
            };
            match read(r, &entry) {
                Some(v) => {
                    out.insert(k.get_ref().to_string(), v);
                }
                None => complete = false,
            }
        }
        complete.then_some(out)
    }

    pub fn string_map(
        &mut self,
        r: &mut Reader,
        key: &'static str,
    ) -> Option<BTreeMap<String, String>> {
        self.map(r, key, |r, item| r.string(item))
    }

    pub fn int_map<T: Int>(
        &mut self,
        r: &mut Reader,
        key: &'static str,
    ) -> Option<BTreeMap<String, T>> {
        self.map(r, key, |r, item| r.int(item))
    }

    /// Reports every key of this table that was not asked for.
    pub fn finish(self, r: &mut Reader) {
        for (key, _) in self.table.iter() {
            let name = key.get_ref().as_ref();
            if self.known.contains(&name) {
                continue;
            }
            let expected: Vec<String> = self.known.iter().map(|k| format!("`{k}`")).collect();
            let guess = crate::values::closest(name, &self.known)
                .map_or(String::new(), |k| format!("did you mean `{k}`? "));
            r.error(
                &key.span(),
                &self.name(name),
                format!(
                    "unknown field; {guess}expected one of {}; {KEYS_DOC}",
                    expected.join(", ")
                ),
            );
        }
    }
}

/// Where every key is explained. The pidone repository has no public address configured
/// (Cargo.toml names none) and docs/ is not in an image, so the message says which file
/// of pidone's source it is rather than giving a path a reader could not open.
pub const KEYS_DOC: &str =
    "every key is described in docs/configuration.md of pidone's source (not in the image)";

/// The 1-based line a byte offset of `text` is on.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The type of a value with its article, for "expected X, found Y".
fn a_type(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` with `read`; the result and the problems as "line: key: message".
    fn read<T>(text: &str, read: impl FnOnce(&mut Fields, &mut Reader) -> T) -> (T, Vec<String>) {
        let document = DeTable::parse(text).unwrap();
        let mut r = Reader::new(text);
        let mut t = Fields::root(&document);
        let value = read(&mut t, &mut r);
        t.finish(&mut r);
        let errors = r
            .finish()
            .0
            .into_iter()
            .map(|e| format!("{}: {}: {}", e.line, e.key, e.message))
            .collect();
        (value, errors)
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\n", 0), 1);
        assert_eq!(line_of("a\nb\n", 2), 2);
        assert_eq!(line_of("a\nb\n", 99), 3);
    }

    #[test]
    fn integers_are_range_checked_per_type() {
        let text = "a = 255\nb = 256\nc = -1\nd = 0xff\ne = 9223372036854775807\nf = -2147483649\n";
        let (v, errors) = read(text, |t, r| {
            (
                t.int::<u8>(r, "a"),
                t.int::<u8>(r, "b"),
                t.int::<u16>(r, "c"),
                t.int::<u8>(r, "d"),
                t.int::<u64>(r, "e"),
                t.int::<i32>(r, "f"),
            )
        });
        assert_eq!(
            v,
            (
                Some(255),
                None,
                None,
                Some(255),
                Some(i64::MAX as u64),
                None
            )
        );
        assert_eq!(
            errors,
            [
                "2: b: 256 is out of range: expected an integer from 0 to 255",
                "3: c: -1 is out of range: expected an integer from 0 to 65535",
                "6: f: -2147483649 is out of range: expected an integer from -2147483648 to 2147483647",
            ]
        );
    }

    #[test]
    fn floats_accept_integers() {
        let text = "a = 2\nb = 2.5\nc = \"2\"\nd = 1_000.5e0\ne = 0x10\n";
        let (v, errors) = read(text, |t, r| {
            (
                t.float(r, "a"),
                t.float(r, "b"),
                t.float(r, "c"),
                t.float(r, "d"),
                t.float(r, "e"),
            )
        });
        assert_eq!(v, (Some(2.0), Some(2.5), None, Some(1000.5), Some(16.0)));
        assert_eq!(errors, ["3: c: expected a number, found a string"]);
    }

    #[test]
    fn maps_name_their_entries() {
        let text = "[m]\nA = \"x\"\nB = true\n[n]\nC = 1\n";
        let (v, errors) = read(text, |t, r| (t.string_map(r, "m"), t.int_map::<u8>(r, "n")));
        assert_eq!(v.0, None, "a map with a bad entry is not used");
        assert_eq!(v.1, Some(BTreeMap::from([("C".to_string(), 1)])));
        assert_eq!(errors, ["3: m.B: expected a string, found a boolean"]);
    }

    #[test]
    fn unasked_keys_are_unknown_even_in_nested_tables() {
        let text = "known = 1\n[t]\ninner = 1\nother = 2\n[[list]]\nx = 1\n[[list]]\ny = 2\n";
        let (_, errors) = read(text, |t, r| {
            t.int::<u8>(r, "known");
            let mut sub = t.table(r, "t").unwrap();
            sub.int::<u8>(r, "inner");
            sub.finish(r);
            for mut item in t.tables(r, "list").unwrap() {
                item.int::<u8>(r, "x");
                item.finish(r);
            }
        });
        assert_eq!(
            errors,
            [
                "4: t.other: unknown field; expected one of `inner`; every key is described in docs/configuration.md of pidone's source (not in the image)",
                "8: list.y: unknown field; expected one of `x`; every key is described in docs/configuration.md of pidone's source (not in the image)",
            ]
        );
    }

    #[test]
    fn arrays_report_the_bad_item_at_its_line() {
        let text = "a = [\n  \"x\",\n  { y = 1 },\n]\nb = \"x\"\nc = [1]\n";
        let (v, errors) = read(text, |t, r| {
            (
                t.strings(r, "a"),
                t.strings(r, "b"),
                t.tables(r, "c").map(|v| v.len()),
            )
        });
        assert_eq!(v, (None, None, Some(0)));
        assert_eq!(
            errors,
            [
                "3: a: expected an array of strings, but item 2 is a table",
                "5: b: expected an array of strings, found a string",
                "6: c: expected an array of tables, but an item is an integer",
            ]
        );
    }
}
