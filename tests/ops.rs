//! Watching a live host: `check --nagios` (the monitoring-plugin contract),
//! `metrics --textfile` for node_exporter, and `selftest`.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Two open tickets waiting on the admin, one answered by the admin, one closed.
fn with_tickets() -> Env {
    let env = Env::new();
    for i in 1..=4 {
        env.deliver(
            "support@example.org",
            &format!("user{i}@customer.example"),
            &mail(
                &format!("user{i}@customer.example"),
                &format!("p{i}"),
                &format!("p{i}@x"),
                "",
                "x\n",
            ),
        )
        .deliver_code(0);
    }
    env.deliver(
        "ticket-3@example.org",
        ADMIN,
        &mail(ADMIN, "Re: p3", "answer3@x", "", "fixed\n"),
    )
    .deliver_code(0);
    env.run(&["close", "4"], b"", &[]).code(0);
    env
}

fn nagios(env: &Env, extra: &[&str]) -> Run {
    let log = env.path().join("mainlog");
    if !log.exists() {
        fs::write(&log, "").unwrap();
    }
    let mut args = vec!["check", "--nagios", "--exim-log", log.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = env.run(&args, b"", &[]);
    assert_eq!(r.stdout.lines().count(), 1, "one line: {:?}", r.stdout);
    assert_eq!(r.stderr, "", "nothing on stderr");
    r
}

fn perf(r: &Run, label: &str) -> String {
    let (_, perf) = r
        .stdout
        .trim_end()
        .split_once(" | ")
        .expect("perfdata after |");
    perf.split(' ')
        .find_map(|p| p.strip_prefix(&format!("{label}=")))
        .unwrap_or_else(|| panic!("no {label} in {perf}"))
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn nagios_ok_reports_every_figure_as_perfdata() {
    let env = with_tickets();
    let r = nagios(&env, &[]);
    r.code(0);
    assert!(
        r.stdout.starts_with("MAILTIX OK - 3 open, 2 waiting"),
        "{}",
        r.stdout
    );
    assert_eq!(perf(&r, "open"), "3");
    assert_eq!(perf(&r, "waiting"), "2");
    assert_eq!(perf(&r, "pending_appends"), "0");
    assert_eq!(perf(&r, "deliveries_failed_1h"), "0");
    assert_eq!(perf(&r, "outbox_backlog"), "0");
    // Waiting counts from delivery (the From_ line), not from the Date header.
    assert_eq!(perf(&r, "oldest_waiting_hours"), "0");
    let free = perf(&r, "store_free_bytes");
    assert!(
        free.ends_with('B') && free.trim_end_matches('B').parse::<u64>().unwrap() > 0,
        "{free}"
    );
}

#[test]
fn nagios_thresholds_give_warning_and_critical() {
    let env = with_tickets();
    let r = nagios(&env, &["--warning-waiting", "2"]);
    r.code(0);
    let r = nagios(&env, &["--warning-waiting", "1", "--critical-waiting", "5"]);
    r.code(1);
    assert!(
        r.stdout.starts_with("MAILTIX WARNING - 2 waiting"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("waiting=2;1;5;0"), "{}", r.stdout);
    // Ticket 1 arrived three days ago (its From_ line says when).
    let o = Command::new("date")
        .args(["-u", "-d", "3 days ago", "+%a %b %d %H:%M:%S %Y"])
        .output()
        .unwrap();
    let then = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let t1 = env.ticket_text(1);
    let (from_line, rest) = t1.split_once('\n').unwrap();
    let sender = from_line.split(' ').nth(1).unwrap();
    fs::write(env.store.join("1"), format!("From {sender} {then}\n{rest}")).unwrap();
    let r = nagios(&env, &["--critical-age", "24"]);
    r.code(2);
    assert!(
        r.stdout.starts_with("MAILTIX CRITICAL - oldest waiting"),
        "{}",
        r.stdout
    );
    let r = nagios(&env, &["--critical-free", "100000000000"]);
    r.code(2);
    assert!(r.stdout.contains("MiB free"), "{}", r.stdout);
}

#[test]
fn nagios_counts_failed_deliveries_of_the_last_hour_from_the_exim_log() {
    let env = with_tickets();
    let date = |ago: &str| {
        let o = Command::new("date")
            .args(["-d", ago, "+%Y-%m-%d %H:%M:%S"])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let log = format!(
        "{old} 1xYeoF-000001-2A ** ticket-9@example.org R=mailtix_unknown_ticket T=mailtix_pipe: old\n\
         {recent} 1xYeoF-000002-2A ** x@example.org R=mailtix_support T=mailtix_pipe: Child process of mailtix_pipe transport returned 65\n\
         {recent} [123] 1xYeoF-000003-2A == ticket-2@example.org R=mailtix_ticket T=mailtix_pipe defer (0): returned 75\n\
         {recent} 1xYeoF-000004-2A => ticket-2@example.org R=mailtix_ticket T=mailtix_pipe\n\
         {recent} 1xYeoF-000005-2A ** other@example.org R=local_user T=local_delivery: not ours\n",
        old = date("2 hours ago"),
        recent = date("5 minutes ago"),
    );
    fs::write(env.path().join("mainlog"), log).unwrap();
    let r = nagios(&env, &[]);
    assert_eq!(perf(&r, "deliveries_failed_1h"), "2");
    r.code(1);
    assert!(
        r.stdout.contains("2 failed deliveries in the last hour"),
        "{}",
        r.stdout
    );
    let r = nagios(&env, &["--critical-failed", "1"]);
    r.code(2);
}

#[test]
fn nagios_warns_of_interrupted_appends_and_is_unknown_when_it_cannot_look() {
    let env = with_tickets();
    fs::write(env.store.join(".mailtix/pending/1"), "0\n").unwrap();
    let r = nagios(&env, &[]);
    r.code(1);
    assert_eq!(perf(&r, "pending_appends"), "1");
    assert!(
        env.store.join(".mailtix/pending/1").exists(),
        "the plugin repaired something"
    );
    fs::write(env.store.join(".mailtix/format"), "9\n").unwrap();
    let r = nagios(&env, &[]);
    r.code(3);
    assert!(
        r.stdout.starts_with("MAILTIX UNKNOWN - store"),
        "{}",
        r.stdout
    );
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", "/nonexistent/mailtix.toml", "check", "--nagios"]);
    let r = env.spawn(cmd, b"", &[]);
    r.code(3);
    assert!(r.stdout.starts_with("MAILTIX UNKNOWN - "), "{}", r.stdout);
    assert_eq!(r.stdout.lines().count(), 1);
}

#[test]
fn metrics_writes_mailtix_prom_whole_and_replaces_it() {
    let env = with_tickets();
    let dir = env.path().join("textfile");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("mailtix.prom"), "stale\n").unwrap();
    let log = env.path().join("mainlog");
    fs::write(&log, "").unwrap();
    let r = env.run(
        &[
            "metrics",
            "--textfile",
            dir.to_str().unwrap(),
            "--exim-log",
            log.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    r.code(0);
    let text = fs::read_to_string(dir.join("mailtix.prom")).unwrap();
    for want in [
        "mailtix_open_tickets 3\n",
        "mailtix_closed_tickets 1\n",
        "mailtix_waiting_tickets 2\n",
        "mailtix_pending_appends 0\n",
        "mailtix_deliveries_failed_last_hour 0\n",
        "mailtix_store_format 0\n",
        "# TYPE mailtix_store_free_bytes gauge\n",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(!text.contains("stale"));
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["mailtix.prom"], "a temp file was left behind");
    // Every sample line is NAME VALUE, as the textfile collector parses it.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.split_once(' ').unwrap();
        assert!(
            name.starts_with("mailtix_") && value.parse::<u64>().is_ok(),
            "{l}"
        );
    }
    let unwritable = env.path().join("nonexistent");
    let r = env.run(
        &["metrics", "--textfile", unwritable.to_str().unwrap()],
        b"",
        &[],
    );
    r.code(1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// A stand-in for `exim -bt` that answers as Debian's Exim does with mailtix enabled.
fn fake_exim(env: &Env, routes: bool) -> std::path::PathBuf {
    let p = env.path().join("exim");
    let body = if routes {
        "case \"$2\" in\n  support@*) printf '%s\\n  router = mailtix_support, transport = mailtix_pipe\\n' \"$2\";;\n  *) echo \"$2 is undeliverable: no such ticket\"; exit 2;;\nesac\n"
    } else {
        "echo \"$2 is undeliverable: Unrouteable address\"; exit 2\n"
    };
    fs::write(&p, format!("#!/bin/sh\n[ \"$1\" = -bt ] || exit 9\n{body}")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn selftest_delivers_into_a_temporary_store_and_never_touches_the_live_one() {
    let env = Env::with_config("[[hooks]]\nevent = \"new\"\ncommand = \"touch hook-ran\"\n");
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "live", "live@x", "", "x\n"),
    )
    .deliver_code(0);
    fs::remove_file(env.path().join("hook-ran")).unwrap();
    let before = env.ticket(1);
    let sent_before = env.sent().len();

    let r = env.run(&["selftest"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout
            .contains("PASS deliver to support@example.org: exit 0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("PASS acknowledgement written"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("PASS deliver to ticket-1@example.org: exit 0, 2 messages"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("PASS deliver to ticket-999999@example.org: exit 67"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("SKIP exim -bt"), "{}", r.stdout);
    assert!(
        r.stdout.contains("selftest: 6 passed, 0 failed"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);

    assert_eq!(env.ticket(1), before, "the live ticket changed");
    assert!(
        !env.store.join("2").exists(),
        "a ticket was made in the live store"
    );
    assert_eq!(
        env.sent().len(),
        sent_before,
        "selftest sent mail with the live transport"
    );
    assert!(
        !env.path().join("hook-ran").exists(),
        "selftest ran a live hook"
    );
    let tmp = r
        .stdout
        .split("temporary store ")
        .nth(1)
        .and_then(|t| t.split(" (").next())
        .expect("the temporary store's path");
    assert!(
        tmp.starts_with(std::env::temp_dir().to_str().unwrap()),
        "{tmp}"
    );
    assert!(!std::path::Path::new(tmp).exists(), "{tmp} was left behind");
}

#[test]
fn selftest_asks_exim_how_it_routes_and_fails_when_mailtix_is_not_routed() {
    let env = Env::new();
    let good = fake_exim(&env, true);
    let r = env.run(&["selftest", "--exim", good.to_str().unwrap()], b"", &[]);
    r.code(0);
    assert!(
        r.stdout
            .contains("-bt support@example.org: support@example.org router = mailtix_support"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("selftest: 8 passed, 0 failed"),
        "{}",
        r.stdout
    );
    let bad = fake_exim(&env, false);
    let r = env.run(&["selftest", "--exim", bad.to_str().unwrap()], b"", &[]);
    r.code(1);
    assert!(r.stdout.contains("FAIL "), "{}", r.stdout);
    assert!(
        r.stdout.contains("selftest: 6 passed, 2 failed"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}
