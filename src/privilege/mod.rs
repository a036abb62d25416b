//! Stage 3 of the data flow: drop to the unprivileged user and shed capabilities.
//!
//! # Modes
//! - **Started as root** (effective uid 0): resolve the target user (`--user`, default
//!   `65534:65534`), then setgroups → setresgid → setresuid, reduce every capability set
//!   (bounding included) to the keep-list, make the keep-list ambient so it survives execve
//!   into an unprivileged service, set no_new_privs, and verify all of it from the kernel.
//! - **Stayed root** (`allow_root`): without `--user`, or with a `--user` that resolves to
//!   uid 0. The ids are kept (or set to the uid-0 target), inheritable/ambient are cleared,
//!   no_new_privs is still set (it never takes anything root already has: it only stops
//!   execve from *gaining* privileges via setuid bits or file capabilities). Capabilities are
//!   left as the runtime gave them unless a keep-list is given, in which case they are
//!   reduced to it like in the drop case: `--allow-root` exists for legacy services that
//!   need root's powers (chown, setuid to a worker user), so silently removing all
//!   capabilities would make it useless, while an explicit keep-list is honoured everywhere.
//!   The outcome carries a warning that the caller must log.
//! - **Kept root for an s6-overlay image** (`root_keeps_root`, a root start of the s6 mode
//!   without `--user`): as "stayed root" above, because s6-overlay runs an image's scripts
//!   as root and they drop to their own users (`s6-setuidgid abc`, see `switch`); one log
//!   line says so and how to drop instead.
//! - **Started non-root** (the hardened case, any uid): ids are left alone; the permitted,
//!   effective and inheritable sets are reduced to the keep-list (a non-root process
//!   normally has nothing there anyway), the ambient set to the keep-list, no_new_privs set.
//!   The bounding set can only be changed with CAP_SETPCAP, so it is reduced only when the
//!   process happens to have it.
//!
//! # Threads
//! capset(2) and prctl(2) act on the calling thread only, so `apply` must run while the
//! process is single-threaded (pidone's design: one event loop thread). It refuses
//! otherwise, because other threads would silently keep root's capabilities.
//!
//! # Files
//! In the order of the drop's steps:
//! - `mod.rs`: the policy above (what to drop, what to refuse) and the drop itself, each
//!   step a named function in the order of its syscalls (`apply_as_root` is the recipe);
//! - `dirs.rs`: directories created and handed to the target user before the drop;
//! - `caps.rs`: the raw capability syscalls (capget/capset, bounding, ambient);
//! - `switch.rs`: setgroups → setresgid → setresuid (`set_ids`, also the drop's own), and a
//!   script's own switch to another user (s6-setuidgid), verified;
//! - `verify.rs`: the drop's verification, everything read back from the kernel.

mod caps;
mod dirs;
mod switch;
mod verify;

pub use dirs::{DirAction, prepare_dirs};
pub use switch::{Switch, already, can_switch, switch};

use crate::users::{self, Identity};
use ::caps::Capability;
use caps::{
    CapSets, caps_of, capset, clear_ambient, describe, drop_bounding_except, keepable, mask_of,
    raise_ambient,
};
use nix::unistd::getresuid;
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use verify::{Expected, ExpectedCaps, verify};

/// The user spec used when started as root with neither `--user` nor `--allow-root`.
pub const DEFAULT_USER: &str = "65534:65534";

/// `Default` is the behaviour with no options: drop to 65534:65534, keep no capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivilegeSettings {
    /// `--user` spec; `None` means the default `65534:65534` (or "stay root" with `allow_root`).
    pub user: Option<String>,
    /// Permit uid 0 as the target; without `user` it means "stay root".
    pub allow_root: bool,
    /// Without `user`, a root start stays root (the s6-overlay mode: the image's scripts
    /// expect root and switch users themselves). A `user` still drops.
    pub root_keeps_root: bool,
    /// Capability names as given (`NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE`, any case).
    pub keep_caps: Vec<String>,
    /// Permit keeping a capability of [`DANGEROUS_CAPS`] after dropping to a non-root user.
    pub allow_dangerous_caps: bool,
    /// Directories (path, mode) that the target user needs and that must exist before the
    /// drop, created with their missing parents and handed to that user while still root:
    /// the render dir, then the run dir. A root-owned 0700 run dir would be unusable after
    /// the drop. Ignored when pidone stays root or was started non-root.
    pub prepare_dirs: Vec<(PathBuf, u32)>,
}

