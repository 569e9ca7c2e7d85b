//! Every header mailtix writes and reads back, each with its one writer and its one
//! reader: the trace block at the top of a stored message, the loop marker on mail
//! mailtix sends, and our own Message-IDs. Also [`clean`], which every header value
//! and log value passes through. Pure.
//!
//! ```text
//! X-Mailtix-Previous-Ticket: 4        this mail reached closed ticket 4 too late to reopen it
//! X-Mailtix-Key: <no-message-id.…>    the dedupe key of mail that has no Message-ID
//! X-Mailtix-Event: closed             this entry is a note mailtix wrote, not mail
//! X-Mailtix-Queue: sales              the ticket is in queue sales from here on (queue.rs)
//! ```
//! They form one block in front of the message's own header section. The reader takes
//! the whole block, in any order, so a header added later cannot hide another one.
//! Incoming mail cannot fake them: the mbox encoder renames every `X-Mailtix-*` field
//! of a message's own header section (`mbox::Encoded`), so the only `X-Mailtix-*`
//! lines at the top of a stored message are the ones written here.

use crate::address;

/// Names the dedupe key of a message that came without a Message-ID.
pub(crate) const KEY: &str = "X-Mailtix-Key";
/// Names the closed ticket that a new ticket was opened in place of.
pub(crate) const PREVIOUS_TICKET: &str = "X-Mailtix-Previous-Ticket";
/// Marks a note mailtix filed in a ticket (close, reopen, moved on), so that `list`
/// does not count it as mail.
pub(crate) const EVENT: &str = "X-Mailtix-Event";
/// Names the queue a ticket is in from this entry on: on the first message of a
/// ticket opened through a queue's address, and on the note of `mailtix move`.
pub(crate) const QUEUE: &str = "X-Mailtix-Queue";

/// Replaces control characters (CR, LF, tabs, NUL ...) with spaces and collapses runs
/// of white space: every header value mailtix writes, and every log value, passes here.
pub(crate) fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Marks mail mailtix sends, with our domain as its value: mail that comes back with
/// it is our own, and is never answered ([`crate::inbound`] reads it).
pub(crate) const LOOP: &str = "X-Mailtix-Loop";

/// Our Message-ID for mail about ticket `id`: `mailtix.N.KIND.UNIQUE.MAC@DOMAIN`, so
/// that replies to it thread back into the ticket even when the index does not know
/// it (after a `reindex`, say). `mac` signs `N` and `KIND.UNIQUE`
/// ([`crate::token::message_id_mac`]); [`own_message_ticket`] reads it back.
pub(crate) fn own_message_id(
    domain: &str,
    id: u32,
    kind: &str,
    unique: &str,
    secret: &[u8],
) -> String {
    let signed = format!("{kind}.{unique}");
    let mac = crate::token::message_id_mac(secret, id, &signed);
    format!("mailtix.{id}.{signed}.{mac}@{domain}")
}

/// The Message-ID of a note mailtix files in ticket `id`. Notes are never sent, so
/// nothing replies to them: it has no MAC, and is found only through the index.
pub(crate) fn note_message_id(domain: &str, id: u32, unique: &str) -> String {
    format!("mailtix.{id}.note.{unique}@{domain}")
}

/// The ticket of one of [`own_message_id`]'s ids whose MAC verifies under `key`.
/// Anyone can write `mailtix.N.…@DOMAIN` into References; without the MAC such an id
/// (or a note's, or an old one without a MAC) counts only if the index knows it.
pub(crate) fn own_message_ticket(domain: &str, key: &[u8], message_id: &str) -> Option<u32> {
    let (local, at) = message_id.rsplit_once('@')?;
    if !at.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (n, rest) = local.strip_prefix("mailtix.")?.split_once('.')?;
    let id = address::parse_id(n)?;
    let (signed, mac) = rest.rsplit_once('.')?;
    crate::token::message_id_mac_matches(key, id, signed, mac).then_some(id)
}

