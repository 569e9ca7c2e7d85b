//! The reliability and security suite (RELIABILITY.md lists every case): nothing is
//! lost, nothing is duplicated, and nobody gets in. Case numbers match RELIABILITY.md.

use crate::support::*;
use std::collections::HashMap;
use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `per_worker` jobs on each of `workers` threads; every job must exit 0.
fn parallel(env: &Arc<Env>, workers: usize, per_worker: usize, job: fn(&Env, usize, usize) -> Run) {
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..per_worker {
                    let r = job(&env, w, i);
                    assert_eq!(r.code, 0, "{}", r.stderr);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// `env` with ticket 1 opened by a message with Message-ID `mid`.
fn with_ticket_1(env: Env, mid: &str) -> Env {
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &msg(mid, "b\n"),
    )
    .deliver_code(0);
    env
}

fn body_with_from_lines(i: usize) -> String {
    format!("From the start, message {i}\n>From quoted {i}\n>>From twice\nplain {i}\n")
}

fn msg(mid: &str, body: &str) -> String {
    mail("ann@customer.example", "load", mid, "", body)
}

/// Every message in a ticket (open or archived), by Message-ID, with its body.
fn messages_by_id(env: &Env, id: u32) -> HashMap<String, Vec<Vec<u8>>> {
    let mut out: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for path in [
        env.store.join(id.to_string()),
        env.store.join("archived").join(id.to_string()),
    ] {
        let Ok(data) = fs::read(&path) else { continue };
        for e in mailtix::mbox::read(&data).unwrap() {
            let m = mailtix::inbound::parse(&e.message).unwrap();
            let body = e.message.splitn(2, |_| false).next().unwrap().to_vec();
            let body = match body.windows(2).position(|w| w == b"\n\n") {
                Some(p) => body[p + 2..].to_vec(),
                None => Vec::new(),
            };
            out.entry(m.message_id.unwrap_or_default())
                .or_default()
                .push(body);
        }
    }
    out
}

#[test]
fn case01_eight_writers_fifty_each_lose_and_duplicate_nothing() {
    let env = Arc::new(Env::with_config("lock_timeout = 60"));
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &msg("first@x", "first\n"),
    )
    .deliver_code(0);
    parallel(&env, 8, 50, |env, w, i| {
        let n = w * 50 + i;
        env.deliver(
            "ticket-1@example.org",
            "ann@customer.example",
            &msg(&format!("c1.{n}@x"), &body_with_from_lines(n)),
        )
    });
    let all = messages_by_id(&env, 1);
    assert_eq!(all.values().map(Vec::len).sum::<usize>(), 401);
    assert_eq!(python_count(&env.store.join("1")), 401);
    for n in 0..400 {
        let copies = &all[&format!("c1.{n}@x")];
        assert_eq!(copies.len(), 1, "message {n}");
        assert!(
            copies[0] == body_with_from_lines(n).as_bytes(),
            "body {n} round-trips"
        );
    }
}

#[test]
fn case02_a_hundred_concurrent_new_tickets_get_distinct_ids() {
    let env = Arc::new(Env::with_config("lock_timeout = 60"));
    parallel(&env, 10, 10, |env, w, i| {
        env.deliver(
            "support@example.org",
            "ann@customer.example",
            &msg(&format!("c2.{w}.{i}@x"), "b\n"),
        )
    });
    for id in 1..=100 {
        assert_eq!(env.count(id), 1, "ticket {id}");
    }
    assert!(!env.store.join("101").exists());
    // after a "restart" (a new process, and even with the counter lost) no id is reused
    env.run(&["close", "100"], b"", &[]).code(0);
    fs::remove_file(env.store.join(".mailtix/next-id")).unwrap();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &msg("c2.after@x", "b\n"),
    )
    .deliver_code(0);
    assert_eq!(env.count(101), 1);
}

