//! Routing: which ticket a message belongs to. Pure; the store is reached only through
//! the [`Lookup`] trait, so the rules are tested with a table and no files.
//!
//! First match wins (SPEC "Routing"):
//! 0. `ticket-N-bounce-MAC@`, the VERP envelope sender of mail mailtix sends, files a
//!    bounce in N ([`Route::Bounce`]); deliver has checked the MAC before routing, and
//!    nothing is sent or reopened for it.
//! 1. `ticket-N-close@` closes N (if allowed) and files the mail in N.
//! 2. `ticket-N@` and `ticket-N-reply-TOKEN@` file the mail in N.
//! 3. `support@` (or a queue's address) with `[issueN]` in the Subject files it in N. A tag naming a ticket
//!    that does not exist is plain text ([`dangling_tag`] names it for the ack), so the
//!    rules below go on: a forged sender never gets a bounce for it.
//! 4. `support@` whose own copy (Message-ID and body) is stored in a ticket, whose
//!    In-Reply-To or References names a message of a ticket (one it stores or one
//!    mailtix sent), or whose To/Cc names `ticket-N@`, files it in that ticket. Never
//!    by subject text.
//! 5. `support@` otherwise opens a new ticket.
//! 6. Anything else is not ours (67), and so is a ticket that does not exist.

use crate::address::Addresses;
use crate::address::{self, Target};
use crate::error::DeliverError;
use crate::inbound::Inbound;

/// Whether a ticket file is in the store or in `archived/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
        }
    }

    /// The state named by [`State::as_str`]'s word.
    pub fn parse(word: &str) -> Option<State> {
        [State::Open, State::Closed]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// What routing needs to know about the store.
pub trait Lookup {
    /// The state of ticket `id`, or `None` when it does not exist.
    fn state(&self, id: u32) -> Option<State>;
    /// The ticket that stores a message with this Message-ID (without brackets).
    fn ticket_of(&self, message_id: &str) -> Option<u32>;
    /// The key that signs our Message-IDs ([`own_message_ticket`]). Without one, our ids
    /// are trusted only through the index, like anyone else's.
    fn message_id_key(&self) -> Option<Vec<u8>> {
        None
    }
    /// `ticket_of` for each of several Message-IDs, in order. The store reads each
    /// index shard once for the whole batch.
    fn tickets_of_batch(&self, message_ids: &[&str]) -> Vec<Option<u32>> {
        message_ids.iter().map(|m| self.ticket_of(m)).collect()
    }
}

/// How many `References` entries threading looks at: the newest ones. A reply names
/// its parent last; a header of 50,000 ids must not cost 50,000 index lookups.
pub const MAX_REFERENCES: usize = 100;

/// Why a message went where it went: logged, and used to pick notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Address,
    /// The ticket's secret reply address (token not yet checked).
    Reply,
    SubjectTag,
    Thread,
    AlsoAddressed,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Open a new ticket.
    New,
    /// File in an existing ticket.
    Append { id: u32, state: State, why: Why },
    /// File in the ticket and close it, if the sender may.
    Close {
        id: u32,
        state: State,
        token: Option<String>,
    },
    /// A bounce of mail mailtix sent about the ticket (MAC not yet checked).
    Bounce { id: u32, state: State, mac: String },
}

/// N for one of our own Message-IDs whose MAC verifies under `key`
/// (`headers::own_message_ticket`).
pub fn own_message_ticket(cfg: &Addresses, key: Option<&[u8]>, message_id: &str) -> Option<u32> {
    crate::headers::own_message_ticket(&cfg.domain, key?, message_id)
}

