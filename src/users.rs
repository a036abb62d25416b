//! Pure parsing of /etc/passwd and /etc/group (the binary is static: there is no NSS).
//!
//! Everything here works on the *text* of the two files so it can be unit-tested without
//! touching the system; [`crate::privilege`] reads the files and applies the result.
//!
//! Resolution rules for `--user NAME|UID[:GROUP|GID]`:
//! - An all-digit user part is a uid (useradd refuses all-digit names, so there is no
//!   ambiguity in practice); otherwise it is a name that must exist in the passwd file.
//! - A numeric uid that has a passwd entry is treated exactly like that entry's name
//!   (primary gid, home, supplementary groups).
//! - A numeric uid *without* a passwd entry and without a group gets gid 65534 (nogroup)
//!   and no supplementary groups. Docker uses gid 0 here; we do not, because group root
//!   owns files an unknown, arbitrary uid has no business reading or writing, and an
//!   implicit gid 0 is exactly the kind of surprise a hardened init must not introduce.
//!   Asking for gid 0 explicitly (`4242:0`, the OpenShift convention) is still allowed.
//! - Implicit group (no `:GROUP`): groups = the primary gid followed by every group whose
//!   member list names the user, like initgroups(3) (so `id` inside looks like a login).
//! - Explicit group (`user:group`): the process gets exactly that one group, like Docker's
//!   `--user u:g`; the operator asked for a specific group, not the user's memberships.
//! - Comments, blank lines and malformed lines are skipped (as the glibc `files` backend
//!   does); for duplicate names or ids the first entry wins (again like glibc).

/// The uid/gid used when nothing is configured: the conventional `nobody`/`nogroup`.
pub const NOBODY: u32 = 65534;

/// The identity pidone drops to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The full group list passed to setgroups(2): the primary gid first, then the groups
    /// from /etc/group that list the user as a member (implicit form only), deduplicated.
    pub groups: Vec<u32>,
    /// The passwd name, when the uid has an entry.
    pub name: Option<String>,
    /// The passwd home directory, when the uid has an entry with a non-empty home.
    pub home: Option<String>,
}

/// One parsed /etc/passwd line (only the fields pidone needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One parsed /etc/group line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// `(uid_t)-1` / `(gid_t)-1`. setresuid(2) and friends treat it as "leave unchanged", so a
/// target of 4294967295 would silently keep root. Never accept it as an id.
const INVALID_ID: u32 = u32::MAX;

/// Parse a decimal id; `None` when not all digits, out of range, or the reserved -1.
fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&id| id != INVALID_ID)
}

/// Lines that carry data: not blank, not comments. A trailing `\r` (file edited on
/// Windows) is tolerated rather than becoming part of the last field.
fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// Parse the text of /etc/passwd. Malformed lines (wrong field count, empty name,
/// non-numeric or reserved ids, NIS `+`/`-` compat lines) are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    data_lines(text)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 7 || !valid_name(f[0]) {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: parse_id(f[2])?,
                gid: parse_id(f[3])?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// Parse the text of /etc/group. Malformed lines are skipped like in [`parse_passwd`].
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    data_lines(text)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 4 || !valid_name(f[0]) {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: parse_id(f[2])?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// A usable account name: non-empty, no whitespace, and not a NIS compat marker.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('+')
        && !name.starts_with('-')
        && !name.chars().any(char::is_whitespace)
}

