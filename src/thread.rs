//! A ticket read back as a thread: mbox bytes → messages with their headers, text parts,
//! attached messages and attachments. `show` prints it; anything else that needs the
//! decoded thread (a search, an archive) reads the same structure. Pure.
//!
//! The MIME structure is split here rather than by mail-parser, the way Python's
//! `email` package splits it: a part ends at its own boundary or at any enclosing one,
//! so a truncated attached message does not swallow the rest of the mail; a part with
//! no Content-Type (or a type without a subtype) is text/plain, and message/rfc822 in a
//! multipart/digest. mail-parser still decodes what it is good at: RFC 2047 words,
//! addresses, dates, transfer encodings and charsets.

use crate::inbound;
use crate::mbox;
use mail_parser::MessageParser;
use serde::Serialize;

/// Attached messages deeper than this are listed, not opened: a MIME bomb nests
/// multiparts ten thousand deep.
const MAX_DEPTH: usize = 16;
/// At most this many parts of one message are read.
const MAX_PARTS: usize = 2000;

/// One message of a ticket, or a message attached to one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Message {
    pub from: String,
    pub date: String,
    pub subject: String,
    /// Text, attached messages and attachments, in the order of the MIME tree.
    pub parts: Vec<Part>,
    /// Every To address, as `Name <addr>`, joined by `, `.
    #[serde(skip)]
    pub to: String,
    /// Every Cc address, as To.
    #[serde(skip)]
    pub cc: String,
    /// The first Message-ID, without its angle brackets; empty when there is none.
    #[serde(skip)]
    pub message_id: String,
    /// The Date field in UTC, else (for an mbox entry) the date of its From_ line.
    #[serde(skip)]
    pub date_utc: Option<chrono::DateTime<chrono::Utc>>,
    /// The HTML source of the text parts that were HTML: (index in `parts`, source).
    #[serde(skip)]
    pub html: Vec<(usize, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub enum Part {
    /// A text part, decoded (HTML turned into text).
    Text(String),
    /// An attached message (message/rfc822, or a part of a multipart/digest).
    Message(Message),
    Attachment(Attachment),
}

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// The decoded text of a `text/*` attachment (`show` lists it; search reads it).
    #[serde(skip)]
    pub text: Option<String>,
    /// The decoded bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Every message of a ticket file, in order.
pub fn read(data: &[u8]) -> Result<Vec<Message>, String> {
    let entries = mbox::read(data)?;
    Ok(entries.iter().map(entry_message).collect())
}

/// One mbox entry as a decoded message (the date of its From_ line when it has none).
pub fn entry_message(e: &mbox::Entry) -> Message {
    let mut m = message(&e.message, 0, &mut 0);
    if m.date.is_empty() {
        m.date = e
            .from_line
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or("")
            .to_string();
    }
    if m.date_utc.is_none() {
        m.date_utc = crate::summary::from_line_date(&e.from_line);
    }
    m
}

/// The first text part of one message, decoded (HTML as text): what a notice quotes.
pub fn first_text(bytes: &[u8]) -> String {
    message(bytes, 0, &mut 0)
        .parts
        .into_iter()
        .find_map(|p| match p {
            Part::Text(t) => Some(t),
            _ => None,
        })
        .unwrap_or_default()
}

/// The readable thread that `show` prints.
pub fn render(id: u32, state: &str, data: &[u8]) -> Result<String, String> {
    let messages = read(data)?;
    let mut out = format!("Ticket {id} ({state}), {} entries\n", messages.len());
    for (i, m) in messages.iter().enumerate() {
        out.push_str(&format!("\n=== {} of {} ===\n", i + 1, messages.len()));
        render_message(m, &mut out);
    }
    Ok(out)
}

fn render_message(m: &Message, out: &mut String) {
    let clean = crate::headers::clean;
    out.push_str(&format!("From:    {}\n", clean(&m.from)));
    out.push_str(&format!("Date:    {}\n", clean(&m.date)));
    out.push_str(&format!("Subject: {}\n\n", clean(&m.subject)));
    let mut blocks: Vec<String> = Vec::new();
    let mut attachments = Vec::new();
    for p in &m.parts {
        match p {
            Part::Text(t) => {
                let t: String = t
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                    .collect();
                let t = t.trim_end();
                if !t.trim().is_empty() {
                    blocks.push(t.to_string());
                }
            }
            Part::Message(inner) => {
                let mut b = String::from("--- attached message ---\n");
                render_message(inner, &mut b);
                b.push_str("--- end of attached message ---");
                blocks.push(b);
            }
            Part::Attachment(a) => attachments.push(format!(
                "  - {} ({}, {})",
                a.name.as_deref().map(clean).unwrap_or("(unnamed)".into()),
                clean(&a.content_type),
                human_size(a.size)
            )),
        }
    }
    out.push_str(&blocks.join("\n\n"));
    out.push('\n');
    if !attachments.is_empty() {
        out.push_str("\nAttachments:\n");
        for a in attachments {
            out.push_str(&a);
            out.push('\n');
        }
    }
}

/// A size as `show` and the archive print it: B, KiB or MiB.
pub(crate) fn human_size(n: usize) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// A message (an mbox entry or an attached one): its headers, then its MIME tree.
fn message(bytes: &[u8], depth: usize, parts: &mut usize) -> Message {
    let (head, _) = split_head(bytes);
    let mut block = inbound::known_charsets(head).into_owned();
    block.push(b'\n');
    let parsed = inbound::parser().parse_headers(&block[..]);
    let mut out = Message::default();
    if let Some(m) = parsed.as_ref() {
        out.from = inbound::from(m)
            .and_then(|a| a.first())
            .map(mailbox_text)
            .unwrap_or_default();
        let list = |name| {
            inbound::first(m, name)
                .and_then(mail_parser::HeaderValue::as_address)
                .map(|a| a.iter().map(mailbox_text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        out.to = list(mail_parser::HeaderName::To);
        out.cc = list(mail_parser::HeaderName::Cc);
        out.message_id = inbound::first(m, mail_parser::HeaderName::MessageId)
            .and_then(|v| match v {
                mail_parser::HeaderValue::Text(t) => Some(t.to_string()),
                mail_parser::HeaderValue::TextList(l) => l.first().map(|t| t.to_string()),
                _ => None,
            })
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        let date = inbound::date(m);
        out.date = date.as_ref().map(|d| d.to_rfc822()).unwrap_or_default();
        out.date_utc = date.and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0));
        out.subject = inbound::subject(m).to_string();
    }
    let mut html = Vec::new();
    entity(bytes, "text/plain", depth, parts, &mut out.parts, &mut html);
    out.html = html;
    out
}

/// One address as a reader shows it: `Name <addr>`, or whichever of the two there is.
fn mailbox_text(a: &mail_parser::Addr<'_>) -> String {
    match (a.name(), a.address().map(inbound::obs_address)) {
        (Some(n), Some(ad)) => format!("{n} <{ad}>"),
        (None, Some(ad)) => ad,
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    }
}

/// Header section and body: the body starts after the first empty line, or (as Python
/// reads a part that lacks the empty line) at the first line that is not a field.
fn split_head(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut pos = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let l = line.strip_suffix(b"\n").unwrap_or(line);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            return (&bytes[..pos], &bytes[pos + line.len()..]);
        }
        let folded = pos > 0 && (l.starts_with(b" ") || l.starts_with(b"\t"));
        if !folded && !mbox::is_field_start(l) {
            return (&bytes[..pos], &bytes[pos..]);
        }
        pos += line.len();
    }
    (bytes, &[])
}

