//! `mailtix html OUTDIR`: a static, read-only archive of the tickets that any web server
//! can serve and a browser can open from disk. The pages are made in render.rs (pure);
//! this file decides what to rewrite and writes it.
//!
//! ```text
//! OUTDIR/index.html          open tickets, newest activity first
//! OUTDIR/closed/index.html   the pages of closed tickets
//! OUTDIR/closed/K.html       closed tickets K×1000 to K×1000+999
//! OUTDIR/feed.atom           the 50 tickets with the latest activity
//! OUTDIR/N/index.html        ticket N's thread
//! OUTDIR/N/N.mbox            ticket N as stored (not with --public)
//! OUTDIR/N/files/NAME        its attachments under safe names (not with --public)
//! ```
//!
//! Incremental: `STORE/.mailtix/html/KEY/` (KEY: a hash of OUTDIR's real path) keeps,
//! in shards of 1000 tickets, each ticket's file size, mtime and summary from the last
//! run (the lines of the `list` cache). A run stats every ticket (one directory pass),
//! renders only those whose stamp changed, and rewrites a file only when its bytes
//! differ, so a rerun with no change writes nothing. Changing the options, or a new
//! mailtix version, renders everything again (and still writes only what differs).
//!
//! Writes never follow a symlink inside OUTDIR: files are written to a temp name in
//! the same directory (opened with O_NOFOLLOW and O_EXCL) and renamed over the old
//! one, so a web server never serves half a page; a symlinked OUTDIR/N is refused.
//! Files are 0640 and directories 0750 whatever the umask. There is no fsync: the
//! archive can always be rebuilt from the store. Runs on one OUTDIR are serialised
//! by a lock in the state directory, so hooks of two deliveries at once are safe.

pub(crate) mod render;

use crate::cli::HtmlArgs;
use crate::config::Config;
use crate::route::State;
use crate::store::Store;
use crate::summary::{self, Summary};
use anyhow::{Context as _, Result, anyhow, bail};
use render::{CLOSED_PAGE, FEED_ENTRIES, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A ticket file's size and mtime (ns), from one directory pass.
type Stamp = Option<(u64, u128)>;
/// A ticket's summary with the size and mtime it was made from.
type Entry<'a> = (Summary<'a>, u64, u128);

const FILE_MODE: u32 = 0o640;
const DIR_MODE: u32 = 0o750;
/// Mode of the state directories in the store, as the store's own.
const STATE_DIR_MODE: u32 = 0o770;
const STATE_FILE_MODE: u32 = 0o660;

/// What one run did, for its report line.
#[derive(Default)]
struct Counts {
    written: AtomicUsize,
    removed: AtomicUsize,
}

/// The archive directory being written.
struct Out {
    root: PathBuf,
    counts: Counts,
}

/// `mailtix html OUTDIR [--public]`.
pub(crate) fn build(
    cfg: &Config,
    store: &Store,
    args: &HtmlArgs,
    cwd: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    if store.root().exists() {
        store.check_safe()?;
    } else {
        bail!("store {} does not exist", store.root().display());
    }
    let outdir = if args.outdir.is_absolute() {
        args.outdir.clone()
    } else {
        cwd.join(&args.outdir)
    };
    // Where OUTDIR really is (before anything is made): never inside the store.
    let real = match fs::canonicalize(&outdir) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (parent, name) = (outdir.parent(), outdir.file_name());
            let (Some(parent), Some(name)) = (parent, name) else {
                bail!("{} is not a directory name", outdir.display());
            };
            fs::canonicalize(parent)
                .with_context(|| format!("{}", parent.display()))?
                .join(name)
        }
        Err(e) => return Err(e).with_context(|| outdir.display().to_string()),
    };
    let store_root = fs::canonicalize(store.root())?;
    if real.starts_with(&store_root) || store_root.starts_with(&real) {
        bail!(
            "{} is inside the store or holds it; choose a directory outside {}",
            real.display(),
            store_root.display()
        );
    }
    match fs::metadata(&real) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{} is not a directory", real.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(DIR_MODE)
                .create(&real)
                .with_context(|| format!("creating {}", real.display()))?;
            fs::set_permissions(&real, fs::Permissions::from_mode(DIR_MODE))?;
        }
        Err(e) => return Err(e).with_context(|| real.display().to_string()),
    }
    let outdir = real;
    let opts = Options {
        public: args.public,
        sanitised_html: cfg.html_sanitised && !args.public,
        domain: cfg.addresses.domain.clone(),
        queues: crate::queue::several(cfg),
    };
    let state = StateDir::open(store, &outdir)?;
    let _lock = state.lock()?;
    let o = Out {
        root: outdir,
        counts: Counts::default(),
    };
    let hinted = match args.ticket {
        Some(id) => update_one(store, &state, &o, &opts, id)?,
        None => None,
    };
    let report = match hinted {
        Some(r) => r,
        None => update(store, &state, &o, &opts)?,
    };
    writeln!(
        out,
        "html: {} tickets in {} ({} rendered, {} removed); {} files written, {} removed",
        report.tickets,
        o.root.display(),
        report.rendered,
        report.gone,
        o.counts.written.load(Ordering::Relaxed),
        o.counts.removed.load(Ordering::Relaxed)
    )?;
    if !report.bad.is_empty() {
        bail!(
            "{} unreadable, left out: {}",
            report.bad.len(),
            report.bad.join("; ")
        );
    }
    Ok(())
}