#[test]
fn case03_state_changes_during_deliveries_keep_each_message_in_one_file() {
    let env = Arc::new(Env::with_config("lock_timeout = 60"));
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &msg("c3.first@x", "b\n"),
    )
    .deliver_code(0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for args in [
                    &["close", "1"][..],
                    &["reopen", "1"],
                    &["archive", "--idle", "0"],
                ] {
                    let r = env.run(args, b"", &[]);
                    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
                }
                rounds += 1;
            }
            rounds
        })
    };
    parallel(&env, 4, 25, |env, w, i| {
        env.deliver(
            "ticket-1@example.org",
            "ann@customer.example",
            &msg(&format!("c3.{w}.{i}@x"), "b\n"),
        )
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
    assert!(env.is_open(1) != env.is_closed(1), "exactly one file");
    let all = messages_by_id(&env, 1);
    for w in 0..4 {
        for i in 0..25 {
            assert_eq!(all[&format!("c3.{w}.{i}@x")].len(), 1, "c3.{w}.{i}");
        }
    }
}

#[test]
fn case04_an_exim_lock_makes_delivery_wait() {
    need("exim_lock");
    let env = with_ticket_1(Env::with_config("lock_timeout = 20"), "c4.0@x");
    // exim_lock takes the dotlock and an fcntl lock, as Exim's appendfile does.
    let mut holder = Command::new("exim_lock")
        .args([
            "-q",
            "-fcntl",
            env.store.join("1").to_str().unwrap(),
            "sleep 2",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &msg("c4.1@x", "b\n"),
    )
    .deliver_code(0);
    assert!(
        start.elapsed() > Duration::from_millis(800),
        "delivery waited for the lock: {:?}",
        start.elapsed()
    );
    holder.wait().unwrap();
    assert_eq!(env.count(1), 2);
}

#[test]
fn case05_a_fresh_dotlock_makes_delivery_wait() {
    let env = with_ticket_1(Env::with_config("lock_timeout = 20"), "c5.0@x");
    let lock = env.store.join("1.lock");
    fs::write(&lock, "").unwrap();
    let remover = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            fs::remove_file(lock).unwrap();
        })
    };
    let start = Instant::now();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &msg("c5.1@x", "b\n"),
    )
    .deliver_code(0);
    assert!(start.elapsed() >= Duration::from_millis(900));
    remover.join().unwrap();
    assert_eq!(env.count(1), 2);
    // held past the budget: 75 and the file unchanged
    let env = with_ticket_1(Env::with_config("lock_timeout = 1"), "c5.2@x");
    let before = env.ticket(1);
    fs::write(env.store.join("1.lock"), "").unwrap();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &msg("c5.3@x", "b\n"),
    )
    .deliver_code(75);
    assert_eq!(env.ticket(1), before);
}

#[test]
fn case06_a_stale_dotlock_is_removed() {
    let env = with_ticket_1(Env::with_config("stale_lock = 300"), "c6.0@x");
    let lock = env.store.join("1.lock");
    fs::write(&lock, "99999\n").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &msg("c6.1@x", "b\n"),
    )
    .deliver_code(0);
    assert!(!lock.exists());
    assert_eq!(env.count(1), 2);
}

