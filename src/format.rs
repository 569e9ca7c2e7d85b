//! The store's format version, its upgrades, and the creation of a new store.
//!
//! `STORE/.mailtix/format` holds one integer: the layout of the files under the store.
//! A store without the file was written before formats were numbered and is format 0.
//! Every command reads the number first and refuses a store newer than itself, because
//! a newer mailtix may have given its files a meaning this one would get wrong: `deliver`
//! exits 75 so that Exim keeps the mail until the right binary is installed, and the
//! admin commands exit 1. `mailtix upgrade` runs the steps from the store's format to
//! [`CURRENT`], one at a time, each of them safe while `deliver` runs, and records the
//! new number after each step. UPGRADING.md says what every format changed.

use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The format this mailtix writes.
pub(crate) const CURRENT: u32 = 1;

/// Where the number lives, relative to the store.
const FILE: &str = ".mailtix/format";

/// One upgrade: what it does, in a line, and the step that takes format N to N + 1.
struct Step {
    what: &'static str,
    run: fn(&Path) -> Result<()>,
}

/// `STEPS[n]` takes format n to n + 1.
const STEPS: [Step; CURRENT as usize] = [Step {
    what: "record the format in .mailtix/format (the layout is unchanged)",
    run: |_| Ok(()),
}];

/// The format of the store at `root`: 0 when there is no format file (or no store yet).
pub(crate) fn read(root: &Path) -> io::Result<u32> {
    let path = root.join(FILE);
    // Never through a link, like every other file of the store.
    let text = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .and_then(io::read_to_string);
    match text {
        Ok(s) => s.trim().parse().map_err(|_| {
            io::Error::other(format!(
                "{}: {:?} is not a format number",
                path.display(),
                s.trim()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// The store's format if this mailtix can work on it; the reason otherwise.
pub(crate) fn admit(root: &Path) -> Result<u32, String> {
    let f = read(root).map_err(|e| e.to_string())?;
    if f > CURRENT {
        return Err(format!(
            "store {} has format {f}, newer than this mailtix understands ({CURRENT}); install the newer mailtix that wrote it",
            root.display()
        ));
    }
    Ok(f)
}

/// The line `check` prints about the format.
pub(crate) fn report(root: &Path, out: &mut dyn Write) -> io::Result<()> {
    match read(root) {
        Ok(0) => writeln!(
            out,
            "store format 0 (no {FILE}): `mailtix upgrade` takes it to {CURRENT}"
        ),
        Ok(f) => writeln!(out, "store format {f}"),
        Err(e) => writeln!(out, "store format unreadable: {e}"),
    }
}

/// `upgrade [--dry-run]`: runs the steps from the store's format to [`CURRENT`].
/// Upgrades are serialised by a lock on `.mailtix/`, and each one rereads the format
/// under it, so two at once do every step once, and a second run finds nothing to do.
pub(crate) fn upgrade(root: &Path, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let from = admit(root).map_err(anyhow::Error::msg)?;
    if from == CURRENT {
        writeln!(
            out,
            "store {} is at format {CURRENT}; nothing to do",
            root.display()
        )?;
        return Ok(());
    }
    let meta = fs::metadata(root)
        .with_context(|| format!("store {} (`mailtix init` creates it)", root.display()))?;
    if !meta.is_dir() {
        bail!("store {} is not a directory", root.display());
    }
    if dry_run {
        for (n, step) in STEPS.iter().enumerate().skip(from as usize) {
            writeln!(out, "would upgrade format {n} to {}: {}", n + 1, step.what)?;
        }
        return Ok(());
    }
    let state = root.join(".mailtix");
    make_dir_like(&state, &meta)?;
    let dir = File::open(&state).with_context(|| state.display().to_string())?;
    fs2::FileExt::lock_exclusive(&dir).with_context(|| format!("locking {}", state.display()))?;
    let mut now = read(root)?;
    if now > CURRENT {
        bail!("store {} changed to format {now} meanwhile", root.display());
    }
    while now < CURRENT {
        let step = &STEPS[now as usize];
        (step.run)(root).with_context(|| format!("format {now} to {}", now + 1))?;
        write_format(root, now + 1, &meta)?;
        writeln!(out, "upgraded format {now} to {}: {}", now + 1, step.what)?;
        now += 1;
    }
    Ok(())
}

/// Writes the format number atomically (a temp file, fsync, rename, fsync of the
/// directory), owned like the store so that `deliver`, running as its owner, reads it.
fn write_format(root: &Path, n: u32, like: &fs::Metadata) -> Result<()> {
    let path = root.join(FILE);
    let tmp = root.join(format!("{FILE}.tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o660)
        .open(&tmp)
        .with_context(|| tmp.display().to_string())?;
    // 0660 whatever the umask, like every file in the store.
    f.set_permissions(fs::Permissions::from_mode(0o660))?;
    f.write_all(format!("{n}\n").as_bytes())?;
    f.sync_all()?;
    set_owner(&tmp, like.uid(), like.gid())?;
    fs::rename(&tmp, &path).with_context(|| path.display().to_string())?;
    crate::store::sync_dir(&root.join(".mailtix"))?;
    Ok(())
}

/// Gives `p` to uid:gid, unless it already is theirs (an unprivileged run can't chown).
fn set_owner(p: &Path, uid: u32, gid: u32) -> Result<()> {
    let m = fs::symlink_metadata(p)?;
    if m.uid() != uid || m.gid() != gid {
        std::os::unix::fs::chown(p, Some(uid), Some(gid))
            .with_context(|| format!("chown {uid}:{gid} {}", p.display()))?;
    }
    Ok(())
}

/// Creates directory `p` when missing, owned like `like`, mode 2770.
fn make_dir_like(p: &Path, like: &fs::Metadata) -> Result<()> {
    match DirBuilder::new().mode(0o770).create(p) {
        Ok(()) => {
            set_owner(p, like.uid(), like.gid())?;
            fs::set_permissions(p, fs::Permissions::from_mode(0o2770))?;
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(p.display().to_string())),
    }
}

/// `init [--user U] [--group G]`: creates the store at the current format, owned by
/// U:G with mode 2770 (the group is inherited by everything created in it), with
/// `archived/` and `.mailtix/`. A path that exists is never touched, so a package can
/// run this on every install and upgrade.
pub(crate) fn init(
    root: &Path,
    user: Option<&str>,
    group: Option<&str>,
    out: &mut dyn Write,
) -> Result<()> {
    if fs::symlink_metadata(root).is_ok() {
        writeln!(
            out,
            "store {} exists; left as it is (format {})",
            root.display(),
            read(root)
                .map(|f| f.to_string())
                .unwrap_or_else(|e| e.to_string())
        )?;
        return Ok(());
    }
    let (uid, user_gid) = match user {
        Some(u) => user_ids(u)?,
        None => own_ids(),
    };
    let gid = match group {
        Some(g) => group_id(g)?,
        None => user_gid,
    };
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    // Nobody may use the store until it is complete and has its owner: it is made
    // mode 0700, filled, and only then handed over.
    match DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            writeln!(out, "store {} exists; left as it is", root.display())?;
            return Ok(());
        }
        Err(e) => return Err(anyhow::Error::new(e).context(root.display().to_string())),
    }
    let store = crate::store::Store::new(root);
    store.init().with_context(|| root.display().to_string())?;
    let meta = fs::metadata(root)?;
    write_format(root, CURRENT, &meta)?;
    // Innermost first, the root last: until then nobody else may enter.
    for d in crate::store::STORE_DIRS.iter().rev().chain([&""]) {
        let p = if d.is_empty() {
            root.to_path_buf()
        } else {
            root.join(d)
        };
        std::os::unix::fs::chown(&p, Some(uid), Some(gid))
            .with_context(|| format!("chown {uid}:{gid} {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o2770))?;
    }
    std::os::unix::fs::chown(root.join(FILE), Some(uid), Some(gid))?;
    writeln!(
        out,
        "created store {} (owner {uid}:{gid}, mode 2770, format {CURRENT})",
        root.display()
    )?;
    Ok(())
}

/// This process's uid and gid.
#[allow(unsafe_code)]
fn own_ids() -> (u32, u32) {
    // SAFETY: getuid and getgid cannot fail and only read process state.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// uid and primary gid of a user name or number.
#[allow(unsafe_code)]
fn user_ids(name: &str) -> Result<(u32, u32)> {
    let c = CString::new(name).context("user name")?;
    // SAFETY: getpwnam takes a NUL-terminated string and returns null or a pointer to
    // a static record, read at once before any other call could reuse it.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    if !p.is_null() {
        // SAFETY: non-null, so it points at a valid passwd record.
        return Ok(unsafe { ((*p).pw_uid, (*p).pw_gid) });
    }
    match name.parse::<u32>() {
        Ok(n) => Ok((n, n)),
        Err(_) => bail!("no such user {name:?}"),
    }
}

/// gid of a group name or number.
#[allow(unsafe_code)]
fn group_id(name: &str) -> Result<u32> {
    let c = CString::new(name).context("group name")?;
    // SAFETY: as in user_ids, for the group database.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if !g.is_null() {
        // SAFETY: non-null, so it points at a valid group record.
        return Ok(unsafe { (*g).gr_gid });
    }
    name.parse::<u32>()
        .map_err(|_| anyhow::anyhow!("no such group {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_file_that_is_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join(".mailtix")).unwrap();
        let elsewhere = d.path().join("elsewhere");
        fs::write(&elsewhere, "1\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, d.path().join(FILE)).unwrap();
        assert!(admit(d.path()).is_err());
    }

    #[test]
    fn a_store_without_a_format_file_is_format_0_and_a_newer_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), 0);
        fs::create_dir(d.path().join(".mailtix")).unwrap();
        fs::write(d.path().join(FILE), "1\n").unwrap();
        assert_eq!(admit(d.path()), Ok(1));
        fs::write(d.path().join(FILE), format!("{}\n", CURRENT + 1)).unwrap();
        assert!(
            admit(d.path())
                .unwrap_err()
                .contains("newer than this mailtix")
        );
        fs::write(d.path().join(FILE), "one\n").unwrap();
        assert!(admit(d.path()).unwrap_err().contains("not a format number"));
    }

    #[test]
    fn there_is_one_step_per_format() {
        assert_eq!(STEPS.len(), CURRENT as usize);
    }
}
