//! Directories and files only their owner can read: the agent's state directory (its signing
//! key, spool and baseline) and the collector's data directory (the CA key, the API token and
//! every agent's events) both need them.
//!
//! A directory made beforehand (by `install -d`, or an older version) may be group- or
//! world-readable; it is tightened with a log line per path rather than refused, because
//! packaging creates it with 0755 and the program owns it. What cannot be tightened (another
//! user's directory) is an error.

#![warn(missing_docs)]

use anyhow::{Context, Result};
use std::path::Path;

#[cfg(windows)]
mod windows;

/// Creates `dir` (0700) if it is missing, and tightens it and everything in it that is
/// accessible to group or others: directories to 0700, files to 0600. `what` names the
/// directory in errors and log lines ("state directory", "data directory").
pub fn secure_dir(dir: &Path, what: &str) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("cannot create the {what} {}", dir.display()))?;
    #[cfg(unix)]
    tighten(dir, what)?;
    #[cfg(windows)]
    windows::restrict(dir).with_context(|| format!("cannot restrict access to the {what} {}", dir.display()))?;
    Ok(())
}

#[cfg(unix)]
fn tighten(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Symbolic links are neither followed nor changed: chmod would act on their target.
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    let wanted = if meta.is_dir() {
        0o700
    } else if meta.is_file() {
        0o600
    } else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).with_context(|| {
            format!("{} is accessible to other users (mode {mode:o}) and cannot be tightened", path.display())
        })?;
        tracing::warn!(
            path = %path.display(),
            was = format_args!("{mode:o}"),
            now = format_args!("{wanted:o}"),
            "tightened the permissions of a {what} entry other users could access"
        );
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))? {
            tighten(&entry?.path(), what)?;
        }
    }
    Ok(())
}

/// Creates an empty file only the owner can read, unless it exists (for files a library
/// creates with the process umask, such as a redb database).
pub fn create_private_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop).with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn an_open_directory_and_its_files_are_tightened_and_new_files_are_private() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.join("sub/token"), "secret").expect("write");
        std::fs::set_permissions(dir.join("sub/token"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        secure_dir(&dir, "data directory").expect("secure");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("sub")), 0o700);
        assert_eq!(mode(&dir.join("sub/token")), 0o600);
        create_private_file(&dir.join("store.redb")).expect("create");
        assert_eq!(mode(&dir.join("store.redb")), 0o600);
    }
}
