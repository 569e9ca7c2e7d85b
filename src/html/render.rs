//! The pages of the archive, as bytes. Pure: a ticket's mbox bytes or a list of
//! summaries in, a page out, the same bytes for the same input (no clock, sorted input).
//!
//! Nothing from a mail reaches a page unescaped. Text is escaped into `<pre>`; HTML
//! parts become text, or (with `html_parts = "sanitised"`) go through ammonia with a
//! whitelist that has no images, no styles, no forms and only http, https and mailto
//! links. Every page carries a Content-Security-Policy that allows no script, no
//! remote load and no form target, so even a sanitiser bug could not run anything.

use crate::summary::Summary;
use crate::thread::{self, Message, Part};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt::Write as _;

/// Tickets per page of the closed list: a closed ticket changes one page.
pub(crate) const CLOSED_PAGE: u32 = 1000;
/// Tickets in the Atom feed.
pub(crate) const FEED_ENTRIES: usize = 50;

/// How pages are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Mask every address as `user@…`; no links to the mbox or attachments.
    pub public: bool,
    /// Show HTML parts sanitised rather than as text (never in public mode).
    pub sanitised_html: bool,
    /// The mail domain, for the feed's ids.
    pub domain: String,
    /// The config has more queues than support: the lists show each ticket's queue.
    pub queues: bool,
}

const CSS: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#222;background:#fff}\
table{border-collapse:collapse;width:100%}th,td{text-align:start;padding:.2em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
td.n{text-align:end;white-space:nowrap}\
article.msg{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.5em 1em}\
div.inner{border-inline-start:3px solid #ccc;margin:.5em 0;padding-inline-start:1em}\
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.3em 0}dt{font-weight:bold}dd{margin:0}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:plaintext;font-family:monospace}\
h1{font-size:1.4em}h2{font-size:1.1em;margin:.2em 0}nav a{margin-inline-end:1em}\
div.html{overflow-wrap:anywhere}";

/// The Content-Security-Policy of every page: nothing may load or run but the page's
/// own style sheet (allowed by its hash, so a `<style>` from mail could not apply).
pub(crate) fn csp() -> String {
    let hash = Sha256::digest(CSS.as_bytes());
    format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src 'none'; form-action 'none'; base-uri 'none'",
        base64(&hash)
    )
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Text escaped for an element or a quoted attribute value; characters that reorder
/// or hide text (bidi overrides, C0/C1 controls) are dropped, newline and tab kept.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if crate::term::is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// A header value: one line, escaped.
fn esc_line(s: &str) -> String {
    esc(&crate::headers::clean(s))
}

/// Every address in `s` as `user@…` (MHonArc's "spam mode"): the domain goes.
pub(crate) fn mask(s: &str) -> String {
    if !s.contains('@') {
        return s.to_string();
    }
    let local = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c);
    let domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-' || c == '[' || c == ']';
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '@' {
            let has_local = i > 0 && local(chars[i - 1]);
            let mut j = i + 1;
            while j < chars.len() && domain(chars[j]) {
                j += 1;
            }
            if has_local && j > i + 1 {
                out.push_str("@…");
                i = j;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Escaped text with every http(s) URL made a link that cannot open a window on this
/// page or tell the site where it came from. Nothing else becomes a link.
fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    loop {
        // one pass over the text: the next `http` that starts `http://` or `https://`
        let mut from = 0;
        let next = loop {
            let Some(p) = find_ci(&rest[from..], "http") else {
                break None;
            };
            let at = from + p;
            let tail = &rest.as_bytes()[at + 4..];
            if tail.starts_with(b"://")
                || (tail.len() >= 4
                    && tail[0].eq_ignore_ascii_case(&b's')
                    && tail[1..].starts_with(b"://"))
            {
                break Some(at);
            }
            from = at + 4;
        };
        let Some(start) = next else {
            out.push_str(&esc(rest));
            return out;
        };
        // a scheme that is the tail of a word (`xhttp://`) is not a link
        let word_tail = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric());
        let len = rest[start..]
            .find(|c: char| {
                c.is_whitespace() || c.is_control() || "<>\"'`{}|\\^".contains(c) || !c.is_ascii()
            })
            .unwrap_or(rest.len() - start);
        let mut url = &rest[start..start + len];
        url = url.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let scheme_len = if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
            8
        } else {
            7
        };
        out.push_str(&esc(&rest[..start]));
        if word_tail || url.len() <= scheme_len {
            out.push_str(&esc(&rest[start..start + scheme_len]));
            rest = &rest[start + scheme_len..];
            continue;
        }
        // the scheme in lower case, so the href is plainly http(s) to any reader
        let href = format!(
            "{}{}",
            url[..scheme_len].to_ascii_lowercase(),
            &url[scheme_len..]
        );
        let _ = write!(
            out,
            "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{}</a>",
            esc(&href),
            esc(url)
        );
        rest = &rest[start + url.len()..];
    }
}

