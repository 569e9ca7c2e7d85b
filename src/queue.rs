//! Queues: several intake addresses, each opening tickets of its own queue.
//!
//! A queue is a `[[queues]]` entry of the config: a name, a local part (`sales` for
//! `sales@DOMAIN`), and optionally its own admins, templates and `ack = false`. The
//! `support` address is the queue named `support`, declared or not. Ticket ids stay
//! global, so `ticket-N@`, `[issueN]` and the store layout do not change.
//!
//! A ticket's queue is in its trace block (`X-Mailtix-Queue`, see `headers`): on the
//! first message of a ticket opened through a queue other than `support`, and on the
//! note `mailtix move` files. Incoming mail cannot write a trace block, so it cannot
//! move itself; the last one in the file wins, and a ticket without one is `support`'s.
//!
//! Exim learns the queue addresses from `STORE/queues/`, one empty-ish file per local
//! part, which mailtix keeps in step with the config: `check` writes it, and so does
//! `deliver` when it finds it out of step (one directory listing per delivery). The
//! router's `dsearch` lookup sees a change at once, with no Exim edit and no reload.
//! A queue removed from the config is refused by `deliver` (67) and loses its file
//! in the same run, so the next RCPT gets a 550.

use crate::config::{Config, DIR, Queue, SUPPORT};
use std::path::Path;

/// True when the config has queues besides `support`.
pub(crate) fn several(cfg: &Config) -> bool {
    cfg.queues.len() > 1
}

/// True when `addr` is an admin of any queue (the global admins or a queue's own).
pub(crate) fn is_any_admin(cfg: &Config, addr: &str) -> bool {
    let addr = addr.trim().to_ascii_lowercase();
    cfg.admins.contains(&addr)
        || cfg
            .queues
            .iter()
            .any(|q| q.admins.as_ref().is_some_and(|a| a.contains(&addr)))
}

/// The error for a queue name the config does not know, naming those it does.
pub(crate) fn no_such_queue(cfg: &Config, name: &str) -> String {
    let names: Vec<&str> = cfg.queues.iter().map(|q| q.name.as_str()).collect();
    format!(
        "no queue named {name:?} (the queues are {})",
        names.join(", ")
    )
}

/// The queue named `name`.
pub(crate) fn find<'a>(cfg: &'a Config, name: &str) -> Option<&'a Queue> {
    cfg.queues.iter().find(|q| q.name == name)
}

/// The queue a new ticket opened by mail to `rcpt` belongs to.
pub(crate) fn of_recipient(cfg: &Config, rcpt: &str) -> String {
    crate::address::split(rcpt)
        .filter(|(_, d)| *d == cfg.addresses.domain)
        .and_then(|(l, _)| cfg.queues.iter().skip(1).find(|q| q.address == l))
        .map_or_else(|| SUPPORT.to_string(), |q| q.name.clone())
}

/// The queue of a ticket file: the last `X-Mailtix-Queue` of any trace block, else
/// `support`. Pure. Only the trace blocks are looked at: an entry starts with a From_
/// line after an empty line (as `mbox::read` splits them, and mboxrd quotes every
/// `From ` line of a body), and its trace block follows that line. A 2 MB ticket costs
/// one memchr pass rather than a copy of every message.
pub(crate) fn of_ticket_bytes(data: &[u8]) -> String {
    let first = data.starts_with(b"From ").then_some(0);
    let starts = first
        .into_iter()
        .chain(memchr::memmem::find_iter(data, b"\n\nFrom ").map(|p| p + 2));
    let mut queue = None;
    for start in starts {
        let rest = &data[start..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            continue;
        };
        if let Some(q) = crate::headers::Trace::parse(&rest[nl + 1..]).queue {
            queue = Some(q);
        }
    }
    queue.unwrap_or_else(|| SUPPORT.into())
}

/// The queue of a ticket's first message: its trace block, just after the first line.
pub(crate) fn of_first_entry(head: &[u8]) -> String {
    memchr::memchr(b'\n', head)
        .and_then(|nl| crate::headers::Trace::parse(&head[nl + 1..]).queue)
        .unwrap_or_else(|| SUPPORT.into())
}