/// Why `apply` refused: the caller exits with a different code for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A directory of `prepare_dirs` could not be created or handed over (exit 73).
    Dirs(String),
    /// The drop itself failed or could not be verified (exit 77).
    Drop(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Dirs(e) | Refusal::Drop(e) => f.write_str(e),
        }
    }
}

/// Every step of the drop reports a plain message; only the directory step is told apart.
impl From<String> for Refusal {
    fn from(e: String) -> Refusal {
        Refusal::Drop(e)
    }
}

/// Capabilities that undo (or make pointless) a drop to a non-root user: each lets a service
/// gain root's powers over files, processes or the kernel. Keeping one after a drop is
/// refused unless `allow_dangerous_caps` is set (CAP_SETUID is refused even then). The
/// README lists them under "Security model".
pub const DANGEROUS_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,           // take ownership of any file
    Capability::CAP_DAC_OVERRIDE,    // read/write/execute any file
    Capability::CAP_DAC_READ_SEARCH, // read any file, open_by_handle_at escapes
    Capability::CAP_FOWNER,          // chmod any file, e.g. make /etc/passwd writable
    Capability::CAP_FSETID,          // keep setuid/setgid bits on files it changes
    Capability::CAP_SETGID,          // become any group (gid 0, shadow, disk)
    Capability::CAP_SETPCAP,         // grant itself capabilities from the bounding set
    Capability::CAP_LINUX_IMMUTABLE, // lift immutable/append-only protection
    Capability::CAP_SYS_MODULE,      // load kernel code
    Capability::CAP_SYS_RAWIO,       // raw device and port I/O
    Capability::CAP_SYS_PTRACE,      // inject code into any process, root's included
    Capability::CAP_SYS_ADMIN,       // mount, namespaces, and much more: "the new root"
    Capability::CAP_MKNOD,           // create device nodes, e.g. the raw disk
    Capability::CAP_MAC_ADMIN,       // reconfigure the LSM that confines it
    Capability::CAP_MAC_OVERRIDE,    // bypass that LSM
    Capability::CAP_BPF,             // load BPF programs (kernel memory access)
];

/// Which path `apply` took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// Started as root and switched to a non-zero uid.
    Dropped,
    /// Started as root and still uid 0 because `allow_root` was given.
    StayedRoot,
    /// Started non-root: ran as is, hardened.
    NonRoot,
}

/// What `apply` did, for the log line and for exporting `HOME`/`USER` to children.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub mode: DropMode,
    /// `Some` when started as root and switched to the target user (`--user`, else the
    /// default 65534:65534; possibly root itself, with allow_root): the caller then sets
    /// HOME/USER/LOGNAME from it. `None` when the ids were left as they were (allow_root
    /// without `--user`, or a non-root start).
    pub dropped_to: Option<Identity>,
    /// The identity in effect now (for non-root starts: the current ids, named from
    /// /etc/passwd when the uid has an entry).
    pub identity: Identity,
    /// Capabilities left in the effective, permitted, inheritable and ambient sets
    /// (for `DropMode::StayedRoot` without a keep-list: root's sets were left untouched).
    pub kept_caps: Vec<Capability>,
    /// Messages the caller must log as warnings: staying root, an ignored `--user`,
    /// keep-list entries that the process did not have to begin with.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// True when pidone (and therefore every service) still runs as uid 0.
    pub fn stayed_root(&self) -> bool {
        self.mode == DropMode::StayedRoot
    }
}

/// Parse capability names (`NET_BIND_SERVICE`, `CAP_NET_BIND_SERVICE`, any case), sorted
/// by capability number and deduplicated. Every unknown name is listed in the error, so the
/// CLI can validate `--keep-cap` before anything starts.
pub fn parse_caps(names: &[String]) -> Result<Vec<Capability>, String> {
    let mut out: Vec<Capability> = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match ::caps::to_canonical(name.trim()).parse::<Capability>() {
            Ok(c) if !out.contains(&c) => out.push(c),
            Ok(_) => {}
            Err(_) => unknown.push(format!("{name:?}")),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown capability name(s): {}; expected names like NET_BIND_SERVICE or CAP_NET_BIND_SERVICE (see capabilities(7))",
            unknown.join(", ")
        ));
    }
    out.sort_by_key(|c| c.index());
    Ok(out)
}

