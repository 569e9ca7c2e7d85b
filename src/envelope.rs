//! Who a message is for and who sent it, as Exim and the command line say: the
//! envelope recipient (which of our addresses, so which ticket or queue) and the
//! envelope sender (an address, a bounce's empty one, or unknown). Pure.

use crate::address::{self, Target};
use crate::config::Config;
use crate::error::DeliverError;
use crate::inbound::Inbound;
use std::collections::HashMap;

/// The envelope sender as Exim gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sender {
    /// A non-empty return path.
    Address(String),
    /// `SENDER` was set and empty: the mail is a bounce.
    Null,
    /// Nobody said (a message piped by hand without a Return-Path).
    Unknown,
}

impl Sender {
    pub(crate) fn address(&self) -> Option<&str> {
        match self {
            Sender::Address(a) => Some(a),
            _ => None,
        }
    }
}

/// What the command line and Exim's environment say about the envelope.
#[derive(Debug, Default, Clone)]
pub(crate) struct EnvelopeInput {
    pub recipient: Option<String>,
    pub sender: Option<String>,
}

/// Resolves the envelope recipient: flag, `$RECIPIENT`, `$LOCAL_PART@$DOMAIN`, then
/// the first of Delivered-To, X-Original-To, Envelope-To, To and Cc that is ours.
pub(crate) fn recipient(
    cfg: &Config,
    input: &EnvelopeInput,
    env: &HashMap<String, String>,
    msg: &Inbound,
) -> Result<(String, Target), DeliverError> {
    let given = input
        .recipient
        .clone()
        .or_else(|| env.get("RECIPIENT").cloned())
        .filter(|r| !r.trim().is_empty())
        .or_else(|| match (env.get("LOCAL_PART"), env.get("DOMAIN")) {
            (Some(l), Some(d)) if !l.is_empty() && !d.is_empty() => Some(format!("{l}@{d}")),
            _ => None,
        });
    if let Some(r) = given {
        return match address::target_accepted(&cfg.addresses, &r) {
            Some(t) => Ok((r, t)),
            None => Err(DeliverError::NotOurs(crate::headers::clean(&r))),
        };
    }
    msg.recipient_candidates
        .iter()
        .find_map(|a| address::target(&cfg.addresses, a).map(|t| (a.clone(), t)))
        .ok_or_else(|| {
            DeliverError::NotOurs(
                "the message (no --recipient, no $RECIPIENT, and no header names one of our addresses)"
                    .into(),
            )
        })
}

/// Resolves the envelope sender: flag, `$SENDER` (empty: a bounce), Return-Path.
pub(crate) fn sender(
    input: &EnvelopeInput,
    env: &HashMap<String, String>,
    msg: &Inbound,
) -> Sender {
    let pick = |s: &str| {
        let s = s
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if s.is_empty() {
            Sender::Null
        } else {
            Sender::Address(s.to_string())
        }
    };
    if let Some(s) = &input.sender {
        return pick(s);
    }
    if let Some(s) = env.get("SENDER") {
        return pick(s);
    }
    match &msg.return_path {
        Some(rp) => pick(rp),
        None => Sender::Unknown,
    }
}
