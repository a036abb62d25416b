//! s6's setuidgid family, which images call to run a daemon as its own user:
//! `s6-setuidgid ACCOUNT PROG...`, `s6-applyuidgid [-z] [-u UID] [-g GID] [-G LIST] [-U]
//! PROG...` and `s6-envuidgid [-u|-g|-B] [-n] [-i|-D UID:GID:LIST] ACCOUNT PROG...`.
//!
//! Same meaning as s6's (checked against Debian's s6 2.11): accounts come from /etc/passwd
//! and /etc/group; the supplementary groups are those whose member list names the user
//! (only the primary gid when none does); an unknown account is named and exits 1; a
//! switch that fails exits 111. pidone reads the two files itself (a static binary has no
//! NSS), so an account `usermod` changed a moment ago is seen as it is now.
//!
//! The switch happens when the process can make it (root with CAP_SETUID and CAP_SETGID:
//! pidone keeps root for an s6 image started as root). A hardened container cannot, and
//! does not need to when the account is who it already is: then PROG runs as it is. Anything
//! else is an error that says which user was asked for, who the process is, and what to do.

use super::{EXIT_MISSING, EXIT_USAGE, exec, fail, service_name};
use crate::privilege::{self, Switch};
use crate::users::{self, GroupEntry, PasswdEntry};
use std::path::Path;

/// s6's "account unknown" exit code (s6-setuidgid, s6-envuidgid).
const EXIT_UNKNOWN: i32 = 1;

fn read_accounts() -> (Vec<PasswdEntry>, Vec<GroupEntry>) {
    use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
    let read =
        |p: &str| read_to_string(Path::new(p), CONFIG_LIMIT, Symlinks::Follow).unwrap_or_default();
    (
        users::parse_passwd(&read("/etc/passwd")),
        users::parse_group(&read("/etc/group")),
    )
}

/// A user by name (a number is taken as a uid that has an entry, which s6 does not do but
/// which hurts nobody).
fn find_user<'a>(name: &str, passwd: &'a [PasswdEntry]) -> Option<&'a PasswdEntry> {
    passwd.iter().find(|u| u.name == name).or_else(|| {
        let uid: u32 = name.parse().ok()?;
        passwd.iter().find(|u| u.uid == uid)
    })
}

/// A group by name, or a number as it is.
fn find_group(name: &str, groups: &[GroupEntry]) -> Option<u32> {
    groups
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.gid)
        .or_else(|| name.parse().ok())
}

/// The groups whose member list names `user`, as s6-envuidgid's GIDLIST.
fn member_of(user: &str, groups: &[GroupEntry]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for g in groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == user))
    {
        if !out.contains(&g.gid) {
            out.push(g.gid);
        }
    }
    out
}

/// setgroups' list for a gid and a GIDLIST: an empty list means the gid alone (as s6).
fn group_list(gid: u32, list: Vec<u32>) -> Vec<u32> {
    if list.is_empty() { vec![gid] } else { list }
}

/// `s6-setuidgid ACCOUNT PROG...`: ACCOUNT is a user name, or `UID:GID` (each part may
/// also be a name here); empty runs PROG as it is.
pub(super) fn s6_setuidgid(args: &[String]) -> i32 {
    const TOOL: &str = "s6-setuidgid";
    let Some((account, prog)) = args.split_first() else {
        return fail(TOOL, EXIT_USAGE, "usage: s6-setuidgid ACCOUNT PROG...");
    };
    if account.is_empty() {
        return exec(TOOL, prog);
    }
    let (passwd, groups) = read_accounts();
    let to = match account.split_once(':') {
        Some((u, g)) => {
            let Some(uid) = find_user(u, &passwd)
                .map(|e| e.uid)
                .or_else(|| u.parse().ok())
            else {
                return fail(TOOL, EXIT_UNKNOWN, format!("unknown user: {u}"));
            };
            let Some(gid) = find_group(g, &groups) else {
                return fail(TOOL, EXIT_UNKNOWN, format!("unknown group: {g}"));
            };
            Switch {
                uid: Some(uid),
                gid: Some(gid),
                groups: Some(vec![gid]),
            }
        }
        None => {
            let Some(user) = find_user(account, &passwd) else {
                return fail(
                    TOOL,
                    EXIT_UNKNOWN,
                    format!("unknown user: {account} (no such name in /etc/passwd)"),
                );
            };
            Switch {
                uid: Some(user.uid),
                gid: Some(user.gid),
                groups: Some(group_list(user.gid, member_of(&user.name, &groups))),
            }
        }
    };
    become_then_exec(TOOL, account, &to, prog)
}

