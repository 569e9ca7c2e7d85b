//! The query language of `mailtix search`, a small subset of notmuch's and
//! public-inbox's, parsed into a tree. Pure: the clock comes in as `now`.
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*        words side by side must all match
//! unary   := "-" unary | "NOT" unary | "(" or ")" | term
//! term    := word | "phrase" | prefix:word | prefix:"phrase"
//! ```
//! An unknown prefix is an error, never a word: `htp:x` is a typo, not a search.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Where a word is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// No prefix: subject, body, From, attachment names.
    Any,
    From,
    To,
    Cc,
    Subject,
    Body,
    Attachment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Is {
    Open,
    Closed,
    Bounced,
    Waiting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Text that must occur in `field`: one word, or words in this order.
    Text(Field, String),
    /// A Message-ID, without angle brackets.
    Id(String),
    Ticket(u32),
    /// A ticket's queue, lowercased.
    Queue(String),
    Is(Is),
    /// Seconds since the epoch: from (inclusive), to (exclusive).
    Date(Option<i64>, Option<i64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Or,
    And,
    Not,
    /// `-` directly in front of the next token.
    Minus,
    /// A word or a quoted phrase, with its prefix if any.
    Term(Option<String>, String),
}

fn lex(q: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                out.push(Tok::Open);
                continue;
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
                continue;
            }
            '-' => {
                chars.next();
                if chars.peek().is_none_or(|c| c.is_whitespace()) {
                    return Err("a `-` must stand right before what must not match".into());
                }
                out.push(Tok::Minus);
                continue;
            }
            _ => {}
        }
        // a word, a phrase, or prefix:value
        let mut word = String::new();
        let mut prefix = None;
        loop {
            match chars.peek().copied() {
                None => break,
                Some(c) if c.is_whitespace() || c == '(' || c == ')' => break,
                Some('"') => {
                    chars.next();
                    let mut phrase = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        phrase.push(c);
                    }
                    if !closed {
                        return Err("a phrase is missing its closing `\"`".into());
                    }
                    word.push_str(&phrase);
                    // a phrase ends the term
                    break;
                }
                Some(':') if prefix.is_none() && is_prefix_name(&word) => {
                    chars.next();
                    prefix = Some(std::mem::take(&mut word).to_ascii_lowercase());
                }
                Some(c) => {
                    chars.next();
                    word.push(c);
                }
            }
        }
        match (prefix.as_deref(), word.as_str()) {
            (None, "OR") => out.push(Tok::Or),
            (None, "AND") => out.push(Tok::And),
            (None, "NOT") => out.push(Tok::Not),
            _ => out.push(Tok::Term(prefix, word)),
        }
    }
    Ok(out)
}

fn is_prefix_name(w: &str) -> bool {
    let mut c = w.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    now: DateTime<Utc>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            alts.push(self.and()?);
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Node::Or(alts)
        })
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut all = Vec::new();
        loop {
            match self.peek() {
                None | Some(Tok::Close) | Some(Tok::Or) => break,
                Some(Tok::And) => {
                    self.pos += 1;
                    continue;
                }
                _ => all.push(self.unary()?),
            }
        }
        match all.len() {
            0 => Err(match self.peek() {
                Some(Tok::Or) => "`OR` needs something on both sides".into(),
                Some(Tok::Close) => "`()` has nothing in it".into(),
                _ => "nothing to search for".into(),
            }),
            1 => Ok(all.remove(0)),
            _ => Ok(Node::And(all)),
        }
    }

    fn unary(&mut self) -> Result<Node, String> {
        let Some(t) = self.peek().cloned() else {
            return Err("the query ends too early".into());
        };
        self.pos += 1;
        match t {
            Tok::Minus | Tok::Not => Ok(Node::Not(Box::new(self.unary()?))),
            Tok::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err("a `(` is never closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Close => Err("a `)` closes nothing".into()),
            Tok::Or | Tok::And => Err("`OR` and `AND` need something on both sides".into()),
            Tok::Term(prefix, word) => term(prefix.as_deref(), &word, self.now),
        }
    }
}

fn text(field: Field, word: &str) -> Result<Node, String> {
    if super::text::terms(word).is_empty() {
        return Err(format!("{word:?} has no letters or digits to search for"));
    }
    Ok(Node::Text(field, word.to_string()))
}