#[test]
fn case07_mailtix_holds_fcntl_and_dotlock_not_flock() {
    let env = with_ticket_1(Env::new(), "c7.0@x");
    let mut child = env
        .deliver_command("ticket-1@example.org", "a@b.c")
        .env("MAILTIX_TEST_HOLD_LOCK_MS", "3000")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(msg("c7.1@x", "b\n").as_bytes())
            .unwrap();
    }
    let lock = env.store.join("1.lock");
    let start = Instant::now();
    while !lock.exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lock.exists(), "the dotlock is there while mailtix writes");
    let probe = Command::new("python3")
        .arg("-c")
        .arg(concat!(
            "import fcntl,sys\n",
            "f=open(sys.argv[1],'r+')\n",
            "try:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB); print('lockf-free')\n",
            "except OSError: print('lockf-held')\n",
            "try:\n fcntl.flock(f,fcntl.LOCK_EX|fcntl.LOCK_NB); print('flock-free')\n",
            "except OSError: print('flock-held')\n"
        ))
        .arg(env.store.join("1"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&probe.stdout);
    assert!(out.contains("lockf-held"), "fcntl lock held: {out}");
    assert!(
        out.contains("flock-free"),
        "not flock, which mutt does not see: {out}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!lock.exists());
}

fn sha(data: &[u8]) -> String {
    format!("{:016x}:{}", mailtix::mbox::fnv1a(data), data.len())
}

#[test]
fn case08_a_full_disk_is_temporary_and_changes_nothing() {
    // A tiny tmpfs of our own (we run as root in CI; tests/run.sh says so).
    let env = Env::new();
    let mnt = env.path().join("small");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success(), "mounting a tmpfs needs root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let cfg = fs::read_to_string(&env.config).unwrap().replace(
        "store = \"tickets\"",
        &format!("store = \"{}\"", mnt.join("t").display()),
    );
    fs::write(&env.config, cfg).unwrap();
    fs::create_dir(mnt.join("t")).unwrap();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &msg("c8.0@x", "b\n"),
    )
    .deliver_code(0);
    let ticket = mnt.join("t/1");
    // fill the disk, leaving a little room
    let filler = mnt.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let _ = fs::remove_file(mnt.join("t/.mailtix/log"));
    let before = sha(&fs::read(&ticket).unwrap());
    let big = msg("c8.1@x", &"0123456789abcdef\n".repeat(4096));
    let r = env.deliver("ticket-1@example.org", "ann@customer.example", &big);
    r.deliver_code(75);
    assert!(r.stderr.contains("No space left"), "{}", r.stderr);
    assert_eq!(
        sha(&fs::read(&ticket).unwrap()),
        before,
        "unchanged byte for byte"
    );
    assert!(
        fs::read_dir(mnt.join("t/.mailtix/pending"))
            .unwrap()
            .next()
            .is_none()
    );
    fs::remove_file(&filler).unwrap();
    env.deliver("ticket-1@example.org", "ann@customer.example", &big)
        .deliver_code(0);
    let all = mailtix::mbox::read(&fs::read(&ticket).unwrap()).unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn case09_a_file_size_limit_is_temporary_and_restores_the_length() {
    let env = with_ticket_1(Env::new(), "c9.0@x");
    let before = env.ticket(1);
    let big = msg("c9.1@x", &"x".repeat(20_000));
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(format!(
        "trap '' XFSZ; ulimit -f 8; exec {BIN} --config {} deliver --recipient ticket-1@example.org --sender a@b.c",
        env.config.display()
    ));
    let r = env.spawn(cmd, big.as_bytes(), &[]);
    r.deliver_code(75);
    assert!(r.stderr.contains("File too large"), "{}", r.stderr);
    assert_eq!(env.ticket(1), before);
}

#[test]
fn case10_random_write_and_fsync_failures_never_tear_or_duplicate() {
    need("fiu-run");
    let env = with_ticket_1(Env::new(), "c10.0@x");
    let path = env.store.join("1");
    let (mut ok, mut temp) = (0, 0);
    for i in 0..300 {
        let before = fs::read(&path).unwrap();
        let mut cmd = Command::new("fiu-run");
        cmd.args([
            "-x",
            "-c",
            "enable_random name=posix/io/rw/write,probability=0.03",
            "-c",
            "enable_random name=posix/io/sync/fdatasync,probability=0.05",
            "-c",
            "enable_random name=posix/io/sync/fsync,probability=0.05",
            BIN,
            "--config",
            env.config.to_str().unwrap(),
            "deliver",
            "--recipient",
            "ticket-1@example.org",
            "--sender",
            "a@b.c",
        ]);
        let mid = format!("c10.run{i}@x");
        let r = env.spawn(cmd, msg(&mid, &body_with_from_lines(i)).as_bytes(), &[]);
        let after = fs::read(&path).unwrap();
        match r.code {
            0 => {
                ok += 1;
                assert!(
                    after.starts_with(&before),
                    "run {i}: appended, not rewritten"
                );
                let new = mailtix::mbox::read(&after[before.len()..])
                    .unwrap_or_else(|e| panic!("run {i}: {e}"));
                assert_eq!(new.len(), 1, "run {i}: exactly one new copy");
            }
            75 => {
                temp += 1;
                assert_eq!(after, before, "run {i}: unchanged after 75 ({})", r.stderr);
            }
            c => panic!("run {i}: exit {c}: {}", r.stderr),
        }
        mailtix::mbox::read(&after).unwrap();
    }
    assert!(
        ok > 0 && temp > 0,
        "both outcomes happened: ok {ok}, temporary {temp}"
    );
    assert_eq!(python_count(&path), 1 + ok);
    println!("fiu: {ok} stored, {temp} temporary failures");
}

