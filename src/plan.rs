//! What mailtix does after a message is committed: which acknowledgement, admin notice,
//! relay, close notice, bounce record and hook happen, and what the log line says.
//! A pure function of the facts ([`plan`]); deliver.rs gathers the facts and carries
//! the effects out. The table test at the bottom has one row per rule of README's
//! "Mail mailtix will never send".

use crate::inbound::Mailbox;
use crate::notify::NoticeKind;
use crate::route::Why;
use crate::store::Action;

/// The committed result, before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Committed {
    New { id: u32, previous: Option<u32> },
    Appended { id: u32, reopened: bool },
    Closed { id: u32, refused: Option<String> },
    Bounce(u32),
    Duplicate(u32),
}

impl Committed {
    /// The ticket and what the log calls the event.
    pub(crate) fn action(&self) -> (u32, Action) {
        match self {
            Committed::Duplicate(id) => (*id, Action::Duplicate),
            Committed::New { id, .. } => (*id, Action::New),
            Committed::Appended { id, reopened: true } => (*id, Action::Reopen),
            Committed::Appended { id, .. } => (*id, Action::Followup),
            Committed::Closed { id, refused: None } => (*id, Action::Close),
            Committed::Closed { id, .. } => (*id, Action::CloseRefused),
            Committed::Bounce(id) => (*id, Action::Bounce),
        }
    }
}

/// Whether the submitter of a new ticket may have an acknowledgement. deliver works it
/// out only for new tickets, because taking one uses up the hourly allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Allowed, and counted: send it to this mailbox.
    Granted(Mailbox),
    /// Not to this sender at all: automatic mail, our own domain, no address.
    NotWanted(String),
    /// Held back from a real person: a hard-bouncing address or a full hourly cap.
    /// The admins' notice says why.
    HeldBack(String),
    /// The allowance could not be read or written.
    Failed(String),
}

/// Everything the plan depends on.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    pub committed: &'a Committed,
    /// Why the mail is automatic (a bounce, a vacation reply, a list ...), if it is.
    pub automatic: Option<&'a str>,
    /// The envelope sender or From is an admin, or the mail is our own.
    pub from_admin: bool,
    /// The mail came to the ticket's secret reply address.
    pub to_reply_address: bool,
    /// How an appended message found its ticket.
    pub why: Option<Why>,
    /// `[TAGn]` in the Subject of mail to support@ that named no ticket: (tag, n).
    pub dangling_tag: Option<(&'a str, u32)>,
    /// Another ticket holds a message with this Message-ID (and another body).
    pub reused_in: Option<u32>,
    pub notify_on_close: bool,
    /// For a new ticket only.
    pub ack: Option<&'a Ack>,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A line for the log's detail.
    Note(String),
    /// The acknowledgement to the submitter.
    Ack {
        to: Mailbox,
        tag_note: Option<String>,
    },
    /// Try to relay an admin's answer to the requester (the relay's own checks decide).
    /// Its result, when it has one, is the admins' notice; otherwise `otherwise` is.
    Relay {
        reopened: bool,
        otherwise: Option<(NoticeKind, Option<String>)>,
    },
    /// The notice to the admins.
    Notice(NoticeKind, Option<String>),
    /// The close notice to the requester.
    CloseNotice,
    /// Record the failed recipients of a bounce.
    RecordBounces,
    /// Run the hooks of this event.
    Hook(Action),
}

