//! The HMAC tokens and MACs that make our addresses and Message-IDs unforgeable:
//! close and reply tokens, the bounce address's MAC, and the MAC in our Message-IDs.
//! Each is the first 64 bits of HMAC-SHA256 under the store's secret, in lowercase hex
//! (Exim folds the case of local parts), compared in constant time. Pure.

use hmac::{Mac, SimpleHmac};
use sha2::Sha256;

/// An address token: the first 64 bits of HMAC-SHA256(secret, "PURPOSE:N"), in
/// lowercase hex because Exim folds the case of local parts.
pub(crate) fn token(secret: &[u8], purpose: &str, id: u32) -> String {
    mac_hex(secret, &format!("{purpose}:{id}"))
}

/// The first 64 bits of HMAC-SHA256(secret, data), in lowercase hex.
pub(crate) fn mac_hex(secret: &[u8], data: &str) -> String {
    let mut mac = mac(secret);
    mac.update(data.as_bytes());
    mac.finalize().into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The MAC in the Message-ID of mail about ticket N (`mailtix.N.SIGNED.MAC@DOMAIN`,
/// SIGNED being `KIND.UNIQUE`): HMAC(secret, "mid:N:SIGNED"), so that only mailtix can
/// make an id that routes a reply to ticket N.
pub(crate) fn message_id_mac(secret: &[u8], id: u32, signed: &str) -> String {
    mac_hex(secret, &format!("mid:{id}:{signed}"))
}

/// True when `mac` is the MAC of a Message-ID naming ticket N (constant time).
pub(crate) fn message_id_mac_matches(secret: &[u8], id: u32, signed: &str, mac: &str) -> bool {
    mac_hex_matches(secret, &format!("mid:{id}:{signed}"), mac)
}

/// The token of ticket N's close address (`ticket-N-close-TOKEN@`).
pub(crate) fn close_token(secret: &[u8], id: u32) -> String {
    token(secret, "close", id)
}

/// True when `token` is ticket N's reply token (compared in constant time).
pub(crate) fn reply_token_matches(secret: &[u8], id: u32, token: &str) -> bool {
    token_matches(secret, "reply", id, token)
}

/// True when `mac` is ticket N's bounce MAC (compared in constant time).
pub(crate) fn bounce_mac_matches(secret: &[u8], id: u32, mac: &str) -> bool {
    token_matches(secret, "bounce", id, mac)
}

fn mac(secret: &[u8]) -> SimpleHmac<Sha256> {
    match SimpleHmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

pub(crate) fn token_matches(secret: &[u8], purpose: &str, id: u32, token: &str) -> bool {
    mac_hex_matches(secret, &format!("{purpose}:{id}"), token)
}

pub(crate) fn mac_hex_matches(secret: &[u8], data: &str, token: &str) -> bool {
    if token.len() != 16 || !token.is_ascii() {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..16)
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    let Some(bytes) = bytes else { return false };
    let mut mac = mac(secret);
    mac.update(data.as_bytes());
    mac.verify_truncated_left(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_macs_bind_the_ticket_and_the_id() {
        let m = message_id_mac(b"key", 7, "ack.123.45");
        assert_eq!(m.len(), 16);
        assert!(message_id_mac_matches(b"key", 7, "ack.123.45", &m));
        assert!(!message_id_mac_matches(b"key", 8, "ack.123.45", &m));
        assert!(!message_id_mac_matches(b"key", 7, "ack.123.46", &m));
        assert!(!message_id_mac_matches(b"other", 7, "ack.123.45", &m));
        assert!(!message_id_mac_matches(b"key", 7, "ack.123.45", "zz"));
        assert_ne!(m, token(b"key", "bounce", 7));
    }
}
