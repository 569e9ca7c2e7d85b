//! Whole-process benchmarks of `mailtix html` on a generated store (100,000 tickets;
//! 300 with --quick): the full build, a rerun with no change, and the update after
//! one new message (delivered with `mailtix deliver`, then `mailtix html` timed), each
//! against a baseline measured in the same run: `cp -a` of the store for the build
//! (the archive holds a copy of every ticket) and `mailtix list --all` for the update
//! and the rerun (the same stat of every ticket, with its summary cache warm). Results
//! are medians; see BENCHMARKS.md. Not a test: it asserts only that each run worked.
//!
//! Usage: cargo bench --bench html -- [--quick] [--rounds N]
//! The store is made once under $MAILTIX_BENCH_DATA (default target/bench-data).

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailtix");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(store: &Path, args: &[&str], stdin: &[u8]) -> Duration {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env("MAILTIX_STORE", store)
        .env_remove("MAILTIX_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailtix runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "mailtix {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// One ticket's mbox: 1 to 4 messages; every 10th ticket has an attachment, every
/// 7th an HTML alternative.
fn ticket(id: u32) -> String {
    let mut t = String::new();
    let day = 1 + id % 28;
    for k in 0..=(id % 4) {
        let who = if k % 2 == 0 {
            format!("user{}@customer{}.example", id % 5000, id % 37)
        } else {
            "boss@admin.example".to_string()
        };
        let _ = write!(
            t,
            "From {who} Mon Nov {day:2} {:02}:{:02}:00 2026\nFrom: User {id} <{who}>\nTo: support@localhost\n\
             Subject: {}Problem number {id} with the printer\nMessage-ID: <{id}.{k}@bench.example>\n\
             Date: Mon, {day} Nov 2026 {:02}:{:02}:00 +0000\nMIME-Version: 1.0\n",
            k % 24,
            id % 60,
            if k == 0 { "" } else { "Re: " },
            k % 24,
            id % 60,
        );
        let text = format!(
            "Hello,\n\nmessage {k} of ticket {id}. The printer on floor {} shows error E{}.\n\
             See https://docs.example/printers/{id} for what we tried.\n\nRegards,\nUser {id}\n",
            id % 9,
            id % 1000
        );
        if id.is_multiple_of(10) && k == 0 {
            let _ = write!(
                t,
                "Content-Type: multipart/mixed; boundary=b{id}\n\n--b{id}\nContent-Type: text/plain\n\n{text}\n--b{id}\n\
                 Content-Type: application/octet-stream; name=\"log-{id}.txt\"\nContent-Transfer-Encoding: base64\n\n"
            );
            for _ in 0..20 {
                t.push_str("TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdCwg\n");
            }
            let _ = write!(t, "--b{id}--\n\n");
        } else if id.is_multiple_of(7) && k == 0 {
            let _ = write!(
                t,
                "Content-Type: multipart/alternative; boundary=a{id}\n\n--a{id}\nContent-Type: text/plain\n\n{text}\n--a{id}\n\
                 Content-Type: text/html\n\n<html><body><p>{}</p></body></html>\n--a{id}--\n\n",
                text.replace('\n', "<br>")
            );
        } else {
            let _ = write!(t, "Content-Type: text/plain; charset=utf-8\n\n{text}\n");
        }
    }
    t
}

/// The store of `n` tickets (one in 20 open, the rest closed), made once.
fn make_store(base: &Path, n: u32) -> PathBuf {
    let store = base.join(format!("html-store-{n}"));
    let marker = store.join(".mailtix").join("bench-html-1");
    if marker.exists() {
        return store;
    }
    let _ = fs::remove_dir_all(&store);
    fs::create_dir_all(base).unwrap();
    let status = Command::new(BIN)
        .arg("init")
        .env("MAILTIX_STORE", &store)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    fs::create_dir_all(store.join("archived")).unwrap();
    for id in 1..=n {
        let p = if id.is_multiple_of(20) {
            store.join(id.to_string())
        } else {
            store.join("archived").join(id.to_string())
        };
        fs::write(p, ticket(id)).unwrap();
    }
    fs::write(
        store.join(".mailtix").join("next-id"),
        format!("{}\n", n + 1),
    )
    .unwrap();
    fs::write(&marker, "").unwrap();
    store
}

fn main() {
    let mut quick = false;
    let mut rounds = 11;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--rounds" => rounds = it.next().and_then(|s| s.parse().ok()).unwrap_or(rounds),
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    let (n, build_rounds): (u32, usize) = if quick { (300, 3) } else { (100_000, 3) };
    if quick {
        rounds = rounds.min(5);
    }
    let base = std::env::var_os("MAILTIX_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-data"))
        });
    fs::create_dir_all(&base).unwrap();
    let t = Instant::now();
    let store = make_store(&base, n);
    eprintln!(
        "store of {n} tickets ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Full builds, each into a new OUTDIR with no state; the baseline copies the store
    // to a new directory. Old ones are removed after the measurements (removing
    // 100,000 directories takes longer than making them on a busy disk).
    let state = store.join(".mailtix").join("html");
    let scratch = base.join(format!("html-runs-{n}"));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let (mut build, mut cp) = (Vec::new(), Vec::new());
    let mut out = PathBuf::new();
    for r in 0..build_rounds {
        out = scratch.join(format!("out-{r}"));
        let copy = scratch.join(format!("copy-{r}"));
        let _ = fs::remove_dir_all(&state);
        sync();
        let d = run(&store, &["html", out.to_str().unwrap()], b"");
        eprintln!("full build {r}: {:.1} s", d.as_secs_f64());
        build.push(d);
        sync();
        let t = Instant::now();
        let st = Command::new("cp")
            .arg("-a")
            .arg(&store)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(st.success());
        let d = t.elapsed();
        eprintln!("cp -a {r}: {:.1} s", d.as_secs_f64());
        cp.push(d);
        sync();
    }
    let o = out.to_str().unwrap();
    // Reruns with no change, and updates after one new message to an open ticket,
    // each beside `list --all` (which stats every ticket too).
    let (mut rerun, mut update, mut hinted, mut list) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    run(&store, &["list", "--all"], b"");
    let deliver = |id: u32, tag: &str| {
        let msg = format!(
            "From: user@customer.example\nTo: ticket-{id}@localhost\nSubject: Re: Problem number {id}\n\
             Message-ID: <bench-{tag}-{}@bench.example>\n\nOne more thing.\n",
            std::process::id()
        );
        let rcpt = format!("ticket-{id}@localhost");
        run(
            &store,
            &[
                "deliver",
                "--recipient",
                &rcpt,
                "--sender",
                "user@customer.example",
            ],
            msg.as_bytes(),
        );
    };
    for r in 0..rounds {
        list.push(run(&store, &["list", "--all"], b""));
        rerun.push(run(&store, &["html", o], b""));
        // one new message to an open ticket, then the update as a plain run ...
        let id = 20 * (1 + (2 * r as u32) % (n / 20));
        deliver(id, &format!("{r}a"));
        update.push(run(&store, &["html", o], b""));
        // ... and as the hook runs it, told which ticket changed
        let id = 20 * (1 + (2 * r as u32 + 1) % (n / 20));
        deliver(id, &format!("{r}b"));
        let ticket = id.to_string();
        hinted.push(run(&store, &["html", o, "--ticket", &ticket], b""));
        eprintln!(
            "round {r}: list {:.0} ms, rerun {:.0} ms, update {:.0} ms, update --ticket {:.0} ms",
            ms(list[r]),
            ms(rerun[r]),
            ms(update[r]),
            ms(hinted[r])
        );
    }
    let (build, cp) = (median(build), median(cp));
    let (rerun, update, list) = (median(rerun), median(update), median(list));
    let hinted = median(hinted);
    println!("| what ({n} tickets) | mailtix html | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| full build ({build_rounds} runs) | {:.1} s | `cp -a` of the store: {:.1} s | {:.1}x |",
        build.as_secs_f64(),
        cp.as_secs_f64(),
        build.as_secs_f64() / cp.as_secs_f64()
    );
    println!(
        "| rerun, no change ({rounds} runs) | {:.0} ms | `list --all`: {:.0} ms | {:.2}x |",
        ms(rerun),
        ms(list),
        ms(rerun) / ms(list)
    );
    println!(
        "| update after one new message ({rounds} runs) | {:.0} ms | `list --all`: {:.0} ms | {:.2}x |",
        ms(update),
        ms(list),
        ms(update) / ms(list)
    );
    println!(
        "| the same with `--ticket N`, as the hook runs it ({rounds} runs) | {:.0} ms | `list --all`: {:.0} ms | {:.2}x |",
        ms(hinted),
        ms(list),
        ms(hinted) / ms(list)
    );
    for r in 0..build_rounds.saturating_sub(1) {
        let _ = fs::remove_dir_all(scratch.join(format!("out-{r}")));
    }
    for r in 0..build_rounds {
        let _ = fs::remove_dir_all(scratch.join(format!("copy-{r}")));
    }
}

fn sync() {
    let _ = Command::new("sync").status();
}
