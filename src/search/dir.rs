//! The index's directory: tantivy's `MmapDirectory` without its fsyncs.
//!
//! A tantivy commit fsyncs every new segment file, rewrites `.managed.json` with an
//! fsync for each file it creates, and fsyncs the directory: about 15 fsyncs, most of
//! the 150 ms a one-message catch-up may take. The index is derived data, so it need not
//! survive a power cut, only never give a wrong answer after one. A process crash loses
//! nothing that reached the page cache, so only a machine restart can leave it torn:
//! [`BootCheck`] records the kernel's boot id beside the index, and an index written
//! under another boot is thrown away and built again (the first search after a restart
//! pays for it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// `MmapDirectory`, with writes that are not fsynced.
#[derive(Clone, Debug)]
pub(super) struct Unsynced {
    inner: MmapDirectory,
    root: PathBuf,
}

impl Unsynced {
    pub(super) fn open(root: &Path) -> io::Result<Unsynced> {
        let inner = MmapDirectory::open(root).map_err(io::Error::other)?;
        Ok(Unsynced {
            inner,
            root: root.to_path_buf(),
        })
    }
}

struct Plain(File);

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for Plain {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for Unsynced {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> Result<std::sync::Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        // group-writable, as the store is: everyone in the store's group searches
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o660)
            .open(self.root.join(path))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_path_buf())
                } else {
                    OpenWriteError::wrap_io_error(e, path.to_path_buf())
                }
            })?;
        Ok(BufWriter::new(Box::new(Plain(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    /// A temp file renamed over the old one: readers see the old or the new contents.
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let target = self.root.join(path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = self.root.join(format!(".{name}.tmp{}", std::process::id()));
        let r = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o660)
            .open(&tmp)
            .and_then(|mut f| f.write_all(data))
            .and_then(|()| fs::rename(&tmp, &target));
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, cb: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(cb)
    }
}

/// The boot the index was written under (see the module doc).
pub(super) struct BootCheck;

impl BootCheck {
    fn current() -> String {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// True when the index in `dir` was last written under this boot.
    pub(super) fn same_boot(dir: &Path) -> bool {
        let now = Self::current();
        fs::read_to_string(dir.join("boot")).is_ok_and(|b| b.trim() == now)
    }

    /// Records this boot, durably (it is written once per boot, so its fsync is cheap).
    pub(super) fn record(dir: &Path) -> io::Result<()> {
        let tmp = dir.join("boot.tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o660)
            .open(&tmp)?;
        f.write_all(Self::current().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join("boot"))?;
        File::open(dir)?.sync_all()
    }
}
