//! `mailtix deliver` through the real binary: routing, exit codes, acks, notices.

use crate::support::*;
use std::fs;

fn new_ticket(env: &Env) {
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "Ann <ann@customer.example>",
            "Printer on fire",
            "m1@customer.example",
            "",
            "It burns.\n",
        ),
    )
    .deliver_code(0);
}

#[test]
fn a_new_ticket_is_stored_acknowledged_and_announced() {
    let env = Env::new();
    let r = env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "Ann <ann@customer.example>",
            "Printer on fire",
            "m1@customer.example",
            "",
            "It burns.\n",
        ),
    );
    r.deliver_code(0);
    assert!(r.stderr.contains("ticket 1"), "{}", r.stderr);
    let t = env.ticket_text(1);
    assert!(t.starts_with("From ann@customer.example "), "{t}");
    assert!(t.contains("\nSubject: Printer on fire\n"));

    let sent = env.sent();
    assert_eq!(sent.len(), 2, "an ack and an admin notice");
    let ack = sent
        .iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .expect("ack");
    assert_eq!(ack.header("From").unwrap(), "ticket-1@example.org");
    assert_eq!(ack.header("Reply-To").unwrap(), "ticket-1@example.org");
    assert!(ack.header("Subject").unwrap().contains("[issue1]"));
    assert!(ack.header("Subject").unwrap().contains("Printer on fire"));
    assert_eq!(ack.header("In-Reply-To").unwrap(), "<m1@customer.example>");
    assert!(
        ack.header("References")
            .unwrap()
            .contains("<m1@customer.example>")
    );
    assert_eq!(ack.header("Auto-Submitted").unwrap(), "auto-replied");
    let mid = ack.header("Message-ID").unwrap();
    assert!(mid.ends_with("@example.org>"), "{mid}");
    assert!(ack.header("X-Mailtix-Loop").is_some());
    assert!(ack.header("Date").is_some());
    let verp = ack.envelope_from().unwrap();
    assert!(
        verp.starts_with("ticket-1-bounce-") && verp.ends_with("@example.org"),
        "{verp}"
    );
    assert!(ack.args.contains(&"-i".to_string()));

    let notice = sent
        .iter()
        .find(|s| s.rcpts() == [ADMIN])
        .expect("admin notice");
    assert_eq!(notice.header("From").unwrap(), "ticket-1@example.org");
    assert!(notice.header("Subject").unwrap().contains("[issue1]"));
    assert!(
        notice.raw.contains("ann@customer.example"),
        "names the sender"
    );
    assert!(notice.raw.contains("Printer on fire"), "names the subject");
    assert!(notice.raw.contains("It burns."), "starts the text");
}

#[test]
fn follow_ups_arrive_three_ways() {
    let env = Env::new();
    new_ticket(&env);
    let ack_id = env
        .sent()
        .iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap()
        .header("Message-ID")
        .unwrap();

    // 1. ticket-N@
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "more", "m2@c", "", "two\n"),
    )
    .deliver_code(0);
    // 2. [issueN] in the subject of a mail to support@
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "Re: [issue1] x",
            "m3@c",
            "",
            "three\n",
        ),
    )
    .deliver_code(0);
    // 3. a reply to a stored message, and a reply to our acknowledgement
    env.deliver(
        "support@example.org",
        "bob@other.example",
        &mail(
            "bob@other.example",
            "no tag",
            "m4@c",
            "In-Reply-To: <m1@customer.example>\n",
            "four\n",
        ),
    )
    .deliver_code(0);
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "reply to ack",
            "m5@c",
            &format!("References: {ack_id}\n"),
            "five\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 5);
    assert!(!env.store.join("2").exists(), "no second ticket");
}

#[test]
fn tickets_are_never_matched_by_subject_text() {
    let env = Env::new();
    new_ticket(&env);
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "Re: Printer on fire",
            "m9@c",
            "",
            "x\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(2), 1);
}

