//! The text of the mail mailtix sends, as templates: the built-in texts and the files
//! of `templates_dir` go through the same parser and renderer.
//!
//! A template is plain text with variables from a small closed set (`{ticket}`,
//! `{subject}` …); `{{` is a literal `{` and `}}` a literal `}`. Parsing checks every
//! variable against the set the template may use, so a misspelt or unknown variable is
//! an error with its line number, found by `mailtix check` and, at delivery, turned
//! into the built-in text: no variable ever reaches a customer unfilled. The admin-only
//! variables (`{close_address}`, `{reply_address}`, `{sender}`) are refused in the
//! templates that go to customers, so no template can leak the close address.
//!
//! Rendering is one pass: a value is never read as a template, so a Subject that says
//! `{close_address}` stays that text. A line whose variables all come out empty is left
//! out, and where that leaves two empty lines in a row one of them goes: that is how
//! the built-in ack drops its note paragraph when there is nothing to note.
//!
//! Templates make the body only; the headers (From, Reply-To, Subject, Auto-Submitted,
//! the VERP envelope) stay mailtix's. Parsing is pure; [`load_dir`] reads the files,
//! and refuses one that others may write, as the config is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A template by name: the file name in `templates_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Name {
    /// The acknowledgement of a new ticket, to the requester.
    Ack,
    /// The admins' notice of a new ticket, a follow-up, a reopen or a relay.
    Notice,
    /// The notice to the requester that their ticket was closed (`notify_on_close`).
    Close,
    /// The admins' notice of a close by mail that was refused.
    RefusedClose,
    /// Text added under an admin's answer that is relayed to the requester
    /// (`relay_admin_replies`); the built-in one is empty.
    RelayFooter,
}

/// Every template, in the order `check` reports them.
pub(crate) const NAMES: [Name; 5] = [
    Name::Ack,
    Name::Notice,
    Name::Close,
    Name::RefusedClose,
    Name::RelayFooter,
];

impl Name {
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Ack => "ack",
            Name::Notice => "notice",
            Name::Close => "close",
            Name::RefusedClose => "refused-close",
            Name::RelayFooter => "relay-footer",
        }
    }

    pub fn parse(s: &str) -> Option<Name> {
        NAMES.into_iter().find(|n| n.as_str() == s)
    }

    /// True for the templates that go to the admins only.
    pub fn admin_only(self) -> bool {
        matches!(self, Name::Notice | Name::RefusedClose)
    }

    /// The variables this template may use: the customer's set, then for the ack and
    /// the admins' notices `{quote}` and `{note}`, then for the admins alone the rest.
    pub fn variables(self) -> &'static [&'static str] {
        const ALL: [&str; 12] = [
            "ticket",
            "address",
            "subject",
            "requester",
            "queue",
            "tag",
            "quote",
            "note",
            "event",
            "sender",
            "close_address",
            "reply_address",
        ];
        if self.admin_only() {
            &ALL
        } else if self == Name::Ack {
            &ALL[..8]
        } else {
            &ALL[..6]
        }
    }
}

// relay-footer has the variables of close (the customer's set without {quote}).

/// Every variable of any template, with what it holds (for errors and the README).
pub(crate) const VARIABLES: [(&str, &str); 12] = [
    ("ticket", "the ticket number"),
    ("address", "the ticket's address, ticket-N@DOMAIN"),
    ("subject", "the Subject of the first mail, or (none)"),
    ("requester", "the requester's address"),
    ("queue", "the ticket's queue"),
    ("quote", "the first lines of the mail, each after \"> \""),
    ("tag", "the subject tag, [issueN]"),
    (
        "note",
        "one more sentence when there is one (why a close was refused, ...)",
    ),
    (
        "event",
        "what happened: new ticket, follow-up, reopened, ...",
    ),
    ("sender", "who wrote the mail"),
    ("close_address", "the address that closes the ticket"),
    (
        "reply_address",
        "the secret reply address (relay_admin_replies)",
    ),
];

/// The built-in texts. They are templates like any file, rendered the same way.
pub(crate) const BUILTIN_ACK: &str = "\
Your message has been received and filed as ticket {ticket}.

{note}

Subject: {subject}

To add to the ticket, reply to this mail or write to {address}.
Please keep {tag} in the subject.

This is an automatic reply, sent once per ticket.
";

/// What both built-in notices begin with.
macro_rules! notice_head {
    () => {
        "\
Ticket {ticket}: {event}
Queue:   {queue}
From:    {sender}
Subject: {subject}
Note:    {note}

{quote}

"
    };
}

pub(crate) const BUILTIN_NOTICE: &str = concat!(
    notice_head!(),
    "Replies to this mail are filed in ticket {ticket}.\nClose: {close_address}\n"
);

