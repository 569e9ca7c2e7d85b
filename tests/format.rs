//! The store's format version: today's stores (no format file) upgrade to format 1,
//! and a store newer than the binary is refused by every command.

use crate::support::*;
use std::fs;
use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// An env whose store is the fixture: a store as mailtix wrote it before formats were
/// numbered (tickets 1 and archived/2, with index, log, acks, outbox and secret).
fn with_format0_store() -> Env {
    let env = Env::without_store();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-format0");
    copy_dir(&fixture, &env.store);
    assert!(!env.store.join(".mailtix/format").exists());
    env
}

fn format_of(env: &Env) -> Option<String> {
    fs::read_to_string(env.store.join(".mailtix/format")).ok()
}

#[test]
fn a_format0_store_upgrades_to_format1_once_and_keeps_working() {
    let env = with_format0_store();
    let check = env.run(&["check"], b"", &[]);
    check.code(0);
    assert!(check.stdout.contains("store format 0"), "{}", check.stdout);

    let dry = env.run(&["upgrade", "--dry-run"], b"", &[]);
    dry.code(0);
    assert!(
        dry.stdout.contains("would upgrade format 0 to 1"),
        "{}",
        dry.stdout
    );
    assert_eq!(format_of(&env), None, "--dry-run wrote the format");

    let up = env.run(&["upgrade"], b"", &[]);
    up.code(0);
    assert!(
        up.stdout.contains("upgraded format 0 to 1"),
        "{}",
        up.stdout
    );
    assert_eq!(format_of(&env).as_deref(), Some("1\n"));
    let again = env.run(&["upgrade"], b"", &[]);
    again.code(0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(format_of(&env).as_deref(), Some("1\n"));

    let check = env.run(&["check"], b"", &[]);
    check.code(0);
    assert!(check.stdout.contains("store format 1"), "{}", check.stdout);
    // The upgraded store still threads replies into its tickets and lists them.
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "more",
            "after-upgrade@x",
            "",
            "still on fire\n",
        ),
    )
    .deliver_code(0);
    assert_eq!(env.count(1), 3);
    let list = env.run(&["list", "--all"], b"", &[]);
    list.code(0);
    assert!(
        list.stdout.contains("The printer is on fire"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("second"), "{}", list.stdout);
}

#[test]
fn upgrade_is_safe_while_mail_arrives() {
    let env = with_format0_store();
    let mut children: Vec<_> = (0..12)
        .map(|i| {
            let mut cmd = env.deliver_command("ticket-1@example.org", "ann@customer.example");
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(
                    mail(
                        "ann@customer.example",
                        "x",
                        &format!("during{i}@x"),
                        "",
                        "x\n",
                    )
                    .as_bytes(),
                )
                .unwrap();
            child
        })
        .collect();
    let ups: Vec<Run> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| env.run(&["upgrade"], b"", &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for c in children.drain(..) {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for u in &ups {
        u.code(0);
    }
    let upgraded = ups
        .iter()
        .filter(|u| u.stdout.contains("upgraded format 0 to 1"))
        .count();
    assert_eq!(upgraded, 1, "exactly one run does the step: {ups:?}");
    assert_eq!(format_of(&env).as_deref(), Some("1\n"));
    assert_eq!(env.count(1), 2 + 12);
    env.run(&["check"], b"", &[]).code(0);
}

#[test]
fn a_newer_store_is_refused_by_deliver_with_75_and_by_admin_commands_with_1() {
    let env = with_format0_store();
    fs::write(env.store.join(".mailtix/format"), "2\n").unwrap();
    let before = env.ticket(1);
    let d = env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "x", "newer@x", "", "x\n"),
    );
    d.deliver_code(75);
    assert!(
        d.stderr.contains("format 2, newer than this mailtix"),
        "{}",
        d.stderr
    );
    assert_eq!(
        env.ticket(1),
        before,
        "a refused delivery changed the ticket"
    );
    for args in [
        &["list"][..],
        &["show", "1"],
        &["close", "1"],
        &["check"],
        &["reindex"],
        &["upgrade"],
        &["archive", "--idle", "0"],
    ] {
        let r = env.run(args, b"", &[]);
        r.code(1);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("newer than this mailtix"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(env.is_open(1), "close ran on a newer store");
    assert_eq!(format_of(&env).as_deref(), Some("2\n"));
}
