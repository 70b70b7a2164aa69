//! Loading YARA rules: every `*.yar` / `*.yara` file under the configured paths is compiled on
//! its own, in its own namespace (the file's path under its root, without extension), so a
//! file that does not compile is reported with its file, line and reason while every other
//! file loads, and two rule sets that happen to reuse a rule name do not collide.
//!
//! Rules that need a YARA module this crate is not built with are left out and listed in the
//! report with the module's name; the rest of their file still loads. Nothing is dropped
//! without appearing in the [`LoadReport`].

use crate::externals;
use anyhow::{Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// Modules yara-x has but this crate is not built with (see yara/Cargo.toml). Rules that
/// import them are reported and skipped instead of failing their whole file.
const MODULES_NOT_BUILT: [&str; 11] =
    ["crx", "cuckoo", "dex", "lnk", "macho", "magic", "msi", "olecf", "vba", "vt", "zip"];

/// Rule files larger than this are refused: no real rule file comes close, and the whole file
/// is read into memory.
const MAX_RULE_FILE: u64 = 64 * 1024 * 1024;

/// Compiled rules, ready for any number of [`Scanner`](crate::Scanner)s.
pub struct Rules {
    pub(crate) compiled: yara_x::Rules,
    /// Some rule file names an external variable (or includes another file, which might):
    /// only then does a file's name or owner change what the rules say about its content.
    pub(crate) uses_externals: bool,
    /// What loading found: files read, rules in use, and every file or rule left out.
    pub report: LoadReport,
    /// Taken by a scanner of these rules while it holds a large file (see
    /// [`crate::scanner::LARGE_FILE`]), so that scanners on several threads take turns with
    /// large files instead of each holding one whole.
    pub(crate) large_file_turn: std::sync::Mutex<()>,
}

/// What loading found.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// Rules compiled and in use.
    pub rules: usize,
    /// Problems, one per file that failed to compile and one per rule left out.
    pub problems: Vec<RuleProblem>,
}

/// A rule file, or a rule, that is not in use, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleProblem {
    /// The rule file (or the directory that could not be listed).
    pub file: PathBuf,
    /// 1-based line of the error, when the compiler names a place.
    pub line: Option<usize>,
    /// The compiler's reason, or which rule was left out and why.
    pub reason: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// The rule files under the configured paths, read, with what could not be read.
pub(crate) struct RuleSources {
    roots: Vec<PathBuf>,
    /// Each readable file with the root it was found under and its text.
    files: Vec<RuleFile>,
    /// Files that could not be read or listed.
    problems: Vec<RuleProblem>,
    /// Files found, readable or not.
    found: usize,
}

struct RuleFile {
    root: PathBuf,
    path: PathBuf,
    source: Vec<u8>,
}

impl RuleSources {
    /// Reads every rule file found under `paths` (files or directories, read recursively, in
    /// name order). Fails only when a configured path cannot be read.
    pub(crate) fn read(paths: &[PathBuf]) -> Result<RuleSources> {
        let mut sources = RuleSources { roots: paths.to_vec(), files: Vec::new(), problems: Vec::new(), found: 0 };
        for root in paths {
            let mut files = Vec::new();
            collect_rule_files(root, &mut files, &mut sources.problems)?;
            sources.found += files.len();
            for path in files {
                match read_rule_file(&path) {
                    Ok(source) => sources.files.push(RuleFile { root: root.clone(), path, source }),
                    Err(reason) => sources.problems.push(RuleProblem { file: path, line: None, reason }),
                }
            }
        }
        Ok(sources)
    }

    /// A digest of everything that decides the compiled rules: the paths, every file's name
    /// and text, and the problems met reading them. Equal digests compile to equal rules with
    /// the same build of the host.
    pub(crate) fn digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        let mut field = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        for root in &self.roots {
            field(root.as_os_str().as_encoded_bytes());
        }
        for file in &self.files {
            field(file.root.as_os_str().as_encoded_bytes());
            field(file.path.as_os_str().as_encoded_bytes());
            field(&file.source);
        }
        for problem in &self.problems {
            field(problem.to_string().as_bytes());
        }
        *hasher.finalize().as_bytes()
    }
}

impl Rules {
    /// Compiles every rule file found under `paths` (files or directories, read recursively,
    /// in name order), each in its own namespace: its path under its root, without extension.
    /// Fails when a configured path cannot be read or when no rule at all compiled; everything
    /// else that went wrong is in [`Rules::report`].
    pub fn load(paths: &[PathBuf]) -> Result<Rules> {
        Rules::compile(RuleSources::read(paths)?)
    }