fn find_ci(h: &str, needle: &str) -> Option<usize> {
    h.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// HTML from mail, sanitised: ammonia's whitelist without images, with only absolute
/// http, https and mailto links, each with rel="noopener noreferrer nofollow".
pub(crate) fn sanitise(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// A date as the archive shows it: absolute, in UTC, with the zone.
pub(crate) fn utc(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        csp(),
        esc_line(title)
    );
}

fn tail(out: &mut String) {
    out.push_str("</body>\n</html>\n");
}

/// Extensions an attachment keeps: files a browser shows inertly or downloads. Any
/// other name (`.html`, `.svg`, `.xml`, `.js`, none at all) gets `.bin` added, so that
/// a web server never serves a mail's attachment as a page of this site.
const SAFE_EXTENSIONS: &[&str] = &[
    "txt", "log", "csv", "pdf", "png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "heic",
    "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "tar", "rar", "doc", "docx", "xls", "xlsx",
    "ppt", "pptx", "odt", "ods", "odp", "rtf", "eml", "patch", "diff", "json", "ics", "vcf", "mp3",
    "mp4", "wav", "ogg", "mov", "bin",
];

/// Longest attachment file name, in bytes.
const MAX_NAME: usize = 100;

/// A file name for an attachment that is safe anywhere: no `/` or `\`, no `..`, no
/// leading dot or dash, no control or bidi characters, at most [`MAX_NAME`] bytes, an
/// extension a browser will not run; `taken` (lower-cased) makes it unique.
pub(crate) fn safe_name(
    raw: Option<&str>,
    content_type: &str,
    n: usize,
    taken: &mut HashSet<String>,
) -> String {
    // thread.rs names the other renderings of an alternative `(alternative)`
    let (raw, default) = match raw {
        Some("(alternative)") => ("", "alternative"),
        r => (r.unwrap_or(""), "part"),
    };
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-+@,=()[]~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .filter(|&c| !crate::term::is_unsafe(c))
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let name = name
        .trim_start_matches(['.', '-', '_'])
        .trim_end_matches(['.', '_']);
    let mut name = if name.is_empty() {
        let ext = match content_type {
            "text/plain" => ".txt",
            "text/html" => ".html",
            "image/png" => ".png",
            "image/jpeg" => ".jpg",
            "application/pdf" => ".pdf",
            _ => "",
        };
        format!("{default}{n}{ext}")
    } else {
        name.to_string()
    };
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !SAFE_EXTENSIONS.contains(&ext.as_str()) {
        name.push_str(".bin");
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_string(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    let cut = |s: &str, max: usize| {
        let mut end = s.len().min(max);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_string()
    };
    let stem = cut(&stem, MAX_NAME.saturating_sub(ext.len() + 6));
    let mut k = 1;
    loop {
        let candidate = if k == 1 {
            format!("{stem}{ext}")
        } else {
            format!("{stem}-{k}{ext}")
        };
        if taken.insert(candidate.to_lowercase()) {
            return candidate;
        }
        k += 1;
    }
}

/// A path segment for an href: everything but unreserved characters percent-encoded.
fn href_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A stable anchor for a message: a hash of its Message-ID (or, without one, of its
/// place and headers), made unique in the page.
fn anchor(m: &Message, i: usize, taken: &mut HashSet<String>) -> String {
    let key = if m.message_id.is_empty() {
        format!("entry {i}\n{}\n{}\n{}", m.from, m.date, m.subject)
    } else {
        format!("<{}>", m.message_id)
    };
    let h = Sha256::digest(key.as_bytes());
    let base: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut a = format!("m-{base}");
    let mut k = 2;
    while !taken.insert(a.clone()) {
        a = format!("m-{base}-{k}");
        k += 1;
    }
    a
}

/// One ticket's page and the attachments to write beside it.
pub(crate) struct TicketPage {
    pub html: String,
    /// (safe file name, bytes): empty in public mode.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Ticket `id`'s page from its mbox bytes.
pub(crate) fn ticket_page(
    id: u32,
    state: &str,
    data: &[u8],
    o: &Options,
) -> Result<TicketPage, String> {
    let messages = thread::read(data)?;
    let m = |s: &str| if o.public { mask(s) } else { s.to_string() };
    let subject = messages
        .iter()
        .map(|x| x.subject.as_str())
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(data.len() + 4096);
    head(&mut out, &format!("#{id}: {}", m(subject)));
    let _ = write!(
        out,
        "<nav><a href=\"../index.html\">Open tickets</a><a href=\"../closed/index.html\">Closed tickets</a>{}</nav>\n\
         <h1 dir=\"auto\">Ticket {id} ({state}): {}</h1>\n<p>{} message{}</p>\n",
        if o.public {
            String::new()
        } else {
            format!("<a href=\"{id}.mbox\" download>{id}.mbox</a>")
        },
        esc_line(&m(subject)),
        messages.len(),
        if messages.len() == 1 { "" } else { "s" },
    );
    let mut anchors = HashSet::new();
    let mut names = HashSet::new();
    let mut files = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let a = anchor(msg, i, &mut anchors);
        let _ = writeln!(out, "<article class=\"msg\" id=\"{a}\">");
        let _ = writeln!(
            out,
            "<h2 dir=\"auto\"><a href=\"#{a}\">{}.</a> {}</h2>",
            i + 1,
            esc_line(&m(&msg.subject))
        );
        message_body(msg, o, &mut out, &mut names, &mut files);
        out.push_str("</article>\n");
    }
    tail(&mut out);
    Ok(TicketPage {
        html: out,
        files: if o.public { Vec::new() } else { files },
    })
}

fn message_body(
    msg: &Message,
    o: &Options,
    out: &mut String,
    names: &mut HashSet<String>,
    files: &mut Vec<(String, Vec<u8>)>,
) {
    let m = |s: &str| if o.public { mask(s) } else { s.to_string() };
    out.push_str("<dl>\n");
    for (k, v) in [("From", &msg.from), ("To", &msg.to), ("Cc", &msg.cc)] {
        if !v.is_empty() || k == "From" {
            let _ = writeln!(out, "<dt>{k}</dt><dd dir=\"auto\">{}</dd>", esc_line(&m(v)));
        }
    }
    let date = match msg.date_utc {
        Some(d) => format!(
            "<time datetime=\"{}\">{}</time>",
            d.format("%Y-%m-%dT%H:%M:%SZ"),
            utc(d)
        ),
        None => esc_line(&msg.date),
    };
    let _ = writeln!(out, "<dt>Date</dt><dd>{date}</dd>");
    out.push_str("</dl>\n");
    let mut attachments = String::new();
    for (pi, p) in msg.parts.iter().enumerate() {
        match p {
            Part::Text(t) => {
                let html_src = msg.html.iter().find(|(i, _)| *i == pi).map(|(_, s)| s);
                match html_src {
                    Some(src) if o.sanitised_html && !o.public => {
                        let _ = writeln!(
                            out,
                            "<div class=\"html\" dir=\"auto\">{}</div>",
                            sanitise(src)
                        );
                    }
                    _ => {
                        let t = t.trim_end();
                        if !t.trim().is_empty() {
                            let _ = writeln!(out, "<pre dir=\"auto\">{}</pre>", linkify(&m(t)));
                        }
                    }
                }
            }
            Part::Message(inner) => {
                out.push_str("<div class=\"inner\">\n<p>Attached message</p>\n");
                let _ = writeln!(
                    out,
                    "<h3 dir=\"auto\">{}</h3>",
                    esc_line(&m(&inner.subject))
                );
                message_body(inner, o, out, names, files);
                out.push_str("</div>\n");
            }
            Part::Attachment(a) => {
                let ct = esc_line(&a.content_type);
                let size = crate::thread::human_size(a.size);
                if o.public {
                    let shown = a
                        .name
                        .as_deref()
                        .map(&m)
                        .unwrap_or_else(|| "(unnamed)".into());
                    let _ = writeln!(
                        attachments,
                        "<li class=\"att\"><bdi>{}</bdi> ({ct}, {size})</li>",
                        esc_line(&shown)
                    );
                } else {
                    let n = files.len() + 1;
                    let name = safe_name(a.name.as_deref(), &a.content_type, n, names);
                    let _ = writeln!(
                        attachments,
                        "<li class=\"att\"><a href=\"files/{}\" download>{}</a> ({ct}, {size})</li>",
                        href_segment(&name),
                        esc(&name)
                    );
                    files.push((name, a.data.clone()));
                }
            }
        }
    }
    if !attachments.is_empty() {
        let _ = write!(
            out,
            "<p>Attachments:</p>\n<ul class=\"attachments\">\n{attachments}</ul>\n"
        );
    }
}

fn row(out: &mut String, s: &Summary<'_>, o: &Options, queue: bool) {
    let m = |t: &str| if o.public { mask(t) } else { t.to_string() };
    let _ = write!(
        out,
        "<tr><td class=\"n\"><a href=\"{href}/index.html\">{id}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td dir=\"auto\">{}</td>",
        s.state.as_str(),
        s.updated_at
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default(),
        s.messages,
        esc_line(&m(&s.requester)),
        id = s.id,
        href = s.id,
    );
    if queue {
        let _ = write!(out, "<td>{}</td>", esc_line(&s.queue));
    }
    let _ = writeln!(
        out,
        "<td dir=\"auto\"><a href=\"{}/index.html\">{}</a></td></tr>",
        s.id,
        esc_line(&m(if s.subject.trim().is_empty() {
            "(no subject)"
        } else {
            &s.subject
        })),
    );
}

fn table(out: &mut String, rows: &[&Summary<'_>], o: &Options, up: &str) {
    // as `list`: the queue column when there are queues
    let queue = o.queues || rows.iter().any(|s| s.queue != crate::config::SUPPORT);
    out.push_str("<table>\n<thead><tr><th>ID</th><th>STATE</th><th>UPDATED (UTC)</th><th>MSGS</th><th>REQUESTER</th>");
    if queue {
        out.push_str("<th>QUEUE</th>");
    }
    out.push_str("<th>SUBJECT</th></tr></thead>\n<tbody>\n");
    for s in rows {
        if up.is_empty() {
            row(out, s, o, queue);
        } else {
            let mut r = String::new();
            row(&mut r, s, o, queue);
            out.push_str(&r.replace("<a href=\"", &format!("<a href=\"{up}")));
        }
    }
    out.push_str("</tbody>\n</table>\n");
}

/// `index.html`: the open tickets, newest activity first (`open` is in that order).
pub(crate) fn index_page(open: &[&Summary<'_>], closed: usize, o: &Options) -> String {
    let mut out = String::new();
    head(&mut out, "Open tickets");
    let _ = writeln!(
        out,
        "<nav><a href=\"closed/index.html\">Closed tickets ({closed})</a><a href=\"feed.atom\">Atom feed</a></nav>\n<h1>Open tickets ({})</h1>",
        open.len()
    );
    table(&mut out, open, o, "");
    tail(&mut out);
    out
}

/// `closed/index.html`: the pages of closed tickets, highest numbers first, with the
/// number of tickets on each. `pages` is (page number, count), in any order.
pub(crate) fn closed_index(pages: &[(u32, usize)]) -> String {
    let mut pages = pages.to_vec();
    pages.sort_unstable_by(|a, b| b.cmp(a));
    let total: usize = pages.iter().map(|p| p.1).sum();
    let mut out = String::new();
    head(&mut out, "Closed tickets");
    let _ = writeln!(
        out,
        "<nav><a href=\"../index.html\">Open tickets</a><a href=\"../feed.atom\">Atom feed</a></nav>\n<h1>Closed tickets ({total})</h1>\n<ul class=\"pages\">"
    );
    for (k, n) in pages {
        let lo = (k * CLOSED_PAGE).max(1);
        let hi = k * CLOSED_PAGE + CLOSED_PAGE - 1;
        let _ = writeln!(
            out,
            "<li><a href=\"{k}.html\">Tickets {lo} to {hi}</a> ({n} closed)</li>"
        );
    }
    out.push_str("</ul>\n");
    tail(&mut out);
    out
}

/// `closed/K.html`: the closed tickets numbered K×1000 to K×1000+999, newest activity
/// first (`rows` is in that order).
pub(crate) fn closed_page(k: u32, rows: &[&Summary<'_>], o: &Options) -> String {
    let lo = (k * CLOSED_PAGE).max(1);
    let hi = k * CLOSED_PAGE + CLOSED_PAGE - 1;
    let mut out = String::new();
    head(&mut out, &format!("Closed tickets {lo} to {hi}"));
    let _ = writeln!(
        out,
        "<nav><a href=\"../index.html\">Open tickets</a><a href=\"index.html\">Closed tickets</a></nav>\n<h1>Closed tickets {lo} to {hi} ({})</h1>",
        rows.len()
    );
    table(&mut out, rows, o, "../");
    tail(&mut out);
    out
}

fn xml(s: &str) -> String {
    esc(&crate::headers::clean(s))
}

/// `feed.atom`: the tickets with the most recent activity (`recent` is newest first).
/// The feed's date is its newest entry's, so a rerun writes the same bytes.
pub(crate) fn feed(recent: &[&Summary<'_>], o: &Options) -> String {
    let m = |t: &str| if o.public { mask(t) } else { t.to_string() };
    let stamp = |d: Option<DateTime<Utc>>| {
        d.map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
    };
    let domain = xml(&o.domain);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>Tickets at {domain}</title>\n<id>urn:mailtix:{domain}:feed</id>\n\
         <link rel=\"alternate\" href=\"index.html\"/>\n<updated>{}</updated>\n\
         <author><name>mailtix</name></author>\n",
        stamp(recent.first().and_then(|s| s.updated_at))
    );
    for s in recent {
        let _ = write!(
            out,
            "<entry>\n<title>#{id} ({}): {}</title>\n<id>urn:mailtix:{domain}:ticket:{id}</id>\n\
             <link rel=\"alternate\" href=\"{id}/index.html\"/>\n<updated>{}</updated>\n\
             <summary>{} message{} from {}</summary>\n</entry>\n",
            s.state.as_str(),
            xml(&m(&s.subject)),
            stamp(s.updated_at),
            s.messages,
            if s.messages == 1 { "" } else { "s" },
            xml(&m(&s.requester)),
            id = s.id,
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            public: false,
            sanitised_html: false,
            domain: "example.org".into(),
            queues: false,
        }
    }

    #[test]
    fn names_are_safe_and_unique() {
        let mut t = HashSet::new();
        let cases = [
            (Some("../../index.html"), "index.html.bin"),
            (Some("..\\..\\boot.ini"), "boot.ini.bin"),
            (Some(".htaccess"), "htaccess.bin"),
            (Some("report.pdf"), "report.pdf"),
            (Some("REPORT.pdf"), "REPORT-2.pdf"),
            (Some("a\u{202e}fdp.exe"), "a_fdp.exe.bin"),
            (Some("x\ny\u{7}.txt"), "x_y_.txt"),
            (Some("...."), "part8"),
            (Some("evil.svg"), "evil.svg.bin"),
            (None, "part10"),
            (Some("(alternative)"), "alternative11"),
        ];
        for (i, (raw, want)) in cases.iter().enumerate() {
            let got = safe_name(*raw, "application/octet-stream", i + 1, &mut t);
            let want = if want.starts_with("part") || want.starts_with("alternative") {
                format!("{want}.bin")
            } else {
                want.to_string()
            };
            assert_eq!(got, want, "{raw:?}");
            assert!(!got.starts_with('.') && !got.contains('/') && !got.contains(".."));
        }
        let long = "é".repeat(300) + ".pdf";
        let got = safe_name(Some(&long), "", 1, &mut t);
        assert!(got.len() <= MAX_NAME && got.ends_with(".pdf"), "{got}");
    }

    #[test]
    fn links_are_http_only_and_inert() {
        let l =
            linkify("see https://x.example/a?b=1&c=2. and javascript:alert(1) or <b>\nxhttp://no");
        assert!(
            l.contains(
                "<a href=\"https://x.example/a?b=1&amp;c=2\" rel=\"noopener noreferrer nofollow\">"
            ),
            "{l}"
        );
        assert!(l.contains("javascript:alert(1) or &lt;b&gt;"), "{l}");
        assert!(!l.contains("href=\"http://no"), "{l}");
        assert_eq!(linkify("http://"), "http://");
        assert_eq!(
            linkify("HTTPS://A.example/ http ftp://x"),
            "<a href=\"https://A.example/\" rel=\"noopener noreferrer nofollow\">HTTPS://A.example/</a> http ftp://x"
        );
        // a megabyte of `http` without a URL, and 100,000 short links (one pass each)
        assert!(linkify(&"http:/ ".repeat(150_000)).len() > 1_000_000);
        assert_eq!(
            linkify(&"http://a ".repeat(100_000))
                .matches("<a href")
                .count(),
            100_000
        );
    }

    #[test]
    fn the_sanitiser_keeps_text_and_drops_everything_active() {
        let dirty = "<p onclick=x()>Hi <a href=\"javascript:alert(1)\">j</a> <a href=\"https://ok.example/\">ok</a>\
            <img src=\"https://track.example/p.gif\"><script>alert(1)</script><style>p{background:url(http://x/)}</style>\
            <form action=\"https://x/\"><input></form><meta http-equiv=refresh content=0><base href=\"https://x/\">\
            <svg onload=alert(1)><script>alert(2)</script></svg><a href=\"data:text/html,x\">d</a>\
            <div style=\"width:expression(alert(1))\">e</div></p>";
        let c = sanitise(dirty);
        for bad in [
            "script",
            "onclick",
            "javascript:",
            "<img",
            "track.example",
            "<style",
            "<form",
            "<meta",
            "<base",
            "<svg",
            "onload",
            "data:",
            "expression",
            "style=",
        ] {
            assert!(!c.contains(bad), "{bad} in {c}");
        }
        assert!(
            c.contains(
                "<a href=\"https://ok.example/\" rel=\"noopener noreferrer nofollow\">ok</a>"
            ),
            "{c}"
        );
        assert!(c.contains("Hi"));
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask("Ann <ann@x.example>, bob@y.z"), "Ann <ann@…>, bob@…");
        assert_eq!(mask("a @ b and x@"), "a @ b and x@");
    }

    #[test]
    fn a_page_escapes_headers_and_text() {
        let t = b"From a@x Sun Nov 22 07:46:08 2026\nFrom: \"<script>\" <a@x.example>\nTo: b@y.example\nSubject: <img src=x onerror=alert(1)>\nMessage-ID: <1@x>\nDate: Sun, 22 Nov 2026 08:46:08 +0100\n\n<script>document.title='pwned'</script>\n\n";
        let p = ticket_page(7, "open", t, &opts()).unwrap();
        assert!(
            !p.html.contains("<script>") && !p.html.contains("<img"),
            "{}",
            p.html
        );
        assert!(
            p.html.contains("&lt;script&gt;document.title"),
            "{}",
            p.html
        );
        assert!(p.html.contains("2026-11-22 07:46:08 UTC"), "{}", p.html);
        assert!(
            p.html
                .contains("<dt>To</dt><dd dir=\"auto\">b@y.example</dd>"),
            "{}",
            p.html
        );
        assert_eq!(p.html.matches("<article class=\"msg\"").count(), 1);
        // same input, same bytes; the anchor comes from the Message-ID
        assert_eq!(p.html, ticket_page(7, "open", t, &opts()).unwrap().html);
        let h = Sha256::digest(b"<1@x>");
        let want: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert!(p.html.contains(&format!("id=\"m-{want}\"")));
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
