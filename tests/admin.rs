//! The admin commands through the real binary.

use crate::support::*;
use std::fs;

fn with_tickets(n: usize) -> Env {
    let env = Env::new();
    for i in 1..=n {
        env.deliver(
            "support@example.org",
            &format!("user{i}@customer.example"),
            &mail(
                &format!("User {i} <user{i}@customer.example>"),
                &format!("Problem {i}"),
                &format!("t{i}@x"),
                "",
                "help\n",
            ),
        )
        .deliver_code(0);
    }
    env
}

#[test]
fn list_shows_open_tickets_newest_activity_first() {
    let env = with_tickets(3);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.deliver(
        "ticket-1@example.org",
        "user1@customer.example",
        &mail("user1@customer.example", "more", "f1@x", "", "b\n"),
    )
    .deliver_code(0);
    let r = env.run(&["list"], b"", &[]);
    r.code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{}", r.stdout);
    assert_eq!(lines.len(), 4);
    assert!(
        lines[1].starts_with("1 "),
        "ticket 1 has the newest activity: {}",
        r.stdout
    );
    assert!(r.stdout.contains("Problem 2") && r.stdout.contains("user3@customer.example"));
    // columns are aligned: SUBJECT starts at the same offset on every line
    let col = lines[0].find("SUBJECT").unwrap();
    for l in &lines[1..] {
        assert!(l[col..].starts_with("Problem"), "{l}");
    }
}

#[test]
fn list_json_has_the_spec_fields() {
    let env = with_tickets(2);
    env.run(&["close", "2"], b"", &[]).code(0);
    let r = env.run(&["list", "--all", "--json"], b"", &[]);
    r.code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    for t in arr {
        assert!(t["id"].is_u64());
        assert!(t["state"] == "open" || t["state"] == "closed");
        assert!(t["subject"].as_str().unwrap().starts_with("Problem"));
        assert!(t["requester"].as_str().unwrap().contains('@'));
        assert_eq!(t["messages"], 1, "the close note is not a message");
        for k in ["created", "updated"] {
            chrono::DateTime::parse_from_rfc3339(t[k].as_str().unwrap()).unwrap();
        }
    }
    let closed = env.run(&["list", "--closed", "--json"], b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&closed.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], 2);
    let open = env.run(&["list", "--json"], b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&open.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], 1);
}

#[test]
fn show_renders_text_html_and_attachments() {
    let env = Env::new();
    env.delivery()
        .to("support@example.org")
        .stdin(fixture("09-multipart-attachment.eml"))
        .run()
        .deliver_code(0);
    env.delivery()
        .to("ticket-1@example.org")
        .stdin(fixture("10-html-only.eml"))
        .run()
        .deliver_code(0);
    let r = env.run(&["show", "1"], b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("From:"), "{}", r.stdout);
    assert!(r.stdout.contains("Subject: Logs attached"), "{}", r.stdout);
    assert!(
        r.stdout.contains("report.pdf (application/pdf"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Only HTML here"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("<b>"),
        "HTML is turned into text: {}",
        r.stdout
    );
    let raw = env.run(&["show", "1", "--raw"], b"", &[]);
    raw.code(0);
    assert_eq!(raw.stdout.as_bytes(), env.ticket(1));
}

#[test]
fn close_and_reopen_move_the_file_and_record_it() {
    let env = with_tickets(1);
    let r = env.run(&["close", "1"], b"", &[("USER", "maint")]);
    r.code(0);
    assert!(env.is_closed(1) && !env.is_open(1));
    let text = String::from_utf8(env.archived(1).unwrap()).unwrap();
    assert!(text.contains("X-Mailtix-Event: closed"), "{text}");
    assert!(text.contains("maint"), "{text}");
    // closing again changes nothing
    let before = env.archived(1).unwrap();
    env.run(&["close", "1"], b"", &[]).code(0);
    assert_eq!(env.archived(1).unwrap(), before);
    env.run(&["reopen", "1"], b"", &[]).code(0);
    assert!(env.is_open(1));
    assert!(env.ticket_text(1).contains("X-Mailtix-Event: reopened"));
    let before = env.ticket(1);
    env.run(&["reopen", "1"], b"", &[]).code(0);
    assert_eq!(env.ticket(1), before);
    assert_eq!(env.count(1), 3);
}

#[test]
fn admin_errors_are_one_line_and_usage_errors_are_2() {
    let env = with_tickets(1);
    for args in [&["show", "9"][..], &["close", "9"], &["reopen", "9"]] {
        let r = env.run(args, b"", &[]);
        r.code(1);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("no such ticket 9"), "{}", r.stderr);
    }
    env.run(&["show", "01"], b"", &[]).code(2);
    env.run(&["show"], b"", &[]).code(2);
    env.run(&["frobnicate"], b"", &[]).code(2);
    env.run(&["--help"], b"", &[]).code(0);
}

