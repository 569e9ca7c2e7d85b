//! The store: the only module that touches the filesystem for tickets.
//!
//! ```text
//! STORE/N                   open ticket N (mboxrd)
//! STORE/archived/N          closed ticket N
//! STORE/N.lock              dotlock while N is written (archived/N.lock for closed ones)
//! STORE/queues/LOCAL         a queue address, for the Exim router       ../queue.rs
//! .mailtix/next-id          the next ticket id (a hint: existing files are skipped)  mod.rs
//! .mailtix/lock             fs2 lock serialising new tickets                      mod.rs
//! .mailtix/move             fs2 lock: exclusive while a ticket moves state        mod.rs
//! .mailtix/tmp/             new tickets are written here, fsync'd, then linked in mod.rs
//! .mailtix/pending/new      the new ticket being linked in, for crash repair      mod.rs
//! .mailtix/pending/N        the append in progress on N, for crash repair         lock.rs
//! .mailtix/index/XX         Message-ID -> ticket, 256 shards, append-only         index.rs
//! .mailtix/bounces.d/XX     bounce records by address hash, 60 days              records.rs
//! .mailtix/bounces          the bounce journal for people (bounces.1 past 1 MiB) records.rs
//! .mailtix/acks.d/XX        acknowledgements sent per mailbox, the last hour      records.rs
//! .mailtix/acks-hour        the store-wide acknowledgement count of this hour     records.rs
//! .mailtix/relays           relayed replies of the last hour                     records.rs
//! .mailtix/log              one line per event                                   records.rs
//! .mailtix/moved/N         the queue `move` put ticket N in (its note is the truth) records.rs
//! .mailtix/summaries        list's summary cache                                 records.rs
//! .mailtix/secret           key for tokens and Message-ID MACs (made when needed) mod.rs
//! .mailtix/format           the store's format number                           format.rs
//! .mailtix/html/            what `mailtix html` saw at its last run, per OUTDIR  ../html/
//! ```
//! Keep `secret` and `format`. `reindex` rebuilds the index, next-id and summaries; the
//! rest are time windows and journals that may be lost.
//!
//! Locking follows mutt and Debian Policy §11.6: a whole-file fcntl write lock, then the
//! dotlock. Both are taken without blocking and retried, releasing both between tries,
//! so a program that takes them in the other order cannot deadlock us. `flock` (and so
//! fs2) is used only for `.mailtix/lock`, which only mailtix touches: on Linux flock
//! and fcntl locks do not see each other.

use crate::mbox::EntryBytes;
use crate::route::{Lookup, State};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

mod index;
mod lock;
mod records;

use index::index_key;
pub use lock::Locked;
use lock::process_alive;
pub use records::{AckGrant, Action, BOUNCE_KEEP_SECS, BounceRecord, LogLine, Who, ack_mailbox};

/// Mode of files mailtix creates: the owner and the mail group, nobody else.
pub const FILE_MODE: u32 = 0o660;
const DIR_MODE: u32 = 0o770;

/// Timing of ticket locks.
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    /// Give up (temporary failure) after this long.
    pub timeout: Duration,
    /// A dotlock older than this with no change is stale and removed.
    pub stale: Duration,
}

/// The ticket directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// The config file that named the root, if one did: then a missing root is an
    /// unmounted disk or a typo, not a store to create.
    config_file: Option<PathBuf>,
}

fn ctx(what: impl std::fmt::Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn mkdir(p: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(DIR_MODE).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ctx(p.display(), e)),
    }
}

/// fsync a directory, so that a create, link or rename in it survives a crash.
pub fn sync_dir(p: &Path) -> io::Result<()> {
    File::open(p)
        .and_then(|d| d.sync_all())
        .map_err(|e| ctx(p.display(), e))
}