#[test]
fn case11_kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let env = with_ticket_1(Env::new(), "c11.first@x");
    let big_body =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n".repeat(16 * 1024);
    let mut acknowledged = Vec::new();
    let mut unacked = Vec::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mid = format!("c11.{i}@x");
        let body = if i % 2 == 0 {
            big_body.clone()
        } else {
            format!("small {i}\n")
        };
        let mut child = env
            .deliver_command("ticket-1@example.org", "a@b.c")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let _ = child
                .stdin
                .take()
                .unwrap()
                .write_all(msg(&mid, &body).as_bytes());
        }
        std::thread::sleep(Duration::from_micros(seed % 15_000));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.code() == Some(0) {
            acknowledged.push((mid, body));
        } else {
            unacked.push((mid, body));
        }
    }
    assert!(!unacked.is_empty(), "some deliveries were killed");
    // check repairs any torn tail; every ticket parses
    let r = env.run(&["check"], b"", &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    python_count(&env.store.join("1"));
    // Exim redelivers what was not acknowledged
    for (mid, body) in &unacked {
        let r = env.deliver("ticket-1@example.org", "a@b.c", &msg(mid, body));
        assert_eq!(
            r.code,
            0,
            "{} lock: {:?}",
            r.stderr,
            fs::read_to_string(env.store.join("1.lock"))
        );
    }
    let all = messages_by_id(&env, 1);
    for (mid, body) in acknowledged.iter().chain(unacked.iter()) {
        let copies = all.get(mid).map(Vec::len).unwrap_or(0);
        assert_eq!(copies, 1, "{mid} stored exactly once");
        assert!(
            all[mid][0] == body.as_bytes(),
            "{mid}: body of {} bytes differs ({} stored)",
            body.len(),
            all[mid][0].len()
        );
    }
    println!(
        "kill -9: {} acknowledged, {} redelivered",
        acknowledged.len(),
        unacked.len()
    );
}

#[test]
fn case12_a_panic_exits_75_with_short_output() {
    let env = Env::new();
    let r = env
        .delivery()
        .to("support@example.org")
        .stdin(msg("c12@x", "b\n"))
        .vars(&[("MAILTIX_TEST_PANIC", "1")])
        .run();
    r.deliver_code(75);
    assert!(r.stderr.len() < 4096);
}

#[test]
fn case13_a_failing_stdin_is_temporary_and_writes_nothing() {
    let env = with_ticket_1(Env::new(), "c13.0@x");
    let before = env.ticket(1);
    let mut cmd = Command::new("sh");
    // a directory as stdin: read(2) fails with EISDIR
    cmd.arg("-c").arg(format!(
        "exec {BIN} --config {} deliver --recipient ticket-1@example.org < /",
        env.config.display()
    ));
    let r = env.spawn(cmd, b"", &[]);
    r.deliver_code(75);
    assert!(r.stderr.contains("reading stdin"), "{}", r.stderr);
    assert_eq!(env.ticket(1), before);
}

fn max_rss_kb(env: &Env, args: &[&str], stdin: &[u8]) -> (Run, u64) {
    need("/usr/bin/time");
    let report = env.path().join("rss");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(BIN)
        .arg("--config")
        .arg(&env.config)
        .args(args);
    let r = env.spawn(cmd, stdin, &[]);
    let kb = fs::read_to_string(&report)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    (r, kb)
}

#[test]
fn case14_a_30_mb_message_is_stored_whole_in_little_memory() {
    let env = Env::new();
    let mut big = msg("c14@x", "").into_bytes();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n";
    while big.len() < 30 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    let (r, kb) = max_rss_kb(
        &env,
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            "a@b.c",
        ],
        &big,
    );
    r.deliver_code(0);
    let stored = mailtix::mbox::read(&env.ticket(1)).unwrap();
    assert_eq!(stored[0].message, big, "stored whole");
    let ratio = (kb * 1024) as f64 / big.len() as f64;
    println!("30 MB message: peak RSS {kb} KiB, {ratio:.2}x the message");
    assert!(ratio < 2.5, "peak RSS {ratio:.2}x the message size");
    // over max_message_size: a permanent code and nothing written
    let env = Env::with_config("max_message_size = 1048576");
    env.deliver("support@example.org", "a@b.c", &msg("c14.small@x", "b\n"))
        .deliver_code(0);
    let before = env.ticket(1);
    let r = env.delivery().to("ticket-1@example.org").stdin(big).run();
    r.deliver_code(65);
    assert_eq!(env.ticket(1), before);
}

