//! The options of skarnet's tools as their `subgetopt` reads them, for the shims: single-letter
//! options, clustered (`-zU`), an option that takes a value taking the rest of its word or the
//! next argument (`-u1000`, `-u 1000`), `--` ending them, and a lone `-` being an argument.

/// Options in the order given, with the value of those that take one, and the arguments after
/// the options.
pub(super) type Parsed<'a, V> = (Vec<(char, V)>, &'a [String]);

/// The options in order (a value for those in `with_value`), then the arguments after them.
/// An option in neither `flags` nor `with_value`, or one missing its value, is an error
/// naming it.
pub(super) fn getopt<'a>(
    args: &'a [String],
    flags: &str,
    with_value: &str,
) -> Result<Parsed<'a, Option<String>>, String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
        if args[i] == "--" {
            i += 1;
            break;
        }
        let word = &args[i];
        for (at, c) in word[1..].char_indices() {
            if with_value.contains(c) {
                let rest = &word[1 + at + c.len_utf8()..];
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i).cloned().ok_or(format!("-{c} needs a value"))?
                } else {
                    rest.to_string()
                };
                found.push((c, Some(value)));
                break;
            }
            if !flags.contains(c) {
                return Err(format!("unknown option -{c}"));
            }
            found.push((c, None));
        }
        i += 1;
    }
    Ok((found, &args[i.min(args.len())..]))
}

/// `getopt` for a tool whose every option takes a value (`logutil-newfifo -m MODE -o OWNER`).
pub(super) fn values<'a>(
    args: &'a [String],
    with_value: &str,
) -> Result<Parsed<'a, String>, String> {
    let (found, rest) = getopt(args, "", with_value)?;
    let found = found
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect();
    Ok((found, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn clusters_values_and_the_end_of_options() {
        let args = words("-zU -u1000 -g 1000 -- -x prog");
        let (opts, rest) = getopt(&args, "zU", "ugG").unwrap();
        let want = [
            ('z', None),
            ('U', None),
            ('u', Some("1000".to_string())),
            ('g', Some("1000".to_string())),
        ];
        assert_eq!(opts, want);
        assert_eq!(rest, ["-x", "prog"]);
        let args = words("- prog");
        assert_eq!(getopt(&args, "z", "").unwrap().1, ["-", "prog"]);
    }

    #[test]
    fn unknown_options_and_missing_values_are_named() {
        assert_eq!(
            getopt(&words("-q x"), "z", "u"),
            Err("unknown option -q".into())
        );
        assert_eq!(
            getopt(&words("-u"), "", "u"),
            Err("-u needs a value".into())
        );
    }
}
