//! Which paths the monitor covers (roots minus `exclude` globs), which are critical, and which
//! are watched without reading their content (`metadata_only`). On Windows globs ignore case,
//! as the file system does, and match with `/` for `\\`.

use super::FimConfig;
use crate::paths::is_within;
use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// The configured roots and globs, compiled once.
#[derive(Debug)]
pub(crate) struct PathFilter {
    roots: Vec<PathBuf>,
    /// The agent's own state (spool, baseline): watching it would report our own writes,
    /// which would be written, which would be reported...
    own: Vec<PathBuf>,
    exclude: GlobSet,
    critical: GlobSet,
    metadata_only: GlobSet,
}

impl PathFilter {
    /// Compiles the configuration. Roots are made absolute and canonical where they exist,
    /// because the kernel reports canonical paths; a root nested in another is dropped so
    /// nothing is scanned twice. Everything under `own` is always excluded.
    pub(crate) fn new(cfg: &FimConfig, own: &[PathBuf]) -> Result<PathFilter> {
        let mut roots: Vec<PathBuf> = Vec::new();
        for p in &cfg.paths {
            let root = match crate::paths::canonicalize(p) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "FIM path is not accessible now; it is watched from the next rescan on which it exists");
                    std::path::absolute(p)
                        .with_context(|| format!("FIM path {} cannot be made absolute", p.display()))?
                }
            };
            roots.push(root);
        }
        roots.sort();
        roots.dedup();
        let mut kept: Vec<PathBuf> = Vec::new();
        for r in roots {
            if !kept.iter().any(|k| is_within(&r, k)) {
                kept.push(r);
            }
        }
        let own = own.iter().map(|p| crate::paths::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
        Ok(PathFilter {
            roots: kept,
            own,
            exclude: compile(&cfg.exclude, "exclude")?,
            critical: compile(&cfg.critical, "critical")?,
            metadata_only: compile(&cfg.metadata_only, "metadata_only")?,
        })
    }

    pub(crate) fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether `path` is excluded by a glob.
    pub(crate) fn excluded(&self, path: &Path) -> bool {
        self.own.iter().any(|o| is_within(path, o)) || self.exclude.is_match(path)
    }

    /// Whether a change of `path` is critical.
    pub(crate) fn critical(&self, path: &Path) -> bool {
        self.critical.is_match(path)
    }

    /// Whether the content of `path` is read and hashed (it is not `metadata_only`).
    pub(crate) fn hashed(&self, path: &Path) -> bool {
        !self.metadata_only.is_match(path)
    }

    /// Whether `path` is monitored: under a root and not excluded.
    pub(crate) fn covers(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| is_within(path, r)) && !self.excluded(path)
    }
}

fn compile(globs: &[String], key: &str) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        // A pattern without a separator names files anywhere, as in .gitignore.
        let pattern = if g.contains('/') { g.clone() } else { format!("**/{g}") };
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .case_insensitive(cfg!(windows))
            .build()
            .with_context(|| format!("fim.{key}: {g:?} is not a valid glob"))?;
        set.add(glob);
    }
    set.build().with_context(|| format!("fim.{key}: the globs cannot be compiled"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{native, native_glob};

    fn filter(exclude: &[&str], critical: &[&str]) -> PathFilter {
        let cfg = FimConfig {
            paths: vec![native("/nonexistent-fim-root/a"), native("/nonexistent-fim-root/a/b")],
            exclude: exclude.iter().map(|s| native_glob(s)).collect(),
            critical: critical.iter().map(|s| native_glob(s)).collect(),
            ..FimConfig::default()
        };
        PathFilter::new(&cfg, &[native("/nonexistent-fim-root/a/state")]).expect("valid filter")
    }

    #[test]
    fn globs_match_the_full_path_and_bare_names_anywhere() {
        let f =
            filter(&["**/*.tmp", "*.swp", "/nonexistent-fim-root/a/cache/**"], &["/nonexistent-fim-root/a/secret/**"]);
        assert!(f.excluded(&native("/nonexistent-fim-root/a/x/y.tmp")));
        assert!(f.excluded(&native("/nonexistent-fim-root/a/.f.swp")));
        assert!(f.excluded(&native("/nonexistent-fim-root/a/cache/z")));
        assert!(!f.excluded(&native("/nonexistent-fim-root/a/cachez")));
        assert!(f.critical(&native("/nonexistent-fim-root/a/secret/k/plan.txt")));
        assert!(!f.critical(&native("/nonexistent-fim-root/a/secrets.txt")));
        assert!(f.covers(&native("/nonexistent-fim-root/a/x")));
        assert!(!f.covers(&native("/nonexistent-fim-root/ab")));
        assert!(!f.covers(&native("/nonexistent-fim-root/a/state/spool.redb")));
        assert_eq!(f.roots(), [native("/nonexistent-fim-root/a")]);
    }

    #[test]
    fn a_bad_glob_names_the_key_and_the_glob() {
        let cfg = FimConfig { exclude: vec!["a/[".into()], ..FimConfig::default() };
        let err = PathFilter::new(&cfg, &[]).err().map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("fim.exclude") && e.contains("a/[")));
    }
}
