//! Ticket locks (fcntl + dotlock, as mutt takes them), and the locked ticket: append
//! with crash repair, move between open and archived.

use super::*;

impl Store {
    // ---------------------------------------------------------------- locking

    /// Locks ticket `id` for writing, wherever it is now. Follows the ticket if it is
    /// moved while we wait. `Ok(None)`: the ticket does not exist.
    pub fn lock(&self, id: u32, policy: LockPolicy) -> io::Result<Option<Locked>> {
        let deadline = Instant::now() + policy.timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let Some(state) = self.state(id) else {
                return Ok(None);
            };
            let path = self.path(id, state);
            let post = self
                .state_dir()
                .join("tmp")
                .join(format!("lock.{}", std::process::id()));
            match try_lock(&path, policy.stale, &post)? {
                Attempt::Locked(file, dotlock) => {
                    let mut l = Locked {
                        file,
                        dotlock,
                        path,
                        id,
                        state,
                        store: self.clone(),
                    };
                    l.repair()?;
                    return Ok(Some(l));
                }
                Attempt::Moved => continue,
                Attempt::Busy(who) => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "ticket {id} is locked ({who}) for more than {}s",
                                policy.timeout.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }
}

enum Attempt {
    Locked(File, PathBuf),
    Busy(&'static str),
    Moved,
}

/// Sets or clears a whole-file fcntl write lock without blocking. `Ok(false)`: held by
/// someone else.
#[allow(unsafe_code)]
fn fcntl_lock(file: &File, lock: bool) -> io::Result<bool> {
    let fl = libc::flock {
        l_type: if lock { libc::F_WRLCK } else { libc::F_UNLCK } as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: `flock` is plain old data, fully initialised above, and fcntl(F_SETLK)
    // only reads it. The fd is valid for the lifetime of `file`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// True when process `pid` exists (signal 0 checks without sending anything).
#[allow(unsafe_code)]
pub(super) fn process_alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub(super) fn dotlock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Creates the dotlock the NFS-safe way (as Exim, mutt_dotlock and liblockfile do):
/// write our pid into a private file, then hard-link it to `N.lock`. The lock thus
/// always names its owner, even if we are killed a moment after making it, so the
/// next writer can tell a dead owner's lock from a live one.
fn make_dotlock(dot: &Path, hitching_post: &Path) -> io::Result<()> {
    let _ = fs::remove_file(hitching_post);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(hitching_post)
            .map_err(|e| ctx(hitching_post.display(), e))?;
        f.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    }
    let linked = fs::hard_link(hitching_post, dot);
    let _ = fs::remove_file(hitching_post);
    linked
}

/// A new ticket made with a hard link whose writer was killed before the unlink has a
/// second name, `.mailtix/tmp/new.PID`. That name is ours, not someone's hard link:
/// remove it. True when one was removed.
pub(super) fn remove_tmp_twin(tmp_dir: &Path, ticket: &fs::Metadata) -> bool {
    let Ok(rd) = fs::read_dir(tmp_dir) else {
        return false;
    };
    let mut removed = false;
    for e in rd.filter_map(|e| e.ok()) {
        let is_new = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("new."));
        if is_new
            && let Ok(m) = fs::symlink_metadata(e.path())
            && m.ino() == ticket.ino()
            && m.dev() == ticket.dev()
            && fs::remove_file(e.path()).is_ok()
        {
            removed = true;
        }
    }
    removed
}

/// One non-blocking try at fcntl lock + dotlock on `path`.
fn try_lock(path: &Path, stale: Duration, hitching_post: &Path) -> io::Result<Attempt> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Attempt::Moved),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(io::Error::other(format!(
                "{} is a symlink; refusing to write through it",
                path.display()
            )));
        }
        Err(e) => return Err(ctx(path.display(), e)),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.nlink() == 2
        && let Some(tmp_dir) = hitching_post.parent()
        && remove_tmp_twin(tmp_dir, &meta)
    {
        drop(file);
        return Ok(Attempt::Moved); // look again, now with one link
    }
    if meta.nlink() != 1 {
        return Err(io::Error::other(format!(
            "{} has {} hard links; refusing to write it",
            path.display(),
            meta.nlink()
        )));
    }
    if !fcntl_lock(&file, true)? {
        return Ok(Attempt::Busy("fcntl lock held"));
    }
    let dot = dotlock_path(path);
    match make_dotlock(&dot, hitching_post) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let age = fs::symlink_metadata(&dot)
                .and_then(|m| m.modified())
                .ok()
                .map(age);
            // We hold the fcntl lock, so no live mailtix or mutt is writing. A dotlock
            // that names a process that no longer exists (a writer killed with -9) or
            // that is older than the stale limit is left over: remove it.
            let dead_owner = read_text_nofollow(&dot)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .is_some_and(|pid| pid > 0 && !process_alive(pid));
            if dead_owner || age.is_some_and(|a| a > stale) {
                let _ = fs::remove_file(&dot);
                drop(file);
                return Ok(Attempt::Moved); // try again at once
            }
            drop(file); // releases the fcntl lock too
            return Ok(Attempt::Busy("dotlock present"));
        }
        Err(e) => return Err(ctx(dot.display(), e)),
    }
    // The file may have been renamed (closed or reopened) between our open and lock.
    let same = fs::symlink_metadata(path)
        .map(|m| m.ino() == meta.ino() && m.dev() == meta.dev())
        .unwrap_or(false);
    if !same {
        let _ = fs::remove_file(&dot);
        return Ok(Attempt::Moved);
    }
    Ok(Attempt::Locked(file, dot))
}