/// The queue of ticket `id`: where `move` last put it, else where its first message
/// came in. Only the first 64 KiB of the ticket are read, so a follow-up costs the
/// same in a ticket of any size. With no queues but `support` configured nothing is
/// read: every ticket's notices then go to the same admins anyway.
pub(crate) fn of_ticket(cfg: &Config, store: &crate::store::Store, id: u32) -> String {
    if !several(cfg) {
        return SUPPORT.into();
    }
    if let Some(q) = store.moved_to(id) {
        return q;
    }
    store
        .state(id)
        .and_then(|st| store.read_head(id, st, 64 * 1024).ok())
        .map_or_else(|| SUPPORT.to_string(), |d| of_first_entry(&d))
}

/// After `reindex` has read ticket `id` whole: the move record agrees with its notes.
pub(crate) fn reindex_moves(
    store: &crate::store::Store,
    id: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let last = of_ticket_bytes(data);
    let moved = (last != of_first_entry(data)).then_some(last);
    store.set_moved(id, moved.as_deref())
}

/// The config as it applies to a ticket of queue `name`: the queue's admins, its
/// templates (over the global ones) and its `ack` setting. A queue that is no longer
/// configured keeps its name and gets the global settings.
pub(crate) fn scoped(cfg: &Config, name: &str) -> Config {
    let mut c = cfg.clone();
    c.queue = name.to_string();
    if let Some(q) = find(cfg, name) {
        if let Some(a) = &q.admins {
            c.admins = a.clone();
        }
        c.templates = q.templates.over(&cfg.templates);
        c.queue_ack = q.ack;
    }
    c
}

/// The local parts `STORE/queues/` should hold: every queue's but support's.
fn wanted(cfg: &Config) -> Vec<(String, String)> {
    cfg.queues
        .iter()
        .skip(1)
        .map(|q| (q.address.clone(), q.name.clone()))
        .collect()
}

/// The local parts that `STORE/queues/` holds now; `None` when it does not exist.
fn present(dir: &Path) -> std::io::Result<Option<Vec<String>>> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => {
            return Err(std::io::Error::other(format!(
                "{} is not a directory (a link?)",
                dir.display()
            )));
        }
        Ok(_) => {}
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(Some(names))
}

/// True when `STORE/queues/` lists exactly the configured queue addresses (a store
/// with no other queues needs no directory at all).
pub(crate) fn in_step(cfg: &Config) -> std::io::Result<bool> {
    let dir = cfg.store.join(DIR);
    let mut want: Vec<String> = wanted(cfg).into_iter().map(|(a, _)| a).collect();
    want.sort();
    Ok(match present(&dir)? {
        None => want.is_empty(),
        Some(have) => have == want,
    })
}