#[test]
fn case15_a_mime_bomb_is_filed_quickly_without_a_crash() {
    let env = Env::new();
    let mut bomb = String::from(
        "From: a@b.c\nTo: support@example.org\nSubject: bomb\nMessage-ID: <bomb@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n",
    );
    for d in 0..10_000 {
        bomb.push_str(&format!(
            "--b{d}\nContent-Type: multipart/mixed; boundary=\"b{}\"\n\n",
            d + 1
        ));
    }
    bomb.push_str("--b10000\nContent-Type: text/plain\n\nx\n");
    for p in 0..100_000 {
        bomb.push_str(&format!("--b10000\nContent-Type: text/plain\n\npart {p}\n"));
    }
    let start = Instant::now();
    let (r, kb) = max_rss_kb(
        &env,
        &[
            "deliver",
            "--recipient",
            "support@example.org",
            "--sender",
            "a@b.c",
        ],
        bomb.as_bytes(),
    );
    let took = start.elapsed();
    assert!(r.code == 0 || r.code == 65, "exit {}: {}", r.code, r.stderr);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(kb < 256 * 1024, "peak RSS {kb} KiB");
    println!(
        "MIME bomb ({} bytes): exit {} in {took:?}, {kb} KiB",
        bomb.len(),
        r.code
    );
    if r.code == 0 {
        // reading it back is bounded too, and never a crash
        let show = env.run(&["show", "1"], b"", &[]);
        assert!(
            show.code == 0 || show.code == 1,
            "show exit {}: {}",
            show.code,
            show.stderr
        );
    }
}

#[test]
fn case16_a_long_line_cannot_smuggle_a_message_separator() {
    let env = Env::new();
    // on its own line the From line is quoted: one message for everyone
    let mut own_line = msg("c16.a@x", &"x".repeat(8191));
    own_line.push_str("\nFrom evil@x Sat Jan  3 01:05:34 1996\nstill the same message\n");
    env.deliver("support@example.org", "a@b.c", &own_line)
        .deliver_code(0);
    assert_eq!(mailtix::mbox::read(&env.ticket(1)).unwrap().len(), 1);
    assert_eq!(python_count(&env.store.join("1")), 1);
    // on the same line, mutt would read it as a new message: refused, nothing written
    let mut same_line = msg("c16.b@x", &"x".repeat(8191));
    same_line.push_str("From evil@x Sat Jan  3 01:05:34 1996\n");
    let r = env.deliver("ticket-1@example.org", "a@b.c", &same_line);
    r.deliver_code(65);
    assert!(r.stderr.contains("8191"), "{}", r.stderr);
    assert_eq!(mailtix::mbox::read(&env.ticket(1)).unwrap().len(), 1);
}

#[test]
fn case17_nul_bytes_invalid_utf8_and_8bit_headers_are_kept_byte_for_byte() {
    let cases: Vec<Vec<u8>> = vec![
        b"From: a@b.c\nSubject: nul\nMessage-ID: <n1@x>\n\nbefore\0after\n".to_vec(),
        b"From: a@b.c\nSubject: \xff\xfe bad utf-8 \xc3\x28\nMessage-ID: <n2@x>\n\n\xc3\x28\xa0\xa1\n".to_vec(),
        b"From: J\xf6rg <j@b.c>\nX-Weird: \x01\x02\nSubject: 8bit \xe9\nMessage-ID: <n3@x>\n\n\x80\x81\n".to_vec(),
        b"From: a@b.c\nSubject: \0\nMessage-ID: <n4\0@x>\n\nx\n".to_vec(),
        b"From: =?utf-8?b?////?= <a@b.c>\nSubject: =?x-unknown?q?=FF?=\nMessage-ID: <n5@x>\n\nx\n".to_vec(),
    ];
    for (i, input) in cases.iter().enumerate() {
        let env = Env::new();
        let r = env.run(
            &[
                "deliver",
                "--recipient",
                "support@example.org",
                "--sender",
                "a@b.c",
            ],
            input,
            &[],
        );
        assert!(
            r.code == 0 || r.code == 65,
            "case {i}: exit {}: {}",
            r.code,
            r.stderr
        );
        if r.code == 0 {
            let back = mailtix::mbox::read(&env.ticket(1)).unwrap();
            assert_eq!(&back[0].message, input, "case {i} byte for byte");
            env.run(&["show", "1"], b"", &[]).code(0);
            env.run(&["list", "--json"], b"", &[]).code(0);
        }
    }
}

