//! Mail as real clients write it: CJK charsets, obsolete header syntax, odd dates,
//! repeated fields.

use crate::support::*;

/// `deliver` of raw bytes to support@.
fn deliver_bytes(env: &Env, sender: &str, msg: &[u8]) -> Run {
    env.run(
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            sender,
        ],
        msg,
        &[],
    )
}

/// The decoded Subject and text body of a mail mailtix sent.
fn decoded(s: &Sent) -> (String, String) {
    let m = mailparse::parse_mail(s.raw.as_bytes()).unwrap();
    use mailparse::MailHeaderMap;
    (
        m.headers.get_first_value("Subject").unwrap_or_default(),
        m.get_body().unwrap().replace("\r\n", "\n"),
    )
}

/// The ack (to the requester) and the admin notice of a new ticket.
fn ack_and_notice(env: &Env) -> (Sent, Sent) {
    let sent = env.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let ack = sent
        .iter()
        .find(|s| !s.rcpts().contains(&ADMIN.to_string()))
        .unwrap()
        .clone();
    let notice = sent
        .iter()
        .find(|s| s.rcpts().contains(&ADMIN.to_string()))
        .unwrap()
        .clone();
    (ack, notice)
}

#[test]
fn cjk_charsets_reach_show_list_the_ack_and_the_notice_intact() {
    // (fixture, name, subject, first body line, second body line)
    let cases = [
        (
            "gb2312",
            "张伟",
            "打印机坏了",
            "你好，打印机又坏了。",
            "请帮忙看看，朱镕基。",
        ),
        (
            "gb18030",
            "李娜",
            "发票问题 𠀀",
            "您好，我的发票有问题：𠀀 号。",
            "谢谢！",
        ),
        (
            "euc-kr",
            "김민수",
            "비밀번호 재설정",
            "안녕하세요. 비밀번호를 잊어버렸습니다.",
            "도와주세요.",
        ),
        (
            "shift_jis",
            "山田太郎",
            "請求書について",
            "お世話になっております。",
            "請求書が届いていません。",
        ),
        (
            "cp949",
            "박지성",
            "견적서 요청",
            "안녕하세요. 견적서를 보내 주세요.",
            "감사합니다.",
        ),
        (
            "iso-2022-jp",
            "鈴木花子",
            "ログインできません",
            "こんにちは。",
            "ログインできません。よろしくお願いします。",
        ),
    ];
    for (file, name, subject, line1, line2) in cases {
        let env = Env::new();
        deliver_bytes(
            &env,
            "user@customer.example",
            &fixture(&format!("charsets/{file}.eml")),
        )
        .deliver_code(0);
        let (ack, notice) = ack_and_notice(&env);
        let (ack_subject, ack_body) = decoded(&ack);
        assert_eq!(ack_subject, format!("[issue1] {subject}"), "{file}");
        assert!(
            ack_body.contains(&format!("\nSubject: {subject}\n")),
            "{file}: {ack_body}"
        );
        let (notice_subject, notice_body) = decoded(&notice);
        assert_eq!(
            notice_subject,
            format!("new ticket: [issue1] {subject}"),
            "{file}"
        );
        assert!(
            notice_body.starts_with(&format!(
                "Ticket 1: new ticket\nFrom:    {name} <user@customer.example>\nSubject: {subject}\n\n> {line1}\n> {line2}\n"
            )),
            "{file}: {notice_body}"
        );
        let list = env.run(&["list"], b"", &[]);
        list.code(0);
        let row = list.stdout.lines().nth(1).unwrap();
        assert!(
            row.ends_with(&format!("user@customer.example  {subject}")),
            "{file}: {}",
            list.stdout
        );
        let show = env.run(&["show", "1"], b"", &[]);
        show.code(0);
        assert!(
            show.stdout.contains(&format!(
                "From:    {name} <user@customer.example>\nDate:    Sun, 22 Nov 2026 09:15:00 +0900\nSubject: {subject}\n\n{line1}\n{line2}\n"
            )),
            "{file}: {}",
            show.stdout
        );
        for out in [&ack_body, &notice_body, &list.stdout, &show.stdout] {
            assert!(!out.contains('\u{fffd}'), "{file}: {out}");
        }
        if file == "cp949" {
            assert!(
                show.stdout.contains(
                    "\nAttachments:\n  - 견적서.xlsx (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, 4 B)\n"
                ),
                "{}",
                show.stdout
            );
        }
        if file == "shift_jis" {
            assert!(
                show.stdout
                    .contains("\nAttachments:\n  - 請求書.pdf (application/pdf, 9 B)\n"),
                "{}",
                show.stdout
            );
        }
    }
}

