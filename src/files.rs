//! Files that hold phone numbers or secrets (the database, rejects, reports, the simulator's
//! ledger) are created readable and writable by their owner only (0600).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

const OWNER_ONLY: u32 = 0o600;

/// Creates `path` empty and owner-only if it does not exist; an existing file is left as it is.
pub fn create_private(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OWNER_ONLY)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for writing from the start, owner-only (an existing file is made so too).
pub fn write_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(OWNER_ONLY)
        .open(path)?;
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
