//! One process changing its own identity on a script's request (s6-setuidgid and its
//! family, when pidone kept root for an s6-overlay image): setgroups → setresgid →
//! setresuid, each only when asked for, then the result read back from the kernel. The
//! caller execs the script's program right after, or exits when this fails: a half-switched
//! process must never run anything.

use super::caps::capget;
use ::caps::Capability;
use nix::unistd::{Gid, Uid, getresgid, getresuid, setgroups, setresgid, setresuid};

/// What to become; `None` leaves that part as it is (s6-applyuidgid without `-G` keeps the
/// supplementary groups, without `-g` the gid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Option<Vec<u32>>,
}

/// Whether this process may change its ids: CAP_SETUID and CAP_SETGID in its effective set
/// (root keeps them unless the runtime dropped them, `--cap-drop ALL`; a non-root uid never
/// has them under pidone).
pub fn can_switch() -> bool {
    let want = Capability::CAP_SETUID.bitmask() | Capability::CAP_SETGID.bitmask();
    capget().is_ok_and(|sets| sets.effective & want == want)
}

/// True when the process already is what `to` asks for (groups compared as sets), so
/// there is nothing to do.
pub fn already(to: &Switch) -> bool {
    let uid_ok = to.uid.is_none_or(|u| nix::unistd::geteuid().as_raw() == u);
    let gid_ok = to.gid.is_none_or(|g| nix::unistd::getegid().as_raw() == g);
    let groups_ok = to
        .groups
        .as_ref()
        .is_none_or(|want| super::supplementary_groups().is_ok_and(|have| same_set(&have, want)));
    uid_ok && gid_ok && groups_ok
}

fn same_set(a: &[u32], b: &[u32]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

/// Apply `to` (`set_ids`), then verify from the kernel.
pub fn switch(to: &Switch) -> Result<(), String> {
    set_ids(to)?;
    verify(to)
}

/// setgroups → setresgid → setresuid, each only where `to` names it, in that order: the first
/// two need CAP_SETGID, which a non-root uid no longer has, so the uid goes last. The res*
/// variants change the saved ids too; a saved uid or gid of 0 would let the process switch
/// back with seteuid(0)/setegid(0). (Also the privilege stage's own drop: `switch_ids`.)
pub(super) fn set_ids(to: &Switch) -> Result<(), String> {
    if let Some(groups) = &to.groups {
        let list: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
        setgroups(&list)
            .map_err(|e| format!("setgroups({groups:?}): {e} (is CAP_SETGID missing?)"))?;
    }
    if let Some(gid) = to.gid {
        let g = Gid::from_raw(gid);
        setresgid(g, g, g)
            .map_err(|e| format!("setresgid({gid}): {e} (is CAP_SETGID missing?)"))?;
    }
    if let Some(uid) = to.uid {
        let u = Uid::from_raw(uid);
        setresuid(u, u, u)
            .map_err(|e| format!("setresuid({uid}): {e} (is CAP_SETUID missing?)"))?;
    }
    Ok(())
}

fn verify(to: &Switch) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(uid) = to.uid {
        let u = getresuid().map_err(|e| format!("getresuid: {e}"))?;
        let have = [u.real, u.effective, u.saved].map(Uid::as_raw);
        if have != [uid; 3] {
            problems.push(format!("uids are {have:?}, expected {uid}"));
        }
        // The kernel clears root's capabilities when every uid leaves 0; if that did not
        // happen (a keep-caps flag inherited from somewhere) the program could go back.
        if uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            problems.push("setuid(0) still succeeds".into());
        }
    }
    if let Some(gid) = to.gid {
        let g = getresgid().map_err(|e| format!("getresgid: {e}"))?;
        let have = [g.real, g.effective, g.saved].map(Gid::as_raw);
        if have != [gid; 3] {
            problems.push(format!("gids are {have:?}, expected {gid}"));
        }
    }
    if let Some(want) = &to.groups {
        let have = super::supplementary_groups().map_err(|e| format!("getgroups: {e}"))?;
        if !same_set(&have, want) {
            problems.push(format!(
                "supplementary groups are {have:?}, expected {want:?}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the switch did not take: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_compare_as_sets() {
        assert!(same_set(&[4711, 4800, 4800], &[4800, 4711]));
        assert!(!same_set(&[4711], &[4711, 0]));
    }

    #[test]
    fn asking_for_nothing_is_already_done() {
        let nothing = Switch {
            uid: None,
            gid: None,
            groups: None,
        };
        assert!(already(&nothing));
        let me = Switch {
            uid: Some(nix::unistd::geteuid().as_raw()),
            gid: Some(nix::unistd::getegid().as_raw()),
            groups: None,
        };
        assert!(already(&me));
    }
}