#[test]
fn a_follow_up_from_a_customer_notifies_the_admin_but_an_admins_does_not() {
    let env = Env::new();
    new_ticket(&env);
    env.clear_sent();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "more", "m2@c", "", "two\n"),
    )
    .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpts(), [ADMIN]);
    assert!(sent[0].header("Subject").unwrap().contains("[issue1]"));
    env.clear_sent();
    env.deliver(
        "ticket-1@example.org",
        ADMIN,
        &mail(ADMIN, "answer", "m3@c", "", "done\n"),
    )
    .deliver_code(0);
    assert!(
        env.sent().is_empty(),
        "no acks for follow-ups, no notice for the admin's own mail"
    );
}

#[test]
fn the_recipient_comes_from_flag_env_or_headers() {
    let env = Env::new();
    new_ticket(&env);
    let m = |mid: &str| mail("ann@customer.example", "x", mid, "", "b\n");
    env.delivery()
        .from("a@b.c")
        .stdin(m("e1@x").replace("To: support@", "To: nobody@"))
        .vars(&[("RECIPIENT", "ticket-1@example.org")])
        .run()
        .deliver_code(0);
    env.delivery()
        .stdin(m("e2@x").replace("To: support@", "To: nobody@"))
        .vars(&[
            ("LOCAL_PART", "ticket-1"),
            ("DOMAIN", "example.org"),
            ("SENDER", "a@b.c"),
        ])
        .run()
        .deliver_code(0);
    let via_header = format!("Delivered-To: ticket-1@example.org\n{}", m("e3@x"));
    env.delivery().stdin(via_header).run().deliver_code(0);
    assert_eq!(env.count(1), 4);
    // the flag wins over the environment
    env.delivery()
        .to("nobody@example.org")
        .stdin(m("e4@x"))
        .vars(&[("RECIPIENT", "ticket-1@example.org")])
        .run()
        .deliver_code(67);
}

#[test]
fn the_sender_comes_from_flag_env_or_return_path() {
    let env = Env::new();
    let m = |mid: &str, extra: &str| mail("ann@customer.example", "x", mid, extra, "b\n");
    env.run(
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            "flag@x.example",
        ],
        m("s1@x", "").as_bytes(),
        &[("SENDER", "env@x.example")],
    )
    .deliver_code(0);
    assert!(env.ticket_text(1).starts_with("From flag@x.example "));
    env.delivery()
        .to("support@example.org")
        .stdin(m("s2@x", ""))
        .vars(&[("SENDER", "env@x.example")])
        .run()
        .deliver_code(0);
    assert!(env.ticket_text(2).starts_with("From env@x.example "));
    let rp = format!("Return-Path: <rp@x.example>\n{}", m("s3@x", ""));
    env.delivery()
        .to("support@example.org")
        .stdin(rp)
        .run()
        .deliver_code(0);
    assert!(env.ticket_text(3).starts_with("From rp@x.example "));
}

#[test]
fn a_bounce_is_stored_from_mailer_daemon_without_an_ack() {
    let env = Env::new();
    env.delivery()
        .to("support@example.org")
        .stdin(mail("ann@customer.example", "x", "b1@x", "", "b\n"))
        .vars(&[("SENDER", "")])
        .run()
        .deliver_code(0);
    assert!(env.ticket_text(1).starts_with("From MAILER-DAEMON "));
    assert!(
        env.sent().iter().all(|s| s.rcpts() == [ADMIN]),
        "no ack to a bounce"
    );
}

