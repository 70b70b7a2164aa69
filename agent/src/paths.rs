//! Paths as people and rules write them. On Windows `std::fs::canonicalize` answers in the
//! verbatim form (`\\?\C:\Users\…`, `\\?\UNC\server\share\…`), which no analyst types and no
//! Sigma rule matches; the agent reports the ordinary form of the same path.

use std::path::{Path, PathBuf};

/// The canonical, absolute form of `path` (symbolic links resolved), in ordinary form.
pub fn canonicalize(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path).map(ordinary)
}

/// Whether `path` is `root` or lies under it, compared as the platform's file systems compare
/// names: on Windows without regard to case (`C:\\Users\\Nguyễn` is under `c:\\users`), so a
/// root written in another case than the disk's still covers its files.
pub fn is_within(path: &Path, root: &Path) -> bool {
    if cfg!(windows) { within_ignoring_case(path, root) } else { path.starts_with(root) }
}

/// Component by component, each compared by its Unicode upper case, as NTFS's upcase table
/// does for the names it stores.
fn within_ignoring_case(path: &Path, root: &Path) -> bool {
    let mut path = path.components();
    root.components().all(|r| {
        path.next().is_some_and(|p| {
            let (p, r) = (p.as_os_str().to_string_lossy(), r.as_os_str().to_string_lossy());
            p == r || p.to_uppercase() == r.to_uppercase()
        })
    })
}

/// A test's Unix-style absolute path as the platform writes it: `/r/a` is `C:\\r\\a` on
/// Windows, where a path without a drive is not absolute.
#[cfg(test)]
pub(crate) fn native(unix: &str) -> PathBuf {
    if cfg!(windows) { PathBuf::from(format!("C:{}", unix.replace('/', "\\"))) } else { PathBuf::from(unix) }
}

/// The same for a glob, whose separator is `/` on every platform.
#[cfg(test)]
pub(crate) fn native_glob(unix: &str) -> String {
    if cfg!(windows) && unix.starts_with('/') { format!("C:{unix}") } else { unix.to_owned() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_within_a_root_written_in_another_case() {
        let root = Path::new("/Users/Nguyễn/Tài Liệu");
        assert!(within_ignoring_case(Path::new("/users/NGUYỄN/tài liệu/Kế hoạch.docx"), root));
        assert!(within_ignoring_case(Path::new("/Users/Nguyễn/Tài Liệu"), root));
        assert!(!within_ignoring_case(Path::new("/Users/Nguyễn/Tài Liệu cũ/a"), root), "whole names only");
        assert!(!within_ignoring_case(Path::new("/Users/Nguyen/Tài Liệu/a"), root), "diacritics are not case");
        assert!(!within_ignoring_case(Path::new("/Users"), root));
        assert_eq!(is_within(Path::new("/srv/A/b"), Path::new("/srv/a")), cfg!(windows));
    }

    #[cfg(windows)]
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
