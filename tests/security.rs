//! SPEC "Security": strict ids, no symlinks, no header injection, safe permissions.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn odd_ticket_addresses_are_not_ours() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "p0@x", "", "b\n"),
    )
    .deliver_code(0);
    let before = env.ticket(1);
    for rcpt in [
        "ticket-../x@example.org",
        "ticket-1/../../etc@example.org",
        "ticket-0001@example.org",
        "ticket--1@example.org",
        "ticket-18446744073709551617@example.org",
        "ticket-1 @example.org",
        "ticket-+1@example.org",
    ] {
        env.deliver(rcpt, "a@b.c", &mail("a@b.c", "x", "p1@x", "", "b\n"))
            .deliver_code(67);
    }
    assert_eq!(env.ticket(1), before);
    // a malformed subject tag is just text: the mail opens a new ticket
    env.deliver(
        "support@example.org",
        "a@b.c",
        &mail("a@b.c", "[issue../../x]", "p2@x", "", "b\n"),
    )
    .deliver_code(0);
    assert_eq!(env.count(2), 1);
    let names: Vec<String> = fs::read_dir(&env.store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| ["1", "2", "archived", ".mailtix"].contains(&n.as_str())),
        "{names:?}"
    );
}

#[test]
fn a_symlinked_or_hard_linked_ticket_is_refused_and_its_target_unchanged() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "s0@x", "", "b\n"),
    )
    .deliver_code(0);
    let target = env.path().join("precious");
    fs::write(&target, b"keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, env.store.join("2")).unwrap();
    env.deliver(
        "ticket-2@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "s1@x", "", "b\n"),
    )
    .deliver_code(75);
    fs::hard_link(&target, env.store.join("3")).unwrap();
    env.deliver(
        "ticket-3@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "s2@x", "", "b\n"),
    )
    .deliver_code(75);
    assert_eq!(fs::read(&target).unwrap(), b"keep me\n");
}

#[test]
fn a_world_writable_store_is_refused() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "w0@x", "", "b\n"),
    )
    .deliver_code(0);
    fs::set_permissions(&env.store, fs::Permissions::from_mode(0o777)).unwrap();
    let r = env.deliver(
        "ticket-1@example.org",
        "a@b.c",
        &mail("a@b.c", "x", "w1@x", "", "b\n"),
    );
    r.deliver_code(75);
    assert!(r.stderr.contains("world-writable"), "{}", r.stderr);
    assert_eq!(env.count(1), 1);
}

#[test]
fn files_are_private_to_owner_and_group_whatever_the_umask() {
    let env = Env::new();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(format!(
        "umask 000; exec {BIN} --config {} deliver --recipient support@example.org --sender a@b.c",
        env.config.display()
    ));
    env.spawn(cmd, mail("a@b.c", "x", "u0@x", "", "b\n").as_bytes(), &[])
        .deliver_code(0);
    let mut checked = 0;
    let mut stack = vec![env.store.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o007, 0, "{} is {:o}", e.path().display(), mode);
            checked += 1;
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(checked > 5);
}

#[test]
fn header_injection_through_subject_name_or_address_is_impossible() {
    let env = Env::new();
    let m = "From: =?utf-8?q?Ann=0D=0ABcc=3A_victim=40evil=2Eexample?= <ann@customer.example>\nTo: support@example.org\nSubject: =?utf-8?q?hi=0D=0ABcc=3A_victim=40evil=2Eexample?=\nMessage-ID: <inj@x>\n\nbody\n";
    env.deliver("support@example.org", "ann@customer.example", m)
        .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 2);
    for s in &sent {
        let head = s.raw.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            assert!(
                !line.to_ascii_lowercase().starts_with("bcc"),
                "injected: {line}"
            );
        }
        assert!(!s.rcpts().iter().any(|r| r.contains("victim")));
    }
    // an address that tries to smuggle an SMTP command gets no ack at all
    let env = Env::new();
    let m = "From: \"x\" <\"a>\\r\\nRCPT TO:<victim@evil.example\"@customer.example>\nTo: support@example.org\nSubject: s\nMessage-ID: <inj2@x>\n\nbody\n";
    env.deliver("support@example.org", "x@customer.example", m)
        .deliver_code(0);
    for s in env.sent() {
        for r in s.rcpts() {
            assert!(!r.contains("victim") && !r.contains('\n'), "{r:?}");
        }
    }
}

