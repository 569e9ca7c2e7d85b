//! Reading tickets back: one-line summaries for `list`, and the problems `check`
//! reports. Pure functions over the bytes of an mbox file (`show` is thread.rs).

use crate::inbound::check_is_mail;
use crate::mbox::{self, Entry};
use crate::route::State;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::borrow::Cow;

/// The trace header mailtix puts on the notes it writes into a ticket (close, reopen ...).
pub const EVENT_HEADER: &str = crate::headers::EVENT;

/// One ticket, as `list` shows it. The text fields borrow from the summary cache when
/// they come from it, so listing 100,000 cached tickets allocates little.
#[derive(Debug, Clone, Serialize)]
pub struct Summary<'a> {
    pub id: u32,
    pub state: State,
    pub subject: Cow<'a, str>,
    pub requester: Cow<'a, str>,
    pub messages: usize,
    pub created: Cow<'a, str>,
    pub updated: Cow<'a, str>,
    /// The requester's address has hard-bounced mail mailtix sent.
    pub requester_bounces: bool,
    /// The ticket's queue (`support` unless it came in through another or was moved).
    pub queue: Cow<'a, str>,
    #[serde(skip)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The date on a From_ line (`sender asctime`), read as UTC.
pub fn from_line_date(from_line: &str) -> Option<DateTime<Utc>> {
    let mut parts = from_line.splitn(2, ' ');
    parts.next()?;
    let date = parts.next()?.trim();
    let date = date.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&date, "%a %b %d %H:%M:%S %Y")
        .ok()
        .map(|d| d.and_utc())
}

/// One line of the summary cache (`.mailtix/summaries`), keyed by the ticket file's
/// size and modification time: `list` re-reads only tickets whose file changed.
pub fn cache_line(s: &Summary<'_>, size: u64, mtime_ns: u128) -> String {
    let clean = |t: &str| crate::headers::clean(t).replace('\t', " ");
    format!(
        "{}\t{}\t{size}\t{mtime_ns}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
        s.id,
        s.state.as_str(),
        s.messages,
        s.updated_at
            .map(|d| d.timestamp())
            .map_or("-".to_string(), |t| t.to_string()),
        clean(&s.created),
        clean(&s.updated),
        clean(&s.requester),
        clean(&s.subject),
        clean(&s.queue),
    )
}

/// Reads a cache line back: the summary and the file size and time it is valid for.
pub fn from_cache_line(line: &str) -> Option<(Summary<'_>, u64, u128)> {
    let mut f = line.split('\t');
    let mut next = || f.next();
    let id = next()?.parse().ok()?;
    let state = State::parse(next()?)?;
    let size = next()?.parse().ok()?;
    let mtime = next()?.parse().ok()?;
    let messages = next()?.parse().ok()?;
    let updated_at = match next()? {
        "-" => None,
        t => Some(DateTime::from_timestamp(t.parse().ok()?, 0)?),
    };
    let created = Cow::Borrowed(next()?);
    let updated = Cow::Borrowed(next()?);
    let requester = Cow::Borrowed(next()?);
    let subject = Cow::Borrowed(next()?);
    // A line from before queues has no queue field: read again, like a changed file.
    let queue = Cow::Borrowed(next()?);
    if next().is_some() {
        return None;
    }
    Some((
        Summary {
            id,
            state,
            subject,
            requester,
            messages,
            created,
            updated,
            requester_bounces: false,
            queue,
            updated_at,
        },
        size,
        mtime,
    ))
}

/// True when the entry is a note that mailtix wrote (not mail): its trace block says
/// so. An `X-Mailtix-Event` field that came with incoming mail is in the message's own
/// header section, renamed by the encoder, and does not count.
pub fn is_note(message: &[u8]) -> bool {
    crate::headers::Trace::parse(message).event.is_some()
}

fn header_block(message: &[u8]) -> &[u8] {
    let end = message
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 1)
        .unwrap_or(message.len());
    &message[..end]
}

