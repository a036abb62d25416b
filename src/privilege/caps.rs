//! Raw capability access, the one job of this file. The `caps` crate supplies names; the
//! masks are handled here as 64-bit words so that capabilities newer than the crate's list
//! are dropped and verified too, and so that all three base sets change in one capset(2)
//! call (effective must stay a subset of permitted at every step, which set-by-set updates
//! would break).

use ::caps::Capability;
use nix::errno::Errno;

pub(super) const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
pub(super) struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CapSets {
    pub(super) effective: u64,
    pub(super) permitted: u64,
    pub(super) inheritable: u64,
}

pub(super) fn capget() -> Result<CapSets, String> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, the layout capget(2) expects for v3.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if r != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

pub(super) fn capset(sets: CapSets) -> Result<(), String> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| (m as u32, (m >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: as in capget; the kernel only reads `data`.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    if r != 0 {
        return Err(format!(
            "capset(effective={}, permitted={}, inheritable={}): {}",
            describe(sets.effective),
            describe(sets.permitted),
            describe(sets.inheritable),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

pub(super) fn prctl(
    option: libc::c_int,
    arg2: libc::c_ulong,
    arg3: libc::c_ulong,
) -> Result<libc::c_int, Errno> {
    // SAFETY: the capability prctls used here take integer arguments only.
    let r = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// The bounding set, probed index by index until the kernel says EINVAL (past its last
/// capability), so it also covers capabilities newer than the `caps` crate.
pub(super) fn bounding_mask() -> Result<u64, String> {
    let mut mask = 0;
    for i in 0..64u32 {
        match prctl(libc::PR_CAPBSET_READ, i.into(), 0) {
            Ok(1) => mask |= 1 << i,
            Ok(_) => {}
            Err(Errno::EINVAL) => break,
            Err(e) => return Err(format!("PR_CAPBSET_READ({i}): {e}")),
        }
    }
    Ok(mask)
}

pub(super) fn drop_bounding_except(keep: u64, current: u64) -> Result<(), String> {
    for i in (0..64u32).filter(|i| current & !keep & (1 << i) != 0) {
        prctl(libc::PR_CAPBSET_DROP, i.into(), 0).map_err(|e| {
            format!(
                "dropping {} from the bounding set: {e} (is CAP_SETPCAP missing? a root start needs it to clear the bounding set; or start non-root with the runtime's --user)",
                describe(1 << i)
            )
        })?;
    }
    Ok(())
}

pub(super) fn ambient_mask() -> Result<u64, String> {
    let mut mask = 0;
    for i in 0..64u32 {
        match prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
            i.into(),
        ) {
            Ok(1) => mask |= 1 << i,
            Ok(_) => {}
            Err(Errno::EINVAL) => break,
            Err(e) => return Err(format!("PR_CAP_AMBIENT_IS_SET({i}): {e}")),
        }
    }
    Ok(mask)
}

pub(super) fn clear_ambient() -> Result<(), String> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map(|_| ())
    .map_err(|e| format!("PR_CAP_AMBIENT_CLEAR_ALL: {e} (kernel older than 4.3?)"))
}

pub(super) fn raise_ambient(mask: u64) -> Result<(), String> {
    for i in (0..64u32).filter(|i| mask & (1 << i) != 0) {
        prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            i.into(),
        )
        .map_err(|e| format!("raising {} into the ambient set: {e}", describe(1 << i)))?;
    }
    Ok(())
}

pub(super) fn mask_of(caps: &[Capability]) -> u64 {
    caps.iter().fold(0, |m, c| m | c.bitmask())
}

pub(super) fn caps_of(mask: u64) -> Vec<Capability> {
    let mut v: Vec<Capability> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .collect();
    v.sort_by_key(|c| c.index());
    v
}

/// `0x0000000000000400 (CAP_NET_BIND_SERVICE)`, the hex as in /proc/PID/status.
pub(super) fn describe(mask: u64) -> String {
    if mask == 0 {
        return "0x0000000000000000 (none)".to_string();
    }
    let names: Vec<String> = (0..64u8)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| {
            caps::all()
                .into_iter()
                .find(|c| c.index() == i)
                .map_or_else(|| format!("cap_{i}"), |c| c.to_string())
        })
        .collect();
    format!("{mask:#018x} ({})", names.join(", "))
}

/// The capability sets now, the bounding set, and what of `requested` can be kept: only what
/// we have, both in permitted (to raise it again after a uid change) and in bounding
/// (inheritable and ambient may not exceed it).
pub(super) fn keepable(requested: u64) -> Result<(CapSets, u64, u64), String> {
    let before = capget()?;
    let bounding = bounding_mask()?;
    Ok((before, bounding, requested & before.permitted & bounding))
}
