//! Paths as people and rules write them. On Windows `std::fs::canonicalize` answers in the
//! verbatim form (`\\?\C:\Users\…`, `\\?\UNC\server\share\…`), which no analyst types and no
//! Sigma rule matches; the agent reports the ordinary form of the same path.

use std::path::{Path, PathBuf};

/// The canonical, absolute form of `path` (symbolic links resolved), in ordinary form.
pub fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path).map(ordinary)
}

#[cfg(windows)]
fn ordinary(path: PathBuf) -> PathBuf {
    use std::path::{Component, Prefix};
    let mut components = path.components();
    let start = match components.next() {
        Some(Component::Prefix(prefix)) => match prefix.kind() {
            Prefix::VerbatimDisk(letter) => PathBuf::from(format!("{}:\\", char::from(letter))),
            Prefix::VerbatimUNC(server, share) => {
                let mut unc = std::ffi::OsString::from(r"\\");
                unc.push(server);
                unc.push(r"\");
                unc.push(share);
                unc.push(r"\");
                PathBuf::from(unc)
            }
            _ => return path,
        },
        _ => return path,
    };
    let mut out = start;
    for component in components {
        match component {
            Component::RootDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(not(windows))]
fn ordinary(path: PathBuf) -> PathBuf {
    path
}

#[cfg(all(test, windows))]
mod tests {
    use super::*;

    #[test]
    fn verbatim_paths_become_ordinary_and_others_are_kept() {
        let cases = [
            (r"\\?\C:\Users\nguyễn\Tài liệu\Kế hoạch.docx", r"C:\Users\nguyễn\Tài liệu\Kế hoạch.docx"),
            (r"\\?\UNC\so-tttt\chia-se\báo cáo.xlsx", r"\\so-tttt\chia-se\báo cáo.xlsx"),
            (r"\\?\Z:\", r"Z:\"),
            (r"C:\Windows", r"C:\Windows"),
            (r"\\?\GLOBALROOT\Device\HarddiskVolume1", r"\\?\GLOBALROOT\Device\HarddiskVolume1"),
        ];
        for (verbatim, plain) in cases {
            assert_eq!(ordinary(PathBuf::from(verbatim)), PathBuf::from(plain), "{verbatim}");
        }
    }
}