/// `s6-applyuidgid [-z] [-u UID] [-g GID] [-G LIST] [-U] PROG...`: options apply in order,
/// so `-u` after `-U` overrides `$UID`. Only what is given changes.
pub(super) fn s6_applyuidgid(args: &[String]) -> i32 {
    const TOOL: &str = "s6-applyuidgid";
    let env = |k: &str| std::env::var(k).ok();
    let (to, unexport, prog) = match parse_apply(args, &env) {
        Ok(parsed) => parsed,
        Err(e) => {
            return fail(
                TOOL,
                EXIT_USAGE,
                format!(
                    "{e} (usage: s6-applyuidgid [ -z ] [ -u uid ] [ -g gid ] [ -G gidlist ] [ -U ] prog...)"
                ),
            );
        }
    };
    if unexport {
        for k in ["UID", "GID", "GIDLIST"] {
            // SAFETY: single-threaded shim, before exec.
            unsafe { std::env::remove_var(k) };
        }
    }
    let what = describe(&to);
    become_then_exec(TOOL, &what, &to, &args[prog..])
}

/// s6-applyuidgid's options: (what to become, `-z`, index of PROG). An empty group list
/// means the gid alone (the target's, else the current one), as s6's.
fn parse_apply(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Switch, bool, usize), String> {
    let mut to = Switch {
        uid: None,
        gid: None,
        groups: None,
    };
    let mut unexport = false;
    let (opts, rest) = super::getopt::getopt(args, "zU", "ugG")?;
    for (c, value) in opts {
        let value = value.unwrap_or_default();
        match c {
            'z' => unexport = true,
            'U' => from_env(&mut to, env)?,
            'u' => to.uid = Some(value.parse().map_err(|_| "-u needs a numeric uid")?),
            'g' => to.gid = Some(value.parse().map_err(|_| "-g needs a numeric gid")?),
            _ => {
                to.groups = Some(
                    parse_gidlist(&value)
                        .ok_or("-G needs a comma-separated list of numeric gids")?,
                )
            }
        }
    }
    if to.groups.as_ref().is_some_and(Vec::is_empty) {
        let gid = to.gid.unwrap_or_else(|| nix::unistd::getegid().as_raw());
        to.groups = Some(vec![gid]);
    }
    Ok((to, unexport, args.len() - rest.len()))
}

/// `-U`: UID, GID and GIDLIST from the environment (s6-envuidgid's output); each must be set.
fn from_env(to: &mut Switch, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let get = |k: &str| env(k).ok_or_else(|| format!("-U: {k} not set"));
    to.uid = Some(get("UID")?.parse().map_err(|_| "-U: UID is not a number")?);
    let gid: u32 = get("GID")?.parse().map_err(|_| "-U: GID is not a number")?;
    to.gid = Some(gid);
    let list = parse_gidlist(&get("GIDLIST")?).ok_or("-U: GIDLIST is not a list of numbers")?;
    to.groups = Some(group_list(gid, list));
    Ok(())
}

fn parse_gidlist(text: &str) -> Option<Vec<u32>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',').map(|g| g.parse().ok()).collect()
}

fn describe(to: &Switch) -> String {
    let part = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    format!("uid {} gid {}", part(to.uid), part(to.gid))
}