/// The notice when answers are relayed: its Reply-To is the secret reply address.
pub(crate) const BUILTIN_NOTICE_RELAY: &str = concat!(
    notice_head!(),
    "Replies to this mail are filed in ticket {ticket} and sent on to its requester.\n",
    "Close: {close_address}\n"
);

/// No footer: the admin's answer goes on as it was written.
pub(crate) const BUILTIN_RELAY_FOOTER: &str = "";

pub(crate) const BUILTIN_CLOSE: &str = "\
Ticket {ticket} has been closed.

Subject: {subject}

If you still need help, reply to this mail: your reply reopens the ticket.
";

/// The longest line a template file may have: a body line must fit in 998 octets
/// (RFC 5322), and the variables on it add to it.
pub(crate) const LINE_MAX: usize = 800;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(&'static str),
}

/// A parsed template: lines of text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    lines: Vec<Vec<Piece>>,
}

/// Why a template does not parse: its line (from 1) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub reason: String,
}

impl Template {
    /// Parses `text` as template `name`: every variable must be one `name` may use.
    pub fn parse(name: Name, text: &str) -> Result<Template, Error> {
        let allowed = name.variables();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |reason: String| Error {
                line: i + 1,
                reason,
            };
            if line.len() > LINE_MAX {
                return Err(err(format!(
                    "the line is {} bytes long; at most {LINE_MAX}",
                    line.len()
                )));
            }
            if let Some(c) = line.chars().find(|&c| c.is_control() && c != '\t') {
                return Err(err(format!("control character U+{:04X}", c as u32)));
            }
            let mut pieces = Vec::new();
            let mut text = String::new();
            let mut rest = line;
            while let Some(c) = rest.chars().next() {
                if let Some(r) = rest.strip_prefix("{{") {
                    text.push('{');
                    rest = r;
                } else if let Some(r) = rest.strip_prefix("}}") {
                    text.push('}');
                    rest = r;
                } else if c == '{' {
                    let Some(end) = rest.find('}') else {
                        return Err(err(
                            "a '{' without its '}' (write {{ for a literal brace)".into()
                        ));
                    };
                    let var = &rest[1..end];
                    let Some(known) = allowed.iter().find(|v| **v == var) else {
                        return Err(err(unknown(name, var)));
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(known));
                    rest = &rest[end + 1..];
                } else {
                    text.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text));
            }
            lines.push(pieces);
        }
        Ok(Template { lines })
    }

    /// True when the template names variable `var` (deliver skips the work of
    /// values nobody uses: the quote of an ack, the requester of a follow-up's notice).
    pub fn uses(&self, var: &str) -> bool {
        self.lines
            .iter()
            .flatten()
            .any(|p| matches!(p, Piece::Var(v) if *v == var))
    }

    /// The body: every variable replaced by `value(name)`, in one pass. A line whose
    /// variables all come out empty is left out, and then two empty lines in a row
    /// become one. The body ends with a newline.
    pub fn render(&self, value: &dyn Fn(&str) -> String) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut dropped = false;
        for pieces in &self.lines {
            let mut line = String::new();
            let mut vars = 0;
            let mut filled = false;
            for p in pieces {
                match p {
                    Piece::Text(t) => line.push_str(t),
                    Piece::Var(v) => {
                        let val = value(v);
                        vars += 1;
                        filled |= !val.is_empty();
                        line.push_str(&val);
                    }
                }
            }
            if vars > 0 && !filled {
                dropped = true;
                continue;
            }
            if line.is_empty() && dropped && out.last().is_none_or(String::is_empty) {
                dropped = false;
                continue;
            }
            dropped = false;
            out.push(line);
        }
        if out.is_empty() {
            return String::new();
        }
        let mut body = out.join("\n");
        body.push('\n');
        body
    }
}

fn unknown(name: Name, var: &str) -> String {
    let known = VARIABLES.iter().any(|(v, _)| *v == var);
    let allowed = name
        .variables()
        .iter()
        .map(|v| format!("{{{v}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    if known {
        format!(
            "{{{var}}} is for the admins' templates only, not for {} (it may use {allowed})",
            name.as_str()
        )
    } else {
        format!(
            "unknown variable {{{}}} ({} may use {allowed}; write {{{{ for a literal brace)",
            crate::headers::clean(var),
            name.as_str()
        )
    }
}

/// The templates read from one `templates_dir`: the good ones, and why the others
/// were refused (those fall back to the built-in text).
#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// The directory, when one is configured.
    pub dir: Option<PathBuf>,
    files: BTreeMap<Name, (PathBuf, Template)>,
    /// Names whose file was refused, and why (`FILE:LINE: reason`).
    pub rejected: Vec<(Name, String)>,
    /// Files in the directory that are no template's name (a misspelt file name).
    pub strangers: Vec<PathBuf>,
}

