//! Bounces tied to their ticket, acknowledgement limits, hooks, relaying admin
//! replies, the reopen window and close notices.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn new_ticket_from(env: &Env, who: &str, mid: &str) -> crate::support::Run {
    let r = env.deliver(
        "support@example.org",
        who,
        &mail(who, "Printer on fire", mid, "", "It burns.\n"),
    );
    r.deliver_code(0);
    r
}

/// The Reply-To of the admin notice about ticket 1: its secret reply address.
fn reply_address_of(env: &Env) -> String {
    let reply = env
        .sent()
        .iter()
        .find(|s| s.rcpts() == [ADMIN])
        .expect("an admin notice")
        .header("Reply-To")
        .unwrap();
    assert!(reply.starts_with("ticket-1-reply-"), "{reply}");
    reply
}

fn verp_of(env: &Env, ticket: u32) -> String {
    env.sent()
        .iter()
        .filter_map(|s| s.envelope_from())
        .find(|f| f.starts_with(&format!("ticket-{ticket}-bounce-")))
        .expect("a mail about the ticket was sent")
}

/// Exim's own RFC 3464 report (tests/fixtures/bounces), addressed to `verp`, failing
/// for `failed`.
fn exim_bounce(name: &str, verp: &str, failed: &str) -> String {
    String::from_utf8(fixture(&format!("bounces/{name}")))
        .unwrap()
        .replace("ticket-1-bounce-MAC@example.org", verp)
        .replace("nobody-here@example.org", failed)
}

fn deliver_bounce(env: &Env, verp: &str, body: &str) -> crate::support::Run {
    env.delivery()
        .to(verp)
        .stdin(body)
        .vars(&[("SENDER", "")])
        .run()
}

#[test]
fn a_bounce_is_filed_in_its_ticket_and_stops_acks_to_that_address() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "b1@x");
    env.run(&["close", "1"], b"", &[]).code(0);
    let verp = verp_of(&env, 1);
    env.clear_sent();
    let r = deliver_bounce(
        &env,
        &verp,
        &exim_bounce("exim-dsn.eml", &verp, "ann@customer.example"),
    );
    r.deliver_code(0);
    assert!(
        r.stderr.contains("hard bounce for ann@customer.example"),
        "{}",
        r.stderr
    );
    assert!(env.is_closed(1), "a bounce reopens nothing");
    assert!(String::from_utf8_lossy(&env.archived(1).unwrap()).contains("Mail delivery failed"));
    assert!(env.sent().is_empty(), "a bounce sends nothing");
    let bounces = fs::read_to_string(env.store.join(".mailtix/bounces")).unwrap();
    assert!(
        bounces.contains(" 1 hard 5.0.0 ann@customer.example"),
        "{bounces}"
    );

    // the next ticket from that address gets no ack, and the admin is told why
    new_ticket_from(&env, "ann@customer.example", "b2@x");
    let sent = env.sent();
    assert_eq!(sent.len(), 1, "only the admin notice");
    assert_eq!(sent[0].rcpts(), [ADMIN]);
    assert!(sent[0].raw.contains("has bounced"), "{}", sent[0].raw);
    // list and show mark the requester
    let list = env.run(&["list", "--json"], b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v[0]["requester_bounces"], true);
    let show = env.run(&["show", "2"], b"", &[]);
    assert!(show.stdout.contains("bounces"), "{}", show.stdout);
    // a retry of the same bounce is filed once
    deliver_bounce(
        &env,
        &verp,
        &exim_bounce("exim-dsn.eml", &verp, "ann@customer.example"),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 3, "mail, close note, one bounce");
}

#[test]
fn a_soft_bounce_is_recorded_but_does_not_stop_acks() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "s1@x");
    let verp = verp_of(&env, 1);
    deliver_bounce(
        &env,
        &verp,
        &exim_bounce("delayed-dsn.eml", &verp, "ann@customer.example"),
    )
    .deliver_code(0);
    assert!(
        fs::read_to_string(env.store.join(".mailtix/bounces"))
            .unwrap()
            .contains(" soft 4.4.1 ann@customer.example")
    );
    env.clear_sent();
    new_ticket_from(&env, "ann@customer.example", "s2@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"])
    );
}