/// Drop privileges when root; harden (no_new_privs, clear inheritable/ambient) otherwise,
/// using /etc/passwd and /etc/group. See [`apply_with`].
pub fn apply(settings: &PrivilegeSettings) -> Result<Outcome, Refusal> {
    apply_with(settings, Path::new("/etc/passwd"), Path::new("/etc/group"))
}

/// [`apply`] with explicit passwd/group files (tests, unusual images).
///
/// Verifies the result and returns an error if anything is off. After an `Err` the process
/// may be half-way (e.g. groups changed, uid not): the caller must exit, never continue.
/// Errors that depend only on the configuration (unknown user, unknown capability, uid 0
/// without `allow_root`) are detected before the first change.
pub fn apply_with(
    settings: &PrivilegeSettings,
    passwd_path: &Path,
    group_path: &Path,
) -> Result<Outcome, Refusal> {
    let requested = parse_caps(&settings.keep_caps)?;
    let requested_mask = mask_of(&requested);
    ensure_single_threaded()?;
    let ids = getresuid().map_err(|e| format!("getresuid: {e}"))?;
    let files = Files {
        passwd: OnceCell::new(),
        group: OnceCell::new(),
        passwd_path,
        group_path,
    };
    if ids.effective.is_root() {
        apply_as_root(settings, requested_mask, &files)
    } else {
        Ok(apply_as_non_root(settings, requested_mask, &files)?)
    }
}

/// The two account files, read on first use: `--allow-root` without `--user` never needs
/// them, and start-up time is on every container's critical path.
struct Files<'a> {
    passwd: OnceCell<String>,
    group: OnceCell<String>,
    passwd_path: &'a Path,
    group_path: &'a Path,
}

impl Files<'_> {
    fn passwd(&self) -> Result<&str, String> {
        load_once(&self.passwd, self.passwd_path)
    }

    fn resolve(&self, spec: &str) -> Result<Identity, String> {
        let group = load_once(&self.group, self.group_path)?;
        users::resolve(spec, self.passwd()?, group).map_err(|e| {
            format!(
                "{e} (read {} and {})",
                self.passwd_path.display(),
                self.group_path.display()
            )
        })
    }
}

fn load_once<'c>(cell: &'c OnceCell<String>, path: &Path) -> Result<&'c str, String> {
    if let Some(text) = cell.get() {
        return Ok(text);
    }
    let text = read_optional(path)?;
    Ok(cell.get_or_init(|| text))
}

/// A missing file is empty (a scratch image may have no /etc/passwd; numeric specs still
/// work). Any other read error is fatal: guessing an identity is not acceptable.
fn read_optional(path: &Path) -> Result<String, String> {
    use crate::safe_read::{CONFIG_LIMIT, Symlinks, read_to_string};
    match read_to_string(path, CONFIG_LIMIT, Symlinks::Follow) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// What to do with the capability sets.
#[derive(Clone, Copy)]
enum CapPolicy {
    /// Effective, permitted, inheritable, ambient and bounding become exactly this mask.
    Restrict(u64),
    /// Only for staying root without a keep-list: effective/permitted/bounding untouched,
    /// inheritable and ambient cleared.
    Untouched,
}

/// The drop from root, as its recipe. The order of the syscalls is the security property:
/// each step still has the capability it needs (each step's comments say why it is there).
fn apply_as_root(
    settings: &PrivilegeSettings,
    requested: u64,
    files: &Files,
) -> Result<Outcome, Refusal> {
    // --- Decide everything first, so configuration errors change nothing. ---
    let plan = decide_root_drop(settings, requested, files)?;

    // --- Change things, in an order where each step still has what it needs. ---
    hand_dirs_to_target(settings, &plan)?;
    // Ambient capabilities the runtime may have set must not survive into services.
    // Cleared first so no later step can accidentally preserve them.
    clear_ambient()?;
    shrink_caps_before_switch(&plan)?;
    let identity = switch_to_target(&plan)?;
    if let CapPolicy::Restrict(mask) = plan.policy {
        set_keep_list_after_switch(mask)?;
    }
    // no_new_privs only governs execve, so its position does not change any step above;
    // it is the seal set last, just before verification. It does not strip ambient
    // capabilities on execve of ordinary binaries, so the keep-list still reaches services.
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))?;
    verify(&expected_after_root_drop(&plan, &identity))?;
    Ok(root_outcome(plan, identity))
}

