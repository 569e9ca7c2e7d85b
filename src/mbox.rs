//! The mboxrd codec: pure functions over bytes.
//!
//! Why mboxrd: it is the only mbox variant whose quoting is lossless. Every line that
//! matches `^>*From ` gets one more `>`, so a reader that removes one `>` from every
//! line matching `^>+From ` gets the message back byte for byte. mboxo (what Exim's
//! appendfile writes) cannot tell a quoted `>From ` from an original one, and the
//! Content-Length variants break as soon as someone edits a file by hand.

use chrono::{DateTime, Utc};
use std::io::{self, Write};

/// Mailbox-state headers that incoming mail must not set: mutt, Dovecot and others
/// read flags from them, so `X-Status: D` would show a message as deleted.
pub const STATE_HEADERS: [&str; 9] = [
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imap",
    "x-imapbase",
    "content-length",
    "lines",
    "x-label",
];

/// The `From SENDER DATE` separator line, with its newline. The sender is one word:
/// white space and control characters become `-`, and an empty sender is `MAILER-DAEMON`.
pub fn from_line(sender: Option<&str>, when: DateTime<Utc>) -> Vec<u8> {
    let sender = sender.map(str::trim).filter(|s| !s.is_empty());
    let word: String = match sender {
        Some(s) => s
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '-'
                } else {
                    c
                }
            })
            .collect(),
        None => "MAILER-DAEMON".into(),
    };
    format!("From {word} {}\n", when.format("%a %b %e %H:%M:%S %Y")).into_bytes()
}

/// FNV-1a, 64 bit: a stable hash (std's hasher may change between releases), for
/// index shards and for the key of mail without a Message-ID.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Splits `raw` into lines, each with its `\n` (the last may lack one).
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split_inclusive(|&b| b == b'\n')
}

/// Removes a leading `From ` line that an MTA prepended. A line that is a header field
/// is not one: `From  : John Doe <...>` (blanks before the colon, RFC 2822 A.6.3) is
/// the message's own From field.
pub fn strip_from_line(raw: &[u8]) -> &[u8] {
    let nl = raw.iter().position(|&b| b == b'\n');
    let first = &raw[..nl.unwrap_or(raw.len())];
    if !raw.starts_with(b"From ") || is_field_start(first) {
        return raw;
    }
    match nl {
        Some(nl) => &raw[nl + 1..],
        None => &[],
    }
}

/// True when the line is a header field start: a name of printable characters other
/// than `:`, then optional blanks, then `:`.
pub fn is_field_start(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && b != b':')
        .count();
    if name_len == 0 {
        return false;
    }
    let rest = &line[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    rest.get(blanks) == Some(&b':')
}

fn field_name(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .position(|&b| b == b':' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    &line[..end]
}

fn is_state_header(line: &[u8]) -> bool {
    let name = field_name(line);
    STATE_HEADERS
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
}

/// The prefix of mailtix's own trace headers. Incoming mail may not carry it: such a
/// field is renamed `X-Original-Mailtix-…`, so that only mailtix writes `X-Mailtix-*`
/// into a stored message (the trace block, `headers::Trace`).
const OWN_PREFIX: &[u8] = b"x-mailtix-";

fn is_own_header(line: &[u8]) -> bool {
    let name = field_name(line);
    name.len() >= OWN_PREFIX.len() && name[..OWN_PREFIX.len()].eq_ignore_ascii_case(OWN_PREFIX)
}

fn needs_quote(line: &[u8]) -> bool {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    line[gts..].starts_with(b"From ")
}

/// One message ready to be written as an mboxrd entry, without copying it: the
/// From_ line, trace headers, then the message with state headers removed, its own
/// `X-Mailtix-*` fields renamed `X-Original-Mailtix-*`, `^>*From ` lines quoted, a
/// final newline and one empty line. A 30 MB message is
/// written straight from the bytes read on stdin.
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a> {
    pub from_line: &'a [u8],
    /// Complete header lines (`X-Mailtix-*`), possibly empty.
    pub trace: &'a [u8],
    /// The message, normalised by [`normalise`].
    pub message: &'a [u8],
}

/// Something the store can write into a ticket: its length is known up front (for
/// the crash-repair record), and it writes itself.
pub trait EntryBytes {
    fn len(&self) -> u64;
    fn write_to(&self, w: &mut dyn Write) -> io::Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EntryBytes for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(self)
    }
}

