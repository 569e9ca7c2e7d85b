//! Event hooks: commands the maintainer configures (an SMS alert outside office hours,
//! a chat message). They run after the commit, get the message on stdin and the
//! facts in `MAILTIX_*` variables, and can never change the exit code or delay a
//! delivery by more than their timeout.

use crate::config::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What happened, for the hook's environment.
pub struct Event<'a> {
    /// new | followup | reopen | close | bounce
    pub name: &'a str,
    pub ticket: u32,
    pub sender: &'a str,
    pub subject: &'a str,
    pub file: &'a Path,
    pub message: &'a [u8],
}

/// Runs every hook for this event whose window allows it. `minute` is the local time
/// of day in minutes. Returns one result line per hook that ran, for the log.
pub fn run(hooks: &[Hook], ev: &Event<'_>, minute: u32) -> Vec<String> {
    hooks
        .iter()
        .filter(|h| h.event == ev.name)
        .filter(|h| h.outside.is_none_or(|w| !w.contains(minute)))
        .map(|h| match run_one(h, ev) {
            Ok(()) => format!("hook {:?} ok", h.command),
            Err(e) => format!("hook {:?} {e}", h.command),
        })
        .collect()
}

#[allow(unsafe_code)]
fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for
    // the hook (process_group(0) below); it has no memory effects.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

fn run_one(h: &Hook, ev: &Event<'_>) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&h.command)
        .env("MAILTIX_EVENT", ev.name)
        .env("MAILTIX_TICKET", ev.ticket.to_string())
        .env("MAILTIX_SENDER", ev.sender)
        .env("MAILTIX_SUBJECT", crate::notify::clean(ev.subject))
        .env("MAILTIX_FILE", ev.file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("did not start: {e}"))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(h.timeout_secs);
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
                kill_group(pid);
                let _ = child.wait();
                break Err(format!("killed after {}s", h.timeout_secs));
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
