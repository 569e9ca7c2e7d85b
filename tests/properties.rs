//! Case 18: a property test over the whole pure pipeline (parse, route, mboxrd
//! encode, re-read), on generated messages with From lines, CRLF, 8-bit bytes, NUL,
//! folded and faked state headers. Case count: MAILTIX_PROPTEST_CASES (default 2000;
//! CI runs more). Failing inputs are kept by proptest in proptest-regressions/.

use mailtix::address::Target;
use mailtix::config::Config;
use mailtix::mbox;
use mailtix::route::{self, Lookup, State};
use proptest::prelude::*;
use std::path::Path;

struct NoStore;
impl Lookup for NoStore {
    fn state(&self, id: u32) -> Option<State> {
        (id < 5).then_some(State::Open)
    }
    fn ticket_of(&self, _: &str) -> Option<u32> {
        None
    }
}

fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    let special = prop_oneof![
        Just(b"From ".to_vec()),
        Just(b">From ".to_vec()),
        Just(b">>>From ".to_vec()),
        Just(b"From x@y Sat Jan  3 01:05:34 1996".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(vec![0xff, 0xfe, 0xc3]),
        Just(b"Status: RO".to_vec()),
        Just(b"".to_vec()),
    ];
    (
        special,
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..40,
        ),
    )
        .prop_map(|(a, b)| [a, b].concat())
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Subject".to_string()),
        Just("From".to_string()),
        Just("Message-ID".to_string()),
        Just("References".to_string()),
        Just("Received".to_string()),
        Just("X-Custom".to_string()),
        "[A-Za-z][A-Za-z0-9-]{0,12}".prop_filter("not a state or mailtix header", |n| {
            let n = n.to_ascii_lowercase();
            !mbox::STATE_HEADERS.contains(&n.as_str()) && !n.starts_with("x-mailtix-")
        }),
    ]
}

prop_compose! {
    fn message()(
        headers in proptest::collection::vec((header_name(), line_bytes(), proptest::option::of(line_bytes())), 1..8),
        body in proptest::collection::vec(line_bytes(), 0..20),
        crlf in any::<bool>(),
        mta_from in any::<bool>(),
        final_newline in any::<bool>(),
        state in proptest::option::of(prop_oneof![Just("Status"), Just("X-Status"), Just("content-length"), Just("X-UID")]),
    ) -> (Vec<u8>, bool) {
        let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut m = Vec::new();
        if mta_from {
            m.extend_from_slice(b"From MAILER-DAEMON Sat Jan  3 01:05:34 1996");
            m.extend_from_slice(nl);
        }
        for (i, (name, value, cont)) in headers.iter().enumerate() {
            m.extend_from_slice(name.as_bytes());
            m.extend_from_slice(b": ");
            m.extend(value.iter().filter(|&&b| b != b'\r'));
            m.extend_from_slice(nl);
            if let Some(c) = cont {
                m.extend_from_slice(b"\t");
                m.extend(c.iter().filter(|&&b| b != b'\r'));
                m.extend_from_slice(nl);
            }
            if i == 0
                && let Some(s) = state {
                    m.extend_from_slice(format!("{s}: faked").as_bytes());
                    m.extend_from_slice(nl);
                    m.extend_from_slice(b" continued");
                    m.extend_from_slice(nl);
                }
        }
        m.extend_from_slice(nl);
        for (i, l) in body.iter().enumerate() {
            m.extend_from_slice(l);
            if i + 1 < body.len() || final_newline {
                m.extend_from_slice(nl);
            }
        }
        (m, state.is_some())
    }
}

