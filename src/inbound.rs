//! What deliver needs to know about an incoming message, read from its header section
//! only. Pure. Filing never needs a MIME parse, so a MIME bomb costs nothing here.

use crate::error::DeliverError;
use crate::mbox;
use mail_parser::{Address, DateTime, HeaderName, HeaderValue, Message, MessageParser};

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
    /// The first From field's first mailbox: what other mail readers show.
    pub from: Option<Mailbox>,
    /// How many From fields there are. More than one is a sign of forgery.
    pub from_fields: usize,
    pub reply_to: Option<Mailbox>,
    pub return_path: Option<String>,
    /// Addresses of Delivered-To, X-Original-To, Envelope-To, To and Cc, in that order.
    pub recipient_candidates: Vec<String>,
    /// Why this mail is automatic or bulk, judged from its headers alone.
    pub auto_reason: Option<String>,
    /// The key a stored copy of this very message is indexed by (its Message-ID and a
    /// hash of its body), set by deliver: routing by the message's own id asks where
    /// such a copy is, since anyone can reuse a bare Message-ID.
    pub copy_key: Option<String>,
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

/// The parser every reader of mail uses: mail-parser's own choice of parser for each
/// field, except that `Date` and `Resent-Date` are kept as raw text. Its date parser
/// reads two bytes past a one- or two-letter zone (`UT`, or a military zone such as
/// `Z`), past the end of the line, and so swallows the next field: a Subject, a From or
/// a Message-ID would be lost, or in a MIME part its Content-Type. [`date`] parses a
/// date field on its own instead, where there is nothing after it to lose.
pub fn parser() -> MessageParser {
    MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
        .header_text(HeaderName::Comments)
        .header_id(HeaderName::ReturnPath)
        .header_address(HeaderName::ListArchive)
        .header_address(HeaderName::ListHelp)
        .header_address(HeaderName::ListId)
        .header_address(HeaderName::ListOwner)
        .header_address(HeaderName::ListPost)
        .header_address(HeaderName::ListSubscribe)
        .header_address(HeaderName::ListUnsubscribe)
        .header_comma_separated(HeaderName::Keywords)
        .header_comma_separated(HeaderName::ContentLanguage)
        .header_received(HeaderName::Received)
        .header_raw(HeaderName::MimeVersion)
        .header_raw(HeaderName::Date)
        .header_raw(HeaderName::ResentDate)
}

/// The first `Date` field of `m` (parsed with [`parser`]), read on its own.
pub fn date(m: &Message<'_>) -> Option<DateTime> {
    let raw = m.header_values(HeaderName::Date).next()?.as_text()?;
    // Comments go first (obsolete syntax puts them anywhere: `09(comment):55`), and so
    // does the white space that the same syntax allows around the colons.
    let mut plain = String::with_capacity(raw.len());
    let mut depth = 0usize;
    for c in raw.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            '\r' | '\n' if depth == 0 => plain.push(' '),
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain
        .split(':')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(":");
    let field = format!("Date: {plain}\n\n");
    MessageParser::default()
        .parse_headers(field.as_bytes())?
        .date()
        .cloned()
}

/// The first field called `name`: with two From or two Subject fields, other mail
/// readers show the first, so mailtix reads the first too (mail-parser's own
/// accessors return the last).
pub fn first<'a, 'x>(m: &'a Message<'x>, name: HeaderName<'x>) -> Option<&'a HeaderValue<'x>> {
    m.header_values(name).next()
}

/// The first Subject field, decoded; empty when there is none.
pub fn subject<'a>(m: &'a Message<'_>) -> &'a str {
    first(m, HeaderName::Subject)
        .and_then(HeaderValue::as_text)
        .unwrap_or_default()
}

/// The first From field's address list.
pub fn from<'a, 'x>(m: &'a Message<'x>) -> Option<&'a Address<'x>> {
    first(m, HeaderName::From).and_then(HeaderValue::as_address)
}

