//! /etc/passwd and /etc/group as pidone reads them itself (static binary, no NSS), and the
//! `--user` spec resolved against them. Input: `SPEC \0 PASSWD \0 GROUP`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pidone::users::{lookup_uid, parse_group, parse_passwd, resolve};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let spec = parts.next().unwrap_or_default();
    let passwd = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    let users = parse_passwd(passwd);
    let _ = parse_group(group);
    for u in users.iter().take(4) {
        let _ = lookup_uid(u.uid, passwd);
    }
    let _ = resolve(spec, passwd, group);
});
