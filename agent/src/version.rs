//! The version the agent runs: the version of the package that installed it, as the package
//! records it beside the binary (`package.version`, as Elastic Agent does), else the version it
//! was compiled as. The package's version is what updates compare and what the update watchdog
//! checks the new process reports, so a package rebuilt under a new version counts as one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file a package installs with its version.
pub const PACKAGE_VERSION_FILE: &str = "package.version";

/// Where a package puts [`PACKAGE_VERSION_FILE`] for the executable at `exe`: beside it (the
/// MSI's install folder) or in `../share/haidang-agent/` (the DEB's `/usr/bin` and
/// `/usr/share/haidang-agent`).
pub fn package_version_paths(exe: &Path) -> Vec<PathBuf> {
    let Some(dir) = exe.parent() else { return Vec::new() };
    let mut paths = vec![dir.join(PACKAGE_VERSION_FILE)];
    if let Some(prefix) = dir.parent() {
        paths.push(prefix.join("share/haidang-agent").join(PACKAGE_VERSION_FILE));
    }
    paths
}

/// The running agent's version.
pub fn running() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let from_package = std::env::current_exe().ok().and_then(|exe| {
            package_version_paths(&exe).into_iter().find_map(|p| {
                let text = std::fs::read_to_string(p).ok()?;
                let v = text.trim();
                // Only a plain version: this file's content goes into every event.
                let plain = !v.is_empty()
                    && v.len() <= 64
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || ".~+-".contains(c));
                plain.then(|| v.to_string())
            })
        });
        from_package.unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    })
}
