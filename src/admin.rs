//! The interactive commands: list, show, close, reopen, archive, check, reindex.
//! Errors are `anyhow` here; `lib::run` prints them as one line and exits 1.

use crate::cli::{ArchiveArgs, ListArgs, ShowArgs};
use crate::config::Config;
use crate::mbox;
use crate::notify;
use crate::route::State;
use crate::store::{self, Action, LockPolicy, LogLine, Store, Who};
use crate::summary::{self, Summary};
use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::time::Duration;

/// What the admin commands need from outside.
pub struct Admin<'a> {
    pub cfg: &'a Config,
    pub store: Store,
    pub now: DateTime<Utc>,
    /// Who runs the command, for the notes written into tickets.
    pub user: String,
    /// For close notices (`notify_on_close`).
    pub mailer: &'a dyn crate::mailer::Mailer,
    pub env: &'a std::collections::HashMap<String, String>,
}

impl Admin<'_> {
    fn policy(&self) -> LockPolicy {
        LockPolicy {
            timeout: Duration::from_secs(self.cfg.lock_timeout_secs),
            stale: Duration::from_secs(self.cfg.stale_lock_secs),
        }
    }

    /// Summaries of every ticket in `states`, newest activity first. Tickets whose file
    /// is unchanged since the last call come from `.mailtix/summaries`; only changed
    /// ones are read and parsed, and the cache is then rewritten (best effort).
    fn summaries<'a>(
        &self,
        states: &[State],
        cached_text: &'a str,
    ) -> Vec<(Summary<'a>, Option<String>)> {
        let bouncing = self
            .store
            .bouncing_addresses(self.cfg.bounce_hard_limit, self.now.timestamp());
        let mut cache: std::collections::HashMap<(u32, State), (Summary<'a>, u64, u128)> =
            cached_text
                .lines()
                .filter_map(summary::from_cache_line)
                .map(|(s, size, t)| ((s.id, s.state), (s, size, t)))
                .collect();
        let mut dirty = false;
        let mut out = Vec::new();
        // The file stamp of each readable ticket, in the order of `out`'s Ok entries.
        let mut stamps: Vec<Option<(u64, u128)>> = Vec::new();
        for &st in states {
            for (id, stamp) in self.store.stamps(st) {
                let hit = match (cache.remove(&(id, st)), stamp) {
                    (Some((s, size, t)), Some((size2, t2))) if size == size2 && t == t2 => Some(s),
                    _ => None,
                };
                let r = match hit {
                    Some(s) => Ok(s),
                    None => {
                        dirty = true;
                        self.store
                            .read(id, st)
                            .map_err(|e| e.to_string())
                            .and_then(|d| summary::summarize(id, st, &d))
                    }
                };
                match r {
                    Ok(mut s) => {
                        stamps.push(stamp);
                        s.requester_bounces = bouncing.contains(&s.requester.to_ascii_lowercase());
                        out.push((s, None));
                    }
                    Err(e) => out.push((
                        Summary {
                            id,
                            state: st,
                            subject: Default::default(),
                            requester: Default::default(),
                            messages: 0,
                            created: Default::default(),
                            updated: Default::default(),
                            requester_bounces: false,
                            queue: Default::default(),
                            updated_at: None,
                        },
                        Some(e),
                    )),
                }
            }
        }
        // A cached ticket of a listed state that is gone makes the cache stale too.
        let listed = |state: State| states.contains(&state);
        dirty |= cache.values().any(|(s, _, _)| listed(s.state));
        if dirty {
            let mut fresh = String::with_capacity(cached_text.len() + 4096);
            let ok = out.iter().filter(|(_, e)| e.is_none());
            for ((s, _), stamp) in ok.zip(stamps.iter()) {
                if let Some((size, t)) = stamp {
                    fresh.push_str(&summary::cache_line(s, *size, *t));
                }
            }
            // Keep the other state's entries when only one state was listed.
            for (s, size, t) in cache.values().filter(|(s, _, _)| !listed(s.state)) {
                fresh.push_str(&summary::cache_line(s, *size, *t));
            }
            let _ = self.store.write_summaries(&fresh);
        }
        // Sort small keys, then move each summary once (sorting 100,000 large
        // elements directly spends most of its time copying them).
        let mut order: Vec<(Option<DateTime<Utc>>, u32, usize)> = out
            .iter()
            .enumerate()
            .map(|(i, (s, _))| (s.updated_at, s.id, i))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut slots: Vec<Option<(Summary<'a>, Option<String>)>> =
            out.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|(_, _, i)| slots[i].take())
            .collect()
    }

    /// `list`.
    pub fn list(&self, args: &ListArgs, out: &mut dyn Write) -> Result<()> {
        self.safe_store()?;
        let states: &[State] = if args.all {
            &[State::Open, State::Closed]
        } else if args.closed {
            &[State::Closed]
        } else {
            &[State::Open]
        };
        let cached = self.store.read_summaries().unwrap_or_default();
        let mut rows = self.summaries(states, &cached);
        crate::queue::filter_rows(self.cfg, args.queue.as_deref(), &mut rows)?;
        let show_queue = crate::queue::several(self.cfg)
            || rows.iter().any(|(s, _)| s.queue != crate::config::SUPPORT);
        let bad: Vec<String> = rows
            .iter()
            .filter_map(|(s, e)| e.as_ref().map(|e| format!("ticket {}: {e}", s.id)))
            .collect();
        if args.json {
            // One ticket per line: readable, and cheap for 100,000 tickets.
            write!(out, "[")?;
            for (i, (s, _)) in rows.iter().filter(|(_, e)| e.is_none()).enumerate() {
                write!(out, "{}\n  ", if i == 0 { "" } else { "," })?;
                serde_json::to_writer(&mut *out, s)?;
            }
            writeln!(out, "\n]")?;
        } else {
            let table: Vec<[String; 7]> = rows
                .iter()
                .filter(|(_, e)| e.is_none())
                .map(|(s, _)| {
                    [
                        s.id.to_string(),
                        s.state.as_str().to_string(),
                        s.updated_at
                            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default(),
                        s.messages.to_string(),
                        if s.requester_bounces {
                            format!("{} (bounces)", s.requester)
                        } else {
                            s.requester.to_string()
                        },
                        s.subject.to_string(),
                        s.queue.to_string(),
                    ]
                })
                .collect();
            let head = [
                "ID",
                "STATE",
                "UPDATED (UTC)",
                "MSGS",
                "REQUESTER",
                "SUBJECT",
                "QUEUE",
            ];
            if show_queue {
                // The queue goes before the subject, which is never padded.
                let table: Vec<[String; 7]> = table
                    .into_iter()
                    .map(|[a, b, c, d, e, f, g]| [a, b, c, d, e, g, f])
                    .collect();
                let [a, b, c, d, e, f, g] = head;
                print_table(out, [a, b, c, d, e, g, f], &table)?;
            } else {
                let table: Vec<[String; 6]> = table
                    .into_iter()
                    .map(|[a, b, c, d, e, f, _]| [a, b, c, d, e, f])
                    .collect();
                let [a, b, c, d, e, f, _] = head;
                print_table(out, [a, b, c, d, e, f], &table)?;
            }
        }
        if !bad.is_empty() {
            bail!("{} unreadable: {}", bad.len(), bad.join("; "));
        }
        Ok(())
    }

    /// Refuses a store with a symlink where mailtix keeps its files, or one anyone may
    /// write to (`check` lists every such problem). A missing store is left to the
    /// command, which finds no tickets.
    fn safe_store(&self) -> Result<()> {
        if self.store.root().exists() {
            self.store.check_safe()?;
        }
        Ok(())
    }

    fn find(&self, id: u32) -> Result<State> {
        self.store.state(id).ok_or_else(|| {
            anyhow!(
                "no such ticket {id} (see `mailtix list --all` for the tickets in {})",
                self.store.root().display()
            )
        })
    }

    /// `show`.
    pub fn show(&self, args: &ShowArgs, out: &mut dyn Write) -> Result<()> {
        self.safe_store()?;
        let st = self.find(args.id)?;
        let data = self.store.read(args.id, st)?;
        if args.raw {
            out.write_all(&data)?;
        } else {
            let text = crate::thread::render(args.id, st.as_str(), &data)
                .map_err(|e| anyhow!("ticket {} is not a readable mbox: {e}", args.id))?;
            if let Ok(s) = summary::summarize(args.id, st, &data) {
                if crate::queue::several(self.cfg) || s.queue != crate::config::SUPPORT {
                    writeln!(out, "Queue: {}", s.queue)?;
                }
                let n = self.store.hard_bounces(&s.requester, self.now.timestamp());
                if n >= self.cfg.bounce_hard_limit {
                    writeln!(
                        out,
                        "Note: the requester {} bounces ({n} hard bounces recorded)",
                        s.requester
                    )?;
                }
            }
            out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    /// Moves ticket `id` to `to`, recording `why` in it. `Ok(false)`: it was there already.
    fn set_state(&self, id: u32, to: State, event: &str, why: &str) -> Result<bool> {
        self.safe_store()?;
        self.find(id)?;
        let mut l = self
            .store
            .lock(id, self.policy())?
            .ok_or_else(|| anyhow!("no such ticket {id}"))?;
        if l.state() == to {
            return Ok(false);
        }
        let note = notify::note(
            self.cfg,
            id,
            event,
            why,
            self.now,
            &format!("{}.{}", self.now.timestamp_micros(), std::process::id()),
        );
        l.append(&note, "")
            .with_context(|| format!("recording the {event} in ticket {id}"))?;
        l.move_to(to)?;
        drop(l);
        // After the change: notices and hooks are reported, never fatal. They follow
        // the ticket's queue (its templates).
        let scoped = crate::queue::scoped(
            self.cfg,
            &crate::queue::of_ticket(self.cfg, &self.store, id),
        );
        let cx = crate::deliver::Context {
            cfg: &scoped,
            store: &self.store,
            mailer: self.mailer,
            env: self.env,
            now: self.now,
        };
        let mut results = Vec::new();
        if to == State::Closed && self.cfg.notify_on_close {
            results.push(crate::outbound::send_close_notice(&cx, id));
        }
        let action = if to == State::Closed {
            Action::Close
        } else {
            Action::Reopen
        };
        results.extend(crate::outbound::run_hooks(
            &cx, action, id, &self.user, why, &note,
        ));
        if !results.is_empty() {
            let _ = self.store.log_event(&LogLine {
                at: self.now,
                ticket: id,
                action,
                who: Who::User(&self.user),
                detail: &results.join("; "),
            });
        }
        Ok(true)
    }

    /// `close` and `reopen`.
    pub fn close_or_reopen(&self, id: u32, close: bool, out: &mut dyn Write) -> Result<()> {
        let (to, event) = if close {
            (State::Closed, "closed")
        } else {
            (State::Open, "reopened")
        };
        let why = format!(
            "Ticket {id} {event} by {} from the command line.",
            self.user
        );
        if self.set_state(id, to, event, &why)? {
            writeln!(out, "ticket {id} {event}")?;
        } else {
            writeln!(out, "ticket {id} is already {}", to.as_str())?;
        }
        Ok(())
    }

    /// `archive`.
    pub fn archive(&self, args: &ArchiveArgs, out: &mut dyn Write) -> Result<()> {
        self.safe_store()?;
        let limit = chrono::Duration::days(i64::from(args.idle));
        let mut failed = Vec::new();
        let cached = self.store.read_summaries().unwrap_or_default();
        for (s, err) in self.summaries(&[State::Open], &cached) {
            if let Some(e) = err {
                failed.push(format!("ticket {}: {e}", s.id));
                continue;
            }
            let idle = s
                .updated_at
                .map(|u| self.now - u)
                .unwrap_or(chrono::Duration::MAX);
            if idle < limit {
                continue;
            }
            if args.dry_run {
                writeln!(
                    out,
                    "would close ticket {} (idle {} days)",
                    s.id,
                    idle.num_days()
                )?;
                continue;
            }
            let why = format!(
                "Ticket {} closed by `mailtix archive --idle {}`: no mail for {} days.",
                s.id,
                args.idle,
                idle.num_days()
            );
            match self.set_state(s.id, State::Closed, "closed", &why) {
                Ok(_) => writeln!(
                    out,
                    "closed ticket {} (idle {} days)",
                    s.id,
                    idle.num_days()
                )?,
                Err(e) => failed.push(format!("ticket {}: {e}", s.id)),
            }
        }
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        Ok(())
    }

    /// `check`: every problem found, one per line; an error when there are any.
    pub fn check(&self, out: &mut dyn Write) -> Result<()> {
        let mut problems: Vec<String> = Vec::new();
        let root = self.store.root();
        crate::format::report(root, out)?;
        // Finish or undo a new ticket and appends that a crash interrupted: taking the
        // new-ticket lock repairs the first, locking a ticket repairs the others.
        if root.is_dir() {
            // A delivery killed while it set the store up leaves some of it missing.
            // Nothing is repaired through a link: the problems below report it.
            if self.store.safety_problems().is_empty() && self.store.write_problems().is_empty() {
                if let Err(e) = self.store.init() {
                    problems.push(e.to_string());
                }
                match self.store.repair_new_tickets() {
                    Ok(done) => {
                        for d in done {
                            writeln!(out, "repaired: {d}")?;
                        }
                    }
                    Err(e) => problems.push(format!("interrupted new ticket not repaired: {e}")),
                }
            }
        }
        let safe =
            self.store.safety_problems().is_empty() && self.store.write_problems().is_empty();
        for id in self.store.pending_ids().into_iter().filter(|_| safe) {
            match self.store.lock(id, self.policy()) {
                Ok(_) => writeln!(out, "repaired: ticket {id} had an interrupted append")?,
                Err(e) => {
                    problems.push(format!("ticket {id}: interrupted append not repaired: {e}"))
                }
            }
        }
        match std::fs::metadata(root) {
            Err(_) if self.store.missing_root().is_some() => {
                problems.extend(self.store.missing_root())
            }
            Err(e) => problems.push(format!("store {}: {e}", root.display())),
            Ok(_) => {
                problems.extend(self.store.safety_problems());
                problems.extend(self.store.write_problems());
                problems.extend(self.store.secret_problem());
                for st in [State::Open, State::Closed] {
                    for id in self.store.ids(st) {
                        let meta = match self.store.metadata(id, st) {
                            Ok(m) => m,
                            Err(e) => {
                                problems.push(format!("ticket {id}: {e}"));
                                continue;
                            }
                        };
                        use std::os::unix::fs::MetadataExt;
                        if meta.file_type().is_symlink() {
                            problems.push(format!("ticket {id} is a symlink"));
                            continue;
                        }
                        if meta.nlink() > 1 {
                            problems.push(format!("ticket {id} has {} hard links", meta.nlink()));
                        }
                        if meta.mode() & 0o002 != 0 {
                            problems.push(format!("ticket {id} is world-writable"));
                        }
                        if self.store.state(id) == Some(State::Open)
                            && st == State::Open
                            && self.store.metadata(id, State::Closed).is_ok()
                        {
                            problems.push(format!("ticket {id} is both open and archived"));
                        }
                        match self.store.read(id, st) {
                            Ok(d) => {
                                for p in summary::problems(&d) {
                                    problems.push(format!("ticket {id}: {p}"));
                                }
                            }
                            Err(e) => problems.push(format!("ticket {id}: {e}")),
                        }
                    }
                }
                let stale = Duration::from_secs(self.cfg.stale_lock_secs);
                for (path, age) in self.store.leftovers() {
                    if age > stale || path.parent().is_some_and(|p| p.ends_with("pending")) {
                        problems.push(format!(
                            "leftover {} ({}s old)",
                            path.display(),
                            age.as_secs()
                        ));
                    }
                }
                if let Ok(mode) = store::mode_of(root)
                    && mode & 0o007 != 0
                {
                    writeln!(
                        out,
                        "note: {} is accessible to others (mode {:o})",
                        root.display(),
                        mode & 0o777
                    )?;
                }
            }
        }
        crate::queue::check(self.cfg, &mut problems, out)?;
        if let crate::config::Transport::Sendmail(p) = &self.cfg.transport
            && !p.exists()
        {
            problems.push(format!("mail.sendmail {} does not exist", p.display()));
        }
        if problems.is_empty() {
            writeln!(out, "ok: config and store {} are healthy", root.display())?;
            Ok(())
        } else {
            for p in &problems {
                writeln!(out, "problem: {p}")?;
            }
            bail!("{} problem(s) found", problems.len())
        }
    }

    /// `muttrc`: mutt commands, sourced by a `folder-hook .` on every folder change.
    /// They reset From and Cc, then add one folder-hook per ticket that sets both to
    /// the ticket's address. Hooks added while hooks run still run in the same pass,
    /// so the current folder is covered even if its ticket is newer than mutt. mutt
    /// matches the folder path as typed, so the hooks match the store's path, its real
    /// path, and relative forms ending in `STORE_NAME/N`.
    pub fn muttrc(&self, out: &mut dyn Write) -> Result<()> {
        let root = self.store.root();
        let mut prefixes = vec![root.display().to_string()];
        if let Ok(real) = std::fs::canonicalize(root) {
            prefixes.push(real.display().to_string());
        }
        let mut alternatives: Vec<String> = Vec::new();
        for p in &prefixes {
            match mutt_regex_literal(p.trim_end_matches('/')) {
                Some(r) => alternatives.push(format!("{r}/")),
                None => bail!("the store path {p:?} has characters mutt hooks cannot match"),
            }
        }
        if let Some(name) = root
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(mutt_regex_literal)
        {
            alternatives.push(format!("(^|/){name}/"));
        }
        alternatives.push("^([.]/)?".into());
        alternatives.dedup();
        let base = alternatives.join("|");
        writeln!(out, "unmy_hdr From Cc")?;
        let mut ids: Vec<u32> = self.store.ids(State::Open);
        ids.extend(self.store.ids(State::Closed));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let addr = self.cfg.ticket_address(id);
            writeln!(
                out,
                "folder-hook '(({base})(archived/)?{id})$' 'my_hdr From: {addr}; my_hdr Cc: {addr}; macro index,pager \\eC \"<sync-mailbox><shell-escape>mailtix close {id}<enter><change-folder>{root}/archived/{id}<enter>\" \"close ticket {id}\"'",
                root = root.display(),
            )?;
        }
        Ok(())
    }

    /// `reindex`.
    pub fn reindex(&self, out: &mut dyn Write) -> Result<()> {
        self.store.init()?;
        self.safe_store()?;
        let mut entries = 0usize;
        let mut tickets = 0usize;
        let mut errors = Vec::new();
        let mut found = Vec::new();
        for st in [State::Open, State::Closed] {
            for id in self.store.ids(st) {
                let data = match self.store.read(id, st) {
                    Ok(d) => d,
                    Err(e) => {
                        errors.push(format!("ticket {id}: {e}"));
                        continue;
                    }
                };
                let list = match mbox::read(&data) {
                    Ok(l) => l,
                    Err(e) => {
                        errors.push(format!("ticket {id}: {e}"));
                        continue;
                    }
                };
                tickets += 1;
                if let Err(e) = crate::queue::reindex_moves(&self.store, id, &data) {
                    errors.push(format!("ticket {id}: {e}"));
                }
                for e in list {
                    let keys = crate::deliver::stored_keys(&e.message);
                    for k in &keys {
                        found.push((k.clone(), id));
                    }
                    entries += usize::from(!keys.is_empty());
                }
            }
        }
        // Merged into the live index shard by shard, never emptied first: mail that
        // arrives meanwhile must still find what is already stored.
        self.store.index_merge(&found)?;
        let next = self
            .store
            .with_new_ticket_lock(|| self.store.rebuild_counter())?;
        writeln!(
            out,
            "indexed {entries} messages in {tickets} tickets; the next ticket is {next}"
        )?;
        if !errors.is_empty() {
            bail!("{}", errors.join("; "));
        }
        Ok(())
    }
}

/// `mailtix move N QUEUE`: a note in the ticket, whose trace block names the new
/// queue. Moving a ticket to the queue it is in changes nothing.
pub fn move_ticket(
    admin: &Admin<'_>,
    id: u32,
    name: &str,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use anyhow::{anyhow, bail};
    let cfg = admin.cfg;
    let name = name.trim().to_ascii_lowercase();
    if crate::queue::find(cfg, &name).is_none() {
        bail!(
            "no queue named {name:?} (the queues are {})",
            cfg.queues
                .iter()
                .map(|q| q.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let store = &admin.store;
    if store.root().exists() {
        store.check_safe()?;
    }
    let policy = crate::store::LockPolicy {
        timeout: std::time::Duration::from_secs(cfg.lock_timeout_secs),
        stale: std::time::Duration::from_secs(cfg.stale_lock_secs),
    };
    let mut l = store
        .lock(id, policy)?
        .ok_or_else(|| anyhow!("no such ticket {id} (see `mailtix list --all`)"))?;
    let data = store.read(id, l.state())?;
    let from = crate::queue::of_ticket_bytes(&data);
    if from == name {
        writeln!(out, "ticket {id} is already in queue {name}")?;
        return Ok(());
    }
    let text = format!(
        "Ticket {id} moved from queue {from} to queue {name} by {} from the command line.",
        admin.user
    );
    let note = crate::notify::note_in_queue(
        cfg,
        id,
        "moved",
        &text,
        admin.now,
        &format!("{}.{}", admin.now.timestamp_micros(), std::process::id()),
        Some(&name),
    );
    l.append(&note, "")
        .map_err(|e| anyhow!("recording the move in ticket {id}: {e}"))?;
    // Under the ticket's lock, after the note: a crash in between leaves the note,
    // which `reindex` reads back into the record.
    let first = crate::queue::of_first_entry(&data);
    store
        .set_moved(id, (name != first).then_some(name.as_str()))
        .map_err(|e| anyhow!("recording the move of ticket {id}: {e}"))?;
    writeln!(out, "ticket {id} moved from queue {from} to {name}")?;
    Ok(())
}

/// `mailtix template preview NAME N`: the mail template NAME would send for ticket N,
/// with the ticket's queue's templates: its header section as it would go out, then
/// the body as text. A refused template file is named on a `note:` line first (the
/// built-in text is what would go out). Nothing is sent or written.
pub fn template_preview(
    admin: &Admin<'_>,
    name: &str,
    id: u32,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use crate::notify::{self, NoticeFacts, NoticeKind};
    use crate::template::{NAMES, Name};
    use anyhow::{anyhow, bail};
    let name = Name::parse(name).ok_or_else(|| {
        anyhow!(
            "no template {name:?} (the templates are {})",
            NAMES.map(Name::as_str).join(", ")
        )
    })?;
    let store = &admin.store;
    let st = store
        .state(id)
        .ok_or_else(|| anyhow!("no such ticket {id} (see `mailtix list --all`)"))?;
    let data = store.read(id, st)?;
    let entries = crate::mbox::read(&data).map_err(|e| anyhow!("ticket {id}: {e}"))?;
    let first = entries
        .iter()
        .find(|e| !crate::summary::is_note(&e.message))
        .ok_or_else(|| anyhow!("ticket {id} holds no mail"))?;
    let msg = crate::inbound::parse(&first.message).map_err(|e| anyhow!("ticket {id}: {e}"))?;
    let to = msg
        .reply_to
        .clone()
        .or_else(|| msg.from.clone())
        .ok_or_else(|| anyhow!("ticket {id}'s first mail has no From or Reply-To"))?;
    let cfg = crate::queue::scoped(admin.cfg, &crate::queue::of_ticket_bytes(&data));
    let cx = crate::deliver::Context {
        cfg: &cfg,
        store,
        mailer: admin.mailer,
        env: admin.env,
        now: admin.now,
    };
    // A preview is never sent: its Message-ID needs no real MAC.
    let ids = notify::Ids {
        unique: "preview".into(),
        secret: b"preview".to_vec(),
    };
    let head = &first.message[..first.message.len().min(256 * 1024)];
    let built: Result<Vec<u8>, String> = match name {
        Name::RelayFooter => {
            // An answer as an admin would write it, relayed with the footer.
            let admin_addr = cfg
                .admins
                .first()
                .cloned()
                .unwrap_or_else(|| format!("admin@{}", cfg.addresses.domain));
            let answer = format!(
                "From: {admin_addr}\nSubject: Re: {}\nMessage-ID: <preview.{id}@{}>\n\n(your answer)\n",
                crate::headers::clean(&msg.subject),
                cfg.addresses.domain
            );
            let parsed = crate::inbound::parse(answer.as_bytes())
                .map_err(|e| anyhow!("the example answer: {e}"))?;
            if let Err(why) = notify::relay_footer(&cfg, id, &parsed, answer.as_bytes(), &to) {
                writeln!(out, "note: no relay-footer under this answer: {why}")?;
            }
            notify::relay(&cfg, id, &parsed, answer.as_bytes(), &to, admin.now, &ids)
        }
        Name::Ack => notify::ack_quoting(
            &cfg,
            id,
            &msg,
            &to,
            admin.now,
            &ids,
            None,
            &notify::preview(head, 5, 600),
        )
        .map(|m| m.formatted()),
        Name::Close => {
            notify::close_notice(&cfg, id, &msg, &to, admin.now, &ids).map(|m| m.formatted())
        }
        Name::Notice | Name::RefusedClose => {
            let (kind, detail) = if name == Name::Notice {
                (NoticeKind::New, None)
            } else {
                (
                    NoticeKind::RefusedClose,
                    Some("the sender is not an admin (an example reason)"),
                )
            };
            let close_address = crate::outbound::close_address(&cx, id);
            let reply_address = cfg
                .relay_admin_replies
                .then(|| store.secret().ok())
                .flatten()
                .map(|s| crate::policy::reply_address(&cfg, &s, id));
            let sender = match &msg.from {
                Some(m) => match &m.name {
                    Some(n) => format!("{} <{}>", crate::headers::clean(n), m.addr),
                    None => m.addr.clone(),
                },
                None => to.addr.clone(),
            };
            let preview = notify::preview(head, 12, 1200);
            let facts = NoticeFacts {
                kind,
                sender: &sender,
                preview: &preview,
                detail,
                close_address: &close_address,
                reply_address: reply_address.as_deref(),
                requester: &to.addr,
            };
            match notify::admin_notice(&cfg, id, &msg, &facts, admin.now, &ids) {
                Some(b) => b.map(|m| m.formatted()),
                None => bail!(
                    "queue {} has no admins, so no {} goes out",
                    cfg.queue,
                    name.as_str()
                ),
            }
        }
    };
    let raw = built.map_err(|e| anyhow!("the {} is not built: {e}", name.as_str()))?;
    if let Some(why) = notify::template_fallback(&cfg, name) {
        writeln!(out, "note: {why}")?;
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    out.write_all(&raw[..end])?;
    writeln!(out)?;
    out.write_all(crate::thread::first_text(&raw).as_bytes())?;
    Ok(())
}

/// A literal path as a mutt regex: metacharacters become one-character classes.
/// `None` for characters that cannot be written safely inside a quoted mutt command.
fn mutt_regex_literal(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '.' | '*' | '+' | '?' | '(' | ')' | '{' | '}' | '|' | '$' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            '\\' | ']' | '^' | '\'' | '"' | '`' | '\n' | '\r' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Prints rows with aligned columns; the last column is not padded.
fn print_table<const N: usize>(
    out: &mut dyn Write,
    head: [&str; N],
    rows: &[[String; N]],
) -> Result<()> {
    // Widths are measured on what the terminal filter (term.rs) will let through.
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|r| r.clone().map(|c| crate::term::clean(&c)))
        .collect();
    let rows = &rows[..];
    let mut width = head.map(|h| h.chars().count());
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count().min(60));
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                let c: String = c.chars().take(60).collect();
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