#[test]
fn case19_path_traversal_is_refused_and_nothing_outside_the_store_changes() {
    let env = Env::new();
    env.deliver("support@example.org", "a@b.c", &msg("c19.0@x", "b\n"))
        .deliver_code(0);
    let marker = env.path().join("marker");
    fs::write(&marker, "").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    for rcpt in [
        "ticket-../x@example.org",
        "ticket-12/../../etc@example.org",
        "ticket-0012@example.org",
        "ticket--1@example.org",
        "ticket-12345678901234567890@example.org",
        "ticket-1/../1@example.org",
    ] {
        env.deliver(rcpt, "a@b.c", &msg("c19.1@x", "b\n"))
            .deliver_code(67);
    }
    env.deliver(
        "support@example.org",
        "a@b.c",
        &mail("a@b.c", "[issue../../x]", "c19.2@x", "", "b\n"),
    )
    .deliver_code(0);
    let out = Command::new("find")
        .arg(env.path())
        .args(["-newer", marker.to_str().unwrap(), "-not", "-path"])
        .arg(format!("{}*", env.store.display()))
        .output()
        .unwrap();
    let changed = String::from_utf8_lossy(&out.stdout);
    let changed: Vec<&str> = changed
        .lines()
        .filter(|l| !l.ends_with("/sent") && !l.contains("/sent/"))
        .collect();
    assert!(changed.is_empty(), "changed outside the store: {changed:?}");
}

#[test]
fn case21_acks_over_smtp_carry_no_injected_headers_or_recipients() {
    let sink = SmtpSink::start();
    let env = Env::with_config_and_mail(
        "",
        Some(&format!(
            "transport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}",
            sink.port
        )),
    );
    let cases = [
        "From: ann@customer.example\nTo: support@example.org\nSubject: =?utf-8?q?hi=0D=0ARCPT_TO=3A=3Cvictim=40evil=2Eexample=3E?=\nMessage-ID: <i1@x>\n\nb\n",
        "From: =?utf-8?q?Ann=0D=0ABcc=3A_victim=40evil=2Eexample?= <ann@customer.example>\nTo: support@example.org\nSubject: name\nMessage-ID: <i2@x>\n\nb\n",
        "From: \"x\" <\"a>\\r\\nRCPT TO:<victim@evil.example\"@customer.example>\nTo: support@example.org\nSubject: addr\nMessage-ID: <i3@x>\n\nb\n",
    ];
    for (i, m) in cases.iter().enumerate() {
        env.deliver("support@example.org", "x@customer.example", m)
            .deliver_code(0);
        let t = sink.transactions.lock().unwrap().clone();
        for (rcpts, data) in &t {
            assert_eq!(
                rcpts.len(),
                1,
                "case {i}: exactly one RCPT per mail: {rcpts:?}"
            );
            assert!(!rcpts[0].contains("victim"), "case {i}: {rcpts:?}");
            let head = data.split("\r\n\r\n").next().unwrap();
            for line in head.split("\r\n") {
                let l = line.to_ascii_lowercase();
                assert!(
                    !l.starts_with("bcc") && !l.starts_with("rcpt"),
                    "case {i}: injected {line}"
                );
            }
        }
    }
    let t = sink.transactions.lock().unwrap();
    assert!(
        t.len() >= 2,
        "the sink received the acknowledgements: {}",
        t.len()
    );
}

#[test]
fn case24_a_file_size_limit_with_the_default_sigxfsz_is_75_and_leaves_no_tmp_file() {
    let env = with_ticket_1(Env::new(), "c24.0@x");
    let before = env.ticket(1);
    let big = msg("c24.1@x", &"x".repeat(20_000));
    for rcpt in ["ticket-1@example.org", "support@example.org"] {
        // No trap: SIGXFSZ keeps its default action (terminate), as under Exim.
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(format!(
            "ulimit -f 8; exec {BIN} --config {} deliver --recipient {rcpt} --sender a@b.c",
            env.config.display()
        ));
        let r = env.spawn(cmd, big.as_bytes(), &[]);
        r.deliver_code(75);
        assert!(r.stderr.contains("File too large"), "{}", r.stderr);
        assert_eq!(env.ticket(1), before);
        assert!(!env.store.join("2").exists(), "no new ticket");
        let tmp: Vec<_> = fs::read_dir(env.store.join(".mailtix/tmp"))
            .unwrap()
            .collect();
        assert!(tmp.is_empty(), "no tmp file left: {tmp:?}");
    }
}