#[test]
fn a_classic_bounce_counts_too() {
    let env = Env::new();
    new_ticket_from(&env, "someone@customer.example", "c1@x");
    let verp = verp_of(&env, 1);
    let body = String::from_utf8(fixture("bounces/classic.eml"))
        .unwrap()
        .replace("ticket-1-bounce-MAC@example.org", &verp);
    deliver_bounce(&env, &verp, &body).deliver_code(0);
    env.clear_sent();
    new_ticket_from(&env, "someone@customer.example", "c2@x");
    assert!(env.sent().iter().all(|s| s.rcpts() == [ADMIN]));
}

#[test]
fn a_bounce_address_with_a_wrong_mac_is_discarded_without_a_bounce() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "w1@x");
    new_ticket_from(&env, "bob@customer.example", "w2@x");
    let verp1 = verp_of(&env, 1);
    let mac = verp1
        .strip_prefix("ticket-1-bounce-")
        .unwrap()
        .strip_suffix("@example.org")
        .unwrap();
    let body = exim_bounce("exim-dsn.eml", &verp1, "ann@customer.example");
    let mut altered = mac.to_string();
    altered.replace_range(0..1, if mac.starts_with('0') { "1" } else { "0" });
    for rcpt in [
        format!("ticket-1-bounce-{altered}@example.org"),
        format!("ticket-2-bounce-{mac}@example.org"),
        "ticket-1-bounce-0123456789abcdef@example.org".to_string(),
        "ticket-1-bounce-zz@example.org".to_string(),
        "ticket-1-bounce-@example.org".to_string(),
    ] {
        env.clear_sent();
        let r = deliver_bounce(&env, &rcpt, &body);
        // 0, not 67: Exim would bounce the refusal to a sender that is usually forged.
        r.deliver_code(0);
        assert!(r.stderr.contains("discarded"), "{rcpt}: {}", r.stderr);
        assert!(env.sent().is_empty(), "{rcpt}: nothing sent");
    }
    assert_eq!(env.count(1), 1);
    assert_eq!(env.count(2), 1);
    assert!(!env.store.join(".mailtix/bounces").exists());
    let log = fs::read_to_string(env.store.join(".mailtix/log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("action=discarded") && l.contains("wrong MAC"))
            .count(),
        5,
        "{log}"
    );
}

#[test]
fn log_mode_only_records_bounces() {
    let env = Env::with_config("[bounces]\nmode = \"log\"");
    new_ticket_from(&env, "ann@customer.example", "l1@x");
    let verp = verp_of(&env, 1);
    deliver_bounce(
        &env,
        &verp,
        &exim_bounce("exim-dsn.eml", &verp, "ann@customer.example"),
    )
    .deliver_code(0);
    assert!(env.store.join(".mailtix/bounces").exists());
    env.clear_sent();
    new_ticket_from(&env, "ann@customer.example", "l2@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"]),
        "still acknowledged"
    );
}

#[test]
fn acknowledgements_are_capped_per_address_and_hour() {
    let env = Env::with_config("[acks]\nper_sender_per_hour = 2");
    for i in 0..3 {
        new_ticket_from(&env, "ann@customer.example", &format!("cap{i}@x"));
    }
    new_ticket_from(&env, "bob@customer.example", "capb@x");
    let sent = env.sent();
    let to_ann = sent
        .iter()
        .filter(|s| s.rcpts() == ["ann@customer.example"])
        .count();
    assert_eq!(to_ann, 2);
    assert_eq!(
        sent.iter()
            .filter(|s| s.rcpts() == ["bob@customer.example"])
            .count(),
        1
    );
    assert_eq!(env.count(3), 1, "mail past the cap is still filed");
    let notice3 = sent.iter().filter(|s| s.rcpts() == [ADMIN]).nth(2).unwrap();
    let unfolded = notice3.raw.replace("=\r\n", "");
    assert!(
        unfolded.contains("acknowledgements this hour"),
        "{unfolded}"
    );
    // the cap counts the address acknowledged: Reply-To, not From
    let env = Env::with_config("[acks]\nper_sender_per_hour = 1");
    for (i, rt) in ["a@home.example", "b@home.example"].iter().enumerate() {
        env.deliver(
            "support@example.org",
            "ann@customer.example",
            &mail(
                "ann@customer.example",
                "x",
                &format!("rt{i}@x"),
                &format!("Reply-To: {rt}\n"),
                "b\n",
            ),
        )
        .deliver_code(0);
    }
    assert_eq!(
        env.sent().iter().filter(|s| s.rcpts() != [ADMIN]).count(),
        2
    );
}

