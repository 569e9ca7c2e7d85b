//! The mail mailtix sends: acknowledgements and admin notices, built with lettre. Pure:
//! the clock and the unique part of each Message-ID come in as arguments.
//!
//! Every value copied from incoming mail goes through lettre's header encoder, and
//! control characters are turned into spaces first, so a CR or LF decoded from an
//! encoded word can never start a header of its own.

use crate::config::Config;
use crate::headers::clean;
use crate::inbound::{Inbound, Mailbox};
use crate::template::{self, Name};
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox as LMailbox, header::ContentType};

/// What kind of admin notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoticeKind {
    New,
    Followup,
    Reopened,
    RefusedClose,
    /// An admin's answer went on to the requester.
    Relayed,
    /// Mail to the reply address was filed but not sent on.
    RefusedRelay,
}

impl NoticeKind {
    fn word(self) -> &'static str {
        match self {
            NoticeKind::New => "new ticket",
            NoticeKind::Followup => "follow-up",
            NoticeKind::Reopened => "reopened",
            NoticeKind::RefusedClose => "close refused",
            NoticeKind::Relayed => "answer relayed",
            NoticeKind::RefusedRelay => "relay refused",
        }
    }
}

/// A Message-ID that is safe to copy into In-Reply-To: printable ASCII, no brackets.
fn safe_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| (33..=126).contains(&b) && b != b'<' && b != b'>');
    ok.then_some(id)
}

/// What the Message-IDs of one run are made of: a part unique to the run, and the
/// store's secret, which signs each id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    pub unique: String,
    pub secret: Vec<u8>,
}

/// Our Message-ID for a mail about ticket `id` ([`crate::headers::own_message_id`]).
pub(crate) fn message_id(cfg: &Config, id: u32, kind: &str, ids: &Ids) -> String {
    crate::headers::own_message_id(&cfg.addresses.domain, id, kind, &ids.unique, &ids.secret)
}

/// The longest Subject (in characters) copied from incoming mail into mail we send.
pub(crate) const SUBJECT_MAX: usize = 200;

/// `s` cut to `max` characters, with "…" when something was cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The Subject of incoming mail as we quote it: clean, and at most [`SUBJECT_MAX`].
fn quoted_subject(subject: &str) -> String {
    clip(&clean(subject), SUBJECT_MAX)
}

/// The longest word lettre may write as it is; lettre folds only at spaces and
/// encodes only words that are not ASCII, so a longer ASCII word would make one line
/// of its own length ("lines too long" at the next MTA, over RFC 5322's 998).
const LONGEST_PLAIN_WORD: usize = 60;

/// A Subject header whose every line fits in 78 octets. Values with a word too long
/// to fold are written as RFC 2047 encoded words, which may be split anywhere (between
/// characters) and are rejoined without the folding whitespace by every reader.
fn subject_header(value: &str) -> HeaderValue {
    let name = HeaderName::new_from_ascii_str("Subject");
    if value.split(' ').all(|w| w.len() <= LONGEST_PLAIN_WORD) {
        return HeaderValue::new(name, value.to_string());
    }
    // 39 bytes of UTF-8 become 52 base64 characters: "Subject: =?utf-8?b?…?=" is
    // then at most 73 octets, and each continuation line 65.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    let encoded = words
        .iter()
        .map(|w| format!("=?utf-8?b?{}?=", base64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ");
    HeaderValue::dangerous_new_pre_encoded(name, value.to_string(), encoded)
}

/// Standard base64 with padding (RFC 4648 §4), for encoded words.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Subject `[issueN] original`, unless the original already carries the tag.
pub(crate) fn tagged_subject(cfg: &Config, id: u32, subject: &str) -> String {
    let subject = quoted_subject(subject);
    let tag = format!("[{}{id}]", cfg.addresses.subject_tag);
    if subject
        .to_ascii_lowercase()
        .contains(&tag.to_ascii_lowercase())
    {
        subject
    } else if subject.is_empty() {
        tag
    } else {
        format!("{tag} {subject}")
    }
}

fn mailbox(name: Option<&str>, addr: &str) -> Result<LMailbox, String> {
    let address = addr
        .trim()
        .parse::<lettre::Address>()
        .map_err(|e| format!("{addr:?} is not a usable address: {e}"))?;
    // A display name is a courtesy: one too long to fold is left out rather than
    // making a header line longer than the next MTA takes.
    let name = name
        .map(|n| clip(&clean(n), 64))
        .filter(|n| !n.is_empty() && n.split(' ').all(|w| w.len() <= LONGEST_PLAIN_WORD));
    Ok(LMailbox::new(name, address))
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), clean(value))
}