/// Every zone RFC 5322 §4.3 allows, the obsolete ones included.
const ZONES: [&str; 35] = [
    "UT", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "A", "B", "C", "D", "E",
    "F", "G", "H", "I", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y",
    "Z",
];

#[test]
fn a_date_in_any_rfc5322_zone_loses_no_subject_from_or_message_id() {
    for zone in ZONES {
        let env = Env::new();
        let date = format!("Sun, 22 Nov 2026 09:15:00 {zone}");
        let m = format!(
            "Date: {date}\nFrom: Ann <ann@customer.example>\nResent-Date: {date}\nMessage-ID: <zone@customer.example>\nResent-Date: {date}\nSubject: zone {zone}\nTo: support@example.org\n\nbody\n"
        );
        env.deliver("support@example.org", "ann@customer.example", &m)
            .deliver_code(0);
        let (ack, _) = ack_and_notice(&env);
        assert_eq!(ack.rcpts(), ["ann@customer.example"], "{zone}");
        assert_eq!(decoded(&ack).0, format!("[issue1] zone {zone}"), "{zone}");
        // the Message-ID was indexed: a reply to it joins the ticket
        env.deliver(
            "support@example.org",
            "bob@other.example",
            "From: bob@other.example\nTo: support@example.org\nSubject: re\nMessage-ID: <r@other.example>\nIn-Reply-To: <zone@customer.example>\n\nme too\n",
        )
        .deliver_code(0);
        assert_eq!(env.count(1), 2, "{zone}");
        let list = env.run(&["list"], b"", &[]);
        list.code(0);
        assert!(
            list.stdout
                .lines()
                .nth(1)
                .unwrap()
                .ends_with(&format!("ann@customer.example  zone {zone}")),
            "{zone}: {}",
            list.stdout
        );
        let show = env.run(&["show", "1"], b"", &[]);
        show.code(0);
        assert!(
            show.stdout.contains(
                "\nFrom:    Ann <ann@customer.example>\nDate:    Sun, 22 Nov 2026 09:15:00 "
            ) && show
                .stdout
                .contains(&format!("\nSubject: zone {zone}\n\nbody\n")),
            "{zone}: {}",
            show.stdout
        );
    }
}

#[test]
fn a_date_in_ut_does_not_hide_the_transfer_encoding_from_show_or_the_notice() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        "From: ann@customer.example\nTo: support@example.org\nSubject: s\nMessage-ID: <b64@x>\nDate: Sun, 22 Nov 2026 09:15:00 UT\nContent-Transfer-Encoding: base64\nContent-Type: text/plain; charset=utf-8\n\nY2Fmw6kgb3V2ZXJ0Cg==\n",
    )
    .deliver_code(0);
    let (_, notice) = ack_and_notice(&env);
    assert!(
        decoded(&notice).1.contains("\n> café ouvert\n"),
        "{:?}",
        decoded(&notice)
    );
    let show = env.run(&["show", "1"], b"", &[]);
    show.code(0);
    assert!(
        show.stdout.ends_with("Subject: s\n\ncafé ouvert\n"),
        "{}",
        show.stdout
    );
}