/// The fields of a header section: lower-case name and unfolded value.
fn fields(head: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(last) = out.last_mut() {
                last.1.extend_from_slice(line);
            }
        } else if mbox::is_field_start(line) {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            out.push((name, line[(colon + 1).min(line.len())..].to_vec()));
        }
    }
    out.into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).trim().to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A `type/subtype; params` value: the lower-case type (None when it has no subtype,
/// which RFC 2045 makes invalid) and the parameters.
fn content_type(value: &str) -> (Option<String>, Vec<(String, String)>) {
    let (t, _) = value.split_once(';').unwrap_or((value, ""));
    let t = t.trim().to_ascii_lowercase();
    let valid = t
        .split_once('/')
        .is_some_and(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty());
    (valid.then_some(t.replace(' ', "")), params(value))
}

/// The parameters after the first `;`, names lower-cased, quoted values unquoted.
fn params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some((_, mut rest)) = value.split_once(';') else {
        return out;
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        if rest[name_end..].starts_with(';') || name_end == rest.len() {
            rest = &rest[name_end..];
            continue;
        }
        rest = rest[name_end + 1..].trim_start();
        let mut val = String::new();
        if let Some(q) = rest.strip_prefix('"') {
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &q[end..];
            // anything up to the next `;` after a closing quote is junk
            rest = &rest[rest.find(';').unwrap_or(rest.len())..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            val = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        if !name.is_empty() {
            out.push((name, val));
        }
    }
    out
}

/// Parameter `name`, decoded: RFC 2231 (`name*`, `name*0*`, `name*1` ... with a
/// charset) first, else the plain value with any RFC 2047 words decoded.
fn param(ps: &[(String, String)], name: &str) -> Option<String> {
    let mut sections: Vec<(u32, bool, &str)> = Vec::new();
    for (n, v) in ps {
        let Some(rest) = n.strip_prefix(name).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        if rest.is_empty() {
            sections.push((0, true, v));
        } else {
            let (num, ext) = match rest.strip_suffix('*') {
                Some(num) => (num, true),
                None => (rest, false),
            };
            if let Ok(i) = num.parse::<u32>() {
                sections.push((i, ext, v));
            }
        }
    }
    if !sections.is_empty() {
        sections.sort_by_key(|s| s.0);
        let mut charset = String::new();
        let mut bytes = Vec::new();
        for (i, (_, ext, v)) in sections.iter().enumerate() {
            let mut v: &str = v;
            if *ext && i == 0 {
                let mut it = v.splitn(3, '\'');
                if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                    charset = cs.to_string();
                    v = rest;
                }
            }
            if *ext {
                bytes.extend(percent_decode(v));
            } else {
                bytes.extend_from_slice(v.as_bytes());
            }
        }
        let cs = (!charset.is_empty()).then_some(charset.as_str());
        return Some(decode_text(&bytes, cs)).filter(|s| !s.trim().is_empty());
    }
    let v = ps.iter().find(|(n, _)| n == name).map(|(_, v)| v)?;
    let v = if v.contains("=?") {
        decode_words(v)
    } else {
        v.clone()
    };
    Some(v).filter(|s| !s.trim().is_empty())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("x"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// RFC 2047 words decoded as in an unstructured field, where the white space between
/// two adjacent encoded words is not part of the text.
fn decode_words(v: &str) -> String {
    let field = format!("Subject: {v}\n\n");
    MessageParser::default()
        .parse_headers(&inbound::known_charsets(field.as_bytes())[..])
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| v.to_string())
}

/// Text in `charset`. No charset or US-ASCII that is valid UTF-8 is UTF-8 (mail that
/// says US-ASCII and is not usually is UTF-8); invalid US-ASCII is read as
/// windows-1252, as mail-parser does.
fn decode_text(bytes: &[u8], charset: Option<&str>) -> String {
    let cs = charset.unwrap_or("us-ascii").trim().to_ascii_lowercase();
    let ascii = matches!(
        cs.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | ""
    );
    if ascii || cs == "utf-8" || cs == "utf8" {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return s.to_string();
        }
        if ascii
            && let Some(d) = mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252")
        {
            return d(bytes);
        }
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let cs = inbound::charset_alias(&cs).unwrap_or(&cs);
    match mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()) {
        Some(d) => d(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The body with its Content-Transfer-Encoding undone (mail-parser's decoders, on a
/// one-part message).
fn transfer_decode(body: &[u8], cte: Option<&str>) -> Vec<u8> {
    let cte = cte.unwrap_or("").trim().to_ascii_lowercase();
    if cte != "base64" && cte != "quoted-printable" {
        return body.to_vec();
    }
    let mut one =
        format!("Content-Type: application/octet-stream\nContent-Transfer-Encoding: {cte}\n\n")
            .into_bytes();
    one.extend_from_slice(body);
    MessageParser::default()
        .parse(&one[..])
        .map(|m| m.root_part().contents().to_vec())
        .unwrap_or_else(|| body.to_vec())
}

/// The text/content type of a part, for choosing among alternatives.
fn type_of(bytes: &[u8], default: &str) -> String {
    let (head, _) = split_head(bytes);
    let f = fields(head);
    field(&f, "content-type")
        .and_then(|v| content_type(v).0)
        .unwrap_or_else(|| default.to_string())
}

/// The parts of a multipart body: the text between `--boundary` lines, up to the close
/// delimiter or the end (a truncated body keeps what it has). The newline before a
/// delimiter belongs to the delimiter.
fn split_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let l = line.trim_ascii_end();
        if let Some(rest) = l.strip_prefix(b"--").and_then(|r| r.strip_prefix(boundary))
            && (rest.is_empty() || rest == b"--")
        {
            if let Some(s) = start {
                let mut p = &body[s..pos];
                p = p.strip_suffix(b"\n").unwrap_or(p);
                p = p.strip_suffix(b"\r").unwrap_or(p);
                parts.push(p);
            }
            if rest == b"--" {
                return parts;
            }
            start = Some(pos + line.len());
        }
        pos += line.len();
    }
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

/// One MIME entity (header section and body) into `out`.
fn entity(
    bytes: &[u8],
    default: &str,
    depth: usize,
    count: &mut usize,
    out: &mut Vec<Part>,
    html: &mut Vec<(usize, String)>,
) {
    *count += 1;
    if *count > MAX_PARTS {
        if *count == MAX_PARTS + 1 {
            out.push(Part::Text(format!(
                "[more than {MAX_PARTS} parts; the rest is not shown]"
            )));
        }
        return;
    }
    let (head, body) = split_head(bytes);
    let f = fields(head);
    let (ctype, ps) = field(&f, "content-type")
        .map(content_type)
        .unwrap_or((None, Vec::new()));
    let ctype = ctype.unwrap_or_else(|| default.to_string());
    let cte = field(&f, "content-transfer-encoding");
    let (disposition, dps) = field(&f, "content-disposition")
        .map(|v| {
            let t = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            (t, params(v))
        })
        .unwrap_or_default();
    let name = param(&dps, "filename")
        .or_else(|| param(&ps, "name"))
        .map(|n| n.trim().to_string());
    let attachment = |data: Vec<u8>| {
        Part::Attachment(Attachment {
            name: name.clone(),
            content_type: ctype.clone(),
            size: data.len(),
            text: None,
            data,
        })
    };
    if depth >= MAX_DEPTH && (ctype.starts_with("multipart/") || ctype.starts_with("message/")) {
        out.push(attachment(body.to_vec()));
        return;
    }
    if let Some(boundary) = ctype
        .starts_with("multipart/")
        .then(|| param(&ps, "boundary"))
        .flatten()
    {
        let children = split_parts(body, boundary.as_bytes());
        if children.is_empty() {
            // no delimiter at all: the body is shown as text rather than hidden
            let text = decode_text(body, None);
            out.push(Part::Text(text));
            return;
        }
        let child_default = if ctype == "multipart/digest" {
            "message/rfc822"
        } else {
            "text/plain"
        };
        if ctype == "multipart/alternative" && !children.is_empty() {
            // one rendering of the same content: plain text if there is one
            let types: Vec<String> = children.iter().map(|c| type_of(c, child_default)).collect();
            let pick = types
                .iter()
                .position(|t| t == "text/plain")
                .or_else(|| types.iter().position(|t| t == "text/html"))
                .unwrap_or(children.len() - 1);
            entity(children[pick], child_default, depth + 1, count, out, html);
            // the other renderings are listed, so that every part shows somewhere
            for (i, c) in children.iter().enumerate().filter(|(i, _)| *i != pick) {
                let (head, body) = split_head(c);
                let cte = fields(head)
                    .into_iter()
                    .find(|(n, _)| n == "content-transfer-encoding")
                    .map(|(_, v)| v);
                let data = transfer_decode(body, cte.as_deref());
                out.push(Part::Attachment(Attachment {
                    name: Some("(alternative)".into()),
                    content_type: types[i].clone(),
                    size: data.len(),
                    text: None,
                    data,
                }));
            }
        } else {
            for c in children {
                entity(c, child_default, depth + 1, count, out, html);
            }
        }
        return;
    }
    let decoded = transfer_decode(body, cte);
    if ctype == "message/rfc822" || ctype == "message/global" {
        // a base64 attached message keeps its CRLF line ends
        let lf = mbox::normalise(decoded);
        out.push(Part::Message(message(&lf, depth + 1, count)));
    } else if (ctype.starts_with("text/") || ctype.starts_with("multipart/"))
        && disposition != "attachment"
    {
        // a multipart without a boundary is read as text, as Python reads it
        let charset = param(&ps, "charset");
        let text = decode_text(&decoded, charset.as_deref());
        if ctype == "text/html" {
            out.push(Part::Text(html_to_text(&text)));
            html.push((out.len() - 1, text));
        } else {
            out.push(Part::Text(text));
        }
    } else if ctype.starts_with("text/") {
        // a text attachment: listed as an attachment, its text kept for search
        let charset = param(&ps, "charset");
        let text = decode_text(&decoded, charset.as_deref());
        let text = if ctype == "text/html" {
            html_to_text(&text)
        } else {
            text
        };
        let mut a = attachment(decoded);
        if let Part::Attachment(a) = &mut a {
            a.text = Some(text);
        }
        out.push(a);
    } else {
        out.push(attachment(decoded));
    }
}

/// HTML as plain text: tags (with all their attributes), comments, and the contents of
/// head, script and style are dropped; block ends become line breaks; entities are
/// decoded. A `>` inside a quoted attribute value does not end the tag.
pub fn html_to_text(html: &str) -> String {
    const BLOCK: [&str; 22] = [
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "blockquote",
        "pre",
        "hr",
        "dt",
        "dd",
        "section",
        "article",
        "td",
    ];
    const HIDDEN: [&str; 5] = ["head", "script", "style", "title", "template"];
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    let mut text_start = 0;
    let flush = |out: &mut String, s: &str| {
        for c in decode_entities(s).chars() {
            if c.is_whitespace() {
                if !out.ends_with([' ', '\n']) && !out.is_empty() {
                    out.push(' ');
                }
            } else {
                out.push(c);
            }
        }
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied().unwrap_or(b' ');
        if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!' || next == b'?') {
            i += 1;
            continue;
        }
        flush(&mut out, &html[text_start..i]);
        if b[i..].starts_with(b"<!--") {
            i = find(b, i + 4, b"-->").map_or(b.len(), |e| e + 3);
            text_start = i;
            continue;
        }
        // the tag's end: the first `>` outside a quoted attribute value (a quote opens
        // one only right after `=`, as in a browser)
        let mut j = i + 1;
        let mut quote: Option<u8> = None;
        let mut after_eq = false;
        while j < b.len() {
            match (quote, b[j]) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"') | (None, b'\'') if after_eq => quote = Some(b[j]),
                (None, b'>') => break,
                _ => {}
            }
            if quote.is_none() && !b[j].is_ascii_whitespace() {
                after_eq = b[j] == b'=';
            }
            j += 1;
        }
        let tag = &html[i + 1..j.min(b.len())];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        i = (j + 1).min(b.len());
        if !closing && HIDDEN.contains(&name.as_str()) {
            let end = format!("</{name}");
            i = find_ci(b, i, end.as_bytes())
                .map_or(b.len(), |e| find(b, e, b">").map_or(b.len(), |g| g + 1));
        }
        if BLOCK.contains(&name.as_str()) {
            while out.ends_with(' ') {
                out.pop();
            }
            out.push('\n');
        }
        text_start = i;
    }
    flush(&mut out, &html[text_start.min(html.len())..]);
    let mut lines: Vec<&str> = Vec::new();
    for l in out.lines().map(str::trim) {
        if l.is_empty() && lines.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        lines.push(l);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn find(h: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    h.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_ci(h: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    h.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_attribute_values_never_show() {
        let html = "<html><head><title>t</title><style>p{}</style></head><body><p title=\"a > b\">Click <a href=\"http://x/?q=>SECRET\" onclick='f(\">SECRET\")'>here</a>&nbsp;&amp; <!-- SECRET -->go.</p><img alt=\">SECRET\"><script>SECRET()</script>1 &lt; 2<br>x</body></html>";
        assert_eq!(html_to_text(html), "Click here & go.\n1 < 2\nx");
        // a quote inside an unquoted value opens nothing
        let odd = "<a x=a\"b>visible</a> and \"quoted\" <b title = 'c>d'>bold</b>";
        assert_eq!(html_to_text(odd), "visible and \"quoted\" bold");
    }

    #[test]
    fn parameters_fold_quote_and_continue() {
        let ps = params("attachment; filename=\"a \\\"b\\\".txt\"; size=3");
        assert_eq!(param(&ps, "filename").as_deref(), Some("a \"b\".txt"));
        assert_eq!(param(&ps, "size").as_deref(), Some("3"));
        let ps = params("attachment; filename*0*=utf-8''%C3%BC; filename*1=\"ber.pdf\"");
        assert_eq!(param(&ps, "filename").as_deref(), Some("über.pdf"));
        let ps = params("inline; filename=\"=?utf-8?q?r=C3=A9sum?= =?utf-8?q?=C3=A9.pdf?=\"");
        assert_eq!(param(&ps, "filename").as_deref(), Some("résumé.pdf"));
    }

    #[test]
    fn a_part_without_its_empty_line_or_its_delimiters_still_shows() {
        let msg = b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nHello there\n--b--\n";
        let m = message(msg, 0, &mut 0);
        assert!(
            matches!(&m.parts[..], [Part::Text(t)] if t == "Hello there"),
            "{m:?}"
        );
        let msg = b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\nno delimiters\n";
        let m = message(msg, 0, &mut 0);
        assert!(
            matches!(&m.parts[..], [Part::Text(t)] if t == "no delimiters\n"),
            "{m:?}"
        );
    }

    #[test]
    fn a_part_ends_at_an_enclosing_boundary() {
        let body = b"--o\n\nA\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\nB\n--o\n\nC\n--o--\n";
        let parts = split_parts(body, b"o");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], b"\nC");
    }

    const TICKET: &[u8] = b"From ann@x.com Sun Nov 22 07:46:08 2026\nFrom: Ann <ann@x.com>\nSubject: Printer\n\nIt burns.\n\nFrom boss@y Mon Nov 23 08:00:00 2026\nFrom: boss@y\nSubject: Re: Printer\n\nOK\n\nFrom mailtix@localhost Tue Nov 24 09:00:00 2026\nFrom: mailtix@localhost\nSubject: closed\nX-Mailtix-Event: close\n\nclosed\n\n";

    #[test]
    fn render_shows_each_message() {
        let r = render(4, "open", TICKET).unwrap();
        assert!(r.contains("From:    Ann <ann@x.com>"), "{r}");
        assert!(r.contains("It burns."), "{r}");
        assert!(r.contains("=== 3 of 3 ==="), "{r}");
        assert!(r.contains("Date:    Mon Nov 23 08:00:00 2026"), "{r}");
    }
}