impl EntryBytes for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(self)
    }
}

/// Counts what is written to it.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Encoded<'_> {
    fn emit(&self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(self.from_line)?;
        w.write_all(self.trace)?;
        let mut in_header = true;
        let mut dropping = false;
        let mut last_nl = true;
        for line in lines(self.message) {
            if in_header {
                if line == b"\n" {
                    in_header = false;
                } else if line.starts_with(b" ") || line.starts_with(b"\t") {
                    if dropping {
                        continue;
                    }
                } else {
                    dropping = is_state_header(line);
                    if dropping {
                        continue;
                    }
                    if is_own_header(line) {
                        // "X-Mailtix-Event: …" becomes "X-Original-Mailtix-Event: …".
                        w.write_all(b"X-Original-")?;
                        w.write_all(&line[2..])?;
                        last_nl = line.ends_with(b"\n");
                        continue;
                    }
                }
            }
            if needs_quote(line) {
                w.write_all(b">")?;
            }
            w.write_all(line)?;
            last_nl = line.ends_with(b"\n");
        }
        if !last_nl {
            w.write_all(b"\n")?;
        }
        w.write_all(b"\n")
    }
}

impl EntryBytes for Encoded<'_> {
    fn len(&self) -> u64 {
        let mut c = Counter(0);
        match self.emit(&mut c) {
            Ok(()) => c.0,
            Err(_) => unreachable!("counting cannot fail"),
        }
    }
    fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        self.emit(w)
    }
}

/// [`Encoded`] as bytes, for small entries (notes) and tests.
pub fn encode(from_line: &[u8], trace: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(from_line.len() + trace.len() + message.len() + 64);
    let e = Encoded {
        from_line,
        trace,
        message,
    };
    match e.emit(&mut out) {
        Ok(()) => out,
        Err(_) => unreachable!("writing to a Vec cannot fail"),
    }
}

/// mutt reads mbox files with `fgets` into an 8192-byte buffer, so a line longer than
/// 8191 bytes reaches it in pieces, and a piece that starts with `From ` and a date
/// is taken for a new message. This finds such a line (as stored, quoting included),
/// so that deliver can refuse it rather than let it split the mailbox.
pub fn long_line_hazard(message: &[u8]) -> Option<usize> {
    const CHUNK: usize = 8191;
    for (n, line) in lines(message).enumerate() {
        let shift = usize::from(needs_quote(line));
        if line.len() + shift <= CHUNK {
            continue;
        }
        let mut pos = CHUNK;
        while pos < line.len() + shift {
            if line[pos - shift..].starts_with(b"From ") {
                return Some(n + 1);
            }
            pos += CHUNK;
        }
    }
    None
}

/// CRLF→LF and a leading From_ line removed, in place: the bytes every later step
/// sees. Owning the input lets a large message be normalised without a second copy.
pub fn normalise(mut raw: Vec<u8>) -> Vec<u8> {
    if raw.windows(2).any(|w| w == b"\r\n") {
        let mut out = 0;
        let mut i = 0;
        while i < raw.len() {
            if !(raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
                raw[out] = raw[i];
                out += 1;
            }
            i += 1;
        }
        raw.truncate(out);
    }
    let skip = raw.len() - strip_from_line(&raw).len();
    raw.drain(..skip);
    raw
}

/// One message read back from an mbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The From_ line without `From ` and without its newline.
    pub from_line: String,
    /// Byte offset of the From_ line in the file.
    pub offset: usize,
    /// The message with one `>` removed from every `^>+From ` line.
    pub message: Vec<u8>,
}

