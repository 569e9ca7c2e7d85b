//! Our addresses and ticket ids. Pure.
//!
//! Ticket ids reach file names, so they are parsed strictly: `^[1-9][0-9]{0,9}$` and
//! at most `u32::MAX`. `ticket-0012@`, `ticket--1@` and `ticket-../x@` are not ours.

/// Parses a ticket id strictly. Anything else is `None`.
pub fn parse_id(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 10 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<u32>().ok()
}

/// What a recipient address asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `support@`: a new ticket unless the mail belongs to one.
    Support,
    /// `ticket-N@`.
    Ticket(u32),
    /// `ticket-N-close@`, with the token part if the address had one.
    Close(u32, Option<String>),
    /// `ticket-N-bounce-MAC@`: the envelope sender of mail mailtix sent about N.
    Bounce(u32, String),
    /// `ticket-N-reply-TOKEN@`: the secret Reply-To of admin notices. An admin's mail
    /// to it is filed in N and, with `relay_admin_replies`, sent on to the requester.
    Reply(u32, String),
}

/// The fixed local-part word of bounce addresses.
pub const BOUNCE_WORD: &str = "-bounce-";
/// The fixed local-part word of reply addresses.
pub const REPLY_WORD: &str = "-reply-";

/// Hex tokens in addresses: lowercase or uppercase hex digits only, 1 to 64 of them.
fn is_hex_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits `local@domain`, lowercased. Angle brackets and blanks around it are dropped.
pub fn split(addr: &str) -> Option<(String, String)> {
    let a = addr
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let at = a.rfind('@')?;
    let (local, domain) = (&a[..at], &a[at + 1..]);
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some((local.to_ascii_lowercase(), domain.to_ascii_lowercase()))
}

/// Our domain and the shapes of our local parts, lowercased (but the tag): a small
/// value that routing gets instead of the whole config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub domain: String,
    /// The local part that opens tickets in the `support` queue.
    pub support: String,
    /// The local parts of the other queues: they open tickets too.
    pub queues: Vec<String>,
    /// `ticket-` in `ticket-12@`.
    pub ticket_prefix: String,
    /// `-close` in `ticket-12-close@`.
    pub close_suffix: String,
    /// `issue` in `[issue12]`.
    pub subject_tag: String,
}

impl Addresses {
    /// `ticket-N@DOMAIN`.
    pub fn ticket_address(&self, id: u32) -> String {
        format!("{}{id}@{}", self.ticket_prefix, self.domain)
    }

    /// `support@DOMAIN`.
    pub fn support_address(&self) -> String {
        format!("{}@{}", self.support, self.domain)
    }
}

/// Classifies an address. `None`: not one of ours.
pub fn target(cfg: &Addresses, addr: &str) -> Option<Target> {
    let (local, domain) = split(addr)?;
    if domain != cfg.domain {
        return None;
    }
    // A queue's address works as support@ does; its queue is the recipient's
    // (`queue::of_recipient`).
    if local == cfg.support || cfg.queues.contains(&local) {
        return Some(Target::Support);
    }
    let rest = local.strip_prefix(&cfg.ticket_prefix)?;
    if let Some(id) = parse_id(rest) {
        return Some(Target::Ticket(id));
    }
    // ticket-N-bounce-MAC@
    if let Some(pos) = rest.find(BOUNCE_WORD) {
        let id = parse_id(&rest[..pos])?;
        let mac = &rest[pos + BOUNCE_WORD.len()..];
        return is_hex_token(mac).then(|| Target::Bounce(id, mac.to_string()));
    }
    // ticket-N-reply-TOKEN@
    if let Some(pos) = rest.find(REPLY_WORD) {
        let id = parse_id(&rest[..pos])?;
        let token = &rest[pos + REPLY_WORD.len()..];
        return is_hex_token(token).then(|| Target::Reply(id, token.to_string()));
    }
    // ticket-N-close@ or ticket-N-close-TOKEN@
    let pos = rest.find(&cfg.close_suffix)?;
    let id = parse_id(&rest[..pos])?;
    let after = &rest[pos + cfg.close_suffix.len()..];
    if after.is_empty() {
        return Some(Target::Close(id, None));
    }
    let token = after.strip_prefix('-')?;
    is_hex_token(token).then(|| Target::Close(id, Some(token.to_string())))
}

