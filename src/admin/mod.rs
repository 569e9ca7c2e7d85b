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

mod check;
mod list;
mod muttrc;

pub(crate) use list::{print_json, print_tickets};

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

    /// `reindex`.
    /// `Ok` holds the tickets that could not be read (reported after the search index
    /// is rebuilt too); an `Err` stops before anything is written.
    pub fn reindex(&self, out: &mut dyn Write) -> Result<Vec<String>> {
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
        Ok(errors)
    }
}

/// `mailtix move N QUEUE`: a note in the ticket, whose trace block names the new
/// queue. Moving a ticket to the queue it is in changes nothing.
pub(crate) fn move_ticket(
    admin: &Admin<'_>,
    id: u32,
    name: &str,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use anyhow::{anyhow, bail};
    let cfg = admin.cfg;
    let name = name.trim().to_ascii_lowercase();
    if crate::queue::find(cfg, &name).is_none() {
        bail!("{}", crate::queue::no_such_queue(cfg, &name));
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
pub(crate) fn template_preview(
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
