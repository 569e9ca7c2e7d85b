//! How search cuts decoded text into words and folds them. Pure; the index and the
//! query go through the same two functions, so what is indexed is what a query asks for.
//!
//! - A word is a run of letters and digits (with their combining marks). It is folded:
//!   compatibility-decomposed (NFKD: ligatures and full-width forms become plain
//!   letters), accents dropped, then lower-cased, with `ß` as `ss` and final sigma as
//!   sigma (Unicode case folding's differences from lower-casing that matter in mail).
//! - Chinese and Japanese have no spaces between words: a run of Han, Hiragana or
//!   Katakana characters is indexed as overlapping character bigrams (`東京都` is
//!   `東京 京都`), each at its own position, so that any word of two or more characters
//!   is found as a phrase of bigrams; each character is indexed alone too, so that a
//!   word of one character is found. Their marks are kept (NFKC): `が` is not `か`.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longer words are not indexed: no one searches for them and a term has a size limit.
const MAX_WORD_BYTES: usize = 80;

/// One word of a text: its folded form and where it is in the original (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub from: usize,
    pub to: usize,
    pub position: usize,
}

/// Han, Hiragana, Katakana (and their half-width and compatibility forms).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF | 0xFF66..=0xFF9F | 0x20000..=0x2FA1F)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Cjk,
    Other,
}

fn class(c: char) -> Class {
    if is_cjk(c) {
        Class::Cjk
    } else if c.is_alphanumeric() || is_combining_mark(c) {
        Class::Word
    } else {
        Class::Other
    }
}

/// A word folded: NFKD, accents dropped, lower case (see the module doc).
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.nfkd().filter(|&c| !is_combining_mark(c)) {
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn fold_cjk(s: &str) -> String {
    s.nfkc().collect()
}

/// The words of `text` as they are indexed, folded, in order, with their positions.
/// A CJK run of n characters takes n positions: its bigrams, and each character alone
/// (so that a one-character word is found too).
pub fn words(text: &str) -> Vec<Word> {
    cut(text, true)
}

/// The words of a query's text: as [`words`], without the single CJK characters of a
/// longer run (a phrase of its bigrams finds it), at the same positions.
pub fn query_words(text: &str) -> Vec<Word> {
    cut(text, false)
}

fn cut(text: &str, unigrams: bool) -> Vec<Word> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut run_start: Option<(usize, Class)> = None;
    let mut emit = |out: &mut Vec<Word>, from: usize, to: usize, cl: Class| match cl {
        Class::Word => {
            let text = fold(&text[from..to]);
            if !text.is_empty() && text.len() <= MAX_WORD_BYTES {
                out.push(Word {
                    text,
                    from,
                    to,
                    position,
                });
                position += 1;
            }
        }
        Class::Cjk => {
            let chars: Vec<(usize, char)> = text[from..to].char_indices().collect();
            let end_of = |i: usize| chars.get(i + 1).map_or(to, |c| from + c.0);
            if chars.len() == 1 {
                out.push(Word {
                    text: fold_cjk(&text[from..to]),
                    from,
                    to,
                    position,
                });
                position += 1;
            } else {
                for (i, c) in chars.iter().enumerate() {
                    let a = from + c.0;
                    if unigrams {
                        out.push(Word {
                            text: fold_cjk(&text[a..end_of(i)]),
                            from: a,
                            to: end_of(i),
                            position: position + i,
                        });
                    }
                    if i + 1 < chars.len() {
                        let b = end_of(i + 1);
                        out.push(Word {
                            text: fold_cjk(&text[a..b]),
                            from: a,
                            to: b,
                            position: position + i,
                        });
                    }
                }
                position += chars.len();
            }
        }
        Class::Other => {}
    };
    for (i, c) in text.char_indices() {
        let cl = class(c);
        match run_start {
            Some((_, k)) if k == cl => {}
            // a combining mark after a CJK character stays with it
            Some((_, Class::Cjk)) if is_combining_mark(c) => {}
            Some((s, k)) => {
                emit(&mut out, s, i, k);
                run_start = Some((i, cl));
            }
            None => run_start = Some((i, cl)),
        }
    }
    if let Some((s, k)) = run_start {
        emit(&mut out, s, text.len(), k);
    }
    out
}

/// The folded words of `text` only (what a query term becomes).
pub fn terms(text: &str) -> Vec<String> {
    query_words(text).into_iter().map(|w| w.text).collect()
}