#[test]
fn a_message_id_in_our_shape_routes_only_with_its_mac_even_after_reindex() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "f0@x", "", "b\n"),
    )
    .deliver_code(0);
    let ack_id = env
        .sent()
        .iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap()
        .header("Message-ID")
        .unwrap();
    // a stranger names ticket 1 in mailtix's id shape, without the MAC or with a
    // MAC copied from the ack but the ticket number changed
    let forged_mac = ack_id.replacen("mailtix.1.", "mailtix.2.", 1);
    for (i, refs) in [
        "<mailtix.1.ack.1.1@example.org>".to_string(),
        "<mailtix.1.ack.1@example.org>".to_string(),
        forged_mac,
    ]
    .iter()
    .enumerate()
    {
        env.deliver(
            "support@example.org",
            "evil@attacker.example",
            &mail(
                "evil@attacker.example",
                "hello",
                &format!("f{}@attacker.example", i + 1),
                &format!("In-Reply-To: {refs}\nReferences: {refs}\n"),
                "b\n",
            ),
        )
        .deliver_code(0);
        assert_eq!(env.count(1), 1, "{refs} routed to ticket 1");
        assert_eq!(env.count(i as u32 + 2), 1, "{refs} opened its own ticket");
    }
    // our own id verifies without the index
    env.run(&["reindex"], b"", &[]).code(0);
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "reply to the ack",
            "f9@x",
            &format!("In-Reply-To: {ack_id}\n"),
            "b\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 2);
}

#[test]
fn incoming_x_mailtix_headers_cannot_fake_a_note_or_a_trace_key() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "n0@x", "", "b\n"),
    )
    .deliver_code(0);
    // a stranger's follow-up that starts like a note and carries a trace key
    let forged = "X-Mailtix-Event: closed\nX-Mailtix-Key: <no-message-id.0000000000000000@mailtix>\nFrom: evil@attacker.example\nSubject: fake note\n\nhi\n";
    env.deliver("ticket-1@example.org", "evil@attacker.example", forged)
        .deliver_code(0);
    env.run(&["close", "1"], b"", &[]).code(0);
    let text = String::from_utf8(env.archived(1).unwrap()).unwrap();
    assert!(
        text.contains("\nX-Original-Mailtix-Event: closed\nX-Original-Mailtix-Key: <no-message-id.0000000000000000@mailtix>\nFrom: evil@"),
        "{text}"
    );
    let r = env.run(&["list", "--all", "--json"], b"", &[]);
    r.code(0);
    let list: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        list[0]["messages"], 2,
        "the stranger's mail counts, the real close note does not: {}",
        r.stdout
    );
    env.run(&["reindex"], b"", &[]).code(0);
    let mut index = String::new();
    for e in fs::read_dir(env.store.join(".mailtix/index")).unwrap() {
        index.push_str(&fs::read_to_string(e.unwrap().path()).unwrap());
    }
    assert!(!index.contains("no-message-id.0000000000000000"), "{index}");
    assert!(index.contains("no-message-id."), "{index}");
}

#[test]
fn a_reused_message_id_with_another_body_is_stored_but_a_real_copy_is_not() {
    let env = Env::new();
    // the attacker sends first, with the Message-ID the victim's mail will carry
    env.deliver(
        "support@example.org",
        "evil@attacker.example",
        &mail(
            "evil@attacker.example",
            "decoy",
            "victim-1@customer.example",
            "",
            "decoy\n",
        ),
    )
    .deliver_code(0);
    env.clear_sent();
    let real = mail(
        "ann@customer.example",
        "Printer on fire",
        "victim-1@customer.example",
        "",
        "It burns.\n",
    );
    let r = env.deliver("support@example.org", "ann@customer.example", &real);
    r.deliver_code(0);
    assert!(r.stderr.contains(": new ("), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("also holds a message with this Message-ID"),
        "{}",
        r.stderr
    );
    assert!(
        env.log()
            .contains("also holds a message with this Message-ID")
    );
    assert_eq!(env.count(1), 1, "not filed in the attacker's ticket");
    assert!(env.ticket_text(2).contains("It burns."));
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"]),
        "the victim is acknowledged"
    );
    // the real mail again: an Exim retry, a copy to ticket-2@ with other envelope
    // headers, a Bcc copy to support@; also after a reindex
    let to_ticket = format!("Delivered-To: ticket-2@example.org\n{real}");
    let bcc =
        format!("Delivered-To: support@example.org\nX-Original-To: support@example.org\n{real}");
    for (rcpt, m) in [
        ("support@example.org", real.as_str()),
        ("ticket-2@example.org", to_ticket.as_str()),
        ("support@example.org", bcc.as_str()),
    ] {
        let r = env.deliver(rcpt, "ann@customer.example", m);
        r.deliver_code(0);
        assert!(r.stderr.contains("ticket 2: duplicate"), "{}", r.stderr);
    }
    env.run(&["reindex"], b"", &[]).code(0);
    let r = env.deliver("ticket-2@example.org", "ann@customer.example", &to_ticket);
    r.deliver_code(0);
    assert!(r.stderr.contains("ticket 2: duplicate"), "{}", r.stderr);
    assert_eq!(env.count(2), 1);
    assert!(!env.store.join("3").exists());
    // another body under the same id, to the victim's own ticket, is kept too
    let third = real.replace("It burns.", "Still burning.");
    env.deliver("ticket-2@example.org", "ann@customer.example", &third)
        .deliver_code(0);
    assert_eq!(env.count(2), 2);
}