#[test]
fn automatic_and_bulk_mail_is_stored_but_never_acknowledged() {
    let cases = [
        ("ann@customer.example", "Auto-Submitted: auto-replied\n"),
        ("ann@customer.example", "Auto-Submitted: auto-generated\n"),
        ("ann@customer.example", "Precedence: bulk\n"),
        ("ann@customer.example", "Precedence: junk\n"),
        ("ann@customer.example", "Precedence: list\n"),
        ("ann@customer.example", "List-Id: <l.example>\n"),
        (
            "ann@customer.example",
            "List-Unsubscribe: <mailto:u@l.example>\n",
        ),
        ("ann@customer.example", "X-Mailtix-Loop: example.org\n"),
        ("MAILER-DAEMON@customer.example", ""),
        ("postmaster@customer.example", ""),
        ("someone@example.org", ""),
    ];
    for (i, (sender, extra)) in cases.iter().enumerate() {
        let env = Env::new();
        env.deliver(
            "support@example.org",
            sender,
            &mail(sender, "x", &format!("a{i}@x"), extra, "b\n"),
        )
        .deliver_code(0);
        assert_eq!(env.count(1), 1, "stored: {extra}{sender}");
        let acks: Vec<_> = env
            .sent()
            .into_iter()
            .filter(|s| s.rcpts() != [ADMIN])
            .collect();
        assert!(acks.is_empty(), "no ack for {extra}{sender}: {acks:?}");
    }
}

#[test]
fn an_ack_goes_to_reply_to_when_there_is_one() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "x",
            "r1@x",
            "Reply-To: Ann Home <ann@home.example>\n",
            "b\n",
        ),
    )
    .deliver_code(0);
    assert!(env.sent().iter().any(|s| s.rcpts() == ["ann@home.example"]));
}

#[test]
fn exit_codes_are_exact() {
    let env = Env::new();
    new_ticket(&env);
    let ok = mail("ann@customer.example", "x", "x1@x", "", "b\n");
    env.delivery()
        .to("support@example.org")
        .run()
        .deliver_code(65);
    env.delivery()
        .to("support@example.org")
        .stdin(b"\n\n")
        .run()
        .deliver_code(65);
    env.delivery()
        .to("support@example.org")
        .stdin(b"this is not mail\n\nat all\n")
        .run()
        .deliver_code(65);
    env.deliver("someone@example.org", "a@b.c", &ok)
        .deliver_code(67);
    env.deliver("support@elsewhere.example", "a@b.c", &ok)
        .deliver_code(67);
    let r = env.deliver("ticket-999@example.org", "a@b.c", &ok);
    r.deliver_code(67);
    assert!(r.stderr.contains("no such ticket 999"), "{}", r.stderr);
    // duplicate detection comes after routing
    env.deliver(
        "ticket-999@example.org",
        "a@b.c",
        &mail(
            "ann@customer.example",
            "x",
            "m1@customer.example",
            "",
            "b\n",
        ),
    )
    .deliver_code(67);
    env.deliver("ticket-999-close@example.org", ADMIN, &ok)
        .deliver_code(67);
    env.run(&["deliver", "--bogus"], ok.as_bytes(), &[])
        .deliver_code(75);
    assert_eq!(env.count(1), 1, "nothing was filed by the failures");
}

#[test]
fn config_problems_are_temporary() {
    let env = Env::new();
    let ok = mail("ann@customer.example", "x", "x1@x", "", "b\n");
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "--config",
        "/nonexistent/config.toml",
        "deliver",
        "--recipient",
        "support@example.org",
    ]);
    env.spawn(cmd, ok.as_bytes(), &[]).deliver_code(75);
    fs::write(&env.config, "stor = 1\n").unwrap();
    let r = env.deliver("support@example.org", "a@b.c", &ok);
    r.deliver_code(75);
    assert!(r.stderr.contains("stor"), "names the bad key: {}", r.stderr);
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["deliver", "--recipient", "support@example.org"]);
    env.spawn(
        cmd,
        ok.as_bytes(),
        &[("MAILTIX_CONFIG", "/nonexistent.toml")],
    )
    .deliver_code(75);
}

#[test]
fn a_panic_is_a_temporary_failure_with_one_short_line() {
    let env = Env::new();
    let r = env
        .delivery()
        .to("support@example.org")
        .stdin(b"Subject: x\n\nb\n")
        .vars(&[("MAILTIX_TEST_PANIC", "1")])
        .run();
    r.deliver_code(75);
    assert!(r.stderr.len() < 4096);
    assert!(!env.store.join("1").exists());
}