struct Report {
    tickets: usize,
    rendered: usize,
    gone: usize,
    bad: Vec<String>,
}

/// The first line of the state: what the pages depend on besides the tickets.
fn meta_line(opts: &Options) -> String {
    format!(
        "mailtix-html 1 {} public={} sanitised={} queues={} domain={}\n",
        env!("CARGO_PKG_VERSION"),
        opts.public,
        opts.sanitised_html,
        opts.queues,
        opts.domain
    )
}

/// The `counts` state file: closed tickets per closed page.
fn parse_counts(text: &str) -> BTreeMap<u32, usize> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Newest activity first; the higher number first on a tie.
fn newest_first(a: &Summary<'_>, b: &Summary<'_>) -> std::cmp::Ordering {
    (b.updated_at, b.id).cmp(&(a.updated_at, a.id))
}

/// The lines of a state file, as entries.
fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(summary::from_cache_line)
}

fn lines<'a>(it: impl IntoIterator<Item = &'a Entry<'a>>) -> String {
    it.into_iter()
        .map(|(s, size, t)| summary::cache_line(s, *size, *t))
        .collect()
}

/// The `FEED_ENTRIES` newest of `all`, newest first.
fn newest<'a>(all: &[Entry<'a>]) -> Vec<Entry<'a>> {
    let mut refs: Vec<&Entry<'a>> = all.iter().collect();
    let n = FEED_ENTRIES.min(refs.len());
    if n > 0 && n < refs.len() {
        refs.select_nth_unstable_by(n - 1, |a, b| newest_first(&a.0, &b.0));
    }
    refs.truncate(n);
    refs.sort_unstable_by(|a, b| newest_first(&a.0, &b.0));
    refs.into_iter().cloned().collect()
}