#[test]
fn case28_reindex_while_mail_arrives_stores_no_redelivery_twice() {
    let env = Arc::new(with_ticket_1(
        Env::with_config("lock_timeout = 60"),
        "c28.first@x",
    ));
    // Stored messages, in ticket 1 and in tickets of their own.
    for i in 0..60 {
        let rcpt = if i % 2 == 0 {
            "ticket-1@example.org"
        } else {
            "support@example.org"
        };
        env.deliver(rcpt, "a@b.c", &msg(&format!("c28.{i}@x"), "b\n"))
            .deliver_code(0);
    }
    let before: Vec<Vec<u8>> = (1..=31).map(|id| env.ticket(id)).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reindexer = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                env.run(&["reindex"], b"", &[]).code(0);
                rounds += 1;
            }
            rounds
        })
    };
    // Exim redelivers every one of them, several times, while reindex runs.
    for _ in 0..4 {
        for i in 0..60 {
            let rcpt = if i % 2 == 0 {
                "ticket-1@example.org"
            } else {
                "support@example.org"
            };
            env.deliver(rcpt, "a@b.c", &msg(&format!("c28.{i}@x"), "b\n"))
                .deliver_code(0);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = reindexer.join().unwrap();
    assert!(rounds >= 3, "reindex ran during the deliveries: {rounds}");
    eprintln!("{rounds} reindex runs during 240 redeliveries");
    let after: Vec<Vec<u8>> = (1..=31).map(|id| env.ticket(id)).collect();
    let stored: usize = (1..)
        .take_while(|id| env.store.join(id.to_string()).exists())
        .map(|id| env.count(id))
        .sum();
    assert_eq!(stored, 61, "messages stored ({rounds} reindex runs)");
    assert!(
        !env.store.join("32").exists(),
        "no redelivery opened a ticket"
    );
    assert!(
        before == after,
        "no redelivery was stored again ({rounds} reindex runs)"
    );
    env.run(&["check"], b"", &[]).code(0);
}

#[test]
fn case29_a_missing_store_root_is_temporary_and_never_created() {
    let env = Env::without_store();
    let r = env.deliver("support@example.org", "a@b.c", &msg("c29.0@x", "b\n"));
    r.deliver_code(75);
    let want = format!(
        "store {} does not exist; create it or fix `store` in {}",
        env.store.display(),
        env.config.display()
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(!env.store.exists(), "a missing store is not created");
    let c = env.run(&["check"], b"", &[]);
    c.code(1);
    assert!(c.stdout.contains(&want), "{}", c.stdout);
    assert!(!env.store.exists());
    env.run(&["reindex"], b"", &[]).code(1);
    assert!(!env.store.exists(), "reindex does not create it either");
    // An empty directory is a new store: set up on first use.
    fs::create_dir(&env.store).unwrap();
    env.deliver("support@example.org", "a@b.c", &msg("c29.0@x", "b\n"))
        .deliver_code(0);
    assert_eq!(env.count(1), 1);
    env.run(&["check"], b"", &[]).code(0);
}

#[test]
fn case30_symlinks_inside_the_store_are_refused_and_reported() {
    // The shard that indexes the first message (store.rs: FNV-1a of the key, top byte).
    let shard_name = format!(
        ".mailtix/index/{:02x}",
        mailtix::mbox::fnv1a(b"c30.0@x") >> 56
    );
    for component in [
        "archived",
        ".mailtix",
        ".mailtix/tmp",
        ".mailtix/pending",
        ".mailtix/index",
        &shard_name,
        ".mailtix/secret",
        ".mailtix/next-id",
        ".mailtix/lock",
    ] {
        let env = with_ticket_1(Env::new(), "c30.0@x");
        let path = env.store.join(component);
        if component == shard_name {
            assert!(path.is_file(), "{component}: the first ticket's shard");
        }
        // The attacker's copy, outside the store, that the link points to.
        let outside = env.path().join("outside");
        Command::new("cp")
            .arg("-a")
            .arg(&path)
            .arg(&outside)
            .status()
            .unwrap();
        let remove = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        remove.unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        let snapshot = |p: &std::path::Path| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "find {} -exec ls -ld {{}} + | sort; find {} -type f -exec md5sum {{}} +",
                    p.display(),
                    p.display()
                ))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let before = snapshot(&outside);
        let r = env.deliver("support@example.org", "a@b.c", &msg("c30.1@x", "b\n"));
        r.deliver_code(75);
        assert!(r.stderr.contains("symlink"), "{component}: {}", r.stderr);
        let r = env.deliver("ticket-1-close@example.org", ADMIN, &msg("c30.2@x", "b\n"));
        r.deliver_code(75);
        assert_eq!(
            snapshot(&outside),
            before,
            "{component}: nothing written through the link"
        );
        let c = env.run(&["check"], b"", &[]);
        c.code(1);
        assert!(
            c.stdout
                .contains(&format!("{} is a symlink", path.display())),
            "{component}: {}",
            c.stdout
        );
        let a = env.run(&["close", "1"], b"", &[]);
        a.code(1);
        assert!(a.stderr.contains("symlink"), "{component}: {}", a.stderr);
        assert_eq!(a.stderr.lines().count(), 1, "{}", a.stderr);
        assert!(env.is_open(1), "{component}: not moved");
        assert_eq!(
            snapshot(&outside),
            before,
            "{component}: nothing written through the link"
        );
    }
}