/// A ticket file held under both locks. Dropping it releases them.
pub struct Locked {
    pub(super) file: File,
    dotlock: PathBuf,
    path: PathBuf,
    id: u32,
    state: State,
    store: Store,
}

/// The append-in-progress record: where the append started, how long it is, and the
/// Message-ID it files.
pub(super) fn pending_record(offset: u64, len: u64, mid: &str) -> String {
    format!("{offset} {len} {}\n", index_key(mid))
}

impl Locked {
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the index says this ticket already holds this Message-ID.
    pub fn holds(&self, mid: &str) -> bool {
        self.store.tickets_of(mid).contains(&self.id)
    }

    /// Finishes or undoes an append that a crashed mailtix left: a complete one is kept
    /// (and indexed), a torn one is truncated away.
    fn repair(&mut self) -> io::Result<()> {
        // Half-written records of writers that died: we hold the lock they needed.
        let prefix = format!("{}.tmp", self.id);
        if let Ok(rd) = fs::read_dir(self.store.state_dir().join("pending")) {
            for e in rd.filter_map(|e| e.ok()) {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let p = self.store.pending_path(self.id);
        let Ok(text) = read_text_nofollow(&p) else {
            return Ok(());
        };
        let mut parts = text.trim_end_matches('\n').splitn(3, ' ');
        let offset = parts.next().and_then(|s| s.parse::<u64>().ok());
        let len = parts.next().and_then(|s| s.parse::<u64>().ok());
        let mid = parts.next().unwrap_or("");
        if let (Some(offset), Some(len)) = (offset, len) {
            let size = self.file.metadata()?.len();
            if size == offset + len {
                if !mid.is_empty() && !self.holds(mid) {
                    self.store.index_add(mid, self.id)?;
                }
            } else if size > offset && size < offset + len {
                self.file.set_len(offset)?;
                self.file.sync_all()?;
            }
        }
        fs::remove_file(&p).map_err(|e| ctx(p.display(), e))
    }

    /// Appends an mbox entry the way qmail-local does: seek to the end, remember the
    /// position, write, fsync; on any error truncate back and fail. A file whose last
    /// message lacks its closing empty line gets it first, so the new From_ line is
    /// always a separator. The access time is restored so mutt still sees new mail.
    pub fn append(&mut self, entry: &dyn EntryBytes, mid: &str) -> io::Result<()> {
        let meta = self.file.metadata()?;
        let start = meta.len();
        let atime = meta.accessed().ok();
        let mut tail = [0u8; 2];
        let fix: &[u8] = if start == 0 {
            b""
        } else {
            let n = start.min(2);
            self.file.seek(SeekFrom::Start(start - n))?;
            self.file.read_exact(&mut tail[..n as usize])?;
            match (n, tail) {
                (2, [b'\n', b'\n']) => b"",
                (1, [b'\n', _]) => b"",
                (_, [_, b'\n']) => b"\n",
                _ => b"\n\n",
            }
        };
        let total = fix.len() as u64 + entry.len();
        let pending = self.store.pending_path(self.id);
        write_replace(&pending, pending_record(start, total, mid).as_bytes())?;
        let result = (|| {
            self.file.seek(SeekFrom::Start(start))?;
            let mut w = io::BufWriter::with_capacity(64 * 1024, &self.file);
            w.write_all(fix)?;
            entry.write_to(&mut w)?;
            w.flush()?;
            drop(w);
            self.file.sync_data()
        })();
        if let Err(e) = result {
            let undo = self.file.set_len(start).and_then(|()| self.file.sync_all());
            let _ = fs::remove_file(&pending);
            return Err(match undo {
                Ok(()) => e,
                Err(u) => io::Error::other(format!("{e}; truncating back also failed: {u}")),
            });
        }
        if let Some(a) = atime {
            let _ = self.file.set_times(fs::FileTimes::new().set_accessed(a));
        }
        // Past the commit point: the message is on disk. An index failure must not
        // turn into a retry (that would store the message twice); it is logged, and
        // `mailtix reindex` rebuilds the index.
        if !mid.is_empty()
            && let Err(e) = self.store.index_add(mid, self.id)
        {
            let _ = self
                .store
                .log(&format!("ticket {}: index not updated: {e}", self.id));
        }
        let _ = fs::remove_file(&pending);
        Ok(())
    }

    /// Moves the ticket to `state` with one rename, while still holding the locks,
    /// and fsyncs both directories.
    pub fn move_to(&mut self, state: State) -> io::Result<()> {
        if state == self.state {
            return Ok(());
        }
        let to = self.store.path(self.id, state);
        if fs::symlink_metadata(&to).is_ok() {
            return Err(io::Error::other(format!(
                "{} already exists; refusing to overwrite it",
                to.display()
            )));
        }
        {
            let _moves = self.store.move_lock(true)?;
            fs::rename(&self.path, &to).map_err(|e| ctx(to.display(), e))?;
        }
        let from_dir = self.path.parent().map(Path::to_path_buf);
        self.path = to;
        self.state = state;
        if let Some(d) = from_dir {
            sync_dir(&d)?;
        }
        if let Some(d) = self.path.parent() {
            sync_dir(d)?;
        }
        Ok(())
    }

    /// The whole file, read under the lock.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.dotlock);
        let _ = fcntl_lock(&self.file, false);
    }
}
