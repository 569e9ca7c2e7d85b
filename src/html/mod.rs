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

pub mod render;

use crate::cli::HtmlArgs;
use crate::config::Config;
use crate::route::State;
use crate::store::Store;
use crate::summary::{self, Summary};
use anyhow::{Context as _, Result, anyhow, bail};
use render::{CLOSED_PAGE, FEED_ENTRIES, Options};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
pub fn build(
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
    match fs::metadata(&outdir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{} is not a directory", outdir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(DIR_MODE)
                .create(&outdir)
                .with_context(|| format!("creating {}", outdir.display()))?;
            fs::set_permissions(&outdir, fs::Permissions::from_mode(DIR_MODE))?;
        }
        Err(e) => return Err(e).with_context(|| outdir.display().to_string()),
    }
    let outdir = fs::canonicalize(&outdir)?;
    let store_root = fs::canonicalize(store.root())?;
    if outdir.starts_with(&store_root) || store_root.starts_with(&outdir) {
        bail!(
            "{} is inside the store or holds it; choose a directory outside {}",
            outdir.display(),
            store_root.display()
        );
    }
    let opts = Options {
        public: args.public,
        sanitised_html: cfg.html_sanitised && !args.public,
        domain: cfg.domain.clone(),
    };
    let state = StateDir::open(store, &outdir)?;
    let _lock = state.lock()?;
    let o = Out {
        root: outdir,
        counts: Counts::default(),
    };
    let report = update(store, &state, &o, &opts)?;
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
        "mailtix-html 1 {} public={} sanitised={} domain={}\n",
        env!("CARGO_PKG_VERSION"),
        opts.public,
        opts.sanitised_html,
        opts.domain
    )
}

