//! A manifest: which upstream commit a corpus is, and the SHA-256 of each of its files.
//!
//! ```text
//! # upstream: SigmaHQ/sigma 8eaafff1f2845a696050e05e72ba1140ee190698
//! # other comment lines
//! <sha256>  <path relative to the corpus directory>
//! ```
//!
//! The file lines are what `sha256sum` prints, so a manifest is regenerated from a copy of the
//! corpus with `find . -type f | LC_ALL=C sort | sed 's|^\./||' | tr '\n' '\0' | xargs -0 sha256sum`
//! under the two header lines.

/// A pinned upstream snapshot of a corpus.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// `owner/name` on GitHub.
    pub(crate) repo: String,
    /// The full commit hash.
    pub(crate) commit: String,
    /// The manifest's own SHA-256, which names this exact list of files.
    pub(crate) id: String,
    pub(crate) files: Vec<Entry>,
}

/// One file of a snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Relative, `/`-separated, as in the upstream repository.
    pub(crate) path: String,
    /// Lower-case hex.
    pub(crate) sha256: String,
}

impl Snapshot {
    /// Parses the manifest `text`; `name` is what errors call it.
    pub(crate) fn parse(name: &str, text: &str) -> Result<Snapshot, String> {
        let mut upstream = None;
        let mut files = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let bad = |what: &str| format!("{name}:{}: {what}", number + 1);
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(rest) = comment.trim().strip_prefix("upstream:") {
                    let mut words = rest.split_whitespace();
                    let (Some(repo), Some(commit), None) = (words.next(), words.next(), words.next()) else {
                        return Err(bad("expected `# upstream: OWNER/NAME COMMIT`"));
                    };
                    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad("the commit must be a full 40-digit hash"));
                    }
                    upstream = Some((repo.to_owned(), commit.to_owned()));
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let Some((sha256, path)) = line.split_once("  ") else {
                return Err(bad("expected `SHA256  PATH`"));
            };
            let unsafe_path = path.is_empty()
                || path.starts_with('/')
                || path.split('/').any(|part| part.is_empty() || part == "." || part == "..");
            if sha256.len() != 64 || !sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) || unsafe_path {
                return Err(bad("expected a lower-case SHA-256 and a relative path"));
            }
            files.push(Entry { path: path.to_owned(), sha256: sha256.to_owned() });
        }
        let Some((repo, commit)) = upstream else {
            return Err(format!("{name}: no `# upstream: OWNER/NAME COMMIT` line"));
        };
        Ok(Snapshot { repo, commit, id: crate::fetch::sha256_hex(text.as_bytes()), files })
    }

    /// `owner/name@commit`, as messages name the snapshot.
    pub(crate) fn label(&self) -> String {
        format!("{}@{}", self.repo, self.commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_manifests_parse() {
        for corpus in crate::Corpus::ALL {
            let snapshot = corpus.snapshot();
            assert!(snapshot.files.len() > 200, "{corpus:?}: {}", snapshot.files.len());
        }
    }

    #[test]
    fn paths_that_leave_the_corpus_are_refused() {
        let head = "# upstream: a/b 0123456789012345678901234567890123456789\n";
        let sha = "0".repeat(64);
        for path in ["../x", "/etc/passwd", "a//b", "a/./b"] {
            let err = Snapshot::parse("m", &format!("{head}{sha}  {path}\n")).expect_err(path);
            assert_eq!(err, "m:2: expected a lower-case SHA-256 and a relative path");
        }
        assert!(Snapshot::parse("m", &format!("{head}{sha}  rules/a b&c.yml\n")).is_ok());
        let short = Snapshot::parse("m", "# upstream: a/b 8eaafff\n").expect_err("short commit");
        assert_eq!(short, "m:1: the commit must be a full 40-digit hash");
    }
}
