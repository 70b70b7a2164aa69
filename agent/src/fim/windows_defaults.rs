//! What a Windows endpoint's agent watches when its configuration names no `[fim]` paths: the
//! places malware persists or tampers with first.
//!
//! | path | why | how |
//! |---|---|---|
//! | `%SystemRoot%\System32\drivers` | kernel drivers (rootkits); `etc\hosts` (redirection) | hashed; `hosts` critical |
//! | `%SystemRoot%\System32\config` | registry hives, SAM | watched, never read: the hives are held open and rewritten constantly; transaction logs left out |
//! | `%SystemRoot%\System32\Tasks` | scheduled tasks (persistence) | hashed, critical |
//! | `%ProgramData%\Microsoft\Windows\Start Menu\Programs\StartUp` | every user's startup programs | hashed, critical |
//! | `<profile>\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup` | each user's startup programs | hashed, critical |
//!
//! The per-user folders are those of the profiles under the users folder (the parent of
//! `%PUBLIC%`, else `%SystemDrive%\Users`) when the agent starts; a profile made later is
//! covered from the agent's next start.

use super::FimConfig;
use super::config::DEFAULT_RESCAN;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A folder from an environment variable, or where Windows puts it by default.
fn folder(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map(PathBuf::from).filter(|p| p.is_absolute()).unwrap_or_else(|| PathBuf::from(default))
}

/// `path` as a glob: `/` for separators (globs match Windows paths that way) and the glob
/// metacharacters of a folder name escaped.
fn glob(path: &Path, tail: &str) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '\\' => out.push('/'),
            '*' | '?' | '[' | ']' | '{' | '}' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    format!("{}/{tail}", out.trim_end_matches('/'))
}

/// The folder that holds the user profiles.
fn users_folder() -> PathBuf {
    match std::env::var_os("PUBLIC").map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(public) => public.parent().map_or(public.clone(), Path::to_path_buf),
        None => {
            let mut drive = std::env::var_os("SystemDrive").unwrap_or_else(|| OsString::from("C:"));
            drive.push("\\Users");
            PathBuf::from(drive)
        }
    }
}

const STARTUP: &str = r"AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup";

/// The watch list of the table above, for this machine.
pub(super) fn endpoint() -> FimConfig {
    let system32 = folder("SystemRoot", r"C:\Windows").join("System32");
    let (drivers, config, tasks) = (system32.join("drivers"), system32.join("config"), system32.join("Tasks"));
    let all_users = folder("ProgramData", r"C:\ProgramData").join(r"Microsoft\Windows\Start Menu\Programs\StartUp");
    let mut paths = vec![drivers.clone(), config.clone(), tasks.clone(), all_users.clone()];
    // Default, Public and the like hold no Startup folder and are skipped by the test.
    if let Ok(profiles) = std::fs::read_dir(users_folder()) {
        let mut per_user: Vec<PathBuf> =
            profiles.flatten().map(|p| p.path().join(STARTUP)).filter(|p| p.is_dir()).collect();
        per_user.sort();
        paths.extend(per_user);
    }
    FimConfig {
        paths,
        exclude: ["*.LOG1", "*.LOG2", "*.blf", "*.regtrans-ms"]
            .iter()
            .map(|g| glob(&config, &format!("**/{g}")))
            .collect(),
        critical: vec![
            glob(&drivers, "etc/hosts"),
            glob(&tasks, "**"),
            glob(&all_users, "**"),
            "**/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/**".into(),
        ],
        metadata_only: vec![glob(&config, "**")],
        rescan_interval: DEFAULT_RESCAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_become_globs_with_forward_slashes_and_escaped_metacharacters() {
        assert_eq!(glob(Path::new(r"C:\Windows\System32\config"), "**"), "C:/Windows/System32/config/**");
        assert_eq!(glob(Path::new(r"D:\máy [1]\"), "x"), r"D:/máy \[1\]/x");
    }

    #[test]
    fn the_endpoint_list_watches_the_system_folders_and_hashes_no_hive() {
        let cfg = endpoint();
        for p in ["drivers", "config", "Tasks"] {
            assert!(cfg.paths.iter().any(|c| c.ends_with(p)), "{p} in {:?}", cfg.paths);
        }
        let filter = super::super::filter::PathFilter::new(&cfg, &[]).expect("the defaults compile");
        // Paths as the monitor sees them: under its roots, in the case the file system keeps.
        let root = |name: &str| {
            let named = |r: &&PathBuf| r.file_name().is_some_and(|n| n.eq_ignore_ascii_case(name));
            filter.roots().iter().find(named).cloned().unwrap_or_else(|| panic!("{name} in {:?}", filter.roots()))
        };
        let hive = root("config").join("SYSTEM");
        assert!(filter.covers(&hive) && !filter.hashed(&hive), "{}", hive.display());
        assert!(!filter.covers(&root("config").join("SYSTEM.LOG1")));
        let hosts = root("drivers").join(r"etc\hosts");
        assert!(filter.covers(&hosts) && filter.hashed(&hosts) && filter.critical(&hosts), "{}", hosts.display());
        // Case is ignored, as by NTFS.
        let tasks = root("Tasks");
        let shouted = PathBuf::from(tasks.to_string_lossy().to_uppercase()).join(r"Microsoft\Updater");
        assert!(filter.critical(&shouted), "{}", shouted.display());
    }
}