/// Resolve `NAME|UID[:GROUP|GID]` against the text of /etc/passwd and /etc/group.
///
/// Errors name the offending part of the spec and what was wrong with it. See the module
/// documentation for the rules (gid for unknown uids, supplementary groups).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, String> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(format!(
            "invalid user spec {spec:?}: the user part is empty (expected NAME|UID[:GROUP|GID])"
        ));
    }
    if group_part.is_some_and(|g| g.is_empty() || g.contains(':')) {
        return Err(format!(
            "invalid user spec {spec:?}: the group part is empty or contains ':' (expected NAME|UID[:GROUP|GID])"
        ));
    }

    let users = parse_passwd(passwd);
    let entry: &PasswdEntry = if user_part.bytes().all(|b| b.is_ascii_digit()) {
        let uid = parse_id(user_part).ok_or_else(|| {
            format!("invalid uid {user_part:?} in user spec {spec:?}: must be below {INVALID_ID}")
        })?;
        match users.iter().find(|u| u.uid == uid) {
            Some(e) => e,
            None => {
                // Unknown numeric uid: no name, no home, no memberships.
                let gid = match group_part {
                    Some(g) => resolve_group(g, spec, group)?,
                    None => NOBODY,
                };
                return Ok(Identity {
                    uid,
                    gid,
                    groups: vec![gid],
                    name: None,
                    home: None,
                });
            }
        }
    } else {
        users.iter().find(|u| u.name == user_part).ok_or_else(|| {
            format!(
                "unknown user {user_part:?} in user spec {spec:?}: no such name in the passwd file"
            )
        })?
    };

    let (gid, groups) = match group_part {
        Some(g) => {
            let gid = resolve_group(g, spec, group)?;
            (gid, vec![gid])
        }
        None => {
            let mut groups = vec![entry.gid];
            for g in parse_group(group) {
                if g.members.contains(&entry.name) && !groups.contains(&g.gid) {
                    groups.push(g.gid);
                }
            }
            (entry.gid, groups)
        }
    };
    Ok(Identity {
        uid: entry.uid,
        gid,
        groups,
        name: Some(entry.name.clone()),
        home: Some(entry.home.clone()).filter(|h| !h.is_empty()),
    })
}

/// Resolve the group part of a spec: digits are a gid (it need not exist in the group
/// file, like Docker), anything else must be a group name in the file.
fn resolve_group(part: &str, spec: &str, group_text: &str) -> Result<u32, String> {
    if part.bytes().all(|b| b.is_ascii_digit()) {
        return parse_id(part).ok_or_else(|| {
            format!("invalid gid {part:?} in user spec {spec:?}: must be below {INVALID_ID}")
        });
    }
    parse_group(group_text)
        .iter()
        .find(|g| g.name == part)
        .map(|g| g.gid)
        .ok_or_else(|| {
            format!("unknown group {part:?} in user spec {spec:?}: no such name in the group file")
        })
}