    /// Compiles the rule files, each in its own namespace. Fails only when no rule at all
    /// compiled; everything else that went wrong is in [`Rules::report`].
    pub(crate) fn compile(sources: RuleSources) -> Result<Rules> {
        let mut compiler = yara_x::Compiler::new();
        // Rules written for libyara use regexps yara-x would otherwise refuse (such as an
        // unescaped `{`); public rule sets must load unmodified.
        compiler.relaxed_re_syntax(true);
        for module in MODULES_NOT_BUILT {
            compiler.ignore_module(module);
        }
        for name in externals::NAMES {
            compiler.define_global(name, "").context("cannot define the YARA external variables")?;
        }
        let mut report = LoadReport { files: sources.found, rules: 0, problems: sources.problems };
        let mut uses_externals = false;
        // The compiler's list of left-out rules only grows; this many are reported already.
        let mut ignored_reported = 0;
        for RuleFile { root, path: file, source } in sources.files {
            uses_externals |=
                externals::NAMES.iter().chain(&["include"]).any(|word| contains(&source, word.as_bytes()));
            let namespace = namespace(&root, &file);
            compiler.new_namespace(&namespace);
            if let Err(e) =
                compiler.add_source(yara_x::SourceCode::from(source.as_slice()).with_origin(file.display().to_string()))
            {
                report.problems.push(RuleProblem {
                    file: file.clone(),
                    line: error_line(&e, &source),
                    reason: e.title().to_string(),
                });
            }
            // Rules left out of a file that otherwise compiled are named one by one.
            // Collected, not sized: the iterator gives no size hint, so `len` on `skip` would panic.
            let ignored: Vec<_> = compiler.ignored_rules().skip(ignored_reported).collect();
            ignored_reported += ignored.len();
            for (rule, why) in ignored {
                let reason = match why {
                    yara_x::IgnoredRuleReason::IgnoredModule(m) => {
                        format!("rule {rule} left out: it needs the YARA module \"{m}\", not built into this agent")
                    }
                    yara_x::IgnoredRuleReason::IgnoredRule(r) => {
                        format!("rule {rule} left out: it uses rule {r}, which was left out")
                    }
                    yara_x::IgnoredRuleReason::CompileError(e) => {
                        format!("rule {rule} left out: {}", e.title())
                    }
                };
                report.problems.push(RuleProblem { file: file.clone(), line: None, reason });
            }
        }
        let compiled = compiler.build();
        report.rules = compiled.iter().count();
        anyhow::ensure!(
            report.rules > 0,
            "no YARA rule could be loaded from {}{}",
            joined(&sources.roots),
            first_problem(&report)
        );
        Ok(Rules { compiled, uses_externals, report, large_file_turn: Default::default() })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn joined(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn first_problem(report: &LoadReport) -> String {
    match (report.files, report.problems.first()) {
        (0, _) => " (no .yar or .yara files there)".to_string(),
        (_, Some(p)) => format!(" (first problem: {p})"),
        (_, None) => String::new(),
    }
}

/// The rule files under `root`. The root itself must be readable (a wrong path in the
/// configuration is an error); a subdirectory that cannot be listed is a problem in the report.
fn collect_rule_files(root: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<RuleProblem>) -> Result<()> {
    let md = std::fs::metadata(root).with_context(|| format!("cannot read YARA rules at {}", root.display()))?;
    if md.is_file() {
        out.push(root.to_path_buf());
        return Ok(());
    }
    let mut pending = list(root).with_context(|| format!("cannot list YARA rules in {}", root.display()))?;
    while let Some(entry) = pending.pop() {
        if entry.is_dir() {
            match list(&entry) {
                Ok(more) => pending.extend(more),
                Err(e) => problems.push(RuleProblem { file: entry, line: None, reason: format!("cannot list: {e}") }),
            }
        } else if entry.extension().is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara")) {
            out.push(entry);
        }
    }
    // Name order, whatever order the directories were listed in.
    out.sort();
    Ok(())
}

fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect()
}

/// The file's text; a file too large or unreadable is a problem in the report.
fn read_rule_file(file: &Path) -> Result<Vec<u8>, String> {
    let md = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if md.len() > MAX_RULE_FILE {
        return Err("larger than 64 MiB, not read".into());
    }
    std::fs::read(file).map_err(|e| format!("cannot read: {e}"))
}

/// The namespace of a rule file: its path under the root it was found in, without extension
/// (`apt/lazarus` for `<root>/apt/lazarus.yar`); a root that is itself a file gives its stem.
fn namespace(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).ok().filter(|r| !r.as_os_str().is_empty());
    let named = relative.unwrap_or_else(|| file.file_name().map_or(file, Path::new));
    named.with_extension("").to_string_lossy().replace('\\', "/")
}

/// The line the compiler's first label points at, counted in the file's own text.
fn error_line(e: &yara_x::errors::CompileError, source: &[u8]) -> Option<usize> {
    let label = e.labels().next()?;
    let start = label.span().start().min(source.len());
    Some(source[..start].iter().filter(|&&b| b == b'\n').count() + 1)
}
