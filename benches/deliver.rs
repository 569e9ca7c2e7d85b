//! Whole-process benchmarks of `mailtix deliver` against a floor (benches/floor.pl:
//! lock, append, fsync, unlock) and against Roundup's mail gateway, measured
//! interleaved in one run and reported as ratios of medians. Run by benches/run.sh;
//! see BENCHMARKS.md. Not a test: it asserts nothing about time, it reports.
//!
//! Usage: cargo bench --bench deliver -- [--quick] [--rounds N] [--roundup TRACKER_DIR]

use mailtix::mbox;
use mailtix::store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailtix");
const ADMIN: &str = "boss@admin.example";

struct Opts {
    rounds: usize,
    big_store: u32,
    big_ticket: u32,
    big_show: u32,
    roundup: Option<PathBuf>,
}

fn args() -> Opts {
    let mut o = Opts {
        rounds: 41,
        big_store: 100_000,
        big_ticket: 10_000,
        big_show: 1_000,
        roundup: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                o.rounds = 5;
                o.big_store = 300;
                o.big_ticket = 50;
                o.big_show = 20;
            }
            "--rounds" => o.rounds = it.next().and_then(|s| s.parse().ok()).unwrap_or(o.rounds),
            "--roundup" => o.roundup = it.next().map(PathBuf::from),
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    o
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs a command with `stdin`, returns its wall time; fails loudly on a bad exit.
fn time(cmd: &mut Command, stdin: &[u8]) -> Duration {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn message(from: &str, to: &str, mid: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: Sun, 22 Nov 2026 09:15:00 +0100\nMessage-ID: <{mid}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello,\n\nthe printer on the third floor smells of smoke again.\nFrom now on we print downstairs.\n\n-- \nAnn\n"
    )
    .into_bytes()
}

/// A store with a config that sends mail to /bin/true.
struct Site {
    dir: PathBuf,
    config: PathBuf,
    store: PathBuf,
}

fn site(root: &Path, name: &str) -> Site {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("tickets");
    // A config names an existing store: mailtix never creates a missing one.
    std::fs::create_dir_all(&store).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"{}\"\ndomain = \"example.org\"\nadmins = [\"{ADMIN}\"]\n[acks]\nper_sender_per_hour = 1000000\ntotal_per_hour = 1000000\n[mail]\ntransport = \"sendmail\"\nsendmail = \"/bin/true\"\n",
            store.display()
        ),
    )
    .unwrap();
    Site { dir, config, store }
}

fn deliver(s: &Site, rcpt: &str, sender: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "--config",
        s.config.to_str().unwrap(),
        "deliver",
        "--recipient",
        rcpt,
        "--sender",
        sender,
    ]);
    c
}

fn floor(mbox: &Path) -> Command {
    let mut c = Command::new("perl");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/floor.pl"))
        .arg(mbox)
        .arg("a@b.c");
    c
}

/// Fills a store with `n` one-message tickets (and their index entries) directly.
fn fill_store(s: &Site, n: u32) {
    let store = Store::new(&s.store);
    store.init().unwrap();
    for id in 1..=n {
        let mid = format!("fill.{id}@customer.example");
        let m = message(
            "ann@customer.example",
            "support@example.org",
            &mid,
            "filler",
        );
        let e = mbox::encode(
            &mbox::from_line(Some("ann@customer.example"), chrono::DateTime::UNIX_EPOCH),
            b"",
            &m,
        );
        std::fs::write(s.store.join(id.to_string()), e).unwrap();
        store.index_add(&mid, id).unwrap();
    }
    std::fs::write(s.store.join(".mailtix/next-id"), format!("{}\n", n + 1)).unwrap();
}

/// One ticket with `n` messages.
fn fill_ticket(s: &Site, n: u32) {
    let store = Store::new(&s.store);
    store.init().unwrap();
    let mut data = Vec::new();
    for i in 0..n {
        let mid = format!("long.{i}@customer.example");
        let m = message(
            "ann@customer.example",
            "ticket-1@example.org",
            &mid,
            "long thread",
        );
        data.extend(mbox::encode(
            &mbox::from_line(Some("ann@customer.example"), chrono::DateTime::UNIX_EPOCH),
            b"",
            &m,
        ));
        store.index_add(&mid, 1).unwrap();
    }
    std::fs::write(s.store.join("1"), data).unwrap();
    std::fs::write(s.store.join(".mailtix/next-id"), "2\n").unwrap();
}

struct Row {
    name: String,
    a: Duration,
    b: Duration,
    target: String,
    met: bool,
}

/// A row judged by the ratio a / b against `limit`.
fn ratio_row(name: impl Into<String>, a: Duration, b: Duration, target: &str, limit: f64) -> Row {
    Row {
        name: name.into(),
        a,
        b,
        target: target.into(),
        met: ms(a) / ms(b) <= limit,
    }
}

