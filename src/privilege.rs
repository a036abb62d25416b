//! Stage 3 of the data flow: drop to the unprivileged user and shed capabilities.
//! (Skeleton: the implementation lands with issue 2.)

use crate::users::Identity;

pub struct PrivilegeSettings {
    /// `--user` spec; `None` means the default `65534:65534`.
    pub user: Option<String>,
    pub allow_root: bool,
    /// Capability names as given (`NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE`).
    pub keep_caps: Vec<String>,
}

/// What `apply` did, for the log line and for exporting `HOME`/`USER` to children.
pub struct Outcome {
    /// `Some` when started as root and dropped (or stayed root with allow_root).
    pub dropped_to: Option<Identity>,
}

/// Drop privileges when root; harden (no_new_privs, clear inheritable/ambient) otherwise.
/// Verifies the result and returns an error (pidone must refuse to start) if anything is off.
pub fn apply(settings: &PrivilegeSettings) -> Result<Outcome, String> {
    let _ = settings;
    Ok(Outcome { dropped_to: None })
}
