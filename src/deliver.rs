//! `mailtix deliver`: the imperative shell around the pure core, for one message.
//!
//! ```text
//! envelope → parse → route → encode → commit (lock, write, fsync) → notices
//! ```
//! Everything before the commit may fail with 65, 67 or 75 and leaves the store as it
//! was. After the commit nothing returns a temporary failure: Exim would retry and the
//! message would be stored twice. A failed notice is logged and the exit stays 0.

use crate::address::{self, Target};
use crate::bounce;
use crate::config::BounceMode;
pub(crate) use crate::envelope::EnvelopeInput;
use crate::envelope::{Sender, recipient, sender};
use crate::error::DeliverError;
use crate::headers::Trace;
use crate::inbound::{self, Inbound};
use crate::mbox;
use crate::notify::{self, NoticeKind};
pub(crate) use crate::outbound::Context;
use crate::outbound::{
    Received, Relay, bounce_block, relay_admin_reply, requester, run_hooks, send,
    send_close_notice, send_notice, sender_plain,
};
use crate::plan::{self, Committed, Effect};
use crate::policy;
use crate::route::{self, Route, State};
use crate::store::{AckGrant, Action, BounceRecord, Locked, LogLine, Who};
use std::time::Duration;

/// What happened, for the stderr line and the log.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub ticket: u32,
    pub action: Action,
    pub detail: String,
}

/// The keys a message is indexed under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keys {
    /// What a duplicate must match: the Message-ID and a hash of the body, so that a
    /// mail that only reuses someone's Message-ID is not taken for theirs. Mail without
    /// a Message-ID: a hash of its bytes.
    copy: String,
    /// The Message-ID alone, for threading replies.
    thread: Option<String>,
}

/// The body of a normalised or stored message: after the first empty line.
fn body_of(message: &[u8]) -> &[u8] {
    if let Some(rest) = message.strip_prefix(b"\n") {
        return rest;
    }
    message
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(&[][..], |p| &message[p + 2..])
}

/// The copy key of a message with this Message-ID. The body is stored byte for byte,
/// but the mbox entry may end in one more newline than the input did, so trailing
/// newlines are left out of the hash: the key can be recomputed from the stored copy.
fn copy_key(mid: &str, message: &[u8]) -> String {
    let body = body_of(message);
    let end = body.iter().rposition(|&b| b != b'\n').map_or(0, |p| p + 1);
    format!("{mid} body={:016x}", mbox::fnv1a(&body[..end]))
}

/// The keys a message is deduplicated and threaded by. Mail without a Message-ID gets
/// a hash of its bytes, which is also written into the stored copy as `X-Mailtix-Key`
/// so that `reindex` finds it again ([`stored_keys`] reads the keys back).
fn message_keys(msg: &Inbound, normalised: &[u8]) -> (Keys, Trace) {
    match &msg.message_id {
        Some(mid) => (
            Keys {
                copy: copy_key(mid, normalised),
                thread: Some(mid.clone()),
            },
            Trace::default(),
        ),
        None => {
            let h = mbox::fnv1a(normalised);
            let key = format!("no-message-id.{h:016x}@mailtix");
            let trace = Trace {
                key: Some(key.clone()),
                ..Trace::default()
            };
            (
                Keys {
                    copy: key,
                    thread: None,
                },
                trace,
            )
        }
    }
}

/// Every key a stored message (as `mbox::read` returns it) is indexed by: the same
/// keys `message_keys` gave it on delivery (the copy key first).
pub(crate) fn stored_keys(message: &[u8]) -> Vec<String> {
    let Ok(m) = inbound::parse(message) else {
        return Vec::new();
    };
    match m.message_id {
        Some(mid) => vec![copy_key(&mid, message), mid],
        None => Trace::parse(message).key.into_iter().collect(),
    }
}

