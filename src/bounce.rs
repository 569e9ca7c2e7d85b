//! Bounces of the mail mailtix sends. Pure.
//!
//! Every mail mailtix sends has the envelope sender `ticket-N-bounce-MAC@DOMAIN`
//! (VERP), where MAC is the first 64 bits of HMAC-SHA256(secret, "bounce:N") in
//! lowercase hex: Exim folds the case of local parts. A bounce therefore names its
//! ticket, and nobody without the secret can make up a bounce address.
//!
//! A delivery status notification is read as RFC 3464 (`multipart/report` with a
//! `message/delivery-status` part: `Final-Recipient`, `Action`, `Status`) or, for
//! older MTAs, from `X-Failed-Recipients`.

use mail_parser::{MessageParser, MimeHeaders};

/// Hard (5.x.x, permanent) or soft (4.x.x, transient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Hard,
    Soft,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hard => "hard",
            Severity::Soft => "soft",
        }
    }
}

/// One failed (or delayed) recipient of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub recipient: String,
    pub severity: Severity,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: String,
}

/// Field blocks of a `message/delivery-status` body: the per-message block, then one
/// block per recipient, separated by empty lines.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = cur.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn strip_type(v: &str) -> String {
    // "rfc822; a@b" -> "a@b"
    let v = v.split_once(';').map(|(_, a)| a).unwrap_or(v);
    v.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// The failures a report describes. Empty when the message is not a bounce.
pub fn failures(message: &[u8]) -> Vec<Failure> {
    let Some(m) = MessageParser::default().parse(message) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in m.parts.iter() {
        let is_status = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
        });
        if !is_status {
            continue;
        }
        let text = String::from_utf8_lossy(part.contents()).into_owned();
        for block in blocks(&text) {
            let get = |k: &str| block.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let Some(rcpt) = get("final-recipient").or_else(|| get("original-recipient")) else {
                continue;
            };
            let action = get("action").unwrap_or_default().to_ascii_lowercase();
            let status = get("status")
                .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default();
            let severity = if status.starts_with('5') {
                Severity::Hard
            } else if status.starts_with('4') || action == "delayed" {
                Severity::Soft
            } else if action == "failed" {
                Severity::Hard
            } else {
                continue; // delivered, relayed, expanded: not a failure
            };
            out.push(Failure {
                recipient: strip_type(&rcpt),
                severity,
                status,
            });
        }
    }
    if out.is_empty()
        && let Some(v) = m.header_raw("X-Failed-Recipients")
    {
        for r in v.split(',') {
            let r = r.trim();
            if !r.is_empty() {
                out.push(Failure {
                    recipient: r.to_string(),
                    severity: Severity::Hard,
                    status: "5.0.0".into(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/bounces/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn an_exim_dsn_is_a_hard_bounce() {
        let f = failures(&fixture("exim-dsn.eml"));
        assert_eq!(
            f,
            vec![Failure {
                recipient: "nobody-here@example.org".into(),
                severity: Severity::Hard,
                status: "5.0.0".into()
            }]
        );
    }

    #[test]
    fn a_delay_is_a_soft_bounce() {
        let f = failures(&fixture("delayed-dsn.eml"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Soft);
        assert_eq!(f[0].status, "4.4.1");
    }

    #[test]
    fn a_classic_bounce_names_its_recipient() {
        let f = failures(&fixture("classic.eml"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].recipient, "someone@customer.example");
        assert_eq!(f[0].severity, Severity::Hard);
    }

    #[test]
    fn ordinary_mail_is_not_a_bounce() {
        assert!(failures(b"From: a@b\nSubject: hi\n\nFinal-Recipient: rfc822; x@y\n").is_empty());
    }
}