#[test]
fn outgoing_automatic_mail_asks_not_to_be_answered() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "o1@x");
    for s in env.sent() {
        assert_eq!(s.header("X-Auto-Response-Suppress").as_deref(), Some("All"));
        assert!(s.header("Auto-Submitted").unwrap().starts_with("auto-"));
    }
}

fn hook_env(window: Option<&str>, extra: &str) -> (Env, std::path::PathBuf) {
    let pre = tempfile::tempdir().unwrap().keep();
    let out = pre.join("hook.out");
    let script = pre.join("hook.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"event=$MAILTIX_EVENT ticket=$MAILTIX_TICKET sender=$MAILTIX_SENDER subject=$MAILTIX_SUBJECT file=$MAILTIX_FILE\"; cat; }} >> {}\n",
            out.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let outside = window
        .map(|w| format!("outside = \"{w}\"\n"))
        .unwrap_or_default();
    let env = Env::with_config(&format!(
        "{extra}\n[[hooks]]\nevent = \"new\"\ncommand = \"{}\"\n{outside}\n[[hooks]]\nevent = \"followup\"\ncommand = \"{}\"\n",
        script.display(),
        script.display()
    ));
    (env, out)
}

#[test]
fn hooks_get_the_event_and_the_message() {
    let (env, out) = hook_env(None, "");
    new_ticket_from(&env, "ann@customer.example", "h1@x");
    let text = fs::read_to_string(&out).unwrap();
    let file = env.store.join("1");
    assert!(
        text.starts_with(&format!(
            "event=new ticket=1 sender=ann@customer.example subject=Printer on fire file={}\n",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("It burns."),
        "the message comes on stdin: {text}"
    );
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "more", "h2@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(
        fs::read_to_string(&out)
            .unwrap()
            .contains("event=followup ticket=1")
    );
}

fn minute_now_utc() -> u32 {
    #[allow(clippy::disallowed_methods)] // the window is compared with the real clock
    let now = chrono::Utc::now();
    chrono::Timelike::hour(&now) * 60 + chrono::Timelike::minute(&now)
}

fn hhmm(m: u32) -> String {
    let m = m % 1440;
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[test]
fn a_hook_window_is_in_the_local_time_deliver_sees() {
    let now = minute_now_utc();
    // Inside the window (it spans now, in UTC): the hook does not run.
    let (mut env, out) = hook_env(
        Some(&format!("{}-{}", hhmm(now + 1440 - 60), hhmm(now + 60))),
        "",
    );
    env.extra_env.push(("TZ".into(), "UTC".into()));
    new_ticket_from(&env, "ann@customer.example", "w1@x");
    assert!(!out.exists(), "inside the window: no hook");
    // The same window seen from UTC+5 is somewhere else: the hook runs.
    let mut env = env;
    env.extra_env = vec![("TZ".into(), "Etc/GMT-5".into())];
    new_ticket_from(&env, "bob@customer.example", "w2@x");
    assert!(
        out.exists(),
        "outside the window in the local zone: the hook runs"
    );
}

#[test]
fn a_slow_or_failing_hook_never_changes_the_outcome() {
    let env = Env::with_config(
        "[[hooks]]\nevent = \"new\"\ncommand = \"sleep 30\"\ntimeout = 1\n[[hooks]]\nevent = \"new\"\ncommand = \"exit 3\"\n",
    );
    let start = std::time::Instant::now();
    let r = new_ticket_from(&env, "ann@customer.example", "slow@x");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(r.stderr.contains("killed after 1s"), "{}", r.stderr);
    assert!(r.stderr.contains("failed"), "{}", r.stderr);
    assert!(env.log().contains("killed after 1s"));
}

#[test]
fn admin_replies_are_relayed_to_the_requester_when_asked() {
    let env = Env::with_config("relay_admin_replies = true");
    new_ticket_from(&env, "Ann <ann@customer.example>", "rq@x");
    let reply = reply_address_of(&env);
    env.clear_sent();
    let answer = format!(
        "From: {ADMIN}\nTo: {reply}\nSubject: Re: Printer on fire\nMessage-ID: <answer@admin.example>\nIn-Reply-To: <rq@x>\nReferences: <rq@x>\n\nTry turning it off.\n"
    );
    env.deliver(&reply, ADMIN, &answer).deliver_code(0);
    let all = env.sent();
    let sent: Vec<&Sent> = all.iter().filter(|s| s.rcpts() != [ADMIN]).collect();
    assert_eq!(sent.len(), 1, "{all:?}");
    assert_eq!(sent[0].rcpts(), ["ann@customer.example"]);
    assert!(
        !sent[0].raw.contains("-reply-"),
        "the reply address stays secret"
    );
    assert_eq!(sent[0].header("From").unwrap(), "ticket-1@example.org");
    assert_eq!(sent[0].header("In-Reply-To").unwrap(), "<rq@x>");
    assert!(sent[0].header("Subject").unwrap().contains("[issue1]"));
    assert!(sent[0].raw.contains("Try turning it off."));
    assert!(
        sent[0]
            .envelope_from()
            .unwrap()
            .starts_with("ticket-1-bounce-")
    );
    assert_eq!(env.count(1), 2, "the answer is stored once");
    // the requester's reply to the relayed answer threads back into the ticket
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "Re: it",
            "back@x",
            "In-Reply-To: <answer@admin.example>\n",
            "ok\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 3);

    // not when the requester is already a recipient, nor for a stranger, nor for forged admin mail
    env.clear_sent();
    let cc = answer
        .replace(
            &format!("To: {reply}"),
            &format!("To: {reply}\nCc: ann@customer.example"),
        )
        .replace("<answer@", "<answer2@");
    env.deliver(&reply, ADMIN, &cc).deliver_code(0);
    let forged = answer.replace("<answer@", "<answer3@");
    env.deliver(&reply, "evil@attacker.example", &forged)
        .deliver_code(0);
    assert!(
        env.sent()
            .iter()
            .all(|s| s.rcpts() != ["ann@customer.example"]),
        "{:?}",
        env.sent()
    );
}

#[test]
fn admin_replies_are_not_relayed_by_default() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "nr@x");
    env.clear_sent();
    env.deliver(
        "ticket-1@example.org",
        ADMIN,
        &mail(ADMIN, "Re: x", "nr2@x", "", "answer\n"),
    )
    .deliver_code(0);
    assert!(env.sent().is_empty());
}

#[test]
fn mail_to_a_ticket_closed_too_long_opens_a_new_one() {
    let env = Env::with_config("reopen_within_days = 2");
    new_ticket_from(&env, "ann@customer.example", "old@x");
    env.run(&["close", "1"], b"", &[]).code(0);
    // recently closed: reopened as usual
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "r1@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(1));
    env.run(&["close", "1"], b"", &[]).code(0);
    let path = env.store.join("archived/1");
    #[allow(clippy::disallowed_methods)] // file times are compared with the real clock
    let three_days = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86400);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(three_days)
        .unwrap();
    env.clear_sent();
    let r = env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "it is back", "r2@x", "", "b\n"),
    );
    r.deliver_code(0);
    assert!(env.is_closed(1), "the old ticket stays closed");
    let new = env.ticket_text(2);
    let first_header = new.lines().nth(1).unwrap();
    assert_eq!(first_header, "X-Mailtix-Previous-Ticket: 1");
    let old = String::from_utf8(env.archived(1).unwrap()).unwrap();
    assert!(old.contains("it opened ticket 2"), "{old}");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"]
                && s.header("Subject").unwrap().contains("[issue2]"))
    );
    // a retry of that mail is filed once
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "it is back", "r2@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(!env.store.join("3").exists());
}