fn cases() -> u32 {
    std::env::var("MAILTIX_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_pure_pipeline_round_trips((raw, has_state) in message()) {
        let cfg = Config::parse("domain = \"example.org\"", Path::new("/"), None).unwrap();
        let normalised = mbox::normalise(raw.clone());
        // parse and route never panic
        if let Ok(m) = mailtix::inbound::parse(&normalised) {
            let _ = route::route(&cfg.addresses, &Target::Support, &m, &NoStore);
            let _ = route::route(&cfg.addresses, &Target::Ticket(3), &m, &NoStore);
        }
        let stored = mbox::encode(b"From a@b Sun Nov 22 07:46:08 2026\n", b"", &normalised);
        let back = mbox::read(&stored).unwrap();
        prop_assert_eq!(back.len(), 1, "one message in, one out");
        let mut expected = normalised.clone();
        if !expected.is_empty() && !expected.ends_with(b"\n") {
            expected.push(b'\n');
        }
        if has_state {
            // state headers never survive; everything else is kept in order
            let head_end = back[0].message.windows(2).position(|w| w == b"\n\n").unwrap_or(back[0].message.len());
            for line in back[0].message[..head_end].split(|&b| b == b'\n') {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                prop_assert!(!mbox::STATE_HEADERS.iter().any(|h| h.as_bytes().eq_ignore_ascii_case(name)));
            }
        } else {
            prop_assert_eq!(&back[0].message, &expected);
        }
        // re-encoding what was read gives the same file
        let again = mbox::encode(b"From a@b Sun Nov 22 07:46:08 2026\n", b"", &back[0].message);
        prop_assert_eq!(again, stored);
    }
}

fn mime_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=b".to_vec()),
        Just(b"Content-Type: multipart/alternative; boundary=\"c\"".to_vec()),
        Just(b"Content-Type: multipart/digest; boundary=b".to_vec()),
        Just(b"Content-Type: message/rfc822".to_vec()),
        Just(b"Content-Type: text/html; charset=shift_jis".to_vec()),
        Just(b"Content-Type: text".to_vec()),
        Just(b"Content-Transfer-Encoding: base64".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable".to_vec()),
        Just(
            b"Content-Disposition: attachment; filename*0*=utf-8''%1B%C2%9B; filename*1=\"x"
                .to_vec()
        ),
        Just(b"Date: Sun, 22 Nov 2026 09:15:00 Z".to_vec()),
        Just(b"Subject: =?utf-8?q?=1B]0;x=07=E2=80=AE?=".to_vec()),
        Just(b"--b".to_vec()),
        Just(b"--b--".to_vec()),
        Just(b"--c".to_vec()),
        Just(b"".to_vec()),
        Just(b"<p title='a>b' x=\"<\">t&#x202e;&#155;<!--".to_vec()),
        Just(b"\x1b[2J\xc2\x9b\xe2\x80\xae\x07=1B=C2=9B".to_vec()),
        line_bytes(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

    /// `show` never panics on any MIME structure, and what reaches the terminal has no
    /// control or reordering character, however the output is split into writes.
    #[test]
    fn show_never_panics_and_the_terminal_sees_no_control(
        lines in proptest::collection::vec(mime_line(), 0..60),
        cut in 1usize..64,
    ) {
        let mut msg = b"From: a@b.c\nMIME-Version: 1.0\n".to_vec();
        for l in &lines {
            msg.extend_from_slice(l);
            msg.push(b'\n');
        }
        let stored = mbox::encode(b"From a@b Sun Nov 22 07:46:08 2026\n", b"", &mbox::normalise(msg));
        let text = mailtix::thread::render(1, "open", &stored).unwrap();
        let mut screen = Vec::new();
        {
            use std::io::Write;
            let mut t = mailtix::term::Terminal::new(&mut screen, mailtix::term::Mode::Text);
            for chunk in text.as_bytes().chunks(cut).chain(stored.chunks(cut)) {
                t.write_all(chunk).unwrap();
            }
            t.flush().unwrap();
        }
        let screen = String::from_utf8(screen).expect("the filter writes UTF-8");
        prop_assert!(!screen.chars().any(mailtix::term::is_unsafe), "{:?}", screen);
    }
}
