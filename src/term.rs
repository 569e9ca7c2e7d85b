//! What reaches the maintainer's terminal. Every admin command writes its output
//! through [`Terminal`], so no string from a mail (a subject, an address, a filename, a
//! MIME type, a bounce note) can reach the terminal as a control sequence, however it
//! got into the output. Pure: a writer over a writer.
//!
//! - Text (`list`, `show`, `check` ...): C0 controls other than newline and tab, DEL,
//!   C1 controls (U+0080–U+009F: U+009B is a CSI on many terminals) and the format
//!   characters that reorder or hide text are dropped. Bytes that are not UTF-8 become
//!   U+FFFD, since a lone byte 0x9B is a CSI to a terminal in an 8-bit locale.
//! - JSON (`list --json`): serde_json escapes C0 but writes C1 and bidi characters as
//!   they are, so those are written as `\uXXXX` escapes: the same JSON value, and
//!   nothing a terminal acts on.
//! - Raw (`show --raw`): the stored bytes, by design.

use std::io::{self, Write};

/// How output is made safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Text,
    Json,
    Raw,
}

/// True for a character that must not reach a terminal as it is (newline and tab are
/// fine in text). The format characters are the bidi controls (embeddings, overrides,
/// isolates, marks: text shown in another order than stored), the deprecated
/// shaping controls U+206A–F, the interlinear annotation controls, and the tag
/// characters (invisible text). Zero-width joiners stay: scripts and emoji need them.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{206f}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// `s` without the characters a terminal must not see (newline and tab kept).
pub fn clean(s: &str) -> String {
    s.chars().filter(|&c| !is_unsafe(c)).collect()
}

/// A writer that makes everything written through it safe for a terminal.
pub struct Terminal<'a> {
    inner: &'a mut dyn Write,
    mode: Mode,
    /// The start of a UTF-8 sequence that a write split.
    pending: Vec<u8>,
}

impl<'a> Terminal<'a> {
    pub fn new(inner: &'a mut dyn Write, mode: Mode) -> Self {
        Terminal {
            inner,
            mode,
            pending: Vec::new(),
        }
    }

    fn emit(&self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            if !is_unsafe(c) {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            } else if self.mode == Mode::Json {
                // serde_json has already escaped C0 inside strings, and writes no
                // control character outside them, so this is always inside a string.
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
                }
            }
        }
    }

    /// Turns `pending` into safe bytes, keeping an incomplete sequence at its end
    /// unless `last`.
    fn drain(&mut self, last: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pending.len());
        let data = std::mem::take(&mut self.pending);
        let mut rest = &data[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.emit(s, &mut out);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    self.emit(std::str::from_utf8(good).unwrap_or_default(), &mut out);
                    match e.error_len() {
                        Some(n) => {
                            self.emit("\u{fffd}", &mut out);
                            rest = &bad[n..];
                        }
                        None if last => {
                            self.emit("\u{fffd}", &mut out);
                            break;
                        }
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

impl Write for Terminal<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.mode == Mode::Raw {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        let out = self.drain(false);
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let out = self.drain(true);
            self.inner.write_all(&out)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(mode: Mode, chunks: &[&[u8]]) -> Vec<u8> {
        let mut sink = Vec::new();
        {
            let mut t = Terminal::new(&mut sink, mode);
            for c in chunks {
                t.write_all(c).unwrap();
            }
            t.flush().unwrap();
        }
        sink
    }

    #[test]
    fn text_loses_every_control_and_reordering_character() {
        let hostile = "a\u{1b}[31mred\u{7}\u{1b}]0;title\u{7}\u{9b}2J\r\u{8}\u{7f}b\u{202e}cba\u{202c}\u{2066}x\u{2069}\u{200f}\u{61c}\u{e0041}\u{fff9}c\td\n";
        assert_eq!(
            through(Mode::Text, &[hostile.as_bytes()]),
            "a[31mred]0;title2Jbcbaxc\td\n".as_bytes()
        );
        // scripts and emoji keep their joiners
        let keep = "می‌خواهم 👩\u{200d}💻 ü 中文\n";
        assert_eq!(through(Mode::Text, &[keep.as_bytes()]), keep.as_bytes());
    }

    #[test]
    fn text_survives_split_writes_and_bad_bytes() {
        let s = "中\u{9b}x".as_bytes();
        let mut chunks: Vec<&[u8]> = s.chunks(1).collect();
        chunks.push(b"\x9b[2J\xe4");
        assert_eq!(
            through(Mode::Text, &chunks),
            "中x\u{fffd}[2J\u{fffd}".as_bytes()
        );
    }

    #[test]
    fn json_escapes_what_serde_json_leaves_raw() {
        let v = serde_json::json!({"s": "a\u{1b}b\u{9b}c\u{202e}d\u{e0041}\t\n"});
        let mut raw = Vec::new();
        serde_json::to_writer(&mut raw, &v).unwrap();
        // serde_json writes C1, bidi and tag characters as they are
        assert!(String::from_utf8_lossy(&raw).contains('\u{9b}'));
        let safe = through(Mode::Json, &[&raw]);
        let text = String::from_utf8(safe).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn raw_is_untouched() {
        let b: &[u8] = b"\x1b[31m\x9b\xff\r\n";
        assert_eq!(through(Mode::Raw, &[b]), b);
    }
}