#[test]
fn a_retry_without_message_id_after_reindex_finds_the_ticket_it_opened() {
    // Regression: reindex read only the first trace header, which is the
    // Previous-Ticket line here, so the key was lost and the retry opened ticket 3.
    let env = Env::with_config("reopen_within_days = 2");
    new_ticket_from(&env, "ann@customer.example", "old@x");
    env.run(&["close", "1"], b"", &[]).code(0);
    let age_ticket_1 = || {
        #[allow(clippy::disallowed_methods)] // file times are compared with the real clock
        let three_days = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86400);
        fs::File::options()
            .write(true)
            .open(env.store.join("archived/1"))
            .unwrap()
            .set_modified(three_days)
            .unwrap();
    };
    let no_id = "From: ann@customer.example\nTo: ticket-1@example.org\nSubject: back\n\nagain\n";
    let retry = || {
        // the note "it opened ticket 2" touched ticket 1: make it old again
        age_ticket_1();
        env.deliver("ticket-1@example.org", "ann@customer.example", no_id)
            .deliver_code(0);
    };
    retry();
    let new = env.ticket_text(2);
    assert!(
        new.contains("\nX-Mailtix-Previous-Ticket: 1\nX-Mailtix-Key: <"),
        "{new}"
    );
    env.run(&["reindex"], b"", &[]).code(0);
    retry();
    assert!(
        !env.store.join("3").exists(),
        "the retry opened a third ticket"
    );
    assert_eq!(env.count(2), 1);
    let old = String::from_utf8(env.archived(1).unwrap()).unwrap();
    assert!(
        !old.contains("\nagain\n"),
        "the retry went into ticket 1: {old}"
    );
}