/// `s6-envuidgid [-u|-g|-B] [-n] [-i|-D UID:GID:LIST] ACCOUNT PROG...`: sets UID, GID,
/// GIDLIST (or a part of them) for `s6-applyuidgid -U`, then execs PROG. Changes nothing else.
pub(super) fn s6_envuidgid(args: &[String]) -> i32 {
    const TOOL: &str = "s6-envuidgid";
    #[derive(PartialEq)]
    enum What {
        User,
        Group,
        Both,
        Full,
    }
    let mut what = What::Full;
    let mut numeric = false;
    let mut default: Option<String> = None;
    let (opts, rest) = match super::getopt::getopt(args, "ugBni", "D") {
        Ok(o) => o,
        Err(e) => return fail(TOOL, EXIT_USAGE, e),
    };
    for (c, value) in opts {
        match c {
            'u' => what = What::User,
            'g' => what = What::Group,
            'B' => what = What::Both,
            'n' => numeric = true,
            'i' => default = None,
            _ => default = value,
        }
    }
    let Some((account, prog)) = rest.split_first() else {
        return fail(
            TOOL,
            EXIT_USAGE,
            "usage: s6-envuidgid [ -u | -g | -B ] [ -n ] [ -i | -D uid:gid:gidlist ] account prog...",
        );
    };
    let (passwd, groups) = read_accounts();
    // The -D default's parts, when the account is unknown.
    let fallback: Vec<String> = default
        .as_deref()
        .map(|d| d.splitn(3, ':').map(str::to_string).collect())
        .unwrap_or_default();
    let fallback_part = |n: usize| fallback.get(n).cloned();
    let user = |name: &str| -> Option<String> {
        find_user(name, &passwd)
            .map(|e| e.uid.to_string())
            .or_else(|| numeric.then(|| name.parse::<u32>().ok().map(|u| u.to_string()))?)
    };
    let group = |name: &str| -> Option<String> {
        groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.gid.to_string())
            .or_else(|| numeric.then(|| name.parse::<u32>().ok().map(|g| g.to_string()))?)
    };
    let mut set: Vec<(&str, String)> = Vec::new();
    match what {
        What::User => match user(account).or_else(|| fallback_part(0)) {
            Some(u) => set.push(("UID", u)),
            None => return fail(TOOL, EXIT_UNKNOWN, format!("unknown user: {account}")),
        },
        What::Group => match group(account).or_else(|| fallback_part(1)) {
            Some(g) => set.push(("GID", g)),
            None => return fail(TOOL, EXIT_UNKNOWN, format!("unknown group: {account}")),
        },
        What::Both => {
            let (u, g) = account.split_once(':').unwrap_or((account, ""));
            // s6: a part that does not exist is 0 unless -D gives a better default.
            let u = user(u).or_else(|| fallback_part(0)).unwrap_or("0".into());
            let g = group(g).or_else(|| fallback_part(1)).unwrap_or("0".into());
            set.push(("UID", u));
            set.push(("GID", g));
        }
        What::Full => match find_user(account, &passwd) {
            Some(e) => {
                set.push(("UID", e.uid.to_string()));
                set.push(("GID", e.gid.to_string()));
                let list: Vec<String> = member_of(&e.name, &groups)
                    .iter()
                    .map(u32::to_string)
                    .collect();
                set.push(("GIDLIST", list.join(",")));
            }
            None if fallback.len() >= 2 => {
                set.push(("UID", fallback[0].clone()));
                set.push(("GID", fallback[1].clone()));
                set.push(("GIDLIST", fallback.get(2).cloned().unwrap_or_default()));
            }
            None => return fail(TOOL, EXIT_UNKNOWN, format!("unknown user: {account}")),
        },
    }
    for (k, v) in set {
        // SAFETY: single-threaded shim, before exec.
        unsafe { std::env::set_var(k, v) };
    }
    exec(TOOL, prog)
}

