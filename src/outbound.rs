//! Everything mailtix sends, and the hooks: admin notices, close notices, relayed
//! answers, the VERP envelope of each, and the result line each leaves for the log.
//! Used by deliver after the commit and by the commands that close and reopen.

use crate::address;
use crate::config::{BounceMode, Config};
use crate::envelope::Sender;
use crate::hooks;
use crate::inbound::{self, Inbound, Mailbox};
use crate::mailer::Mailer;
use crate::mbox;
use crate::notify::{self, NoticeFacts, NoticeKind};
use crate::policy;
use crate::store::{Action, LockPolicy, Store};
use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use std::collections::HashMap;
use std::time::Duration;

/// The mail being delivered, as the notices and the relay need it.
pub(crate) struct Received<'a> {
    pub(crate) msg: &'a Inbound,
    /// The message as stored (line ends normalised).
    pub(crate) normalised: &'a [u8],
    pub(crate) sender: &'a Sender,
    /// Why it is automatic, if it is.
    pub(crate) automatic: Option<&'a str>,
}

/// Everything deliver, and a command that sends mail, needs from outside.
pub(crate) struct Context<'a> {
    pub cfg: &'a Config,
    pub store: &'a Store,
    pub mailer: &'a dyn Mailer,
    pub env: &'a HashMap<String, String>,
    pub now: DateTime<Utc>,
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

impl Context<'_> {
    pub(crate) fn lock_policy(&self) -> LockPolicy {
        LockPolicy {
            timeout: Duration::from_secs(self.cfg.lock_timeout_secs),
            stale: Duration::from_secs(self.cfg.stale_lock_secs),
        }
    }

    /// The unique part of this run's Message-IDs: the time in microseconds and the
    /// pid, in base 36, so that an id with its MAC still fits a 78-octet header line.
    pub(crate) fn unique(&self) -> String {
        let micros = u64::try_from(self.now.timestamp_micros()).unwrap_or_default();
        format!(
            "{}.{}",
            base36(micros),
            base36(u64::from(std::process::id()))
        )
    }

    /// What this run's Message-IDs are made of. Without a readable secret the ids
    /// cannot be verified, but then nothing is sent either (the envelope needs it).
    pub(crate) fn ids(&self) -> notify::Ids {
        notify::Ids {
            unique: self.unique(),
            secret: self.store.secret().unwrap_or_default(),
        }
    }
}

pub(crate) fn sender_text(sender: &Sender, msg: &Inbound) -> String {
    match &msg.from {
        Some(m) => match &m.name {
            Some(n) => format!("{} <{}>", crate::headers::clean(n), m.addr),
            None => m.addr.clone(),
        },
        None => sender.address().unwrap_or("<>").to_string(),
    }
}

/// The requester of ticket `id` (Reply-To, else From, of its first message) and that
/// message's header facts.
pub(crate) fn requester(cx: &Context<'_>, id: u32) -> Option<(Mailbox, Inbound)> {
    let state = cx.store.state(id)?;
    let head = cx.store.read_head(id, state, 256 * 1024).ok()?;
    let first = mbox::read(&head).ok()?.into_iter().next()?;
    let m = inbound::parse(&first.message).ok()?;
    let who = m.reply_to.clone().or_else(|| m.from.clone())?;
    Some((who, m))
}

/// Whether mail to `addr` is held back because it bounces (`[bounces] mode = "enforce"`).
pub(crate) fn bounce_block(cx: &Context<'_>, addr: &str) -> Option<String> {
    if cx.cfg.bounce_mode == BounceMode::Log {
        return None;
    }
    let n = cx.store.hard_bounces(addr, cx.now.timestamp());
    (n >= cx.cfg.bounce_hard_limit).then(|| format!("{addr} has bounced {n} time(s)"))
}