/// A short piece of `text` around the first word that is one of `wanted` (folded
/// forms), that word marked `[like this]`; the start of the text when none is.
pub fn snippet(text: &str, wanted: &[String]) -> String {
    const BEFORE: usize = 40;
    const AFTER: usize = 60;
    let flat: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let hit = words(&flat).into_iter().find(|w| wanted.contains(&w.text));
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    match hit {
        None => {
            let all = squeeze(&flat);
            if all.chars().count() <= BEFORE + AFTER {
                return all;
            }
            let s: String = all.chars().take(BEFORE + AFTER).collect();
            match s.rsplit_once(' ') {
                Some((s, _)) if !s.is_empty() => format!("{s} ..."),
                _ => format!("{s}..."),
            }
        }
        Some(w) => {
            let before: Vec<char> = flat[..w.from].chars().collect();
            let start = before.len().saturating_sub(BEFORE);
            let mut head: String = before[start..].iter().collect();
            if start > 0 {
                // start at a word
                head = head
                    .split_once(' ')
                    .map_or(String::new(), |(_, h)| h.to_string());
            }
            let mut tail: String = flat[w.to..].chars().take(AFTER).collect();
            if flat[w.to..].chars().count() > AFTER {
                tail = match tail.rsplit_once(' ') {
                    Some((t, _)) if !t.is_empty() => format!("{t} ..."),
                    _ => format!("{tail}..."),
                };
            }
            let gap = |s: &str, at_end: bool| {
                let ws = if at_end {
                    s.ends_with(' ')
                } else {
                    s.starts_with(' ')
                };
                if ws { " " } else { "" }
            };
            let head_s = squeeze(&head);
            format!(
                "{}{}{}[{}]{}{}",
                if start > 0 { "... " } else { "" },
                head_s,
                if head_s.is_empty() {
                    ""
                } else {
                    gap(&head, true)
                },
                &flat[w.from..w.to],
                gap(&tail, false),
                squeeze(&tail)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_accents_and_compatibility_forms() {
        assert_eq!(
            terms("Ärger mit der Straße, CAFÉ ﬁle Ｗｉｆｉ İstanbul ΣΟΦΟΣ"),
            [
                "arger",
                "mit",
                "der",
                "strasse",
                "cafe",
                "file",
                "wifi",
                "istanbul",
                "σοφοσ"
            ]
        );
        assert_eq!(terms("e\u{301}te\u{301}"), ["ete"]);
        assert_eq!(
            terms("don't stop-me now_42"),
            ["don", "t", "stop", "me", "now", "42"]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_with_positions() {
        let pairs = |w: Vec<Word>| -> Vec<(String, usize)> {
            w.into_iter().map(|w| (w.text, w.position)).collect()
        };
        let want = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
            v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
        };
        assert_eq!(
            pairs(query_words("打印机坏了 ok 東")),
            want(&[
                ("打印", 0),
                ("印机", 1),
                ("机坏", 2),
                ("坏了", 3),
                ("ok", 5),
                ("東", 6)
            ])
        );
        // indexed, each character stands alone too, at its own position
        assert_eq!(
            pairs(words("打印机 ok")),
            want(&[
                ("打", 0),
                ("打印", 0),
                ("印", 1),
                ("印机", 1),
                ("机", 2),
                ("ok", 3)
            ])
        );
        // marks stay, half-width katakana becomes full-width
        assert_eq!(terms("が"), ["が"]);
        assert_eq!(terms("ｶﾀｶﾅ"), ["カタ", "タカ", "カナ"]);
        assert_eq!(terms("会議"), ["会議"]);
    }

    #[test]
    fn snippets_mark_the_first_hit() {
        let s = snippet("Hello,\n\nthe  printer is on FIRE again", &["fire".into()]);
        assert_eq!(s, "Hello, the printer is on [FIRE] again");
        let long = format!("{} needle {}", "a ".repeat(50), "b ".repeat(50));
        let s = snippet(&long, &["needle".into()]);
        assert!(s.starts_with("...") && s.contains("[needle]"), "{s}");
        assert!(s.chars().count() < 120, "{s}");
        assert_eq!(snippet("no hit here", &["x".into()]), "no hit here");
        assert_eq!(snippet("打印机坏了", &["机坏".into()]), "打印[机坏]了");
    }
}
