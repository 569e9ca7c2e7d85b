//! `mailtix search`: tickets whose messages match a query, over the decoded text that
//! `show` renders (thread.rs), from an index that can always be rebuilt.
//!
//! ## The index
//! `STORE/.mailtix/search/` holds a tantivy index (`index/`), one document per message,
//! and a state file per ticket state (`open.state`, `closed.state`): for each ticket
//! indexed, the size, modification time and inode of the file it was read from, and its
//! `list` summary. Deliveries never touch any of it. A search first *catches up*: it
//! stats the ticket files of the states it searches (open only, by default), and
//! re-indexes each ticket whose stamp differs from its state line (its documents are
//! deleted by a per-state ticket key and added again), drops the documents of tickets
//! that are gone, commits, and only then rewrites the state file. So:
//!
//! - a crash before the commit leaves the old index and the old state; a crash after it
//!   leaves a state older than the index, and those tickets are indexed again;
//! - a file is stat-ed before it is read, so a write in between leaves a stamp that no
//!   longer matches, and the ticket is read again next time;
//! - a rewrite that keeps the size, within the file system's timestamp granularity of
//!   the read (mutt rewriting a ticket in place), is caught as git catches a "racy"
//!   index entry: a ticket whose modification time is close to the state file's own is
//!   not trusted and is read again;
//! - one search at a time catches up and answers, under an exclusive lock on
//!   `search/lock`; others wait for it (a wait, never a wrong answer).
//!
//! Why tantivy and not a scan of a decoded-text cache: a scan reads every message's
//! text per query, hundreds of megabytes for 500,000 messages, far over the 100 ms a
//! warm query may take. BENCHMARKS.md has the figures and the cost in build time and
//! binary size.
//!
//! This module reads the ticket files and writes its own directory itself: the index
//! is derived data, never the store's truth, and can be deleted at any time.

mod dir;
pub mod query;
pub mod text;

use crate::admin::Admin;
use crate::cli::SearchArgs;
use crate::mbox;
use crate::route::State;
use crate::summary::{self, Summary};
use crate::thread::{self, Part};
use anyhow::{Context as _, Result, anyhow};
use mail_parser::MimeHeaders;
use query::{Field as QField, Is, Node};
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::Bound;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::indexer::{LogMergePolicy, NoMergePolicy};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{DocId, Index, IndexWriter, SegmentReader, TantivyDocument, Term};

/// How a search ends when it found nothing (exit 1, as grep) or was asked wrongly (2).
#[derive(Debug)]
pub enum Exit {
    NoMatch,
    Usage(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::NoMatch => write!(f, "no ticket matches"),
            Exit::Usage(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for Exit {}

/// A ticket whose modification time is this close to the state file's is read again
/// (timestamps are taken from a coarse clock: a few milliseconds).
const RACY_NS: u128 = 100_000_000;
/// How words are cut and what documents hold (text.rs, `schema`): an index written
/// with another version is built again. Change it with either.
const INDEX_VERSION: &str = "mailtix-search 2";
/// Segments a catch-up may pile up before it lets tantivy merge them.
const MAX_SEGMENTS: usize = 12;
/// The writer's memory for a catch-up (tantivy's minimum) and for a full build.
const SMALL_HEAP: usize = 15_000_000;
const BUILD_HEAP: usize = 300_000_000;

/// The fields of a message document.
#[derive(Clone, Copy)]
struct Fields {
    /// `o123` or `c123`: the documents one state file answers for.
    key: Field,
    ticket: Field,
    /// The message's place in its ticket file (0-based).
    seq: Field,
    /// `open` or `closed`, and `waiting`.
    flags: Field,
    date: Field,
    id: Field,
    from: Field,
    to: Field,
    cc: Field,
    subject: Field,
    body: Field,
    attachment: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        key: b.add_text_field("key", STRING),
        ticket: b.add_u64_field("ticket", INDEXED | FAST),
        seq: b.add_u64_field("seq", FAST),
        flags: b.add_text_field("flags", STRING),
        date: b.add_i64_field("date", INDEXED | FAST),
        id: b.add_text_field("id", STRING),
        from: b.add_text_field("from", words.clone()),
        to: b.add_text_field("to", words.clone()),
        cc: b.add_text_field("cc", words.clone()),
        subject: b.add_text_field("subject", words.clone()),
        body: b.add_text_field("body", words.clone()),
        attachment: b.add_text_field("attachment", words),
    };
    (b.build(), f)
}

/// A ticket file's identity: size, modification time (ns) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: u128,
    ino: u64,
}

fn stamp_of(m: &fs::Metadata) -> Stamp {
    let mtime = u128::try_from(m.mtime()).unwrap_or(0) * 1_000_000_000
        + u128::try_from(m.mtime_nsec()).unwrap_or(0);
    Stamp {
        size: m.len(),
        mtime,
        ino: m.ino(),
    }
}

/// One line of a state file: `ino \t <summary cache line>`; the summary cache line
/// (summary.rs) starts `id \t state \t size \t mtime`.
struct StateLine<'a> {
    stamp: Stamp,
    /// The summary part, parsed only for tickets that are printed.
    summary: &'a str,
}

