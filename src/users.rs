//! Pure parsing of /etc/passwd and /etc/group (the binary is static: there is no NSS).
//! (Skeleton: the implementation lands with issue 2.)

/// The identity pidone drops to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from /etc/group (the primary gid included when listed there).
    pub groups: Vec<u32>,
    pub name: Option<String>,
    pub home: Option<String>,
}

/// Resolve `NAME|UID[:GROUP|GID]` against the text of /etc/passwd and /etc/group.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, String> {
    let _ = (passwd, group);
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    let uid = u.parse().map_err(|_| format!("unknown user {u:?}"))?;
    let gid = g.parse().map_err(|_| format!("unknown group {g:?}"))?;
    Ok(Identity { uid, gid, groups: vec![], name: None, home: None })
}