#[test]
fn input_over_max_message_size_is_refused_permanently() {
    let env = Env::with_config("max_message_size = 1000");
    let big = mail("ann@customer.example", "x", "big@x", "", &"y".repeat(2000));
    env.deliver("support@example.org", "a@b.c", &big)
        .deliver_code(65);
    assert!(!env.store.join("1").exists());
    let small = mail("ann@customer.example", "x", "small@x", "", "y\n");
    env.deliver("support@example.org", "a@b.c", &small)
        .deliver_code(0);
}

#[test]
fn a_retry_never_opens_a_second_ticket() {
    let env = Env::new();
    new_ticket(&env);
    let r = env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "Ann <ann@customer.example>",
            "Printer on fire",
            "m1@customer.example",
            "",
            "It burns.\n",
        ),
    );
    r.deliver_code(0);
    assert!(r.stderr.contains("duplicate"), "{}", r.stderr);
    assert!(!env.store.join("2").exists());
    assert_eq!(env.count(1), 1);
}

#[test]
fn a_mail_to_support_and_a_ticket_is_filed_once_in_either_order() {
    for support_first in [true, false] {
        let env = Env::new();
        new_ticket(&env);
        let m = "From: ann@customer.example\nTo: support@example.org, ticket-1@example.org\nSubject: both\nMessage-ID: <both@x>\n\nb\n";
        let order = if support_first {
            ["support@example.org", "ticket-1@example.org"]
        } else {
            ["ticket-1@example.org", "support@example.org"]
        };
        for rcpt in order {
            env.deliver(rcpt, "ann@customer.example", m).deliver_code(0);
        }
        assert_eq!(env.count(1), 2, "support first: {support_first}");
        assert!(!env.store.join("2").exists());
    }
}

#[test]
fn mail_without_a_message_id_is_still_deduplicated() {
    let env = Env::new();
    let m = "From: ann@customer.example\nTo: support@example.org\nSubject: no id\n\nb\n";
    env.deliver("support@example.org", "ann@customer.example", m)
        .deliver_code(0);
    env.deliver("support@example.org", "ann@customer.example", m)
        .deliver_code(0);
    assert!(!env.store.join("2").exists());
    assert!(
        env.ticket_text(1)
            .contains("\nX-Mailtix-Key: <no-message-id.")
    );
}

#[test]
fn an_admin_closes_by_mail() {
    let env = Env::new();
    new_ticket(&env);
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail(ADMIN, "done", "c1@x", "", "fixed\n"),
    )
    .deliver_code(0);
    assert!(env.is_closed(1) && !env.is_open(1));
    assert!(String::from_utf8_lossy(&env.archived(1).unwrap()).contains("fixed"));
}

#[test]
fn a_forged_close_is_filed_refused_and_reported() {
    let env = Env::new();
    new_ticket(&env);
    env.clear_sent();
    // From: says admin, envelope sender does not
    env.deliver(
        "ticket-1-close@example.org",
        "evil@attacker.example",
        &mail(ADMIN, "close", "c1@x", "", "forged\n"),
    )
    .deliver_code(0);
    // envelope says admin, From: does not
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail("evil@attacker.example", "close", "c2@x", "", "forged\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(1), "still open");
    assert_eq!(env.count(1), 3, "both attempts are kept in the ticket");
    let notices: Vec<_> = env
        .sent()
        .into_iter()
        .filter(|s| s.rcpts() == [ADMIN])
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(
        notices[0]
            .header("Subject")
            .unwrap()
            .contains("close refused")
    );
}

#[test]
fn with_tokens_on_only_the_right_token_closes() {
    let env = Env::with_config("close_token = true");
    new_ticket(&env);
    let notice = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == [ADMIN])
        .unwrap();
    let close = notice
        .raw
        .lines()
        .find_map(|l| l.strip_prefix("Close: "))
        .expect("the notice gives the close address")
        .trim()
        .to_string();
    assert!(close.starts_with("ticket-1-close-"), "{close}");
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail(ADMIN, "x", "t1@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(1), "no token");
    env.deliver(
        "ticket-1-close-0123456789abcdef@example.org",
        ADMIN,
        &mail(ADMIN, "x", "t2@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(1), "wrong token");
    env.deliver(&close, ADMIN, &mail(ADMIN, "x", "t3@x", "", "b\n"))
        .deliver_code(0);
    assert!(env.is_closed(1), "right token");
}

#[test]
fn mail_to_a_closed_ticket_reopens_it_unless_automatic() {
    let env = Env::new();
    new_ticket(&env);
    env.run(&["close", "1"], b"", &[]).code(0);
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "x",
            "o1@x",
            "Auto-Submitted: auto-replied\n",
            "away\n",
        ),
    )
    .deliver_code(0);
    assert!(env.is_closed(1), "an autoreply does not reopen");
    env.clear_sent();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "o2@x", "", "still broken\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(1), "a person reopens");
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].header("Subject").unwrap().contains("reopened"));
}