/// `n` in lowercase base 36.
impl Context<'_> {
    fn lock(&self, id: u32) -> Result<Locked, DeliverError> {
        match self.store.lock(id, self.lock_policy()) {
            Ok(Some(l)) => {
                // Test-only, and only in debug builds: hold the lock a while, so a test
                // can look at it from outside.
                if cfg!(debug_assertions)
                    && let Some(ms) = self.env.get("MAILTIX_TEST_HOLD_LOCK_MS")
                {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                }
                Ok(l)
            }
            Ok(None) => Err(DeliverError::NoSuchTicket {
                id,
                hint: "it disappeared while mail for it arrived".into(),
            }),
            Err(e) => Err(DeliverError::temp(e)),
        }
    }
}

/// Files one message. `raw` is stdin, read to the end.
pub(crate) fn deliver(
    cx: &Context<'_>,
    input: &EnvelopeInput,
    raw: Vec<u8>,
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
    let mut msg = inbound::parse(&normalised)?;
    let (keys, trace) = message_keys(&msg, &normalised);
    msg.copy_key = Some(keys.copy.clone());
    if let Some(line) = mbox::long_line_hazard(&normalised) {
        return Err(DeliverError::NotMail(format!(
            "line {line} is longer than 8191 bytes and would split the mailbox in mail readers (RFC 5322 allows 998)"
        )));
    }
    let (rcpt, target) = recipient(cfg, input, cx.env, &msg)?;
    let sender = sender(input, cx.env, &msg);
    cx.store.init().map_err(DeliverError::temp)?;
    cx.store.check_safe().map_err(DeliverError::temp)?;
    if let Target::Bounce(id, mac) = &target {
        let secret = cx.store.secret().map_err(DeliverError::temp)?;
        if !crate::token::bounce_mac_matches(&secret, *id, mac) {
            // Anyone can send to a bounce address; a bounce of the refusal would go to
            // a sender that is usually forged. Dropped, with one log line.
            return Ok(discard(
                cx,
                &sender,
                &rcpt,
                *id,
                "a bounce address with a wrong MAC",
            ));
        }
    }
    let route = route::route(&cfg.addresses, &target, &msg, cx.store)?;
    let dangling = route::dangling_tag(&cfg.addresses, &target, &msg, cx.store);
    // From here on the config is the ticket's queue's: its admins, templates, acks.
    let queue_name = match &route {
        Route::New => crate::queue::of_recipient(cfg, &rcpt),
        Route::Append { id, .. } | Route::Close { id, .. } | Route::Bounce { id, .. } => {
            crate::queue::of_ticket(cfg, cx.store, *id)
        }
    };
    let scoped = crate::queue::scoped(cfg, &queue_name);
    let cx = &Context {
        cfg: &scoped,
        store: cx.store,
        mailer: cx.mailer,
        env: cx.env,
        now: cx.now,
    };
    let cfg = cx.cfg;
    // A new ticket records its queue in its trace block; support's is the default.
    let queue_trace = (queue_name != crate::config::SUPPORT).then(|| queue_name.clone());
    let mut trace = trace;
    if route == Route::New {
        trace.queue = queue_trace.clone();
    }

    let key = keys.copy.as_str();
    let trace_bytes = trace.to_bytes();
    let from_line = mbox::from_line(sender.address(), cx.now);
    let entry = mbox::Encoded {
        from_line: &from_line,
        trace: &trace_bytes,
        message: &normalised,
    };
    let automatic = policy::automatic(&sender, &msg);
    let person = automatic.is_none() && !policy::from_ourselves(cfg, &msg);

    // ------------------------------------------------------------ commit
    let committed = match &route {
        Route::New => commit_new(cx, &entry, key, None)?,
        Route::Append { id, .. } => {
            let mut l = cx.lock(*id)?;
            if l.holds(key) {
                Committed::Duplicate(*id)
            } else if l.state() == State::Closed && person && closed_too_long(cx, *id) {
                drop(l);
                // Too late to reopen: a new ticket whose first line names the old one.
                let trace = Trace {
                    previous_ticket: Some(*id),
                    queue: queue_trace.clone(),
                    ..trace.clone()
                }
                .to_bytes();
                let entry = mbox::Encoded {
                    from_line: &from_line,
                    trace: &trace,
                    message: &normalised,
                };
                commit_new(cx, &entry, key, Some(*id))?
            } else {
                l.append(&entry, key).map_err(DeliverError::temp)?;
                let mut reopened = false;
                if l.state() == State::Closed && person {
                    // Past the commit point: a failed move is reported, never retried.
                    reopened = l.move_to(State::Open).is_ok();
                }
                Committed::Appended { id: *id, reopened }
            }
        }
        Route::Bounce { id, .. } => {
            let mut l = cx.lock(*id)?;
            if l.holds(key) {
                Committed::Duplicate(*id)
            } else {
                l.append(&entry, key).map_err(DeliverError::temp)?;
                Committed::Bounce(*id)
            }
        }
        Route::Close { id, token, .. } => {
            let secret = if cfg.close_token {
                Some(cx.store.secret().map_err(DeliverError::temp)?)
            } else {
                None
            };
            let mut l = cx.lock(*id)?;
            if l.holds(key) {
                Committed::Duplicate(*id)
            } else {
                let allowed = match token.as_deref() {
                    Some(t) if !address::is_token_shape(t) => {
                        Err("the close address has a malformed token".to_string())
                    }
                    _ => policy::may_close(
                        cfg,
                        *id,
                        &sender,
                        &msg,
                        token.as_deref(),
                        secret.as_deref(),
                    ),
                };
                l.append(&entry, key).map_err(DeliverError::temp)?;
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
    let reused_id = index_thread_key(cx, &keys, &committed);
    let facts = Facts {
        msg: &msg,
        normalised: &normalised,
        sender: &sender,
        rcpt: &rcpt,
        route: &route,
        target: &target,
        automatic,
        reused_id: &reused_id,
        dangling,
    };
    Ok(after_commit(cx, &facts, committed))
}

/// The copy key went into the index with the commit (the crash-repair record names
/// it); the Message-ID is indexed after it, for threading. A crash in between loses
/// only threading until `reindex`, and a redelivery (a duplicate) puts it back.
/// Returns the other tickets that hold a message with this Message-ID.
fn index_thread_key(cx: &Context<'_>, keys: &Keys, committed: &Committed) -> Vec<u32> {
    let id = match committed {
        Committed::New { id, .. }
        | Committed::Appended { id, .. }
        | Committed::Closed { id, .. }
        | Committed::Bounce(id)
        | Committed::Duplicate(id) => *id,
    };
    let Some(mid) = &keys.thread else {
        return Vec::new();
    };
    let mut holders = cx.store.tickets_of(mid);
    if !holders.contains(&id)
        && let Err(e) = cx.store.index_add(mid, id)
    {
        let _ = cx
            .store
            .log(&format!("ticket {id}: index not updated: {e}"));
    }
    holders.retain(|&t| t != id);
    holders.dedup();
    holders
}

/// A message deliver accepts and drops: exit 0, one log line, nothing stored or sent.
fn discard(cx: &Context<'_>, sender: &Sender, rcpt: &str, id: u32, why: &str) -> Outcome {
    let _ = cx.store.log_event(&LogLine {
        at: cx.now,
        ticket: id,
        action: Action::Discarded,
        who: mail_cause(cx, sender, rcpt),
        detail: why,
    });
    Outcome {
        ticket: id,
        action: Action::Discarded,
        detail: why.to_string(),
    }
}

/// True when `reopen_within_days` is set and ticket `id` has been closed (quiet) for
/// longer than that.
fn closed_too_long(cx: &Context<'_>, id: u32) -> bool {
    let Some(days) = cx.cfg.reopen_within_days else {
        return false;
    };
    cx.store
        .idle_for(id, State::Closed)
        .is_some_and(|d| d > Duration::from_secs(u64::from(days) * 86_400))
}

fn commit_new(
    cx: &Context<'_>,
    entry: &mbox::Encoded<'_>,
    key: &str,
    previous: Option<u32>,
) -> Result<Committed, DeliverError> {
    let store = cx.store;
    let committed = store
        .with_new_ticket_lock(|| {
            // A retry of a message that an earlier run filed as a new ticket.
            if let Some(id) = route::Lookup::ticket_of(store, key) {
                return Ok(Committed::Duplicate(id));
            }
            let id = store.create_ticket(entry, key)?;
            Ok(Committed::New { id, previous })
        })
        .map_err(DeliverError::temp)?;
    // Past the commit point: the old ticket's note is best effort.
    if let (Committed::New { id, .. }, Some(old)) = (&committed, previous) {
        let text = format!(
            "Mail for this ticket arrived after it had been closed for more than {} days; it opened ticket {id}.",
            cx.cfg.reopen_within_days.unwrap_or(0)
        );
        let note = notify::note(cx.cfg, old, "moved on", &text, cx.now, &cx.unique());
        if let Ok(mut l) = cx.lock(old) {
            let _ = l.append(&note, "");
        }
    }
    Ok(committed)
}

/// What after_commit needs to know about the message.
struct Facts<'a> {
    msg: &'a Inbound,
    normalised: &'a [u8],
    sender: &'a Sender,
    rcpt: &'a str,
    route: &'a Route,
    target: &'a Target,
    automatic: Option<String>,
    /// Other tickets that hold a message with this Message-ID.
    reused_id: &'a [u32],
    /// `[issueN]` in the Subject of mail to support@ that named no ticket.
    dangling: Option<u32>,
}

/// How much of a bounce is read for its failed recipients: the delivery-status part
/// comes early, and a 31 MB report once took ten times its size to parse.
pub(crate) const BOUNCE_READ_MAX: usize = 1024 * 1024;

/// The most failures recorded from one report: anyone can send one to a bounce
/// address that an acknowledgement revealed.
pub(crate) const BOUNCE_FAILURES_MAX: usize = 5;

/// Records the failures a bounce of mail about ticket `id` reports, one result line
/// each. Only addresses that mailtix sends mail to about the ticket count: its
/// requester (who gets the acknowledgement, close notice and relays) and the admins
/// (who get the notices). Anything else in the report is someone else's address,
/// named by a forger or by a mailer that quotes too much, and is not recorded.
fn record_bounces(cx: &Context<'_>, id: u32, message: &[u8]) -> Vec<String> {
    let cfg = cx.cfg;
    let mut out = Vec::new();
    let failures = bounce::failures(&message[..message.len().min(BOUNCE_READ_MAX)]);
    if failures.is_empty() {
        out.push("bounce without a delivery report".into());
        return out;
    }
    let requester = requester(cx, id).map(|(m, _)| m.addr);
    let ours = |a: &str| {
        requester
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(a))
            || cfg.is_admin(a)
    };
    let (mut recorded, mut ignored) = (0usize, 0usize);
    for fl in failures {
        if !ours(fl.recipient.trim()) || recorded >= BOUNCE_FAILURES_MAX {
            ignored += 1;
            continue;
        }
        let rec = BounceRecord {
            at: cx.now.timestamp(),
            ticket: id,
            severity: fl.severity,
            status: fl.status.clone(),
            addr: fl.recipient.trim().to_string(),
        };
        match cx.store.record_bounce(&rec, cx.now.timestamp()) {
            Ok(()) => {
                recorded += 1;
                out.push(format!(
                    "{} bounce for {} ({}){}",
                    fl.severity.as_str(),
                    fl.recipient,
                    fl.status,
                    if cfg.bounce_mode == BounceMode::Enforce {
                        ""
                    } else {
                        ", log mode"
                    }
                ));
            }
            Err(e) => out.push(format!("bounce not recorded: {e}")),
        }
    }
    if ignored > 0 {
        out.push(format!(
            "{ignored} failure(s) not recorded (not an address mail about ticket {id} goes to, or over {BOUNCE_FAILURES_MAX} in one report)"
        ));
    }
    out
}

/// Everything after the commit point: gathers the facts, asks [`plan::plan`] what to
/// do, and does it. Nothing here can fail the delivery; problems become notes in the
/// log line.
fn after_commit(cx: &Context<'_>, f: &Facts<'_>, committed: Committed) -> Outcome {
    let cfg = cx.cfg;
    let (msg, sender) = (f.msg, f.sender);
    let (ticket, action) = committed.action();
    // Notices run after the commit; a panic in them must not turn into a retry.
    let notes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ack = matches!(committed, Committed::New { .. }).then(|| ack_fact(cx, sender, msg));
        let facts = plan::Facts {
            committed: &committed,
            automatic: f.automatic.as_deref(),
            from_admin: sender.address().is_some_and(|a| cfg.is_admin(a))
                || msg.from.as_ref().is_some_and(|m| cfg.is_admin(&m.addr))
                || policy::from_ourselves(cfg, msg),
            to_reply_address: matches!(f.target, Target::Reply(..)),
            why: match f.route {
                Route::Append { why, .. } => Some(*why),
                _ => None,
            },
            dangling_tag: f.dangling.map(|n| (cfg.addresses.subject_tag.as_str(), n)),
            reused_in: f.reused_id.first().copied(),
            notify_on_close: cfg.notify_on_close,
            ack: ack.as_ref(),
        };
        let received = Received {
            msg,
            normalised: f.normalised,
            sender,
            automatic: f.automatic.as_deref(),
        };
        let mut out = Vec::new();
        for effect in plan::plan(&facts) {
            match effect {
                Effect::Note(n) => out.push(n),
                Effect::Ack { to, tag_note } => {
                    out.extend(notify::template_fallback(cfg, crate::template::Name::Ack));
                    // The quote costs a MIME parse: only for a template that shows it.
                    let quote = if notify::template_uses(
                        cfg,
                        crate::template::Name::Ack,
                        crate::template::BUILTIN_ACK,
                        "quote",
                    ) {
                        notify::preview(&f.normalised[..f.normalised.len().min(256 * 1024)], 5, 600)
                    } else {
                        String::new()
                    };
                    out.push(send(
                        cx,
                        ticket,
                        notify::ack_quoting(
                            cfg,
                            ticket,
                            msg,
                            &to,
                            cx.now,
                            &cx.ids(),
                            tag_note.as_deref(),
                            &quote,
                        ),
                        &format!("ack to {}", to.addr),
                    ))
                }
                Effect::Relay {
                    reopened,
                    otherwise,
                } => {
                    let Target::Reply(_, token) = f.target else {
                        continue;
                    };
                    let reopened = if reopened {
                        "; the ticket was reopened"
                    } else {
                        ""
                    };
                    let notice = match relay_admin_reply(cx, ticket, &received, token) {
                        Some(Relay::Sent(line)) => {
                            out.push(line.clone());
                            Some((NoticeKind::Relayed, Some(format!("{line}{reopened}"))))
                        }
                        Some(Relay::Refused(why)) => {
                            let line = format!("not relayed: {why}");
                            out.push(line.clone());
                            Some((NoticeKind::RefusedRelay, Some(format!("{line}{reopened}"))))
                        }
                        None => otherwise,
                    };
                    if let Some((kind, detail)) = notice {
                        out.extend(send_notice(cx, &received, ticket, kind, detail.as_deref()));
                    }
                }
                Effect::Notice(kind, detail) => {
                    out.extend(send_notice(cx, &received, ticket, kind, detail.as_deref()));
                }
                Effect::CloseNotice => out.push(send_close_notice(cx, ticket)),
                Effect::RecordBounces => out.extend(record_bounces(cx, ticket, f.normalised)),
                Effect::Hook(action) => out.extend(run_hooks(
                    cx,
                    action,
                    ticket,
                    sender_plain(sender, msg),
                    &msg.subject,
                    f.normalised,
                )),
            }
        }
        out
    }))
    .unwrap_or_else(|_| vec!["building notices failed (internal error); nothing more sent".into()]);

    let outcome = Outcome {
        ticket,
        action,
        detail: notes.join("; "),
    };
    let line = LogLine {
        at: cx.now,
        ticket,
        action,
        who: mail_cause(cx, sender, f.rcpt),
        detail: &outcome.detail,
    };
    let _ = cx.store.log_event(&line);
    outcome
}

