//! `mailtix search`: every operator and prefix against real messages (the golden
//! corpus, the charset fixtures and tests/fixtures/search/), each checking the exact set
//! of tickets; exit codes; the index catching up after deliveries, rewrites and crashes.

use crate::support::*;
use std::fs;

/// Delivers the corpus. Tickets, in order:
/// 1 plain (Ann Smith), answered by the admin   2 Latin-1 "Grüße aus Köln", no Date
/// 3 Ann's logs with report.pdf, no Date        4 HTML only, from Ann, no Date
/// 5 GB2312 打印机坏了                          6 Shift_JIS subject 請求書について
/// 7 base64 body (zebracorn); the requester bounces
/// 8 quoted-printable body, Cc Carol             9 a text attachment; closed
fn corpus() -> Env {
    let env = Env::new();
    let files = [
        "01-plain.eml",
        "05-latin1.eml",
        "09-multipart-attachment.eml",
        "10-html-only.eml",
        "charsets/gb2312.eml",
        "charsets/shift_jis.eml",
        "search/01-base64.eml",
        "search/02-qp.eml",
        "search/03-text-attachment.eml",
    ];
    for (i, f) in files.iter().enumerate() {
        let raw = fixture(f);
        let r = env.run(
            &[
                "deliver",
                "--recipient",
                "support@example.org",
                "--sender",
                "someone@customer.example",
            ],
            &raw,
            &[],
        );
        r.deliver_code(0);
        assert!(
            r.stderr.contains(&format!("ticket {}:", i + 1)),
            "{f}: {}",
            r.stderr
        );
    }
    env.deliver(
        "ticket-1@example.org",
        ADMIN,
        &mail(
            ADMIN,
            "Re: Plain mail",
            "r1@admin.example",
            "",
            "We are looking at it.\n",
        ),
    )
    .deliver_code(0);
    env.run(&["close", "9"], b"", &[]).code(0);
    #[allow(clippy::disallowed_methods)] // a bounce recorded now, as deliver does
    let now = chrono::Utc::now().timestamp();
    let rec = mailtix::store::BounceRecord::parse(&format!("{now} 7 hard 5.1.1 dana@b64.example"))
        .unwrap();
    mailtix::store::Store::new(&env.store)
        .record_bounce(&rec, now)
        .unwrap();
    env
}

/// The ticket ids a search returns (via --json), and its exit code.
fn ids(env: &Env, args: &[&str]) -> (Vec<u32>, i32) {
    let mut a = vec!["search", "--json"];
    a.extend_from_slice(args);
    let r = env.run(&a, b"", &[]);
    if r.code != 0 {
        assert_eq!(r.stdout, "", "{args:?}");
        return (Vec::new(), r.code);
    }
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", r.stdout));
    let mut ids: Vec<u32> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap() as u32)
        .collect();
    ids.sort_unstable();
    (ids, r.code)
}