/// Decides where a message goes.
pub fn route(
    cfg: &Addresses,
    target: &Target,
    msg: &Inbound,
    lookup: &impl Lookup,
) -> Result<Route, DeliverError> {
    let existing = |id: u32| {
        lookup.state(id).ok_or_else(|| DeliverError::NoSuchTicket {
            id,
            hint: format!(
                "mail {} for a new ticket, or {}N@{} for an existing one",
                cfg.support_address(),
                cfg.ticket_prefix,
                cfg.domain
            ),
        })
    };
    match target {
        Target::Close(id, token) => Ok(Route::Close {
            id: *id,
            state: existing(*id)?,
            token: token.clone(),
        }),
        Target::Bounce(id, mac) => Ok(Route::Bounce {
            id: *id,
            state: existing(*id)?,
            mac: mac.clone(),
        }),
        Target::Ticket(id) => Ok(Route::Append {
            id: *id,
            state: existing(*id)?,
            why: Why::Address,
        }),
        Target::Reply(id, _) => Ok(Route::Append {
            id: *id,
            state: existing(*id)?,
            why: Why::Reply,
        }),
        Target::Support => {
            if let Some(id) = address::subject_tag(&cfg.subject_tag, &msg.subject)
                && let Some(state) = lookup.state(id)
            {
                return Ok(Route::Append {
                    id,
                    state,
                    why: Why::SubjectTag,
                });
            }
            // The message's own id: where a stored copy of it is (deliver's copy key),
            // else its bare Message-ID.
            let own = msg.copy_key.as_ref().or(msg.message_id.as_ref());
            let ids: Vec<&str> = own
                .into_iter()
                .chain(msg.in_reply_to.iter())
                .chain(msg.references.iter().rev().take(MAX_REFERENCES))
                .map(String::as_str)
                .collect();
            let indexed = lookup.tickets_of_batch(&ids);
            let key = lookup.message_id_key();
            for (mid, in_index) in ids.iter().zip(indexed) {
                let found = own_message_ticket(cfg, key.as_deref(), mid).or(in_index);
                if let Some((id, state)) = found.and_then(|id| Some((id, lookup.state(id)?))) {
                    return Ok(Route::Append {
                        id,
                        state,
                        why: Why::Thread,
                    });
                }
            }
            for addr in &msg.recipient_candidates {
                if let Some(Target::Ticket(id)) = address::target(cfg, addr)
                    && let Some(state) = lookup.state(id)
                {
                    return Ok(Route::Append {
                        id,
                        state,
                        why: Why::AlsoAddressed,
                    });
                }
            }
            Ok(Route::New)
        }
    }
}