#[test]
fn with_two_from_or_subject_fields_the_first_counts_and_a_second_from_is_a_forgery() {
    let env = Env::with_config("relay_admin_replies = true");
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        "From: Ann <ann@customer.example>\nFrom: Eve <eve@attacker.example>\nSubject: first subject\nSubject: second subject\nTo: support@example.org\nMessage-ID: <two@x>\n\nbody\n",
    )
    .deliver_code(0);
    let (ack, notice) = ack_and_notice(&env);
    assert_eq!(ack.rcpts(), ["ann@customer.example"]);
    assert_eq!(decoded(&ack).0, "[issue1] first subject");
    assert!(
        decoded(&notice).1.starts_with(
            "Ticket 1: new ticket\nFrom:    Ann <ann@customer.example>\nSubject: first subject\n"
        ),
        "{:?}",
        decoded(&notice)
    );
    let list = env.run(&["list"], b"", &[]);
    assert!(
        list.stdout
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("ann@customer.example  first subject"),
        "{}",
        list.stdout
    );
    let show = env.run(&["show", "1"], b"", &[]);
    assert!(
        show.stdout
            .contains("\nFrom:    Ann <ann@customer.example>\nDate:    ")
            && show.stdout.contains("\nSubject: first subject\n\nbody\n"),
        "{}",
        show.stdout
    );
    // the close check reads the first From, and refuses a second one in either order
    for (n, froms) in [
        format!("From: eve@attacker.example\nFrom: {ADMIN}"),
        format!("From: {ADMIN}\nFrom: eve@attacker.example"),
    ]
    .iter()
    .enumerate()
    {
        env.deliver(
            "ticket-1-close@example.org",
            ADMIN,
            &format!("{froms}\nTo: ticket-1-close@example.org\nSubject: close\nMessage-ID: <c{n}@x>\n\nclose\n"),
        )
        .deliver_code(0);
        assert!(env.is_open(1), "{froms}");
    }
    // nor is admin mail with a second From relayed to the requester, even to the
    // ticket's secret reply address (the Reply-To of the notice)
    let reply = notice.header("Reply-To").unwrap();
    assert!(reply.starts_with("ticket-1-reply-"), "{reply}");
    env.clear_sent();
    env.deliver(
        &reply,
        ADMIN,
        &format!("From: {ADMIN}\nFrom: eve@attacker.example\nTo: {reply}\nSubject: Re: x\nMessage-ID: <relay2@x>\n\nclick this\n"),
    )
    .deliver_code(0);
    assert!(
        env.sent()
            .iter()
            .all(|s| !s.rcpts().contains(&"ann@customer.example".to_string())),
        "{:?}",
        env.sent()
    );
    assert!(env.log().contains("2 From fields"), "{}", env.log());
    // one From: relayed as before
    env.deliver(
        &reply,
        ADMIN,
        &format!("From: {ADMIN}\nTo: {reply}\nSubject: Re: x\nMessage-ID: <relay1@x>\n\nanswer\n"),
    )
    .deliver_code(0);
    assert!(
        env.sent()
            .iter()
            .any(|s| s.rcpts() == ["ann@customer.example"]),
        "{:?}",
        env.sent()
    );
}

/// `tests/fixtures/show/NN-name.eml` through deliver and `show` gives exactly
/// `NN-name.txt`. A mismatch writes `NN-name.txt.failed`; `MAILTIX_BLESS=1` writes the
/// expected file instead (review it before committing).
#[test]
fn show_renders_each_mime_case_exactly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/show");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    let bless = std::env::var_os("MAILTIX_BLESS").is_some();
    let mut failed = Vec::new();
    for name in &names {
        let env = Env::new();
        deliver_bytes(
            &env,
            "ann@customer.example",
            &fixture(&format!("show/{name}")),
        )
        .deliver_code(0);
        let show = env.run(&["show", "1"], b"", &[]);
        show.code(0);
        let expected_path = dir.join(name.replace(".eml", ".txt"));
        if bless {
            std::fs::write(&expected_path, &show.stdout).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if show.stdout != expected {
            std::fs::write(dir.join(name.replace(".eml", ".txt.failed")), &show.stdout).unwrap();
            failed.push(name.clone());
        }
    }
    assert!(
        names.len() >= 8,
        "the show corpus must not be empty: {names:?}"
    );
    assert!(
        failed.is_empty(),
        "mismatches (see *.txt.failed): {failed:?}"
    );
}