#[test]
fn closing_tells_the_requester_when_asked() {
    let env = Env::with_config("notify_on_close = true");
    new_ticket_from(&env, "Ann <ann@customer.example>", "nc@x");
    env.clear_sent();
    env.run(&["close", "1"], b"", &[]).code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpts(), ["ann@customer.example"]);
    assert!(sent[0].header("Subject").unwrap().contains("closed"));
    assert_eq!(sent[0].header("In-Reply-To").unwrap(), "<nc@x>");
    // by mail too
    env.run(&["reopen", "1"], b"", &[]).code(0);
    env.clear_sent();
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail(ADMIN, "done", "nc2@x", "", "done\n"),
    )
    .deliver_code(0);
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"])
    );
    // and not by default
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "nd@x");
    env.clear_sent();
    env.run(&["close", "1"], b"", &[]).code(0);
    assert!(env.sent().is_empty());
}

#[test]
fn only_the_secret_reply_address_relays_and_every_relay_is_counted_and_told() {
    let env = Env::with_config("relay_admin_replies = true\nrelay_per_hour = 2");
    // a stranger opens a ticket whose requester is someone else
    env.deliver(
        "support@example.org",
        "evil@attacker.example",
        &mail(
            "evil@attacker.example",
            "hi",
            "p0@attacker.example",
            "Reply-To: victim@victim.example\n",
            "x\n",
        ),
    )
    .deliver_code(0);
    let reply = reply_address_of(&env);
    env.clear_sent();
    let to_victim = |env: &Env| {
        env.sent()
            .iter()
            .filter(|s| s.rcpts() == ["victim@victim.example"])
            .count()
    };
    let notices = |env: &Env, word: &str| {
        env.sent()
            .iter()
            .filter(|s| s.rcpts() == [ADMIN] && s.header("Subject").unwrap().starts_with(word))
            .count()
    };
    let forged = |to: &str, mid: &str| {
        format!(
            "From: {ADMIN}\nTo: {to}\nSubject: invoice\nMessage-ID: <{mid}@attacker.example>\nMIME-Version: 1.0\nContent-Type: text/html\n\n<a href=\"http://evil.example/\">pay</a>\n"
        )
    };
    // forged admin mail to plain ticket-1@: filed, never relayed
    env.deliver(
        "ticket-1@example.org",
        ADMIN,
        &forged("ticket-1@example.org", "f1"),
    )
    .deliver_code(0);
    assert_eq!(to_victim(&env), 0);
    // the reply shape with a wrong token: filed, not relayed, the admins told
    let wrong = "ticket-1-reply-0123456789abcdef@example.org";
    let r = env.deliver(wrong, ADMIN, &forged(wrong, "f2"));
    r.deliver_code(0);
    assert!(r.stderr.contains("wrong token"), "{}", r.stderr);
    assert_eq!(to_victim(&env), 0);
    assert_eq!(notices(&env, "relay refused:"), 1, "{:?}", env.sent());
    // the right address from a sender who is not an admin: the same
    env.deliver(&reply, "evil@attacker.example", &forged(&reply, "f3"))
        .deliver_code(0);
    assert_eq!(to_victim(&env), 0);
    assert_eq!(notices(&env, "relay refused:"), 2);
    assert_eq!(env.count(1), 4, "every attempt is filed");
    // the admin's real answers: relayed up to relay_per_hour, each one told
    for (i, mid) in ["a1", "a2", "a3"].iter().enumerate() {
        let answer = format!(
            "From: {ADMIN}\nTo: {reply}\nSubject: Re: hi\nMessage-ID: <{mid}@admin.example>\n\nanswer {i}\n"
        );
        env.deliver(&reply, ADMIN, &answer).deliver_code(0);
    }
    assert_eq!(to_victim(&env), 2);
    assert_eq!(notices(&env, "answer relayed:"), 2);
    assert_eq!(notices(&env, "relay refused:"), 3);
    assert!(env.log().contains("relay_per_hour"), "{}", env.log());
    assert_eq!(env.count(1), 7);
}

