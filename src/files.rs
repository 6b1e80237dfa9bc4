//! Files that hold phone numbers or secrets (the database, rejects, reports, the simulator's
//! ledger) are created readable and writable by their owner only (0600).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const OWNER_ONLY: u32 = 0o600;

/// Refuses a file that other users (neither its owner nor its group) may read or write: it
/// holds `what`. The error says which file, its mode and the `chmod` that fixes it.
pub fn check_not_open_to_others(path: &Path, what: &str) -> io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o007 == 0 {
        return Ok(());
    }
    let shown = crate::terminal::safe(&path.to_string_lossy()).into_owned();
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{shown} may be read by other users (mode {:04o}) and it holds {what}: \
             run `chmod 600 '{shown}'` and try again",
            mode & 0o7777
        ),
    ))
}

/// Makes an existing file owner-only, if it is not already.
pub fn make_private(path: &Path) -> io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(OWNER_ONLY))?;
    }
    Ok(())
}

/// Creates `path` empty and owner-only if it does not exist (true); an existing file is left
/// as it is (false).
pub fn create_private(path: &Path) -> io::Result<bool> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OWNER_ONLY)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens `path` for writing from the start, owner-only (an existing file is made so too).
/// It never follows a symbolic link, nor writes through a second hard link, that someone
/// placed where the file goes (a report written over `~/.bashrc`): such a path is refused.
pub fn write_private(path: &Path) -> io::Result<File> {
    let shown = || crate::terminal::safe(&path.to_string_lossy()).into_owned();
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(OWNER_ONLY)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link: not followed; remove it or write elsewhere",
                    shown()
                ),
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a plain file of its own (another name links to it): not written; remove it or write elsewhere",
                shown()
            ),
        ));
    }
    file.set_len(0)?;
    file.set_permissions(std::fs::Permissions::from_mode(OWNER_ONLY))?;
    Ok(file)
}

/// Opens `path` for appending, owner-only (an existing file is made so too).
pub fn append_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(OWNER_ONLY)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(OWNER_ONLY))?;
    Ok(file)
}
