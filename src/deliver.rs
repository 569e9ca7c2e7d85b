//! `mailtix deliver`: the imperative shell around the pure core, for one message.
//!
//! ```text
//! envelope → parse → route → encode → commit (lock, write, fsync) → notices
//! ```
//! Everything before the commit may fail with 65, 67 or 75 and leaves the store as it
//! was. After the commit nothing returns a temporary failure: Exim would retry and the
//! message would be stored twice. A failed notice is logged and the exit stays 0.

use crate::address::{self, Target};
use crate::config::Config;
use crate::error::DeliverError;
use crate::inbound::{self, Inbound};
use crate::mailer::Mailer;
use crate::mbox;
use crate::notify::{self, NoticeFacts, NoticeKind};
use crate::policy::{self, Sender};
use crate::route::{self, Route, State, Why};
use crate::store::{LockPolicy, Locked, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// What the command line and Exim's environment say about the envelope.
#[derive(Debug, Default, Clone)]
pub struct EnvelopeInput {
    pub recipient: Option<String>,
    pub sender: Option<String>,
}

/// What happened, for the stderr line and the log.
#[derive(Debug)]
pub struct Outcome {
    pub ticket: u32,
    /// new, followup, close, reopen, duplicate, close-refused ...
    pub action: &'static str,
    pub detail: String,
}

/// Resolves the envelope recipient: flag, `$RECIPIENT`, `$LOCAL_PART@$DOMAIN`, then
/// the first of Delivered-To, X-Original-To, Envelope-To, To and Cc that is ours.
pub fn recipient(
    cfg: &Config,
    input: &EnvelopeInput,
    env: &HashMap<String, String>,
    msg: &Inbound,
) -> Result<(String, Target), DeliverError> {
    let given = input
        .recipient
        .clone()
        .or_else(|| env.get("RECIPIENT").cloned())
        .filter(|r| !r.trim().is_empty())
        .or_else(|| match (env.get("LOCAL_PART"), env.get("DOMAIN")) {
            (Some(l), Some(d)) if !l.is_empty() && !d.is_empty() => Some(format!("{l}@{d}")),
            _ => None,
        });
    if let Some(r) = given {
        return match address::target(cfg, &r) {
            Some(t) => Ok((r, t)),
            None => Err(DeliverError::NotOurs(notify::clean(&r))),
        };
    }
    msg.recipient_candidates
        .iter()
        .find_map(|a| address::target(cfg, a).map(|t| (a.clone(), t)))
        .ok_or_else(|| {
            DeliverError::NotOurs(
                "the message (no --recipient, no $RECIPIENT, and no header names one of our addresses)"
                    .into(),
            )
        })
}

/// Resolves the envelope sender: flag, `$SENDER` (empty: a bounce), Return-Path.
pub fn sender(input: &EnvelopeInput, env: &HashMap<String, String>, msg: &Inbound) -> Sender {
    let pick = |s: &str| {
        let s = s
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if s.is_empty() {
            Sender::Null
        } else {
            Sender::Address(s.to_string())
        }
    };
    if let Some(s) = &input.sender {
        return pick(s);
    }
    if let Some(s) = env.get("SENDER") {
        return pick(s);
    }
    match &msg.return_path {
        Some(rp) => pick(rp),
        None => Sender::Unknown,
    }
}

/// The key a message is deduplicated by: its Message-ID, or for mail without one a
/// hash of its bytes, which is also written into the stored copy as `X-Mailtix-Key`
/// so that `reindex` finds it again.
fn message_key(msg: &Inbound, normalised: &[u8]) -> (String, Vec<u8>) {
    match &msg.message_id {
        Some(mid) => (mid.clone(), Vec::new()),
        None => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &b in normalised {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let key = format!("no-message-id.{h:016x}@mailtix");
            let trace = format!("X-Mailtix-Key: <{key}>\n").into_bytes();
            (key, trace)
        }
    }
}

/// Everything deliver needs from outside.
pub struct Context<'a> {
    pub cfg: &'a Config,
    pub store: &'a Store,
    pub mailer: &'a dyn Mailer,
    pub env: &'a HashMap<String, String>,
    pub now: DateTime<Utc>,
}

impl Context<'_> {
    fn lock_policy(&self) -> LockPolicy {
        LockPolicy {
            timeout: Duration::from_secs(self.cfg.lock_timeout_secs),
            stale: Duration::from_secs(self.cfg.stale_lock_secs),
        }
    }

    fn unique(&self) -> String {
        format!("{}.{}", self.now.timestamp_micros(), std::process::id())
    }

    fn lock(&self, id: u32) -> Result<Locked, DeliverError> {
        match self.store.lock(id, self.lock_policy()) {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(DeliverError::NoSuchTicket {
                id,
                hint: "it disappeared while mail for it arrived".into(),
            }),
            Err(e) => Err(DeliverError::temp(e)),
        }
    }
}