#[test]
fn a_failed_send_never_changes_the_exit_code() {
    let env = Env::with_config_and_mail(
        "",
        Some("transport = \"sendmail\"\nsendmail = \"/bin/false\""),
    );
    let r = env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "f1@x", "", "b\n"),
    );
    r.deliver_code(0);
    assert!(r.stderr.contains("failed"), "{}", r.stderr);
    assert!(env.log().contains("failed"));
}

#[test]
fn the_file_transport_writes_the_outbox() {
    let env = Env::with_config_and_mail("", Some("transport = \"file\"\noutbox = \"out\""));
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "f1@x", "", "b\n"),
    )
    .deliver_code(0);
    let n = fs::read_dir(env.path().join("out")).unwrap().count();
    assert_eq!(n, 2, "ack and notice");
}

#[test]
fn each_delivery_logs_one_line() {
    let env = Env::new();
    env.run(
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            "ann@customer.example",
        ],
        mail("ann@customer.example", "x", "l1@x", "", "b\n").as_bytes(),
        &[("MESSAGE_ID", "1abcDE-000001-XY")],
    )
    .deliver_code(0);
    let log = env.log();
    assert_eq!(log.lines().count(), 1);
    for part in [
        "exim=1abcDE-000001-XY",
        "sender=ann@customer.example",
        "rcpt=support@example.org",
        "ticket=1",
        "action=new",
        "outcome=0",
    ] {
        assert!(log.contains(part), "{part} in {log}");
    }
}

#[test]
fn a_held_lock_is_a_temporary_failure_and_changes_nothing() {
    let env = Env::new();
    new_ticket(&env);
    let before = env.ticket(1);
    fs::write(env.store.join("1.lock"), b"").unwrap();
    let r = env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "k1@x", "", "b\n"),
    );
    r.deliver_code(75);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    assert_eq!(env.ticket(1), before);
    fs::remove_file(env.store.join("1.lock")).unwrap();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "k1@x", "", "b\n"),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 2);
}

#[test]
fn concurrent_new_tickets_get_distinct_ids() {
    let env = std::sync::Arc::new(Env::new());
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let env = env.clone();
            std::thread::spawn(move || {
                env.deliver(
                    "support@example.org",
                    "ann@customer.example",
                    &mail("ann@customer.example", "x", &format!("c{i}@x"), "", "b\n"),
                )
                .code
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0);
    }
    let mut ids: Vec<u32> = fs::read_dir(&env.store)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=16).collect::<Vec<u32>>());
    for id in ids {
        assert_eq!(env.count(id), 1);
    }
}

#[test]
fn the_quickstart_works_without_a_config() {
    let env = Env::new();
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("deliver");
    env.spawn(
        cmd,
        &fixture("../../examples/messages/01-new-ticket.eml"),
        &[],
    )
    .deliver_code(0);
    let store = env.path().join("tickets");
    assert!(store.join("1").is_file());
    let outbox = fs::read_dir(store.join(".mailtix/outbox")).unwrap().count();
    assert_eq!(
        outbox, 1,
        "the acknowledgement is in the outbox (no admins by default)"
    );
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("deliver");
    let other = env.path().join("elsewhere");
    env.spawn(
        cmd,
        &fixture("../../examples/messages/01-new-ticket.eml"),
        &[("MAILTIX_STORE", other.to_str().unwrap())],
    )
    .deliver_code(0);
    assert!(other.join("1").is_file(), "$MAILTIX_STORE is honoured");
}