#[test]
fn archive_closes_idle_tickets() {
    let env = with_tickets(2);
    let r = env.run(&["archive", "--idle", "30"], b"", &[]);
    r.code(0);
    assert!(env.is_open(1) && env.is_open(2), "nothing is 30 days idle");
    let r = env.run(&["archive", "--idle", "0", "--dry-run"], b"", &[]);
    r.code(0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(
        env.is_open(1) && env.is_open(2),
        "a dry run changes nothing"
    );
    env.run(&["archive", "--idle", "0"], b"", &[]).code(0);
    assert!(env.is_closed(1) && env.is_closed(2));
    // an old ticket, by its From_ line date
    let old = "From a@b.c Mon Jan  5 10:00:00 2026\nFrom: a@b.c\nSubject: old\nMessage-ID: <old@x>\n\nb\n\n";
    fs::write(env.store.join("7"), old).unwrap();
    env.run(&["archive", "--idle", "30"], b"", &[]).code(0);
    assert!(env.is_closed(7));
}

#[test]
fn check_reports_problems() {
    let env = with_tickets(1);
    let r = env.run(&["check"], b"", &[]);
    r.code(0);
    fs::write(env.store.join("5"), "this is not an mbox\n").unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(r.stdout.contains("ticket 5"), "{}", r.stdout);
    fs::remove_file(env.store.join("5")).unwrap();
    fs::write(env.store.join(".mailtix/pending/1"), "0 10 x@y\n").unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("repaired: ticket 1"), "{}", r.stdout);
    assert!(!env.store.join(".mailtix/pending/1").exists());
    fs::write(env.store.join("1.lock"), "").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(env.store.join("1.lock"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(
        r.stdout.contains("1.lock"),
        "a stale dotlock is reported: {}",
        r.stdout
    );
    fs::remove_file(env.store.join("1.lock")).unwrap();
    fs::write(&env.config, "bogus = 1\n").unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(r.stderr.contains("bogus"), "{}", r.stderr);
}

#[test]
fn reindex_rebuilds_threading_from_the_mbox_files() {
    let env = with_tickets(2);
    fs::remove_dir_all(env.store.join(".mailtix")).unwrap();
    let r = env.run(&["reindex"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout
            .contains("indexed 2 messages in 2 tickets; the next ticket is 3"),
        "{}",
        r.stdout
    );
    // a restored ticket with a higher number moves the counter past it
    fs::copy(env.store.join("2"), env.store.join("archived/9")).unwrap();
    fs::write(env.store.join(".mailtix/next-id"), "3\n").unwrap();
    let r = env.run(&["reindex"], b"", &[]);
    assert!(r.stdout.contains("the next ticket is 10"), "{}", r.stdout);
    fs::remove_file(env.store.join("archived/9")).unwrap();
    fs::write(env.store.join(".mailtix/next-id"), "3\n").unwrap();
    env.run(&["reindex"], b"", &[]).code(0);
    env.deliver(
        "support@example.org",
        "x@y.example",
        &mail(
            "x@y.example",
            "no tag",
            "z@x",
            "In-Reply-To: <t2@x>\n",
            "b\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(2), 2);
    env.deliver(
        "support@example.org",
        "x@y.example",
        &mail("x@y.example", "new", "n@x", "", "b\n"),
    )
    .deliver_code(0);
    assert!(env.is_open(3), "ids continue after the highest ticket");
}

#[test]
fn a_broken_pipe_is_not_an_error() {
    let env = with_tickets(1);
    let big = mail(
        "a@b.c",
        "big",
        "big@x",
        "",
        &"0123456789abcdef\n".repeat(20_000),
    );
    env.deliver("ticket-1@example.org", "a@b.c", &big)
        .deliver_code(0);
    assert!(
        env.ticket(1).len() > 256 * 1024,
        "larger than any pipe buffer"
    );
    let mut child = std::process::Command::new(BIN)
        .args([
            "--config",
            env.config.to_str().unwrap(),
            "show",
            "1",
            "--raw",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn list_follows_changes_to_cached_tickets() {
    let env = with_tickets(2);
    let count = |env: &Env, args: &[&str]| -> Vec<(u64, u64)> {
        let r = env.run(args, b"", &[]);
        r.code(0);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let mut pairs: Vec<(u64, u64)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_u64().unwrap(), t["messages"].as_u64().unwrap()))
            .collect();
        pairs.sort();
        pairs
    };
    assert_eq!(count(&env, &["list", "--json"]), [(1, 1), (2, 1)]);
    assert!(
        env.store.join(".mailtix/summaries").exists(),
        "the cache is written"
    );
    env.deliver(
        "ticket-1@example.org",
        "user1@customer.example",
        &mail("user1@customer.example", "more", "lc1@x", "", "b\n"),
    )
    .deliver_code(0);
    assert_eq!(
        count(&env, &["list", "--json"]),
        [(1, 2), (2, 1)],
        "a follow-up is seen"
    );
    env.run(&["close", "2"], b"", &[]).code(0);
    assert_eq!(count(&env, &["list", "--json"]), [(1, 2)]);
    assert_eq!(count(&env, &["list", "--closed", "--json"]), [(2, 1)]);
    // a file replaced by hand (a restored backup) is read again
    fs::write(env.store.join("1"), "From a@b.c Mon Jan  5 10:00:00 2026\nFrom: a@b.c\nSubject: restored\nMessage-ID: <r@x>\n\nb\n\n").unwrap();
    let r = env.run(&["list", "--json"], b"", &[]);
    assert!(r.stdout.contains("restored"), "{}", r.stdout);
    // a corrupt cache is ignored
    fs::write(env.store.join(".mailtix/summaries"), "nonsense\n1\topen\n").unwrap();
    assert_eq!(count(&env, &["list", "--all", "--json"]).len(), 2);
}

#[test]
fn a_close_is_logged_as_close_by_mail_and_by_command() {
    let env = Env::with_config(
        "[[hooks]]\nevent = \"close\"\ncommand = \"true\"\n[[hooks]]\nevent = \"reopen\"\ncommand = \"true\"\n",
    );
    for n in 1..=2 {
        env.deliver(
            "support@example.org",
            "ann@customer.example",
            &mail("ann@customer.example", "x", &format!("lg{n}@x"), "", "b\n"),
        )
        .deliver_code(0);
    }
    env.deliver(
        "ticket-1-close@example.org",
        ADMIN,
        &mail(ADMIN, "done", "lgc@x", "", "fixed\n"),
    )
    .deliver_code(0);
    env.run(&["close", "2"], b"", &[]).code(0);
    env.run(&["reopen", "2"], b"", &[]).code(0);
    let log = env.log();
    let action = |ticket: u32, by: &str| {
        log.lines()
            .filter(|l| l.contains(&format!(" ticket={ticket} ")) && l.contains(by))
            .filter_map(|l| l.split(" action=").nth(1)?.split(' ').next())
            .collect::<Vec<_>>()
    };
    assert_eq!(action(1, " exim="), ["new", "close"], "{log}");
    assert_eq!(action(2, " by="), ["close", "reopen"], "{log}");
}