/// The committed result, before notices.
enum Committed {
    New(u32),
    Appended { id: u32, reopened: bool },
    Closed { id: u32, refused: Option<String> },
    Duplicate(u32),
}

/// Files one message. `raw` is stdin, read to the end.
pub fn deliver(
    cx: &Context<'_>,
    input: &EnvelopeInput,
    raw: &[u8],
) -> Result<Outcome, DeliverError> {
    let cfg = cx.cfg;
    if raw.len() as u64 > cfg.max_message_size {
        return Err(DeliverError::NotMail(format!(
            "{} bytes is over max_message_size ({} bytes)",
            raw.len(),
            cfg.max_message_size
        )));
    }
    let normalised = mbox::normalise(raw);
    let msg = inbound::parse(&normalised)?;
    let (rcpt, target) = recipient(cfg, input, cx.env, &msg)?;
    let sender = sender(input, cx.env, &msg);
    cx.store.init().map_err(DeliverError::temp)?;
    cx.store.check_safe().map_err(DeliverError::temp)?;
    let route = route::route(cfg, &target, &msg, cx.store)?;

    let (key, trace) = message_key(&msg, &normalised);
    let entry = mbox::encode(
        &mbox::from_line(sender.address(), cx.now),
        &trace,
        &normalised,
    );
    let automatic = policy::automatic(&sender, &msg);
    let person = automatic.is_none() && !policy::from_ourselves(cfg, &msg);

    // ------------------------------------------------------------ commit
    let committed = match &route {
        Route::New => commit_new(cx, &entry, &key)?,
        Route::Append { id, .. } => {
            let mut l = cx.lock(*id)?;
            if l.holds(&key) {
                Committed::Duplicate(*id)
            } else {
                l.append(&entry, &key).map_err(DeliverError::temp)?;
                let mut reopened = false;
                if l.state() == State::Closed && person {
                    // Past the commit point: a failed move is reported, never retried.
                    reopened = l.move_to(State::Open).is_ok();
                }
                Committed::Appended { id: *id, reopened }
            }
        }
        Route::Close { id, token, .. } => {
            let secret = if cfg.close_token {
                Some(cx.store.secret().map_err(DeliverError::temp)?)
            } else {
                None
            };
            let mut l = cx.lock(*id)?;
            if l.holds(&key) {
                Committed::Duplicate(*id)
            } else {
                let allowed =
                    policy::may_close(cfg, *id, &sender, &msg, token.as_deref(), secret.as_deref());
                l.append(&entry, &key).map_err(DeliverError::temp)?;
                let refused = match allowed {
                    Ok(()) => l
                        .move_to(State::Closed)
                        .err()
                        .map(|e| format!("filed, but moving it failed: {e}")),
                    Err(why) => Some(why),
                };
                Committed::Closed { id: *id, refused }
            }
        }
    };
    // ------------------------------------------------------------ committed
    Ok(after_commit(
        cx,
        &msg,
        &normalised,
        &sender,
        &rcpt,
        &route,
        committed,
        automatic,
    ))
}

fn commit_new(cx: &Context<'_>, entry: &[u8], key: &str) -> Result<Committed, DeliverError> {
    let store = cx.store;
    store
        .with_new_ticket_lock(|| {
            // A retry of a message that an earlier run filed as a new ticket.
            if let Some(id) = route::Lookup::ticket_of(store, key) {
                return Ok(Committed::Duplicate(id));
            }
            let id = store.create_ticket(entry)?;
            if let Err(e) = store.index_add(key, id) {
                let _ = store.log(&format!("index: {e}"));
            }
            Ok(Committed::New(id))
        })
        .map_err(DeliverError::temp)
}

