//! The golden corpus: `tests/fixtures/NN-name.eml` delivered through the real binary
//! must produce exactly the bytes of `NN-name.mbox` (the From_ line's date aside, which
//! is the delivery time). A mismatch writes `NN-name.mbox.failed` beside the fixture;
//! `MAILTIX_BLESS=1` writes the expected file instead (review it before committing).

use crate::support::*;
use std::fs;
use std::path::Path;

const FIXED_DATE: &str = "Sun Nov 22 07:46:08 2026";

/// Replaces the 24-character asctime date at the end of every From_ line.
fn fix_dates(data: &[u8]) -> Vec<u8> {
    let entries = mailtix::mbox::read(data).unwrap();
    let mut out = data.to_vec();
    for e in entries.iter().rev() {
        let nl = e.offset + data[e.offset..].iter().position(|&b| b == b'\n').unwrap();
        assert!(nl - e.offset > 5 + 24, "From_ line too short");
        let date = std::str::from_utf8(&data[nl - 24..nl]).unwrap();
        assert!(
            mailtix::summary::from_line_date(&format!("x {date}")).is_some(),
            "asctime date: {date:?}"
        );
        out.splice(nl - 24..nl, FIXED_DATE.bytes());
    }
    out
}

#[test]
fn golden_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = fs::read_dir(&dir)
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
        let input = fs::read(dir.join(name)).unwrap();
        env.run(
            &[
                "deliver",
                "--recipient",
                "support@example.org",
                "--sender",
                "ann@customer.example",
            ],
            &input,
            &[],
        )
        .deliver_code(0);
        let stored = env.ticket(1);
        let got = fix_dates(&stored);
        assert_eq!(
            python_count(&env.store.join("1")),
            1,
            "{name}: Python's mailbox sees one message"
        );
        let back = mailtix::mbox::read(&stored).unwrap();
        assert_eq!(back.len(), 1, "{name}");
        let expected_path = dir.join(name.replace(".eml", ".mbox"));
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read(&expected_path).unwrap_or_default();
        if got != expected {
            fs::write(dir.join(name.replace(".eml", ".mbox.failed")), &got).unwrap();
            failed.push(name.clone());
        }
    }
    assert!(names.len() >= 10, "the corpus must not be empty: {names:?}");
    assert!(
        failed.is_empty(),
        "mismatches (see *.mbox.failed): {failed:?}"
    );
}

#[test]
fn quoting_round_trips_through_the_reader() {
    // The reader takes exactly one '>' off every ^>+From line.
    let input = fixture("06-from-lines.eml");
    let env = Env::new();
    env.delivery()
        .to("support@example.org")
        .stdin(&input)
        .run()
        .deliver_code(0);
    let back = mailtix::mbox::read(&env.ticket(1)).unwrap();
    assert_eq!(back[0].message, input);
}