/// What a root start decided before its first change.
struct RootDrop {
    /// The user to become; `None` stays root with the ids as they are (`--allow-root` or
    /// an s6-overlay layout without `--user`).
    target: Option<Identity>,
    /// No target, or a target of uid 0: pidone stays root.
    to_root: bool,
    policy: CapPolicy,
    /// The base capability sets and the bounding set as the runtime gave them.
    before: CapSets,
    bounding_before: u64,
    warnings: Vec<String>,
}

/// Resolve the target, refuse what the settings may not ask for, and choose what happens
/// to the capability sets; nothing is changed yet.
fn decide_root_drop(
    settings: &PrivilegeSettings,
    requested: u64,
    files: &Files,
) -> Result<RootDrop, Refusal> {
    let mut warnings = Vec::new();
    let target = resolve_target(settings, files)?;
    let to_root = target.as_ref().is_none_or(|t| t.uid == 0);
    // Kept root because the s6 layout wants it, not because the operator asked.
    let s6_root =
        to_root && settings.root_keeps_root && settings.user.is_none() && !settings.allow_root;
    refuse_unsafe_drop(settings, requested, to_root, s6_root, &mut warnings)?;

    // A capability can only be kept if we have it (see `keepable`).
    let (before, bounding_before, keep) = keepable(requested)?;
    note_unavailable(
        requested & !keep,
        "the runtime did not grant it",
        &mut warnings,
    );
    let policy = if to_root && requested == 0 {
        CapPolicy::Untouched
    } else {
        CapPolicy::Restrict(keep)
    };
    if let Some(warning) = staying_root_warning(policy, to_root, s6_root) {
        warnings.push(warning);
    }
    Ok(RootDrop {
        target,
        to_root,
        policy,
        before,
        bounding_before,
        warnings,
    })
}

/// The user a root start becomes: `--user`, else the default, else none (stay root).
fn resolve_target(settings: &PrivilegeSettings, files: &Files) -> Result<Option<Identity>, String> {
    Ok(match settings.user.as_deref() {
        // `--allow-root` alone: the only reason to pass it is to keep running as root.
        None if settings.allow_root || settings.root_keeps_root => None,
        None => Some(files.resolve(DEFAULT_USER)?),
        Some(spec) => Some(files.resolve(spec)?),
    })
}

/// Refuse uid 0 without `allow_root`, and a keep-list that would undo a drop to a non-root
/// user (CAP_SETUID always; [`DANGEROUS_CAPS`] without `allow_dangerous_caps`, with a
/// warning when allowed).
fn refuse_unsafe_drop(
    settings: &PrivilegeSettings,
    requested: u64,
    to_root: bool,
    s6_root: bool,
    warnings: &mut Vec<String>,
) -> Result<(), Refusal> {
    if to_root && !settings.allow_root && !s6_root {
        return Err(Refusal::Drop(format!(
            "refusing to run as root: --user {:?} resolves to uid 0; pass --allow-root to allow it",
            settings.user.as_deref().unwrap_or(DEFAULT_USER)
        )));
    }
    if !to_root && requested & Capability::CAP_SETUID.bitmask() != 0 {
        return Err(Refusal::Drop(
            "refusing to keep CAP_SETUID while dropping to a non-root user: it would let any service become root again"
                .to_string(),
        ));
    }
    let dangerous = requested & mask_of(DANGEROUS_CAPS);
    if !to_root && dangerous != 0 {
        let names: Vec<String> = caps_of(dangerous).iter().map(|c| c.to_string()).collect();
        let list = names.join(", ");
        if !settings.allow_dangerous_caps {
            return Err(Refusal::Drop(format!(
                "refusing to keep {list} while dropping to a non-root user: it would give every service root's powers back (see \"Security model\" in the README of pidone's source); pass --allow-dangerous-caps (PIDONE_ALLOW_DANGEROUS_CAPS=1) if that is really wanted"
            )));
        }
        warnings.push(format!(
            "keeping {list} (allow_dangerous_caps): every service can use it to regain root's powers"
        ));
    }
    Ok(())
}