fn term(prefix: Option<&str>, v: &str, now: DateTime<Utc>) -> Result<Node, String> {
    let Some(p) = prefix else {
        return text(Field::Any, v);
    };
    if v.is_empty() {
        return Err(format!("`{p}:` needs a value"));
    }
    match p {
        "from" => text(Field::From, v),
        "to" => text(Field::To, v),
        "cc" => text(Field::Cc, v),
        "subject" | "s" => text(Field::Subject, v),
        "body" | "b" => text(Field::Body, v),
        "attachment" | "n" => text(Field::Attachment, v),
        "id" | "mid" => {
            let id = v.trim().trim_start_matches('<').trim_end_matches('>');
            if id.is_empty() {
                return Err("`id:` needs a Message-ID".into());
            }
            Ok(Node::Id(id.to_string()))
        }
        "ticket" => crate::address::parse_id(v)
            .map(Node::Ticket)
            .ok_or_else(|| format!("ticket:{v} is not a ticket number")),
        "queue" => {
            let q = v.trim().to_ascii_lowercase();
            if q.is_empty() {
                return Err("`queue:` needs a queue name".into());
            }
            Ok(Node::Queue(q))
        }
        "is" => match v.to_ascii_lowercase().as_str() {
            "open" => Ok(Node::Is(Is::Open)),
            "closed" => Ok(Node::Is(Is::Closed)),
            "bounced" => Ok(Node::Is(Is::Bounced)),
            "waiting" => Ok(Node::Is(Is::Waiting)),
            _ => Err(format!(
                "is:{v} is not known (is:open, is:closed, is:bounced, is:waiting)"
            )),
        },
        "date" => date_range(v, now),
        _ => Err(format!(
            "unknown prefix `{p}:` (known: from: to: cc: subject: s: body: b: attachment: n: id: ticket: queue: is: date:); quote it to search for the text: \"{p}:{v}\""
        )),
    }
}

/// `A..B`, `A..`, `..B` or `A`; each end `YYYY-MM-DD` (a whole day, UTC) or `Nd`, `Nw`,
/// `Nm`, `Ny` (that long before now).
fn date_range(v: &str, now: DateTime<Utc>) -> Result<Node, String> {
    let bad = |what: &str| {
        format!("date:{v}: {what:?} is not a date (YYYY-MM-DD, or 30d, 2w, 6m, 1y ago)")
    };
    let point = |s: &str| -> Result<(i64, i64), String> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let start = d.and_hms_opt(0, 0, 0).ok_or_else(|| bad(s))?.and_utc();
            return Ok((start.timestamp(), (start + Duration::days(1)).timestamp()));
        }
        let (n, unit) = s.split_at(s.len().saturating_sub(1));
        let n: i64 = n.parse().map_err(|_| bad(s))?;
        let days = match unit {
            "d" => n,
            "w" => n * 7,
            "m" => n * 30,
            "y" => n * 365,
            _ => return Err(bad(s)),
        };
        if !(0..=100_000).contains(&days) {
            return Err(bad(s));
        }
        let t = (now - Duration::days(days)).timestamp();
        Ok((t, t))
    };
    let (from, to) = match v.split_once("..") {
        Some((a, b)) => {
            let from = (!a.is_empty()).then(|| point(a)).transpose()?.map(|p| p.0);
            let to = (!b.is_empty()).then(|| point(b)).transpose()?.map(|p| p.1);
            if from.is_none() && to.is_none() {
                return Err(format!("date:{v} has no date on either side"));
            }
            (from, to)
        }
        None => {
            let (a, b) = point(v)?;
            if a == b {
                (Some(a), None)
            } else {
                (Some(a), Some(b))
            }
        }
    };
    if let (Some(a), Some(b)) = (from, to)
        && a >= b
    {
        return Err(format!("date:{v} ends before it starts"));
    }
    Ok(Node::Date(from, to))
}

/// Parses a query; `Err` is the one-line reason for a usage error.
pub fn parse(q: &str, now: DateTime<Utc>) -> Result<Node, String> {
    let toks = lex(q)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        now,
    };
    let node = p.or()?;
    if p.pos < toks.len() {
        return Err("a `)` closes nothing".into());
    }
    Ok(node)
}