impl Store {
    /// A store at `root`. Nothing is touched until `init`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            config_file: None,
        }
    }

    /// The store a config file names: `init` then never creates a missing root.
    pub fn named_by(mut self, config_file: Option<PathBuf>) -> Store {
        self.config_file = config_file;
        self
    }

    /// Why the root is unusable as a store root, if it is missing and a config names it.
    pub fn missing_root(&self) -> Option<String> {
        let config = self.config_file.as_ref()?;
        match fs::metadata(&self.root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(format!(
                "store {} does not exist; create it or fix `store` in {}",
                self.root.display(),
                config.display()
            )),
            _ => None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state_dir(&self) -> PathBuf {
        self.root.join(".mailtix")
    }

    /// Where `mailtix html` keeps what it knows of each archive it writes (rebuildable).
    pub fn html_state_dir(&self) -> PathBuf {
        self.state_dir().join("html")
    }

    /// Creates the store's directories when missing. The root itself is created only
    /// when no config file named it (the quickstart's `./tickets`).
    pub fn init(&self) -> io::Result<()> {
        if let Some(why) = self.missing_root() {
            return Err(io::Error::new(io::ErrorKind::NotFound, why));
        }
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&self.root)
                .map_err(|e| ctx(self.root.display(), e))?;
        }
        for d in STORE_DIRS {
            let p = self.root.join(d);
            mkdir(&p)?;
            // Checked before anything is made inside it: a planted link would send
            // the store's state somewhere else.
            dir_problem(&p).map_or(Ok(()), |why| Err(io::Error::other(why)))?;
        }
        Ok(())
    }

    /// Everything that makes the store unsafe to use, for `check` (which reports each)
    /// and `check_safe` (which refuses the first): a root that is not a directory or
    /// that anyone may write to, a store directory that is a symlink or not a directory,
    /// and a symlink among the state files, index shards and pending records. Links
    /// inside the store are never followed: a planted `secret` link would give away
    /// every close token and MAC.
    pub fn safety_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match fs::metadata(&self.root) {
            Err(e) => {
                out.push(format!("{}: {e}", self.root.display()));
                return out;
            }
            Ok(m) if !m.is_dir() => {
                out.push(format!("{} is not a directory", self.root.display()));
                return out;
            }
            Ok(m) if m.mode() & 0o002 != 0 => out.push(format!(
                "{} is world-writable; run chmod o-w on it",
                self.root.display()
            )),
            Ok(_) => {}
        }
        for d in STORE_DIRS {
            let p = self.root.join(d);
            if let Some(why) = dir_problem(&p) {
                out.push(why);
                continue;
            }
            if d.starts_with(".mailtix")
                && let Ok(rd) = fs::read_dir(&p)
            {
                // d_type from the directory listing: no stat per entry.
                for e in rd.filter_map(|e| e.ok()) {
                    if e.file_type().is_ok_and(|t| t.is_symlink()) {
                        out.push(format!(
                            "{} is a symlink; refusing to use it (remove it)",
                            e.path().display()
                        ));
                    }
                }
            }
        }
        out
    }

    /// Refuses a store that anyone may write to, that is not a directory, or that has
    /// a symlink where mailtix keeps its files (see `safety_problems`).
    pub fn check_safe(&self) -> io::Result<()> {
        match self.safety_problems().into_iter().next() {
            Some(why) => Err(io::Error::other(why)),
            None => Ok(()),
        }
    }

    /// For `check`: directories mailtix cannot create files in (a read-only mount,
    /// wrong owner), found by creating and removing a probe file in each.
    pub fn write_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in std::iter::once(self.root.clone()).chain(STORE_DIRS.map(|d| self.root.join(d))) {
            if !dir.is_dir() {
                continue;
            }
            let probe = dir.join(format!(".check.{}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&probe)
            {
                Ok(_) => {
                    let _ = fs::remove_file(&probe);
                }
                Err(e) => out.push(format!(
                    "{} is not writable ({e}); deliveries will fail",
                    dir.display()
                )),
            }
        }
        out
    }

    /// For `check`: why the secret cannot be used, if it exists and cannot.
    pub fn secret_problem(&self) -> Option<String> {
        let path = self.state_dir().join("secret");
        match read_nofollow(&path) {
            Ok(s) if s.len() >= 16 => None,
            Ok(_) => Some(format!("{} is too short", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("{} cannot be read: {e}", path.display())),
        }
    }

    /// The path of ticket `id` in the given state.
    pub fn path(&self, id: u32, state: State) -> PathBuf {
        self.dir_of(state).join(id.to_string())
    }

    /// Where ticket `id` is, judged by `lstat` (a symlink counts as present, and is
    /// refused when someone tries to write it).
    ///
    /// The two names are looked at one after the other, so a close or reopen between the
    /// looks would make an existing ticket seem gone. Moves hold the move lock, so when
    /// neither name is there we look again under it, where no move can be under way.
    pub fn state(&self, id: u32) -> Option<State> {
        let once = || {
            [State::Open, State::Closed]
                .into_iter()
                .find(|&s| fs::symlink_metadata(self.path(id, s)).is_ok())
        };
        once().or_else(|| {
            let _moves = self.move_lock(false).ok()?;
            once()
        })
    }

    /// The store-wide lock on moving tickets between open and archived: exclusive while
    /// one is renamed, shared while `state` looks again.
    fn move_lock(&self, exclusive: bool) -> io::Result<File> {
        self.state_file_locked("move", exclusive)
    }

    // ---------------------------------------------------------------- new tickets

    fn counter_path(&self) -> PathBuf {
        self.state_dir().join("next-id")
    }

    /// Opens (creating) a file under `.mailtix/` and takes an fs2 (flock) lock on it:
    /// only mailtix uses these files, so flock is enough. The lock ends with the File.
    fn locked_state_file(&self, name: &str) -> io::Result<File> {
        self.state_file_locked(name, true)
    }

    /// [`Self::locked_state_file`] with the lock exclusive or shared.
    fn state_file_locked(&self, name: &str, exclusive: bool) -> io::Result<File> {
        let path = self.state_dir().join(name);
        let f = open_private(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )?;
        let locked = if exclusive {
            fs2::FileExt::lock_exclusive(&f)
        } else {
            fs2::FileExt::lock_shared(&f)
        };
        locked.map_err(|e| ctx(path.display(), e))?;
        Ok(f)
    }

    /// Runs `f` while holding the store-wide lock that serialises new tickets. A new
    /// ticket that a killed writer left half-made is finished or undone first, so `f`
    /// sees every ticket whose file exists with its key indexed.
    pub fn with_new_ticket_lock<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let lockfile = self.locked_state_file("lock")?;
        let out = self.repair_new().and_then(|done| {
            for d in done {
                let _ = self.log(&format!("repaired: {d}"));
            }
            f()
        });
        let _ = fs2::FileExt::unlock(&lockfile);
        out
    }

    /// Takes the new-ticket lock and finishes or undoes what a killed writer left, for
    /// `check`: returns what was repaired.
    pub fn repair_new_tickets(&self) -> io::Result<Vec<String>> {
        let lockfile = self.locked_state_file("lock")?;
        let out = self.repair_new();
        let _ = fs2::FileExt::unlock(&lockfile);
        out
    }

    fn pending_new_path(&self) -> PathBuf {
        self.state_dir().join("pending").join("new")
    }

    /// Under the new-ticket lock: finishes (ticket present: make sure its key is
    /// indexed) or undoes (ticket absent: drop the temp file) the new ticket named by
    /// `pending/new`, then removes every `tmp/new.*` file. Only a holder of this lock
    /// creates those files, so while we hold it every one of them is a dead writer's.
    fn repair_new(&self) -> io::Result<Vec<String>> {
        let mut done = Vec::new();
        let record = self.pending_new_path();
        match read_text_nofollow(&record) {
            Ok(text) => {
                let mut parts = text.trim_end_matches('\n').splitn(3, ' ');
                let id = parts.next().and_then(crate::address::parse_id);
                let tmp = parts
                    .next()
                    .filter(|t| t.starts_with("new.") && !t.contains('/'));
                let key = parts.next().unwrap_or("");
                if let (Some(id), Some(tmp)) = (id, tmp) {
                    let tmp = self.state_dir().join("tmp").join(tmp);
                    let tmp_meta = fs::symlink_metadata(&tmp).ok();
                    let ticket = self.state(id).and_then(|st| self.metadata(id, st).ok());
                    // The ticket is ours when the temp file is gone (renamed into
                    // place) or is a second link to it (killed between link and unlink).
                    let linked = match (&tmp_meta, &ticket) {
                        (None, Some(_)) => true,
                        (Some(t), Some(n)) => t.ino() == n.ino() && t.dev() == n.dev(),
                        _ => false,
                    };
                    if linked {
                        if !key.is_empty() && !self.tickets_of(key).contains(&id) {
                            self.index_add(key, id)?;
                        }
                        done.push(format!("new ticket {id} was not indexed; indexed it"));
                    } else {
                        done.push(format!("new ticket {id} was never linked in; dropped it"));
                    }
                }
                match fs::remove_file(&record) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ctx(record.display(), e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ctx(record.display(), e)),
        }
        let tmp_dir = self.state_dir().join("tmp");
        if let Ok(rd) = fs::read_dir(&tmp_dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                // Hitching posts and secrets in the making name their writer's pid.
                let dead_writer = ["lock.", "secret."].iter().any(|p| {
                    name.strip_prefix(p)
                        .and_then(|pid| pid.parse::<i32>().ok())
                        .is_some_and(|pid| pid > 0 && !process_alive(pid))
                });
                if dead_writer {
                    let _ = fs::remove_file(e.path());
                    done.push(format!("removed leftover .mailtix/tmp/{name}"));
                } else if name.starts_with("new.") {
                    let twin = e.metadata().is_ok_and(|m| m.nlink() > 1);
                    fs::remove_file(e.path()).map_err(|err| ctx(e.path().display(), err))?;
                    done.push(if twin {
                        format!("removed .mailtix/tmp/{name}, a second link to a new ticket")
                    } else {
                        format!("removed leftover .mailtix/tmp/{name}")
                    });
                }
            }
        }
        Ok(done)
    }

    /// Makes the id counter at least one past the highest ticket present (for
    /// `reindex`, after tickets were restored by hand). Run inside
    /// `with_new_ticket_lock`. Returns the next id.
    pub fn rebuild_counter(&self) -> io::Result<u32> {
        let counter = self.counter_path();
        let current = read_text_nofollow(&counter)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let next = current.max(self.max_id().saturating_add(1));
        write_replace(&counter, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// The highest ticket id present in the store.
    pub fn max_id(&self) -> u32 {
        self.ids(State::Open)
            .into_iter()
            .chain(self.ids(State::Closed))
            .max()
            .unwrap_or(0)
    }

    /// Creates a new ticket holding `entry`, indexed under `key`, and returns its id.
    /// Must run inside `with_new_ticket_lock`. The file appears whole or not at all: it
    /// is written and fsync'd under `.mailtix/tmp/`, then renamed into place with
    /// `RENAME_NOREPLACE` (never replacing a file, never leaving a second link), and
    /// the directory is fsync'd. Before the rename, `pending/new` records the id, the
    /// temp file and the key, so that if we are killed between the rename and the
    /// index entry the next holder of the lock indexes the key, and Exim's retry finds
    /// the ticket instead of opening a second one. The key is never indexed before the
    /// ticket exists: a dead writer's id may go to another message, and the retry
    /// would then be taken for a duplicate of it.
    pub fn create_ticket(&self, entry: &dyn EntryBytes, key: &str) -> io::Result<u32> {
        let counter = self.counter_path();
        let mut next = match read_text_nofollow(&counter) {
            Ok(s) => s.trim().parse::<u32>().unwrap_or(0).max(1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.max_id().saturating_add(1),
            Err(e) => return Err(ctx(counter.display(), e)),
        };
        let tmp_name = format!("new.{}", std::process::id());
        let tmp = self.state_dir().join("tmp").join(&tmp_name);
        let _ = fs::remove_file(&tmp);
        {
            let mut f = open_private(&tmp, OpenOptions::new().write(true).create_new(true))?;
            let written = (|| {
                let mut w = io::BufWriter::with_capacity(64 * 1024, &mut f);
                entry.write_to(&mut w)?;
                w.flush()?;
                drop(w);
                f.sync_all()
            })();
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(ctx("writing a new ticket", e));
            }
        }
        let record = self.pending_new_path();
        let undo = |e: io::Error| {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&record);
            e
        };
        let id = loop {
            if next == u32::MAX {
                return Err(undo(io::Error::other("ticket ids are exhausted")));
            }
            if self.state(next).is_some() {
                next += 1;
                continue;
            }
            write_synced(
                &record,
                format!("{next} {tmp_name} {}\n", index_key(key)).as_bytes(),
            )
            .map_err(undo)?;
            match link_into_place(&tmp, &self.path(next, State::Open)) {
                Ok(()) => break next,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(undo(ctx(self.root.display(), e))),
            }
        };
        if let Err(e) = sync_dir(&self.root) {
            // Not known to be durable: undo, so that the retry finds the store as it was.
            let _ = fs::remove_file(self.path(id, State::Open));
            let _ = fs::remove_file(&record);
            return Err(e);
        }
        // Past the commit point: an index failure is logged (the pending record stays,
        // so the next new ticket or `check` indexes it) and never becomes a retry.
        match self.index_add(key, id) {
            Ok(()) => {
                let _ = fs::remove_file(&record);
            }
            Err(e) => {
                let _ = self.log(&format!("index: {e}"));
            }
        }
        // The counter is a hint (existing files are skipped), so failing to write it
        // must not fail a delivery that is already on disk.
        let _ = write_replace(&counter, format!("{}\n", id + 1).as_bytes());
        Ok(id)
    }

    // ---------------------------------------------------------------- reading

    /// The ids of the tickets in one state, unsorted.
    pub fn ids(&self, state: State) -> Vec<u32> {
        let dir = match state {
            State::Open => self.root.clone(),
            State::Closed => self.root.join("archived"),
        };
        let Ok(rd) = fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(crate::address::parse_id))
            .collect()
    }

    /// The bytes of ticket `id` (not following symlinks).
    pub fn read(&self, id: u32, state: State) -> io::Result<Vec<u8>> {
        let path = self.path(id, state);
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| ctx(path.display(), e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Metadata of ticket `id` without following symlinks.
    pub fn metadata(&self, id: u32, state: State) -> io::Result<fs::Metadata> {
        fs::symlink_metadata(self.path(id, state))
    }

    /// Dotlocks and leftovers that `check` reports: (path, age).
    pub fn leftovers(&self) -> Vec<(PathBuf, Duration)> {
        let mut out = Vec::new();
        for dir in [
            self.root.clone(),
            self.root.join("archived"),
            self.state_dir().join("pending"),
            self.state_dir().join("tmp"),
        ] {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let is_pending = dir.ends_with("pending") || dir.ends_with("tmp");
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_pending || name.ends_with(".lock") {
                    let age = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .map(age)
                        .unwrap_or_default();
                    out.push((e.path(), age));
                }
            }
        }
        out
    }

    /// The key for close tokens, created from the system's random source when missing.
    pub fn secret(&self) -> io::Result<Vec<u8>> {
        let path = self.state_dir().join("secret");
        match read_nofollow(&path) {
            Ok(s) if s.len() >= 16 => return Ok(s),
            Ok(_) => return Err(io::Error::other(format!("{} is too short", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ctx(path.display(), e)),
        }
        let mut key = [0u8; 32];
        File::open("/dev/urandom")?.read_exact(&mut key)?;
        // Written whole under tmp/ and then put in place without replacing: a writer
        // killed halfway must not leave a short secret that fails every later delivery.
        let tmp = self
            .state_dir()
            .join("tmp")
            .join(format!("secret.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let made = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
                .map_err(|e| ctx(tmp.display(), e))?;
            f.write_all(&key)?;
            f.sync_all()?;
            link_into_place(&tmp, &path)
        })();
        let _ = fs::remove_file(&tmp);
        match made {
            Ok(()) => {
                sync_dir(&self.state_dir())?;
                Ok(key.to_vec())
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_nofollow(&path),
            Err(e) => Err(ctx(path.display(), e)),
        }
    }
    fn append_line(&self, name: &str, line: &str) -> io::Result<()> {
        append_to(&self.state_dir().join(name), &format!("{line}\n"))
    }

    /// The first `max` bytes of ticket `id`: enough for its first message's headers.
    ///
    /// The read leaves the file's access time as it was: mutt tells a folder with new
    /// mail by a modification after the last read, and deliver reads a ticket's start
    /// (its queue, its requester) around the append it makes.
    pub fn read_head(&self, id: u32, state: State, max: u64) -> io::Result<Vec<u8>> {
        let path = self.path(id, state);
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| ctx(path.display(), e))?;
        let atime = f.metadata().and_then(|m| m.accessed()).ok();
        let mut buf = Vec::new();
        (&f).take(max).read_to_end(&mut buf)?;
        if let Some(a) = atime {
            let _ = f.set_times(fs::FileTimes::new().set_accessed(a));
        }
        Ok(buf)
    }

    /// How long ago ticket `id` was last written.
    pub fn idle_for(&self, id: u32, state: State) -> Option<Duration> {
        self.metadata(id, state).ok()?.modified().ok().map(age)
    }

    /// Every ticket id in one state with its file stamp, from one directory pass
    /// (DirEntry::metadata stats relative to the open directory, without following
    /// symlinks, which is much cheaper than a path lookup per ticket).
    pub fn stamps(&self, state: State) -> Vec<(u32, Option<(u64, u128)>)> {
        self.each_ticket_file(state, |m| {
            let t = m
                .modified()
                .ok()?
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?;
            Some((m.len(), t.as_nanos()))
        })
    }

    /// `f` of the metadata of each ticket file of `state` (`None` when it cannot be
    /// read), from one directory pass; the stats are split over two threads, as they
    /// are the bulk of `list` and of a warm `search` on a large store. Symlinks are
    /// given as they are (not followed): `f` sees their own metadata.
    pub fn each_ticket_file<T: Send>(
        &self,
        state: State,
        f: impl Fn(&fs::Metadata) -> Option<T> + Sync,
    ) -> Vec<(u32, Option<T>)> {
        let Ok(rd) = fs::read_dir(self.dir_of(state)) else {
            return Vec::new();
        };
        let entries: Vec<(u32, fs::DirEntry)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                Some((
                    e.file_name().to_str().and_then(crate::address::parse_id)?,
                    e,
                ))
            })
            .collect();
        let one = |part: &[(u32, fs::DirEntry)]| -> Vec<(u32, Option<T>)> {
            part.iter()
                .map(|(id, e)| (*id, e.metadata().ok().and_then(|m| f(&m))))
                .collect()
        };
        on_two_threads(&entries, 4096, one)
    }

    /// The directory of the tickets of `state`.
    fn dir_of(&self, state: State) -> PathBuf {
        match state {
            State::Open => self.root.clone(),
            State::Closed => self.root.join("archived"),
        }
    }

    /// Tickets with an append-in-progress record (left by a crash).
    pub fn pending_ids(&self) -> Vec<u32> {
        let Ok(rd) = fs::read_dir(self.state_dir().join("pending")) else {
            return Vec::new();
        };
        // `N`, or `N.tmpPID` when the writer was killed while writing the record.
        let mut ids: Vec<u32> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                crate::address::parse_id(name.split_once(".tmp").map_or(&name, |(n, _)| n))
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn pending_path(&self, id: u32) -> PathBuf {
        self.state_dir().join("pending").join(id.to_string())
    }
}

/// The directories of a store, under its root, in the order `init` makes them.
pub const STORE_DIRS: [&str; 7] = [
    "archived",
    ".mailtix",
    ".mailtix/index",
    ".mailtix/pending",
    ".mailtix/tmp",
    ".mailtix/acks.d",
    ".mailtix/bounces.d",
];

/// Why `p` cannot be one of the store's directories: missing, a symlink, not a
/// directory, or writable by anyone.
fn dir_problem(p: &Path) -> Option<String> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("{}: {e}", p.display())),
        Ok(m) if m.file_type().is_symlink() => Some(format!(
            "{} is a symlink; refusing to use it (make it a directory)",
            p.display()
        )),
        Ok(m) if !m.is_dir() => Some(format!("{} is not a directory", p.display())),
        Ok(m) if m.mode() & 0o002 != 0 => Some(format!(
            "{} is world-writable; run chmod o-w on it",
            p.display()
        )),
        Ok(_) => None,
    }
}