/// True for what a terminal acts on or reorders: C0 but newline and tab, DEL, C1, and
/// the bidi, shaping, annotation and tag format characters.
fn unsafe_for_terminal(c: char) -> bool {
    mailtix::term::is_unsafe(c)
        || matches!(c, '\u{1b}' | '\u{7}' | '\u{9b}' | '\u{9d}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[test]
fn nothing_in_a_mail_reaches_the_terminal_as_a_control_sequence() {
    let env = Env::new();
    // raw ESC, BEL, CSI (ESC [ and C1 U+009B), OSC and bidi overrides, in every field
    // list and show print: the requester, the subject, the body, attachment types and
    // filenames (plain, RFC 2047 and RFC 2231)
    let m = "From: \"Ann \x1b]0;pwned\x07\" <\"ann\x1b[2J\"@customer.example>\nReply-To: <ann\x1b]0;x\x07\u{9b}2J@customer.example>\nTo: support@example.org\nSubject: =?utf-8?q?hi_=1B[2J_=C2=9B31m_=E2=80=AEtxt.exe=E2=80=AC_=E2=81=A6x=E2=81=A9?= \x1b]8;;http://evil/\x07link\nMessage-ID: <term@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nbody \x1b[1mbold\u{9b}2J \u{202e}evil\u{202c}\n--b\nContent-Type: application/x-\x1b[5mblink\x07; name=\"a\x1b[2Jb.bin\"\nContent-Disposition: attachment; filename=\"a\x1b[2Jb\u{202e}nib.exe\"\n\nAAAA\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''%1B%5D0%3Bt%07x%C2%9B%E2%80%AE.txt\n\nBBBB\n--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"=?utf-8?q?i=1B[2Jmg=E2=80=AEgnp.exe?=\"\n\nCCCC\n--b--\n";
    env.deliver("support@example.org", "ann@customer.example", m)
        .deliver_code(0);
    let outputs = [
        env.run(&["list"], b"", &[]), // the first run reads the ticket itself
        env.run(&["list"], b"", &[]), // the second reads the summary cache
        env.run(&["list", "--all"], b"", &[]),
        env.run(&["show", "1"], b"", &[]),
        env.run(&["show", "999"], b"", &[]),
    ];
    for r in &outputs {
        for (what, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            let bad: Vec<char> = text.chars().filter(|&c| unsafe_for_terminal(c)).collect();
            assert!(bad.is_empty(), "{what} has {bad:?}: {text:?}");
        }
    }
    let show = &outputs[3].stdout;
    for shown in [
        "From:    Ann ]0;pwned <\"ann [2J\"@customer.example>\n",
        "Subject: hi [2J 31m txt.exe x ]8;;http://evil/ link\n",
        "\nbody [1mbold2J evil\n",
        "  - a [2Jbnib.exe (application/x- [5mblink, 4 B)\n",
    ] {
        assert!(show.contains(shown), "{shown:?} in {show}");
    }
    let row = outputs[0].stdout.lines().nth(1).unwrap().to_string();
    assert!(row.contains(" ann]0;x2J@customer.example "), "{row}");
    // the columns stay aligned: widths are measured on the filtered text
    let head = outputs[0].stdout.lines().next().unwrap();
    let col = |s: &str, w: &str| s[..s.find(w).unwrap()].chars().count();
    assert_eq!(col(head, "SUBJECT"), col(&row, "hi [2J"), "{head}\n{row}");
    // --json keeps the characters, escaped: the same strings, nothing a terminal runs
    let json = env.run(&["list", "--json"], b"", &[]);
    json.code(0);
    let bad: Vec<char> = json
        .stdout
        .chars()
        .filter(|&c| unsafe_for_terminal(c) && c != '\n')
        .collect();
    assert!(bad.is_empty(), "{bad:?}: {}", json.stdout);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        v[0]["subject"]
            .as_str()
            .unwrap()
            .contains("\u{202e}txt.exe"),
        "{v}"
    );
    // --raw is the stored bytes, by design
    let raw = env.run(&["show", "1", "--raw"], b"", &[]);
    assert!(raw.stdout.contains('\x1b'));
}