/// The notice to the admins about ticket `id`, with a preview of the mail.
pub(crate) fn send_notice(
    cx: &Context<'_>,
    f: &Received<'_>,
    id: u32,
    kind: NoticeKind,
    detail: Option<&str>,
) -> Option<String> {
    let cfg = cx.cfg;
    // Only the start is parsed: enough for a preview, and a MIME bomb stays small.
    let head = &f.normalised[..f.normalised.len().min(256 * 1024)];
    let preview = notify::preview(head, 12, 1200);
    let close_address = close_address(cx, id);
    let reply_address = if cfg.relay_admin_replies {
        cx.store
            .secret()
            .ok()
            .map(|s| policy::reply_address(cfg, &s, id))
    } else {
        None
    };
    let name = if kind == NoticeKind::RefusedClose {
        crate::template::Name::RefusedClose
    } else {
        crate::template::Name::Notice
    };
    // Reading the requester costs a read of the ticket's start: only for a template
    // that shows it (the built-in notice does not).
    let requester = notify::template_uses(cfg, name, crate::template::BUILTIN_NOTICE, "requester")
        .then(|| requester(cx, id))
        .flatten()
        .map(|(m, _)| m.addr)
        .unwrap_or_default();
    let facts = NoticeFacts {
        kind,
        sender: &sender_text(f.sender, f.msg),
        preview: &preview,
        detail,
        close_address: &close_address,
        reply_address: reply_address.as_deref(),
        requester: &requester,
    };
    let built = notify::admin_notice(cfg, id, f.msg, &facts, cx.now, &cx.ids())?;
    let sent = send(cx, id, built, "notice to admins");
    Some(match notify::template_fallback(cfg, name) {
        Some(why) => format!("{why}; {sent}"),
        None => sent,
    })
}

pub(crate) fn sender_plain<'a>(sender: &'a Sender, msg: &'a Inbound) -> &'a str {
    sender
        .address()
        .or(msg.from.as_ref().map(|m| m.addr.as_str()))
        .unwrap_or("")
}

/// Runs the hooks for `event` on ticket `id`; one result line per hook that ran.
pub(crate) fn run_hooks(
    cx: &Context<'_>,
    action: Action,
    id: u32,
    sender: &str,
    subject: &str,
    message: &[u8],
) -> Vec<String> {
    if cx.cfg.hooks.is_empty() {
        return Vec::new();
    }
    let file = cx
        .store
        .state(id)
        .map(|s| cx.store.path(id, s))
        .unwrap_or_default();
    let local = cx.now.with_timezone(&chrono::Local);
    let minute = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
    let ev = hooks::Event {
        action,
        ticket: id,
        sender,
        subject,
        file: &file,
        message,
    };
    let budget = std::time::Duration::from_secs(cx.cfg.hook_time_limit_secs);
    hooks::run(&cx.cfg.hooks, &ev, minute, budget)
}

/// What became of an answer sent to a ticket's reply address.
pub(crate) enum Relay {
    /// Sent on to the requester: the log line.
    Sent(String),
    /// Filed only, for a reason the admins should hear.
    Refused(String),
}

/// relay_admin_replies: an admin's answer to a notice (mail to the ticket's secret
/// reply address) that does not include the requester goes on to the requester, from
/// ticket-N@. Anyone can forge the envelope sender and From that are checked here too;
/// the token in the address is what proves the mail answers a notice. `None`: filed,
/// nothing to tell.
pub(crate) fn relay_admin_reply(
    cx: &Context<'_>,
    id: u32,
    f: &Received<'_>,
    token: &str,
) -> Option<Relay> {
    let cfg = cx.cfg;
    let secret = match cx.store.secret() {
        Ok(s) => s,
        Err(e) => return Some(Relay::Refused(format!("the secret is unreadable: {e}"))),
    };
    if !crate::token::reply_token_matches(&secret, id, token) {
        return Some(Relay::Refused("the reply address has a wrong token".into()));
    }
    if !cfg.relay_admin_replies || f.automatic.is_some() {
        return None;
    }
    let env = f.sender.address().unwrap_or("<>");
    if !cfg.is_admin(env) {
        return Some(Relay::Refused(format!(
            "envelope sender {env:?} is not an admin"
        )));
    }
    let from = f.msg.from.as_ref().map_or("", |m| m.addr.as_str());
    if !cfg.is_admin(from) {
        return Some(Relay::Refused(format!("From {from:?} is not an admin")));
    }
    if f.msg.from_fields > 1 {
        return Some(Relay::Refused(format!(
            "the mail has {} From fields (a sign of forgery)",
            f.msg.from_fields
        )));
    }
    let Some((to, _)) = requester(cx, id) else {
        return Some(Relay::Refused("the ticket's requester is unknown".into()));
    };
    if cfg.is_admin(&to.addr) || address::target(&cfg.addresses, &to.addr).is_some() {
        return None;
    }
    let included = f
        .msg
        .recipient_candidates
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&to.addr));
    if included {
        return None;
    }
    match cx.store.take_relay(cx.now.timestamp(), cfg.relay_per_hour) {
        Ok(true) => {}
        Ok(false) => {
            return Some(Relay::Refused(format!(
                "{} answers were relayed in the last hour (relay_per_hour)",
                cfg.relay_per_hour
            )));
        }
        Err(e) => return Some(Relay::Refused(format!("relay count: {e}"))),
    }
    let sent = notify::relay(cfg, id, f.msg, f.normalised, &to, cx.now, &cx.ids())
        .and_then(|bytes| send_raw(cx, id, &to.addr, &bytes));
    let footer = match notify::relay_footer(cfg, id, f.msg, f.normalised, &to) {
        Err(why) => format!(" without the relay-footer ({why})"),
        Ok(_) => notify::template_fallback(cfg, crate::template::Name::RelayFooter)
            .map(|w| format!("; {w}"))
            .unwrap_or_default(),
    };
    Some(match sent {
        Ok(()) => Relay::Sent(format!("relayed to {}{footer}", to.addr)),
        Err(e) => Relay::Refused(format!("relaying to {}: {e}", to.addr)),
    })
}