impl Templates {
    /// The file template for `name`, if a good one was read.
    pub fn get(&self, name: Name) -> Option<&Template> {
        self.files.get(&name).map(|(_, t)| t)
    }

    /// Where the template for `name` comes from, for `template preview` and the log.
    pub fn source(&self, name: Name) -> String {
        match self.files.get(&name) {
            Some((p, _)) => p.display().to_string(),
            None => "built-in".into(),
        }
    }

    /// Why the file for `name` was refused, if it was.
    pub fn rejection(&self, name: Name) -> Option<&str> {
        self.rejected
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| why.as_str())
    }

    /// `self` over `base`: a name `self` has a file for (good or refused) is `self`'s;
    /// the others are `base`'s. A queue's templates are layered over the global ones.
    pub fn over(&self, base: &Templates) -> Templates {
        let mut out = base.clone();
        out.dir = self.dir.clone().or(out.dir);
        for name in NAMES {
            let mine = self.files.get(&name);
            let refused = self.rejection(name).map(str::to_string);
            if mine.is_some() || refused.is_some() {
                out.files.remove(&name);
                out.rejected.retain(|(n, _)| *n != name);
            }
            if let Some(f) = mine {
                out.files.insert(name, f.clone());
            }
            if let Some(r) = refused {
                out.rejected.push((name, r));
            }
        }
        out.strangers.extend(self.strangers.iter().cloned());
        out
    }
}

/// Reads the templates of `dir`. A missing file is the built-in text; a file that
/// others may write, that is not UTF-8 or that does not parse is refused (listed in
/// `rejected` with FILE:LINE). A missing directory refuses nothing but is reported.
pub(crate) fn load_dir(dir: &Path) -> Templates {
    use std::io::Read;
    let mut out = Templates {
        dir: Some(dir.to_path_buf()),
        ..Templates::default()
    };
    let dir_meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            for name in NAMES {
                out.rejected.push((
                    name,
                    format!("templates_dir {} is not a directory", dir.display()),
                ));
            }
            return out;
        }
        Err(e) => {
            for name in NAMES {
                out.rejected
                    .push((name, format!("templates_dir {}: {e}", dir.display())));
            }
            return out;
        }
    };
    for name in NAMES {
        let path = dir.join(name.as_str());
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.rejected
                    .push((name, format!("{}: {e}", path.display())));
                continue;
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                out.rejected
                    .push((name, format!("{}: {e}", path.display())));
                continue;
            }
        };
        if let Err(why) = crate::trust::unsafe_config(&meta, &dir_meta, crate::trust::euid()) {
            out.rejected
                .push((name, format!("refusing template {}: {why}", path.display())));
            continue;
        }
        let mut bytes = Vec::new();
        if let Err(e) = file.take(64 * 1024 + 1).read_to_end(&mut bytes) {
            out.rejected
                .push((name, format!("{}: {e}", path.display())));
            continue;
        }
        if bytes.len() > 64 * 1024 {
            out.rejected
                .push((name, format!("{}: larger than 64 KiB", path.display())));
            continue;
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                out.rejected
                    .push((name, format!("{}:{line}: not UTF-8", path.display())));
                continue;
            }
        };
        // A byte-order mark that some editors write is no text of the mail.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        match Template::parse(name, text) {
            Ok(t) => {
                out.files.insert(name, (path, t));
            }
            Err(e) => out
                .rejected
                .push((name, format!("{}:{}: {}", path.display(), e.line, e.reason))),
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut strangers: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                !n.starts_with('.') && Name::parse(&n).is_none()
            })
            .map(|e| e.path())
            .collect();
        strangers.sort();
        out.strangers = strangers;
    }
    out
}

