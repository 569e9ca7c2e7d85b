//! `mailtix html`: the layout, incremental and deterministic writes, hostile mail coming
//! out inert (by a scan of every tag and in a real browser), the privacy defaults and
//! symlinks planted in the archive.

use crate::support::{Env, fixture, mail, need};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir` (relative path) with its mtime in ns and inode.
fn tree(dir: &Path) -> BTreeMap<String, (i128, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(
                    rel,
                    (
                        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
                        m.ino(),
                    ),
                );
            }
        }
    }
    out
}

fn bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dir)
        .into_keys()
        .map(|k| {
            let b = fs::read(dir.join(&k)).unwrap();
            (k, b)
        })
        .collect()
}

fn html(env: &Env, out: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["html", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.run(&args, b"", &[])
}

fn attachment_mail(mid: &str) -> String {
    mail(
        "Ann <ann@customer.example>",
        "Two files",
        mid,
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n",
        "--b\nContent-Type: text/plain\n\nLogs attached.\n--b\nContent-Type: text/plain; name=\"log.txt\"\nContent-Disposition: attachment; filename=\"log.txt\"\n\nline 1\n--b\nContent-Type: application/octet-stream; name=\"log.txt\"\nContent-Transfer-Encoding: base64\n\nAAECAw==\n--b--\n",
    )
}

/// Ticket 1 with two attachments and a reply, ticket 2 closed.
fn two_tickets() -> Env {
    let env = Env::new();
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &attachment_mail("a1@c"),
    )
    .deliver_code(0);
    env.deliver(
        "ticket-1@example.org",
        "ann@customer.example",
        &mail(
            "ann@customer.example",
            "Re: Two files",
            "a2@c",
            "",
            "Any news?\n",
        ),
    )
    .deliver_code(0);
    env.deliver(
        "support@example.org",
        "bob@other.example",
        &mail(
            "Bob <bob@other.example>",
            "Closed one",
            "b1@o",
            "",
            "Done.\n",
        ),
    )
    .deliver_code(0);
    env.run(&["close", "2"], b"", &[]).code(0);
    env
}

#[test]
fn the_layout_modes_and_a_rerun_that_writes_nothing() {
    let env = two_tickets();
    let out = env.path().join("www");
    // under a umask that would leave the group out
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 077; exec \"$0\" \"$@\""])
        .arg(crate::support::BIN)
        .arg("--config")
        .arg(&env.config)
        .arg("html")
        .arg(&out);
    let r = env.spawn(cmd, b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("2 tickets"), "{}", r.stdout);
    let t = tree(&out);
    for f in [
        "index.html",
        "feed.atom",
        "closed/index.html",
        "closed/0.html",
        "1/index.html",
        "1/1.mbox",
        "1/files/log.txt",
        "1/files/log-2.txt",
        "2/index.html",
        "2/2.mbox",
    ] {
        assert!(t.contains_key(f), "{f} missing: {t:?}");
    }
    assert_eq!(fs::read(out.join("1/1.mbox")).unwrap(), env.ticket(1));
    assert_eq!(
        fs::read(out.join("1/files/log-2.txt")).unwrap(),
        [0, 1, 2, 3]
    );
    let index = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains("<a href=\"1/index.html\">Two files</a>"),
        "{index}"
    );
    assert!(
        !index.contains("Closed one"),
        "a closed ticket is not on the open index"
    );
    let closed = fs::read_to_string(out.join("closed/0.html")).unwrap();
    assert!(
        closed.contains("<a href=\"../2/index.html\">Closed one</a>"),
        "{closed}"
    );
    let page = fs::read_to_string(out.join("1/index.html")).unwrap();
    assert_eq!(page.matches("<article class=\"msg\"").count(), 2);
    assert!(
        page.contains("<a href=\"files/log.txt\" download>log.txt</a> (text/plain, 6 B)"),
        "{page}"
    );
    assert!(page.contains("2026-11-22 08:15:00 UTC"), "{page}");
    let feed = fs::read_to_string(out.join("feed.atom")).unwrap();
    assert_eq!(feed.matches("<entry>").count(), 2);
    // modes, whatever the umask
    for f in t.keys() {
        let mode = fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{f}");
    }
    for d in ["", "1", "1/files", "closed"] {
        let mode = fs::metadata(out.join(d)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750, "{d}/");
    }
    // a rerun with no change writes nothing and touches no mtime
    let r = html(&env, &out, &["--all"]);
    r.code(0);
    assert!(
        r.stdout.contains("0 rendered") && r.stdout.contains("0 files written"),
        "{}",
        r.stdout
    );
    assert_eq!(tree(&out), t);
}

#[test]
fn a_new_message_rewrites_its_ticket_the_indexes_and_the_feed_only() {
    let env = two_tickets();
    env.deliver(
        "support@example.org",
        "cy@third.example",
        &mail("cy@third.example", "Third", "c1@t", "", "Hi.\n"),
    )
    .deliver_code(0);
    let out = env.path().join("www");
    html(&env, &out, &[]).code(0);
    let before = tree(&out);
    env.deliver(
        "ticket-3@example.org",
        "cy@third.example",
        &mail("cy@third.example", "Re: Third", "c2@t", "", "More.\n"),
    )
    .deliver_code(0);
    let r = html(&env, &out, &[]);
    r.code(0);
    assert!(r.stdout.contains("1 rendered"), "{}", r.stdout);
    let after = tree(&out);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        changed,
        ["3/3.mbox", "3/index.html", "feed.atom", "index.html"],
        "only these change"
    );
    // the same store gives the same bytes in a fresh directory
    let other = env.path().join("www2");
    html(&env, &other, &[]).code(0);
    assert_eq!(bytes(&out), bytes(&other));
    // closing a ticket moves it to the closed page; its page says so
    env.run(&["close", "3"], b"", &[]).code(0);
    html(&env, &out, &[]).code(0);
    let closed = fs::read_to_string(out.join("closed/0.html")).unwrap();
    assert!(closed.contains("../3/index.html"), "{closed}");
    assert!(
        fs::read_to_string(out.join("3/index.html"))
            .unwrap()
            .contains("Ticket 3 (closed)")
    );
    // a ticket gone from the store leaves the archive
    fs::remove_file(env.store.join("archived/3")).unwrap();
    html(&env, &out, &[]).code(0);
    assert!(!out.join("3").exists());
}

/// Every tag in `page` (text `<` is always escaped, so each `<` starts one): the tag
/// names and attributes a page may hold, links only to http(s), mailto, anchors and
/// files of the archive.
fn check_tags(page: &str, allow_mail_html: bool) {
    let ours = [
        "!doctype", "html", "head", "meta", "title", "style", "body", "nav", "a", "h1", "h2", "h3",
        "p", "article", "dl", "dt", "dd", "time", "pre", "div", "ul", "li", "table", "thead",
        "tbody", "tr", "th", "td", "bdi",
    ];
    let mail_tags = [
        "b",
        "i",
        "em",
        "strong",
        "br",
        "span",
        "code",
        "blockquote",
        "ol",
        "hr",
        "small",
        "sub",
        "sup",
        "u",
        "s",
        "h4",
        "h5",
        "h6",
        "abbr",
        "cite",
        "q",
        "dfn",
        "kbd",
        "samp",
        "var",
        "mark",
        "del",
        "ins",
        "figure",
        "figcaption",
        "caption",
        "col",
        "colgroup",
        "tfoot",
        "center",
        "font",
        "big",
        "strike",
        "tt",
        "wbr",
        "address",
        "summary",
        "details",
    ];
    let attrs = [
        "charset",
        "http-equiv",
        "content",
        "name",
        "href",
        "rel",
        "download",
        "id",
        "class",
        "dir",
        "datetime",
        "title",
        "lang",
        "colspan",
        "rowspan",
        "align",
        "valign",
        "cite",
        "start",
        "type",
        "reversed",
        "width",
        "height",
        "abbr",
        "scope",
        "span",
        "alt",
        "translate",
        "hidden",
        "headers",
        "open",
        "summary",
        "char",
        "charoff",
        "face",
        "size",
        "color",
    ];
    let mut rest = page;
    let mut n = 0;
    while let Some(p) = rest.find('<') {
        let end = rest[p..].find('>').expect("a tag ends") + p;
        let tag = &rest[p + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('/') {
            continue;
        }
        n += 1;
        let name = tag
            .split([' ', '\n', '/'])
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            ours.contains(&name.as_str())
                || (allow_mail_html && mail_tags.contains(&name.as_str())),
            "tag {name:?} in {tag:?}"
        );
        if name == "meta" {
            assert!(
                !tag.contains("refresh") && !tag.to_ascii_lowercase().contains("set-cookie"),
                "{tag}"
            );
        }
        // attributes: name="value" pairs
        let mut a = &tag[name.len()..];
        while let Some(eq) = a.find('=') {
            let aname = a[..eq].trim().to_ascii_lowercase();
            assert!(
                attrs.contains(&aname.as_str()),
                "attribute {aname:?} in {tag:?}"
            );
            let v = &a[eq + 1..];
            assert!(v.starts_with('"'), "unquoted value in {tag:?}");
            let close = v[1..].find('"').unwrap() + 1;
            let value = &v[1..close];
            if aname == "href" {
                let ok = value.starts_with("https://")
                    || value.starts_with("http://")
                    || (allow_mail_html && value.starts_with("mailto:"))
                    || value.starts_with('#')
                    || value.starts_with("files/")
                    || value.starts_with("../")
                    || value.ends_with(".mbox")
                    || value.ends_with(".html")
                    || value == "feed.atom";
                assert!(ok, "href {value:?}");
                assert!(
                    !value.contains(':')
                        || value.starts_with("http")
                        || value.starts_with("mailto:")
                );
                if value.starts_with("http") {
                    assert!(
                        tag.contains("rel=\"noopener noreferrer nofollow\""),
                        "{tag}"
                    );
                }
            }
            a = &v[close + 1..];
        }
    }
    assert!(n > 10, "too few tags: {n}");
}

fn hostile_env(extra: &str) -> (Env, PathBuf) {
    let env = Env::with_config(extra);
    let m = String::from_utf8(fixture("html/hostile.eml")).unwrap();
    env.deliver("support@example.org", "evil@bad.example", &m)
        .deliver_code(0);
    let out = env.path().join("www");
    html(&env, &out, &[]).code(0);
    (env, out)
}

#[test]
fn hostile_mail_comes_out_inert_as_text_and_sanitised() {
    for (extra, sanitised) in [("", false), ("[html]\nhtml_parts = \"sanitised\"", true)] {
        let (_env, out) = hostile_env(extra);
        let page = fs::read_to_string(out.join("1/index.html")).unwrap();
        check_tags(&page, sanitised);
        for p in ["index.html", "closed/index.html"] {
            check_tags(&fs::read_to_string(out.join(p)).unwrap(), false);
        }
        // as text the fixture's markup shows escaped; sanitised, its active parts are gone
        let lower = page.to_ascii_lowercase();
        for bad in [
            "<script", "<img", "<svg", "<form", "<base", "<iframe", "<object", "<input", "<button",
        ] {
            assert!(!lower.contains(bad), "{bad} in the page");
        }
        if sanitised {
            assert!(page.contains("<div class=\"html\" dir=\"auto\">"), "{page}");
            assert!(page.contains("<a href=\"https://ok.example/\" rel=\"noopener noreferrer nofollow\">a fine link</a>"), "{page}");
            let html_part = &page[page.find("<div class=\"html\"").unwrap()..];
            let html_part = &html_part[..html_part.find("</div>\n").unwrap()];
            for gone in ["evil.example", "javascript", "data:", "pwned", "expression"] {
                assert!(!html_part.contains(gone), "{gone} in {html_part}");
            }
        } else {
            assert!(page.contains("Hello from the HTML part."), "{page}");
            assert!(!page.contains("<div class=\"html\""));
        }
        // the attachments: safe names, never a page of the site
        let files: Vec<String> = fs::read_dir(out.join("1/files"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut files = files;
        files.sort();
        assert_eq!(files, ["evil.svg.bin", "index.html.bin"]);
    }
}

#[test]
fn public_masks_addresses_and_leaves_out_the_raw_mail() {
    let env = two_tickets();
    let out = env.path().join("www");
    html(&env, &out, &[]).code(0);
    assert!(out.join("1/1.mbox").exists());
    let r = html(&env, &out, &["--public"]);
    r.code(0);
    for (name, b) in bytes(&out) {
        let text = String::from_utf8_lossy(&b);
        for dom in ["customer.example", "other.example"] {
            assert!(!text.contains(dom), "{dom} in {name}");
        }
        assert!(
            !name.ends_with(".mbox") && !name.contains("files/"),
            "{name} in a public archive"
        );
    }
    let page = fs::read_to_string(out.join("1/index.html")).unwrap();
    assert!(page.contains("Ann &lt;ann@…&gt;"), "{page}");
    assert!(
        page.contains("<li class=\"att\"><bdi>log.txt</bdi> (text/plain, 6 B)</li>"),
        "{page}"
    );
    check_tags(&page, false);
}

#[test]
fn planted_symlinks_never_lead_outside_the_archive() {
    let env = two_tickets();
    let out = env.path().join("www");
    let outside = env.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "keep me").unwrap();
    fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("1")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), out.join("index.html")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), out.join("feed.atom")).unwrap();
    let r = html(&env, &out, &[]);
    r.code(1);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert_eq!(
        fs::read_to_string(outside.join("victim")).unwrap(),
        "keep me"
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written outside"
    );
    for f in ["index.html", "feed.atom"] {
        assert!(fs::symlink_metadata(out.join(f)).unwrap().is_file(), "{f}");
    }
    assert!(
        out.join("2/index.html").exists(),
        "the other tickets are written"
    );
    // the refused ticket stays out of the state, so it is tried again next time
    fs::remove_file(out.join("1")).unwrap();
    let r = html(&env, &out, &[]);
    r.code(0);
    assert!(r.stdout.contains("1 rendered"), "{}", r.stdout);
    // an OUTDIR inside the store is refused
    let inside = env.store.join("www");
    let r = html(&env, &inside, &[]);
    r.code(1);
    assert!(r.stderr.contains("inside the store"), "{}", r.stderr);
    assert!(!inside.exists(), "nothing made in the store");
}

/// Chromium's DOM after loading `page` from disk, with time for scripts and refreshes.
fn chromium(args: &[&str], page: &Path, home: &Path) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            home.join("profile").display()
        ))
        .arg("--virtual-time-budget=3000")
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", home)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn in_chromium_no_script_runs_and_the_pages_show_what_they_hold() {
    need("chromium");
    need("fc-list");
    let env = Env::with_config("[html]\nhtml_parts = \"sanitised\"");
    let m = String::from_utf8(fixture("html/hostile.eml")).unwrap();
    env.deliver("support@example.org", "evil@bad.example", &m)
        .deliver_code(0);
    let intl = String::from_utf8(fixture("html/intl.eml")).unwrap();
    env.deliver("support@example.org", "zhang@example.cn", &intl)
        .deliver_code(0);
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &attachment_mail("a1@c"),
    )
    .deliver_code(0);
    for k in 2..=3 {
        env.deliver(
            "ticket-3@example.org",
            "ann@customer.example",
            &mail(
                "ann@customer.example",
                "Re: Two files",
                &format!("a{k}@c"),
                "",
                "More.\n",
            ),
        )
        .deliver_code(0);
    }
    let out = env.path().join("www");
    html(&env, &out, &[]).code(0);
    let home = env.path().join("chromium-home");
    fs::create_dir(&home).unwrap();
    // the hostile page, and its attachments opened directly: the title stays, nothing
    // is added to the DOM
    let dom = chromium(&["--dump-dom"], &out.join("1/index.html"), &home);
    assert!(dom.contains("<title>#1: \"&gt;&lt;script&gt;"), "{dom}");
    assert!(
        !dom.contains("pwned</title>") && !dom.contains("id=\"pwned\""),
        "{dom}"
    );
    assert!(dom.contains("Hello from the HTML part."));
    assert_eq!(dom.matches("<article class=\"msg\"").count(), 1);
    assert_eq!(dom.matches("<li class=\"att\"").count(), 2);
    // and the page's policy alone stops a script that got into it
    let page = fs::read_to_string(out.join("1/index.html")).unwrap();
    let planted = env.path().join("planted.html");
    fs::write(
        &planted,
        page.replacen("<body>", "<body><script>document.title='pwned'</script>", 1),
    )
    .unwrap();
    let dom = chromium(&["--dump-dom"], &planted, &home);
    assert!(
        dom.contains("<script>document.title='pwned'</script>") && !dom.contains("pwned</title>"),
        "{dom}"
    );
    // the ticket with a thread: three messages, two attachments
    let dom = chromium(&["--dump-dom"], &out.join("3/index.html"), &home);
    assert_eq!(dom.matches("<article class=\"msg\"").count(), 3, "{dom}");
    assert_eq!(dom.matches("<li class=\"att\"").count(), 2, "{dom}");
    let dom = chromium(&["--dump-dom"], &out.join("index.html"), &home);
    assert_eq!(dom.matches("<tr><td class=\"n\">").count(), 3, "{dom}");
    // CJK and right-to-left text reach the DOM whole, in containers that pick their
    // direction, and there are fonts for them
    let dom = chromium(&["--dump-dom"], &out.join("2/index.html"), &home);
    for s in [
        "你好，三楼的打印机又坏了。",
        "プリンターが壊れました。",
        "프린터가 고장났습니다.",
        "الطابعة في الطابق الثالث لا تعمل.",
        "המדפסת בקומה השלישית לא עובדת.",
        "打印机坏了 — המדפסת",
    ] {
        assert!(dom.contains(s), "{s} missing: {dom}");
    }
    assert!(dom.contains("<pre dir=\"auto\">"));
    for lang in ["zh", "ja", "ko", "ar", "he"] {
        let f = Command::new("fc-list")
            .arg(format!(":lang={lang}"))
            .output()
            .unwrap();
        assert!(
            !f.stdout.is_empty(),
            "no font for {lang}: tests/run.sh installs fonts-noto-cjk"
        );
    }
    // screenshots: a rendered page is far from a blank one
    let blank = env.path().join("blank.html");
    fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let shot = |page: &Path, name: &str| {
        let png = env.path().join(name);
        chromium(
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1000,800",
            ],
            page,
            &home,
        );
        fs::metadata(&png).unwrap().len()
    };
    let empty = shot(&blank, "blank.png");
    for (page, name) in [
        ("index.html", "index.png"),
        ("2/index.html", "intl.png"),
        ("3/index.html", "ticket.png"),
    ] {
        let size = shot(&out.join(page), name);
        assert!(
            size > 4 * empty && size > 10_000,
            "{page}: {size} bytes against {empty} for a blank page"
        );
    }
    if let Ok(dir) = std::env::var("MAILTIX_SCREENSHOTS") {
        for n in ["index.png", "intl.png", "ticket.png"] {
            fs::copy(env.path().join(n), Path::new(&dir).join(n)).unwrap();
        }
    }
}

#[test]
fn the_hook_update_of_one_ticket_matches_a_full_build() {
    let env = two_tickets();
    let out = env.path().join("www");
    // without a state, --ticket reads the whole store
    let r = html(&env, &out, &["--ticket", "1"]);
    r.code(0);
    assert!(r.stdout.contains("2 rendered"), "{}", r.stdout);
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let steps: [Step<'_>; 4] = [
        (
            "1",
            Box::new(|| {
                env.deliver(
                    "ticket-1@example.org",
                    "ann@customer.example",
                    &mail(
                        "ann@customer.example",
                        "Re: Two files",
                        "a3@c",
                        "",
                        "Again.\n",
                    ),
                )
                .deliver_code(0);
            }),
        ),
        (
            "3",
            Box::new(|| {
                env.deliver(
                    "support@example.org",
                    "cy@third.example",
                    &mail("cy@third.example", "Third", "c1@t", "", "Hi.\n"),
                )
                .deliver_code(0);
            }),
        ),
        (
            "1",
            Box::new(|| {
                env.run(&["close", "1"], b"", &[]).code(0);
            }),
        ),
        (
            "2",
            Box::new(|| {
                env.run(&["reopen", "2"], b"", &[]).code(0);
            }),
        ),
    ];
    for (n, (id, step)) in steps.iter().enumerate() {
        let before = tree(&out);
        step();
        let r = html(&env, &out, &["--ticket", id]);
        r.code(0);
        assert!(r.stdout.contains("1 rendered"), "{}", r.stdout);
        let after = tree(&out);
        let changed: Vec<&String> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            changed.iter().all(|c| c.starts_with(&format!("{id}/"))
                || [
                    "index.html",
                    "feed.atom",
                    "closed/index.html",
                    "closed/0.html"
                ]
                .contains(&c.as_str())),
            "{changed:?}"
        );
        // the same bytes as a build from nothing, and a full run after it finds nothing
        let fresh = env.path().join(format!("fresh{n}"));
        html(&env, &fresh, &[]).code(0);
        assert_eq!(bytes(&out), bytes(&fresh), "step {n}");
        let r = html(&env, &out, &[]);
        assert!(
            r.stdout.contains("0 rendered") && r.stdout.contains("0 files written"),
            "{}",
            r.stdout
        );
    }
    // a ticket that is gone: --ticket falls back to reading the store
    fs::remove_file(env.store.join("3")).unwrap();
    html(&env, &out, &["--ticket", "3"]).code(0);
    assert!(!out.join("3").exists());
}

/// Every .eml under tests/fixtures (recursively).
fn all_fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_fixtures(&p, out);
        } else if p.extension().is_some_and(|x| x == "eml") {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_of_the_repository_makes_a_page_with_only_safe_tags() {
    let mut mails = Vec::new();
    all_fixtures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut mails,
    );
    mails.sort();
    assert!(mails.len() > 600, "{} fixtures", mails.len());
    for (extra, flags, sanitised) in [
        ("", &[][..], false),
        ("[html]\nhtml_parts = \"sanitised\"", &[][..], true),
        (
            "[html]\nhtml_parts = \"sanitised\"",
            &["--public"][..],
            false,
        ),
    ] {
        // a store with tickets and no .mailtix/ yet, as one made by hand
        let env = Env::with_config(extra);
        let when = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        for (i, m) in mails.iter().enumerate() {
            let raw = mailtix::mbox::normalise(fs::read(m).unwrap());
            let from = mailtix::mbox::from_line(Some("x@y.example"), when);
            fs::write(
                env.store.join((i + 1).to_string()),
                mailtix::mbox::encode(&from, b"", &raw),
            )
            .unwrap();
        }
        let out = env.path().join("www");
        let r = html(&env, &out, flags);
        r.code(0);
        assert!(
            r.stdout.contains(&format!("{} rendered", mails.len())),
            "{}",
            r.stdout
        );
        for i in 1..=mails.len() {
            let page = fs::read_to_string(out.join(format!("{i}/index.html"))).unwrap();
            check_tags(&page, sanitised);
            if let Ok(rd) = fs::read_dir(out.join(format!("{i}/files"))) {
                for f in rd.flatten() {
                    let name = f.file_name().to_string_lossy().into_owned();
                    assert!(!name.starts_with('.') && !name.contains(".."), "{name}");
                    assert!(
                        !name.ends_with(".html") && !name.ends_with(".svg"),
                        "{name}"
                    );
                }
            }
        }
        check_tags(&fs::read_to_string(out.join("index.html")).unwrap(), false);
        // the feed is well-formed XML, whatever the subjects hold
        need("python3");
        let parsed = Command::new("python3")
            .args([
                "-c",
                "import sys, xml.dom.minidom as m; print(len(m.parse(sys.argv[1]).getElementsByTagName('entry')))",
            ])
            .arg(out.join("feed.atom"))
            .output()
            .unwrap();
        assert!(
            parsed.status.success(),
            "{}",
            String::from_utf8_lossy(&parsed.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "50");
    }
}

#[test]
fn a_hook_on_every_event_keeps_the_archive_live_under_concurrent_deliveries() {
    let env = Env::new();
    let out = env.path().join("www");
    let mut config = fs::read_to_string(&env.config).unwrap();
    for ev in ["new", "followup", "close", "reopen", "bounce"] {
        config.push_str(&format!(
            "\n[[hooks]]\nevent = \"{ev}\"\ncommand = '{} --config {} html {} --ticket \"$MAILTIX_TICKET\"'\ntimeout = 60\n",
            crate::support::BIN,
            env.config.display(),
            out.display()
        ));
    }
    fs::write(&env.config, config).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let env = &env;
            s.spawn(move || {
                env.deliver(
                    "support@example.org",
                    &format!("u{t}@customer.example"),
                    &mail(
                        &format!("u{t}@customer.example"),
                        &format!("Thread {t}"),
                        &format!("t{t}@c"),
                        "",
                        "Hello.\n",
                    ),
                )
                .deliver_code(0);
            });
        }
    });
    std::thread::scope(|s| {
        for id in 1..=4 {
            let env = &env;
            s.spawn(move || {
                env.deliver(
                    &format!("ticket-{id}@example.org"),
                    "ann@customer.example",
                    &mail(
                        "ann@customer.example",
                        "Re: more",
                        &format!("f{id}@c"),
                        "",
                        "More.\n",
                    ),
                )
                .deliver_code(0);
            });
        }
    });
    env.run(&["close", "2"], b"", &[]).code(0);
    let log = env.log();
    assert_eq!(
        log.matches("MAILTIX_TICKET\\\"\" ok").count(),
        9,
        "every hook ran: {log}"
    );
    let page = fs::read_to_string(out.join("3/index.html")).unwrap();
    assert_eq!(page.matches("<article class=\"msg\"").count(), 2, "{page}");
    let fresh = env.path().join("fresh");
    html(&env, &fresh, &[]).code(0);
    assert_eq!(bytes(&out), bytes(&fresh));
    let r = html(&env, &out, &[]);
    assert!(
        r.stdout.contains("0 rendered") && r.stdout.contains("0 files written"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_setgid_outdir_gives_every_file_its_group() {
    // as the README sets it up: `install -d -m 2750 -g www-data OUTDIR`
    let env = two_tickets();
    let out = env.path().join("www");
    fs::create_dir(&out).unwrap();
    let gid = 65534; // nogroup; the tests run as root (tests/run.sh)
    std::os::unix::fs::chown(&out, None, Some(gid)).expect("chgrp OUTDIR (needs root)");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o2750)).unwrap();
    html(&env, &out, &[]).code(0);
    let mut n = 0;
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let m = fs::symlink_metadata(e.path()).unwrap();
            assert_eq!(m.gid(), gid, "{}", e.path().display());
            if m.is_dir() {
                assert_eq!(m.mode() & 0o7777, 0o2750, "{}", e.path().display());
                stack.push(e.path());
            } else {
                assert_eq!(m.mode() & 0o7777, 0o640, "{}", e.path().display());
            }
            n += 1;
        }
    }
    assert!(n >= 10, "{n} entries");
    assert_eq!(fs::metadata(&out).unwrap().mode() & 0o7777, 0o2750);
}

/// One HTTP/1.0 GET with Basic credentials: (status line, headers, body).
fn get(port: u16, path: &str, auth: Option<&str>) -> (String, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: Basic {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (
        status.to_string(),
        headers.to_ascii_lowercase(),
        resp[split + 4..].to_vec(),
    )
}

#[test]
fn the_readme_nginx_snippet_serves_the_archive_behind_authentication() {
    need("/usr/sbin/nginx");
    let env = two_tickets();
    let root = env.path().join("srv/www");
    fs::create_dir_all(&root).unwrap();
    // the web server's user walks down to the archive; the archive is its group's only
    for d in [env.path(), env.path().join("srv").as_path(), root.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o711)).unwrap();
    }
    let out = root.join("tickets");
    let st = Command::new("install")
        .args(["-d", "-m", "2750", "-g", "www-data"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "install -d -g www-data (tests run as root)");
    html(&env, &out, &[]).code(0);
    // the README's location block, with this test's paths
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```nginx\n").expect("an nginx snippet") + 9;
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let conf_dir = env.path().join("nginx");
    fs::create_dir(&conf_dir).unwrap();
    fs::write(conf_dir.join("htpasswd"), "boss:{PLAIN}secret\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let block = block.replace("/srv/www", root.to_str().unwrap()).replace(
        "/etc/nginx/tickets.htpasswd",
        conf_dir.join("htpasswd").to_str().unwrap(),
    );
    let c = conf_dir.display();
    fs::write(
        conf_dir.join("nginx.conf"),
        format!(
            "user www-data;\nworker_processes 1;\ndaemon off;\npid {c}/nginx.pid;\nerror_log {c}/error.log;\n\
             events {{ worker_connections 16; }}\nhttp {{\n include /etc/nginx/mime.types;\n access_log off;\n\
             client_body_temp_path {c}/tmp;\n proxy_temp_path {c}/tmp;\n fastcgi_temp_path {c}/tmp;\n\
             uwsgi_temp_path {c}/tmp;\n scgi_temp_path {c}/tmp;\n\
             server {{\n  listen 127.0.0.1:{port};\n{block}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let mut nginx = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(&conf_dir)
        .arg("-c")
        .arg(conf_dir.join("nginx.conf"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let result = std::panic::catch_unwind(|| {
        assert!(
            up,
            "nginx did not start: {}",
            fs::read_to_string(conf_dir.join("error.log")).unwrap_or_default()
        );
        let (status, _, _) = get(port, "/tickets/index.html", None);
        assert!(status.contains(" 401 "), "{status}");
        let auth = "Ym9zczpzZWNyZXQ="; // boss:secret
        for (path, kind) in [
            ("/tickets/index.html", "text/html"),
            ("/tickets/1/index.html", "text/html"),
            ("/tickets/closed/0.html", "text/html"),
            ("/tickets/feed.atom", "application/atom+xml"),
            ("/tickets/1/1.mbox", ""),
        ] {
            let (status, headers, body) = get(port, path, Some(auth));
            assert!(status.contains(" 200 "), "{path}: {status}");
            assert!(
                headers.contains(&format!("content-type: {kind}")),
                "{path}: {headers}"
            );
            assert!(
                headers.contains("x-content-type-options: nosniff"),
                "{path}: {headers}"
            );
            assert_eq!(
                body,
                fs::read(out.join(&path["/tickets/".len()..])).unwrap(),
                "{path}"
            );
        }
        let (status, headers, body) = get(port, "/tickets/1/files/log.txt", Some(auth));
        assert!(status.contains(" 200 "), "{status}");
        assert!(
            headers.contains("content-disposition: attachment"),
            "{headers}"
        );
        assert!(
            headers.contains("content-security-policy: sandbox; default-src 'none'"),
            "{headers}"
        );
        assert_eq!(body, b"line 1");
    });
    // SIGTERM: the master stops its workers (SIGKILL would leave them behind)
    let _ = Command::new("kill").arg(nginx.id().to_string()).status();
    let _ = nginx.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
