//! Bounce reports of every shape through `deliver`: only a report that the address
//! itself is wrong stops acknowledgements to it.

use crate::support::*;
use std::fs;

fn first_ticket(env: &Env, who: &str) -> String {
    env.deliver(
        "support@example.org",
        who,
        &mail(who, "Printer on fire", "r1@x", "", "It burns.\n"),
    )
    .deliver_code(0);
    env.sent()
        .iter()
        .filter_map(|s| s.envelope_from())
        .find(|f| f.starts_with("ticket-1-bounce-"))
        .expect("an ack was sent")
}

/// Files fixture `name` (addressed to ticket-1-bounce-MAC@example.org) as a bounce,
/// then opens a second ticket from `who`: true when `who` still gets an ack.
fn still_acked_after(name: &str, who: &str, failed: &str) -> (bool, String) {
    let env = Env::new();
    let verp = first_ticket(&env, who);
    let body = String::from_utf8(fixture(&format!("bounces/{name}")))
        .unwrap()
        .replace("ticket-1-bounce-MAC@example.org", &verp)
        .replace(failed, who);
    env.delivery()
        .to(&verp)
        .stdin(body)
        .vars(&[("SENDER", "")])
        .run()
        .deliver_code(0);
    let record = fs::read_to_string(env.store.join(".mailtix/bounces")).unwrap_or_default();
    env.clear_sent();
    env.deliver(
        "support@example.org",
        who,
        &mail(who, "Again", "r2@x", "", "Still burning.\n"),
    )
    .deliver_code(0);
    let acked = env.sent().iter().any(|s| s.rcpts() == [who]);
    (acked, record)
}

#[test]
fn a_lines_too_long_report_does_not_stop_acks() {
    let (acked, record) = still_acked_after(
        "exim-lines-too-long.eml",
        "ann@customer.example",
        "someone@customer.example",
    );
    assert!(
        record.contains(" soft ") && record.contains("ann@customer.example"),
        "{record}"
    );
    assert!(acked, "our own long line is not the address's fault");
}

#[test]
fn an_exim_retry_timeout_does_not_stop_acks() {
    let (acked, record) = still_acked_after(
        "exim-retry-timeout.eml",
        "ann@customer.example",
        "someone@customer.example",
    );
    assert!(
        record.contains(" soft ") && record.contains("ann@customer.example"),
        "{record}"
    );
    assert!(acked, "one outage must not block acks");
}

#[test]
fn an_exim_delay_warning_is_recorded_as_soft() {
    let (acked, record) = still_acked_after(
        "exim-delay-warning.eml",
        "ann@customer.example",
        "someone@customer.example",
    );
    assert!(
        record.contains(" soft ") && record.contains("ann@customer.example"),
        "{record}"
    );
    assert!(acked);
}

#[test]
fn a_qmail_bounce_stops_acks() {
    let (acked, record) = still_acked_after(
        "sisimai/lhost-qmail-01.eml",
        "kijitora@example.ne.jp",
        "kijitora@example.ne.jp",
    );
    assert!(
        record.contains(" hard ") && record.contains("kijitora@example.ne.jp"),
        "{record}"
    );
    assert!(!acked, "a user unknown to qmail gets no more acks");
}