/// Reads a file of the store without following a symlink in its last component.
fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

fn read_text_nofollow(path: &Path) -> io::Result<String> {
    String::from_utf8(read_nofollow(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// How old a file time is. Lock staleness compares file mtimes with the wall clock,
/// so this is the one place outside `main` that reads it.
#[allow(clippy::disallowed_methods)]
fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// `work` over `items`, split in two halves on two threads when there are at least
/// `min` of them (the machines mailtix runs on have two cores or more); the results in
/// the order of `items`.
pub(crate) fn on_two_threads<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    work: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    if items.len() < min {
        return work(items);
    }
    let (a, b) = items.split_at(items.len() / 2);
    std::thread::scope(|sc| {
        let first = sc.spawn(|| work(a));
        let mut second = work(b);
        let mut out = first.join().unwrap_or_default();
        out.append(&mut second);
        out
    })
}

/// Opens a file of the store with mailtix's mode, never through a symlink; an error
/// names the path.
fn open_private(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    opts.mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| ctx(path.display(), e))
}

/// Appends text to a state file in one write (O_APPEND keeps concurrent writers'
/// lines whole), creating it when missing and never through a symlink.
fn append_to(path: &Path, text: &str) -> io::Result<()> {
    let mut f = open_private(path, OpenOptions::new().append(true).create(true))?;
    f.write_all(text.as_bytes())
}

/// Replaces a small file atomically (temp file and rename), without fsync: used for
/// state that can be rebuilt.
fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut f = open_private(
            &tmp,
            OpenOptions::new().write(true).create(true).truncate(true),
        )?;
        f.write_all(data)?;
        fs::rename(&tmp, path).map_err(|e| ctx(path.display(), e))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Writes a small record and fsyncs it (and its directory) before returning.
fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = open_private(
        path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    f.write_all(data)?;
    f.sync_all()?;
    match path.parent() {
        Some(d) => sync_dir(d),
        None => Ok(()),
    }
}

/// Puts `tmp` at `to` without ever replacing a file at `to`: `renameat2` with
/// `RENAME_NOREPLACE`, so there is never a moment with two links. Where the kernel or
/// filesystem lacks it (EINVAL, ENOSYS), a hard link and an unlink: a kill between
/// the two leaves a second link, which the next lock and `check` remove.
#[allow(unsafe_code)]
fn link_into_place(tmp: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::other(format!("{} contains a NUL byte", p.display())))
    };
    let (from_c, to_c) = (c(tmp)?, c(to)?);
    // SAFETY: both pointers come from CStrings that live until the call returns, and
    // AT_FDCWD makes the kernel resolve them as ordinary paths. renameat2 reads only
    // the two strings.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            fs::hard_link(tmp, to)?;
            let _ = fs::remove_file(tmp);
            Ok(())
        }
        _ => Err(e),
    }
}

