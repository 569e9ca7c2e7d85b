//! Templates and queues: the files of templates_dir in the mail that goes out, the
//! fallback to the built-in text, check's FILE:LINE, several intake addresses with
//! their own admins and templates, list --queue, move, and STORE/queues/ for Exim.

use crate::support::{ADMIN, Env, mail};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const SALES_ADMIN: &str = "seller@admin.example";

/// The config of `Env::with_config` with `extra` (top-level keys first, then tables).
fn queues_env(extra: &str) -> Env {
    let env = Env::with_config(extra);
    fs::create_dir_all(env.path().join("tpl")).unwrap();
    fs::create_dir_all(env.path().join("sales-tpl")).unwrap();
    env
}

fn template(env: &Env, dir: &str, name: &str, text: &str) {
    let d = env.path().join(dir);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(name), text).unwrap();
    fs::set_permissions(d.join(name), fs::Permissions::from_mode(0o644)).unwrap();
}

/// The body of a captured mail, decoded, CRLF turned into LF.
fn body(raw: &str) -> String {
    mailparse::parse_mail(raw.as_bytes())
        .unwrap()
        .get_body()
        .unwrap()
        .replace("\r\n", "\n")
}

/// Rewrites the config's extra part (what sits before `[mail]`).
fn set_extra(env: &Env, extra: &str) {
    let text = fs::read_to_string(&env.config).unwrap();
    let (head, mail) = text.split_once("\n[mail]\n").unwrap();
    let top = head
        .lines()
        .take_while(|l| !l.starts_with("templates_dir") && !l.starts_with("[[queues]]"))
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&env.config, format!("{top}\n{extra}\n[mail]\n{mail}")).unwrap();
}

const SALES: &str = "[[queues]]\nname = \"sales\"\naddress = \"sales\"\nadmins = [\"seller@admin.example\"]\ntemplates_dir = \"sales-tpl\"\n";

#[test]
fn every_template_file_makes_its_mail_and_fills_every_variable() {
    let env = queues_env("templates_dir = \"tpl\"\nnotify_on_close = true\n");
    template(
        &env,
        "tpl",
        "ack",
        "Hey, got your ticket. We'll fix it.\nticket={ticket} address={address} subject={subject} requester={requester} queue={queue} tag={tag}\n{note}\n{quote}\n{{literal}}\n",
    );
    template(
        &env,
        "tpl",
        "notice",
        "NOTICE {event} ticket={ticket} sender={sender} requester={requester} queue={queue}\nclose={close_address}\nreply=[{reply_address}]\n{quote}\n",
    );
    template(
        &env,
        "tpl",
        "close",
        "Done with {tag}, {requester}. Subject was {subject}.\n",
    );
    template(
        &env,
        "tpl",
        "refused-close",
        "REFUSED {ticket}: {note} (from {sender}; close with {close_address})\n",
    );
    let m = mail(
        "Ann <ann@customer.example>",
        "Printer {close_address}",
        "t1@customer.example",
        "",
        "It burns.\nReally.\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let ack = sent
        .iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    let b = body(&ack.raw);
    assert_eq!(
        b,
        "Hey, got your ticket. We'll fix it.\nticket=1 address=ticket-1@example.org subject=Printer {close_address} requester=ann@customer.example queue=support tag=[issue1]\n> It burns.\n> Really.\n{literal}\n"
    );
    // The headers stay mailtix's.
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        ack.header("Reply-To").as_deref(),
        Some("ticket-1@example.org")
    );
    assert!(ack.envelope_from().unwrap().starts_with("ticket-1-bounce-"));
    let notice = sent.iter().find(|s| s.rcpts() == [ADMIN]).unwrap();
    // Without relay_admin_replies the reply line is empty, so it is left out.
    assert_eq!(
        body(&notice.raw),
        "NOTICE new ticket ticket=1 sender=Ann <ann@customer.example> requester=ann@customer.example queue=support\nclose=ticket-1-close@example.org\n> It burns.\n> Really.\n"
    );
    // A refused close, then a close from the command line.
    env.clear_sent();
    let forged = mail(
        "evil@attacker.example",
        "close",
        "f1@attacker.example",
        "",
        "x\n",
    );
    env.deliver(
        "ticket-1-close@example.org",
        "evil@attacker.example",
        &forged,
    )
    .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    let b = body(&sent[0].raw);
    assert!(b.starts_with("REFUSED 1: "), "{b}");
    assert!(
        b.contains("(from evil@attacker.example; close with ticket-1-close@example.org)"),
        "{b}"
    );
    env.clear_sent();
    env.run(&["close", "1"], b"", &[]).code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        body(&sent[0].raw),
        "Done with [issue1], ann@customer.example. Subject was Printer {close_address}.\n"
    );
}