/// The warning a root start that stays root carries (the caller logs it).
fn staying_root_warning(policy: CapPolicy, to_root: bool, s6_root: bool) -> Option<String> {
    if s6_root {
        Some(format!(
            "started as root with an s6-overlay layout and no --user/PIDONE_USER: the image's scripts run as root, as under s6-overlay (services switch with s6-setuidgid); capabilities {}, no_new_privs set; to drop to a user instead, give --user NAME[:GROUP] or PIDONE_USER (e.g. PIDONE_USER=65534:65534)",
            match policy {
                CapPolicy::Untouched => "are left as the runtime granted them".to_string(),
                CapPolicy::Restrict(m) => format!("reduced to {}", describe(m)),
            }
        ))
    } else if to_root {
        Some(match policy {
            CapPolicy::Untouched => {
                "running as root (allow_root): capabilities are left as the runtime granted them"
                    .to_string()
            }
            CapPolicy::Restrict(m) => format!(
                "running as root (allow_root) with capabilities {}",
                describe(m)
            ),
        })
    } else {
        None
    }
}

/// The target user's directories, while root can still create and chown them; the user
/// resolved before is the one they are given to (resolved once, there).
fn hand_dirs_to_target(settings: &PrivilegeSettings, plan: &RootDrop) -> Result<(), Refusal> {
    if let Some(t) = plan.target.as_ref().filter(|_| !plan.to_root) {
        for (dir, mode) in &settings.prepare_dirs {
            crate::rundir::create_all(dir, *mode, Some((t.uid, t.gid))).map_err(Refusal::Dirs)?;
        }
    }
    Ok(())
}

/// The capability sets lowered before the ids change (inheritable emptied in both cases).
fn shrink_caps_before_switch(plan: &RootDrop) -> Result<(), String> {
    let set_id = Capability::CAP_SETUID.bitmask() | Capability::CAP_SETGID.bitmask();
    match plan.policy {
        CapPolicy::Restrict(mask) => {
            // The bounding set can only be lowered with CAP_SETPCAP in the effective set,
            // which the uid change below takes away: it must happen now. It limits what
            // any later execve (setuid-root binaries, file capabilities) could ever regain.
            drop_bounding_except(mask, plan.bounding_before)?;
            // Shrink to the keep-list plus what the id changes below need (setgroups and
            // setresgid need CAP_SETGID, setresuid needs CAP_SETUID), so the remaining
            // steps run with as little as possible. Inheritable is emptied here; it is
            // re-filled with the keep-list only after the uid change.
            let transit = mask | (set_id & plan.before.permitted);
            capset(CapSets {
                effective: transit,
                permitted: transit,
                inheritable: 0,
            })
        }
        CapPolicy::Untouched => capset(CapSets {
            inheritable: 0,
            ..plan.before
        }),
    }
}

/// The ids changed to the target's (the identity now in effect).
fn switch_to_target(plan: &RootDrop) -> Result<Identity, String> {
    let Some(t) = &plan.target else {
        // Staying root without `--user`: nothing changes, so nothing needs naming (and
        // HOME/USER stay as the runtime set them; see `dropped_to`).
        return Ok(current_ids());
    };
    // Without KEEPCAPS the kernel empties the permitted set when all uids leave 0,
    // and the keep-list could not be raised again afterwards. (The effective and
    // ambient sets are emptied regardless; both are restored below.)
    let keep_across_setuid =
        !plan.to_root && matches!(plan.policy, CapPolicy::Restrict(m) if m != 0);
    if keep_across_setuid {
        nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    }
    switch_ids(t)?;
    if keep_across_setuid {
        // Not needed any more; left on, a later setuid would keep capabilities.
        nix::sys::prctl::set_keepcaps(false).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    }
    Ok(t.clone())
}

/// The keep-list set again after the uid change, into every set and the ambient one.
fn set_keep_list_after_switch(mask: u64) -> Result<(), String> {
    // After the uid change, permitted still holds the keep-list (KEEPCAPS) plus, for
    // uid 0 targets, CAP_SETUID/SETGID: set all three sets to exactly the keep-list.
    // Inheritable must contain it too, because the kernel only allows raising an
    // ambient capability that is both permitted and inheritable.
    capset(CapSets {
        effective: mask,
        permitted: mask,
        inheritable: mask,
    })?;
    // Ambient last among the capability steps: the uid change above cleared it, and it
    // needs the permitted+inheritable bits just set. Ambient is what carries the
    // capability through execve into an ordinary (non-setuid, no file caps) service.
    raise_ambient(mask)
}