/// Whether the submitter of a new ticket gets an acknowledgement: who it would go to,
/// then the bounce record, then the caps. Taking the allowance counts it, so this runs
/// only for a new ticket.
fn ack_fact(cx: &Context<'_>, sender: &Sender, msg: &Inbound) -> plan::Ack {
    let cfg = cx.cfg;
    let to = match policy::ack_recipient(cfg, sender, msg) {
        Ok(to) => to,
        Err(why) => return plan::Ack::NotWanted(why),
    };
    if let Some(why) = bounce_block(cx, &to.addr) {
        return plan::Ack::HeldBack(why);
    }
    match cx.store.take_ack(
        &to.addr,
        cx.now.timestamp(),
        cfg.acks_per_sender_per_hour,
        cfg.acks_total_per_hour,
    ) {
        Ok(AckGrant::Taken) => plan::Ack::Granted(to),
        Ok(AckGrant::HourFull(n)) => plan::Ack::HeldBack(format!(
            "{n} acknowledgements already went out this hour ([acks] total_per_hour)"
        )),
        Ok(AckGrant::AddressFull(_)) => plan::Ack::HeldBack(format!(
            "{} already had {} acknowledgements this hour",
            crate::store::ack_mailbox(&to.addr),
            cfg.acks_per_sender_per_hour
        )),
        Err(e) => plan::Ack::Failed(e.to_string()),
    }
}

