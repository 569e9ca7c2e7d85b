//! Who gets mail and who may close: pure decisions over the envelope and the headers.

use crate::address;
use crate::config::Config;
use crate::envelope::Sender;
use crate::inbound::{Inbound, Mailbox};
use crate::token::{self, token_matches};

/// Local parts that belong to machines, not people (RFC 3834 §2 and common practice):
/// `post_master` (Verizon's), list servers' `*-admin` (fml), and the no-reply family
/// with a prefix or a suffix (`gmail-noreply`, `noreply-alerts`, `billing-no-reply`).
fn is_machine_local_part(local: &str) -> bool {
    const NO_REPLY: &[&str] = &[
        "noreply",
        "no-reply",
        "no_reply",
        "do-not-reply",
        "donotreply",
    ];
    matches!(local, "mailer-daemon" | "postmaster" | "post_master")
        || NO_REPLY.iter().any(|w| {
            local == *w
                || local.ends_with(&format!("-{w}"))
                || local.ends_with(&format!("_{w}"))
                || local.starts_with(&format!("{w}-"))
                || local.starts_with(&format!("{w}_"))
                || local.starts_with(&format!("{w}+"))
        })
        || local.ends_with("-request")
        || local.ends_with("-admin")
        || local.starts_with("owner-")
        || local.starts_with("bounce")
}

/// Why this mail is automatic or bulk, if it is. Such mail is filed but never answered,
/// never reopens a ticket, and never sends the admin a follow-up notice.
pub(crate) fn automatic(sender: &Sender, msg: &Inbound) -> Option<String> {
    if *sender == Sender::Null {
        return Some("a bounce (empty envelope sender)".into());
    }
    if let Some(reason) = &msg.auto_reason {
        return Some(reason.clone());
    }
    let addrs = sender
        .address()
        .into_iter()
        .chain(msg.from.as_ref().map(|m| m.addr.as_str()));
    for a in addrs {
        if let Some((local, _)) = address::split(a)
            && is_machine_local_part(&local)
        {
            return Some(format!("sent by {a}"));
        }
    }
    None
}

/// True when the mail comes from one of our own addresses (ticket-N@, support@, the
/// maintainer replying through a ticket address).
pub(crate) fn from_ourselves(cfg: &Config, msg: &Inbound) -> bool {
    msg.from
        .as_ref()
        .is_some_and(|m| address::target(&cfg.addresses, &m.addr).is_some())
}

/// Where the acknowledgement of a new ticket goes, or why none goes out.
pub(crate) fn ack_recipient(
    cfg: &Config,
    sender: &Sender,
    msg: &Inbound,
) -> Result<Mailbox, String> {
    if let Some(why) = automatic(sender, msg) {
        return Err(why);
    }
    if !cfg.queue_ack {
        return Err(format!("queue {} has ack = false", cfg.queue));
    }
    let to = msg
        .reply_to
        .clone()
        .or_else(|| msg.from.clone())
        .ok_or_else(|| "no From or Reply-To address".to_string())?;
    if address::split(&to.addr).is_none() {
        return Err(format!("{:?} is not an address", to.addr));
    }
    for a in sender.address().into_iter().chain([to.addr.as_str()]) {
        if address::in_domain(&cfg.addresses, a) {
            return Err(format!("{a} is in our own domain"));
        }
    }
    Ok(to)
}

/// The envelope sender of mail about ticket N: `ticket-N-bounce-MAC@DOMAIN`.
pub(crate) fn bounce_address(cfg: &Config, secret: &[u8], id: u32) -> String {
    format!(
        "{}{id}{}{}@{}",
        cfg.addresses.ticket_prefix,
        crate::address::BOUNCE_WORD,
        token::token(secret, "bounce", id),
        cfg.addresses.domain
    )
}