fn parse_state_line(line: &str) -> Option<(u32, StateLine<'_>)> {
    let (ino, summary) = line.split_once('\t')?;
    let ino = ino.parse().ok()?;
    let mut f = summary.splitn(5, '\t');
    let id = f.next()?.parse().ok()?;
    f.next()?;
    let size = f.next()?.parse().ok()?;
    let mtime = f.next()?.parse().ok()?;
    Some((
        id,
        StateLine {
            stamp: Stamp { size, mtime, ino },
            summary,
        },
    ))
}

fn state_line(s: &Summary<'_>, stamp: Stamp) -> String {
    format!(
        "{}\t{}",
        stamp.ino,
        summary::cache_line(s, stamp.size, stamp.mtime)
    )
}

/// The search directory of a store, and what it knows.
struct SearchDir {
    dir: PathBuf,
    store_root: PathBuf,
}

impl SearchDir {
    fn new(store_root: &Path) -> SearchDir {
        SearchDir {
            dir: store_root.join(".mailtix").join("search"),
            store_root: store_root.to_path_buf(),
        }
    }

    fn state_path(&self, st: State) -> PathBuf {
        self.dir.join(format!("{}.state", st.as_str()))
    }

    /// The exclusive lock every search and rebuild holds.
    fn lock(&self) -> Result<fs::File> {
        mkdirs(&self.dir)?;
        let path = self.dir.join("lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o660)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        fs2::FileExt::lock_exclusive(&f).with_context(|| format!("locking {}", path.display()))?;
        Ok(f)
    }

    /// The index, created when missing; one with another schema, or one that cannot be
    /// opened, is thrown away (with the state files) and started anew.
    fn open_index(&self, fresh: bool) -> Result<(Index, Fields)> {
        let (schema, fields) = schema();
        let idx = self.dir.join("index");
        // An index from before the last restart may be torn (dir.rs): built again.
        let same_words =
            fs::read_to_string(self.dir.join("version")).is_ok_and(|v| v.trim() == INDEX_VERSION);
        let existing = if fresh || !same_words || !dir::BootCheck::same_boot(&self.dir) {
            None
        } else {
            dir::Unsynced::open(&idx)
                .ok()
                .and_then(|d| Index::open(d).ok())
                .filter(|i| i.schema() == schema)
        };
        if let Some(i) = existing {
            return Ok((i, fields));
        }
        for st in [State::Open, State::Closed] {
            let _ = fs::remove_file(self.state_path(st));
        }
        let _ = fs::remove_dir_all(&idx);
        mkdirs(&idx)?;
        dir::BootCheck::record(&self.dir)
            .with_context(|| format!("writing {}/boot", self.dir.display()))?;
        let d = dir::Unsynced::open(&idx).with_context(|| format!("opening {}", idx.display()))?;
        let i = Index::create(d, schema, Default::default())
            .map_err(|e| anyhow!("creating the search index: {e}"))?;
        write_replace(&self.dir.join("version"), INDEX_VERSION.as_bytes())?;
        Ok((i, fields))
    }
}

/// What one state file says, and when it was written.
struct Known {
    text: String,
    written: u128,
}

impl Known {
    fn read(path: &Path) -> Known {
        let text = fs::read_to_string(path).unwrap_or_default();
        let written = fs::metadata(path).map(|m| stamp_of(&m).mtime).unwrap_or(0);
        Known { text, written }
    }