/// tests/fixtures/auto: real automatic mail that sets no Auto-Submitted.
#[test]
fn automatic_mail_fixtures_get_no_ack() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auto");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the corpus is there: {files:?}");
    for path in &files {
        let raw = fs::read(path).unwrap();
        let from = mailtix::inbound::parse(&raw).unwrap().from.unwrap().addr;
        let env = Env::new();
        let r = env.run(
            &[
                "deliver",
                "--recipient",
                "support@example.org",
                "--sender",
                &from,
            ],
            &raw,
            &[],
        );
        r.deliver_code(0);
        assert!(r.stderr.contains("automatic"), "{path:?}: {}", r.stderr);
        assert_eq!(env.count(1), 1, "{path:?} is filed");
        let acks: Vec<_> = env
            .sent()
            .into_iter()
            .filter(|s| s.rcpts() != [ADMIN])
            .collect();
        assert!(acks.is_empty(), "{path:?} got an ack");
    }
    // and a person still gets one
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "person@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"])
    );
}

/// A Subject that decodes to one 1,800-character word (encoded words on short lines)
/// once gave acks and notices a 1,800-byte header line, which the next MTA refuses.
#[test]
fn mail_we_send_fits_rfc_5322_line_lengths() {
    let env = Env::with_config("notify_on_close = true");
    let enc: String = (0..60)
        .map(|_| " =?utf-8?q?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?=\n")
        .collect();
    let msg = format!(
        "From: {} <ann@customer.example>\nTo: support@example.org\nSubject:{enc}Message-ID: <long@x>\n\n{}\n",
        "N".repeat(300),
        "x".repeat(900)
    );
    env.deliver("support@example.org", "ann@customer.example", &msg)
        .deliver_code(0);
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail(ADMIN, "done", "close-long@x", "", "fixed\n"),
    )
    .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 3, "ack, notice and close notice: {sent:?}");
    for s in &sent {
        let (head, body) = s.raw.split_once("\r\n\r\n").unwrap();
        for line in head.split("\r\n") {
            assert!(line.len() <= 78, "header line of {}: {line}", line.len());
        }
        for line in body.split("\r\n") {
            assert!(line.len() <= 998, "body line of {}", line.len());
        }
        let subject = s.header("Subject").unwrap();
        assert!(subject.contains("=?utf-8?b?"), "{subject}");
    }
}

/// `victim+1@`, `victim+2@` ... once each got a fresh allowance.
#[test]
fn the_ack_caps_count_plus_tags_as_one_mailbox_and_the_store_per_hour() {
    let env = Env::with_config("[acks]\nper_sender_per_hour = 2\ntotal_per_hour = 4");
    for i in 0..5 {
        new_ticket_from(
            &env,
            &format!("Victim+{i}@customer.example"),
            &format!("pt{i}@x"),
        );
    }
    let to_victim = env
        .sent()
        .iter()
        .filter(|s| s.rcpts()[0].to_ascii_lowercase().starts_with("victim"))
        .count();
    assert_eq!(to_victim, 2, "one mailbox, one allowance");
    let notice = env
        .sent()
        .into_iter()
        .filter(|s| s.rcpts() == [ADMIN])
        .nth(4)
        .unwrap();
    assert!(
        notice
            .raw
            .replace("=\r\n", "")
            .contains("victim@customer.example already had 2"),
        "{}",
        notice.raw
    );
    for who in ["ann", "bob", "cy"] {
        new_ticket_from(
            &env,
            &format!("{who}@customer.example"),
            &format!("{who}@x"),
        );
    }
    let acks: Vec<_> = env
        .sent()
        .into_iter()
        .filter(|s| s.rcpts() != [ADMIN])
        .collect();
    assert_eq!(acks.len(), 4, "total_per_hour: {acks:?}");
    let last = env
        .sent()
        .into_iter()
        .rfind(|s| s.rcpts() == [ADMIN])
        .unwrap();
    assert!(
        last.raw.replace("=\r\n", "").contains("total_per_hour"),
        "{}",
        last.raw
    );
    assert_eq!(env.count(8), 1, "mail past the caps is still filed");
}