/// What the kernel must report after a root start's changes.
fn expected_after_root_drop(plan: &RootDrop, identity: &Identity) -> Expected {
    let caps = match plan.policy {
        CapPolicy::Restrict(m) => ExpectedCaps::Exactly {
            mask: m,
            bounding: true,
        },
        CapPolicy::Untouched => ExpectedCaps::RootUntouched {
            effective: plan.before.effective,
            permitted: plan.before.permitted,
            bounding: plan.bounding_before,
        },
    };
    Expected {
        uid: identity.uid,
        gid: Some(identity.gid),
        groups: plan.target.as_ref().map(|t| t.groups.clone()),
        caps,
    }
}

fn root_outcome(plan: RootDrop, identity: Identity) -> Outcome {
    Outcome {
        mode: if plan.to_root {
            DropMode::StayedRoot
        } else {
            DropMode::Dropped
        },
        dropped_to: plan.target.as_ref().map(|_| identity.clone()),
        identity,
        kept_caps: match plan.policy {
            CapPolicy::Restrict(m) => caps_of(m),
            CapPolicy::Untouched => caps_of(plan.before.effective),
        },
        warnings: plan.warnings,
    }
}

/// The drop itself: the target's groups, gid and uid (`switch::set_ids` says why in that order).
fn switch_ids(t: &Identity) -> Result<(), String> {
    switch::set_ids(&Switch {
        uid: Some(t.uid),
        gid: Some(t.gid),
        groups: Some(t.groups.clone()),
    })
}

fn apply_as_non_root(
    settings: &PrivilegeSettings,
    requested: u64,
    files: &Files,
) -> Result<Outcome, String> {
    let mut warnings = Vec::new();
    let ids = getresuid().map_err(|e| format!("getresuid: {e}"))?;
    // A real or saved uid 0 behind a non-root effective uid means seteuid(0) would make us
    // root again: this is not the hardened start it looks like, and we cannot fix it
    // (setresuid to non-zero would need privileges we do not want to assume).
    if ids.real.is_root() || ids.saved.is_root() {
        return Err(format!(
            "started with effective uid {} but real/saved uid {}/{}: root could be regained with seteuid(0); refusing to start",
            ids.effective, ids.real, ids.saved
        ));
    }
    let identity = current_identity(files);
    if let Some(spec) = settings.user.as_deref() {
        // The spec cannot be applied without root; say so instead of failing, since images
        // set a default user that operators override with `docker run --user`.
        match files.resolve(spec) {
            Ok(t) if t.uid == identity.uid => {}
            Ok(t) => warnings.push(format!(
                "--user {spec:?} (uid {}) ignored: started as non-root uid {}, running as is",
                t.uid, identity.uid
            )),
            Err(e) => warnings.push(format!(
                "--user {spec:?} ignored: started as non-root uid {} ({e})",
                identity.uid
            )),
        }
    }

    // A non-root process can only keep what it has; it cannot add to permitted, and
    // inheritable may not exceed the bounding set.
    let (before, bounding_before, keep) = keepable(requested)?;
    note_unavailable(
        requested & !keep,
        "a non-root start only has capabilities granted through file capabilities or the runtime's ambient set",
        &mut warnings,
    );

    clear_ambient()?;
    // Only possible with CAP_SETPCAP (rare for a non-root start); harmless to skip since
    // the bounding set matters only for gaining capabilities, which no_new_privs blocks.
    let setpcap = before.effective & Capability::CAP_SETPCAP.bitmask() != 0;
    if setpcap {
        drop_bounding_except(keep, bounding_before)?;
    }
    // Lowering sets is always allowed; inheritable gets the keep-list because ambient
    // requires it (see set_keep_list_after_switch).
    capset(CapSets {
        effective: keep,
        permitted: keep,
        inheritable: keep,
    })?;
    raise_ambient(keep)?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))?;

    let now = getresuid().map_err(|e| format!("getresuid: {e}"))?;
    if (now.real, now.effective, now.saved) != (ids.real, ids.effective, ids.saved) {
        return Err(format!(
            "uids changed unexpectedly while hardening: {}/{}/{} -> {}/{}/{}",
            ids.real, ids.effective, ids.saved, now.real, now.effective, now.saved
        ));
    }
    verify(&Expected {
        uid: identity.uid,
        gid: None,
        groups: None,
        caps: ExpectedCaps::Exactly {
            mask: keep,
            bounding: setpcap,
        },
    })?;

    Ok(Outcome {
        mode: DropMode::NonRoot,
        dropped_to: None,
        identity,
        kept_caps: caps_of(keep),
        warnings,
    })
}