fn sender_text(sender: &Sender, msg: &Inbound) -> String {
    match &msg.from {
        Some(m) => match &m.name {
            Some(n) => format!("{} <{}>", notify::clean(n), m.addr),
            None => m.addr.clone(),
        },
        None => sender.address().unwrap_or("<>").to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn after_commit(
    cx: &Context<'_>,
    msg: &Inbound,
    normalised: &[u8],
    sender: &Sender,
    rcpt: &str,
    route: &Route,
    committed: Committed,
    automatic: Option<String>,
) -> Outcome {
    let cfg = cx.cfg;
    let is_admin = sender.address().is_some_and(|a| cfg.is_admin(a))
        || msg.from.as_ref().is_some_and(|m| cfg.is_admin(&m.addr))
        || policy::from_ourselves(cfg, msg);
    let mut notes: Vec<String> = Vec::new();
    type Notice = Option<(NoticeKind, Option<String>)>;
    let (ticket, action, ack, notice): (u32, &str, bool, Notice) = match committed {
        Committed::Duplicate(id) => (id, "duplicate", false, None),
        Committed::New(id) => (id, "new", true, Some((NoticeKind::New, automatic.clone()))),
        Committed::Appended { id, reopened } => {
            let kind = if reopened {
                Some((NoticeKind::Reopened, None))
            } else if automatic.is_none() && !is_admin {
                Some((NoticeKind::Followup, None))
            } else {
                None
            };
            (
                id,
                if reopened { "reopen" } else { "followup" },
                false,
                kind,
            )
        }
        Committed::Closed {
            id, refused: None, ..
        } => (id, "close", false, None),
        Committed::Closed {
            id,
            refused: Some(why),
        } => {
            notes.push(format!("close refused: {why}"));
            (
                id,
                "close-refused",
                false,
                Some((NoticeKind::RefusedClose, Some(why))),
            )
        }
    };
    if let Route::Append { why, .. } = route {
        match why {
            Why::Address => {}
            Why::SubjectTag => notes.push("matched by the subject tag".into()),
            Why::Thread => notes.push("matched by In-Reply-To/References".into()),
            Why::AlsoAddressed => notes.push("also addressed to the ticket".into()),
        }
    }
    if let Some(a) = &automatic {
        notes.push(format!("automatic: {a}"));
    }

    // Notices run after the commit; a panic in them must not turn into a retry.
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = Vec::new();
        if ack {
            match policy::ack_recipient(cfg, sender, msg) {
                Ok(to) => out.push(send(
                    cx,
                    ticket,
                    notify::ack(cfg, ticket, msg, &to, cx.now, &cx.unique()),
                    &format!("ack to {}", to.addr),
                )),
                Err(why) => out.push(format!("no ack ({why})")),
            }
        }
        if let Some((kind, detail)) = notice {
            let preview = if normalised.len() <= 4 * 1024 * 1024 {
                notify::preview(normalised, 12, 1200)
            } else {
                format!("(a {} byte message; not previewed)\n", normalised.len())
            };
            let close_address = close_address(cx, ticket);
            let facts = NoticeFacts {
                kind,
                sender: &sender_text(sender, msg),
                preview: &preview,
                detail: detail.as_deref(),
                close_address: &close_address,
            };
            if let Some(built) =
                notify::admin_notice(cfg, ticket, msg, &facts, cx.now, &cx.unique())
            {
                out.push(send(cx, ticket, built, "notice to admins"));
            }
        }
        out
    }))
    .unwrap_or_else(|_| vec!["building notices failed (internal error); nothing sent".into()]);
    notes.extend(sent);

    let detail = notes.join("; ");
    let outcome = Outcome {
        ticket,
        action,
        detail,
    };
    let line = format!(
        "{} exim={} sender={} rcpt={} ticket={} action={} outcome=0 {}",
        cx.now.format("%Y-%m-%dT%H:%M:%SZ"),
        cx.env.get("MESSAGE_ID").map(String::as_str).unwrap_or("-"),
        notify::clean(sender.address().unwrap_or("<>")).replace(' ', "_"),
        notify::clean(rcpt).replace(' ', "_"),
        ticket,
        action,
        notify::clean(&outcome.detail),
    );
    let _ = cx.store.log(&line);
    outcome
}

/// The close address the admin should use for ticket `id`.
pub fn close_address(cx: &Context<'_>, id: u32) -> String {
    let cfg = cx.cfg;
    let base = format!("{}{id}{}", cfg.ticket_prefix, cfg.close_suffix);
    if cfg.close_token {
        match cx.store.secret() {
            Ok(s) => format!("{base}-{}@{}", policy::close_token(&s, id), cfg.domain),
            Err(_) => format!("{base}-TOKEN@{} (the secret is unreadable)", cfg.domain),
        }
    } else {
        format!("{base}@{}", cfg.domain)
    }
}

fn send(
    cx: &Context<'_>,
    ticket: u32,
    built: Result<lettre::Message, String>,
    what: &str,
) -> String {
    let m = match built {
        Ok(m) => m,
        Err(e) => return format!("{what} not built: {e}"),
    };
    let mid = m.headers().get_raw("Message-ID").map(|s| {
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    });
    match cx.mailer.send(&m) {
        Ok(()) => {
            if let Some(mid) = mid {
                let _ = cx.store.index_add(&mid, ticket);
            }
            format!("{what} sent")
        }
        Err(e) => format!("{what} failed: {}", notify::clean(&e)),
    }
}