    fn lines(&self) -> IdMap<StateLine<'_>> {
        let mut m = IdMap::with_capacity_and_hasher(
            self.text.len() / 120,
            std::hash::BuildHasherDefault::<IdHasher>::default(),
        );
        m.extend(self.text.lines().filter_map(parse_state_line));
        m
    }
}

/// Ticket ids are small distinct numbers: a multiplicative hash is enough, and much
/// cheaper than SipHash for the 100,000 lines of a state file.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A directory of the index, group-writable as the store is (the setgid bit of
/// `.mailtix/` is inherited).
fn mkdirs(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o770)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn key(st: State, id: u32) -> String {
    format!("{}{id}", if st == State::Open { 'o' } else { 'c' })
}

fn pre(text: &str) -> PreTokenizedString {
    let tokens = text::words(text)
        .into_iter()
        .map(|w| Token {
            offset_from: w.from,
            offset_to: w.to,
            position: w.position,
            text: w.text,
            position_length: 1,
        })
        .collect();
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}

fn add_words(doc: &mut TantivyDocument, field: Field, text: &str) {
    let p = pre(text);
    if !p.tokens.is_empty() {
        doc.add_pre_tokenized_text(field, p);
    }
}

/// The searchable text of a message: its text parts, its text attachments and the
/// messages attached to it (with their From and Subject); and its attachment names.
fn collect_text(parts: &[Part], body: &mut String, names: &mut String) {
    for p in parts {
        match p {
            Part::Text(t) => {
                body.push_str(t);
                body.push('\n');
            }
            Part::Message(m) => {
                body.push_str(&m.from);
                body.push('\n');
                body.push_str(&m.subject);
                body.push('\n');
                collect_text(&m.parts, body, names);
            }
            Part::Attachment(a) => {
                if let Some(n) = &a.name {
                    names.push_str(n);
                    names.push('\n');
                }
                if let Some(t) = &a.text {
                    body.push_str(t);
                    body.push('\n');
                }
            }
        }
    }
}

/// What search reads from a header section besides thread.rs's decoding.
#[derive(Default)]
struct Facts {
    to: String,
    cc: String,
    id: Option<String>,
    date: Option<i64>,
    /// From and Subject, when the header section has raw 8-bit text that is not UTF-8
    /// (which thread.rs shows as U+FFFD): read in the message's charset, or as
    /// windows-1252 as mail readers do.
    from_subject: Option<(String, String)>,
}