fn check(env: &Env, cases: &[(&[&str], &[u32])]) {
    let mut failed = Vec::new();
    for (args, want) in cases {
        let (got, code) = ids(env, args);
        let want_code = if want.is_empty() { 1 } else { 0 };
        if got != *want || code != want_code {
            failed.push(format!(
                "{args:?}: got {got:?} (exit {code}), want {want:?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(!cases.is_empty());
}

#[test]
fn words_phrases_and_operators() {
    let env = corpus();
    check(
        &env,
        &[
            (&["plain"], &[1]),
            (&["PLAIN", "Hello"], &[1]),
            (&["\"a plain message\""], &[1]),
            (&["\"plain a message\""], &[]),
            (&["plain", "OR", "zebracorn"], &[1, 7]),
            (&["(plain", "OR", "zebracorn)", "-zoo"], &[1]),
            (&["(plain OR zebracorn) NOT zoo"], &[1]),
            // a message matches: ticket 1's reply has "Plain" in its subject, no "hello"
            (&["-plain"], &[2, 3, 4, 5, 6, 7, 8]),
            (&["plain", "-hello"], &[1]),
            (&["plain", "-hello", "-looking"], &[]),
            (&["plain", "AND", "zebracorn"], &[]),
            (&["nosuchword"], &[]),
        ],
    );
}

#[test]
fn decoding_charsets_and_accents() {
    let env = corpus();
    check(
        &env,
        &[
            // Latin-1 8bit body and subject; case and accents are ignored both ways
            (&["grusse"], &[2]),
            (&["GRÜSSE", "schöne"], &[2]),
            // its From and Subject are raw 8-bit Latin-1: read in the body's charset
            (&["s:köln"], &[2]),
            (&["from:jörg"], &[2]),
            (&["bientot"], &[2]),
            // base64 body: the decoded text is found, the encoded text is not
            (&["zebracorn"], &[7]),
            (
                &["VGhlIHplYnJhY29ybiBlc2NhcGVkIGZyb20gdGhlIFpvbyBhZ2Fpbi4KUGxlYXNlIHNlbmQgaGVs"],
                &[],
            ),
            // quoted-printable: soft line breaks joined, =XX decoded
            (&["extraordinarily"], &[8]),
            (&["printable"], &[8]),
            (&["prin"], &[]),
            (&["C3"], &[]),
            (&["\"creme brulee\""], &[8]),
            (&["crème"], &[8]),
            // HTML: the text, not the tags
            (&["bold"], &[4]),
            (&["b:html"], &[4]),
            (&["b:body"], &[]),
            // GB2312 body and subject, Shift_JIS subject and body: bigrams
            (&["打印机"], &[5]),
            (&["朱镕基"], &[5]),
            (&["s:打印机"], &[5]),
            (&["from:张伟"], &[5]),
            (&["s:請求書"], &[6]),
            (&["届いて"], &[6]),
            (&["請求書", "-打印机"], &[6]),
            // a word of one character, inside a run
            (&["机"], &[5]),
            (&["書"], &[6]),
            (&["s:書"], &[6]),
            (&["\"打印 ok\""], &[]),
        ],
    );
}

#[test]
fn prefixes() {
    let env = corpus();
    let open: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8];
    check(
        &env,
        &[
            (&["from:ann"], &[1, 3, 4]),
            (&["from:ann@customer.example"], &[1, 3, 4]),
            (&["from:\"ann smith\""], &[1, 3]),
            (&["from:muller"], &[2, 8]),
            (&["from:josé"], &[8]),
            (&["from:boss@admin.example"], &[1]),
            (&["to:support"], open),
            (&["--all", "to:frank"], &[9]),
            (&["to:frank"], &[]),
            (&["cc:carol"], &[8]),
            (&["cc:partner.example"], &[8]),
            (&["cc:ann"], &[]),
            (&["subject:machine"], &[8]),
            (&["s:cafe"], &[8]),
            (&["s:plain", "s:looking"], &[]),
            (&["body:looking"], &[1]),
            (&["b:zebracorn"], &[7]),
            (&["s:zebracorn"], &[]),
            (&["n:report.pdf"], &[3]),
            (&["attachment:report"], &[3]),
            (&["attachment:attached"], &[]),
            (&["id:plain@customer.example"], &[1]),
            (&["id:<qp@qp.example>"], &[8]),
            (&["id:nosuch@x"], &[]),
            (&["ticket:3"], &[3]),
            (&["ticket:9"], &[]),
            (&["--all", "ticket:9"], &[9]),
        ],
    );
}

#[test]
fn states_text_attachments_and_closed_tickets() {
    let env = corpus();
    check(
        &env,
        &[
            (&["segfault"], &[]),
            (&["--all", "segfault"], &[9]),
            (&["--closed", "segfault"], &[9]),
            (&["--closed", "plain"], &[]),
            (&["--all", "watchdog"], &[9]),
            (&["--all", "n:crashlog.txt"], &[9]),
            (&["--all", "attachment:crashlog"], &[9]),
            // is:open and is:closed make the search cover both states
            (&["is:closed", "segfault"], &[9]),
            (&["is:closed"], &[9]),
            (&["is:open", "from:erin"], &[]),
            (&["is:open", "OR", "segfault"], &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            (&["is:bounced"], &[7]),
            (&["-is:bounced", "from:dana"], &[]),
            (&["is:waiting"], &[2, 3, 4, 5, 6, 7, 8]),
            (&["--all", "is:waiting"], &[2, 3, 4, 5, 6, 7, 8, 9]),
        ],
    );
}

#[test]
fn dates() {
    let env = corpus();
    check(
        &env,
        &[
            (&["date:2026-01-01..2026-03-31"], &[7, 8]),
            (&["date:2026-02-10"], &[8]),
            (&["date:2026-02-11"], &[]),
            (&["date:..2025-12-31"], &[]),
            (&["--all", "date:..2025-12-31"], &[9]),
            (&["--all", "date:2025-12-31..2026-01-05"], &[7, 9]),
            // tickets 2, 3 and 4 have no Date: their delivery time counts, which is now
            (&["date:1d.."], &[2, 3, 4]),
            (&["date:1d..", "-grusse"], &[3, 4]),
            (&["date:1d..", "-grusse", "-ann"], &[]),
        ],
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let env = corpus();
    for q in [
        &["foo:bar"][..],
        &["plain", "htp://x"],
        &["is:sleeping"],
        &["date:yesterday"],
        &["date:2026-02-30"],
        &["ticket:0"],
        &["(plain"],
        &["plain", "OR"],
        &["--limit", "0", "plain"],
    ] {
        let mut a = vec!["search"];
        a.extend_from_slice(q);
        let r = env.run(&a, b"", &[]);
        r.code(2);
        assert_eq!(r.stdout, "", "{q:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{q:?}: {}", r.stderr);
    }
    env.run(&["search"], b"", &[]).code(2);
    let r = env.run(&["search", "foo:bar"], b"", &[]);
    assert!(r.stderr.contains("unknown prefix `foo:`"), "{}", r.stderr);
    // quoted, it is text
    env.run(&["search", "\"foo:bar\""], b"", &[]).code(1);
}

#[test]
fn output_rows_snippets_json_limit_and_mbox() {
    let env = corpus();
    let r = env.run(&["search", "zebracorn"], b"", &[]);
    r.code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[0].starts_with("ID  STATE"), "{}", r.stdout);
    assert!(
        lines[1].starts_with("7 ") && lines[1].contains("dana@b64.example (bounces)"),
        "{}",
        r.stdout
    );
    assert!(lines[1].ends_with("Animal trouble"), "{}", r.stdout);
    assert_eq!(
        lines[2],
        "    Animal trouble The [zebracorn] escaped from the Zoo again. Please send help."
    );

    let r = env.run(&["search", "--json", "to:support", "ticket:1"], b"", &[]);
    r.code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let t = &v[0];
    assert_eq!(t["id"], 1);
    assert_eq!(t["state"], "open");
    assert_eq!(t["subject"], "Plain mail");
    assert_eq!(t["requester"], "ann@customer.example");
    assert_eq!(t["messages"], 2);
    assert_eq!(t["matches"], 2);
    assert_eq!(t["requester_bounces"], false);
    assert!(t["snippet"].as_str().unwrap().contains("plain message"));
    // list --json's fields, all of them
    let list = env.run(&["list", "--json"], b"", &[]);
    let l: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let l1 = l.as_array().unwrap().iter().find(|x| x["id"] == 1).unwrap();
    for (k, val) in l1.as_object().unwrap() {
        assert_eq!(&t[k], val, "field {k}");
    }

    let r = env.run(&["search", "--json", "--limit", "2", "is:open"], b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    let out = env.path().join("results.mbox");
    fs::write(&out, "old contents\n").unwrap();
    env.run(
        &[
            "search",
            "--mbox",
            out.to_str().unwrap(),
            "from:ann OR from:boss",
        ],
        b"",
        &[],
    )
    .code(0);
    let data = fs::read(&out).unwrap();
    let entries = mailtix::mbox::read(&data).unwrap();
    let mut mids: Vec<String> = entries
        .iter()
        .map(|e| {
            mailtix::inbound::parse(&e.message)
                .unwrap()
                .message_id
                .unwrap()
        })
        .collect();
    mids.sort();
    assert_eq!(
        mids,
        [
            "html@customer.example",
            "multi@customer.example",
            "plain@customer.example",
            "r1@admin.example"
        ]
    );
    assert!(
        data.ends_with(b"\n\n"),
        "a well-formed mbox ends with an empty line"
    );
}

/// The line of `text` with `old` replaced by `new` of the same length, as mutt does
/// when it rewrites a ticket in place.
fn rewrite_in_place(path: &std::path::Path, old: &str, new: &str) {
    assert_eq!(old.len(), new.len());
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(old));
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    use std::io::Write;
    f.write_all(text.replace(old, new).as_bytes()).unwrap();
}

#[test]
fn the_index_catches_up_with_deliveries_rewrites_and_moves() {
    let env = corpus();
    check(&env, &[(&["quokka"], &[])]);
    env.deliver(
        "ticket-3@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "Re: Logs attached",
            "q1@customer.example",
            "",
            "A quokka ate the logs.\n",
        ),
    )
    .deliver_code(0);
    check(&env, &[(&["quokka"], &[3])]);
    // mutt rewrites the file in place, same size, right after the search read it
    rewrite_in_place(&env.store.join("3"), "quokka", "wombat");
    check(&env, &[(&["quokka"], &[]), (&["wombat"], &[3])]);
    // ... and by a new file renamed over the old one, later
    std::thread::sleep(std::time::Duration::from_millis(300));
    let p = env.store.join("3");
    let text = fs::read_to_string(&p).unwrap().replace("wombat", "numbat");
    fs::write(env.store.join(".tmp-mutt"), text).unwrap();
    fs::rename(env.store.join(".tmp-mutt"), &p).unwrap();
    check(&env, &[(&["wombat"], &[]), (&["numbat"], &[3])]);
    // close and reopen move the file between the states
    env.run(&["close", "3"], b"", &[]).code(0);
    check(
        &env,
        &[
            (&["numbat"], &[]),
            (&["--closed", "numbat"], &[3]),
            (&["--all", "numbat"], &[3]),
        ],
    );
    env.run(&["reopen", "3"], b"", &[]).code(0);
    check(
        &env,
        &[
            (&["numbat"], &[3]),
            (&["--closed", "numbat"], &[]),
            (&["--all", "numbat"], &[3]),
        ],
    );
}

#[test]
fn a_lost_state_file_or_index_costs_a_rebuild_never_a_wrong_answer() {
    let env = corpus();
    check(&env, &[(&["zebracorn"], &[7])]);
    let dir = env.store.join(".mailtix/search");
    // a crash after the commit and before the state file was written
    fs::remove_file(dir.join("open.state")).unwrap();
    check(&env, &[(&["zebracorn"], &[7]), (&["plain"], &[1])]);
    // a state file with garbage lines
    fs::write(dir.join("open.state"), "garbage\n1\t2\n").unwrap();
    check(&env, &[(&["zebracorn"], &[7]), (&["grusse"], &[2])]);
    // an index whose words were cut another way (an older mailtix)
    fs::write(dir.join("version"), "mailtix-search 0\n").unwrap();
    check(&env, &[(&["zebracorn"], &[7]), (&["打印机"], &[5])]);
    assert_eq!(
        fs::read_to_string(dir.join("version")).unwrap(),
        "mailtix-search 2",
        "the index was not built again"
    );
    // an index from before a restart (another boot id) is built again too
    fs::write(dir.join("boot"), "another-boot\n").unwrap();
    check(&env, &[(&["grusse"], &[2])]);
    assert_ne!(
        fs::read_to_string(dir.join("boot")).unwrap(),
        "another-boot\n"
    );
    // a broken index
    fs::remove_dir_all(dir.join("index")).unwrap();
    fs::create_dir(dir.join("index")).unwrap();
    fs::write(dir.join("index/meta.json"), "{not json").unwrap();
    check(
        &env,
        &[(&["zebracorn"], &[7]), (&["--all", "segfault"], &[9])],
    );
    // reindex rebuilds it from nothing
    fs::remove_dir_all(&dir).unwrap();
    let r = env.run(&["reindex"], b"", &[]);
    r.code(0);
    assert!(
        r.stdout.contains("rebuilt the search index of 9 tickets"),
        "{}",
        r.stdout
    );
    assert!(dir.join("closed.state").is_file());
    check(
        &env,
        &[(&["--all", "segfault"], &[9]), (&["zebracorn"], &[7])],
    );
}

#[test]
fn concurrent_searches_and_deliveries_agree() {
    let env = corpus();
    std::thread::scope(|s| {
        let searches: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ids(&env, &["zebracorn", "OR", "plain"])))
            .collect();
        for i in 0..4 {
            env.deliver(
                "ticket-4@example.org",
                "ann@customer.example",
                &mail(
                    "ann@customer.example",
                    "Re: HTML only",
                    &format!("c{i}@customer.example"),
                    "",
                    "a platypus\n",
                ),
            )
            .deliver_code(0);
        }
        for h in searches {
            assert_eq!(h.join().unwrap(), (vec![1, 7], 0));
        }
    });
    let r = env.run(&["search", "--json", "platypus"], b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["id"], 4);
    assert_eq!(v[0]["matches"], 4);
}

#[test]
fn control_characters_from_mail_never_reach_the_terminal() {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "evil@x.example",
        &mail(
            "evil@x.example",
            "ding\x1b]0;owned\x07",
            "evil@x.example",
            "",
            "look \x1b[31mred\x1b[0m here\n",
        ),
    )
    .deliver_code(0);
    for args in [&["search", "look"][..], &["search", "--json", "look"]] {
        let r = env.run(args, b"", &[]);
        r.code(0);
        assert!(!r.stdout.contains('\x1b'), "{:?}", r.stdout);
        assert!(!r.stdout.contains('\x07'), "{:?}", r.stdout);
    }
}

