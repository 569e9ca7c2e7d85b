//! Whether a file mailtix reads its instructions from can be trusted: the config
//! (its hooks run as the mail user) and the template files (their text goes to
//! customers). Like procmail with a suspicious rcfile, one that anyone but its owner
//! could have written, or whose owner is neither root nor the user running mailtix, is
//! refused.

/// The effective uid, for the trust checks of the config and the template files.
#[allow(unsafe_code)]
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Why a config file (and the directory holding it) cannot be trusted, if it cannot.
/// A group-writable file is refused as well: the group is rarely the mail user alone.
/// A directory that anyone may write without the sticky bit lets anyone replace the file.
pub(crate) fn unsafe_config(
    file: &std::fs::Metadata,
    dir: &std::fs::Metadata,
    euid: u32,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let mode = file.mode();
    if mode & 0o002 != 0 {
        return Err(format!(
            "it is world-writable (mode {:o}; chmod o-w it)",
            mode & 0o7777
        ));
    }
    if mode & 0o020 != 0 {
        return Err(format!(
            "it is group-writable (mode {:o}; chmod g-w it)",
            mode & 0o7777
        ));
    }
    if file.uid() != 0 && file.uid() != euid {
        return Err(format!(
            "it is owned by uid {}, not by root or by uid {euid} who runs mailtix",
            file.uid()
        ));
    }
    if dir.mode() & 0o002 != 0 && dir.mode() & 0o1000 == 0 {
        return Err(
            "its directory is world-writable without the sticky bit (anyone can replace it)".into(),
        );
    }
    Ok(())
}