#[test]
fn addresses_match_without_case() {
    let env = Env::new();
    env.deliver(
        "SUPPORT@Example.ORG",
        "a@b.c",
        &mail("a@b.c", "x", "case1@x", "", "b\n"),
    )
    .deliver_code(0);
    env.deliver(
        "Ticket-1@EXAMPLE.org",
        "a@b.c",
        &mail("a@b.c", "x", "case2@x", "", "b\n"),
    )
    .deliver_code(0);
    env.deliver(
        "TICKET-1-CLOSE@example.org",
        ADMIN,
        &mail(ADMIN, "x", "case3@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(env.is_closed(1));
    assert_eq!(env.count(1), 3);
}

#[test]
fn the_message_is_on_disk_before_any_mail_goes_out() {
    // A sendmail stand-in that records what the ticket file held when it ran.
    let env = Env::new();
    let script = env.path().join("checking-sendmail");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > /dev/null\ngrep -c 'It burns' {}/1 >> {}/seen || echo 0 >> {}/seen\n",
            env.store.display(),
            env.path().display(),
            env.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = fs::read_to_string(&env.config).unwrap();
    let cfg = cfg.replace(
        &env.path().join("sendmail").display().to_string(),
        &script.display().to_string(),
    );
    fs::write(&env.config, cfg).unwrap();
    new_ticket(&env);
    let seen = fs::read_to_string(env.path().join("seen")).unwrap();
    assert_eq!(
        seen, "1\n1\n",
        "both the ack and the notice saw the stored message"
    );
}

#[test]
fn the_from_line_date_is_utc() {
    let env = Env::new();
    env.run(
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            "a@b.c",
        ],
        mail("a@b.c", "x", "tz@x", "", "b\n").as_bytes(),
        &[("TZ", "Pacific/Kiritimati")],
    )
    .deliver_code(0);
    let text = env.ticket_text(1);
    let line = text.lines().next().unwrap();
    let date = mailtix::summary::from_line_date(line.strip_prefix("From ").unwrap()).unwrap();
    #[allow(clippy::disallowed_methods)] // the test compares with the real clock
    let now = chrono::Utc::now();
    assert!((now - date).num_seconds().abs() < 120, "{line} vs {now}");
}

#[test]
fn an_fcntl_lock_held_by_another_program_makes_delivery_wait() {
    let env = Env::new();
    new_ticket(&env);
    let path = env.store.join("1");
    // Python's lockf is fcntl(F_SETLK), the lock mutt takes.
    let hold = |secs: f64| {
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg("import fcntl,sys,time\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(float(sys.argv[2]))")
            .arg(&path)
            .arg(secs.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");
        child
    };
    let before = env.ticket(1);
    let mut holder = hold(3.0);
    env.deliver(
        "ticket-1@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "fl1@x", "", "b\n"),
    )
    .deliver_code(75);
    assert_eq!(env.ticket(1), before, "unchanged after a lock timeout");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let mut holder = hold(0.4);
    env.deliver(
        "ticket-1@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "fl2@x", "", "b\n"),
    )
    .deliver_code(0);
    holder.wait().unwrap();
    assert_eq!(env.count(1), 2);
}

#[test]
fn appending_keeps_the_access_time_so_mutt_sees_new_mail() {
    let env = Env::new();
    new_ticket(&env);
    let path = env.store.join("1");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let f = fs::File::options().write(true).open(&path).unwrap();
    f.set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    drop(f);
    env.deliver(
        "ticket-1@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "at@x", "", "b\n"),
    )
    .deliver_code(0);
    let m = fs::metadata(&path).unwrap();
    assert_eq!(m.accessed().unwrap(), old);
    assert!(m.modified().unwrap() > old);
}

#[test]
fn mailtix_config_names_the_config() {
    let env = Env::new();
    new_ticket(&env);
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["list", "--json"]);
    let r = env.spawn(
        cmd,
        b"",
        &[
            ("MAILTIX_CONFIG", env.config.to_str().unwrap()),
            ("MAILTIX_STORE", "/nonexistent"),
        ],
    );
    r.code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["id"], 1, "{}", r.stdout);
}