/// The delivery a log line is about.
fn mail_cause<'a>(cx: &'a Context<'_>, sender: &'a Sender, rcpt: &'a str) -> Who<'a> {
    Who::Mail {
        exim: cx.env.get("MESSAGE_ID").map(String::as_str),
        sender: sender.address().unwrap_or("<>"),
        rcpt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys deliver gives a message, and those reindex reads back from its copy.
    fn both(raw: &[u8], trace: &[u8]) -> (Vec<String>, Vec<String>) {
        let normalised = mbox::normalise(raw.to_vec());
        let msg = inbound::parse(&normalised).unwrap();
        let (keys, t) = message_keys(&msg, &normalised);
        let trace = [trace, &t.to_bytes()[..]].concat();
        let stored = mbox::encode(b"From a Sun Nov 22 07:46:08 2026\n", &trace, &normalised);
        let back = mbox::read(&stored).unwrap().remove(0);
        let given = [Some(keys.copy), keys.thread]
            .into_iter()
            .flatten()
            .collect();
        (given, stored_keys(&back.message))
    }

    #[test]
    fn reindex_reads_back_the_keys_deliver_gave() {
        for raw in [
            &b"Message-ID: <a@x>\nSubject: s\n\nbody\n"[..],
            b"Message-ID: <a@x>\nStatus: RO\nX-Mailtix-Event: x\n\nno final newline",
            b"Message-ID: <a@x>\n\nthree\n\n\n",
            b"Message-ID: <a@x>\r\n\r\nFrom me\r\n>From you\r\n",
            b"Message-ID: <a@x>\nSubject: headers only\n",
            b"Subject: no id\n\nbody\n",
        ] {
            let (given, read) = both(raw, b"X-Mailtix-Previous-Ticket: 3\n");
            assert_eq!(given, read, "{}", String::from_utf8_lossy(raw));
            assert!(!given.is_empty());
        }
    }

    #[test]
    fn the_copy_key_is_the_message_id_and_the_body() {
        let key = |raw: &[u8]| both(raw, b"").0[0].clone();
        let a = key(b"Message-ID: <a@x>\nDelivered-To: support@x\n\nbody\n");
        assert_eq!(
            a,
            key(b"Message-ID: <a@x>\nDelivered-To: ticket-1@x\n\nbody\n")
        );
        assert_ne!(a, key(b"Message-ID: <a@x>\n\nother body\n"));
        assert_ne!(a, key(b"Message-ID: <b@x>\n\nbody\n"));
        assert!(a.starts_with("a@x body="), "{a}");
    }

    /// In-process deliveries: a store in a temp directory, a fixed clock and a mailer
    /// that keeps what it is given.
    mod in_process {
        use super::super::*;
        use crate::config::Config;
        use crate::mailer::Mailer;
        use crate::store::Store;
        use chrono::{DateTime, TimeZone, Utc};
        use lettre::address::Envelope;
        use std::cell::RefCell;
        use std::collections::HashMap;

        #[derive(Default)]
        struct Kept(RefCell<Vec<(Vec<String>, String)>>);

        impl Mailer for Kept {
            fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), String> {
                let to = envelope.to().iter().map(|a| a.to_string()).collect();
                let text = String::from_utf8_lossy(message).into_owned();
                self.0.borrow_mut().push((to, text));
                Ok(())
            }
        }

        struct Desk {
            _dir: tempfile::TempDir,
            cfg: Config,
            store: Store,
            mailer: Kept,
            env: HashMap<String, String>,
            now: DateTime<Utc>,
        }

        impl Desk {
            fn new() -> Desk {
                let dir = tempfile::tempdir().unwrap();
                let cfg = Config::parse(
                    "store = \"s\"\ndomain = \"example.org\"\nadmins = [\"boss@admin.example\"]\n",
                    dir.path(),
                    None,
                )
                .unwrap();
                std::fs::create_dir(&cfg.store).unwrap();
                let store = Store::new(&cfg.store);
                Desk {
                    _dir: dir,
                    store,
                    cfg,
                    mailer: Kept::default(),
                    env: HashMap::new(),
                    now: Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
                }
            }

            fn deliver(&self, rcpt: &str, from: &str, text: &str) -> Outcome {
                let cx = Context {
                    cfg: &self.cfg,
                    store: &self.store,
                    mailer: &self.mailer,
                    env: &self.env,
                    now: self.now,
                };
                let input = EnvelopeInput {
                    recipient: Some(rcpt.into()),
                    sender: Some(from.into()),
                };
                deliver(&cx, &input, text.as_bytes().to_vec()).unwrap()
            }

            /// Who each sent mail went to, in order.
            fn sent_to(&self) -> Vec<String> {
                self.mailer
                    .0
                    .borrow()
                    .iter()
                    .map(|(to, _)| to.join(","))
                    .collect()
            }
        }

        const ANN: &str = "From: Ann <ann@customer.example>\nTo: support@example.org\nSubject: The printer\nMessage-ID: <p1@customer.example>\n\nIt is on fire.\n";

        #[test]
        fn a_new_ticket_sends_one_ack_and_one_notice_dated_by_the_clock() {
            let d = Desk::new();
            let o = d.deliver("support@example.org", "ann@customer.example", ANN);
            assert_eq!((o.ticket, o.action), (1, Action::New));
            assert_eq!(d.sent_to(), ["ann@customer.example", "boss@admin.example"]);
            let kept = d.mailer.0.borrow();
            let ack = &kept[0].1;
            assert!(
                ack.contains("Date: Wed, 02 Dec 2026 09:30:00 +0000\r\n"),
                "{ack}"
            );
            assert!(ack.contains("Reply-To: ticket-1@example.org\r\n"), "{ack}");
            assert!(ack.contains("Auto-Submitted: auto-replied\r\n"), "{ack}");
            assert!(
                String::from_utf8_lossy(&d.store.read(1, State::Open).unwrap())
                    .contains("It is on fire.")
            );
        }

        #[test]
        fn exims_retry_of_a_stored_message_sends_nothing_more() {
            let d = Desk::new();
            d.deliver("support@example.org", "ann@customer.example", ANN);
            let again = d.deliver("support@example.org", "ann@customer.example", ANN);
            assert_eq!((again.ticket, again.action), (1, Action::Duplicate));
            assert_eq!(d.sent_to().len(), 2, "{:?}", d.sent_to());
            assert_eq!(d.store.ids(State::Open), [1]);
        }

        #[test]
        fn a_follow_up_tells_the_admins_and_an_admins_answer_tells_nobody() {
            let d = Desk::new();
            d.deliver("support@example.org", "ann@customer.example", ANN);
            let more = "From: ann@customer.example\nSubject: Re: The printer\nMessage-ID: <p2@customer.example>\n\nStill burning.\n";
            let o = d.deliver("ticket-1@example.org", "ann@customer.example", more);
            assert_eq!(o.action, Action::Followup);
            let answer = "From: boss@admin.example\nSubject: Re: The printer\nMessage-ID: <a1@admin.example>\n\nOn my way.\n";
            let o = d.deliver("ticket-1@example.org", "boss@admin.example", answer);
            assert_eq!(o.action, Action::Followup);
            assert_eq!(
                d.sent_to(),
                [
                    "ann@customer.example",
                    "boss@admin.example",
                    "boss@admin.example"
                ]
            );
        }
    }
}
