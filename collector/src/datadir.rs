//! The data directory holds the CA key, the API token and every agent's events: only the
//! collector's user may read it. A directory made beforehand (by `install -d`, or an older
//! version) may be group- or world-readable; it is tightened at start with a log line per
//! path rather than refused, because packaging creates it with 0755 and the collector owns
//! it. What cannot be tightened (another user's directory) stops the start.

use anyhow::{Context, Result};
use std::path::Path;

/// Creates `dir` (0700) if it is missing, and tightens it and everything in it that is
/// accessible to group or others: directories to 0700, files to 0600.
pub fn secure(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    tighten(dir)?;
    Ok(())
}

#[cfg(unix)]
fn tighten(path: &Path) -> Result<()> {
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
            "tightened the permissions of a data directory entry other users could access"
        );
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))? {
            tighten(&entry?.path())?;
        }
    }
    Ok(())
}

/// Creates an empty file only the owner can read, unless it exists (for files a library
/// creates with the process umask, such as the redb store).
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