/// Charset labels that real mail uses and mail-parser does not know, each with a label
/// it does know for the same table or a superset of it (WHATWG's choices, which
/// encoding_rs implements).
const CHARSET_ALIASES: [(&str, &str); 16] = [
    ("cp932", "windows-31j"),
    ("x-mac-japanese", "shift_jis"),
    ("shift_jisx0213", "shift_jis"),
    ("euc-jisx0213", "euc-jp"),
    ("iso-2022-jp-2", "iso-2022-jp"),
    ("iso-2022-jp-3", "iso-2022-jp"),
    ("cp949", "windows-949"),
    ("x-windows-949", "windows-949"),
    ("uhc", "windows-949"),
    ("euc-cn", "gb2312"),
    ("cn-gb", "gb2312"),
    ("x-euc-cn", "gb2312"),
    ("cp950", "big5"),
    ("x-big5", "big5"),
    ("x-x-big5", "big5"),
    ("unicode-1-1-utf-7", "utf-7"),
];

/// The label mail-parser knows for a charset label it does not.
pub fn charset_alias(label: &str) -> Option<&'static str> {
    CHARSET_ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(label.trim()))
        .map(|(_, b)| *b)
}

/// `head` with every RFC 2047 word's unknown charset label replaced by its alias.
pub fn known_charsets(head: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(p) = head[i..].windows(2).position(|w| w == b"=?") {
        let start = i + p + 2;
        let len = head[start..]
            .iter()
            .take(41)
            .take_while(|&&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            .count();
        let label = std::str::from_utf8(&head[start..start + len]).unwrap_or("");
        let alias = charset_alias(label).or_else(|| {
            (label.eq_ignore_ascii_case("us-ascii") || label.eq_ignore_ascii_case("ascii"))
                .then(|| utf8_word(&head[start + len..]))
                .flatten()
        });
        if let Some(alias) = alias
            && matches!(head.get(start + len), Some(b'?') | Some(b'*'))
        {
            let o = out.get_or_insert_with(|| Vec::with_capacity(head.len() + 16));
            o.extend_from_slice(&head[copied..start]);
            o.extend_from_slice(alias.as_bytes());
            copied = start + len;
        }
        i = start + len;
    }
    match out {
        Some(mut o) => {
            o.extend_from_slice(&head[copied..]);
            std::borrow::Cow::Owned(o)
        }
        None => std::borrow::Cow::Borrowed(head),
    }
}

/// `Some("utf-8")` when the rest of an encoded word (`?Q?text?=`) decodes to UTF-8
/// that is not ASCII: a word labelled US-ASCII with 8-bit bytes is almost always UTF-8,
/// which mail-parser would read as windows-1252.
fn utf8_word(rest: &[u8]) -> Option<&'static str> {
    let rest = rest.strip_prefix(b"?")?;
    let enc = rest.first()?.to_ascii_lowercase();
    let rest = rest.get(1..)?.strip_prefix(b"?")?;
    if !matches!(enc, b'b' | b'q') {
        return None;
    }
    let end = rest.windows(2).position(|w| w == b"?=")?;
    let payload = &rest[..end];
    let bytes = if enc == b'b' {
        mail_parser::decoders::base64::base64_decode(payload)?
    } else {
        let p: Vec<u8> = payload
            .iter()
            .map(|&b| if b == b'_' { b' ' } else { b })
            .collect();
        mail_parser::decoders::quoted_printable::quoted_printable_decode(&p)?
    };
    (!bytes.is_ascii() && std::str::from_utf8(&bytes).is_ok()).then_some("utf-8")
}

/// The header section of a message, with its final newline.
pub fn header_section(msg: &[u8]) -> &[u8] {
    match msg.windows(2).position(|w| w == b"\n\n") {
        Some(p) => &msg[..p + 2],
        None => msg,
    }
}