/// Runs `a` and `b` interleaved `rounds` times (after one warm-up each).
fn pair(
    rounds: usize,
    mut a: impl FnMut(usize) -> Duration,
    mut b: impl FnMut(usize) -> Duration,
) -> (Duration, Duration) {
    a(usize::MAX - 1);
    b(usize::MAX - 1);
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        if i % 2 == 0 {
            ta.push(a(i));
            tb.push(b(i));
        } else {
            tb.push(b(i));
            ta.push(a(i));
        }
    }
    (median(ta), median(tb))
}

fn main() {
    let o = args();
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-data"));
    std::fs::create_dir_all(&root).unwrap();
    let mut rows = Vec::new();

    // 1. A follow-up that sends no mail (the admin writing to ticket-1@) vs the floor.
    let s = site(&root, "followup");
    fill_store(&s, 1);
    let floor_box = s.dir.join("floor.mbox");
    let (m, f) = pair(
        o.rounds,
        |i| {
            time(
                &mut deliver(&s, "ticket-1@example.org", ADMIN),
                &message(
                    ADMIN,
                    "ticket-1@example.org",
                    &format!("f.{i}@admin.example"),
                    "Re: x",
                ),
            )
        },
        |i| {
            time(
                &mut floor(&floor_box),
                &message(
                    ADMIN,
                    "ticket-1@example.org",
                    &format!("f.{i}@admin.example"),
                    "Re: x",
                ),
            )
        },
    );
    rows.push(ratio_row(
        "follow-up, no mail sent",
        m,
        f,
        "≤ 1.2× floor",
        1.2,
    ));

    // 2. A new ticket with an acknowledgement and an admin notice (sendmail: /bin/true).
    let s = site(&root, "new");
    let floor_box = s.dir.join("floor.mbox");
    let (m, f) = pair(
        o.rounds,
        |i| {
            time(
                &mut deliver(&s, "support@example.org", "ann@customer.example"),
                &message(
                    "ann@customer.example",
                    "support@example.org",
                    &format!("n.{i}@customer.example"),
                    "Printer",
                ),
            )
        },
        |i| {
            time(
                &mut floor(&floor_box),
                &message(
                    "ann@customer.example",
                    "support@example.org",
                    &format!("n.{i}@customer.example"),
                    "Printer",
                ),
            )
        },
    );
    rows.push(ratio_row(
        "new ticket, ack + notice",
        m,
        f,
        "≤ 2× floor",
        2.0,
    ));

    // 3. Roundup's mail gateway, new issue and follow-up, vs mailtix doing the same.
    if let Some(tracker) = &o.roundup {
        let mailgw = tracker.join("../venv/bin/roundup-mailgw");
        let s = site(&root, "vs-roundup");
        for (name, follow) in [
            ("new ticket vs roundup-mailgw", false),
            ("follow-up vs roundup-mailgw", true),
        ] {
            let subject = |i: usize| {
                if follow {
                    "Re: [issue1] Printer".to_string()
                } else {
                    format!("Printer {i}")
                }
            };
            let rcpt = if follow {
                "ticket-1@example.org"
            } else {
                "support@example.org"
            };
            if follow && !s.store.join("1").exists() {
                time(
                    &mut deliver(&s, "support@example.org", "ann@customer.example"),
                    &message(
                        "ann@customer.example",
                        "support@example.org",
                        "first@x",
                        "Printer",
                    ),
                );
            }
            let (m, rd) = pair(
                o.rounds.min(21),
                |i| {
                    time(
                        &mut deliver(&s, rcpt, "ann@customer.example"),
                        &message(
                            "ann@customer.example",
                            rcpt,
                            &format!("r.{follow}.{i}@customer.example"),
                            &subject(i),
                        ),
                    )
                },
                |i| {
                    let mut c = Command::new(&mailgw);
                    c.arg(tracker);
                    time(
                        &mut c,
                        &message(
                            "Ann <ann@customer.example>",
                            "issue_tracker@example.org",
                            &format!("rr.{follow}.{i}@customer.example"),
                            &subject(i),
                        ),
                    )
                },
            );
            let speedup = ms(rd) / ms(m);
            rows.push(Row {
                name: name.into(),
                a: m,
                b: rd,
                target: "≥ 40× faster".into(),
                met: speedup >= 40.0,
            });
        }
    }

    // 4. Flat in the store size: a follow-up into a store of many tickets vs one.
    let small = site(&root, "store-small");
    fill_store(&small, 1);
    let big = site(&root, "store-big");
    eprintln!("filling a store of {} tickets ...", o.big_store);
    fill_store(&big, o.big_store);
    let (b, sm) = pair(
        o.rounds,
        |i| {
            time(
                &mut deliver(&big, "ticket-1@example.org", ADMIN),
                &message(
                    ADMIN,
                    "ticket-1@example.org",
                    &format!("sb.{i}@admin.example"),
                    "Re: x",
                ),
            )
        },
        |i| {
            time(
                &mut deliver(&small, "ticket-1@example.org", ADMIN),
                &message(
                    ADMIN,
                    "ticket-1@example.org",
                    &format!("ss.{i}@admin.example"),
                    "Re: x",
                ),
            )
        },
    );
    rows.push(ratio_row(
        format!("follow-up, store of {} tickets vs 1", o.big_store),
        b,
        sm,
        "≤ 1.2×",
        1.2,
    ));
    let (b2, sm2) = pair(
        o.rounds,
        |i| {
            time(
                &mut deliver(&big, "support@example.org", "ann@customer.example"),
                &message(
                    "ann@customer.example",
                    "support@example.org",
                    &format!("nb.{i}@customer.example"),
                    "new",
                ),
            )
        },
        |i| {
            time(
                &mut deliver(&small, "support@example.org", "ann@customer.example"),
                &message(
                    "ann@customer.example",
                    "support@example.org",
                    &format!("ns.{i}@customer.example"),
                    "new",
                ),
            )
        },
    );
    rows.push(ratio_row(
        format!("new ticket, store of {} tickets vs 1", o.big_store),
        b2,
        sm2,
        "≤ 1.2×",
        1.2,
    ));

    // 5. Flat in the ticket size: appending to a ticket of many messages vs one.
    let long = site(&root, "ticket-long");
    eprintln!("filling a ticket of {} messages ...", o.big_ticket);
    fill_ticket(&long, o.big_ticket);
    let short = site(&root, "ticket-short");
    fill_ticket(&short, 1);
    let (l, sh) = pair(
        o.rounds,
        |i| {
            time(
                &mut deliver(&long, "ticket-1@example.org", "ann@customer.example"),
                &message(
                    "ann@customer.example",
                    "ticket-1@example.org",
                    &format!("tl.{i}@customer.example"),
                    "Re: x",
                ),
            )
        },
        |i| {
            time(
                &mut deliver(&short, "ticket-1@example.org", "ann@customer.example"),
                &message(
                    "ann@customer.example",
                    "ticket-1@example.org",
                    &format!("ts.{i}@customer.example"),
                    "Re: x",
                ),
            )
        },
    );
    rows.push(ratio_row(
        format!("follow-up to a ticket of {} messages vs 1", o.big_ticket),
        l,
        sh,
        "≤ 1.2×",
        1.2,
    ));

    // 6. list --json over the big store, show of a long ticket (absolute times).
    let list = |_: usize| {
        let mut c = Command::new(BIN);
        c.args(["--config", big.config.to_str().unwrap(), "list", "--json"]);
        time(&mut c, b"")
    };
    list(0); // the first run after bulk changes builds the summary cache
    let t_list = median((0..o.rounds.min(11)).map(list).collect());
    rows.push(Row {
        name: format!("list --json, {} tickets", o.big_store),
        a: t_list,
        b: Duration::ZERO,
        target: "< 500 ms".into(),
        met: t_list < Duration::from_millis(500),
    });
    let show_site = site(&root, "show");
    fill_ticket(&show_site, o.big_show);
    let show = |_: usize| {
        let mut c = Command::new(BIN);
        c.args(["--config", show_site.config.to_str().unwrap(), "show", "1"]);
        time(&mut c, b"")
    };
    let t_show = median((0..o.rounds.min(11)).map(show).collect());
    rows.push(Row {
        name: format!("show, ticket of {} messages", o.big_show),
        a: t_show,
        b: Duration::ZERO,
        target: "< 300 ms".into(),
        met: t_show < Duration::from_millis(300),
    });

    println!("| case | mailtix (median) | compared with (median) | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let (other, ratio) = if r.b.is_zero() {
            ("".to_string(), "".to_string())
        } else if r.name.contains("roundup") {
            (
                format!("{:.1} ms", ms(r.b)),
                format!("{:.0}× faster", ms(r.b) / ms(r.a)),
            )
        } else {
            (
                format!("{:.2} ms", ms(r.b)),
                format!("{:.2}×", ms(r.a) / ms(r.b)),
            )
        };
        println!(
            "| {} | {:.2} ms | {} | {} | {} | {} |",
            r.name,
            ms(r.a),
            other,
            ratio,
            r.target,
            if r.met { "yes" } else { "no" }
        );
    }
    println!(
        "\n{} rounds, interleaved; medians of whole-process wall time.",
        o.rounds
    );
}
