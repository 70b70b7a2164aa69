//! Compiled YARA rules kept on disk. Compiling a public rule set costs seconds of CPU (the
//! 5,883 signature-base rules take about 4 s of one core) and a peak of memory far above what
//! scanning with them needs; the compiled form loads in a fraction of that. The agent keeps
//! the one for its configured rules in its state directory, and `haidang-agent scan` keeps
//! one per user.
//!
//! yara-x warns that rules deserialised from bytes someone else could have written are unsafe
//! to scan with, so a cache file is used only when it and its directory belong to this user
//! and nobody else may write to them, and only when its checksum matches: a torn or truncated
//! write is compiled again, never trusted. A cache file is named by a digest of the rule
//! files' paths and texts and of the host's executable, so a changed rule or a new build
//! never meets rules compiled for something else.
//!
//! Compiling apart is a contract between [`RuleCache::load_compiling_apart`], which runs the
//! host's own executable as `<exe> compile-yara-rules --cache DIR -- PATH...`, and the host,
//! which must answer that command line by calling [`compile_child_main`] with the parsed
//! [`CompileArgs`].

use crate::cache_file;
use crate::rules::{LoadReport, RuleSources, Rules};
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// No compiled rule set comes close: the largest public sets compile to tens of MB.
const MAX_CACHE_FILE: u64 = 1 << 30;

const EXTENSION: &str = "yarac";

/// The hidden subcommand of the host executable that compiles rules into a cache and exits;
/// see [`RuleCache::load_compiling_apart`] and [`compile_child_main`].
pub const COMPILE_COMMAND: &str = "compile-yara-rules";

/// Where compiled rules are kept, and how they get there.
pub struct RuleCache {
    dir: PathBuf,
}

/// The arguments of [`COMPILE_COMMAND`], for the host to put under that (hidden) subcommand of
/// its command line: `#[command(name = COMPILE_COMMAND, hide = true)] CompileYaraRules(CompileArgs)`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The cache directory the compiled rules are kept in.
    #[arg(long)]
    pub(crate) cache: PathBuf,
    /// Rule files or directories.
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
}

/// The child's side of [`RuleCache::load_compiling_apart`]: compiles the rules into the cache
/// and fails if they could not be kept there. The host calls it from `main` when it is run
/// with [`COMPILE_COMMAND`], and exits non-zero with the error's last line on stderr if it
/// fails (the parent reports that line and compiles the rules itself).
pub fn compile_child_main(args: CompileArgs) -> Result<()> {
    let (_, origin) = RuleCache::new(args.cache).load(&args.paths)?;
    if let Origin::CompiledNotStored(why) = origin {
        anyhow::bail!("the compiled rules could not be kept: {why}");
    }
    Ok(())
}

/// How [`RuleCache::load`] got the rules.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    /// Read from the cache.
    Cached,
    /// Compiled, and stored for next time.
    Compiled,
    /// Compiled; storing them failed, for this reason.
    CompiledNotStored(String),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    uses_externals: bool,
    report: LoadReport,
}

impl RuleCache {
    /// A cache in `dir`, created (mode 0700) on first store.
    pub fn new(dir: impl Into<PathBuf>) -> RuleCache {
        RuleCache { dir: dir.into() }
    }