/// Fields shared by everything we send.
struct Common<'a> {
    cfg: &'a Config,
    id: u32,
    now: DateTime<Utc>,
    message_id: String,
    in_reply_to: &'a Inbound,
}

impl<'a> Common<'a> {
    fn new(
        cfg: &'a Config,
        id: u32,
        now: DateTime<Utc>,
        kind: &str,
        ids: &Ids,
        in_reply_to: &'a Inbound,
    ) -> Self {
        Common {
            cfg,
            id,
            now,
            message_id: message_id(cfg, id, kind, ids),
            in_reply_to,
        }
    }

    fn builder(
        &self,
        subject: String,
        auto: &str,
    ) -> Result<lettre::message::MessageBuilder, String> {
        self.builder_replying_to(subject, auto, &self.cfg.ticket_address(self.id))
    }

    /// From the ticket address, with replies going to `reply_to`.
    fn builder_replying_to(
        &self,
        subject: String,
        auto: &str,
        reply_to: &str,
    ) -> Result<lettre::message::MessageBuilder, String> {
        let ticket = mailbox(None, &self.cfg.ticket_address(self.id))?;
        let mut b = Message::builder()
            .from(ticket)
            .reply_to(mailbox(None, reply_to)?)
            .raw_header(subject_header(&subject))
            .date(self.now.into())
            .message_id(Some(format!("<{}>", self.message_id)))
            .raw_header(header("Auto-Submitted", auto))
            .raw_header(header("X-Auto-Response-Suppress", "All"))
            .raw_header(header(crate::headers::LOOP, &self.cfg.addresses.domain));
        if let Some(mid) = self.in_reply_to.message_id.as_deref().and_then(safe_id) {
            let mut refs: Vec<String> = self
                .in_reply_to
                .references
                .iter()
                .filter_map(|r| safe_id(r))
                .map(|r| format!("<{r}>"))
                .collect();
            refs.push(format!("<{mid}>"));
            let keep = refs.len().saturating_sub(10);
            b = b
                .in_reply_to(format!("<{mid}>"))
                .references(refs[keep..].join(" "));
        }
        Ok(b)
    }
}

/// The acknowledgement of new ticket `id`, sent to `to`, with no note and no quote:
/// the tests' short form of [`ack_quoting`].
#[cfg(test)]
pub(crate) fn ack(
    cfg: &Config,
    id: u32,
    msg: &Inbound,
    to: &Mailbox,
    now: DateTime<Utc>,
    ids: &Ids,
) -> Result<Message, String> {
    ack_quoting(cfg, id, msg, to, now, ids, None, "")
}