/// The template for `name` from `templates`, else the built-in `builtin`, with the
/// reason when a file was refused (deliver logs it). The built-in texts always parse
/// (a unit test renders each), so this cannot fail.
pub(crate) fn pick(templates: &Templates, name: Name, builtin: &str) -> (Template, Option<String>) {
    if let Some(t) = templates.get(name) {
        return (t.clone(), None);
    }
    let fallback = templates.rejection(name).map(|why| {
        format!(
            "template {}: {why}; the built-in text was used",
            name.as_str()
        )
    });
    match Template::parse(name, builtin) {
        Ok(t) => (t, fallback),
        Err(e) => unreachable!(
            "built-in {} template: line {}: {}",
            name.as_str(),
            e.line,
            e.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> String {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned().unwrap_or_default()
    }

    #[test]
    fn every_builtin_parses_and_fills_every_variable_it_names() {
        for (name, text) in [
            (Name::Ack, BUILTIN_ACK),
            (Name::Notice, BUILTIN_NOTICE),
            (Name::Notice, BUILTIN_NOTICE_RELAY),
            (Name::RefusedClose, BUILTIN_NOTICE),
            (Name::Close, BUILTIN_CLOSE),
            (Name::RelayFooter, BUILTIN_RELAY_FOOTER),
        ] {
            let t = Template::parse(name, text).unwrap();
            let all: Vec<(&str, &str)> = name.variables().iter().map(|v| (*v, "X")).collect();
            let body = t.render(&vars(&all));
            assert!(!body.contains('{') && !body.contains('}'), "{body}");
        }
    }

    #[test]
    fn the_example_templates_parse() {
        for (name, text) in [
            (Name::Ack, include_str!("../examples/templates/ack")),
            (Name::Close, include_str!("../examples/templates/close")),
        ] {
            let t = Template::parse(name, text).unwrap();
            assert!(t.render(&vars(&[("ticket", "1")])).contains("Kemp"));
        }
    }

    #[test]
    fn each_variable_is_replaced() {
        for name in NAMES {
            for var in name.variables() {
                let t = Template::parse(name, &format!("a {{{var}}} b\n")).unwrap();
                assert_eq!(t.render(&vars(&[(var, "VALUE")])), "a VALUE b\n", "{var}");
            }
        }
    }

    #[test]
    fn braces_escape_and_values_are_not_templates() {
        let t = Template::parse(Name::Ack, "{{ticket}} is {ticket}; }} and }\n").unwrap();
        assert_eq!(
            t.render(&vars(&[("ticket", "{close_address}")])),
            "{ticket} is {close_address}; } and }\n"
        );
    }

    #[test]
    fn unknown_and_admin_only_variables_are_errors_with_their_line() {
        let e = Template::parse(Name::Ack, "Hi\n\nticket {tikcet}\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.reason.contains("unknown variable {tikcet}"),
            "{}",
            e.reason
        );
        let e = Template::parse(Name::Ack, "close with {close_address}\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("admins' templates only"), "{}", e.reason);
        for customer in [Name::Ack, Name::Close] {
            for v in ["close_address", "reply_address", "sender"] {
                assert!(
                    Template::parse(customer, &format!("{{{v}}}")).is_err(),
                    "{v}"
                );
            }
        }
        assert!(Template::parse(Name::Notice, "{close_address}").is_ok());
        let e = Template::parse(Name::Notice, "x\n{ticket").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(Template::parse(Name::Close, "{quote}").is_err());
        assert!(Template::parse(Name::Ack, &"x".repeat(LINE_MAX + 1)).is_err());
        assert!(Template::parse(Name::Ack, "a\u{1b}[2Jb").is_err());
    }

    #[test]
    fn empty_lines_go_with_their_empty_variables() {
        let t = Template::parse(Name::Ack, BUILTIN_ACK).unwrap();
        let without = t.render(&vars(&[("ticket", "4"), ("subject", "s")]));
        assert!(
            without.starts_with(
                "Your message has been received and filed as ticket 4.\n\nSubject: s\n\n"
            ),
            "{without}"
        );
        let with = t.render(&vars(&[("ticket", "4"), ("subject", "s"), ("note", "N.")]));
        assert!(
            with.starts_with(
                "Your message has been received and filed as ticket 4.\n\nN.\n\nSubject: s\n\n"
            ),
            "{with}"
        );
        let n = Template::parse(Name::Notice, BUILTIN_NOTICE).unwrap();
        let body = n.render(&vars(&[
            ("ticket", "1"),
            ("subject", "s"),
            ("quote", "> q"),
        ]));
        assert!(body.contains("Subject: s\n\n> q\n\nReplies"), "{body}");
        assert!(
            !body.contains("Note:") && !body.contains("Queue:"),
            "{body}"
        );
    }

    #[test]
    fn layering_takes_the_queue_file_or_its_refusal() {
        let mut global = Templates::default();
        global.files.insert(
            Name::Ack,
            (
                "g/ack".into(),
                Template::parse(Name::Ack, "global").unwrap(),
            ),
        );
        global.files.insert(
            Name::Close,
            (
                "g/close".into(),
                Template::parse(Name::Close, "gclose").unwrap(),
            ),
        );
        let mut queue = Templates::default();
        queue.files.insert(
            Name::Ack,
            ("q/ack".into(), Template::parse(Name::Ack, "queue").unwrap()),
        );
        queue.rejected.push((Name::Close, "q/close:1: bad".into()));
        let l = queue.over(&global);
        assert_eq!(l.source(Name::Ack), "q/ack");
        assert_eq!(l.source(Name::Close), "built-in");
        let (_, why) = pick(&l, Name::Close, BUILTIN_CLOSE);
        assert!(why.unwrap().contains("q/close:1: bad"));
        assert_eq!(l.source(Name::Notice), "built-in");
    }
}