/// Bytes that are not UTF-8, in `charset` (windows-1252 when none is known).
fn eight_bit(bytes: &[u8], charset: Option<&str>) -> String {
    let cs = charset
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !matches!(c.as_str(), "us-ascii" | "ascii" | "utf-8" | "utf8" | ""))
        .unwrap_or_else(|| "windows-1252".into());
    let cs = crate::inbound::charset_alias(&cs)
        .unwrap_or(&cs)
        .to_string();
    match mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()) {
        Some(d) => d(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn header_facts(message: &[u8]) -> Facts {
    let head = crate::inbound::header_section(message);
    let mut block = crate::inbound::known_charsets(head).into_owned();
    block.push(b'\n');
    let Some(m) = crate::inbound::parser().parse_headers(&block[..]) else {
        return Facts::default();
    };
    let list = |a: Option<&mail_parser::Address<'_>>| {
        let mut s = String::new();
        for addr in a.iter().flat_map(|a| a.iter()) {
            if let Some(n) = addr.name() {
                s.push_str(n);
                s.push(' ');
            }
            if let Some(ad) = addr.address() {
                s.push_str(ad);
            }
            s.push('\n');
        }
        s
    };
    let mut facts = Facts {
        to: list(m.to()),
        cc: list(m.cc()),
        id: m.message_id().map(|s| s.to_lowercase()),
        date: crate::inbound::date(&m).map(|d| d.to_timestamp()),
        from_subject: None,
    };
    if std::str::from_utf8(head).is_err() {
        let charset = m
            .content_type()
            .and_then(|c| c.attribute("charset"))
            .map(str::to_string);
        let text = eight_bit(&block, charset.as_deref());
        if let Some(m) = crate::inbound::parser().parse_headers(text.as_bytes()) {
            let from = list(m.from());
            facts.to = list(m.to());
            facts.cc = list(m.cc());
            facts.from_subject = Some((from, crate::inbound::subject(&m).to_string()));
        }
    }
    facts
}

/// The documents of one ticket file, its summary, and whether it waits for an answer.
fn ticket_docs(
    f: &Fields,
    cfg: &crate::config::Config,
    id: u32,
    st: State,
    data: &[u8],
) -> Result<(Vec<TantivyDocument>, Summary<'static>), String> {
    let entries = mbox::read(data)?;
    let s = summary::summarize(id, st, data)?;
    let waiting = crate::ops::waiting_since(cfg, data).is_some();
    let k = key(st, id);
    let mut docs = Vec::with_capacity(entries.len());
    for (seq, e) in entries.iter().enumerate() {
        let m = thread::entry_message(e);
        let Facts {
            to,
            cc,
            id: mid,
            date,
            from_subject,
        } = header_facts(&e.message);
        let (from, subject) = from_subject.unwrap_or((m.from.clone(), m.subject.clone()));
        let mut body = String::new();
        let mut names = String::new();
        collect_text(&m.parts, &mut body, &mut names);
        let mut doc = TantivyDocument::new();
        doc.add_text(f.key, &k);
        doc.add_u64(f.ticket, u64::from(id));
        doc.add_u64(f.seq, seq as u64);
        doc.add_text(f.flags, st.as_str());
        doc.add_text(f.flags, format!("queue:{}", s.queue));
        if waiting {
            doc.add_text(f.flags, "waiting");
        }
        let date = date.or_else(|| summary::from_line_date(&e.from_line).map(|d| d.timestamp()));
        if let Some(d) = date {
            doc.add_i64(f.date, d);
        }
        if let Some(mid) = mid {
            doc.add_text(f.id, mid);
        }
        add_words(&mut doc, f.from, &from);
        add_words(&mut doc, f.to, &to);
        add_words(&mut doc, f.cc, &cc);
        add_words(&mut doc, f.subject, &subject);
        add_words(&mut doc, f.body, &body);
        add_words(&mut doc, f.attachment, &names);
        docs.push(doc);
    }
    Ok((docs, s))
}

/// Brings the index up to date with the ticket files of one state. Returns the ids
/// found and the state file's text as it now is.
fn catch_up(
    sd: &SearchDir,
    index: &Index,
    f: &Fields,
    cfg: &crate::config::Config,
    st: State,
    build: bool,
) -> Result<Known> {
    let known = Known::read(&sd.state_path(st));
    let lines = known.lines();
    let files: Vec<(u32, Stamp)> = crate::store::Store::new(&sd.store_root)
        .each_ticket_file(st, |m| m.file_type().is_file().then(|| stamp_of(m)))
        .into_iter()
        .filter_map(|(id, stamp)| Some((id, stamp?)))
        .collect();
    let present: HashSet<u32> = files.iter().map(|(id, _)| *id).collect();
    let stale = |id: &u32, stamp: &Stamp| match lines.get(id) {
        Some(l) => l.stamp != *stamp || l.stamp.mtime + RACY_NS >= known.written,
        None => true,
    };
    let changed: Vec<(u32, Stamp)> = files
        .iter()
        .filter(|(id, s)| stale(id, s))
        .copied()
        .collect();
    let gone: Vec<u32> = lines
        .keys()
        .filter(|id| !present.contains(id))
        .copied()
        .collect();
    if changed.is_empty() && gone.is_empty() {
        return Ok(known);
    }
    // Many tickets at once (a first search, a rebuild): a big heap and merges.
    let build = build || changed.len() > 1000;
    let mut writer: IndexWriter<TantivyDocument> = if build {
        index.writer_with_num_threads(2, BUILD_HEAP)
    } else {
        index.writer_with_num_threads(1, SMALL_HEAP)
    }
    .map_err(|e| anyhow!("opening the search index for writing: {e}"))?;
    let segments = index.searchable_segment_ids().map(|s| s.len()).unwrap_or(0);
    let merge = build || segments >= MAX_SEGMENTS;
    if merge {
        writer.set_merge_policy(Box::<LogMergePolicy>::default());
    } else {
        writer.set_merge_policy(Box::new(NoMergePolicy));
    }
    for id in gone.iter().chain(changed.iter().map(|(id, _)| id)) {
        writer.delete_term(Term::from_field_text(f.key, &key(st, *id)));
    }
    // Decoding is most of the work: two threads read, decode and add documents.
    let fresh: Vec<(u32, Option<String>)> = {
        let work = |part: &[(u32, Stamp)]| -> Vec<(u32, Option<String>)> {
            let store = crate::store::Store::new(&sd.store_root);
            part.iter()
                .map(|(id, stamp)| {
                    let line = read_nofollow(&store.path(*id, st))
                        .ok()
                        .and_then(|data| ticket_docs(f, cfg, *id, st, &data).ok())
                        .map(|(docs, s)| {
                            for d in docs {
                                let _ = writer.add_document(d);
                            }
                            state_line(&s, *stamp)
                        });
                    (*id, line)
                })
                .collect()
        };
        crate::store::on_two_threads(&changed, 8, work)
    };
    writer
        .commit()
        .map_err(|e| anyhow!("committing the search index: {e}"))?;
    if merge {
        let _ = writer.wait_merging_threads();
    }
    // Only after the commit: the state file says what the index holds.
    let mut text = String::with_capacity(known.text.len() + fresh.len() * 100);
    let redone: HashSet<u32> = fresh.iter().map(|(id, _)| *id).collect();
    for (id, l) in &lines {
        if present.contains(id) && !redone.contains(id) {
            text.push_str(l_text(&known.text, l));
        }
    }
    for (_, line) in fresh.iter() {
        // an unreadable ticket gets no line, and is tried again next time
        if let Some(l) = line {
            text.push_str(l);
        }
    }
    let path = sd.state_path(st);
    write_replace(&path, text.as_bytes())?;
    Ok(Known::read(&path))
}

/// The whole line (with its newline) that a parsed state line came from.
fn l_text<'a>(all: &'a str, l: &StateLine<'_>) -> &'a str {
    // `summary` borrows from `all`: find its line's bounds around it.
    let start_of_summary = l.summary.as_ptr() as usize - all.as_ptr() as usize;
    let start = all[..start_of_summary].rfind('\n').map_or(0, |p| p + 1);
    let end = all[start_of_summary..]
        .find('\n')
        .map_or(all.len(), |p| start_of_summary + p + 1);
    &all[start..end]
}

fn read_nofollow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Replaces `path` atomically (a temp file renamed; not fsynced: see dir.rs).
fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let r = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o660)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.with_context(|| format!("writing {}", path.display()))
}