fn update(store: &Store, state: &StateDir, o: &Out, opts: &Options) -> Result<Report> {
    let valid = state.read("meta").is_some_and(|m| m == meta_line(opts));
    // The last run's shards, kept as text: the summaries below borrow from them.
    let old_texts: BTreeMap<u32, String> = if valid {
        state.shards()
    } else {
        BTreeMap::new()
    };
    let mut old: HashMap<u32, (Summary<'_>, u64, u128)> = HashMap::new();
    for text in old_texts.values() {
        for (s, size, t) in text.lines().filter_map(summary::from_cache_line) {
            old.insert(s.id, (s, size, t));
        }
    }
    // Every ticket now, with its stamp. A ticket seen in both states (a move between
    // the two directory passes) is taken where it was seen first.
    let mut now: BTreeMap<u32, (State, Option<(u64, u128)>)> = BTreeMap::new();
    for st in [State::Open, State::Closed] {
        for (id, stamp) in store.stamps(st) {
            now.entry(id).or_insert((st, stamp));
        }
    }
    let mut keep: BTreeMap<u32, (Summary<'_>, u64, u128)> = BTreeMap::new();
    let mut todo: Vec<(u32, State, Stamp)> = Vec::new();
    for (&id, &(st, stamp)) in &now {
        match (old.remove(&id), stamp) {
            (Some((s, size, t)), Some((size2, t2)))
                if s.state == st.as_str() && size == size2 && t == t2 =>
            {
                keep.insert(id, (s, size, t));
            }
            _ => todo.push((id, st, stamp)),
        }
    }
    let mut dirty_shards: BTreeSet<u32> = todo.iter().map(|t| t.0 / CLOSED_PAGE).collect();
    // Tickets gone from the store since the last run lose their pages.
    let gone: Vec<u32> = old.keys().copied().collect();
    for &id in &gone {
        dirty_shards.insert(id / CLOSED_PAGE);
        o.remove_all(&o.root.join(id.to_string()))?;
    }
    if !valid {
        // No trustworthy state: any ticket directory without a ticket is stale.
        for e in fs::read_dir(&o.root)?.flatten() {
            if let Some(id) = e.file_name().to_str().and_then(crate::address::parse_id)
                && !now.contains_key(&id)
            {
                o.remove_all(&e.path())?;
            }
        }
        dirty_shards.extend(old_texts.keys());
    }
    // Render what changed, on two threads (the machines this runs on have two cores
    // or more; a full build of a large store is mostly this).
    let results: Vec<(u32, Result<Entry<'static>, String>)> = {
        let work = |part: usize| -> Vec<_> {
            todo.iter()
                .skip(part)
                .step_by(2)
                .map(|&(id, st, stamp)| (id, o.ticket(store, id, st, stamp, opts)))
                .collect()
        };
        if todo.len() < 8 {
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
        }
    };
    let mut bad = Vec::new();
    let rendered = results.len();
    for (id, r) in results {
        match r {
            Ok(entry) => {
                keep.insert(id, entry);
            }
            Err(e) => bad.push(format!("ticket {id}: {e}")),
        }
    }
    bad.sort();
    // The state, shard by shard: only a shard whose text changed is written.
    let mut shards: BTreeMap<u32, String> = BTreeMap::new();
    for (s, size, t) in keep.values() {
        shards
            .entry(s.id / CLOSED_PAGE)
            .or_default()
            .push_str(&summary::cache_line(s, *size, *t));
    }
    // The index pages.
    let order =
        |a: &&Summary<'_>, b: &&Summary<'_>| (b.updated_at, b.id).cmp(&(a.updated_at, a.id));
    let mut open: Vec<&Summary<'_>> = keep
        .values()
        .map(|e| &e.0)
        .filter(|s| s.state == "open")
        .collect();
    open.sort_unstable_by(order);
    let mut closed_by_page: BTreeMap<u32, Vec<&Summary<'_>>> = BTreeMap::new();
    for (s, _, _) in keep.values().filter(|e| e.0.state == "closed") {
        closed_by_page
            .entry(s.id / CLOSED_PAGE)
            .or_default()
            .push(s);
    }
    let closed_total: usize = closed_by_page.values().map(Vec::len).sum();
    o.write(
        &o.root,
        "index.html",
        render::index_page(&open, closed_total, opts).as_bytes(),
    )?;
    let closed_dir = o.root.join("closed");
    o.dir(&closed_dir)?;
    let mut expected: BTreeSet<String> = BTreeSet::from(["index.html".to_string()]);
    let pages: Vec<(u32, usize)> = closed_by_page.iter().map(|(k, v)| (*k, v.len())).collect();
    o.write(
        &closed_dir,
        "index.html",
        render::closed_index(&pages).as_bytes(),
    )?;
    for (k, rows) in &mut closed_by_page {
        let name = format!("{k}.html");
        if dirty_shards.contains(k) || !closed_dir.join(&name).exists() {
            rows.sort_unstable_by(order);
            o.write(
                &closed_dir,
                &name,
                render::closed_page(*k, rows, opts).as_bytes(),
            )?;
        }
        expected.insert(name);
    }
    o.clean(&closed_dir, &expected)?;
    // The feed: the most recent activity, whatever the state.
    let mut recent: Vec<&Summary<'_>> = keep.values().map(|e| &e.0).collect();
    let n = FEED_ENTRIES.min(recent.len());
    if n > 0 && n < recent.len() {
        recent.select_nth_unstable_by(n - 1, order);
    }
    recent.truncate(n);
    recent.sort_unstable_by(order);
    o.write(&o.root, "feed.atom", render::feed(&recent, opts).as_bytes())?;
    // The state last: a run killed before this point renders the same tickets again.
    for k in dirty_shards.iter().chain(shards.keys()) {
        let text = shards.get(k).map(String::as_str).unwrap_or("");
        if old_texts.get(k).map(String::as_str).unwrap_or("") != text || !valid {
            state.write_shard(*k, text)?;
        }
    }
    if !valid {
        state.write("meta", &meta_line(opts))?;
    }
    Ok(Report {
        tickets: keep.len(),
        rendered,
        gone: gone.len(),
        bad,
    })
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
        let s = summary::summarize(id, st.as_str(), &data)?;
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
        match fs::symlink_metadata(dir) {
            Ok(m) if m.file_type().is_dir() => {
                if m.mode() & 0o7777 != DIR_MODE {
                    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
                }
                Ok(())
            }
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
                fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
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
                        .create(d)
                        .with_context(|| format!("creating {}", d.display()))?;
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
            .mode(0o660)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.dir.join("lock"))
            .with_context(|| format!("opening {}", self.dir.join("lock").display()))?;
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

    fn write_shard(&self, k: u32, text: &str) -> Result<()> {
        let d = self.dir.join("shards");
        if !d.is_dir() {
            fs::DirBuilder::new().mode(STATE_DIR_MODE).create(&d)?;
        }
        if text.is_empty() {
            match fs::remove_file(d.join(k.to_string())) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => return Ok(()),
            }
        }
        self.write(&format!("shards/{k}"), text)
    }

    fn write(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o660)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        drop(f);
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}
