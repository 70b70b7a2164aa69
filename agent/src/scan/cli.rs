//! `haidang-agent scan`: scans files and directories on demand, without enrollment.
//!
//! Each scanning engine turns a file into [`Finding`]s; YARA is the first (`--yara DIR`),
//! and DLP adds its own variant of [`Finding`] and its own engine beside it. A file an engine
//! could not inspect is an [`Unscanned`] with the reason, never a silent pass.
//!
//! Output: findings on stdout (text, or with `--json` one object per line), files that could
//! not be scanned also on stdout with `--json` (on stderr otherwise), a summary on stderr, a
//! progress bar on stderr when it is a terminal. Exit code: 0 nothing found, 1 findings,
//! 2 error (including a file that could not be scanned and no findings).

use std::path::PathBuf;

/// What to scan and how to report it.
pub struct Options {
    /// A YARA rule file or directory of them.
    pub yara: Option<PathBuf>,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Files and directories (scanned recursively, symbolic links inside not followed).
    pub paths: Vec<PathBuf>,
    /// Files larger than this many bytes are reported as not scanned.
    pub max_file_size: u64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

#[cfg(not(feature = "yara"))]
pub fn run(options: &Options) -> anyhow::Result<std::process::ExitCode> {
    anyhow::ensure!(options.yara.is_none(), "{}", super::NOT_BUILT_IN);
    anyhow::bail!("nothing to scan for: give --yara DIR")
}

#[cfg(all(test, not(feature = "yara")))]
mod tests {
    use super::*;

    #[test]
    fn says_that_yara_is_not_built_in() {
        let options = Options {
            yara: Some("rules".into()),
            json: false,
            paths: vec![".".into()],
            max_file_size: 1,
            progress: false,
        };
        let e = run(&options).expect_err("refused").to_string();
        assert!(e.contains("built without YARA support"), "{e}");
    }
}

#[cfg(feature = "yara")]
pub use with_yara::{Finding, Unscanned, run};

#[cfg(feature = "yara")]
mod with_yara {
    use super::super::{Match, Rules, ScanCache, Scanner};
    use super::Options;
    use anyhow::Result;
    use haidang_proto::Text;
    use serde_json::{Value, json};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    /// Results kept for content seen twice in one run (copies of the same file).
    const CACHE_ENTRIES: usize = 100_000;

    /// Something an engine found in a file.
    #[derive(Debug)]
    pub enum Finding {
        /// A YARA rule matched.
        Malware(Match),
    }

    /// A file that could not be inspected, and why.
    #[derive(Debug)]
    pub struct Unscanned {
        pub path: PathBuf,
        pub reason: String,
    }

    impl Finding {
        fn json(&self) -> Value {
            match self {
                Finding::Malware(m) => json!({
                    "kind": "malware",
                    "path": Text::from(m.path.as_path()).as_str(),
                    "rule": m.rule,
                    "namespace": m.namespace,
                    "tags": m.tags,
                    "sha256": hex::encode(m.sha256),
                }),
            }
        }

        fn text(&self) -> String {
            match self {
                Finding::Malware(m) => {
                    let tags = if m.tags.is_empty() { String::new() } else { format!(" [{}]", m.tags.join(",")) };
                    format!(
                        "{}: malware {}:{}{tags} sha256:{}",
                        Text::from(m.path.as_path()).display_safe(),
                        m.namespace,
                        m.rule,
                        hex::encode(m.sha256)
                    )
                }
            }
        }
    }

    impl Unscanned {
        fn json(&self) -> Value {
            json!({ "kind": "not_scanned", "path": Text::from(self.path.as_path()).as_str(), "reason": self.reason })
        }
    }

    /// What one file came to.
    enum Outcome {
        Scanned { findings: Vec<Finding>, bytes: u64 },
        Unscanned(Unscanned),
    }

