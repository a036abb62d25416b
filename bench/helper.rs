//! Workload processes for bench/run (compiled with plain `rustc -O`, std only).
//!
//!   helper term DIR NAME DELAY_MS   a "sleep-like" service: writes DIR/started/NAME (its start
//!                                   time, realtime ns), then sleeps in pause(2). On SIGTERM it
//!                                   "cleans up" for DELAY_MS, writes DIR/stopped/NAME (time of
//!                                   its exit, realtime ns) and exits 0.
//!   helper orphans N DONEFILE       forks N children that each fork a grandchild and exit at
//!                                   once, so N grandchildren (alive 20 ms) are re-parented to the
//!                                   init; then writes DONEFILE and sleeps until SIGTERM.
//!   helper crash COUNTFILE          appends one byte to COUNTFILE and exits 1 (a crash loop).
//!   helper spawn DIR N DELAY_MS     a naive CMD for minimal inits: starts N `helper term`
//!                                   children in the background and waits for them.
//!   helper lines BYTES LEN GOFILE   an output flood for the relay figure: waits until GOFILE
//!                                   exists, writes BYTES of LEN-byte numbered lines to stdout
//!                                   as fast as it can (64 KiB writes), then sleeps until
//!                                   SIGTERM.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

unsafe extern "C" {
    fn signal(sig: i32, handler: usize) -> usize;
    fn pause() -> i32;
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(code: i32) -> !;
}

const SIGTERM: i32 = 15;
static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    TERM.store(true, Ordering::SeqCst);
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn stamp(path: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, now_ns().to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn wait_term() {
    unsafe { signal(SIGTERM, on_term as extern "C" fn(i32) as usize) };
    while !TERM.load(Ordering::SeqCst) {
        unsafe { pause() };
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("term") => {
            let (dir, name) = (&args[2], &args[3]);
            let delay: u64 = args[4].parse().unwrap();
            unsafe { signal(SIGTERM, on_term as extern "C" fn(i32) as usize) };
            stamp(&format!("{dir}/started/{name}"));
            wait_term();
            std::thread::sleep(Duration::from_millis(delay));
            stamp(&format!("{dir}/stopped/{name}"));
            std::process::exit(0);
        }
        Some("orphans") => {
            let n: u32 = args[2].parse().unwrap();
            unsafe { signal(SIGTERM, on_term as extern "C" fn(i32) as usize) };
            for _ in 0..n {
                let pid = unsafe { fork() };
                if pid == 0 {
                    if unsafe { fork() } == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    unsafe { _exit(0) };
                }
                if pid > 0 {
                    let mut st = 0;
                    unsafe { waitpid(pid, &mut st, 0) };
                }
            }
            stamp(&args[3]);
            wait_term();
        }
        Some("crash") => {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&args[2])
                .unwrap();
            let _ = f.write_all(b"x");
            std::process::exit(1);
        }
        Some("spawn") => {
            let (dir, n, delay) = (&args[2], args[3].parse::<u32>().unwrap(), &args[4]);
            let me = std::env::current_exe().unwrap();
            let mut kids = Vec::new();
            for i in 0..n {
                kids.push(
                    std::process::Command::new(&me)
                        .args(["term", dir, &format!("s{i}"), delay])
                        .spawn()
                        .unwrap(),
                );
            }
            for mut k in kids {
                let _ = k.wait();
            }
        }
        Some("lines") => {
            let total: usize = args[2].parse().unwrap();
            let len: usize = args[3].parse().unwrap();
            unsafe { signal(SIGTERM, on_term as extern "C" fn(i32) as usize) };
            while !std::path::Path::new(&args[4]).exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut out = std::io::stdout().lock();
            let mut buf = Vec::with_capacity(64 * 1024 + len);
            let (mut written, mut n) = (0, 0u64);
            while written < total {
                while buf.len() < 64 * 1024 && written + buf.len() < total {
                    let start = buf.len();
                    write!(buf, "line {n:012} ").unwrap();
                    buf.resize(start + len - 1, b'x');
                    buf.push(b'\n');
                    n += 1;
                }
                out.write_all(&buf).unwrap();
                written += buf.len();
                buf.clear();
            }
            out.flush().unwrap();
            drop(out);
            wait_term();
        }
        _ => {
            eprintln!("usage: helper term|orphans|crash|spawn|lines ...");
            std::process::exit(64);
        }
    }
}