/// Collects (ticket, seq) of every matching message, from the fast fields.
struct Hits;

struct SegmentHits {
    ticket: tantivy::columnar::Column<u64>,
    seq: tantivy::columnar::Column<u64>,
    out: Vec<(u32, u32)>,
}

impl Collector for Hits {
    type Fruit = Vec<(u32, u32)>;
    type Child = SegmentHits;

    fn for_segment(&self, _: u32, r: &SegmentReader) -> tantivy::Result<SegmentHits> {
        Ok(SegmentHits {
            ticket: r.fast_fields().u64("ticket")?,
            seq: r.fast_fields().u64("seq")?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u32, u32)>>) -> tantivy::Result<Vec<(u32, u32)>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentHits {
    type Fruit = Vec<(u32, u32)>;

    fn collect(&mut self, doc: DocId, _: f32) {
        if let (Some(t), Some(s)) = (self.ticket.first(doc), self.seq.first(doc)) {
            self.out.push((t as u32, s as u32));
        }
    }

    fn harvest(self) -> Vec<(u32, u32)> {
        self.out
    }
}

/// What a query needs besides the index: the tickets whose requester bounces.
struct Cx<'a> {
    f: &'a Fields,
    bounced: &'a [u32],
}

fn flag(f: &Fields, v: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(f.flags, v),
        IndexRecordOption::Basic,
    ))
}

fn words_in(field: Field, text: &str) -> Box<dyn Query> {
    let mut terms: Vec<(usize, Term)> = text::query_words(text)
        .into_iter()
        .map(|w| (w.position, Term::from_field_text(field, &w.text)))
        .collect();
    match terms.len() {
        0 => Box::new(EmptyQuery),
        1 => Box::new(TermQuery::new(terms.remove(0).1, IndexRecordOption::Basic)),
        _ => Box::new(PhraseQuery::new_with_offset(terms)),
    }
}