/// An RFC 3464 report to `verp` that fails every address of `failed`, with `padding`
/// bytes of returned message after the delivery-status part.
fn dsn_for(verp: &str, failed: &[&str], padding: usize) -> String {
    let mut status = String::from("Reporting-MTA: dns; mx.forger.example\n");
    for a in failed {
        status.push_str(&format!(
            "\nAction: failed\nFinal-Recipient: rfc822;{a}\nStatus: 5.1.1\n"
        ));
    }
    let mut returned = String::from("From: ticket-1@example.org\nSubject: x\n\n");
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n";
    while returned.len() < padding {
        returned.push_str(line);
    }
    format!(
        "From: Mail Delivery System <Mailer-Daemon@forger.example>\nTo: {verp}\nSubject: Mail delivery failed\nMessage-ID: <dsn.{n}.{p}@forger.example>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nfailed\n\n--b\nContent-Type: message/delivery-status\n\n{status}\n--b\nContent-Type: message/rfc822\n\n{returned}\n--b--\n",
        n = failed.len(),
        p = padding,
    )
}

/// One forged report to a revealed VERP address once marked any number of third
/// parties as hard-bouncing, so that they got no more acknowledgements.
#[test]
fn a_bounce_counts_only_addresses_we_mailed_about_the_ticket() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "fb1@x");
    let verp = verp_of(&env, 1);
    let victims: Vec<String> = (0..50)
        .map(|i| format!("victim{i}@third.example"))
        .collect();
    let mut failed: Vec<&str> = victims.iter().map(String::as_str).collect();
    failed.push("ann@customer.example");
    let r = deliver_bounce(&env, &verp, &dsn_for(&verp, &failed, 0));
    r.deliver_code(0);
    assert!(
        r.stderr.contains("hard bounce for ann@customer.example"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("50 failure(s) not recorded"),
        "{}",
        r.stderr
    );
    let journal = fs::read_to_string(env.store.join(".mailtix/bounces")).unwrap();
    assert_eq!(journal.lines().count(), 1, "{journal}");
    env.clear_sent();
    new_ticket_from(&env, "victim7@third.example", "fb2@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["victim7@third.example"]),
        "a third party still gets its acknowledgement"
    );
    new_ticket_from(&env, "ann@customer.example", "fb3@x");
    assert!(
        !env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"]),
        "the requester's real bounce still counts"
    );
}

#[test]
fn one_report_records_at_most_five_failures() {
    let admins: Vec<String> = (0..8).map(|i| format!("a{i}@admin.example")).collect();
    let list = admins
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let env = Env::new();
    let config = fs::read_to_string(&env.config)
        .unwrap()
        .replace("admins = [\"", &format!("admins = [{list}, \""));
    fs::write(&env.config, config).unwrap();
    new_ticket_from(&env, "ann@customer.example", "cap1@x");
    let verp = verp_of(&env, 1);
    let mut failed: Vec<&str> = admins.iter().map(String::as_str).collect();
    failed.push("ann@customer.example");
    let r = deliver_bounce(&env, &verp, &dsn_for(&verp, &failed, 0));
    r.deliver_code(0);
    let journal = fs::read_to_string(env.store.join(".mailtix/bounces")).unwrap();
    assert_eq!(journal.lines().count(), 5, "{journal}");
    assert!(
        r.stderr.contains("4 failure(s) not recorded"),
        "{}",
        r.stderr
    );
}