/// The parts of a message in MIME order as Python's `email` package reads them:
/// `text: …` for inline text, `html` for HTML, `message` for an attached message and
/// `attachment: NAME` for the rest.
fn python_parts(msg: &[u8]) -> Vec<String> {
    need("python3");
    let script = r#"
import email, email.policy, sys
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
def walk(p):
    ct = p.get_content_type()
    if ct == 'multipart/alternative':
        kids = p.get_payload()
        plain = [k for k in kids if k.get_content_type() == 'text/plain']
        walk(plain[0] if plain else kids[-1])
    elif ct in ('message/rfc822', 'message/global'):
        print('message')
        for k in p.get_payload():
            walk(k)
    elif p.is_multipart():
        for k in p.get_payload():
            walk(k)
    elif ct == 'text/html' and p.get_content_disposition() != 'attachment':
        print('html')
    elif ct.startswith('text/') and p.get_content_disposition() != 'attachment':
        print('text: ' + ' '.join(p.get_content().split()))
    else:
        print('attachment: %s' % p.get_filename())
walk(m)
"#;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(msg).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn our_parts(m: &mailtix::thread::Message, html: bool, out: &mut Vec<String>) {
    use mailtix::thread::Part;
    for p in &m.parts {
        match p {
            Part::Text(_) if html => out.push("html".into()),
            Part::Text(t) => out.push(format!(
                "text: {}",
                t.split_whitespace().collect::<Vec<_>>().join(" ")
            )),
            Part::Message(inner) => {
                out.push("message".into());
                our_parts(inner, false, out);
            }
            Part::Attachment(a) => out.push(format!(
                "attachment: {}",
                a.name.as_deref().unwrap_or("None")
            )),
        }
    }
}

#[test]
fn show_splits_mime_as_python_does() {
    // the cases where Python's reading is the reference: a truncated attached message,
    // inline text parts, encoded and folded filenames, a type without a subtype, a digest
    for name in [
        "01-inline-patch",
        "02-truncated-nested",
        "03-filename-words",
        "04-folded-filename",
        "05-text-no-subtype",
        "06-digest",
        "11-missing-separator",
    ] {
        let raw = fixture(&format!("show/{name}.eml"));
        let mut entry = b"From ann@customer.example Sun Nov 22 07:46:08 2026\n".to_vec();
        entry.extend_from_slice(&raw);
        let ours = mailtix::thread::read(&entry).unwrap();
        let mut got = Vec::new();
        our_parts(&ours[0], false, &mut got);
        assert_eq!(got, python_parts(&raw), "{name}");
    }
}

#[test]
fn the_rfc_2822_obsolete_syntax_example_keeps_its_from_and_gets_an_ack() {
    let env = Env::new();
    deliver_bytes(
        &env,
        "jdoe@machine.example",
        &fixture("12-obsolete-from-colon.eml"),
    )
    .deliver_code(0);
    let (ack, _) = ack_and_notice(&env);
    assert_eq!(ack.rcpts(), ["jdoe@machine.example"]);
    assert_eq!(decoded(&ack).0, "[issue1] Saying Hello");
    let show = env.run(&["show", "1"], b"", &[]);
    assert!(
        show.stdout
            .contains("\nFrom:    John Doe (comment) <jdoe@machine.example>\nDate:    Fri, 21 Nov 1997 09:55:06 -0600\nSubject: Saying Hello\n"),
        "{}",
        show.stdout
    );
}