/// Look up the passwd entry for a uid (first one wins), for naming the current user when
/// pidone was started non-root.
pub fn lookup_uid(uid: u32, passwd: &str) -> Option<PasswdEntry> {
    parse_passwd(passwd).into_iter().find(|e| e.uid == uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# comment line
root:x:0:0:root:/root:/bin/sh

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
appuser:x:1500:1500:App User,,,:/home/app:/bin/sh
nohome:x:1501:1501:::
broken line without colons
short:x:1502:1502
badid:x:abc:1:x:/:/bin/sh
+nisuser:x:1503:1503::/:/bin/sh
appuser:x:9999:9999:duplicate:/dup:/bin/sh
dupuid:x:1500:42:second entry with uid 1500:/nope:/bin/sh
minus:x:-1:1::/:/bin/sh
reserved:x:4294967295:1::/:/bin/sh
crlf:x:1600:1600::/crlf:/bin/sh\r
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

    const GROUP: &str = "\
# groups
root:x:0:
appuser:x:1500:
media:x:1600:appuser
video:x:1700:other, appuser ,
audio:x:1800:other
broken
dup:x:1600:appuser
nogroup:x:65534:
staff:x:50:
media:x:7777:
self:x:1500:appuser
";

    #[test]
    fn name_gets_primary_gid_home_and_member_groups() {
        let id = resolve("appuser", PASSWD, GROUP).unwrap();
        assert_eq!(id.uid, 1500);
        assert_eq!(id.gid, 1500);
        // Primary first; 1600 listed twice (media, dup) and 1500 (self) listed again:
        // deduplicated; 1800 does not list appuser.
        assert_eq!(id.groups, vec![1500, 1600, 1700]);
        assert_eq!(id.name.as_deref(), Some("appuser"));
        assert_eq!(id.home.as_deref(), Some("/home/app"));
    }

    #[test]
    fn numeric_uid_with_entry_behaves_like_the_name() {
        let by_uid = resolve("1500", PASSWD, GROUP).unwrap();
        assert_eq!(by_uid, resolve("appuser", PASSWD, GROUP).unwrap());
    }

    #[test]
    fn numeric_uid_without_entry_gets_nogroup_and_no_supplementary_groups() {
        let id = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!(
            id,
            Identity {
                uid: 4242,
                gid: NOBODY,
                groups: vec![NOBODY],
                name: None,
                home: None
            }
        );
    }

    #[test]
    fn numeric_uid_and_gid_need_no_entries() {
        let id = resolve("65534:65534", "", "").unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (65534, 65534, vec![65534]));
        assert_eq!(id.name, None);
        let id = resolve("4242:0", PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (4242, 0, vec![0]));
    }

    #[test]
    fn explicit_group_replaces_memberships() {
        let id = resolve("appuser:staff", PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (1500, 50, vec![50]));
        assert_eq!(id.home.as_deref(), Some("/home/app"));
        let id = resolve("appuser:2000", PASSWD, GROUP).unwrap();
        assert_eq!((id.gid, id.groups), (2000, vec![2000]));
        let id = resolve("1500:1800", PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (1500, 1800, vec![1800]));
    }

    #[test]
    fn unknown_user_and_group_are_clear_errors() {
        let e = resolve("bob", PASSWD, GROUP).unwrap_err();
        assert!(e.contains("unknown user \"bob\""), "{e}");
        assert!(e.contains("passwd"), "{e}");
        let e = resolve("appuser:wheel", PASSWD, GROUP).unwrap_err();
        assert!(e.contains("unknown group \"wheel\""), "{e}");
        let e = resolve("4242:wheel", PASSWD, GROUP).unwrap_err();
        assert!(e.contains("unknown group \"wheel\""), "{e}");
    }

    #[test]
    fn malformed_specs_are_rejected() {
        for spec in ["", ":1", "appuser:", "1:2:3"] {
            let e = resolve(spec, PASSWD, GROUP).unwrap_err();
            assert!(e.contains("invalid user spec"), "{spec:?}: {e}");
        }
        // (uid_t)-1 means "unchanged" to setresuid: must never be a target.
        let e = resolve("4294967295", PASSWD, GROUP).unwrap_err();
        assert!(e.contains("invalid uid"), "{e}");
        let e = resolve("1:4294967295", PASSWD, GROUP).unwrap_err();
        assert!(e.contains("invalid gid"), "{e}");
        assert!(resolve("99999999999", PASSWD, GROUP).is_err());
        assert!(resolve("-1", PASSWD, GROUP).is_err());
    }

    #[test]
    fn first_entry_wins_for_duplicates() {
        // "appuser" appears again with uid 9999 and uid 1500 again as "dupuid".
        assert_eq!(resolve("appuser", PASSWD, GROUP).unwrap().uid, 1500);
        assert_eq!(
            resolve("1500", PASSWD, GROUP).unwrap().name.as_deref(),
            Some("appuser")
        );
        // "media" appears again with gid 7777.
        assert_eq!(resolve("4242:media", PASSWD, GROUP).unwrap().gid, 1600);
    }

    #[test]
    fn malformed_comment_and_blank_lines_are_skipped() {
        let names: Vec<String> = parse_passwd(PASSWD).into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "root", "daemon", "appuser", "nohome", "appuser", "dupuid", "crlf", "nobody"
            ]
        );
        for bad in ["short", "badid", "+nisuser", "minus", "reserved"] {
            let e = resolve(bad, PASSWD, GROUP).unwrap_err();
            assert!(e.contains("unknown user"), "{bad}: {e}");
        }
        let groups: Vec<String> = parse_group(GROUP).into_iter().map(|g| g.name).collect();
        assert!(!groups.iter().any(|g| g == "broken"));
    }

    #[test]
    fn empty_home_is_none_and_crlf_is_tolerated() {
        let id = resolve("nohome", PASSWD, GROUP).unwrap();
        assert_eq!(id.home, None);
        assert_eq!(id.groups, vec![1501]);
        let id = resolve("crlf", PASSWD, GROUP).unwrap();
        assert_eq!(id.home.as_deref(), Some("/crlf"));
    }

    #[test]
    fn member_lists_are_trimmed_and_exact() {
        let g = parse_group("g:x:10:a, b ,,c\nh:x:11:appuserx\n");
        assert_eq!(g[0].members, ["a", "b", "c"]);
        // "appuserx" is not "appuser": no prefix matching.
        let id = resolve("appuser", "appuser:x:1:1::/:/bin/sh\n", "h:x:11:appuserx\n").unwrap();
        assert_eq!(id.groups, vec![1]);
    }

    #[test]
    fn lookup_uid_finds_first_entry() {
        assert_eq!(lookup_uid(1500, PASSWD).unwrap().name, "appuser");
        assert_eq!(lookup_uid(4242, PASSWD), None);
    }
}