/// The trace block of one stored message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Trace {
    pub previous_ticket: Option<u32>,
    /// Without angle brackets.
    pub key: Option<String>,
    /// What the note records (`closed`, `reopened`, `moved on`).
    pub event: Option<String>,
    /// The queue the ticket is in from this entry on.
    pub queue: Option<String>,
}

impl Trace {
    /// The header lines, each ending in `\n`; empty when there is nothing to trace.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        if let Some(id) = self.previous_ticket {
            out.push_str(&format!("{PREVIOUS_TICKET}: {id}\n"));
        }
        if let Some(k) = &self.key {
            out.push_str(&format!("{KEY}: <{k}>\n"));
        }
        if let Some(e) = &self.event {
            out.push_str(&format!("{EVENT}: {}\n", clean(e)));
        }
        if let Some(q) = &self.queue {
            out.push_str(&format!("{QUEUE}: {}\n", crate::headers::clean(q)));
        }
        out.into_bytes()
    }

    /// Reads the trace block at the top of a stored message (as `mbox::read` returns it).
    pub(crate) fn parse(message: &[u8]) -> Trace {
        let mut t = Trace::default();
        for line in message.split(|&b| b == b'\n') {
            let Some((name, value)) = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.split_once(':'))
            else {
                break;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case(KEY) && t.key.is_none() {
                let v = value.trim_start_matches('<').trim_end_matches('>').trim();
                t.key = Some(v.to_string()).filter(|v| !v.is_empty());
            } else if name.eq_ignore_ascii_case(PREVIOUS_TICKET) && t.previous_ticket.is_none() {
                t.previous_ticket = address::parse_id(value);
            } else if name.eq_ignore_ascii_case(EVENT) && t.event.is_none() {
                t.event = Some(value.to_string()).filter(|v| !v.is_empty());
            } else if name.eq_ignore_ascii_case(QUEUE) && t.queue.is_none() {
                t.queue = Some(value.to_ascii_lowercase()).filter(|v| !v.is_empty());
            } else {
                break;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_read_back_only_with_their_mac_and_domain() {
        let id = own_message_id("example.org", 12, "ack", "u1", b"k");
        assert!(id.starts_with("mailtix.12.ack.u1."), "{id}");
        assert_eq!(own_message_ticket("Example.ORG", b"k", &id), Some(12));
        assert_eq!(own_message_ticket("example.org", b"other", &id), None);
        assert_eq!(own_message_ticket("example.net", b"k", &id), None);
        let forged = id.replacen("mailtix.12.", "mailtix.13.", 1);
        assert_eq!(own_message_ticket("example.org", b"k", &forged), None);
        let note = note_message_id("example.org", 12, "u2");
        assert_eq!(own_message_ticket("example.org", b"k", &note), None);
    }

    #[test]
    fn the_reader_takes_the_whole_block_in_any_order() {
        let both = Trace {
            previous_ticket: Some(4),
            key: Some("no-message-id.1@mailtix".into()),
            event: Some("moved on".into()),
            queue: Some("sales".into()),
        };
        let mut stored = both.to_bytes();
        stored.extend_from_slice(b"Subject: x\n\nbody\n");
        assert_eq!(Trace::parse(&stored), both);
        let swapped = b"X-Mailtix-Key: <k@m>\nX-Mailtix-Previous-Ticket: 9\nSubject: x\n\n";
        assert_eq!(
            Trace::parse(swapped),
            Trace {
                previous_ticket: Some(9),
                key: Some("k@m".into()),
                event: None,
                queue: None,
            }
        );
    }

    #[test]
    fn the_block_ends_at_the_first_other_line() {
        let late = b"Subject: x\nX-Mailtix-Key: <k@m>\n\n";
        assert_eq!(Trace::parse(late), Trace::default());
        assert!(Trace::default().to_bytes().is_empty());
    }
}
