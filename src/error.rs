//! The delivery error type. Each variant owns its exit code, so the mapping to what
//! Exim does (deliver, bounce, retry) lives in exactly one place.

use std::fmt;

/// sysexits(3) codes `deliver` may exit with. Nothing else ever leaves `deliver`.
pub(crate) const EX_OK: u8 = 0;
/// The input is not a mail message: Exim bounces it.
pub(crate) const EX_DATAERR: u8 = 65;
/// Not one of our addresses, or no such ticket: Exim bounces it.
pub(crate) const EX_NOUSER: u8 = 67;
/// Anything temporary: Exim keeps the message and retries.
pub(crate) const EX_TEMPFAIL: u8 = 75;

/// Why a delivery did not store the message.
#[derive(Debug)]
pub enum DeliverError {
    /// Empty input, no header section, or over `max_message_size` (65).
    NotMail(String),
    /// The recipient is not one of our addresses (67).
    NotOurs(String),
    /// `ticket-N@` for a ticket that does not exist (67).
    NoSuchTicket { id: u32, hint: String },
    /// Anything that may succeed later: locks, I/O, config, usage, panics (75).
    Temporary(String),
}

impl DeliverError {
    /// The exit code Exim sees.
    pub fn exit_code(&self) -> u8 {
        match self {
            DeliverError::NotMail(_) => EX_DATAERR,
            DeliverError::NotOurs(_) | DeliverError::NoSuchTicket { .. } => EX_NOUSER,
            DeliverError::Temporary(_) => EX_TEMPFAIL,
        }
    }

    /// A temporary failure with a reason.
    pub fn temp(what: impl fmt::Display) -> Self {
        DeliverError::Temporary(what.to_string())
    }
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::NotMail(why) => write!(f, "not a mail message: {why}"),
            DeliverError::NotOurs(rcpt) => write!(
                f,
                "{rcpt} is not a mailtix address (expected support@, ticket-N@ or ticket-N-close@)"
            ),
            DeliverError::NoSuchTicket { id, hint } => {
                write!(f, "no such ticket {id} ({hint})")
            }
            DeliverError::Temporary(why) => write!(f, "temporary failure, will retry: {why}"),
        }
    }
}

impl std::error::Error for DeliverError {}

impl From<std::io::Error> for DeliverError {
    fn from(e: std::io::Error) -> Self {
        DeliverError::Temporary(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_maps_to_its_sysexit() {
        let cases = [
            (DeliverError::NotMail("empty".into()), 65),
            (DeliverError::NotOurs("x@y".into()), 67),
            (
                DeliverError::NoSuchTicket {
                    id: 9,
                    hint: String::new(),
                },
                67,
            ),
            (DeliverError::temp("lock"), 75),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code(), code, "{err}");
        }
    }

    #[test]
    fn messages_fit_on_one_line() {
        let err = DeliverError::NoSuchTicket {
            id: 999,
            hint: "mail ticket-N@example.org for an existing ticket".into(),
        };
        assert_eq!(
            err.to_string(),
            "no such ticket 999 (mail ticket-N@example.org for an existing ticket)"
        );
        assert!(!err.to_string().contains('\n'));
    }
}