    /// The per-user default, for a command run by a person (`haidang-agent scan`):
    /// `$XDG_CACHE_HOME/haidang/yara-rules`, else `~/.cache/haidang/yara-rules`, else (on
    /// Windows) `%LOCALAPPDATA%\haidang\yara-rules`; none without any of these variables.
    pub fn per_user() -> Option<RuleCache> {
        let absolute = |name: &str| std::env::var_os(name).filter(|v| Path::new(v).is_absolute()).map(PathBuf::from);
        let base = absolute("XDG_CACHE_HOME")
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| Path::new(&h).join(".cache")))
            .or_else(|| absolute("LOCALAPPDATA"))?;
        Some(RuleCache::new(base.join("haidang").join("yara-rules")))
    }

    /// The directory compiled rules are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The rules under `paths`, from the cache when they were compiled before, else compiled
    /// and stored. A cache file that cannot be used is compiled over, never an error: the
    /// error is only what [`Rules::load`] would say.
    pub fn load(&self, paths: &[PathBuf]) -> Result<(Rules, Origin)> {
        let sources = RuleSources::read(paths)?;
        if let Some(rules) = self.cached(&sources) {
            return Ok((rules, Origin::Cached));
        }
        self.compile_and_keep(sources)
    }

    fn compile_and_keep(&self, sources: RuleSources) -> Result<(Rules, Origin)> {
        let file = self.file_for(&sources);
        let rules = Rules::compile(sources)?;
        let origin = match self.store(&file, &rules) {
            Ok(()) => Origin::Compiled,
            Err(e) => Origin::CompiledNotStored(format!("{e:#}")),
        };
        Ok((rules, origin))
    }

    /// As [`RuleCache::load`], but rules not in the cache are compiled by a child process
    /// (this executable run with [`COMPILE_COMMAND`], see [`compile_child_main`]) that stores them, and then
    /// read from the cache. The compiler's memory peak (over 100 MB for a large public rule
    /// set, several times what scanning needs) then ends with the child, instead of staying
    /// in a long-running host whose freed heap is not given back. Should the child fail, the
    /// rules are compiled here, as [`RuleCache::load`] would.
    pub fn load_compiling_apart(&self, paths: &[PathBuf]) -> Result<(Rules, Origin)> {
        let sources = RuleSources::read(paths)?;
        if let Some(rules) = self.cached(&sources) {
            return Ok((rules, Origin::Cached));
        }
        match self.compile_in_child(paths) {
            Ok(()) => {
                if let Some(rules) = self.cached(&sources) {
                    return Ok((rules, Origin::Compiled));
                }
                // The rule files changed while the child compiled them.
                tracing::warn!("the YARA rules compiled apart were not found in the cache; compiling them here");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "compiling the YARA rules apart failed; compiling them here")
            }
        }
        self.compile_and_keep(sources)
    }

    fn compile_in_child(&self, paths: &[PathBuf]) -> Result<()> {
        let exe = std::env::current_exe().context("cannot find the agent's own executable")?;
        let output = std::process::Command::new(&exe)
            .arg(COMPILE_COMMAND)
            .arg("--cache")
            .arg(&self.dir)
            .arg("--")
            .args(paths)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        anyhow::bail!(
            "{} {COMPILE_COMMAND} {}: {}",
            exe.display(),
            output.status,
            last.chars().take(500).collect::<String>()
        )
    }

    /// The rules compiled before from these sources, if the cache has them and they can be
    /// trusted; a cache file that cannot be used is logged and left to be compiled over.
    fn cached(&self, sources: &RuleSources) -> Option<Rules> {
        let file = self.file_for(sources);
        match self.read(&file) {
            Ok(rules) => rules,
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %format!("{e:#}"), "compiled YARA rules not used; compiling again");
                None
            }
        }
    }

    fn file_for(&self, sources: &RuleSources) -> PathBuf {
        self.dir.join(format!("{}.{EXTENSION}", hex::encode(&cache_key(sources)[..16])))
    }

    /// The cached rules in `file`; `None` when there are none.
    fn read(&self, file: &Path) -> Result<Option<Rules>> {
        let mut f = match open_private(file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("cannot open"),
        };
        let md = f.metadata()?;
        ensure_private(&md, "the file")?;
        ensure_private(&std::fs::metadata(&self.dir)?, "its directory")?;
        let len = md.len();
        anyhow::ensure!(len <= MAX_CACHE_FILE, "larger than {MAX_CACHE_FILE} bytes");
        let mut bytes = Vec::with_capacity(len as usize);
        f.read_to_end(&mut bytes)?;
        let (header, compiled) = cache_file::decode(&bytes)?;
        let Header { uses_externals, report } = postcard::from_bytes(header).context("damaged header")?;
        let compiled = yara_x::Rules::deserialize(compiled).context("yara-x cannot read the compiled rules")?;
        Ok(Some(Rules { compiled, uses_externals, report, large_file_turn: Default::default() }))
    }

    fn store(&self, file: &Path, rules: &Rules) -> Result<()> {
        create_private_dir(&self.dir)?;
        let header =
            postcard::to_allocvec(&Header { uses_externals: rules.uses_externals, report: rules.report.clone() })
                .context("cannot encode the load report")?;
        let compiled = rules.compiled.serialize().context("yara-x cannot serialise the rules")?;
        let bytes = cache_file::encode(&header, &compiled)?;
        drop(compiled);
        let partial = self.dir.join(format!(".{}.{}.partial", std::process::id(), EXTENSION));
        let written = (|| -> std::io::Result<()> {
            let mut out = create_private(&partial)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&partial, file)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e).with_context(|| format!("cannot write {}", file.display()));
        }
        self.forget_others(file);
        Ok(())
    }

    /// Rule sets compiled before, for rules since changed, are of no more use.
    fn forget_others(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for path in entries.flatten().map(|e| e.path()) {
            if path != keep && path.extension().is_some_and(|e| e == EXTENSION) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The name of the cache file for these sources and this build of the host: the executable's
/// size and modification time stand for the build, since a rebuilt yara-x may compile the
/// same rules differently while its serialisation version stays the same.
fn cache_key(sources: &RuleSources) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(cache_file::format_id());
    hasher.update(&sources.digest());
    if let Some(md) = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()) {
        hasher.update(&md.len().to_le_bytes());
        let modified = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        hasher.update(&modified.unwrap_or_default().as_nanos().to_le_bytes());
    }
    *hasher.finalize().as_bytes()
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    ensure_private(&std::fs::symlink_metadata(dir)?, "its directory")
}

/// Owned by this user, and nobody else may write to it.
#[cfg(unix)]
fn ensure_private(md: &std::fs::Metadata, what: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    anyhow::ensure!(
        md.uid() == me && md.mode() & 0o022 == 0 && (md.is_file() || md.is_dir()),
        "{what} must belong to uid {me} and be writable only by it (it is uid {}, mode {:o})",
        md.uid(),
        md.mode() & 0o7777
    );
    Ok(())
}

#[cfg(not(unix))]
fn open_private(_: &Path) -> std::io::Result<std::fs::File> {
    Err(std::io::ErrorKind::NotFound.into())
}

#[cfg(not(unix))]
fn create_private(_: &Path) -> std::io::Result<std::fs::File> {
    Err(std::io::Error::other("compiled rules are kept only on Unix for now"))
}

#[cfg(not(unix))]
fn create_private_dir(_: &Path) -> Result<()> {
    anyhow::bail!("compiled rules are kept only on Unix for now")
}

#[cfg(not(unix))]
fn ensure_private(_: &std::fs::Metadata, _: &str) -> Result<()> {
    Ok(())
}
