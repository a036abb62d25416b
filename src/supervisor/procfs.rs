//! Reading /proc, the one job of this file: pidone's own mappings (to hand back start-up's
//! pages) and the process tree (to find every descendant at the final drain).

use std::path::Path;

/// Give the kernel back the pages of our own binary that only start-up needed.
///
/// Start-up (argument and TOML parsing, the privilege checks) runs code from all over the
/// binary, and the kernel maps file pages around each fault in whole page-cache folios, so
/// after start nearly all of pidone's text is resident and, being the only process mapping
/// it, counted in full in its PSS. MADV_PAGEOUT on the read-only mappings of the binary drops
/// those pages when no one else maps them; the event loop's few pages fault back in on the
/// next event. It never changes contents: relocated (written) pages are anonymous and stay.
pub(super) fn release_startup_pages() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        // "start-end perms offset dev inode path"
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6
            || fields[1].as_bytes().get(1) == Some(&b'w')
            || Path::new(fields[5]) != exe
        {
            continue;
        }
        let Some((start, end)) = fields[0].split_once('-') else {
            continue;
        };
        if let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) {
            // SAFETY: advice on our own mapping; MADV_PAGEOUT does not alter memory contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        }
    }
}

/// Every process below `root` (by parent pid, from /proc), deepest last.
pub(super) fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command name may contain spaces and parentheses: parse after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}