/// On `support@`, the `[issueN]` of a Subject whose N names no ticket: routing took it
/// for plain text, and the acknowledgement says so.
pub fn dangling_tag(
    cfg: &Addresses,
    target: &Target,
    msg: &Inbound,
    lookup: &impl Lookup,
) -> Option<u32> {
    if *target != Target::Support {
        return None;
    }
    address::subject_tag(&cfg.subject_tag, &msg.subject).filter(|id| lookup.state(*id).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    struct Fake {
        tickets: HashMap<u32, State>,
        ids: HashMap<&'static str, u32>,
    }

    impl Lookup for Fake {
        fn state(&self, id: u32) -> Option<State> {
            self.tickets.get(&id).copied()
        }
        fn ticket_of(&self, mid: &str) -> Option<u32> {
            self.ids.get(mid).copied()
        }
        fn message_id_key(&self) -> Option<Vec<u8>> {
            Some(b"k".to_vec())
        }
    }

    /// One of our ids for ticket `id`, signed with the fake's key.
    fn ours(id: u32, kind_unique: &str, domain: &str) -> &'static str {
        let mac = crate::token::message_id_mac(b"k", id, kind_unique);
        format!("mailtix.{id}.{kind_unique}.{mac}@{domain}").leak()
    }

    fn msg(subject: &str, mid: Option<&str>, irt: &[&str], refs: &[&str], to: &[&str]) -> Inbound {
        Inbound {
            subject: subject.into(),
            message_id: mid.map(str::to_string),
            in_reply_to: irt.iter().map(|s| s.to_string()).collect(),
            references: refs.iter().map(|s| s.to_string()).collect(),
            recipient_candidates: to.iter().map(|s| s.to_string()).collect(),
            ..Inbound::default()
        }
    }

    /// A store that counts how it is asked, like one index shard read per lookup.
    struct Counting {
        ids: HashMap<String, u32>,
        single: std::cell::Cell<usize>,
        batches: std::cell::Cell<usize>,
        asked: std::cell::Cell<usize>,
    }

    impl Lookup for Counting {
        fn state(&self, id: u32) -> Option<State> {
            (id == 5).then_some(State::Open)
        }
        fn ticket_of(&self, mid: &str) -> Option<u32> {
            self.single.set(self.single.get() + 1);
            self.ids.get(mid).copied()
        }
        fn tickets_of_batch(&self, mids: &[&str]) -> Vec<Option<u32>> {
            self.batches.set(self.batches.get() + 1);
            self.asked.set(self.asked.get() + mids.len());
            mids.iter().map(|m| self.ids.get(*m).copied()).collect()
        }
    }

    #[test]
    fn fifty_thousand_references_cost_one_bounded_batch_lookup() {
        let cfg = crate::config::Config::parse("domain = \"example.org\"", Path::new("/"), None)
            .unwrap()
            .addresses;
        let refs: Vec<String> = (0..50_000).map(|i| format!("r{i}@x")).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        for (known, want) in [
            (
                "r49999@x",
                Route::Append {
                    id: 5,
                    state: State::Open,
                    why: Why::Thread,
                },
            ),
            (
                "r49900@x",
                Route::Append {
                    id: 5,
                    state: State::Open,
                    why: Why::Thread,
                },
            ),
            // Older than the newest MAX_REFERENCES: not looked at.
            ("r49899@x", Route::New),
            ("r0@x", Route::New),
            (
                "irt@x",
                Route::Append {
                    id: 5,
                    state: State::Open,
                    why: Why::Thread,
                },
            ),
        ] {
            let store = Counting {
                ids: HashMap::from([(known.to_string(), 5)]),
                single: Default::default(),
                batches: Default::default(),
                asked: Default::default(),
            };
            let m = msg("hello", Some("own@x"), &["irt@x"], &refs, &[]);
            assert_eq!(
                route(&cfg, &Target::Support, &m, &store).unwrap(),
                want,
                "{known}"
            );
            assert_eq!(store.single.get(), 0, "{known}: no lookup one id at a time");
            assert_eq!(
                store.batches.get(),
                1,
                "{known}: one batch (each shard read once)"
            );
            assert_eq!(store.asked.get(), 2 + MAX_REFERENCES, "{known}");
        }
    }

    #[test]
    fn routing_table() {
        let cfg = crate::config::Config::parse("domain = \"example.org\"", Path::new("/"), None)
            .unwrap()
            .addresses;
        let fake = Fake {
            tickets: HashMap::from([(1, State::Open), (2, State::Closed), (3, State::Open)]),
            ids: HashMap::from([
                ("known@x", 3),
                ("gone@x", 99),
                ("mailtix.1.ack.77@example.org", 1),
                ("known@x body=1", 3),
            ]),
        };
        use Route::*;
        let append = |id, state, why| Append { id, state, why };
        let s = Target::Support;
        let cases: Vec<(&str, Target, Inbound, Result<Route, u8>)> = vec![
            (
                "plain support mail opens a ticket",
                s.clone(),
                msg("hi", Some("new@x"), &[], &[], &[]),
                Ok(New),
            ),
            (
                "ticket address",
                Target::Ticket(1),
                msg("", None, &[], &[], &[]),
                Ok(append(1, State::Open, Why::Address)),
            ),
            (
                "ticket address, closed ticket",
                Target::Ticket(2),
                msg("", None, &[], &[], &[]),
                Ok(append(2, State::Closed, Why::Address)),
            ),
            (
                "ticket address, no such ticket",
                Target::Ticket(9),
                msg("", None, &[], &[], &[]),
                Err(67),
            ),
            (
                "no such ticket even when the Message-ID is stored",
                Target::Ticket(9),
                msg("", Some("known@x"), &[], &[], &[]),
                Err(67),
            ),
            (
                "reply address",
                Target::Reply(1, "00".into()),
                msg("", None, &[], &[], &[]),
                Ok(append(1, State::Open, Why::Reply)),
            ),
            (
                "reply address, no such ticket",
                Target::Reply(9, "00".into()),
                msg("", None, &[], &[], &[]),
                Err(67),
            ),
            (
                "close address",
                Target::Close(1, None),
                msg("", None, &[], &[], &[]),
                Ok(Close {
                    id: 1,
                    state: State::Open,
                    token: None,
                }),
            ),
            (
                "close address, no such ticket",
                Target::Close(7, None),
                msg("", None, &[], &[], &[]),
                Err(67),
            ),
            (
                "subject tag",
                s.clone(),
                msg("Re: [issue1] x", None, &[], &[], &[]),
                Ok(append(1, State::Open, Why::SubjectTag)),
            ),
            (
                "subject tag wins over references",
                s.clone(),
                msg("[Issue2]", None, &["known@x"], &[], &[]),
                Ok(append(2, State::Closed, Why::SubjectTag)),
            ),
            (
                "subject tag for a missing ticket is plain text",
                s.clone(),
                msg("[issue42]", None, &[], &[], &[]),
                Ok(New),
            ),
            (
                "a missing ticket's tag does not stop threading",
                s.clone(),
                msg("[issue42]", None, &["known@x"], &[], &[]),
                Ok(append(3, State::Open, Why::Thread)),
            ),
            (
                "malformed subject tag is ignored",
                s.clone(),
                msg("[issue01]", None, &[], &[], &[]),
                Ok(New),
            ),
            (
                "in-reply-to a stored message",
                s.clone(),
                msg("x", None, &["known@x"], &[], &[]),
                Ok(append(3, State::Open, Why::Thread)),
            ),
            (
                "references a stored message",
                s.clone(),
                msg("x", None, &[], &["a@b", "known@x"], &[]),
                Ok(append(3, State::Open, Why::Thread)),
            ),
            (
                "references one of our acks",
                s.clone(),
                msg("x", None, &[], &[ours(2, "ack.55", "example.org")], &[]),
                Ok(append(2, State::Closed, Why::Thread)),
            ),
            (
                "our ack id in another domain is not ours",
                s.clone(),
                msg("x", None, &[], &[ours(2, "ack.55", "evil.org")], &[]),
                Ok(New),
            ),
            (
                "an id in our shape that mailtix never made does not route",
                s.clone(),
                msg("x", None, &["mailtix.2.ack.55@example.org"], &[], &[]),
                Ok(New),
            ),
            (
                "nor one whose MAC is for another ticket",
                s.clone(),
                msg(
                    "x",
                    None,
                    &[],
                    &[&ours(2, "ack.55", "example.org").replacen(".2.", ".3.", 1)],
                    &[],
                ),
                Ok(New),
            ),
            (
                "an old id without a MAC still routes when the index knows it",
                s.clone(),
                msg("x", None, &["mailtix.1.ack.77@example.org"], &[], &[]),
                Ok(append(1, State::Open, Why::Thread)),
            ),
            (
                "index entry for a deleted ticket is ignored",
                s.clone(),
                msg("x", None, &["gone@x"], &[], &[]),
                Ok(New),
            ),
            (
                "a copy of a stored message finds its ticket",
                s.clone(),
                Inbound {
                    copy_key: Some("known@x body=1".into()),
                    ..msg("x", Some("mid@x"), &[], &[], &[])
                },
                Ok(append(3, State::Open, Why::Thread)),
            ),
            (
                "a reused Message-ID with another body is not a copy",
                s.clone(),
                Inbound {
                    copy_key: Some("known@x body=2".into()),
                    ..msg("x", Some("known@x"), &[], &[], &[])
                },
                Ok(New),
            ),
            (
                "a retry of a stored message finds its ticket",
                s.clone(),
                msg("x", Some("known@x"), &[], &[], &[]),
                Ok(append(3, State::Open, Why::Thread)),
            ),
            (
                "also addressed to a ticket",
                s.clone(),
                msg(
                    "x",
                    None,
                    &[],
                    &[],
                    &["support@example.org", "ticket-1@example.org"],
                ),
                Ok(append(1, State::Open, Why::AlsoAddressed)),
            ),
            (
                "subject text never threads",
                s.clone(),
                msg("Re: hi", None, &[], &[], &[]),
                Ok(New),
            ),
        ];
        assert!(!cases.is_empty());
        for (name, target, m, want) in cases {
            let got = route(&cfg, &target, &m, &fake).map_err(|e| e.exit_code());
            assert_eq!(got, want, "{name}");
        }
        let tag =
            |t: &Target, subject| dangling_tag(&cfg, t, &msg(subject, None, &[], &[], &[]), &fake);
        assert_eq!(tag(&s, "[issue42] hi"), Some(42));
        assert_eq!(tag(&s, "[issue1] hi"), None);
        assert_eq!(tag(&s, "hi"), None);
        assert_eq!(tag(&Target::Ticket(1), "[issue42] hi"), None);
    }
}