/// notify_on_close: tells the requester that ticket `id` was closed.
pub(crate) fn send_close_notice(cx: &Context<'_>, id: u32) -> String {
    let Some((to, first)) = requester(cx, id) else {
        return "no close notice: the requester is unknown".into();
    };
    if address::in_domain(&cx.cfg.addresses, &to.addr) {
        return format!("no close notice: {} is in our own domain", to.addr);
    }
    if let Some(why) = bounce_block(cx, &to.addr) {
        return format!("no close notice ({why})");
    }
    let sent = send(
        cx,
        id,
        notify::close_notice(cx.cfg, id, &first, &to, cx.now, &cx.ids()),
        &format!("close notice to {}", to.addr),
    );
    match notify::template_fallback(cx.cfg, crate::template::Name::Close) {
        Some(why) => format!("{why}; {sent}"),
        None => sent,
    }
}

/// The close address the admin should use for ticket `id`.
pub(crate) fn close_address(cx: &Context<'_>, id: u32) -> String {
    let cfg = cx.cfg;
    let base = format!(
        "{}{id}{}",
        cfg.addresses.ticket_prefix, cfg.addresses.close_suffix
    );
    if cfg.close_token {
        match cx.store.secret() {
            Ok(s) => format!(
                "{base}-{}@{}",
                crate::token::close_token(&s, id),
                cfg.addresses.domain
            ),
            Err(_) => format!(
                "{base}-TOKEN@{} (the secret is unreadable)",
                cfg.addresses.domain
            ),
        }
    } else {
        format!("{base}@{}", cfg.addresses.domain)
    }
}

/// The envelope of mail about ticket `id` to `rcpts`: from the ticket's VERP bounce
/// address, so that bounces come back to the ticket.
pub(crate) fn envelope(
    cx: &Context<'_>,
    id: u32,
    rcpts: &[lettre::Address],
) -> Result<Envelope, String> {
    let secret = cx
        .store
        .secret()
        .map_err(|e| format!("no bounce secret: {e}"))?;
    let from: lettre::Address = policy::bounce_address(cx.cfg, &secret, id)
        .parse()
        .map_err(|e| format!("bounce address: {e}"))?;
    Envelope::new(Some(from), rcpts.to_vec()).map_err(|e| e.to_string())
}

pub(crate) fn send(
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
    let env = match envelope(cx, ticket, m.envelope().to()) {
        Ok(e) => e,
        Err(e) => return format!("{what} not sent: {e}"),
    };
    match cx.mailer.send(&env, &m.formatted()) {
        Ok(()) => {
            if let Some(mid) = mid {
                let _ = cx.store.index_add(&mid, ticket);
            }
            format!("{what} sent")
        }
        Err(e) => format!("{what} failed: {}", crate::headers::clean(&e)),
    }
}

pub(crate) fn send_raw(
    cx: &Context<'_>,
    ticket: u32,
    to: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let rcpt: lettre::Address = to.parse().map_err(|e| format!("not sent: {e}"))?;
    let env = envelope(cx, ticket, &[rcpt]).map_err(|e| format!("not sent: {e}"))?;
    cx.mailer
        .send(&env, bytes)
        .map_err(|e| format!("sending failed: {}", crate::headers::clean(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_digits() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(u64::MAX), "3w5e11264sgsf");
    }
}