impl Node {
    /// True when the query names is:open or is:closed (then both states are searched).
    pub fn names_a_state(&self) -> bool {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().any(Node::names_a_state),
            Node::Not(n) => n.names_a_state(),
            Node::Is(Is::Open | Is::Closed) => true,
            _ => false,
        }
    }

    pub fn uses(&self, what: Is) -> bool {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().any(|n| n.uses(what)),
            Node::Not(n) => n.uses(what),
            Node::Is(i) => *i == what,
            _ => false,
        }
    }

    /// The folded words the query wants (not under a `-`), for marking a snippet.
    pub fn wanted_words(&self, out: &mut Vec<String>) {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.wanted_words(out)),
            Node::Text(Field::Any | Field::Body | Field::Subject | Field::Attachment, t) => {
                out.extend(super::text::terms(t))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn p(q: &str) -> Result<Node, String> {
        parse(q, now())
    }

    fn t(f: Field, s: &str) -> Node {
        Node::Text(f, s.into())
    }

    #[test]
    fn the_grammar() {
        use Field::*;
        let cases: Vec<(&str, Node)> = vec![
            ("printer", t(Any, "printer")),
            (
                "printer fire",
                Node::And(vec![t(Any, "printer"), t(Any, "fire")]),
            ),
            ("\"on fire\"", t(Any, "on fire")),
            (
                "a OR b c",
                Node::Or(vec![t(Any, "a"), Node::And(vec![t(Any, "b"), t(Any, "c")])]),
            ),
            (
                "(a OR b) -c",
                Node::And(vec![
                    Node::Or(vec![t(Any, "a"), t(Any, "b")]),
                    Node::Not(Box::new(t(Any, "c"))),
                ]),
            ),
            ("NOT a", Node::Not(Box::new(t(Any, "a")))),
            ("a AND b", Node::And(vec![t(Any, "a"), t(Any, "b")])),
            ("from:ann@x.com", t(From, "ann@x.com")),
            ("FROM:ann", t(From, "ann")),
            ("to:support", t(To, "support")),
            ("cc:bob", t(Cc, "bob")),
            ("s:hello", t(Subject, "hello")),
            ("subject:\"two words\"", t(Subject, "two words")),
            ("b:x", t(Body, "x")),
            ("body:x", t(Body, "x")),
            ("n:log.txt", t(Attachment, "log.txt")),
            ("attachment:log", t(Attachment, "log")),
            ("id:<a@b>", Node::Id("a@b".into())),
            ("ticket:12", Node::Ticket(12)),
            ("queue:Sales", Node::Queue("sales".into())),
            ("is:open", Node::Is(Is::Open)),
            ("is:WAITING", Node::Is(Is::Waiting)),
            ("-is:bounced", Node::Not(Box::new(Node::Is(Is::Bounced)))),
            ("10:30", t(Any, "10:30")),
        ];
        for (q, want) in cases {
            assert_eq!(p(q), Ok(want), "{q}");
        }
    }

    #[test]
    fn dates() {
        let day = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp()
        };
        assert_eq!(
            p("date:2026-01-01..2026-03-31"),
            Ok(Node::Date(Some(day("2026-01-01")), Some(day("2026-04-01"))))
        );
        assert_eq!(
            p("date:..2025-12-31"),
            Ok(Node::Date(None, Some(day("2026-01-01"))))
        );
        assert_eq!(
            p("date:30d.."),
            Ok(Node::Date(
                Some((now() - Duration::days(30)).timestamp()),
                None
            ))
        );
        assert_eq!(
            p("date:2026-02-03"),
            Ok(Node::Date(Some(day("2026-02-03")), Some(day("2026-02-04"))))
        );
    }

    #[test]
    fn usage_errors() {
        for q in [
            "",
            "   ",
            "foo:bar",
            "htp://x",
            "is:sleeping",
            "date:yesterday",
            "date:2026-13-01",
            "date:..",
            "date:2026-03-01..2026-01-01",
            "ticket:0",
            "ticket:x",
            "(a",
            "a)",
            "a OR",
            "OR a",
            "\"open",
            "- a",
            "from:",
            "()",
            "...",
        ] {
            assert!(p(q).is_err(), "{q:?} should be refused: {:?}", p(q));
        }
        assert!(p("\"foo:bar\"").is_ok(), "a quoted prefix is text");
    }
}