    /// Runs the command; the exit code says what was found.
    pub fn run(options: &Options) -> Result<ExitCode> {
        let Some(yara) = &options.yara else { anyhow::bail!("nothing to scan for: give --yara DIR") };
        anyhow::ensure!(!options.paths.is_empty(), "nothing to scan: give one or more paths");
        let started = Instant::now();
        let rules = Rules::load(std::slice::from_ref(yara))?;
        for problem in &rules.report.problems {
            eprintln!("warning: YARA rule not loaded: {problem}");
        }
        let (files, walk_errors) = walk(&options.paths);
        let pb = options.progress.then(|| progress_bar(files.len() as u64));
        let cache = ScanCache::new(CACHE_ENTRIES);
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<Outcome>();
        let mut tally = Tally::default();
        let mut out = Output { json: options.json, pb: pb.clone() };
        for error in walk_errors {
            out.report(&Outcome::Unscanned(error), &mut tally);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (rules, cache, files, next, max_file_size) = (&rules, &cache, &files, &next, options.max_file_size);
                s.spawn(move || {
                    let mut scanner = Scanner::new(rules, cache, max_file_size);
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if tx.send(scan_one(&mut scanner, path)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            for outcome in rx {
                out.report(&outcome, &mut tally);
                if let Some(pb) = &pb {
                    pb.inc(1);
                }
            }
        });
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        eprintln!(
            "scanned {} files ({}) in {:.2} s with {} YARA rules from {} files: {} findings in {} files, {} not scanned",
            tally.scanned,
            bytesize::ByteSize(tally.bytes),
            started.elapsed().as_secs_f64(),
            rules.report.rules,
            rules.report.files,
            tally.findings,
            tally.files_with_findings,
            tally.unscanned,
        );
        Ok(if tally.findings > 0 {
            ExitCode::from(1)
        } else if tally.unscanned > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    }

    #[derive(Default)]
    struct Tally {
        scanned: u64,
        bytes: u64,
        findings: u64,
        files_with_findings: u64,
        unscanned: u64,
    }

    struct Output {
        json: bool,
        pb: Option<indicatif::ProgressBar>,
    }

    impl Output {
        fn report(&mut self, outcome: &Outcome, tally: &mut Tally) {
            let lines: Vec<String> = match outcome {
                Outcome::Scanned { findings, bytes } => {
                    tally.scanned += 1;
                    tally.bytes += bytes;
                    tally.findings += findings.len() as u64;
                    tally.files_with_findings += u64::from(!findings.is_empty());
                    findings.iter().map(|f| if self.json { f.json().to_string() } else { f.text() }).collect()
                }
                Outcome::Unscanned(u) => {
                    tally.unscanned += 1;
                    if !self.json {
                        let line =
                            format!("not scanned: {}: {}", Text::from(u.path.as_path()).display_safe(), u.reason);
                        self.print(|| eprintln!("{line}"));
                        return;
                    }
                    vec![u.json().to_string()]
                }
            };
            for line in lines {
                self.print(|| println!("{line}"));
            }
        }

        /// Prints without tearing the progress bar.
        fn print(&self, f: impl FnOnce()) {
            match &self.pb {
                Some(pb) => pb.suspend(f),
                None => f(),
            }
        }
    }

    fn scan_one(scanner: &mut Scanner, path: &Path) -> Outcome {
        match scanner.scan_file(path) {
            Ok(scan) => {
                let findings = scan.matches.into_iter().map(Finding::Malware).collect();
                Outcome::Scanned { findings, bytes: scan.size }
            }
            Err(e) => Outcome::Unscanned(Unscanned { path: path.to_path_buf(), reason: e.to_string() }),
        }
    }

    /// The regular files under `roots`, in name order, and the paths that could not be read.
    /// A root that is a symbolic link is followed (it was named on purpose); links inside
    /// directories are not, so a link loop cannot trap the walk.
    fn walk(roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<Unscanned>) {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for root in roots {
            let root = match std::fs::symlink_metadata(root) {
                Ok(md) if md.file_type().is_symlink() => std::fs::canonicalize(root).unwrap_or_else(|_| root.clone()),
                _ => root.clone(),
            };
            walk_into(root, &mut files, &mut errors);
        }
        (files, errors)
    }

    fn walk_into(path: PathBuf, files: &mut Vec<PathBuf>, errors: &mut Vec<Unscanned>) {
        let md = match std::fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) => return errors.push(Unscanned { path, reason: format!("cannot read: {e}") }),
        };
        if md.is_file() {
            files.push(path);
        } else if md.is_dir() {
            let entries = std::fs::read_dir(&path)
                .and_then(|dir| dir.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>());
            match entries {
                Ok(mut entries) => {
                    entries.sort();
                    for entry in entries {
                        walk_into(entry, files, errors);
                    }
                }
                Err(e) => errors.push(Unscanned { path, reason: format!("cannot list directory: {e}") }),
            }
        }
    }

    fn progress_bar(files: u64) -> indicatif::ProgressBar {
        let pb = indicatif::ProgressBar::new(files);
        let style =
            indicatif::ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} files ({elapsed}, {eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        pb.set_style(style);
        pb
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn findings_print_as_documented() {
            let m = Match {
                rule: "eicar".into(),
                namespace: "test".into(),
                tags: vec!["test".into()],
                path: "/tmp/x".into(),
                sha256: [0xab; 32],
            };
            let f = Finding::Malware(m);
            let v = f.json();
            assert_eq!(
                (v["path"].as_str(), v["rule"].as_str(), v["namespace"].as_str()),
                (Some("/tmp/x"), Some("eicar"), Some("test"))
            );
            assert_eq!(v["tags"], json!(["test"]));
            assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
            assert!(f.text().starts_with("/tmp/x: malware test:eicar [test] sha256:abab"), "{}", f.text());
        }
    }
}