/// Ticket N's reply address, `ticket-N-reply-TOKEN@DOMAIN`: the Reply-To of admin
/// notices, and the only address whose mail is relayed to the requester.
pub(crate) fn reply_address(cfg: &Config, secret: &[u8], id: u32) -> String {
    format!(
        "{}{id}{}{}@{}",
        cfg.addresses.ticket_prefix,
        crate::address::REPLY_WORD,
        token::token(secret, "reply", id),
        cfg.addresses.domain
    )
}

/// May this mail close ticket `id`? Both the envelope sender and the From address must
/// be admins; with `close_token` on, the address must also carry the ticket's token.
pub(crate) fn may_close(
    cfg: &Config,
    id: u32,
    sender: &Sender,
    msg: &Inbound,
    token: Option<&str>,
    secret: Option<&[u8]>,
) -> Result<(), String> {
    let env = sender.address().unwrap_or("");
    if !cfg.is_admin(env) {
        return Err(format!(
            "envelope sender {:?} is not an admin",
            if env.is_empty() { "<>" } else { env }
        ));
    }
    // Readers disagree about which of two From fields is the author, so mail with more
    // than one is taken for a forgery, whichever of them names an admin.
    if msg.from_fields > 1 {
        return Err(format!(
            "the mail has {} From fields (a sign of forgery)",
            msg.from_fields
        ));
    }
    let from = msg.from.as_ref().map(|m| m.addr.as_str()).unwrap_or("");
    if !cfg.is_admin(from) {
        return Err(format!("From {from:?} is not an admin"));
    }
    if cfg.close_token {
        let secret = secret.ok_or("no close secret in the store")?;
        match token {
            Some(t) if token_matches(secret, "close", id, t) => {}
            Some(_) => return Err("the close address has a wrong token".into()),
            None => return Err("the close address has no token (close_token is on)".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::*;
    use std::path::Path;

    fn cfg(extra: &str) -> Config {
        Config::parse(
            &format!("domain = \"example.org\"\nadmins = [\"boss@admin.net\"]\n{extra}"),
            Path::new("/"),
            None,
        )
        .unwrap()
    }

    fn from(addr: &str) -> Inbound {
        Inbound {
            from: Some(Mailbox {
                name: None,
                addr: addr.into(),
            }),
            ..Inbound::default()
        }
    }

    #[test]
    fn acks_go_to_people_outside_our_domain() {
        let c = cfg("");
        let person = Sender::Address("ann@x.com".into());
        assert_eq!(
            ack_recipient(&c, &person, &from("ann@x.com")).unwrap().addr,
            "ann@x.com"
        );
        let mut rt = from("ann@x.com");
        rt.reply_to = Some(Mailbox {
            name: None,
            addr: "ann@home.com".into(),
        });
        assert_eq!(
            ack_recipient(&c, &person, &rt).unwrap().addr,
            "ann@home.com"
        );
        for (sender, m) in [
            (Sender::Null, from("ann@x.com")),
            (
                Sender::Address("MAILER-DAEMON@x.com".into()),
                from("ann@x.com"),
            ),
            (person.clone(), from("postmaster@x.com")),
            (person.clone(), from("ticket-4@example.org")),
            (Sender::Address("me@Example.org".into()), from("ann@x.com")),
            (person.clone(), Inbound::default()),
            (
                person.clone(),
                Inbound {
                    auto_reason: Some("List-Id header".into()),
                    ..from("ann@x.com")
                },
            ),
        ] {
            assert!(ack_recipient(&c, &sender, &m).is_err(), "{sender:?} {m:?}");
        }
    }

    #[test]
    fn machine_senders_are_recognised() {
        for (local, machine) in [
            ("post_master", true),
            ("postmaster", true),
            ("neko-admin", true),
            ("gmail-noreply", true),
            ("noreply-alerts", true),
            ("billing-no-reply", true),
            ("no_reply", true),
            ("do-not-reply-x", true),
            ("noreply+bounces", true),
            ("admin", false),
            ("sysadmin", false),
            ("admin-team", false),
            ("noreplyguy", false),
            ("ann", false),
        ] {
            assert_eq!(is_machine_local_part(local), machine, "{local}");
        }
    }

    #[test]
    fn only_admins_close_and_both_addresses_count() {
        let c = cfg("");
        let boss = Sender::Address("Boss@admin.net".into());
        assert!(may_close(&c, 1, &boss, &from("boss@ADMIN.net"), None, None).is_ok());
        let forged = Sender::Address("evil@x.com".into());
        assert!(may_close(&c, 1, &forged, &from("boss@admin.net"), None, None).is_err());
        assert!(may_close(&c, 1, &boss, &from("evil@x.com"), None, None).is_err());
        assert!(may_close(&c, 1, &Sender::Null, &from("boss@admin.net"), None, None).is_err());
        assert!(may_close(&c, 1, &Sender::Unknown, &from("boss@admin.net"), None, None).is_err());
    }

    #[test]
    fn a_second_from_field_is_a_forgery() {
        let c = cfg("");
        let boss = Sender::Address("boss@admin.net".into());
        let two = Inbound {
            from_fields: 2,
            ..from("boss@admin.net")
        };
        let err = may_close(&c, 1, &boss, &two, None, None).unwrap_err();
        assert!(err.contains("2 From fields"), "{err}");
        let one = Inbound {
            from_fields: 1,
            ..from("boss@admin.net")
        };
        assert!(may_close(&c, 1, &boss, &one, None, None).is_ok());
    }

    #[test]
    fn tokens_bind_the_ticket() {
        let c = cfg("close_token = true");
        let boss = Sender::Address("boss@admin.net".into());
        let m = from("boss@admin.net");
        let secret = b"s3cret";
        let t5 = close_token(secret, 5);
        assert_eq!(t5.len(), 16);
        assert!(may_close(&c, 5, &boss, &m, Some(&t5), Some(secret)).is_ok());
        assert!(may_close(&c, 6, &boss, &m, Some(&t5), Some(secret)).is_err());
        assert!(may_close(&c, 5, &boss, &m, None, Some(secret)).is_err());
        assert!(may_close(&c, 5, &boss, &m, Some("0000000000000000"), Some(secret)).is_err());
        assert!(may_close(&c, 5, &boss, &m, Some(&t5), Some(b"other")).is_err());
    }

    #[test]
    fn bounce_addresses_verify_and_differ_from_close_tokens() {
        let c = cfg("");
        let a = bounce_address(&c, b"key", 7);
        let mac = a
            .strip_prefix("ticket-7-bounce-")
            .unwrap()
            .strip_suffix("@example.org")
            .unwrap();
        assert!(bounce_mac_matches(b"key", 7, mac));
        assert!(bounce_mac_matches(b"key", 7, &mac.to_ascii_uppercase()));
        assert!(!bounce_mac_matches(b"key", 8, mac));
        assert!(!bounce_mac_matches(b"other", 7, mac));
        assert_ne!(mac, close_token(b"key", 7));
    }

    #[test]
    fn reply_addresses_verify_and_differ_from_the_other_tokens() {
        let c = cfg("");
        let a = reply_address(&c, b"key", 7);
        let t = a
            .strip_prefix("ticket-7-reply-")
            .unwrap()
            .strip_suffix("@example.org")
            .unwrap();
        assert_eq!(
            crate::address::target(&c.addresses, &a),
            Some(crate::address::Target::Reply(7, t.into()))
        );
        assert!(reply_token_matches(b"key", 7, t));
        assert!(!reply_token_matches(b"key", 8, t));
        assert!(!reply_token_matches(b"other", 7, t));
        assert!(!reply_token_matches(b"key", 7, &t[..15]));
        assert_ne!(t, close_token(b"key", 7));
        assert!(!bounce_mac_matches(b"key", 7, t));
    }
}