/// The ids in effect, without names.
fn current_ids() -> Identity {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    Identity {
        uid,
        gid,
        groups: supplementary_groups().unwrap_or_else(|_| vec![gid]),
        name: None,
        home: None,
    }
}

/// The ids in effect, named from the passwd file where the uid has an entry. Only
/// informational (the name and HOME of the identity we keep): an unreadable passwd file
/// leaves them unknown.
fn current_identity(files: &Files) -> Identity {
    let entry = users::lookup_uid(
        nix::unistd::geteuid().as_raw(),
        files.passwd().unwrap_or_default(),
    );
    Identity {
        name: entry.as_ref().map(|e| e.name.clone()),
        home: entry.map(|e| e.home).filter(|h| !h.is_empty()),
        ..current_ids()
    }
}

fn note_unavailable(missing: u64, why: &str, warnings: &mut Vec<String>) {
    if missing != 0 {
        warnings.push(format!("cannot keep {}: {why}", describe(missing)));
    }
}

/// getgroups(2), sized by asking the kernel first. (nix's `getgroups` sizes its buffer with
/// sysconf(NGROUPS_MAX), which glibc answers by reading /proc/sys/kernel/ngroups_max: a
/// file open on every start for a number the kernel can give directly.)
fn supplementary_groups() -> std::io::Result<Vec<u32>> {
    loop {
        // SAFETY: a zero size with a null pointer only returns the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut groups = vec![0 as libc::gid_t; n as usize];
        // SAFETY: the buffer holds `n` gids.
        let got = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
        if got >= 0 {
            groups.truncate(got as usize);
            return Ok(groups);
        }
        // EINVAL: the list grew between the two calls; ask again.
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(std::io::Error::last_os_error());
        }
    }
}

/// Refuse to run with other threads: capabilities and prctl state are per thread, so they
/// would keep what this thread drops (setresuid itself is process-wide in glibc, capset is
/// not). Without /proc we cannot count and proceed; pidone creates no threads before this.
fn ensure_single_threaded() -> Result<(), String> {
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        let n = dir.count();
        if n > 1 {
            return Err(format!(
                "privileges must be dropped while single-threaded, but the process has {n} threads (capabilities are per thread)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cap_names_accept_both_forms_any_case() {
        let caps = parse_caps(&names(&[
            "NET_BIND_SERVICE",
            "cap_chown",
            "Cap_Net_Bind_Service",
            " kill ",
        ]))
        .unwrap();
        assert_eq!(
            caps,
            [
                Capability::CAP_CHOWN,
                Capability::CAP_KILL,
                Capability::CAP_NET_BIND_SERVICE
            ]
        );
        assert_eq!(parse_caps(&[]).unwrap(), []);
    }

    #[test]
    fn unknown_cap_names_are_all_listed() {
        let e = parse_caps(&names(&["NET_BIND_SERVICE", "FLY", "CAP_", ""])).unwrap_err();
        assert!(e.contains("\"FLY\""), "{e}");
        assert!(e.contains("\"CAP_\""), "{e}");
        assert!(e.contains("\"\""), "{e}");
        assert!(!e.contains("\"NET_BIND_SERVICE\""), "{e}");
    }

    #[test]
    fn masks_are_described_like_proc_status() {
        assert_eq!(
            describe(1 << 10),
            "0x0000000000000400 (CAP_NET_BIND_SERVICE)"
        );
        assert_eq!(describe(0), "0x0000000000000000 (none)");
        assert!(describe(1 << 63).contains("cap_63"));
        assert_eq!(
            caps_of(mask_of(&[Capability::CAP_KILL])),
            [Capability::CAP_KILL]
        );
    }
}
