//! The mail mailtix sends: acknowledgements and admin notices, built with lettre. Pure:
//! the clock and the unique part of each Message-ID come in as arguments.
//!
//! Every value copied from incoming mail goes through lettre's header encoder, and
//! control characters are turned into spaces first, so a CR or LF decoded from an
//! encoded word can never start a header of its own.

use crate::config::Config;
use crate::inbound::{Inbound, Mailbox};
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox as LMailbox, header::ContentType};

/// Name of the loop marker on every mail mailtix sends.
pub const LOOP_HEADER: &str = "X-Mailtix-Loop";

/// What kind of admin notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    New,
    Followup,
    Reopened,
    RefusedClose,
}

impl NoticeKind {
    fn word(self) -> &'static str {
        match self {
            NoticeKind::New => "new ticket",
            NoticeKind::Followup => "follow-up",
            NoticeKind::Reopened => "reopened",
            NoticeKind::RefusedClose => "close refused",
        }
    }
}

/// Replaces control characters (CR, LF, tabs, NUL ...) with spaces and trims.
pub fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// Our Message-ID for a mail about ticket `id`: `mailtix.N.KIND.UNIQUE@DOMAIN`, so that
/// replies to it thread back into the ticket without any lookup.
pub fn message_id(cfg: &Config, id: u32, kind: &str, unique: &str) -> String {
    format!("mailtix.{id}.{kind}.{unique}@{}", cfg.domain)
}

/// Subject `[issueN] original`, unless the original already carries the tag.
pub fn tagged_subject(cfg: &Config, id: u32, subject: &str) -> String {
    let subject = clean(subject);
    let tag = format!("[{}{id}]", cfg.subject_tag);
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
    let name = name.map(clean).filter(|n| !n.is_empty());
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

impl Common<'_> {
    fn builder(
        &self,
        subject: String,
        auto: &str,
    ) -> Result<lettre::message::MessageBuilder, String> {
        let ticket = mailbox(None, &self.cfg.ticket_address(self.id))?;
        let mut b = Message::builder()
            .from(ticket.clone())
            .reply_to(ticket)
            .subject(subject)
            .date(self.now.into())
            .message_id(Some(format!("<{}>", self.message_id)))
            .raw_header(header("Auto-Submitted", auto))
            .raw_header(header("X-Auto-Response-Suppress", "All"))
            .raw_header(header(LOOP_HEADER, &self.cfg.domain));
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

/// The acknowledgement of new ticket `id`, sent to `to`.
pub fn ack(
    cfg: &Config,
    id: u32,
    msg: &Inbound,
    to: &Mailbox,
    now: DateTime<Utc>,
    unique: &str,
) -> Result<Message, String> {
    let c = Common {
        cfg,
        id,
        now,
        message_id: message_id(cfg, id, "ack", unique),
        in_reply_to: msg,
    };
    let ticket = cfg.ticket_address(id);
    let subject = clean(&msg.subject);
    let body = format!(
        "Your message has been received and filed as ticket {id}.\n\n\
         Subject: {shown}\n\n\
         To add to the ticket, reply to this mail or write to {ticket}.\n\
         Please keep [{tag}{id}] in the subject.\n\n\
         This is an automatic reply, sent once per ticket.\n",
        shown = if subject.is_empty() {
            "(none)"
        } else {
            &subject
        },
        tag = cfg.subject_tag,
    );
    c.builder(tagged_subject(cfg, id, &msg.subject), "auto-replied")?
        .to(mailbox(to.name.as_deref(), &to.addr)?)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// What an admin notice says about the message.
pub struct NoticeFacts<'a> {
    pub kind: NoticeKind,
    pub sender: &'a str,
    /// The start of the message text.
    pub preview: &'a str,
    /// One more line, for example why a close was refused.
    pub detail: Option<&'a str>,
    pub close_address: &'a str,
}

/// The admin notice about ticket `id`, to every admin. `None` when there are no admins.
pub fn admin_notice(
    cfg: &Config,
    id: u32,
    msg: &Inbound,
    facts: &NoticeFacts<'_>,
    now: DateTime<Utc>,
    unique: &str,
) -> Option<Result<Message, String>> {
    if cfg.admins.is_empty() {
        return None;
    }
    Some((|| {
        let c = Common {
            cfg,
            id,
            now,
            message_id: message_id(cfg, id, "notice", unique),
            in_reply_to: msg,
        };
        let subject = format!(
            "{}: {}",
            facts.kind.word(),
            tagged_subject(cfg, id, &msg.subject)
        );
        let mut b = c.builder(subject, "auto-generated")?;
        for a in &cfg.admins {
            b = b.to(mailbox(None, a)?);
        }
        let mut body = format!(
            "Ticket {id}: {kind}\nFrom:    {sender}\nSubject: {subject}\n",
            kind = facts.kind.word(),
            sender = clean(facts.sender),
            subject = clean(&msg.subject),
        );
        if let Some(d) = facts.detail {
            body.push_str(&format!("Note:    {}\n", clean(d)));
        }
        body.push('\n');
        for line in facts.preview.lines() {
            body.push_str("> ");
            body.push_str(&line.replace('\r', ""));
            body.push('\n');
        }
        body.push_str(&format!(
            "\nReplies to this mail are filed in ticket {id}.\nClose: {}\n",
            facts.close_address
        ));
        b.header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())
    })())
}

/// The first `lines` lines (at most `chars` characters) of the message's text, with
/// HTML turned into text when there is no text part.
pub fn preview(message: &[u8], lines: usize, chars: usize) -> String {
    let parsed = mail_parser::MessageParser::default().parse(message);
    let text = parsed
        .as_ref()
        .and_then(|m| m.body_text(0))
        .map(|t| t.into_owned())
        .unwrap_or_default();
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
        let ack = ack(&cfg(), 12, &m, &to, now, "u1").unwrap();
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
        assert!(
            h.contains("Message-ID: <mailtix.12.ack.u1@example.org>\r\n"),
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
        let s = text(&ack(&cfg(), 1, &m, &to, now, "u").unwrap());
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
        assert!(ack(&cfg(), 1, &m, &bad, now, "u").is_err());
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
        };
        let n = admin_notice(&cfg(), 3, &m, &facts, now, "u")
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
        let no_admins = Config::parse("", Path::new("/"), None).unwrap();
        assert!(admin_notice(&no_admins, 3, &m, &facts, now, "u").is_none());
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
    }
}