/// Like [`target`], but also takes `ticket-N-close-X@` and `ticket-N-bounce-X@` whose
/// token X is malformed, for a ticket id that is well formed. Such mail has already
/// been accepted by the MTA when deliver sees it, and bouncing it would answer a sender
/// that is usually forged: the close is filed as refused, the bounce discarded.
pub fn target_accepted(cfg: &Addresses, addr: &str) -> Option<Target> {
    if let Some(t) = target(cfg, addr) {
        return Some(t);
    }
    let (local, domain) = split(addr)?;
    if domain != cfg.domain {
        return None;
    }
    let rest = local.strip_prefix(&cfg.ticket_prefix)?;
    if let Some(pos) = rest.find(BOUNCE_WORD)
        && let Some(id) = parse_id(&rest[..pos])
    {
        return Some(Target::Bounce(
            id,
            rest[pos + BOUNCE_WORD.len()..].to_string(),
        ));
    }
    let close = format!("{}-", cfg.close_suffix);
    let pos = rest.find(&close)?;
    let id = parse_id(&rest[..pos])?;
    Some(Target::Close(
        id,
        Some(rest[pos + close.len()..].to_string()),
    ))
}

/// True for a token of the shape mailtix issues: 16 hex digits.
pub fn is_token_shape(t: &str) -> bool {
    t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Finds `[TAGn]` in a subject (any case) and returns n, parsed strictly.
pub fn subject_tag(tag: &str, subject: &str) -> Option<u32> {
    subject_tag_scan(tag, subject).0
}

/// `subject_tag`, and how many bytes after tag words it looked at. An id is at most 10
/// digits and then `]`, so only that far after each `[tag` is looked at: a Subject
/// full of `[issue` costs linear time, not a search to the end from every one.
fn subject_tag_scan(tag: &str, subject: &str) -> (Option<u32>, usize) {
    let lower = subject.to_ascii_lowercase();
    let needle = format!("[{}", tag.to_ascii_lowercase());
    let bytes = lower.as_bytes();
    let mut examined = 0;
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let start = from + pos + needle.len();
        let window = &bytes[start..bytes.len().min(start + 11)];
        examined += window.len();
        if let Some(end) = window.iter().position(|&b| b == b']')
            && let Some(id) = std::str::from_utf8(&window[..end]).ok().and_then(parse_id)
        {
            return (Some(id), examined);
        }
        from = start;
    }
    (None, examined)
}