/// Summarises a ticket file.
pub fn summarize(id: u32, state: State, data: &[u8]) -> Result<Summary<'static>, String> {
    let entries = mbox::read(data)?;
    let mail: Vec<&Entry> = entries.iter().filter(|e| !is_note(&e.message)).collect();
    let first = mail.first().copied().or(entries.first());
    // The same reading as deliver's: the first Subject and From, whatever the Date says.
    let (subject, requester) = first
        .map(|e| {
            let m = crate::inbound::parse(header_block(&e.message)).ok();
            let who = m
                .as_ref()
                .and_then(|m| m.reply_to.as_ref().or(m.from.as_ref()))
                .map(|b| b.addr.clone())
                .unwrap_or_else(|| e.from_line.split(' ').next().unwrap_or("").to_string());
            (m.map(|m| m.subject).unwrap_or_default(), who)
        })
        .unwrap_or_default();
    let created = entries.first().and_then(|e| from_line_date(&e.from_line));
    let updated = entries.last().and_then(|e| from_line_date(&e.from_line));
    let fmt = |d: Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
    let queue = entries
        .iter()
        .filter_map(|e| crate::headers::Trace::parse(&e.message).queue)
        .next_back()
        .unwrap_or_else(|| crate::config::SUPPORT.into());
    Ok(Summary {
        id,
        state,
        subject: Cow::Owned(crate::headers::clean(&subject)),
        requester: Cow::Owned(requester),
        messages: mail.len(),
        created: Cow::Owned(fmt(created)),
        updated: Cow::Owned(fmt(updated)),
        requester_bounces: false,
        queue: Cow::Owned(queue),
        updated_at: updated,
    })
}

/// Problems that `check` reports for one ticket file.
pub fn problems(data: &[u8]) -> Vec<String> {
    let entries = match mbox::read(data) {
        Ok(e) => e,
        Err(e) => return vec![e],
    };
    let mut out = Vec::new();
    if !data.is_empty() && !data.ends_with(b"\n\n") {
        out.push("does not end with an empty line (a torn append?)".into());
    }
    for (i, e) in entries.iter().enumerate() {
        if from_line_date(&e.from_line).is_none() {
            out.push(format!(
                "message {}: bad From_ line {:?}",
                i + 1,
                e.from_line
            ));
        }
        if check_is_mail(&e.message).is_err() {
            out.push(format!("message {}: no header section", i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKET: &[u8] = b"From ann@x.com Sun Nov 22 07:46:08 2026\nFrom: Ann <ann@x.com>\nSubject: Printer\n\nIt burns.\n\nFrom boss@y Mon Nov 23 08:00:00 2026\nFrom: boss@y\nSubject: Re: Printer\n\nOK\n\nFrom mailtix@localhost Tue Nov 24 09:00:00 2026\nX-Mailtix-Event: close\nFrom: mailtix@localhost\nSubject: closed\n\nclosed\n\n";

    #[test]
    fn summary_counts_mail_not_notes() {
        let s = summarize(4, State::Open, TICKET).unwrap();
        assert_eq!(s.subject, "Printer");
        assert_eq!(s.requester, "ann@x.com");
        assert_eq!(s.messages, 2);
        assert_eq!(s.created, "2026-11-22T07:46:08+00:00");
        assert_eq!(s.updated, "2026-11-24T09:00:00+00:00");
    }

    #[test]
    fn only_the_trace_block_marks_a_note() {
        assert!(is_note(
            b"X-Mailtix-Event: closed\nFrom: mailtix@x\n\nclosed\n"
        ));
        assert!(!is_note(b"From: evil@x\nX-Mailtix-Event: closed\n\nhi\n"));
        assert!(!is_note(
            b"X-Original-Mailtix-Event: closed\nFrom: evil@x\n\nhi\n"
        ));
    }

    #[test]
    fn cache_lines_round_trip() {
        let s = summarize(4, State::Open, TICKET).unwrap();
        let line = cache_line(&s, 123, 456);
        let (back, size, mtime) = from_cache_line(line.trim_end_matches('\n')).unwrap();
        assert_eq!((size, mtime), (123, 456));
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&s).unwrap()
        );
        assert!(from_cache_line("garbage").is_none());
    }

    #[test]
    fn problems_are_found() {
        assert!(problems(TICKET).is_empty(), "{:?}", problems(TICKET));
        assert!(!problems(b"not an mbox\n").is_empty());
        assert!(!problems(b"From a Sun Nov 22 07:46:08 2026\nA: b\n\ntorn").is_empty());
    }
}