#[test]
fn case31_check_reports_a_read_only_store_and_an_unreadable_secret() {
    // An unreadable secret (a directory here, since root reads any file).
    let env = with_ticket_1(Env::new(), "c31.0@x");
    let secret = env.store.join(".mailtix/secret");
    assert!(secret.is_file(), "the first ack made the secret");
    fs::remove_file(&secret).unwrap();
    fs::create_dir(&secret).unwrap();
    let c = env.run(&["check"], b"", &[]);
    c.code(1);
    assert!(
        c.stdout
            .contains(&format!("{} cannot be read", secret.display())),
        "{}",
        c.stdout
    );
    // A read-only store (a read-only mount: root may write any mode).
    let env = Env::new();
    let mnt = env.path().join("ro");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0770", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success(), "mounting a tmpfs needs root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let cfg = fs::read_to_string(&env.config).unwrap().replace(
        "store = \"tickets\"",
        &format!("store = \"{}\"", mnt.display()),
    );
    fs::write(&env.config, cfg).unwrap();
    env.deliver("support@example.org", "a@b.c", &msg("c31.1@x", "b\n"))
        .deliver_code(0);
    env.run(&["check"], b"", &[]).code(0);
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ok.success());
    let c = env.run(&["check"], b"", &[]);
    c.code(1);
    assert!(
        c.stdout
            .contains(&format!("{} is not writable", mnt.display())),
        "{}",
        c.stdout
    );
}

#[test]
fn case32_a_second_link_left_in_tmp_is_removed_by_the_next_lock_and_by_check() {
    use std::os::unix::fs::MetadataExt;
    for by_check in [false, true] {
        let env = with_ticket_1(Env::new(), "c32.0@x");
        let twin = env.store.join(".mailtix/tmp/new.4194000");
        // What a writer killed between link(2) and unlink(2) leaves.
        fs::hard_link(env.store.join("1"), &twin).unwrap();
        if by_check {
            let c = env.run(&["check"], b"", &[]);
            c.code(0);
            assert!(
                c.stdout
                    .contains("repaired: removed .mailtix/tmp/new.4194000, a second link"),
                "{}",
                c.stdout
            );
        }
        env.deliver("ticket-1@example.org", "a@b.c", &msg("c32.1@x", "b\n"))
            .deliver_code(0);
        assert!(!twin.exists());
        assert_eq!(fs::metadata(env.store.join("1")).unwrap().nlink(), 1);
        assert_eq!(env.count(1), 2);
        env.run(&["close", "1"], b"", &[]).code(0);
        env.run(&["check"], b"", &[]).code(0);
    }
}
