//! What deliver needs to know about an incoming message, read from its header section
//! only. Pure. Filing never needs a MIME parse, so a MIME bomb costs nothing here.

use crate::error::DeliverError;
use crate::mbox;
use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser};

/// An address with its display name, as the message states it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    pub addr: String,
}

/// The routing, threading and loop facts of one message.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Decoded Subject, empty when there is none.
    pub subject: String,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub return_path: Option<String>,
    /// Addresses of Delivered-To, X-Original-To, Envelope-To, To and Cc, in that order.
    pub recipient_candidates: Vec<String>,
    /// Why this mail is automatic or bulk, judged from its headers alone.
    pub auto_reason: Option<String>,
}

/// Checks that `msg` (already normalised) is a mail message: not empty, and starting
/// with a header field.
pub fn check_is_mail(msg: &[u8]) -> Result<(), DeliverError> {
    if msg.iter().all(u8::is_ascii_whitespace) {
        return Err(DeliverError::NotMail("the input is empty".into()));
    }
    let first = msg.split(|&b| b == b'\n').next().unwrap_or_default();
    if !mbox::is_field_start(first) {
        return Err(DeliverError::NotMail(
            "no header section (the first line is not a header field)".into(),
        ));
    }
    Ok(())
}

/// Reads the header facts of a normalised message.
pub fn parse(msg: &[u8]) -> Result<Inbound, DeliverError> {
    check_is_mail(msg)?;
    let parsed = MessageParser::default()
        .parse_headers(msg)
        .ok_or_else(|| DeliverError::NotMail("no header section".into()))?;
    Ok(from_message(&parsed))
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    v.as_text_list()
        .map(|l| {
            l.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn first_mailbox(a: Option<&Address<'_>>) -> Option<Mailbox> {
    let addr = a?.first()?;
    let address = addr.address()?.trim();
    if address.is_empty() {
        return None;
    }
    Some(Mailbox {
        name: addr
            .name()
            .map(str::to_string)
            .filter(|n| !n.trim().is_empty()),
        addr: address.to_string(),
    })
}

fn all_addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|m| m.address().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

/// Addresses in a raw header value, parsed by mailparse (it copes with bare addresses
/// and lists that mail-parser keeps as raw text for unregistered headers).
fn raw_addresses(raw: &str) -> Vec<String> {
    match mailparse::addrparse(raw) {
        Ok(list) => list
            .iter()
            .flat_map(|a| match a {
                mailparse::MailAddr::Single(s) => vec![s.addr.clone()],
                mailparse::MailAddr::Group(g) => g.addrs.iter().map(|s| s.addr.clone()).collect(),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn from_message(m: &Message<'_>) -> Inbound {
    let mut candidates = Vec::new();
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for h in m
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
        {
            let raw = header_text(m, h);
            candidates.extend(raw_addresses(&raw));
        }
    }
    candidates.extend(all_addresses(m.to()));
    candidates.extend(all_addresses(m.cc()));

    let return_path = m
        .header(HeaderName::ReturnPath)
        .and_then(|v| {
            v.as_text_list()
                .and_then(|l| l.first().map(|s| s.to_string()))
        })
        .map(|s| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        });

    Inbound {
        message_id: m
            .message_id()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        subject: m.subject().unwrap_or_default().to_string(),
        from: first_mailbox(m.from()),
        reply_to: first_mailbox(m.reply_to()),
        return_path,
        recipient_candidates: candidates,
        auto_reason: auto_reason(m),
    }
}

/// The raw text of one header's value.
fn header_text(m: &Message<'_>, h: &mail_parser::Header<'_>) -> String {
    let raw = m.raw_message();
    let (s, e) = (h.offset_start() as usize, h.offset_end() as usize);
    raw.get(s..e)
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default()
}

/// Subject prefixes of autoresponders that may set no header at all: Request
/// Tracker's default Autoreply template (`AutoReply: {$Ticket->Subject}`, after its
/// `[rtname #N]` tag), and the out-of-office prefixes sisimai's RFC 3834 detector
/// knows. Compared without case, after any leading `[...]` tags.
const AUTO_SUBJECTS: &[&str] = &[
    "autoreply:",
    "auto reply:",
    "auto-reply:",
    "auto response:",
    "automatic reply:",
    "out of office:",
    "out of the office:",
];

/// The reason when the Subject is an autoresponder's.
fn auto_subject(subject: &str) -> Option<String> {
    let mut s = subject.trim_start();
    // Skip tags such as RT's "[example.com #1]"; at most a few, so a Subject full of
    // brackets costs nothing.
    for _ in 0..4 {
        match s.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((_, rest)) => s = rest.trim_start(),
            None => break,
        }
    }
    let head: String = s.chars().take(24).collect::<String>().to_lowercase();
    AUTO_SUBJECTS.iter().any(|p| head.starts_with(p)).then(|| {
        format!(
            "an autoresponder's Subject ({})",
            s.chars().take(24).collect::<String>()
        )
    })
}

/// Senders of complaint (feedback loop) reports that come as multipart/mixed rather
/// than multipart/report, as sisimai's ARF reader lists them.
const COMPLAINT_SENDERS: &[&str] = &["staff@hotmail.com", "complaints@email-abuse.amazonses.com"];

/// RFC 3834 §2, RFC 5230 §4.5 and the usual extras: is this mail automatic or bulk?
fn auto_reason(m: &Message<'_>) -> Option<String> {
    let from = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    for h in m.headers() {
        let name = h.name().to_ascii_lowercase();
        let value = header_text(m, h).to_ascii_lowercase();
        let first_word = value.split(';').next().unwrap_or("").trim().to_string();
        match name.as_str() {
            "auto-submitted" if first_word != "no" && !first_word.is_empty() => {
                return Some(format!("Auto-Submitted: {first_word}"));
            }
            "precedence" if matches!(first_word.as_str(), "bulk" | "junk" | "list") => {
                return Some(format!("Precedence: {first_word}"));
            }
            "x-mailtix-loop" => return Some("our own loop marker".into()),
            "x-autoreply" | "x-autorespond" => return Some(format!("{name} header")),
            "x-auto-response-suppress"
                if ["all", "autoreply", "oof"]
                    .iter()
                    .any(|w| value.split(',').any(|v| v.trim() == *w)) =>
            {
                return Some(format!("X-Auto-Response-Suppress: {value}"));
            }
            "content-type" if value.starts_with("multipart/report") => {
                return Some("a delivery or disposition report".into());
            }
            "content-type"
                if value.starts_with("multipart/mixed")
                    && COMPLAINT_SENDERS.contains(&from.as_str())
                    && m.subject().is_some_and(|s| {
                        s.to_ascii_lowercase()
                            .contains("complaint about message from")
                    }) =>
            {
                return Some(format!("a complaint report from {from}"));
            }
            // iCloud's vacation replies carry no Auto-Submitted.
            "x-apple-action" if first_word == "vacation" => {
                return Some("X-Apple-Action: VACATION".into());
            }
            // fml and other list servers; ezmlm's Mailing-List.
            "x-mlserver" | "x-ml-name" | "mailing-list" => {
                return Some(format!("{} header", h.name()));
            }
            n if n.starts_with("list-") => return Some(format!("{} header", h.name())),
            _ => {}
        }
    }
    auto_subject(m.subject().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Inbound {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn not_mail_is_65() {
        for input in [
            "",
            "\n\n",
            "just text\n",
            " folded: no\n",
            "\nSubject: late\n",
        ] {
            let err = parse(input.as_bytes()).unwrap_err();
            assert_eq!(err.exit_code(), 65, "{input:?}");
        }
    }

    #[test]
    fn reads_threading_and_addresses() {
        let m = parse_str(
            "From: \"Ann Smith\" <ann@example.com>\nReply-To: ann@home.example\nTo: support@example.org, x@y\nCc: ticket-3@example.org\nDelivered-To: support@example.org\nReturn-Path: <bounce@example.com>\nSubject: =?utf-8?q?caf=C3=A9?=\nMessage-ID: <abc@example.com>\nIn-Reply-To: <p@x>\nReferences: <r1@x> <r2@x>\n\nbody\n",
        );
        assert_eq!(m.message_id.as_deref(), Some("abc@example.com"));
        assert_eq!(m.in_reply_to, vec!["p@x"]);
        assert_eq!(m.references, vec!["r1@x", "r2@x"]);
        assert_eq!(m.subject, "café");
        let from = m.from.unwrap();
        assert_eq!(from.addr, "ann@example.com");
        assert_eq!(from.name.as_deref(), Some("Ann Smith"));
        assert_eq!(m.reply_to.unwrap().addr, "ann@home.example");
        assert_eq!(m.return_path.as_deref(), Some("bounce@example.com"));
        assert_eq!(
            m.recipient_candidates,
            vec![
                "support@example.org",
                "support@example.org",
                "x@y",
                "ticket-3@example.org"
            ]
        );
        assert!(m.auto_reason.is_none());
    }

    #[test]
    fn automatic_mail_is_recognised() {
        for (hdr, auto) in [
            ("Auto-Submitted: auto-replied", true),
            ("Auto-Submitted: auto-generated; x=y", true),
            ("Auto-Submitted: no", false),
            ("Auto-Submitted: No", false),
            ("Precedence: bulk", true),
            ("Precedence: junk", true),
            ("Precedence: list", true),
            ("Precedence: first-class", false),
            ("List-Id: <x.lists.example>", true),
            ("List-Unsubscribe: <mailto:x@y>", true),
            ("X-Mailtix-Loop: example.org", true),
            ("X-Autoreply: yes", true),
            ("X-Auto-Response-Suppress: OOF, AutoReply", true),
            ("X-Auto-Response-Suppress: DR", false),
            (
                "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
                true,
            ),
            ("X-Other: 1", false),
            ("X-Apple-Action: VACATION", true),
            ("X-Apple-Action: vacation", true),
            ("X-Apple-Action: FORWARD", false),
            ("X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]", true),
            ("X-ML-Name: neko", true),
            ("Mailing-List: contact x-help@l.example; run by ezmlm", true),
            ("Subject: [example.com #1] AutoReply: printer", true),
            ("Subject: AutoReply: printer", true),
            ("Subject: Automatic reply: printer", true),
            ("Subject: Out of Office: back Monday", true),
            ("Subject: Re: [issue3] Out of office: back Monday", false),
            ("Subject: [a] [b] [c] [d] [e] AutoReply: x", false),
            ("Subject: Auto: the car", false),
            ("Subject: my autoreply: question", false),
            ("Subject: Re: autoreply settings", false),
        ] {
            let m = parse_str(&format!("From: a@b\n{hdr}\n\nx\n"));
            assert_eq!(m.auto_reason.is_some(), auto, "{hdr}");
        }
        let complaint = |from: &str, ct: &str, subject: &str| {
            parse_str(&format!(
                "From: {from}\nSubject: {subject}\nContent-Type: {ct}; boundary=b\n\nx\n"
            ))
            .auto_reason
            .is_some()
        };
        let about = "complaint about message from 192.0.2.1";
        assert!(complaint("staff@hotmail.com", "multipart/mixed", about));
        assert!(complaint("<Staff@Hotmail.com>", "multipart/mixed", about));
        assert!(complaint(
            "complaints@email-abuse.amazonses.com",
            "multipart/mixed",
            about
        ));
        assert!(!complaint("staff@hotmail.com", "multipart/mixed", "hello"));
        assert!(!complaint("ann@hotmail.com", "multipart/mixed", about));
        assert!(!complaint(
            "staff@hotmail.com",
            "multipart/alternative",
            about
        ));
    }
}