/// The words of what `show` prints for one ticket: the From, Subject and text lines,
/// not the labels, dates, separators or the attachment list's types and sizes. Two
/// differences are left out on purpose: a line where `show` prints U+FFFD for raw 8-bit
/// header text (search reads it in the message's charset, so `Köln` is found, not
/// `K�ln`), and a word that `show` joins by dropping a bare CR in it (`bare\rCR`: for
/// search, as for any mail reader, the CR separates two words).
fn shown_words(show: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_attachments = false;
    for line in show.lines() {
        if line.starts_with("Ticket ")
            || line.starts_with("=== ")
            || line.starts_with("Note: ")
            || line.contains('\u{fffd}')
        {
            continue;
        }
        if line == "Attachments:" {
            in_attachments = true;
            continue;
        }
        if in_attachments {
            if let Some(item) = line.strip_prefix("  - ") {
                // "name (type, size)": the name is searchable as attachment:
                let name = item.rsplit_once(" (").map_or(item, |(n, _)| n);
                if name != "(unnamed)" && name != "(alternative)" {
                    out.extend(mailtix::search::text::terms(name));
                }
                continue;
            }
            in_attachments = false;
        }
        let text = if let Some(v) = line.strip_prefix("From:    ") {
            v
        } else if let Some(v) = line.strip_prefix("Subject: ") {
            v
        } else if line.starts_with("Date:    ") || line.starts_with("--- ") {
            continue;
        } else {
            line
        };
        out.extend(mailtix::search::text::terms(text));
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_word_show_prints_is_found_in_its_ticket() {
    let env = Env::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["", "charsets", "show", "search"] {
        for e in fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "eml") {
                files.push(p);
            }
        }
    }
    files.sort();
    for p in &files {
        env.run(
            &[
                "deliver",
                "--recipient",
                "support@example.org",
                "--sender",
                "someone@customer.example",
            ],
            &fs::read(p).unwrap(),
            &[],
        );
    }
    let ids: Vec<u32> = (1..)
        .take_while(|id| env.store.join(id.to_string()).exists())
        .collect();
    assert!(
        ids.len() >= 20,
        "only {} tickets from the fixtures",
        ids.len()
    );
    let mut checked = 0;
    let mut missing = Vec::new();
    for &id in &ids {
        let show = env.run(&["show", &id.to_string()], b"", &[]);
        show.code(0);
        let raw = String::from_utf8_lossy(&env.ticket(id)).into_owned();
        let words: Vec<String> = shown_words(&show.stdout)
            .into_iter()
            .filter(|w| !(w == "barecr" && raw.contains("bare\rCR")))
            .collect();
        // each word on its own: OR'ed together, one hit would hide a miss
        for w in &words {
            let q = format!("ticket:{id} \"{w}\"");
            let (got, _) = ids_of(&env, &q);
            if got != [id] {
                missing.push(format!("ticket {id}: {w:?}"));
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} words checked");
    assert!(missing.is_empty(), "not found: {}", missing.join(", "));
}

fn ids_of(env: &Env, q: &str) -> (Vec<u32>, i32) {
    ids(env, &[q])
}

#[test]
fn the_help_documents_every_prefix_and_operator() {
    let env = Env::new();
    let r = env.run(&["search", "--help"], b"", &[]);
    r.code(0);
    for word in [
        "from:",
        "to:",
        "cc:",
        "subject:",
        "s:",
        "body:",
        "b:",
        "attachment:",
        "n:",
        "id:",
        "ticket:",
        "is:open",
        "is:closed",
        "is:bounced",
        "is:waiting",
        "date:",
        "OR",
        "NOT",
        "-toner",
        "\"on fire\"",
        "--mbox",
        "--limit",
        "--json",
    ] {
        assert!(r.stdout.contains(word), "--help lacks {word}");
    }
}
