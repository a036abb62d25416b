//! The verification after a drop, the one job of this file: every id and capability set
//! read back from the kernel and compared with what was asked for, and a setuid(0) tried
//! as the decisive test. Separate from the steps it checks so that it trusts none of them:
//! it knows only what `mod.rs` expected, never how the changes were made.

use super::caps::{ambient_mask, bounding_mask, capget, describe};
use super::supplementary_groups;
use nix::unistd::{Gid, Uid, getresgid, getresuid};

/// What the capability sets must be after the drop.
pub(super) enum ExpectedCaps {
    /// Effective, permitted, inheritable and ambient equal `mask`; bounding too if `bounding`.
    Exactly { mask: u64, bounding: bool },
    /// Root kept its sets; inheritable and ambient must be empty.
    RootUntouched {
        effective: u64,
        permitted: u64,
        bounding: u64,
    },
}

/// What the kernel must report after the drop.
pub(super) struct Expected {
    /// Real, effective and saved uid must all equal this.
    pub(super) uid: u32,
    /// Real, effective and saved gid must all equal this (when we set them).
    pub(super) gid: Option<u32>,
    /// The supplementary group list (when we set it), compared as a set.
    pub(super) groups: Option<Vec<u32>>,
    pub(super) caps: ExpectedCaps,
}

/// Read everything back from the kernel and compare; every difference is listed.
pub(super) fn verify(exp: &Expected) -> Result<(), String> {
    let mut problems = Vec::new();
    let u = getresuid().map_err(|e| format!("getresuid: {e}"))?;
    let uids = [u.real, u.effective, u.saved].map(Uid::as_raw);
    if uids != [exp.uid; 3] {
        problems.push(format!(
            "uids (real/effective/saved) are {uids:?}, expected {}",
            exp.uid
        ));
    }
    if let Some(gid) = exp.gid {
        let g = getresgid().map_err(|e| format!("getresgid: {e}"))?;
        let gids = [g.real, g.effective, g.saved].map(Gid::as_raw);
        if gids != [gid; 3] {
            problems.push(format!(
                "gids (real/effective/saved) are {gids:?}, expected {gid}"
            ));
        }
    }
    if let Some(want) = &exp.groups {
        let mut have = supplementary_groups().map_err(|e| format!("getgroups: {e}"))?;
        let mut want = want.clone();
        have.sort_unstable();
        have.dedup();
        want.sort_unstable();
        want.dedup();
        if have != want {
            problems.push(format!(
                "supplementary groups are {have:?}, expected {want:?}"
            ));
        }
    }
    if exp.uid != 0 {
        // The decisive test: if any path back to root were left (saved uid 0, a kept
        // CAP_SETUID), this call would succeed. If it does, we are root now: the error makes
        // the caller exit, which is the only safe reaction.
        if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            problems.push("setuid(0) succeeded: the process can become root again".to_string());
        }
    }

    let sets = capget()?;
    let ambient = ambient_mask()?;
    let bounding = bounding_mask()?;
    let mut check = |name: &str, have: u64, want: u64| {
        if have != want {
            problems.push(format!(
                "{name} is {}, expected {}",
                describe(have),
                describe(want)
            ));
        }
    };
    match exp.caps {
        ExpectedCaps::Exactly {
            mask,
            bounding: check_bounding,
        } => {
            check("effective set", sets.effective, mask);
            check("permitted set", sets.permitted, mask);
            check("inheritable set", sets.inheritable, mask);
            check("ambient set", ambient, mask);
            if check_bounding {
                check("bounding set", bounding, mask);
            }
        }
        ExpectedCaps::RootUntouched {
            effective,
            permitted,
            bounding: bnd,
        } => {
            check("effective set", sets.effective, effective);
            check("permitted set", sets.permitted, permitted);
            check("inheritable set", sets.inheritable, 0);
            check("ambient set", ambient, 0);
            check("bounding set", bounding, bnd);
        }
    }
    match nix::sys::prctl::get_no_new_privs() {
        Ok(true) => {}
        Ok(false) => problems.push("no_new_privs is off".to_string()),
        Err(e) => problems.push(format!("PR_GET_NO_NEW_PRIVS: {e}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "privilege verification failed: {}",
            problems.join("; ")
        ))
    }
}