#[test]
fn bounce_records_expire_after_60_days_and_the_journal_is_not_read() {
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "ex1@x");
    let verp = verp_of(&env, 1);
    deliver_bounce(
        &env,
        &verp,
        &exim_bounce("exim-dsn.eml", &verp, "ann@customer.example"),
    )
    .deliver_code(0);
    // deliver decides from the shards, never from the journal
    let journal = env.store.join(".mailtix/bounces");
    let mut big = fs::read_to_string(&journal).unwrap();
    for i in 0..20_000 {
        big.push_str(&format!("1 1 hard 5.0.0 bob{i}@customer.example\n"));
    }
    big.push_str("9999999999 1 hard 5.0.0 bob@customer.example\n");
    fs::write(&journal, big).unwrap();
    env.clear_sent();
    new_ticket_from(&env, "bob@customer.example", "ex2@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["bob@customer.example"])
    );
    new_ticket_from(&env, "ann@customer.example", "ex3@x");
    assert!(
        !env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"])
    );
    let list = env.run(&["list", "--json"], b"", &[]);
    assert!(
        list.stdout.contains("\"requester_bounces\": true")
            || list.stdout.contains("\"requester_bounces\":true"),
        "{}",
        list.stdout
    );
    // 61 days later the record no longer counts
    let shards = env.store.join(".mailtix/bounces.d");
    let mut aged = 0;
    for e in fs::read_dir(&shards).unwrap() {
        let p = e.unwrap().path();
        let text: String = fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                let (t, rest) = l.split_once(' ').unwrap();
                aged += 1;
                format!("{} {rest}\n", t.parse::<i64>().unwrap() - 61 * 86_400)
            })
            .collect();
        fs::write(&p, text).unwrap();
    }
    assert_eq!(aged, 1);
    env.clear_sent();
    new_ticket_from(&env, "ann@customer.example", "ex4@x");
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"])
    );
    let list = env.run(&["list", "--json"], b"", &[]);
    assert!(
        !list.stdout.contains("\"requester_bounces\": true")
            && !list.stdout.contains("\"requester_bounces\":true"),
        "{}",
        list.stdout
    );
    // and the next record in that shard drops it
    let verp4 = verp_of(&env, 4);
    deliver_bounce(
        &env,
        &verp4,
        &exim_bounce("exim-dsn.eml", &verp4, "ann@customer.example"),
    )
    .deliver_code(0);
    let lines: usize = fs::read_dir(&shards)
        .unwrap()
        .map(|e| {
            fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 1, "the expired record was pruned");
}

/// A 31 MB report once took 311 MB to read and added 19 MB of records: only its
/// start is parsed now. Here the delivery-status part names 400,000 recipients.
#[test]
fn a_huge_bounce_is_read_in_little_memory() {
    need("/usr/bin/time");
    let env = Env::new();
    new_ticket_from(&env, "ann@customer.example", "hb1@x");
    let verp = verp_of(&env, 1);
    let many: Vec<String> = (0..400_000)
        .map(|i| format!("victim{i}@third.example"))
        .collect();
    let mut failed = vec!["ann@customer.example"];
    failed.extend(many.iter().map(String::as_str));
    let body = dsn_for(&verp, &failed, 1024);
    assert!(body.len() > 25 * 1024 * 1024, "{}", body.len());
    let report = env.path().join("rss");
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(BIN)
        .arg("--config")
        .arg(&env.config)
        .args(["deliver", "--recipient", &verp]);
    let r = env.spawn(cmd, body.as_bytes(), &[("SENDER", "")]);
    r.deliver_code(0);
    assert!(
        r.stderr.contains("hard bounce for ann@customer.example"),
        "{}",
        r.stderr
    );
    let kb: u64 = fs::read_to_string(&report)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let ratio = (kb * 1024) as f64 / body.len() as f64;
    println!(
        "{} MB bounce: peak RSS {kb} KiB, {ratio:.2}x the message",
        body.len() / 1_000_000
    );
    assert!(ratio < 2.5, "peak RSS {ratio:.2}x the message size");
    assert_eq!(env.count(1), 2, "the bounce is filed whole");
    let journal = fs::read_to_string(env.store.join(".mailtix/bounces")).unwrap();
    assert_eq!(journal.lines().count(), 1, "only the requester is recorded");
}