/// Sets the process umask so nothing mailtix creates is world-accessible, whatever the
/// caller's umask was.
#[allow(unsafe_code)]
pub fn restrict_umask() {
    // SAFETY: umask(2) cannot fail and touches only process state.
    unsafe {
        libc::umask(0o007);
    }
}

/// Ignores SIGXFSZ. Under a file-size limit (`ulimit -f`, an MTA's rlimit) its default
/// action kills the process mid-write, which Exim sees as a signal and freezes the
/// message, and the temp file stays behind. Ignored, the write fails with EFBIG, the
/// append is undone, and deliver exits 75.
#[allow(unsafe_code)]
pub fn ignore_sigxfsz() {
    // SAFETY: signal(2) with SIG_IGN installs no handler code; it changes only the
    // process's disposition for one signal.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Permissions of a path, for `check`.
pub fn mode_of(p: &Path) -> io::Result<u32> {
    Ok(fs::symlink_metadata(p)?.permissions().mode())
}

#[cfg(test)]
mod tests {
    use super::lock::pending_record;
    use super::*;

    fn policy() -> LockPolicy {
        LockPolicy {
            timeout: Duration::from_millis(300),
            stale: Duration::from_secs(300),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("t"));
        s.init().unwrap();
        (dir, s)
    }

    #[test]
    fn ack_caps_count_the_mailbox_without_its_tag_and_the_hour() {
        let (_d, s) = store();
        s.init().unwrap();
        assert_eq!(ack_mailbox("Victim+1@Example.COM"), "victim@example.com");
        assert_eq!(ack_mailbox("victim@example.com"), "victim@example.com");
        assert_eq!(ack_mailbox("a+b+c@x"), "a@x");
        let t = 1_800_000_600;
        let take = |a: &str, now: i64| s.take_ack(a, now, 2, 5).unwrap();
        assert_eq!(take("victim+1@x.com", t), AckGrant::Taken);
        assert_eq!(take("VICTIM+2@x.com", t + 1), AckGrant::Taken);
        assert_eq!(take("victim+3@x.com", t + 2), AckGrant::AddressFull(2));
        assert_eq!(take("victim@x.com", t + 3), AckGrant::AddressFull(2));
        // a refusal for the address does not use up the hour
        assert_eq!(take("b@x.com", t + 4), AckGrant::Taken);
        assert_eq!(take("c@x.com", t + 5), AckGrant::Taken);
        assert_eq!(take("d@x.com", t + 6), AckGrant::Taken);
        assert_eq!(take("e@x.com", t + 7), AckGrant::HourFull(5));
        // the next clock hour starts afresh; the address window is the last hour
        let next = (t / 3600 + 1) * 3600;
        assert_eq!(take("e@x.com", next), AckGrant::Taken);
        assert_eq!(take("victim+4@x.com", next), AckGrant::AddressFull(2));
        assert_eq!(take("victim+4@x.com", t + 3601), AckGrant::Taken);
        // the records live in one small shard per mailbox hash
        let shards = fs::read_dir(s.root().join(".mailtix/acks.d"))
            .unwrap()
            .count();
        assert!((1..=6).contains(&shards), "{shards}");
        assert!(!s.root().join(".mailtix/acks").exists());
    }

    #[test]
    fn ids_go_up_and_skip_existing_files() {
        let (_d, s) = store();
        let a = s
            .with_new_ticket_lock(|| s.create_ticket(&b"From a x\nA: 1\n\n".to_vec(), "k1@x"))
            .unwrap();
        assert_eq!(a, 1);
        fs::write(s.path(2, State::Closed), b"").unwrap();
        let b = s
            .with_new_ticket_lock(|| s.create_ticket(&b"From a x\nA: 2\n\n".to_vec(), "k2@x"))
            .unwrap();
        assert_eq!(b, 3);
        fs::remove_file(s.counter_path()).unwrap();
        let c = s
            .with_new_ticket_lock(|| s.create_ticket(&b"From a x\nA: 3\n\n".to_vec(), "k3@x"))
            .unwrap();
        assert_eq!(c, 4, "a lost counter is rebuilt from the files");
        assert!(
            fs::read_dir(s.root.join(".mailtix/tmp"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn a_new_ticket_left_by_a_killed_writer_is_finished_or_undone() {
        let (_d, s) = store();
        let tmp = s.root.join(".mailtix/tmp");
        // Killed after the rename, before the index entry: the key is indexed.
        fs::write(s.path(1, State::Open), b"From a x\nA: 1\n\n").unwrap();
        fs::write(s.pending_new_path(), "1 new.99999999 done@x\n").unwrap();
        s.with_new_ticket_lock(|| Ok(())).unwrap();
        assert_eq!(s.tickets_of("done@x"), vec![1]);
        assert!(!s.pending_new_path().exists());
        // Killed before the rename: the temp file goes, the id is free, nothing indexed.
        fs::write(tmp.join("new.99999999"), b"From a x\nA: 2\n\n").unwrap();
        fs::write(s.pending_new_path(), "2 new.99999999 undone@x\n").unwrap();
        let id = s
            .with_new_ticket_lock(|| s.create_ticket(&b"From a x\nA: 3\n\n".to_vec(), "k@x"))
            .unwrap();
        assert_eq!(id, 2);
        assert!(s.tickets_of("undone@x").is_empty());
        assert_eq!(
            fs::read(s.path(2, State::Open)).unwrap(),
            b"From a x\nA: 3\n\n"
        );
        assert!(fs::read_dir(&tmp).unwrap().next().is_none());
        assert!(!s.pending_new_path().exists());
        // Killed between the hard link and the unlink (filesystems without renameat2).
        fs::hard_link(s.path(2, State::Open), tmp.join("new.99999998")).unwrap();
        fs::write(tmp.join("new.99999997"), b"orphan").unwrap();
        let l = s.lock(2, policy()).unwrap().unwrap();
        assert_eq!(l.file.metadata().unwrap().nlink(), 1);
        drop(l);
        s.repair_new_tickets().unwrap();
        assert!(
            fs::read_dir(&tmp).unwrap().next().is_none(),
            "dead writers' files go"
        );
    }

    #[test]
    fn a_new_ticket_never_has_a_second_link() {
        let (_d, s) = store();
        s.with_new_ticket_lock(|| s.create_ticket(&b"From a x\nA: 1\n\n".to_vec(), "k@x"))
            .unwrap();
        assert_eq!(s.metadata(1, State::Open).unwrap().nlink(), 1);
        assert_eq!(s.tickets_of("k@x"), vec![1]);
        assert!(!s.pending_new_path().exists());
    }

    #[test]
    fn a_ticket_being_closed_and_reopened_is_never_missing() {
        let (_d, s) = store();
        fs::write(s.path(1, State::Open), b"From a x\nA: 1\n\n").unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let missing = std::thread::scope(|sc| {
            sc.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for to in [State::Closed, State::Open] {
                        s.lock(1, policy()).unwrap().unwrap().move_to(to).unwrap();
                    }
                }
            });
            let missing = (0..200_000).filter(|_| s.state(1).is_none()).count();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            missing
        });
        assert_eq!(missing, 0, "state() said a moving ticket does not exist");
        assert_eq!(s.state(2), None);
    }

    #[test]
    fn a_batch_lookup_agrees_with_one_at_a_time() {
        let (_d, s) = store();
        for id in 1..=3 {
            fs::write(s.path(id, State::Open), b"").unwrap();
        }
        let mids: Vec<String> = (0..2000).map(|i| format!("m{i}@x")).collect();
        for (i, m) in mids.iter().enumerate() {
            if i % 3 != 0 {
                // ticket 9 does not exist: the next entry must be taken
                s.index_add(m, if i % 7 == 0 { 9 } else { 1 }).unwrap();
                s.index_add(m, (i % 3) as u32 + 1).unwrap();
            }
        }
        s.index_add("c\td@e", 2).unwrap();
        let mut asked: Vec<&str> = mids.iter().map(String::as_str).collect();
        asked.push("c\td@e");
        asked.push("m5@x");
        let batch = Lookup::tickets_of_batch(&s, &asked);
        let single: Vec<Option<u32>> = asked.iter().map(|m| Lookup::ticket_of(&s, m)).collect();
        assert_eq!(batch, single);
        assert_eq!(batch.iter().filter(|f| f.is_some()).count(), 1333 + 2);
    }

    #[test]
    fn index_finds_what_was_added() {
        let (_d, s) = store();
        s.index_add("a@b", 1).unwrap();
        s.index_add("a@b", 3).unwrap();
        s.index_add("c\td@e", 2).unwrap();
        assert_eq!(s.tickets_of("a@b"), vec![1, 3]);
        assert_eq!(s.tickets_of("c\td@e"), vec![2]);
        assert!(s.tickets_of("a@").is_empty());
    }

    #[test]
    fn append_fixes_a_missing_blank_line_and_indexes() {
        let (_d, s) = store();
        fs::write(s.path(1, State::Open), b"From a x\nA: 1\n\nbody").unwrap();
        let mut l = s.lock(1, policy()).unwrap().unwrap();
        assert!(s.path(1, State::Open).with_file_name("1.lock").exists());
        l.append(&b"From b y\nA: 2\n\n".to_vec(), "m@x").unwrap();
        assert!(l.holds("m@x"));
        drop(l);
        assert!(!s.root.join("1.lock").exists());
        assert_eq!(
            fs::read(s.path(1, State::Open)).unwrap(),
            b"From a x\nA: 1\n\nbody\n\nFrom b y\nA: 2\n\n"
        );
    }

    #[test]
    fn a_held_dotlock_times_out_and_a_stale_one_is_broken() {
        let (_d, s) = store();
        fs::write(s.path(1, State::Open), b"").unwrap();
        fs::write(s.root.join("1.lock"), b"").unwrap();
        let err = s.lock(1, policy()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let stale = LockPolicy {
            stale: Duration::from_millis(0),
            ..policy()
        };
        std::thread::sleep(Duration::from_millis(10));
        assert!(s.lock(1, stale).unwrap().is_some());
    }

    #[test]
    fn symlinks_and_hard_links_are_refused() {
        let (d, s) = store();
        let target = d.path().join("target");
        fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, s.path(1, State::Open)).unwrap();
        assert!(s.lock(1, policy()).is_err());
        fs::hard_link(&target, s.path(2, State::Open)).unwrap();
        assert!(s.lock(2, policy()).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn move_follows_the_ticket() {
        let (_d, s) = store();
        fs::write(s.path(1, State::Open), b"From a x\nA: 1\n\n").unwrap();
        let mut l = s.lock(1, policy()).unwrap().unwrap();
        l.move_to(State::Closed).unwrap();
        drop(l);
        assert_eq!(s.state(1), Some(State::Closed));
        let l = s.lock(1, policy()).unwrap().unwrap();
        assert_eq!(l.state(), State::Closed);
        assert!(s.lock(9, policy()).unwrap().is_none());
    }

    #[test]
    fn a_torn_append_is_truncated_and_a_complete_one_kept() {
        let (_d, s) = store();
        let first = b"From a x\nA: 1\n\n";
        fs::write(
            s.path(1, State::Open),
            [&first[..], b"From b y\nA: tor"].concat(),
        )
        .unwrap();
        fs::write(
            s.pending_path(1),
            pending_record(first.len() as u64, 30, "torn@x"),
        )
        .unwrap();
        drop(s.lock(1, policy()).unwrap().unwrap());
        assert_eq!(fs::read(s.path(1, State::Open)).unwrap(), first);
        assert!(s.tickets_of("torn@x").is_empty());

        let second = b"From b y\nA: 2\n\n";
        fs::write(s.path(1, State::Open), [&first[..], &second[..]].concat()).unwrap();
        fs::write(
            s.pending_path(1),
            pending_record(first.len() as u64, second.len() as u64, "whole@x"),
        )
        .unwrap();
        drop(s.lock(1, policy()).unwrap().unwrap());
        assert_eq!(s.tickets_of("whole@x"), vec![1]);
        assert!(!s.pending_path(1).exists());
    }
}
