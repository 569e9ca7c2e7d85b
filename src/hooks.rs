//! Event hooks: commands the maintainer configures (an SMS alert outside office hours,
//! a chat message). They run after the commit, get the message on stdin and the
//! facts in `MAILTIX_*` variables, and can never change the exit code or delay a
//! delivery by more than their timeout, nor all of them together by more than
//! `hook_time_limit`. They never outlive deliver: they share its process group, which
//! the MTA's timeout kills, and their shell gets SIGKILL when deliver dies.

use crate::config::Hook;
use crate::store::Action;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What happened, for the hook's environment.
pub(crate) struct Event<'a> {
    /// One of [`Action::HOOKED`].
    pub action: Action,
    pub ticket: u32,
    pub sender: &'a str,
    pub subject: &'a str,
    pub file: &'a Path,
    pub message: &'a [u8],
}

/// Runs every hook for this event whose window allows it. `minute` is the local time
/// of day in minutes; `budget` is the time all of them together may take, so that a
/// delivery with hooks still ends well inside the MTA's timeout (Exim's shipped pipe
/// transport kills at 5 minutes). Each hook's own timeout is clipped to what is left;
/// a hook with nothing left is skipped. Returns one result line per hook, for the log.
pub(crate) fn run(hooks: &[Hook], ev: &Event<'_>, minute: u32, budget: Duration) -> Vec<String> {
    let end = Instant::now() + budget;
    hooks
        .iter()
        .filter(|h| h.event == ev.action)
        .filter(|h| h.outside.is_none_or(|w| !w.contains(minute)))
        .map(|h| {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return format!("hook {:?} skipped: the hook time limit is spent", h.command);
            }
            match run_one(h, ev, left.min(Duration::from_secs(h.timeout_secs))) {
                Ok(()) => format!("hook {:?} ok", h.command),
                Err(e) => format!("hook {:?} {e}", h.command),
            }
        })
        .collect()
}

/// Every live descendant of `root`, read from /proc (parents before children).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let mut f = rest.split_whitespace();
            let state = f.next().unwrap_or("");
            if state == "Z" || state == "X" {
                continue;
            }
            if let Some(ppid) = f.next().and_then(|p| p.parse::<u32>().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

#[allow(unsafe_code)]
fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on one pid (never 0 or negative here); no memory effects.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Kills a hook that ran out of time and everything it started. The hook shares our
/// process group (see `run_one`), so the group cannot be signalled; instead the tree is
/// stopped first, so that nothing in it can fork while it is collected, then killed.
fn kill_tree(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let mut seen: Vec<u32> = Vec::new();
    for _ in 0..20 {
        let found: Vec<u32> = descendants(pid)
            .into_iter()
            .filter(|p| !seen.contains(p))
            .collect();
        if found.is_empty() {
            break;
        }
        for &p in &found {
            signal(p, libc::SIGSTOP);
        }
        seen.extend(found);
    }
    for &p in seen.iter().chain([pid].iter()) {
        signal(p, libc::SIGKILL);
    }
}

#[allow(unsafe_code)]
fn run_one(h: &Hook, ev: &Event<'_>, limit: Duration) -> Result<(), String> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&h.command)
        .env("MAILTIX_EVENT", ev.action.as_str())
        .env("MAILTIX_TICKET", ev.ticket.to_string())
        .env("MAILTIX_SENDER", ev.sender)
        .env("MAILTIX_SUBJECT", crate::headers::clean(ev.subject))
        .env("MAILTIX_FILE", ev.file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The hook stays in deliver's process group: when the MTA's timeout kills that
    // group (Exim's pipe transport does), the hook and whatever it started go too.
    // A deliver killed alone takes the hook's shell with it through the parent-death
    // signal. Hooks run on the thread that delivers, which lives until deliver exits
    // (the signal follows the thread that forked).
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // prctl(2), getppid(2) and _exit(2), which are async-signal-safe; it touches no
    // memory the parent's other threads could hold locked.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // deliver died before the signal was armed: nobody is left to wait for us.
            if libc::getppid() != parent {
                libc::_exit(0);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("did not start: {e}"))?;
    let pid = child.id();
    let deadline = Instant::now() + limit;
    let input = child.stdin.take();
    let message = ev.message.to_vec();
    // A hook that does not read its stdin must not block us: write from a thread.
    let writer = std::thread::spawn(move || {
        if let Some(mut i) = input {
            let _ = i.write_all(&message);
        }
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if Instant::now() >= deadline => {
                kill_tree(pid);
                let _ = child.wait();
                break Err(format!("killed after {}s", limit.as_secs_f64().ceil()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(e.to_string()),
        }
    };
    // Not joined: a hook that left a background process holding its stdin must not
    // hold up the delivery. The thread ends with the pipe or with the process.
    drop(writer);
    let status = status?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("failed ({status})"))
    }
}