/// Become `to` when the process can, then exec `prog`; run it as it is when it already is
/// `to` or, unable to switch, at least has the asked-for uid (the group cannot change
/// either: OpenShift and `--user N:0` run with gid 0); otherwise say why and exit 111.
fn become_then_exec(tool: &str, asked: &str, to: &Switch, prog: &[String]) -> i32 {
    if prog.is_empty() {
        return fail(tool, EXIT_USAGE, "no command to run");
    }
    if privilege::already(to) {
        return exec(tool, prog);
    }
    if privilege::can_switch() {
        return match privilege::switch(to) {
            Ok(()) => exec(tool, prog),
            Err(e) => fail(tool, EXIT_MISSING, format!("cannot become {asked}: {e}")),
        };
    }
    // SAFETY: getters that cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if to.uid.is_none_or(|u| u == uid) {
        return exec(tool, prog);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let service = service_name(".", &cwd).unwrap_or_else(|| "?".into());
    let why = if uid == 0 {
        "as root without CAP_SETUID/CAP_SETGID (dropped by the runtime, e.g. --cap-drop ALL, or not in pidone's --keep-cap)"
    } else {
        "as a non-root user"
    };
    let (want_uid, want_gid) = (
        to.uid.map_or("?".into(), |u| u.to_string()),
        to.gid.map_or(gid.to_string(), |g| g.to_string()),
    );
    fail(
        tool,
        EXIT_MISSING,
        format!(
            "service {service} (in {}) asks to run as {asked} (uid {want_uid} gid {want_gid}), but runs as uid {uid} gid {gid} {why} and cannot change user; start the container as that user (docker run --user {want_uid}:{want_gid}), or as root without --user/PIDONE_USER so that pidone keeps root for the image's scripts, or remove {tool} from the script",
            cwd.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: &str =
        "abc:x:4711:abc\nmedia:x:4800:abc,other\nvideo:x:44:other\nmedia2:x:4800:abc\n";

    #[test]
    fn supplementary_groups_are_the_member_lists() {
        let groups = users::parse_group(GROUP);
        assert_eq!(member_of("abc", &groups), [4711, 4800]);
        assert_eq!(member_of("nobody", &groups), Vec::<u32>::new());
        assert_eq!(group_list(33, member_of("nobody", &groups)), [33]);
    }

    #[test]
    fn gid_lists_are_numbers_and_commas() {
        assert_eq!(parse_gidlist("4,5"), Some(vec![4, 5]));
        assert_eq!(parse_gidlist(""), Some(vec![]));
        assert_eq!(parse_gidlist("4, 5"), None);
        assert_eq!(parse_gidlist("video"), None);
    }

    #[test]
    fn applyuidgid_options_apply_in_order() {
        let words = |s: &str| -> Vec<String> { s.split(' ').map(String::from).collect() };
        let env = |k: &str| match k {
            "UID" => Some("4711".to_string()),
            "GID" => Some("4712".to_string()),
            "GIDLIST" => Some(String::new()),
            _ => None,
        };
        let (to, z, prog) = parse_apply(&words("-U -u 5 -z id -u"), &env).unwrap();
        assert_eq!(
            (to.uid, to.gid, to.groups),
            (Some(5), Some(4712), Some(vec![4712]))
        );
        assert!(z);
        assert_eq!(prog, 4);
        let (to, _, prog) = parse_apply(&words("-u5 -G4,6 -- id"), &env).unwrap();
        assert_eq!(
            (to.uid, to.gid, to.groups),
            (Some(5), None, Some(vec![4, 6]))
        );
        assert_eq!(prog, 3);
        let (to, ..) = parse_apply(&words("-g 9 -G  id"), &env).unwrap();
        assert_eq!(to.groups, Some(vec![9]), "an empty list is the gid alone");
        let none = |_: &str| None;
        let e = parse_apply(&words("-U id"), &none).unwrap_err();
        assert!(e.contains("UID not set"), "{e}");
        assert!(parse_apply(&words("-u abc id"), &env).is_err());
        assert!(parse_apply(&words("-x id"), &env).is_err());
    }

    #[test]
    fn users_by_name_or_known_uid() {
        let passwd = users::parse_passwd("abc:x:4711:4711::/config:/bin/false\n");
        assert_eq!(find_user("abc", &passwd).map(|e| e.uid), Some(4711));
        assert_eq!(find_user("4711", &passwd).map(|e| e.uid), Some(4711));
        assert!(find_user("4712", &passwd).is_none());
        assert!(find_user("abd", &passwd).is_none());
    }
}
