//! kill -9 at every system call of a delivery (RELIABILITY.md case 25): strace's fault
//! injection (`-e inject=SYSCALL:signal=KILL:when=K`) kills deliver at the K-th call of
//! each kind, then Exim's retry is played. The message must end up in exactly one
//! ticket exactly once, `check` must pass after its repair, and the ticket must still
//! take mail.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

const CONFIG: &str = "store = \"tickets\"\ndomain = \"example.org\"\nadmins = [\"boss@admin.example\"]\nlock_timeout = 5\n[mail]\ntransport = \"file\"\n";

fn message(mid: &str) -> String {
    mail("ann@customer.example", "crash", mid, "", "body\n")
}

fn deliver(dir: &Path, rcpt: &str, mid: &str, strace: &[String]) -> i32 {
    let mut cmd = if strace.is_empty() {
        Command::new(BIN)
    } else {
        let mut c = Command::new("strace");
        c.args(strace).arg(BIN);
        c
    };
    cmd.arg("--config").arg(dir.join("config.toml")).args([
        "deliver",
        "--recipient",
        rcpt,
        "--sender",
        "ann@customer.example",
    ]);
    run_in(dir, cmd, message(mid).as_bytes()).code
}

fn run_in(dir: &Path, mut cmd: Command, stdin: &[u8]) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn check(dir: &Path) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .arg("check");
    run_in(dir, cmd, b"")
}

/// What the swept delivery does.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    New,
    Append,
    /// An append to a closed ticket, which reopens it (a rename under the move lock).
    Reopen,
}

/// A fresh store; unless `kind` is New, ticket 1 already holds one message (and is
/// closed for Reopen).
fn fresh(kind: Kind) -> tempfile::TempDir {
    let append = kind != Kind::New;
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("config.toml"), CONFIG).unwrap();
    // An empty store directory, as an operator makes it: deliver sets it up.
    fs::create_dir(d.path().join("tickets")).unwrap();
    if append {
        assert_eq!(deliver(d.path(), "support@example.org", "first@x", &[]), 0);
    }
    if kind == Kind::Reopen {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(d.path().join("config.toml"))
            .args(["close", "1"]);
        run_in(d.path(), cmd, b"").code(0);
    }
    d
}

/// How many copies of `mid` the store holds, over all tickets, and in which tickets.
fn copies(store: &Path, mid: &str) -> (usize, Vec<u32>) {
    let mut n = 0;
    let mut ids = Vec::new();
    for dir in [store.to_path_buf(), store.join("archived")] {
        for e in fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            let Some(id) = e.file_name().to_str().and_then(mailtix::address::parse_id) else {
                continue;
            };
            let data = fs::read(e.path()).unwrap();
            for m in mailtix::mbox::read(&data).unwrap() {
                if mailtix::inbound::parse(&m.message)
                    .unwrap()
                    .message_id
                    .as_deref()
                    == Some(mid)
                {
                    n += 1;
                    ids.push(id);
                }
            }
        }
    }
    (n, ids)
}

/// Each syscall of one traced delivery, with how many of its calls come before the
/// store is first touched (those are not swept) and how many there are in all.
fn syscalls(kind: Kind, rcpt: &str) -> BTreeMap<String, (usize, usize)> {
    let d = fresh(kind);
    let trace = d.path().join("trace");
    let args = vec!["-f".into(), "-o".into(), trace.display().to_string()];
    assert_eq!(deliver(d.path(), rcpt, "traced@x", &args), 0);
    let store = d.path().join("tickets").display().to_string();
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut touched = false;
    for line in fs::read_to_string(&trace).unwrap().lines() {
        let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        if rest.starts_with('<') || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some(name) = rest.split('(').next().filter(|n| !n.is_empty()) else {
            continue;
        };
        touched |= line.contains(&store);
        let e = out.entry(name.to_string()).or_default();
        if !touched {
            e.0 += 1;
        }
        e.1 += 1;
    }
    out
}

/// Kills the delivery at every (syscall, K) after the store is first touched, then
/// checks the promises. Returns (runs, runs where deliver was killed).
fn sweep(kind: Kind) -> (usize, usize) {
    let append = kind != Kind::New;
    need("strace");
    let rcpt = if append {
        "ticket-1@example.org"
    } else {
        "support@example.org"
    };
    let calls = syscalls(kind, rcpt);
    let mut jobs: Vec<(String, usize)> = Vec::new();
    for (name, (before, total)) in &calls {
        for k in before + 1..=*total {
            jobs.push((name.clone(), k));
        }
    }
    assert!(
        jobs.len() > 50,
        "a delivery makes more calls than that: {calls:?}"
    );
    let jobs = Arc::new(Mutex::new(jobs));
    let killed = Arc::new(Mutex::new(0usize));
    let runs = Arc::new(Mutex::new(0usize));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (jobs, killed, runs) = (jobs.clone(), killed.clone(), runs.clone());
            std::thread::spawn(move || {
                loop {
                    let Some((name, k)) = jobs.lock().unwrap().pop() else {
                        break;
                    };
                    let what = format!(
                        "{} kill at {name} #{k}",
                        match kind {
                            Kind::New => "new",
                            Kind::Append => "append",
                            Kind::Reopen => "reopen",
                        }
                    );
                    let d = fresh(kind);
                    let store = d.path().join("tickets");
                    let args = vec![
                        "-f".into(),
                        "-o".into(),
                        "/dev/null".into(),
                        "-e".into(),
                        format!("inject={name}:signal=KILL:when={k}"),
                    ];
                    let code = deliver(d.path(), rcpt, "victim@x", &args);
                    if code != 0 {
                        *killed.lock().unwrap() += 1;
                    }
                    let r = check(d.path());
                    assert_eq!(
                        r.code, 0,
                        "{what}: check after the kill: {}{}",
                        r.stdout, r.stderr
                    );
                    // Exim retries whatever was not acknowledged with 0, and may retry
                    // even an acknowledged one: both must leave one copy.
                    assert_eq!(deliver(d.path(), rcpt, "victim@x", &[]), 0, "{what}: retry");
                    let (n, ids) = copies(&store, "victim@x");
                    assert_eq!(n, 1, "{what}: stored exactly once (tickets {ids:?})");
                    let id = ids[0];
                    if append {
                        assert_eq!(id, 1, "{what}");
                    }
                    let next = format!("ticket-{id}@example.org");
                    assert_eq!(
                        deliver(d.path(), &next, "further@x", &[]),
                        0,
                        "{what}: further mail"
                    );
                    assert_eq!(copies(&store, "further@x"), (1, vec![id]), "{what}");
                    let r = check(d.path());
                    assert_eq!(r.code, 0, "{what}: final check: {}{}", r.stdout, r.stderr);
                    *runs.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        if let Err(e) = w.join() {
            std::panic::resume_unwind(e);
        }
    }
    let (runs, killed) = (*runs.lock().unwrap(), *killed.lock().unwrap());
    assert!(
        killed * 2 > runs,
        "most runs were killed: {killed} of {runs}"
    );
    eprintln!("swept {runs} kill points, {killed} killed");
    (runs, killed)
}

#[test]
fn case25_kill_9_at_every_syscall_of_a_new_ticket_stores_it_once() {
    sweep(Kind::New);
}

#[test]
fn case26_kill_9_at_every_syscall_of_an_append_stores_it_once() {
    sweep(Kind::Append);
    sweep(Kind::Reopen);
}