#[test]
fn help_and_version_exit_0_and_only_a_bad_deliver_line_is_75() {
    let env = Env::new();
    for args in [
        &["deliver", "--help"][..],
        &["help", "deliver"],
        &["--version"],
        &["deliver", "-h"],
    ] {
        let r = env.run(args, b"", &[]);
        r.code(0);
        assert_eq!(r.stderr, "", "{args:?}");
        assert!(!r.stdout.is_empty(), "{args:?}");
        assert!(
            r.stdout.contains("Usage: mailtix") || r.stdout.starts_with("mailtix "),
            "{}",
            r.stdout
        );
    }
    let ok = mail("ann@customer.example", "x", "h1@x", "", "b\n");
    let r = env.run(&["deliver", "--bogus"], ok.as_bytes(), &[]);
    r.deliver_code(75);
    assert!(r.stderr.contains("--bogus"), "{}", r.stderr);
    // `deliver` as the value of --config is not the deliver subcommand
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--config", "deliver", "list", "--bogus"]);
    env.spawn(cmd, b"", &[]).code(2);
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["list", "deliver"]);
    env.spawn(cmd, b"", &[]).code(2);
    assert!(!env.store.join("1").exists());
}

#[test]
fn a_tag_for_a_missing_ticket_opens_a_new_one_and_the_ack_says_so() {
    let env = Env::new();
    new_ticket(&env);
    env.clear_sent();
    let r = env.deliver(
        "support@example.org",
        "bob@customer.example",
        &mail(
            "bob@customer.example",
            "Re: [issue42] still broken",
            "tag42@x",
            "",
            "hello\n",
        ),
    );
    r.deliver_code(0);
    assert!(r.stderr.contains("ticket 2: new"), "{}", r.stderr);
    assert_eq!(env.count(2), 1);
    let sent = env.sent();
    let ack = sent
        .iter()
        .find(|s| s.rcpts() == ["bob@customer.example"])
        .expect("an ack to bob");
    assert!(
        ack.raw.contains("[issue42] in the subject named no ticket"),
        "{}",
        ack.raw
    );
    assert!(ack.header("Subject").unwrap().starts_with("[issue2] "));
    let notice = sent.iter().find(|s| s.rcpts() == [ADMIN]).unwrap();
    assert!(
        notice
            .raw
            .replace("=\r\n", "")
            .contains("[issue42] in the subject named no ticket"),
        "{}",
        notice.raw
    );
}

#[test]
fn a_close_address_with_a_malformed_token_is_filed_as_a_refused_close() {
    for extra in ["", "close_token = true"] {
        let env = Env::with_config(extra);
        new_ticket(&env);
        env.clear_sent();
        for (i, rcpt) in [
            "ticket-1-close-zz@example.org",
            "ticket-1-close-@example.org",
            "ticket-1-close-0123@example.org",
        ]
        .iter()
        .enumerate()
        {
            let r = env.deliver(
                rcpt,
                ADMIN,
                &mail(ADMIN, "x", &format!("mt{i}@x"), "", "b\n"),
            );
            r.deliver_code(0);
            assert!(r.stderr.contains("close-refused"), "{rcpt}: {}", r.stderr);
        }
        assert!(env.is_open(1), "{extra}: still open");
        assert_eq!(env.count(1), 4, "{extra}: every attempt is filed");
        assert_eq!(
            env.sent().iter().filter(|s| s.rcpts() == [ADMIN]).count(),
            3,
            "{extra}: the admins hear of each"
        );
    }
}