/// Brings `STORE/queues/` in step with the config: a file per queue address (holding
/// the queue's name), and no other. Returns what changed, one line each.
pub(crate) fn sync(cfg: &Config) -> std::io::Result<Vec<String>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = cfg.store.join(DIR);
    let want = wanted(cfg);
    let have = match present(&dir)? {
        Some(h) => h,
        None if want.is_empty() => return Ok(Vec::new()),
        None => {
            std::fs::DirBuilder::new().mode(0o770).create(&dir)?;
            Vec::new()
        }
    };
    let mut changes = Vec::new();
    for name in &have {
        if !want.iter().any(|(a, _)| a == name) {
            let p = dir.join(name);
            match std::fs::remove_file(&p) {
                Ok(()) => changes.push(format!(
                    "{name}@{} is no longer a queue address",
                    cfg.addresses.domain
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(std::io::Error::other(format!("{}: {e}", p.display()))),
            }
        }
    }
    for (address, name) in &want {
        if have.contains(address) {
            continue;
        }
        let p = dir.join(address);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o660)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p);
        match f {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(format!("{name}\n").as_bytes())?;
                changes.push(format!(
                    "{address}@{} opens tickets in queue {name}",
                    cfg.addresses.domain
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(std::io::Error::other(format!("{}: {e}", p.display()))),
        }
    }
    if !changes.is_empty() {
        std::fs::File::open(&dir)?.sync_all()?;
    }
    Ok(changes)
}

/// What `deliver` does before it reads the message: put `STORE/queues/` in step when
/// it is not (an edited config). Cheap when it is: one directory listing. Errors are
/// left to `check`, which reports them.
pub(crate) fn sync_if_stale(cfg: &Config) {
    if cfg.source.is_none() || !cfg.store.is_dir() {
        return;
    }
    if let Ok(false) = in_step(cfg) {
        let _ = sync(cfg);
    }
}

/// `list --queue NAME`: keeps the rows of queue `name`. A name that is neither
/// configured nor any listed ticket's is an error (a typo should not look like an
/// empty queue).
pub(crate) fn filter_rows<T>(
    cfg: &Config,
    name: Option<&str>,
    rows: &mut Vec<(crate::summary::Summary<'_>, T)>,
) -> anyhow::Result<()> {
    let Some(name) = name else { return Ok(()) };
    let name = name.trim().to_ascii_lowercase();
    let known = find(cfg, &name).is_some();
    rows.retain(|(s, _)| s.queue == name.as_str());
    if !known && rows.is_empty() {
        anyhow::bail!("{}", no_such_queue(cfg, &name));
    }
    Ok(())
}

/// What `check` adds: it puts `STORE/queues/` in step with the config (printing what
/// changed), and reports every template file that is refused, with FILE:LINE.
pub(crate) fn check(
    cfg: &Config,
    problems: &mut Vec<String>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if cfg.store.is_dir() {
        match sync(cfg) {
            Ok(changes) => {
                for c in changes {
                    writeln!(out, "queues: {c}")?;
                }
            }
            Err(e) => problems.push(format!("queue addresses for Exim not written: {e}")),
        }
    }
    let mut sets = vec![("", &cfg.templates)];
    sets.extend(
        cfg.queues
            .iter()
            .filter(|q| q.templates_dir.is_some())
            .map(|q| (q.name.as_str(), &q.templates)),
    );
    for (queue, t) in sets {
        for (_, why) in &t.rejected {
            // A missing directory refuses every name with the same reason.
            if problems.iter().any(|p| p.ends_with(why.as_str())) {
                continue;
            }
            if queue.is_empty() {
                problems.push(why.clone());
            } else {
                problems.push(format!("queue {queue}: {why}"));
            }
        }
        for p in &t.strangers {
            writeln!(
                out,
                "note: {} is not a template name (ack, notice, close, refused-close, relay-footer) and is not used",
                p.display()
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Result<Config, String> {
        Config::parse(
            &format!("domain = \"example.org\"\nadmins = [\"boss@x.org\"]\n{extra}"),
            Path::new("/etc/mailtix"),
            None,
        )
    }

    #[test]
    fn support_is_always_the_first_queue() {
        let c = cfg("").unwrap();
        assert_eq!(c.queues.len(), 1);
        assert_eq!(c.queues[0].name, "support");
        assert!(!several(&c));
        let c = cfg("[[queues]]\nname = \"sales\"\naddress = \"Sales\"\nadmins = [\"s@x.org\"]\nack = false\n[[queues]]\nname = \"support\"\ntemplates_dir = \"t\"\n").unwrap();
        assert_eq!(c.queues.len(), 2);
        assert_eq!(
            c.queues[0].templates_dir.as_deref(),
            Some(Path::new("/etc/mailtix/t"))
        );
        assert_eq!(c.queues[1].address, "sales");
        assert_eq!(of_recipient(&c, "SALES@example.org"), "sales");
        assert_eq!(of_recipient(&c, "sales@other.org"), "support");
        assert_eq!(of_recipient(&c, "support@example.org"), "support");
        let s = scoped(&c, "sales");
        assert_eq!(s.admins, ["s@x.org"]);
        assert!(!s.queue_ack && s.queue == "sales");
        let s = scoped(&c, "support");
        assert_eq!(s.admins, ["boss@x.org"]);
        assert!(s.queue_ack);
    }

    #[test]
    fn the_example_config_has_queues() {
        let text = include_str!("../examples/config.toml");
        let c = Config::parse(text, Path::new("/etc/mailtix"), None).unwrap();
        let names: Vec<&str> = c.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["support", "sales", "security"]);
        assert_eq!(
            c.templates_dir.as_deref(),
            Some(Path::new("/etc/mailtix/templates"))
        );
        assert!(!c.queues[2].ack);
    }

    #[test]
    fn bad_queues_are_refused() {
        for bad in [
            "[[queues]]\nname = \"sales\"",
            "[[queues]]\nname = \"sales\"\naddress = \"support\"",
            "[[queues]]\nname = \"sales\"\naddress = \"ticket-x\"",
            "[[queues]]\nname = \"sales\"\naddress = \"12\"",
            "[[queues]]\nname = \"sales\"\naddress = \"a/b\"",
            "[[queues]]\nname = \"sales\"\naddress = \".x\"",
            "[[queues]]\nname = \"a\"\naddress = \"x\"\n[[queues]]\nname = \"a\"\naddress = \"y\"",
            "[[queues]]\nname = \"a\"\naddress = \"x\"\n[[queues]]\nname = \"b\"\naddress = \"x\"",
            "[[queues]]\nname = \"support\"\naddress = \"help\"",
            "[[queues]]\nname = \"sales\"\naddress = \"s\"\nadmins = [\"nobody\"]",
            "[[queues]]\nname = \"sales\"\naddress = \"s\"\nadmin = [\"a@b.c\"]",
        ] {
            assert!(cfg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_trace_names_the_queue_and_mail_cannot_fake_one() {
        let ticket = b"From a Sun Nov 22 07:46:08 2026\nX-Mailtix-Queue: sales\nFrom: a@x\n\nhi\n\nFrom b Sun Nov 22 08:46:08 2026\nFrom: b@x\nX-Original-Mailtix-Queue: evil\n\nX-Mailtix-Queue: evil\n\n";
        assert_eq!(of_ticket_bytes(ticket), "sales");
        let moved = [&ticket[..], b"From mailtix@x Sun Nov 22 09:46:08 2026\nX-Mailtix-Event: moved\nX-Mailtix-Queue: security\nFrom: mailtix@x\n\nmoved\n\n"].concat();
        assert_eq!(of_ticket_bytes(&moved), "security");
        assert_eq!(
            of_ticket_bytes(b"From a Sun Nov 22 07:46:08 2026\nFrom: a@x\n\nhi\n\n"),
            "support"
        );
    }

    #[test]
    fn the_queue_directory_follows_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let text = |q: &str| {
            format!(
                "store = \"{}\"\ndomain = \"example.org\"\n{q}",
                dir.path().display()
            )
        };
        let none = Config::parse(&text(""), dir.path(), None).unwrap();
        assert!(in_step(&none).unwrap());
        assert!(sync(&none).unwrap().is_empty());
        assert!(!dir.path().join(DIR).exists());
        let two = Config::parse(
            &text("[[queues]]\nname = \"sales\"\naddress = \"sales\"\n[[queues]]\nname = \"sec\"\naddress = \"security\"\n"),
            dir.path(),
            None,
        )
        .unwrap();
        assert!(!in_step(&two).unwrap());
        assert_eq!(sync(&two).unwrap().len(), 2);
        assert!(in_step(&two).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("queues/security")).unwrap(),
            "sec\n"
        );
        assert!(sync(&two).unwrap().is_empty());
        let one = Config::parse(
            &text("[[queues]]\nname = \"sales\"\naddress = \"sales\"\n"),
            dir.path(),
            None,
        )
        .unwrap();
        assert!(!in_step(&one).unwrap());
        assert_eq!(
            sync(&one).unwrap(),
            ["security@example.org is no longer a queue address"]
        );
        assert!(!dir.path().join("queues/security").exists());
        assert!(dir.path().join("queues/sales").exists());
        assert!(!in_step(&none).unwrap());
        sync(&none).unwrap();
        assert!(in_step(&none).unwrap());
    }
}