/// The acknowledgement, whose `{quote}` is the start of the mail (`preview`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ack_quoting(
    cfg: &Config,
    id: u32,
    msg: &Inbound,
    to: &Mailbox,
    now: DateTime<Utc>,
    ids: &Ids,
    note: Option<&str>,
    preview: &str,
) -> Result<Message, String> {
    let c = Common::new(cfg, id, now, "ack", ids, msg);
    let note = note.map(|n| format!("{}.", clean(n))).unwrap_or_default();
    let quote = quote(preview);
    let body = template_body(
        cfg,
        Name::Ack,
        template::BUILTIN_ACK,
        id,
        &msg.subject,
        &to.addr,
        &[("note", &note), ("quote", &quote)],
    );
    c.builder(tagged_subject(cfg, id, &msg.subject), "auto-replied")?
        .to(mailbox(to.name.as_deref(), &to.addr)?)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// The lines of a preview, each after "> ", without the last newline.
fn quote(preview: &str) -> String {
    preview
        .lines()
        .map(|l| format!("> {}", l.replace('\r', "")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A body from template `name` (the config's file, else `builtin`). The values shared
/// by every template are filled here; `extra` adds the template's own.
fn template_body(
    cfg: &Config,
    name: Name,
    builtin: &str,
    id: u32,
    subject: &str,
    requester: &str,
    extra: &[(&str, &str)],
) -> String {
    let (t, _) = template::pick(&cfg.templates, name, builtin);
    let from_file = cfg.templates.get(name).is_some();
    let subject = quoted_subject(subject);
    let value = |var: &str| -> String {
        match var {
            "ticket" => id.to_string(),
            "address" => cfg.ticket_address(id),
            "subject" if subject.is_empty() => "(none)".into(),
            "subject" => subject.clone(),
            "requester" => clean(requester),
            "tag" => format!("[{}{id}]", cfg.addresses.subject_tag),
            // The built-in notice names the queue only where there are several.
            "queue" if !from_file && !crate::queue::several(cfg) => String::new(),
            "queue" => cfg.queue.clone(),
            other => extra
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
        }
    };
    t.render(&value)
}

/// True when the template `name` that goes out (the file, else `builtin`) uses `var`.
pub(crate) fn template_uses(cfg: &Config, name: Name, builtin: &str, var: &str) -> bool {
    template::pick(&cfg.templates, name, builtin).0.uses(var)
}

/// Why the file for template `name` was refused, so that deliver logs that the
/// built-in text went out instead.
pub(crate) fn template_fallback(cfg: &Config, name: Name) -> Option<String> {
    template::pick(&cfg.templates, name, "").1
}

/// What an admin notice says about the message.
pub(crate) struct NoticeFacts<'a> {
    pub kind: NoticeKind,
    pub sender: &'a str,
    /// The start of the message text.
    pub preview: &'a str,
    /// One more line, for example why a close was refused.
    pub detail: Option<&'a str>,
    pub close_address: &'a str,
    /// The ticket's secret reply address (`relay_admin_replies`): the notice's Reply-To,
    /// so that answering the notice from any client relays the answer.
    pub reply_address: Option<&'a str>,
    /// The ticket's requester (the first mail's Reply-To, else From).
    pub requester: &'a str,
}

/// The admin notice about ticket `id`, to every admin. `None` when there are no admins.
pub(crate) fn admin_notice(
    cfg: &Config,
    id: u32,
    msg: &Inbound,
    facts: &NoticeFacts<'_>,
    now: DateTime<Utc>,
    ids: &Ids,
) -> Option<Result<Message, String>> {
    if cfg.admins.is_empty() {
        return None;
    }
    Some((|| {
        let c = Common::new(cfg, id, now, "notice", ids, msg);
        let subject = format!(
            "{}: {}",
            facts.kind.word(),
            tagged_subject(cfg, id, &msg.subject)
        );
        let mut b = match facts.reply_address {
            Some(r) => c.builder_replying_to(subject, "auto-generated", r)?,
            None => c.builder(subject, "auto-generated")?,
        };
        for a in &cfg.admins {
            b = b.to(mailbox(None, a)?);
        }
        let name = if facts.kind == NoticeKind::RefusedClose {
            Name::RefusedClose
        } else {
            Name::Notice
        };
        let builtin = match facts.reply_address {
            Some(_) => template::BUILTIN_NOTICE_RELAY,
            None => template::BUILTIN_NOTICE,
        };
        let note = facts.detail.map(clean).unwrap_or_default();
        let body = template_body(
            cfg,
            name,
            builtin,
            id,
            &msg.subject,
            facts.requester,
            &[
                ("event", facts.kind.word()),
                ("sender", &clean(facts.sender)),
                ("note", &note),
                ("quote", &quote(facts.preview)),
                ("close_address", facts.close_address),
                ("reply_address", facts.reply_address.unwrap_or("")),
            ],
        );
        b.header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())
    })())
}

/// A note that mailtix files in a ticket (close, reopen, a ticket that moved on): an
/// mbox entry whose trace block carries `X-Mailtix-Event`, so `list` does not count it
/// as mail. Incoming mail cannot set that block (see `headers`).
pub(crate) fn note(
    cfg: &Config,
    id: u32,
    event: &str,
    text: &str,
    now: DateTime<Utc>,
    unique: &str,
) -> Vec<u8> {
    note_in_queue(cfg, id, event, text, now, unique, None)
}

/// A note that also records the queue the ticket is in from now on (`mailtix move`).
pub(crate) fn note_in_queue(
    cfg: &Config,
    id: u32,
    event: &str,
    text: &str,
    now: DateTime<Utc>,
    unique: &str,
    queue: Option<&str>,
) -> Vec<u8> {
    let msg = format!(
        "From: mailtix <mailtix@{domain}>\nTo: {to}\nDate: {date}\nSubject: [{tag}{id}] {event}\nMessage-ID: <{mid}>\nAuto-Submitted: auto-generated\n\n{text}\n",
        mid = crate::headers::note_message_id(&cfg.addresses.domain, id, unique),
        domain = cfg.addresses.domain,
        to = cfg.ticket_address(id),
        date = now.to_rfc2822(),
        tag = cfg.addresses.subject_tag,
        text = clean_multiline(text),
    );
    let from = format!("mailtix@{}", cfg.addresses.domain);
    let trace = crate::headers::Trace {
        event: Some(event.to_string()),
        queue: queue.map(str::to_string),
        ..crate::headers::Trace::default()
    };
    crate::mbox::encode(
        &crate::mbox::from_line(Some(&from), now),
        &trace.to_bytes(),
        msg.as_bytes(),
    )
}

fn clean_multiline(s: &str) -> String {
    s.lines().map(clean).collect::<Vec<_>>().join("\n")
}

/// The notice to the requester that ticket `id` was closed (`notify_on_close`).
pub(crate) fn close_notice(
    cfg: &Config,
    id: u32,
    first: &Inbound,
    to: &Mailbox,
    now: DateTime<Utc>,
    ids: &Ids,
) -> Result<Message, String> {
    let c = Common::new(cfg, id, now, "closed", ids, first);
    let body = template_body(
        cfg,
        Name::Close,
        template::BUILTIN_CLOSE,
        id,
        &first.subject,
        &to.addr,
        &[],
    );
    c.builder(
        format!("closed: {}", tagged_subject(cfg, id, &first.subject)),
        "auto-generated",
    )?
    .to(mailbox(to.name.as_deref(), &to.addr)?)
    .header(ContentType::TEXT_PLAIN)
    .body(body)
    .map_err(|e| e.to_string())
}

/// The raw header fields `names` (with their continuation lines) of a normalised
/// message, CRLF-terminated.
fn raw_fields(message: &[u8], names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
            let name = &line[..name_end];
            keep = names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
        }
        if keep {
            out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// An admin's answer, sent on to the requester from `ticket-N@` (relay_admin_replies).
/// The new header block is built by lettre (so every value is encoded); the MIME
/// headers and the body are the admin's, unchanged, so attachments go along.
pub(crate) fn relay(
    cfg: &Config,
    id: u32,
    admin_mail: &Inbound,
    normalised: &[u8],
    to: &Mailbox,
    now: DateTime<Utc>,
    ids: &Ids,
) -> Result<Vec<u8>, String> {
    let ticket = mailbox(None, &cfg.ticket_address(id))?;
    let mid = admin_mail
        .message_id
        .as_deref()
        .and_then(safe_id)
        .map(str::to_string)
        .unwrap_or_else(|| message_id(cfg, id, "relay", ids));
    let mut b = Message::builder()
        .from(ticket.clone())
        .reply_to(ticket)
        .to(mailbox(to.name.as_deref(), &to.addr)?)
        .raw_header(subject_header(&tagged_subject(
            cfg,
            id,
            &admin_mail.subject,
        )))
        .date(now.into())
        .message_id(Some(format!("<{mid}>")))
        .raw_header(header(crate::headers::LOOP, &cfg.addresses.domain));
    if let Some(irt) = admin_mail.in_reply_to.iter().find_map(|i| safe_id(i)) {
        b = b.in_reply_to(format!("<{irt}>"));
    }
    let refs: Vec<String> = admin_mail
        .references
        .iter()
        .filter_map(|r| safe_id(r))
        .map(|r| format!("<{r}>"))
        .collect();
    if !refs.is_empty() {
        b = b.references(refs.join(" "));
    }
    let shell = b
        .body(String::new())
        .map_err(|e| e.to_string())?
        .formatted();
    let head_end = shell
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(shell.len());
    let mut out: Vec<u8> = Vec::with_capacity(normalised.len() + 1024);
    for line in shell[..head_end].split_inclusive(|&b| b == b'\n') {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-") || lower.starts_with(b"mime-version") {
            continue;
        }
        out.extend_from_slice(line);
    }
    let mime = raw_fields(
        normalised,
        &["MIME-Version", "Content-Type", "Content-Transfer-Encoding"],
    );
    if mime.split(|&b| b == b'\n').any(|l| l.len() > 999) {
        return Err("a MIME header line is longer than 998 octets (RFC 5322)".into());
    }
    out.extend(mime);
    out.extend_from_slice(b"\r\n");
    let body_start = normalised
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 2)
        .unwrap_or(normalised.len());
    for line in normalised[body_start..].split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        // The admin's body goes on as it is, so a line we cannot send is a refusal
        // here rather than a "lines too long" bounce counted against the requester.
        if line.len() > 998 {
            return Err("the mail has a line longer than 998 octets (RFC 5322)".into());
        }
        // SMTP transparency is the transport's job; bare CRs are dropped here.
        out.extend(line.iter().filter(|&&b| b != b'\r'));
        out.extend_from_slice(b"\r\n");
    }
    if let Ok(footer) = relay_footer(cfg, id, admin_mail, normalised, to) {
        for line in footer.lines() {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    Ok(out)
}

/// The `relay-footer` text for this answer: `Ok("")` when there is none, `Err` when
/// there is one that cannot go under this answer. The footer is added only to a
/// single text/plain part sent as 7bit or 8bit (anything else would need its MIME
/// structure rebuilt), and a footer that is not ASCII only to UTF-8 text.
pub(crate) fn relay_footer(
    cfg: &Config,
    id: u32,
    admin_mail: &Inbound,
    normalised: &[u8],
    to: &Mailbox,
) -> Result<String, String> {
    let footer = template_body(
        cfg,
        Name::RelayFooter,
        template::BUILTIN_RELAY_FOOTER,
        id,
        &admin_mail.subject,
        &to.addr,
        &[],
    );
    if footer.is_empty() {
        return Ok(footer);
    }
    let fields = String::from_utf8_lossy(&raw_fields(
        normalised,
        &["Content-Type", "Content-Transfer-Encoding"],
    ))
    .to_ascii_lowercase();
    let value = |name: &str| {
        fields
            .split("\r\n")
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let ctype = value("content-type:").unwrap_or_else(|| "text/plain".into());
    let cte = value("content-transfer-encoding:").unwrap_or_else(|| "7bit".into());
    if fields.contains("\r\n ") || fields.contains("\r\n\t") {
        return Err("the answer's MIME header is folded".into());
    }
    let mut params = ctype.split(';').map(str::trim);
    if params.next() != Some("text/plain") {
        return Err(format!("the answer is {ctype}, not a plain text part"));
    }
    if cte != "7bit" && cte != "8bit" {
        return Err(format!("the answer is sent as {cte}"));
    }
    let charset = params
        .find_map(|p| p.strip_prefix("charset="))
        .map(|c| c.trim_matches('"').to_string())
        .unwrap_or_else(|| "us-ascii".into());
    if !(footer.is_ascii() || charset == "utf-8" && cte == "8bit") {
        return Err(format!(
            "the footer is not ASCII and the answer is {charset} ({cte})"
        ));
    }
    Ok(footer)
}

/// The first `lines` lines (at most `chars` characters) of the message's text, with
/// HTML turned into text when there is no text part.
pub(crate) fn preview(message: &[u8], lines: usize, chars: usize) -> String {
    // The same reading as `show`'s, so a notice quotes what `show` will print.
    let text = crate::thread::first_text(message);
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(lines) {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        if out.chars().count() + line.chars().count() > chars {
            let room = chars.saturating_sub(out.chars().count());
            out.extend(line.chars().take(room));
            out.push_str(" [...]\n");
            break;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            "domain = \"example.org\"\nadmins = [\"boss@admin.net\", \"two@admin.net\"]",
            Path::new("/"),
            None,
        )
        .unwrap()
    }

    fn inbound(subject: &str) -> Inbound {
        Inbound {
            subject: subject.into(),
            message_id: Some("orig@x.com".into()),
            references: vec!["root@x.com".into()],
            from: Some(Mailbox {
                name: Some("Ann".into()),
                addr: "ann@x.com".into(),
            }),
            ..Inbound::default()
        }
    }

    fn ids(unique: &str) -> Ids {
        Ids {
            unique: unique.into(),
            secret: b"k".to_vec(),
        }
    }

    fn text(m: &Message) -> String {
        String::from_utf8(m.formatted()).unwrap()
    }

    fn header_block(s: &str) -> &str {
        s.split("\r\n\r\n").next().unwrap()
    }

    #[test]
    fn ack_has_every_header_spec_names() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap();
        let m = inbound("Printer on fire");
        let to = m.from.clone().unwrap();
        let ack = ack(&cfg(), 12, &m, &to, now, &ids("u1")).unwrap();
        let s = text(&ack);
        let h = header_block(&s);
        assert!(h.contains("From: ticket-12@example.org\r\n"), "{h}");
        assert!(h.contains("Reply-To: ticket-12@example.org\r\n"), "{h}");
        assert!(h.contains("To: Ann <ann@x.com>\r\n"), "{h}");
        assert!(h.contains("Subject: [issue12] Printer on fire\r\n"), "{h}");
        assert!(h.contains("In-Reply-To: <orig@x.com>\r\n"), "{h}");
        assert!(
            h.contains("References: <root@x.com> <orig@x.com>\r\n"),
            "{h}"
        );
        assert!(h.contains("Auto-Submitted: auto-replied\r\n"), "{h}");
        assert!(h.contains("X-Mailtix-Loop: example.org\r\n"), "{h}");
        let mac = crate::token::message_id_mac(b"k", 12, "ack.u1");
        assert!(
            h.contains(&format!(
                "Message-ID: <mailtix.12.ack.u1.{mac}@example.org>\r\n"
            )),
            "{h}"
        );
        assert!(
            h.contains("Date: Sun, 22 Nov 2026 07:46:08 +0000\r\n"),
            "{h}"
        );
    }

    #[test]
    fn crlf_in_decoded_values_never_makes_a_header() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap();
        let mut m = inbound("hi\r\nBcc: victim@evil.com\r\nX-Evil: 1");
        m.from = Some(Mailbox {
            name: Some("Ann\r\nBcc: victim@evil.com".into()),
            addr: "ann@x.com".into(),
        });
        let to = m.from.clone().unwrap();
        let s = text(&ack(&cfg(), 1, &m, &to, now, &ids("u")).unwrap());
        for line in header_block(&s).split("\r\n") {
            assert!(
                !line.starts_with("Bcc:") && !line.starts_with("X-Evil"),
                "{line}"
            );
        }
        let bad = Mailbox {
            name: None,
            addr: "a@b>\r\nRCPT TO:<victim@evil.com".into(),
        };
        assert!(ack(&cfg(), 1, &m, &bad, now, &ids("u")).is_err());
    }

    #[test]
    fn notice_goes_to_every_admin_from_the_ticket() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap();
        let m = inbound("[issue3] again");
        let facts = NoticeFacts {
            kind: NoticeKind::Followup,
            sender: "Ann <ann@x.com>",
            preview: "first line\nsecond\n",
            detail: None,
            close_address: "ticket-3-close@example.org",
            reply_address: None,
            requester: "ann@x.com",
        };
        let n = admin_notice(&cfg(), 3, &m, &facts, now, &ids("u"))
            .unwrap()
            .unwrap();
        let s = text(&n);
        let h = header_block(&s);
        assert!(h.contains("From: ticket-3@example.org\r\n"), "{h}");
        assert!(h.contains("To: boss@admin.net, two@admin.net\r\n"), "{h}");
        assert!(h.contains("Subject: follow-up: [issue3] again\r\n"), "{h}");
        assert!(s.contains("> first line"), "{s}");
        assert!(s.contains("ann@x.com"), "{s}");
        let mut envelope_to: Vec<String> =
            n.envelope().to().iter().map(|a| a.to_string()).collect();
        envelope_to.sort();
        assert_eq!(envelope_to, ["boss@admin.net", "two@admin.net"]);
        assert!(h.contains("Reply-To: ticket-3@example.org\r\n"), "{h}");
        let relaying = NoticeFacts {
            reply_address: Some("ticket-3-reply-00ff00ff00ff00ff@example.org"),
            ..facts
        };
        let r = text(
            &admin_notice(&cfg(), 3, &m, &relaying, now, &ids("u"))
                .unwrap()
                .unwrap(),
        );
        let rh = header_block(&r);
        assert!(rh.contains("From: ticket-3@example.org\r\n"), "{rh}");
        assert!(
            rh.contains("Reply-To: ticket-3-reply-00ff00ff00ff00ff@example.org\r\n"),
            "{rh}"
        );
        assert!(r.contains("sent on to its requester"), "{r}");
        let no_admins = Config::parse("", Path::new("/"), None).unwrap();
        assert!(admin_notice(&no_admins, 3, &m, &facts, now, &ids("u")).is_none());
    }

    #[test]
    fn a_relay_keeps_the_body_and_mime_headers_but_not_the_sender() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap();
        let raw = b"From: boss@admin.net\nTo: ticket-3@example.org\nSubject: Re: fix\nMessage-ID: <ans@admin.net>\nIn-Reply-To: <orig@x.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed;\n boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nTry this.\n--b--\n";
        let m = crate::inbound::parse(raw).unwrap();
        let to = Mailbox {
            name: None,
            addr: "ann@x.com".into(),
        };
        let out =
            String::from_utf8(relay(&cfg(), 3, &m, raw, &to, now, &ids("u")).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("From: ticket-3@example.org\r\n"), "{head}");
        assert!(head.contains("To: ann@x.com\r\n"), "{head}");
        assert!(head.contains("Subject: [issue3] Re: fix\r\n"), "{head}");
        assert!(head.contains("Message-ID: <ans@admin.net>\r\n"), "{head}");
        assert!(head.contains("In-Reply-To: <orig@x.com>\r\n"), "{head}");
        assert!(
            head.ends_with("Content-Type: multipart/mixed;\r\n boundary=\"b\""),
            "{head}"
        );
        assert!(!head.contains("boss@admin.net"), "{head}");
        assert_eq!(
            body,
            "--b\r\nContent-Type: text/plain\r\n\r\nTry this.\r\n--b--\r\n"
        );
    }

    /// Every line of `raw` fits in 998 octets, and every header line in 78.
    fn assert_lines_fit(what: &str, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        for line in head.split("\r\n") {
            assert!(
                line.len() <= 78,
                "{what}: header line of {}: {line}",
                line.len()
            );
        }
        for line in body.split("\r\n") {
            assert!(line.len() <= 998, "{what}: body line of {}", line.len());
        }
    }

    /// The Subject as a reader decodes it.
    fn decoded_subject(raw: &[u8]) -> String {
        let (headers, _) = mailparse::parse_headers(raw).unwrap();
        headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case("Subject"))
            .unwrap()
            .get_value()
    }

    #[test]
    fn base64_is_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn long_words_in_a_subject_or_name_never_make_a_long_line() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap();
        let word = "a".repeat(1800);
        for subject in [
            word.clone(),
            "b".repeat(150),
            format!("printer {} on fire", "c".repeat(120)),
            format!("printer {word} on fire"),
            "é".repeat(1800),
            "word ".repeat(400),
            "short one".into(),
        ] {
            let mut m = inbound(&subject);
            m.from = Some(Mailbox {
                name: Some("N".repeat(300)),
                addr: "ann@x.com".into(),
            });
            let to = m.from.clone().unwrap();
            let a = ack(&cfg(), 1, &m, &to, now, &ids("u")).unwrap().formatted();
            assert_lines_fit("ack", &a);
            let got = decoded_subject(&a);
            let want = tagged_subject(&cfg(), 1, &subject);
            assert_eq!(got, want);
            assert!(got.chars().count() <= SUBJECT_MAX + 9, "{got}");
            let facts = NoticeFacts {
                kind: NoticeKind::New,
                sender: &"S".repeat(2000),
                preview: &"p".repeat(3000),
                detail: Some(&"d".repeat(2000)),
                close_address: "ticket-1-close@example.org",
                reply_address: Some("ticket-1-reply-00ff00ff00ff00ff@example.org"),
                requester: "ann@x.com",
            };
            let n = admin_notice(&cfg(), 1, &m, &facts, now, &ids("u"))
                .unwrap()
                .unwrap()
                .formatted();
            assert_lines_fit("notice", &n);
            let c = close_notice(&cfg(), 1, &m, &to, now, &ids("u"))
                .unwrap()
                .formatted();
            assert_lines_fit("close notice", &c);
            let raw = format!(
                "From: boss@admin.net\nSubject: {subject}\nMessage-ID: <r@admin.net>\n\nok\n"
            );
            let am = crate::inbound::parse(raw.as_bytes()).unwrap();
            let r = relay(&cfg(), 1, &am, raw.as_bytes(), &to, now, &ids("u")).unwrap();
            assert_lines_fit("relay", &r);
            assert_eq!(decoded_subject(&r), tagged_subject(&cfg(), 1, &subject));
        }
        // one word of 1,800 characters, from encoded words on short lines
        let enc: String = (0..60)
            .map(|_| " =?utf-8?q?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?=\n")
            .collect();
        let raw = format!("From: ann@x.com\nSubject:{enc}\nx\n");
        let m = crate::inbound::parse(raw.as_bytes()).unwrap();
        assert_eq!(m.subject, word);
        let to = m.from.clone().unwrap();
        let a = ack(&cfg(), 1, &m, &to, now, &ids("u")).unwrap().formatted();
        assert_lines_fit("ack", &a);
        let s = decoded_subject(&a);
        assert!(s.starts_with("[issue1] aaaa") && s.ends_with('…'), "{s}");
        // a body line the relay cannot send as it is
        let raw = format!("From: boss@admin.net\nSubject: x\n\n{}\n", "b".repeat(1000));
        let am = crate::inbound::parse(raw.as_bytes()).unwrap();
        assert!(relay(&cfg(), 1, &am, raw.as_bytes(), &to, now, &ids("u")).is_err());
    }

    #[test]
    fn preview_prefers_text_and_renders_html() {
        let plain = b"Content-Type: text/plain\n\nhello\n\n\nworld\nthird\n";
        assert_eq!(preview(plain, 2, 100), "hello\nworld\n");
        let html = b"Content-Type: text/html\n\n<p>Hi <b>there</b></p>\n";
        assert!(
            preview(html, 5, 100).contains("Hi there"),
            "{}",
            preview(html, 5, 100)
        );
        let attr = b"Content-Type: text/html\n\n<p title=\"a>SECRET\">Hi</p>\n";
        assert_eq!(preview(attr, 5, 100), "Hi\n");
        let ascii = b"Content-Type: text/plain; charset=us-ascii\n\ncaf\xc3\xa9\n";
        assert_eq!(preview(ascii, 5, 100), "caf\u{e9}\n");
    }
}