/// Writes the pages made from the lists: index.html, closed/index.html and the feed,
/// then the state files they come from (`open`, `recent`, `counts`).
fn write_lists(
    o: &Out,
    state: &StateDir,
    opts: &Options,
    open: &[Entry<'_>],
    recent: &[Entry<'_>],
    counts: &BTreeMap<u32, usize>,
) -> Result<()> {
    let mut rows: Vec<&Summary<'_>> = open.iter().map(|e| &e.0).collect();
    rows.sort_unstable_by(|a, b| newest_first(a, b));
    let closed_total = counts.values().sum();
    o.write(
        &o.root,
        "index.html",
        render::index_page(&rows, closed_total, opts).as_bytes(),
    )?;
    let closed_dir = o.root.join("closed");
    o.dir(&closed_dir)?;
    let pages: Vec<(u32, usize)> = counts.iter().map(|(k, n)| (*k, *n)).collect();
    o.write(
        &closed_dir,
        "index.html",
        render::closed_index(&pages).as_bytes(),
    )?;
    let recent_rows: Vec<&Summary<'_>> = recent.iter().map(|e| &e.0).collect();
    o.write(
        &o.root,
        "feed.atom",
        render::feed(&recent_rows, opts).as_bytes(),
    )?;
    let mut sorted: Vec<&Entry<'_>> = open.iter().collect();
    sorted.sort_unstable_by_key(|e| e.0.id);
    state.write_if_changed("open", &lines(sorted))?;
    state.write_if_changed("recent", &lines(recent))?;
    let counts: String = counts.iter().map(|(k, n)| format!("{k} {n}\n")).collect();
    state.write_if_changed("counts", &counts)?;
    Ok(())
}

/// Renders the tickets in `todo` (on two threads when there are many: a full build
/// of a large store is mostly this).
fn render_all(
    store: &Store,
    o: &Out,
    opts: &Options,
    todo: &[(u32, State, Stamp)],
) -> Vec<(u32, Result<Entry<'static>, String>)> {
    let work = |part: usize| -> Vec<_> {
        todo.iter()
            .skip(part)
            .step_by(2)
            .map(|&(id, st, stamp)| (id, o.ticket(store, id, st, stamp, opts)))
            .collect()
    };
    let mut r = if todo.len() < 8 {
        let mut r = work(0);
        r.extend(work(1));
        r
    } else {
        std::thread::scope(|sc| {
            let first = sc.spawn(|| work(1));
            let mut r = work(0);
            r.extend(first.join().unwrap_or_default());
            r
        })
    };
    r.sort_unstable_by_key(|x| x.0);
    r
}

/// Writes closed/K.html from the entries of shard K (or removes it when none is closed).
fn write_closed_page(o: &Out, opts: &Options, k: u32, shard: &[Entry<'_>]) -> io::Result<()> {
    let mut rows: Vec<&Summary<'_>> = shard
        .iter()
        .map(|e| &e.0)
        .filter(|s| s.state == State::Closed)
        .collect();
    let dir = o.root.join("closed");
    let name = format!("{k}.html");
    if rows.is_empty() {
        return o.remove_all(&dir.join(name));
    }
    rows.sort_unstable_by(|a, b| newest_first(a, b));
    o.write(&dir, &name, render::closed_page(k, &rows, opts).as_bytes())
}

/// The whole store: every ticket is stat'ed, the changed ones rendered.
fn update(store: &Store, state: &StateDir, o: &Out, opts: &Options) -> Result<Report> {
    let valid = state.read("meta").is_some_and(|m| m == meta_line(opts));
    // The last run's shards, kept as text: the summaries below borrow from them.
    let old_texts: BTreeMap<u32, String> = if valid {
        state.shards()
    } else {
        state.forget()?;
        BTreeMap::new()
    };
    // Every ticket now, with its stamp, by id. A ticket seen in both states (a move
    // between the two directory passes) is taken where it was seen first.
    let mut now: Vec<Option<(State, Stamp)>> = Vec::new();
    for st in [State::Open, State::Closed] {
        for (id, stamp) in store.stamps(st) {
            let i = id as usize;
            if now.len() <= i {
                now.resize(i + 1, None);
            }
            if now[i].is_none() {
                now[i] = Some((st, stamp));
            }
        }
    }
    let mut old: Vec<Option<Entry<'_>>> = vec![None; now.len()];
    let mut gone = Vec::new();
    for text in old_texts.values() {
        for e in entries(text) {
            match old.get_mut(e.0.id as usize) {
                Some(slot) => *slot = Some(e),
                None => gone.push(e.0.id),
            }
        }
    }
    let mut todo: Vec<(u32, State, Stamp)> = Vec::new();
    let mut dirty_shards: BTreeSet<u32> = BTreeSet::new();
    for (i, slot) in old.iter_mut().enumerate() {
        let id = i as u32;
        match (&now[i], slot.as_ref()) {
            (None, None) => {}
            (None, Some(_)) => {
                gone.push(id);
                *slot = None;
            }
            (Some((st, stamp)), prev) => {
                let same = match (prev, stamp) {
                    (Some((s, size, t)), Some((size2, t2))) => {
                        s.state == *st && size == size2 && t == t2
                    }
                    _ => false,
                };
                if !same {
                    todo.push((id, *st, *stamp));
                    dirty_shards.insert(id / CLOSED_PAGE);
                    *slot = None;
                }
            }
        }
    }
    // Tickets gone from the store since the last run lose their pages.
    for &id in &gone {
        dirty_shards.insert(id / CLOSED_PAGE);
        o.remove_all(&o.root.join(id.to_string()))?;
    }
    for e in fs::read_dir(&o.root)?.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        // a temp file left by a run that was killed
        if name.starts_with(".tmp.") {
            o.remove_all(&e.path())?;
        }
        // with no trustworthy state, any ticket directory without a ticket is stale
        if !valid
            && let Some(id) = crate::address::parse_id(&name)
            && now.get(id as usize).is_none_or(Option::is_none)
        {
            o.remove_all(&e.path())?;
        }
    }
    let results = render_all(store, o, opts, &todo);
    let rendered = results.len();
    let mut bad = Vec::new();
    for (id, r) in results {
        match r {
            Ok(e) => old[id as usize] = Some(e),
            Err(e) => bad.push(format!("ticket {id}: {e}")),
        }
    }
    let all: Vec<Entry<'_>> = old.into_iter().flatten().collect();
    // The shards and the closed pages: only those of changed shards are remade (and a
    // page that is missing).
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    let mut open = Vec::new();
    let closed_dir = o.root.join("closed");
    o.dir(&closed_dir)?;
    let mut expected: BTreeSet<String> = BTreeSet::from(["index.html".to_string()]);
    for shard in all.chunk_by(|a, b| a.0.id / CLOSED_PAGE == b.0.id / CLOSED_PAGE) {
        let k = shard[0].0.id / CLOSED_PAGE;
        let closed = shard.iter().filter(|e| e.0.state == State::Closed).count();
        if closed > 0 {
            counts.insert(k, closed);
            expected.insert(format!("{k}.html"));
        }
        open.extend(shard.iter().filter(|e| e.0.state == State::Open).cloned());
        let page_missing = closed > 0 && !closed_dir.join(format!("{k}.html")).exists();
        if !valid || dirty_shards.contains(&k) || page_missing {
            write_closed_page(o, opts, k, shard)?;
            state.write_if_changed(&format!("shards/{k}"), &lines(shard))?;
        }
        dirty_shards.remove(&k);
    }
    // shards that lost every ticket
    for k in &dirty_shards {
        state.remove(&format!("shards/{k}"))?;
    }
    o.clean(&closed_dir, &expected)?;
    let recent = newest(&all);
    write_lists(o, state, opts, &open, &recent, &counts)?;
    if !valid {
        state.write_if_changed("meta", &meta_line(opts))?;
    }
    bad.sort();
    Ok(Report {
        tickets: all.len(),
        rendered,
        gone: gone.len(),
        bad,
    })
}

/// Only ticket `id` changed since the last run (what a hook knows): it alone is
/// stat'ed and rendered, and the lists come from the state. None when the state cannot
/// answer (no state, other options, the ticket is gone): then the whole store is read.
fn update_one(
    store: &Store,
    state: &StateDir,
    o: &Out,
    opts: &Options,
    id: u32,
) -> Result<Option<Report>> {
    if state.read("meta").is_none_or(|m| m != meta_line(opts)) {
        return Ok(None);
    }
    let (Some(open_text), Some(recent_text), Some(counts_text)) = (
        state.read("open"),
        state.read("recent"),
        state.read("counts"),
    ) else {
        return Ok(None);
    };
    let k = id / CLOSED_PAGE;
    let shard_text = state.read(&format!("shards/{k}")).unwrap_or_default();
    let mut shard: Vec<Entry<'_>> = entries(&shard_text).collect();
    let stamp = |st: State| {
        let m = store.metadata(id, st).ok().filter(|m| m.is_file())?;
        let t = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((m.len(), t.as_nanos()))
    };
    let Some((st, (size, t))) = [State::Open, State::Closed]
        .into_iter()
        .find_map(|st| stamp(st).map(|s| (st, s)))
    else {
        return Ok(None);
    };
    let prev = shard.iter().position(|e| e.0.id == id);
    if let Some(p) = prev {
        let (s, size0, t0) = &shard[p];
        if s.state == st && *size0 == size && *t0 == t {
            let n: usize = parse_counts(&counts_text).values().sum();
            return Ok(Some(Report {
                tickets: entries(&open_text).count() + n,
                rendered: 0,
                gone: 0,
                bad: Vec::new(),
            }));
        }
    }
    let entry = match o.ticket(store, id, st, Some((size, t)), opts) {
        Ok(e) => e,
        Err(e) => bail!("ticket {id}: {e}"),
    };
    match prev {
        Some(p) => shard[p] = entry.clone(),
        None => {
            shard.push(entry.clone());
            shard.sort_unstable_by_key(|e| e.0.id);
        }
    }
    state.write_if_changed(&format!("shards/{k}"), &lines(&shard))?;
    write_closed_page(o, opts, k, &shard)?;
    let mut open: Vec<Entry<'_>> = entries(&open_text).filter(|e| e.0.id != id).collect();
    if st == State::Open {
        open.push(entry.clone());
    }
    let mut recent: Vec<Entry<'_>> = entries(&recent_text).filter(|e| e.0.id != id).collect();
    recent.push(entry);
    let recent = newest(&recent);
    let mut counts = parse_counts(&counts_text);
    let closed = shard.iter().filter(|e| e.0.state == State::Closed).count();
    if closed > 0 {
        counts.insert(k, closed);
    } else {
        counts.remove(&k);
    }
    write_lists(o, state, opts, &open, &recent, &counts)?;
    Ok(Some(Report {
        tickets: open.len() + counts.values().sum::<usize>(),
        rendered: 1,
        gone: 0,
        bad: Vec::new(),
    }))
}

impl Out {
    /// Renders ticket `id` and writes its directory: the page, the mbox, the files.
    fn ticket(
        &self,
        store: &Store,
        id: u32,
        st: State,
        stamp: Option<(u64, u128)>,
        opts: &Options,
    ) -> Result<(Summary<'static>, u64, u128), String> {
        let (size, t) = stamp.ok_or("cannot stat the ticket file")?;
        let data = store.read(id, st).map_err(|e| e.to_string())?;
        let s = summary::summarize(id, st, &data)?;
        let page = render::ticket_page(id, st.as_str(), &data, opts)?;
        let dir = self.root.join(id.to_string());
        (|| -> io::Result<()> {
            self.dir(&dir)?;
            let mut expected = BTreeSet::from(["index.html".to_string()]);
            self.write(&dir, "index.html", page.html.as_bytes())?;
            if !opts.public {
                let mbox = format!("{id}.mbox");
                self.write(&dir, &mbox, &data)?;
                expected.insert(mbox);
            }
            if !page.files.is_empty() {
                let files = dir.join("files");
                self.dir(&files)?;
                let mut names = BTreeSet::new();
                for (name, bytes) in &page.files {
                    self.write(&files, name, bytes)?;
                    names.insert(name.clone());
                }
                self.clean(&files, &names)?;
                expected.insert("files".into());
            }
            self.clean(&dir, &expected)
        })()
        .map_err(|e| e.to_string())?;
        Ok((s, size, t))
    }

    /// Makes `dir` a real directory of mode 0750; a symlink there is refused.
    fn dir(&self, dir: &Path) -> io::Result<()> {
        // 0750, plus the setgid bit when the directory has it (inherited from a setgid
        // OUTDIR): it gives every file the web server's group
        let fix = |m: &fs::Metadata| -> io::Result<()> {
            let want = DIR_MODE | (m.mode() & 0o2000);
            if m.mode() & 0o7777 != want {
                fs::set_permissions(dir, fs::Permissions::from_mode(want))?;
            }
            Ok(())
        };
        match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_dir() => fix(&m),
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::other(format!(
                "{} is a symbolic link; refusing to write through it",
                dir.display()
            ))),
            Ok(_) => Err(io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new().mode(DIR_MODE).create(dir)?;
                // the umask may have taken bits away, or (0) left more
                fix(&fs::symlink_metadata(dir)?)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `dir/name` unless it already holds exactly `bytes` (mode 0640): to a temp
    /// file in `dir`, opened without following links, then renamed over the old one.
    fn write(&self, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = dir.join(name);
        if let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            let m = f.metadata()?;
            if m.is_file() && m.len() == bytes.len() as u64 {
                let mut old = Vec::with_capacity(bytes.len());
                f.read_to_end(&mut old)?;
                if old == bytes {
                    if m.mode() & 0o7777 != FILE_MODE {
                        f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
                    }
                    return Ok(());
                }
            }
        }
        let tmp = dir.join(format!(".tmp.{}.{name}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
            f.write_all(bytes)?;
            drop(f);
            fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        self.counts.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes whatever is in `dir` but not named in `keep` (files, links, directories;
    /// a link is removed, never followed).
    fn clean(&self, dir: &Path, keep: &BTreeSet<String>) -> io::Result<()> {
        for e in fs::read_dir(dir)?.flatten() {
            let name = e.file_name();
            if name.to_str().is_some_and(|n| keep.contains(n)) {
                continue;
            }
            self.remove_all(&e.path())?;
        }
        Ok(())
    }

    fn remove_all(&self, p: &Path) -> io::Result<()> {
        let r = match fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_dir() => fs::remove_dir_all(p),
            Ok(_) => fs::remove_file(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => Err(e),
        };
        r.map_err(|e| io::Error::new(e.kind(), format!("removing {}: {e}", p.display())))?;
        self.counts.removed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A state directory's mode: 0770 whatever the umask, keeping the setgid bit that makes
/// its files belong to the store's group.
fn state_dir_mode(d: &Path) -> io::Result<()> {
    let setgid = fs::symlink_metadata(d)?.mode() & 0o2000;
    fs::set_permissions(d, fs::Permissions::from_mode(STATE_DIR_MODE | setgid))
}

/// `STORE/.mailtix/html/KEY/`: what the last run on one OUTDIR knew.
struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    fn open(store: &Store, outdir: &Path) -> Result<StateDir> {
        let base = store.html_state_dir();
        let key = format!(
            "{:016x}",
            crate::mbox::fnv1a(outdir.as_os_str().as_encoded_bytes())
        );
        let dir = base.join(key);
        for d in [&base, &dir] {
            match fs::symlink_metadata(d) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => bail!("{} is not a directory", d.display()),
                Err(_) => {
                    fs::DirBuilder::new()
                        .mode(STATE_DIR_MODE)
                        .recursive(true)
                        .create(d)
                        .with_context(|| format!("creating {}", d.display()))?;
                    // the mail group writes here too (a hook runs as the MTA's user);
                    // the setgid bit inherited from the store stays
                    state_dir_mode(d)?;
                }
            }
        }
        let s = StateDir { dir };
        // which OUTDIR this state is for, for a person looking at the store
        let target = format!("{}\n", outdir.display());
        if s.read("outdir").as_deref() != Some(&target) {
            s.write("outdir", &target)?;
        }
        Ok(s)
    }

    /// An exclusive lock for the run (released when the file is dropped).
    fn lock(&self) -> Result<File> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(STATE_FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.dir.join("lock"))
            .with_context(|| format!("opening {}", self.dir.join("lock").display()))?;
        if f.metadata()?.mode() & 0o777 != STATE_FILE_MODE {
            // best effort: the lock may belong to another member of the group
            let _ = f.set_permissions(fs::Permissions::from_mode(STATE_FILE_MODE));
        }
        fs2::FileExt::lock_exclusive(&f).map_err(|e| anyhow!("locking the archive state: {e}"))?;
        Ok(f)
    }

    fn read(&self, name: &str) -> Option<String> {
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.dir.join(name))
            .ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        Some(s)
    }

    /// Every shard, by number.
    fn shards(&self) -> BTreeMap<u32, String> {
        let mut out = BTreeMap::new();
        let Ok(rd) = fs::read_dir(self.dir.join("shards")) else {
            return out;
        };
        for e in rd.flatten() {
            if let Some(k) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some(t) = self.read(&format!("shards/{k}"))
            {
                out.insert(k, t);
            }
        }
        out
    }

    /// Writes `name` unless it already holds `text` (`shards/K` makes `shards/`).
    fn write_if_changed(&self, name: &str, text: &str) -> Result<()> {
        if self.read(name).as_deref() == Some(text) {
            return Ok(());
        }
        if name.starts_with("shards/") {
            let d = self.dir.join("shards");
            if !d.is_dir() {
                fs::DirBuilder::new().mode(STATE_DIR_MODE).create(&d)?;
                state_dir_mode(&d)?;
            }
        }
        self.write(name, text)
    }

    /// Drops the shards: they were made with other options.
    fn forget(&self) -> Result<()> {
        match fs::remove_dir_all(self.dir.join("shards")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn remove(&self, name: &str) -> Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn write(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(STATE_FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.set_permissions(fs::Permissions::from_mode(STATE_FILE_MODE))?;
        f.write_all(text.as_bytes())?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