#[test]
fn a_bad_template_falls_back_to_the_built_in_text_and_is_logged() {
    let env = queues_env("templates_dir = \"tpl\"\n");
    template(&env, "tpl", "ack", "Hi\n\nThis is ticket {tikcet}.\n");
    let m = mail(
        "ann@customer.example",
        "Help",
        "t2@customer.example",
        "",
        "x\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let ack = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    let b = body(&ack.raw);
    assert!(
        b.starts_with("Your message has been received and filed as ticket 1."),
        "{b}"
    );
    assert!(!b.contains('{'), "{b}");
    let log = env.log();
    assert!(
        log.contains("tpl/ack:3: unknown variable {tikcet}"),
        "{log}"
    );
    assert!(log.contains("the built-in text was used"), "{log}");
    // check names the file and the line, and exits 1.
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(
        r.stdout.contains(&format!(
            "problem: {}:3: unknown variable {{tikcet}}",
            env.path().join("tpl/ack").display()
        )),
        "{}",
        r.stdout
    );
    // An admin-only variable in a customer's template is refused the same way.
    template(&env, "tpl", "ack", "Close it yourself: {close_address}\n");
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(
        r.stdout
            .contains("tpl/ack:1: {close_address} is for the admins' templates only"),
        "{}",
        r.stdout
    );
    // A good file makes check happy again; a misspelt file name is pointed out.
    template(&env, "tpl", "ack", "Thanks, {{this}} is ticket {ticket}.\n");
    template(&env, "tpl", "thank_you", "Thanks\n");
    let r = env.run(&["check"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout.contains("tpl/thank_you is not a template name"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_template_others_may_write_is_refused_as_the_config_is() {
    let env = queues_env("templates_dir = \"tpl\"\n");
    template(&env, "tpl", "ack", "Hacked {ticket}\n");
    fs::set_permissions(
        env.path().join("tpl/ack"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(
        r.stdout.contains("refusing template") && r.stdout.contains("world-writable"),
        "{}",
        r.stdout
    );
    let m = mail(
        "ann@customer.example",
        "Help",
        "t3@customer.example",
        "",
        "x\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let ack = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    assert!(!ack.raw.contains("Hacked"), "{}", ack.raw);
    fs::set_permissions(
        env.path().join("tpl/ack"),
        fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(r.stdout.contains("group-writable"), "{}", r.stdout);
}

#[test]
fn a_queue_has_its_own_address_admins_and_templates() {
    let env = queues_env(&format!("templates_dir = \"tpl\"\n{SALES}"));
    template(&env, "tpl", "ack", "GLOBAL ack {ticket} {queue}\n");
    template(&env, "sales-tpl", "ack", "SALES ack {ticket} {queue}\n");
    env.run(&["check"], b"", &[]).code(0);
    let m = mail(
        "ann@customer.example",
        "Quote please",
        "q1@customer.example",
        "",
        "3 printers\n",
    );
    env.deliver("sales@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let b = mail(
        "bob@customer.example",
        "Broken",
        "s1@customer.example",
        "",
        "help\n",
    );
    env.deliver("support@example.org", "bob@customer.example", &b)
        .deliver_code(0);
    let sent = env.sent();
    let to = |who: &str| {
        sent.iter()
            .filter(|s| s.rcpts() == [who])
            .map(|s| body(&s.raw))
            .collect::<Vec<_>>()
    };
    assert_eq!(to("ann@customer.example"), ["SALES ack 1 sales\n"]);
    assert_eq!(to("bob@customer.example"), ["GLOBAL ack 2 support\n"]);
    // The queue's admins get its notices; the global admins get support's.
    let sales_notice = to(SALES_ADMIN);
    assert_eq!(sales_notice.len(), 1);
    assert!(
        sales_notice[0].contains("Ticket 1: new ticket\nQueue:   sales\n"),
        "{}",
        sales_notice[0]
    );
    let boss = to(ADMIN);
    assert_eq!(boss.len(), 1);
    assert!(
        boss[0].contains("Ticket 2: new ticket\nQueue:   support\n"),
        "{}",
        boss[0]
    );
    // A follow-up of the sales ticket goes to the sales admins too.
    env.clear_sent();
    let f = mail(
        "ann@customer.example",
        "Re: Quote please",
        "q2@customer.example",
        "",
        "and toner\n",
    );
    env.deliver("ticket-1@example.org", "ann@customer.example", &f)
        .deliver_code(0);
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpts(), [SALES_ADMIN]);
    // Only the queue's admins may close its tickets by mail.
    let close = mail(ADMIN, "close", "c1@admin.example", "", "done\n");
    env.deliver("ticket-1-close@example.org", ADMIN, &close)
        .deliver_code(0);
    assert!(env.is_open(1));
    let close = mail(SALES_ADMIN, "close", "c2@admin.example", "", "done\n");
    env.deliver("ticket-1-close@example.org", SALES_ADMIN, &close)
        .deliver_code(0);
    assert!(env.is_closed(1));
    // show names the queue.
    let r = env.run(&["show", "1"], b"", &[]);
    r.code(0);
    assert!(r.stdout.starts_with("Queue: sales\n"), "{}", r.stdout);
}

#[test]
fn list_shows_and_filters_by_queue() {
    let env = queues_env(SALES);
    for (rcpt, mid) in [
        ("sales@example.org", "l1@c.example"),
        ("support@example.org", "l2@c.example"),
        ("sales@example.org", "l3@c.example"),
    ] {
        let m = mail("ann@customer.example", mid, mid, "", "x\n");
        env.deliver(rcpt, "ann@customer.example", &m)
            .deliver_code(0);
    }
    let r = env.run(&["list"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout.lines().next().unwrap().contains("QUEUE"),
        "{}",
        r.stdout
    );
    let r = env.run(&["list", "--queue", "sales", "--json"], b"", &[]);
    r.code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ids: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 1]);
    assert!(v.as_array().unwrap().iter().all(|t| t["queue"] == "sales"));
    let r = env.run(&["list", "--queue", "support"], b"", &[]);
    r.code(0);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains("l2@c.example"), "{}", r.stdout);
    let r = env.run(&["list", "--queue", "salse"], b"", &[]);
    r.code(1);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(
        r.stderr.contains("no queue named \"salse\""),
        "{}",
        r.stderr
    );
}

#[test]
fn without_queues_list_and_the_notices_look_as_before() {
    let env = Env::new();
    let m = mail("ann@customer.example", "Help", "n1@c.example", "", "x\n");
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let r = env.run(&["list"], b"", &[]);
    r.code(0);
    assert!(!r.stdout.contains("QUEUE"), "{}", r.stdout);
    let notice = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == [ADMIN])
        .unwrap();
    assert!(!notice.raw.contains("Queue:"), "{}", notice.raw);
    assert!(!env.store.join("queues").exists());
    assert!(!env.ticket_text(1).contains("X-Mailtix-Queue"));
}

#[test]
fn incoming_mail_cannot_put_itself_in_a_queue() {
    let env = queues_env(SALES);
    let m = mail(
        "ann@customer.example",
        "Sneaky",
        "x1@c.example",
        "X-Mailtix-Queue: sales\n",
        "X-Mailtix-Queue: sales\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let r = env.run(&["list", "--queue", "sales"], b"", &[]);
    r.code(0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        env.ticket_text(1)
            .contains("X-Original-Mailtix-Queue: sales")
    );
    let notice = env.sent().into_iter().find(|s| s.rcpts() == [ADMIN]);
    assert!(notice.is_some(), "support's admins get the notice");
}

#[test]
fn move_records_the_queue_in_the_ticket() {
    let env = queues_env(SALES);
    let m = mail(
        "ann@customer.example",
        "Wrong desk",
        "m1@c.example",
        "",
        "x\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let r = env.run(&["move", "1", "sales"], b"", &[("USER", "kemp")]);
    r.code(0);
    assert_eq!(r.stdout, "ticket 1 moved from queue support to sales\n");
    assert!(
        env.ticket_text(1)
            .contains("X-Mailtix-Event: moved\nX-Mailtix-Queue: sales\n")
    );
    assert!(
        env.ticket_text(1)
            .contains("moved from queue support to queue sales by kemp")
    );
    env.run(&["move", "1", "sales"], b"", &[]).code(0);
    let r = env.run(&["list", "--queue", "sales"], b"", &[]);
    assert!(r.stdout.contains("Wrong desk"), "{}", r.stdout);
    // The note is no mail.
    assert!(
        r.stdout.lines().nth(1).unwrap().contains("  1  "),
        "{}",
        r.stdout
    );
    // Its notices now go to the sales admins.
    env.clear_sent();
    let f = mail(
        "ann@customer.example",
        "Re: Wrong desk",
        "m2@c.example",
        "",
        "y\n",
    );
    env.deliver("ticket-1@example.org", "ann@customer.example", &f)
        .deliver_code(0);
    assert_eq!(env.sent()[0].rcpts(), [SALES_ADMIN]);
    // A follow-up reads the move record, not the whole ticket; reindex rebuilds it
    // from the note.
    let record = env.store.join(".mailtix/moved/1");
    assert_eq!(fs::read_to_string(&record).unwrap(), "sales\n");
    fs::remove_file(&record).unwrap();
    env.run(&["reindex"], b"", &[]).code(0);
    assert_eq!(fs::read_to_string(&record).unwrap(), "sales\n");
    let r = env.run(&["move", "1", "nowhere"], b"", &[]);
    r.code(1);
    assert!(
        r.stderr.contains("no queue named \"nowhere\""),
        "{}",
        r.stderr
    );
    env.run(&["move", "9", "sales"], b"", &[]).code(1);
    env.run(&["move", "1", "support"], b"", &[]).code(0);
    let r = env.run(&["list", "--queue", "support"], b"", &[]);
    assert!(r.stdout.contains("Wrong desk"), "{}", r.stdout);
    assert!(!record.exists(), "back in its first queue, no record");
    env.clear_sent();
    let g = mail(
        "ann@customer.example",
        "Re: Wrong desk",
        "m3@c.example",
        "",
        "z\n",
    );
    env.deliver("ticket-1@example.org", "ann@customer.example", &g)
        .deliver_code(0);
    assert_eq!(env.sent()[0].rcpts(), [ADMIN]);
}

#[test]
fn a_queue_without_acks_sends_none() {
    let env = queues_env("[[queues]]\nname = \"security\"\naddress = \"security\"\nack = false\n");
    let m = mail("ann@customer.example", "vuln", "s1@c.example", "", "x\n");
    let r = env.deliver("security@example.org", "ann@customer.example", &m);
    r.deliver_code(0);
    assert!(
        r.stderr.contains("queue security has ack = false"),
        "{}",
        r.stderr
    );
    let sent = env.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpts(), [ADMIN]);
}

#[test]
fn the_queue_directory_follows_the_config_and_a_removed_queue_stops() {
    let env = queues_env(SALES);
    env.run(&["check"], b"", &[]).code(0);
    assert_eq!(
        fs::read_to_string(env.store.join("queues/sales")).unwrap(),
        "sales\n"
    );
    // Adding a queue is one edit; the next delivery (or check) writes its file.
    set_extra(
        &env,
        &format!("{SALES}[[queues]]\nname = \"security\"\naddress = \"security\"\n"),
    );
    let m = mail("ann@customer.example", "Help", "d1@c.example", "", "x\n");
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    assert!(env.store.join("queues/security").is_file());
    // A removed queue: deliver refuses its mail at once and drops its file.
    set_extra(&env, "");
    let m = mail("ann@customer.example", "Buy", "d2@c.example", "", "x\n");
    let r = env.deliver("sales@example.org", "ann@customer.example", &m);
    r.deliver_code(67);
    assert!(!env.store.join("queues/sales").exists());
    assert!(!env.store.join("queues/security").exists());
}

#[test]
fn preview_prints_the_mail_that_would_go_out() {
    let env = queues_env(&format!("templates_dir = \"tpl\"\n{SALES}"));
    template(
        &env,
        "sales-tpl",
        "ack",
        "Hey {requester}, got ticket {ticket}. We'll fix it.\n",
    );
    let m = mail(
        "Ann <ann@customer.example>",
        "Buy",
        "p1@c.example",
        "",
        "3 printers\n",
    );
    env.deliver("sales@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let before = env.sent().len();
    let r = env.run(&["template", "preview", "ack", "1"], b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("Subject: [issue1] Buy\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("To: Ann <ann@customer.example>\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("\nHey ann@customer.example, got ticket 1. We'll fix it.\n"),
        "{}",
        r.stdout
    );
    let r = env.run(&["template", "preview", "notice", "1"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout.contains(&format!("To: {SALES_ADMIN}\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Queue:   sales\n"), "{}", r.stdout);
    env.run(&["template", "preview", "close", "1"], b"", &[])
        .code(0);
    env.run(&["template", "preview", "refused-close", "1"], b"", &[])
        .code(0);
    assert_eq!(env.sent().len(), before, "a preview sends nothing");
    template(&env, "sales-tpl", "close", "{nope}\n");
    let r = env.run(&["template", "preview", "close", "1"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout.starts_with("note: template close: "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Ticket 1 has been closed."),
        "{}",
        r.stdout
    );
    let r = env.run(&["template", "preview", "thanks", "1"], b"", &[]);
    r.code(1);
    assert!(r.stderr.contains("no template \"thanks\""), "{}", r.stderr);
    env.run(&["template", "preview", "ack", "7"], b"", &[])
        .code(1);
}

#[test]
fn reading_a_ticket_for_its_queue_keeps_the_access_time_for_mutt() {
    let env = queues_env(SALES);
    let m = mail("ann@customer.example", "Buy", "a1@c.example", "", "x\n");
    env.deliver("sales@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let path = env.store.join("1");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let f = fs::File::options().write(true).open(&path).unwrap();
    f.set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    drop(f);
    let f = mail("ann@customer.example", "more", "a2@c.example", "", "y\n");
    env.deliver("ticket-1@example.org", "ann@customer.example", &f)
        .deliver_code(0);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.accessed().unwrap(), old);
    assert!(meta.modified().unwrap() > old);
}

#[test]
fn the_reply_address_reaches_the_admins_template_only() {
    let env = queues_env("templates_dir = \"tpl\"\nrelay_admin_replies = true\n");
    template(&env, "tpl", "notice", "answer via {reply_address}\n");
    let m = mail("ann@customer.example", "Help", "r1@c.example", "", "x\n");
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let notice = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == [ADMIN])
        .unwrap();
    let b = body(&notice.raw);
    let reply = notice.header("Reply-To").unwrap();
    assert!(reply.starts_with("ticket-1-reply-"), "{reply}");
    assert_eq!(b, format!("answer via {reply}\n"));
    let ack = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    assert!(!ack.raw.contains("-reply-"), "{}", ack.raw);
}

#[test]
fn the_relay_footer_goes_under_a_plain_answer_only() {
    let env = queues_env("templates_dir = \"tpl\"\nrelay_admin_replies = true\n");
    template(
        &env,
        "tpl",
        "relay-footer",
        "-- \nKemp, for ticket {ticket} ({tag})\n",
    );
    template(
        &env,
        "tpl",
        "notice",
        "notice {ticket} via {reply_address}\n",
    );
    let m = mail(
        "Ann <ann@customer.example>",
        "Printer",
        "rf1@c.example",
        "",
        "x\n",
    );
    env.deliver("support@example.org", "ann@customer.example", &m)
        .deliver_code(0);
    let notice = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == [ADMIN])
        .unwrap();
    let reply = notice.header("Reply-To").unwrap();
    env.clear_sent();
    let answer = format!(
        "From: {ADMIN}\nTo: {reply}\nSubject: Re: Printer\nMessage-ID: <ans1@admin.example>\n\nTurn it off.\n"
    );
    let r = env.deliver(&reply, ADMIN, &answer);
    r.deliver_code(0);
    let relayed = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    assert!(
        relayed
            .raw
            .ends_with("\r\n\r\nTurn it off.\r\n-- \r\nKemp, for ticket 1 ([issue1])\r\n"),
        "{}",
        relayed.raw
    );
    // A multipart answer goes on as it is, and the log says why there is no footer.
    env.clear_sent();
    let multi = format!(
        "From: {ADMIN}\nTo: {reply}\nSubject: Re: Printer\nMessage-ID: <ans2@admin.example>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSee attached.\n--b--\n"
    );
    let r = env.deliver(&reply, ADMIN, &multi);
    r.deliver_code(0);
    let relayed = env
        .sent()
        .into_iter()
        .find(|s| s.rcpts() == ["ann@customer.example"])
        .unwrap();
    assert!(!relayed.raw.contains("Kemp"), "{}", relayed.raw);
    assert!(relayed.raw.ends_with("--b--\r\n"), "{}", relayed.raw);
    assert!(
        env.log()
            .contains("without the relay-footer (the answer is multipart/mixed"),
        "{}",
        env.log()
    );
    // The preview shows it under an example answer.
    let r = env.run(&["template", "preview", "relay-footer", "1"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout
            .ends_with("(your answer)\n-- \nKemp, for ticket 1 ([issue1])\n"),
        "{}",
        r.stdout
    );
    // The footer goes to the requester: the admin-only variables are refused.
    template(&env, "tpl", "relay-footer", "close: {close_address}\n");
    let r = env.run(&["check"], b"", &[]);
    r.code(1);
    assert!(
        r.stdout
            .contains("tpl/relay-footer:1: {close_address} is for the admins' templates only"),
        "{}",
        r.stdout
    );
}