/// True when `addr` is in our domain.
pub fn in_domain(cfg: &Addresses, addr: &str) -> bool {
    split(addr).is_some_and(|(_, d)| d == cfg.domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Addresses {
        crate::config::Config::parse("domain = \"Example.org\"", Path::new("/"), None)
            .unwrap()
            .addresses
    }

    #[test]
    fn ids_are_strict() {
        for (s, want) in [
            ("1", Some(1)),
            ("12", Some(12)),
            ("4294967295", Some(u32::MAX)),
            ("4294967296", None),
            ("0", None),
            ("012", None),
            ("-1", None),
            ("+1", None),
            ("1 ", None),
            ("../x", None),
            ("12/../../etc", None),
            ("", None),
            ("12345678901", None),
            ("1\0", None),
            ("١", None),
        ] {
            assert_eq!(parse_id(s), want, "{s:?}");
        }
    }

    #[test]
    fn targets() {
        let c = cfg();
        for (addr, want) in [
            ("support@example.org", Some(Target::Support)),
            ("SUPPORT@EXAMPLE.ORG", Some(Target::Support)),
            ("<support@example.org>", Some(Target::Support)),
            ("ticket-12@example.org", Some(Target::Ticket(12))),
            ("Ticket-12-Close@example.org", Some(Target::Close(12, None))),
            (
                "ticket-12-close-00ab@example.org",
                Some(Target::Close(12, Some("00ab".into()))),
            ),
            ("ticket-12-close-@example.org", None),
            (
                "ticket-12-bounce-00ff@example.org",
                Some(Target::Bounce(12, "00ff".into())),
            ),
            ("ticket-12-bounce-@example.org", None),
            ("ticket-12-bounce-xyz@example.org", None),
            ("ticket-012-bounce-00ff@example.org", None),
            ("ticket-12-close-zz@example.org", None),
            ("ticket-12-reopen@example.org", None),
            (
                "Ticket-12-Reply-00AB@example.org",
                Some(Target::Reply(12, "00ab".into())),
            ),
            ("ticket-12-reply-@example.org", None),
            ("ticket-12-reply@example.org", None),
            ("ticket-12-reply-zz@example.org", None),
            ("ticket-012-reply-00ab@example.org", None),
            ("ticket-0012@example.org", None),
            ("ticket--1@example.org", None),
            ("ticket-../x@example.org", None),
            ("ticket-12/../../etc@example.org", None),
            ("ticket-99999999999999999999@example.org", None),
            ("ticket-1\0@example.org", None),
            ("ticket-12@other.org", None),
            ("support@other.org", None),
            ("someone@example.org", None),
            ("support", None),
            ("", None),
        ] {
            assert_eq!(target(&c, addr), want, "{addr:?}");
        }
    }

    #[test]
    fn accepted_targets_keep_malformed_tokens_of_real_ids() {
        let c = cfg();
        for (addr, want) in [
            ("ticket-12@example.org", Some(Target::Ticket(12))),
            (
                "ticket-12-close-zz@example.org",
                Some(Target::Close(12, Some("zz".into()))),
            ),
            (
                "ticket-12-close-@example.org",
                Some(Target::Close(12, Some(String::new()))),
            ),
            (
                "ticket-12-bounce-xyz@example.org",
                Some(Target::Bounce(12, "xyz".into())),
            ),
            ("ticket-012-bounce-00ff@example.org", None),
            ("ticket-x-close-00@example.org", None),
            ("ticket-12-reopen@example.org", None),
            ("ticket-12-close-zz@other.org", None),
        ] {
            assert_eq!(target_accepted(&c, addr), want, "{addr:?}");
        }
        assert!(is_token_shape("0123456789abcdef"));
        assert!(!is_token_shape("0123456789abcde"));
        assert!(!is_token_shape("0123456789abcdeg"));
    }

    #[test]
    fn subject_tags() {
        for (s, want) in [
            ("Re: [issue12] printer", Some(12)),
            ("[ISSUE7]", Some(7)),
            ("[issue../../x] hi", None),
            ("[issue012] hi", None),
            ("[issue] [issue3]", Some(3)),
            ("issue12", None),
            ("[issue12", None),
            ("Привет [issue5]", Some(5)),
            ("[issue4294967295]", Some(4_294_967_295)),
            ("[issue42949672950]", None),
            ("[issue1Привет]", None),
        ] {
            assert_eq!(subject_tag("issue", s), want, "{s:?}");
        }
    }

    #[test]
    fn a_subject_full_of_tag_words_is_read_in_linear_time() {
        // 2 MB of `[issue` and no `]` until the very end: each tag word may look at
        // no more than the 11 bytes an id and its `]` can take.
        let n = 2 * 1024 * 1024 / 6;
        let subject = format!("{}[issue7]", "[issue".repeat(n));
        let (id, examined) = subject_tag_scan("issue", &subject);
        assert_eq!(id, Some(7));
        assert!(examined <= 11 * (n + 1), "{examined} bytes looked at");
    }
}