/// What to do after `f.committed`.
pub(crate) fn plan(f: &Facts<'_>) -> Vec<Effect> {
    let mut out = Vec::new();
    let note = |out: &mut Vec<Effect>, s: String| out.push(Effect::Note(s));
    if let Committed::New {
        previous: Some(old),
        ..
    } = f.committed
    {
        note(
            &mut out,
            format!("ticket {old} was closed too long ago to reopen"),
        );
    }
    match f.why {
        Some(Why::SubjectTag) => note(&mut out, "matched by the subject tag".into()),
        Some(Why::Thread) => note(&mut out, "matched by In-Reply-To/References".into()),
        Some(Why::AlsoAddressed) => note(&mut out, "also addressed to the ticket".into()),
        Some(Why::Address | Why::Reply) | None => {}
    }
    if let Some(a) = f.automatic {
        note(&mut out, format!("automatic: {a}"));
    }
    if let (false, Some(other)) = (matches!(f.committed, Committed::Duplicate(_)), f.reused_in) {
        note(
            &mut out,
            format!(
                "ticket {other} also holds a message with this Message-ID; a duplicate needs the same body too"
            ),
        );
    }
    match f.committed {
        Committed::Duplicate(_) => {}
        Committed::New { .. } => {
            let tag_note = f.dangling_tag.map(|(tag, n)| {
                format!("[{tag}{n}] in the subject named no ticket, so this is a new one")
            });
            let mut detail = f.automatic.map(|a| format!("no acknowledgement: {a}"));
            match f.ack {
                Some(Ack::Granted(to)) => out.push(Effect::Ack {
                    to: to.clone(),
                    tag_note: tag_note.clone(),
                }),
                Some(Ack::NotWanted(why)) => note(&mut out, format!("no ack ({why})")),
                Some(Ack::HeldBack(why)) => {
                    note(&mut out, format!("no ack ({why})"));
                    detail = Some(format!("no acknowledgement: {why}"));
                }
                Some(Ack::Failed(e)) => note(&mut out, format!("no ack (ack limit state: {e})")),
                None => {}
            }
            if let Some(t) = tag_note {
                note(&mut out, t.clone());
                detail = Some(match detail {
                    Some(d) => format!("{t}; {d}"),
                    None => t,
                });
            }
            out.push(Effect::Notice(NoticeKind::New, detail));
        }
        Committed::Appended { reopened, .. } => {
            let notice = if *reopened {
                Some((NoticeKind::Reopened, None))
            } else if f.automatic.is_none() && !f.from_admin {
                Some((NoticeKind::Followup, None))
            } else {
                None
            };
            // Only mail to the secret reply address is ever relayed; plain ticket-N@
            // mail is filed, whoever it claims to come from.
            if f.to_reply_address {
                out.push(Effect::Relay {
                    reopened: *reopened,
                    otherwise: notice,
                });
            } else if let Some((kind, detail)) = notice {
                out.push(Effect::Notice(kind, detail));
            }
        }
        Committed::Closed { refused: None, .. } => {
            if f.notify_on_close {
                out.push(Effect::CloseNotice);
            }
        }
        Committed::Closed {
            refused: Some(why), ..
        } => {
            note(&mut out, format!("close refused: {why}"));
            out.push(Effect::Notice(NoticeKind::RefusedClose, Some(why.clone())));
        }
        Committed::Bounce(_) => out.push(Effect::RecordBounces),
    }
    let (_, action) = f.committed.action();
    if Action::HOOKED.contains(&action) {
        out.push(Effect::Hook(action));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Mailbox {
        Mailbox {
            name: None,
            addr: "ann@customer.example".into(),
        }
    }

    /// The kinds of effect, without their text: what a row of the table promises.
    fn kinds(effects: &[Effect]) -> Vec<&'static str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Note(_) => None,
                Effect::Ack { .. } => Some("ack"),
                Effect::Relay { .. } => Some("relay"),
                Effect::Notice(NoticeKind::New, _) => Some("notice:new"),
                Effect::Notice(NoticeKind::Followup, _) => Some("notice:followup"),
                Effect::Notice(NoticeKind::Reopened, _) => Some("notice:reopened"),
                Effect::Notice(NoticeKind::RefusedClose, _) => Some("notice:refused-close"),
                Effect::Notice(_, _) => Some("notice:other"),
                Effect::CloseNotice => Some("close-notice"),
                Effect::RecordBounces => Some("record-bounces"),
                Effect::Hook(_) => Some("hook"),
            })
            .collect()
    }

    /// One row per rule of README's "Mail mailtix will never send" (and the cases
    /// around them): the facts, and exactly what happens.
    #[test]
    fn the_never_send_table() {
        let new = Committed::New {
            id: 1,
            previous: None,
        };
        let followup = Committed::Appended {
            id: 1,
            reopened: false,
        };
        let reopened = Committed::Appended {
            id: 1,
            reopened: true,
        };
        let closed = Committed::Closed {
            id: 1,
            refused: None,
        };
        let refused = Committed::Closed {
            id: 1,
            refused: Some("not an admin".into()),
        };
        let bounce = Committed::Bounce(1);
        let duplicate = Committed::Duplicate(1);
        let granted = Ack::Granted(ann());
        let capped =
            Ack::HeldBack("ann@customer.example already had 5 acknowledgements this hour".into());
        let bouncing = Ack::HeldBack("ann@customer.example has bounced 1 time(s)".into());
        let automatic = Ack::NotWanted("Auto-Submitted: auto-replied".into());
        let own_domain = Ack::NotWanted("the sender is in our own domain".into());
        let base = Facts {
            committed: &new,
            automatic: None,
            from_admin: false,
            to_reply_address: false,
            why: None,
            dangling_tag: None,
            reused_in: None,
            notify_on_close: false,
            ack: None,
        };
        let rows: Vec<(&str, Facts<'_>, Vec<&str>)> = vec![
            (
                "a new ticket from a person: one ack, one notice",
                Facts {
                    ack: Some(&granted),
                    ..base.clone()
                },
                vec!["ack", "notice:new", "hook"],
            ),
            (
                "no ack for a follow-up, only the admins hear of it",
                Facts {
                    committed: &followup,
                    why: Some(Why::Address),
                    ..base.clone()
                },
                vec!["notice:followup", "hook"],
            ),
            (
                "no ack past the caps (per mailbox, per store hour)",
                Facts {
                    ack: Some(&capped),
                    ..base.clone()
                },
                vec!["notice:new", "hook"],
            ),
            (
                "no ack to an address that hard-bounces",
                Facts {
                    ack: Some(&bouncing),
                    ..base.clone()
                },
                vec!["notice:new", "hook"],
            ),
            (
                "nothing to automatic or bulk mail: no ack",
                Facts {
                    automatic: Some("Auto-Submitted: auto-replied"),
                    ack: Some(&automatic),
                    ..base.clone()
                },
                vec!["notice:new", "hook"],
            ),
            (
                "nothing to automatic mail: a follow-up that is automatic tells nobody",
                Facts {
                    committed: &followup,
                    automatic: Some("Precedence: bulk"),
                    ..base.clone()
                },
                vec!["hook"],
            ),
            (
                "nothing to senders in our own domain",
                Facts {
                    ack: Some(&own_domain),
                    ..base.clone()
                },
                vec!["notice:new", "hook"],
            ),
            (
                "nothing in answer to a bounce: it is recorded, nothing is sent",
                Facts {
                    committed: &bounce,
                    automatic: Some("a delivery report"),
                    ..base.clone()
                },
                vec!["record-bounces", "hook"],
            ),
            (
                "no bounce for a refused close: filed, and the admins are told",
                Facts {
                    committed: &refused,
                    ..base.clone()
                },
                vec!["notice:refused-close"],
            ),
            (
                "no relaying of mail to plain ticket-N@, even from an admin",
                Facts {
                    committed: &followup,
                    from_admin: true,
                    why: Some(Why::Address),
                    ..base.clone()
                },
                vec!["hook"],
            ),
            (
                "a relay is tried only for mail to the secret reply address",
                Facts {
                    committed: &followup,
                    from_admin: true,
                    to_reply_address: true,
                    why: Some(Why::Reply),
                    ..base.clone()
                },
                vec!["relay", "hook"],
            ),
            (
                "no close notice unless notify_on_close",
                Facts {
                    committed: &closed,
                    ..base.clone()
                },
                vec!["hook"],
            ),
            (
                "a close notice with notify_on_close",
                Facts {
                    committed: &closed,
                    notify_on_close: true,
                    ..base.clone()
                },
                vec!["close-notice", "hook"],
            ),
            (
                "mail to a closed ticket reopens it and the admins are told",
                Facts {
                    committed: &reopened,
                    ..base.clone()
                },
                vec!["notice:reopened", "hook"],
            ),
            (
                "a duplicate (Exim's retry of a stored message) sends nothing",
                Facts {
                    committed: &duplicate,
                    ack: Some(&granted),
                    ..base.clone()
                },
                vec![],
            ),
        ];
        for (rule, facts, want) in &rows {
            assert_eq!(kinds(&plan(facts)), *want, "{rule}");
        }
    }

    #[test]
    fn the_log_notes_say_why_no_ack_and_how_a_ticket_was_found() {
        let new = Committed::New {
            id: 3,
            previous: Some(2),
        };
        let capped = Ack::HeldBack("100 acknowledgements already went out this hour".into());
        let f = Facts {
            committed: &new,
            automatic: None,
            from_admin: false,
            to_reply_address: false,
            why: None,
            dangling_tag: Some(("issue", 9)),
            reused_in: Some(5),
            notify_on_close: false,
            ack: Some(&capped),
        };
        let effects = plan(&f);
        let notes: Vec<&str> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Note(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            notes,
            [
                "ticket 2 was closed too long ago to reopen",
                "ticket 5 also holds a message with this Message-ID; a duplicate needs the same body too",
                "no ack (100 acknowledgements already went out this hour)",
                "[issue9] in the subject named no ticket, so this is a new one",
            ]
        );
        assert!(effects.contains(&Effect::Notice(
            NoticeKind::New,
            Some("[issue9] in the subject named no ticket, so this is a new one; no acknowledgement: 100 acknowledgements already went out this hour".into())
        )));
        let reply = Committed::Appended {
            id: 3,
            reopened: true,
        };
        let f = Facts {
            committed: &reply,
            to_reply_address: true,
            why: Some(Why::Reply),
            ..f
        };
        assert!(plan(&f).contains(&Effect::Relay {
            reopened: true,
            otherwise: Some((NoticeKind::Reopened, None)),
        }));
    }
}
