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