fn build(n: &Node, cx: &Cx<'_>) -> Box<dyn Query> {
    let f = cx.f;
    match n {
        Node::Text(field, t) => {
            let fields: &[Field] = match field {
                QField::Any => &[f.subject, f.body, f.from, f.attachment],
                QField::From => &[f.from],
                QField::To => &[f.to],
                QField::Cc => &[f.cc],
                QField::Subject => &[f.subject],
                QField::Body => &[f.body],
                QField::Attachment => &[f.attachment],
            };
            if fields.len() == 1 {
                words_in(fields[0], t)
            } else {
                Box::new(BooleanQuery::union(
                    fields.iter().map(|&fl| words_in(fl, t)).collect(),
                ))
            }
        }
        Node::Id(id) => Box::new(TermQuery::new(
            Term::from_field_text(f.id, &id.to_lowercase()),
            IndexRecordOption::Basic,
        )),
        Node::Ticket(id) => Box::new(TermQuery::new(
            Term::from_field_u64(f.ticket, u64::from(*id)),
            IndexRecordOption::Basic,
        )),
        Node::Queue(q) => flag(f, &format!("queue:{q}")),
        Node::Is(Is::Open) => flag(f, "open"),
        Node::Is(Is::Closed) => flag(f, "closed"),
        Node::Is(Is::Waiting) => flag(f, "waiting"),
        Node::Is(Is::Bounced) => {
            if cx.bounced.is_empty() {
                Box::new(EmptyQuery)
            } else {
                Box::new(TermSetQuery::new(
                    cx.bounced
                        .iter()
                        .map(|&id| Term::from_field_u64(f.ticket, u64::from(id))),
                ))
            }
        }
        Node::Date(from, to) => {
            let b = |v: Option<i64>, incl: bool| match v {
                None => Bound::Unbounded,
                Some(t) if incl => Bound::Included(Term::from_field_i64(f.date, t)),
                Some(t) => Bound::Excluded(Term::from_field_i64(f.date, t)),
            };
            Box::new(RangeQuery::new(b(*from, true), b(*to, false)))
        }
        Node::Or(v) => Box::new(BooleanQuery::union(
            v.iter().map(|n| build(n, cx)).collect(),
        )),
        Node::And(v) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = v
                .iter()
                .map(|n| match n {
                    Node::Not(inner) => (Occur::MustNot, build(inner, cx)),
                    n => (Occur::Must, build(n, cx)),
                })
                .collect();
            if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Node::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, build(inner, cx)),
        ])),
    }
}

/// One ticket in the results.
#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    matches: usize,
    snippet: String,
}

/// `reindex`: the search index built again from nothing, for every ticket.
pub fn rebuild(admin: &Admin<'_>) -> Result<usize> {
    let sd = SearchDir::new(admin.store.root());
    let _lock = sd.lock()?;
    let (index, f) = sd.open_index(true)?;
    let mut n = 0;
    for st in [State::Open, State::Closed] {
        let k = catch_up(&sd, &index, &f, admin.cfg, st, true)?;
        n += k.text.lines().count();
    }
    Ok(n)
}