/// Reads the header facts of a normalised message.
pub fn parse(msg: &[u8]) -> Result<Inbound, DeliverError> {
    check_is_mail(msg)?;
    let head = known_charsets(header_section(msg));
    let parsed = parser()
        .parse_headers(&head[..])
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

/// An address without the white space that obsolete syntax allows around its dots and
/// `@` (RFC 5322 §4.4: `jdoe@machine.  example`, once a comment is removed).
pub fn obs_address(addr: &str) -> String {
    let addr = addr.trim();
    let mut out = String::with_capacity(addr.len());
    let mut chars = addr.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut next = chars.peek().copied();
            while next.is_some_and(char::is_whitespace) {
                chars.next();
                next = chars.peek().copied();
            }
            let joins = out.ends_with(['.', '@']) || matches!(next, Some('.') | Some('@'));
            if !joins {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn first_mailbox(a: Option<&Address<'_>>) -> Option<Mailbox> {
    let addr = a?.first()?;
    let address = obs_address(addr.address()?);
    if address.is_empty() {
        return None;
    }
    Some(Mailbox {
        name: addr
            .name()
            .map(str::to_string)
            .filter(|n| !n.trim().is_empty()),
        addr: address,
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
    for name in [HeaderName::To, HeaderName::Cc] {
        for v in m.header_values(name) {
            candidates.extend(all_addresses(v.as_address()));
        }
    }

    let return_path = first(m, HeaderName::ReturnPath)
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
        message_id: first(m, HeaderName::MessageId)
            .and_then(HeaderValue::as_text)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        in_reply_to: first(m, HeaderName::InReplyTo).map(ids).unwrap_or_default(),
        references: first(m, HeaderName::References)
            .map(ids)
            .unwrap_or_default(),
        subject: subject(m).to_string(),
        from: first_mailbox(from(m)),
        from_fields: m.header_values(HeaderName::From).count(),
        reply_to: first_mailbox(first(m, HeaderName::ReplyTo).and_then(HeaderValue::as_address)),
        return_path,
        recipient_candidates: candidates,
        auto_reason: auto_reason(m),
        copy_key: None,
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
            n if n.eq_ignore_ascii_case(crate::headers::LOOP) => {
                return Some("our own loop marker".into());
            }
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

    /// Every zone RFC 5322 §4.3 allows (the obsolete ones included).
    pub(crate) const ZONES: [&str; 35] = [
        "UT", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "A", "B", "C", "D",
        "E", "F", "G", "H", "I", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W",
        "X", "Y", "Z",
    ];

    #[test]
    fn a_date_never_decides_which_fields_exist() {
        for zone in ZONES.iter().chain(&["z", "ut", "+0000", "-0000 (UT)"]) {
            let date = format!("Date: Sun, 22 Nov 2026 09:15:00 {zone}");
            for order in [
                format!("{date}\nSubject: hello\nFrom: a@b.c\nMessage-ID: <m@x>\n"),
                format!("Subject: hello\n{date}\nFrom: a@b.c\nMessage-ID: <m@x>\n"),
                format!("Subject: hello\nFrom: a@b.c\n{date}\nMessage-ID: <m@x>\n"),
                format!("Subject: hello\nFrom: a@b.c\nResent-{date}\nMessage-ID: <m@x>\n"),
                format!(
                    "Subject: hello\nFrom: a@b.c\nReceived: by x; Sun, 22 Nov 2026 09:15:00 {zone}\nMessage-ID: <m@x>\n"
                ),
            ] {
                let m = parse_str(&format!("{order}\nbody\n"));
                assert_eq!(m.subject, "hello", "{order}");
                assert_eq!(m.from.map(|f| f.addr).as_deref(), Some("a@b.c"), "{order}");
                assert_eq!(m.message_id.as_deref(), Some("m@x"), "{order}");
            }
        }
    }

    #[test]
    fn the_date_is_still_read_in_every_zone() {
        for (zone, offset) in [("UT", 0), ("GMT", 0), ("EST", -5), ("PDT", -7), ("Z", 0)] {
            let raw = format!("Date: Sun, 22 Nov 2026 09:15:00 {zone}\nSubject: s\n\nb\n");
            let m = parser().parse_headers(raw.as_bytes()).unwrap();
            let d = date(&m).unwrap();
            assert_eq!(
                (d.year, d.month, d.day, d.hour, d.minute, d.second),
                (2026, 11, 22, 9, 15, 0),
                "{zone}"
            );
            assert_eq!(
                i32::from(d.tz_hour) * if d.tz_before_gmt { -1 } else { 1 },
                offset,
                "{zone}"
            );
            assert_eq!(subject(&m), "s");
        }
    }

    #[test]
    fn the_first_of_repeated_fields_counts() {
        let m = parse_str(
            "From: ann@x.com\nSubject: one\nFrom: eve@y.com\nSubject: two\nReturn-Path: <rp@x.com>\nReturn-Path: <late@y.com>\n\nb\n",
        );
        assert_eq!(m.from.unwrap().addr, "ann@x.com");
        assert_eq!(m.from_fields, 2);
        assert_eq!(m.subject, "one");
        assert_eq!(m.return_path.as_deref(), Some("rp@x.com"));
        assert_eq!(parse_str("From: a@b\n\nb\n").from_fields, 1);
        assert_eq!(parse_str("Subject: x\n\nb\n").from_fields, 0);
    }

    #[test]
    fn charset_labels_that_mail_parser_lacks_are_read() {
        // 이 in cp949, 中 in euc-cn, ア in cp932, 中 in cp950
        for (label, b64, want) in [
            ("cp949", "wMw=", "이"),
            ("ks_c_5601-1987", "wMw=", "이"),
            ("euc-cn", "1tA=", "中"),
            ("CP932", "g0E=", "ア"),
            ("cp950", "pKQ=", "中"),
            ("x-big5", "pKQ=", "中"),
        ] {
            let m = parse_str(&format!(
                "From: =?{label}?B?{b64}?= <a@b.c>\nSubject: =?{label}?B?{b64}?= x\n\nb\n"
            ));
            assert_eq!(m.subject, format!("{want} x"), "{label}");
            assert_eq!(m.from.unwrap().name.as_deref(), Some(want), "{label}");
        }
        assert_eq!(
            &known_charsets(b"Subject: =?utf-8?q?x?=\n")[..],
            b"Subject: =?utf-8?q?x?=\n"
        );
        // US-ASCII words that are UTF-8 are read as UTF-8; others as before
        for (subject, want) in [
            ("=?us-ascii?q?caf=C3=A9?=", "café"),
            ("=?US-ASCII?B?Y2Fmw6k=?=", "café"),
            ("=?us-ascii?q?plain_text?=", "plain text"),
            ("=?us-ascii?q?caf=E9?=", "café"),
        ] {
            let m = parse_str(&format!("Subject: {subject}\n\nb\n"));
            assert_eq!(m.subject, want, "{subject}");
        }
    }

    #[test]
    fn the_obsolete_syntax_of_rfc_2822_a_6_3_is_read() {
        let m = parse_str(
            "From  : John Doe <jdoe@machine(comment).  example>\nTo    : Mary Smith\n  \n          <mary@example.net>\nSubject     : Saying Hello\nDate  : Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\nMessage-ID  : <1234   @   local(blah)  .machine .example>\n\nThis is a message just to say hello.\n",
        );
        let from = m.from.unwrap();
        assert_eq!(from.addr, "jdoe@machine.example");
        assert_eq!(from.name.as_deref(), Some("John Doe (comment)"));
        assert_eq!(m.subject, "Saying Hello");
        assert!(
            m.recipient_candidates
                .contains(&"mary@example.net".to_string())
        );
        assert_eq!(obs_address(" a . b @ c .d "), "a.b@c.d");
        let raw = "Date  : Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\n\n";
        let d = date(&parser().parse_headers(raw.as_bytes()).unwrap()).unwrap();
        assert_eq!(d.to_rfc3339(), "1997-11-21T09:55:06-06:00");
    }
}