/// Reads an mbox file. A message starts at a `From ` line at the start of the file or
/// after an empty line; the empty line before the next separator belongs to no message.
/// Returns an error when the file is not empty and does not start with a From_ line.
pub fn read(data: &[u8]) -> Result<Vec<Entry>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if !data.starts_with(b"From ") {
        return Err("does not start with a From_ line".into());
    }
    let mut starts = vec![0usize];
    let mut pos = 0;
    let mut prev_empty = false;
    for line in lines(data) {
        if pos > 0 && prev_empty && line.starts_with(b"From ") {
            starts.push(pos);
        }
        prev_empty = line == b"\n";
        pos += line.len();
    }
    let mut entries = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(data.len());
        let chunk = &data[start..end];
        let nl = chunk
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(chunk.len());
        let from_line = String::from_utf8_lossy(&chunk[5..nl]).into_owned();
        let mut body = &chunk[(nl + 1).min(chunk.len())..];
        if body.ends_with(b"\n\n") || (i + 1 < starts.len() && body.ends_with(b"\n")) {
            body = &body[..body.len() - 1];
        }
        let mut message = Vec::with_capacity(body.len());
        for line in lines(body) {
            if line.starts_with(b">") && needs_quote(line) {
                message.extend_from_slice(&line[1..]);
            } else {
                message.extend_from_slice(line);
            }
        }
        entries.push(Entry {
            from_line,
            offset: start,
            message,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn when() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 7, 46, 8).unwrap()
    }

    #[test]
    fn from_line_is_asctime_in_utc() {
        assert_eq!(
            from_line(Some("a@b.c"), when()),
            b"From a@b.c Sun Nov 22 07:46:08 2026\n"
        );
        let early = Utc.with_ymd_and_hms(1996, 1, 3, 1, 5, 34).unwrap();
        assert_eq!(
            from_line(None, early),
            b"From MAILER-DAEMON Wed Jan  3 01:05:34 1996\n"
        );
        assert_eq!(
            from_line(Some(""), when()),
            b"From MAILER-DAEMON Sun Nov 22 07:46:08 2026\n"
        );
        assert_eq!(
            from_line(Some("a b\tc"), when()),
            b"From a-b-c Sun Nov 22 07:46:08 2026\n"
        );
    }

    #[test]
    fn quoting_adds_one_gt_to_every_from_line() {
        let msg = b"Subject: x\n\nFrom me\n>From you\n>>From them\nFromage\n> From no\n";
        let out = encode(b"From a Sun Nov 22 07:46:08 2026\n", b"", msg);
        assert_eq!(
            out,
            b"From a Sun Nov 22 07:46:08 2026\nSubject: x\n\n>From me\n>>From you\n>>>From them\nFromage\n> From no\n\n"
        );
        let back = read(&out).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].message, msg);
    }

    #[test]
    fn state_headers_are_removed_with_their_continuations() {
        let msg = b"Status: RO\nX-Status: D\n  folded\nSubject: keep\nx-uid: 4\nLines: 3\nContent-Length: 9\nX-Label: l\nX-Keywords: k\nX-IMAP: 1\nX-IMAPbase: 2\n\nStatus: body stays\n";
        let out = encode(b"From a x\n", b"", msg);
        assert_eq!(out, b"From a x\nSubject: keep\n\nStatus: body stays\n\n");
    }

    #[test]
    fn incoming_mailtix_headers_are_renamed_but_the_trace_block_is_not() {
        let msg = b"X-Mailtix-Event: closed\nx-mailtix-key : <k>\n folded\nSubject: X-Mailtix-Event: no\n\nX-Mailtix-Event: body stays\n";
        let out = encode(b"From a x\n", b"X-Mailtix-Key: <mine>\n", msg);
        assert_eq!(
            out,
            b"From a x\nX-Mailtix-Key: <mine>\nX-Original-Mailtix-Event: closed\nX-Original-mailtix-key : <k>\n folded\nSubject: X-Mailtix-Event: no\n\nX-Mailtix-Event: body stays\n\n"
        );
        assert_eq!(
            encode(b"F\n", b"", b"A: b\nX-Mailtix-Loop: x"),
            b"F\nA: b\nX-Original-Mailtix-Loop: x\n\n"
        );
        // renaming is idempotent, so re-encoding a stored message changes nothing more
        let back = read(&encode(b"From a x\n", b"", msg)).unwrap();
        assert_eq!(
            encode(b"From a x\n", b"", &back[0].message),
            encode(b"From a x\n", b"", msg)
        );
    }

    #[test]
    fn final_newline_and_blank_line_are_ensured() {
        assert_eq!(
            encode(b"F\n", b"", b"A: b\n\nno newline"),
            b"F\nA: b\n\nno newline\n\n"
        );
        assert_eq!(
            encode(b"F\n", b"", b"A: b\n\nx\n\n\n"),
            b"F\nA: b\n\nx\n\n\n\n"
        );
    }

    #[test]
    fn normalise_turns_crlf_into_lf_and_drops_an_mta_from_line() {
        assert_eq!(
            normalise(
                b"From MAILER-DAEMON Sat Jan  3 01:05:34 1996\r\nA: b\r\n\r\nx\ry\r\n".to_vec()
            ),
            b"A: b\n\nx\ry\n"
        );
        assert_eq!(normalise(b"A: b\n\nx\n".to_vec()), b"A: b\n\nx\n");
        // obsolete syntax: blanks before the colon make it a field, not a From_ line
        let obs = b"From  : John Doe <jdoe@example>\nTo: x\n\nb\n";
        assert_eq!(normalise(obs.to_vec()), obs);
        assert_eq!(
            normalise(b"From \t: a@b\n\nb\n".to_vec()),
            b"From \t: a@b\n\nb\n"
        );
        assert_eq!(
            normalise(b"From a@b  Sat Jan  3 01:05:34 1996\nA: b\n".to_vec()),
            b"A: b\n"
        );
    }

    #[test]
    fn encoded_length_matches_what_is_written() {
        let msg = b"Status: RO\nA: b\n\nFrom x\nno newline";
        let e = Encoded {
            from_line: b"From a x\n",
            trace: b"X-Mailtix-Key: <k>\n",
            message: msg,
        };
        let bytes = encode(e.from_line, e.trace, e.message);
        assert_eq!(EntryBytes::len(&e), bytes.len() as u64);
    }

    #[test]
    fn long_lines_that_mutt_would_split_are_found() {
        let mut evil = b"A: b\n\n".to_vec();
        evil.extend(std::iter::repeat_n(b'x', 8191));
        evil.extend(b"From evil@x Sat Jan  3 01:05:34 1996\n");
        assert_eq!(long_line_hazard(&evil), Some(3));
        // the same bytes on their own line are quoted, so harmless
        let mut ok = b"A: b\n\n".to_vec();
        ok.extend(std::iter::repeat_n(b'x', 8191));
        ok.extend(b"\nFrom evil@x Sat Jan  3 01:05:34 1996\n");
        assert_eq!(long_line_hazard(&ok), None);
        // a quoted line shifts mutt's chunks by one byte
        let mut quoted = b"A: b\n\nFrom ".to_vec();
        quoted.extend(std::iter::repeat_n(b'x', 8190 - 5));
        quoted.extend(b"From evil@x Sat Jan  3 01:05:34 1996\n");
        assert_eq!(long_line_hazard(&quoted), Some(3));
        let long_but_fine = [b"A: b\n\n".to_vec(), vec![b'y'; 50_000]].concat();
        assert_eq!(long_line_hazard(&long_but_fine), None);
    }

    #[test]
    fn field_starts() {
        for (line, want) in [
            (&b"Subject: x"[..], true),
            (b"Subject : x", true),
            (b"X-A.b_c: x", true),
            (b" folded", false),
            (b"no colon", false),
            (b": empty name", false),
            (b"\n", false),
            (b"From x", false),
        ] {
            assert_eq!(
                is_field_start(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn reader_splits_only_after_an_empty_line() {
        let mut data = encode(b"From a x\n", b"", b"A: 1\n\none\n");
        data.extend(encode(b"From b y\n", b"", b"A: 2\n\ntwo\n\n"));
        let e = read(&data).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].message, b"A: 1\n\none\n");
        assert_eq!(e[1].message, b"A: 2\n\ntwo\n\n");
        assert_eq!(e[1].from_line, "b y");
        assert!(read(b"garbage\n").is_err());
    }
}