/// `search`.
pub fn run(admin: &Admin<'_>, args: &SearchArgs, out: &mut dyn Write) -> Result<()> {
    let q = args.query.join(" ");
    let node = query::parse(&q, admin.now).map_err(Exit::Usage)?;
    if args.limit == Some(0) {
        return Err(Exit::Usage("--limit must be at least 1".into()).into());
    }
    let root = admin.store.root();
    if root.exists() {
        admin.store.check_safe()?;
    }
    let states: &[State] = if args.all || (node.names_a_state() && !args.closed) {
        &[State::Open, State::Closed]
    } else if args.closed {
        &[State::Closed]
    } else {
        &[State::Open]
    };
    if !root.is_dir() {
        return Err(Exit::NoMatch.into());
    }
    let sd = SearchDir::new(root);
    let _lock = sd.lock()?;
    let (index, f) = sd.open_index(false)?;
    let mut known: Vec<(State, Known)> = Vec::new();
    for &st in states {
        known.push((st, catch_up(&sd, &index, &f, admin.cfg, st, false)?));
    }
    let lines: Vec<(State, IdMap<StateLine<'_>>)> =
        known.iter().map(|(st, k)| (*st, k.lines())).collect();
    let bounced: Vec<u32> = if node.uses(Is::Bounced) {
        let addrs = admin
            .store
            .bouncing_addresses(admin.cfg.bounce_hard_limit, admin.now.timestamp());
        lines
            .iter()
            .flat_map(|(_, m)| m.iter())
            .filter_map(|(id, l)| {
                let (s, _, _) = summary::from_cache_line(l.summary.trim_end())?;
                addrs
                    .contains(&s.requester.to_ascii_lowercase())
                    .then_some(*id)
            })
            .collect()
    } else {
        Vec::new()
    };
    let cx = Cx {
        f: &f,
        bounced: &bounced,
    };
    let mut clauses = vec![(Occur::Must, build(&node, &cx))];
    if states.len() == 1 {
        clauses.push((Occur::Must, flag(&f, states[0].as_str())));
    }
    let q = BooleanQuery::new(clauses);
    let reader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .map_err(|e: tantivy::TantivyError| anyhow!("opening the search index: {e}"))?;
    let hits = reader
        .searcher()
        .search(&q, &Hits)
        .map_err(|e| anyhow!("searching: {e}"))?;
    // per ticket: the matching messages, in file order
    let mut per: HashMap<u32, Vec<u32>> = HashMap::new();
    for (t, s) in hits {
        per.entry(t).or_default().push(s);
    }
    let mut rows: Vec<(Summary<'_>, State, Vec<u32>)> = Vec::new();
    for (id, mut seqs) in per {
        let Some((st, l)) = lines
            .iter()
            .find_map(|(st, m)| m.get(&id).map(|l| (*st, l)))
        else {
            continue;
        };
        let Some((mut s, _, _)) = summary::from_cache_line(l.summary.trim_end()) else {
            continue;
        };
        seqs.sort_unstable();
        seqs.dedup();
        s.requester_bounces = false;
        rows.push((s, st, seqs));
    }
    if rows.is_empty() {
        // the results mbox is fresh even then: a reader must not open old results
        if let Some(path) = &args.mbox {
            write_replace(path, b"")?;
        }
        return Err(Exit::NoMatch.into());
    }
    rows.sort_unstable_by_key(|r| std::cmp::Reverse((r.0.updated_at, r.0.id)));
    rows.truncate(args.limit.unwrap_or(usize::MAX));
    let bouncing = admin
        .store
        .bouncing_addresses(admin.cfg.bounce_hard_limit, admin.now.timestamp());
    let mut wanted = Vec::new();
    node.wanted_words(&mut wanted);
    let mut mbox_out: Vec<u8> = Vec::new();
    let mut printed: Vec<Row<'_>> = Vec::new();
    for (mut s, st, seqs) in rows {
        s.requester_bounces = bouncing.contains(&s.requester.to_ascii_lowercase());
        let data =
            read_nofollow(&crate::store::Store::new(root).path(s.id, st)).unwrap_or_default();
        let entries = mbox::read(&data).unwrap_or_default();
        let snippet = entries
            .get(seqs[0] as usize)
            .map(|e| {
                let m = thread::entry_message(e);
                let mut body = String::new();
                let mut names = String::new();
                collect_text(&m.parts, &mut body, &mut names);
                let t = format!("{}\n{}\n{}", m.subject, body, names);
                text::snippet(&t, &wanted)
            })
            .unwrap_or_default();
        if args.mbox.is_some() {
            for &seq in &seqs {
                let i = seq as usize;
                if let Some(e) = entries.get(i) {
                    let end = entries.get(i + 1).map_or(data.len(), |n| n.offset);
                    let raw = &data[e.offset..end];
                    mbox_out.extend_from_slice(raw);
                    if !raw.ends_with(b"\n\n") {
                        mbox_out.extend_from_slice(if raw.ends_with(b"\n") {
                            b"\n"
                        } else {
                            b"\n\n"
                        });
                    }
                }
            }
        }
        printed.push(Row {
            summary: s,
            matches: seqs.len(),
            snippet,
        });
    }
    if let Some(path) = &args.mbox {
        write_replace(path, &mbox_out)?;
    }
    if args.json {
        crate::admin::print_json(out, printed.iter())?;
    } else {
        let tickets: Vec<&crate::summary::Summary<'_>> =
            printed.iter().map(|r| &r.summary).collect();
        let queue = crate::queue::several(admin.cfg)
            || tickets.iter().any(|s| s.queue != crate::config::SUPPORT);
        let snippets: Vec<&str> = printed.iter().map(|r| r.snippet.as_str()).collect();
        crate::admin::print_tickets(out, &tickets, queue, &|i| format!("    {}", snippets[i]))?;
    }
    Ok(())
}
