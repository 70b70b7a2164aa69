//! The command line of `haidang-agent`: its clap types, and turning their arguments into what
//! the library takes (a vault to open, a FIM configuration). Part of the binary, not of the
//! library: no other program parses this command line, and the library's users call the
//! functions these arguments lead to directly.

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use haidang_agent::config::AgentConfig;
use haidang_agent::dlp_sensor::vault;
use haidang_agent::fim::FimConfig;
#[cfg(windows)]
use haidang_agent::state::State;
use std::path::{Path, PathBuf};

/// Hải Đăng endpoint agent: file integrity and process monitoring, streamed signed to the
/// collector over QUIC.
#[derive(Parser)]
#[command(name = "haidang-agent", version, about)]
pub(crate) struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Enroll with a collector using a one-time token.
    Enroll {
        /// Collector QUIC address, HOST:PORT.
        #[arg(long)]
        server: String,
        /// Enrollment token from `haidang-collector token create`.
        #[arg(long, env = "HAIDANG_ENROLL_TOKEN")]
        token: String,
        /// The collector CA fingerprint (sha256:<hex>) from `haidang-collector ca fingerprint`.
        #[arg(long)]
        ca_fingerprint: String,
        #[command(flatten)]
        state: StateDir,
        /// Succeed without contacting the collector when the state directory already holds an
        /// enrolled agent, instead of refusing: for installers, which run this on every
        /// install, repair and upgrade, and must keep the agent's identity.
        #[arg(long)]
        if_not_enrolled: bool,
    },
    /// Run the agent.
    Run {
        #[command(flatten)]
        state: StateDir,
        /// TOML configuration (see README); defaults watch nothing but processes.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show the agent's enrollment, sensors, connection, spool depth and last ack.
    Status {
        #[command(flatten)]
        state: StateDir,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Install a verified update and roll it back if the new version does not run and reach
    /// the collector in time. Started by the agent itself, detached from it; not for people.
    #[command(hide = true)]
    UpdateWatchdog {
        #[command(flatten)]
        state: StateDir,
    },
    /// File integrity by hand, without enrollment: build a baseline of some paths, or compare
    /// the disk with it (as `aide --init` and `aide --check` do).
    #[command(subcommand)]
    Fim(FimCommand),
    /// Scan files and directories for malware with YARA rules and for sensitive data and
    /// state-secret markings (DLP), without enrollment. Prints one line per finding (one JSON
    /// object with --json) and a summary on stderr. Exit status: 0 nothing found, 1 findings,
    /// 2 error or a file that could not be scanned.
    Scan {
        /// A YARA rule file, or a directory of `.yar`/`.yara` files read recursively; a rule
        /// file that does not compile is reported and the others are used.
        #[arg(long, value_name = "DIR")]
        yara: Option<PathBuf>,
        /// Compile the YARA rules afresh and do not keep them. By default they are kept, once
        /// compiled, in $XDG_CACHE_HOME/haidang/yara-rules (else ~/.cache/haidang/yara-rules,
        /// else %LOCALAPPDATA%\haidang\yara-rules) and used again while the rule files and
        /// this program are unchanged.
        #[arg(long, requires = "yara")]
        no_rule_cache: bool,
        /// Look inside documents for Vietnamese personal data and state-secret markings.
        #[arg(long)]
        dlp: bool,
        /// A directory of DLP policy files (`*.yml`); the built-in copy of dlp/policy when absent.
        #[arg(long, value_name = "DIR", requires = "dlp")]
        policy: Option<PathBuf>,
        /// The channel DLP findings are decided for: usb, share, print, at_rest, web or email.
        #[arg(long, default_value = "at_rest", value_parser = parse_channel, requires = "dlp")]
        channel: haidang_dlp::Channel,
        /// Files larger than this are reported as not scanned.
        #[arg(long, value_name = "SIZE", default_value = "64MiB")]
        max_file_size: bytesize::ByteSize,
        /// One JSON object per finding, and one per file that could not be scanned.
        #[arg(long)]
        json: bool,
        /// Files and directories to scan (directories recursively; symbolic links inside
        /// them are not followed).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// One DLP discovery pass over the `[dlp] at_rest_paths` of a configuration, on demand and
    /// without enrollment: the scheduled at-rest scan of `run`, printed as `scan --dlp
    /// --channel at_rest` prints (same output, same exit status). Nothing is quarantined.
    Discover {
        /// Agent configuration file whose [dlp] section names the folders and the policy.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// One JSON object per finding, and one per file that could not be inspected.
        #[arg(long)]
        json: bool,
    },
    /// The vault of files DLP blocked: list them, or restore one (as an administrator, without
    /// enrollment; the entry stays in the vault as evidence).
    #[command(subcommand)]
    Vault(VaultCommand),
    /// The agent as a Windows service (HaiDangAgent): install it (started at boot as
    /// LocalSystem, restarted on failure), uninstall it, or run it (what the service control
    /// manager starts).
    #[cfg(windows)]
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Internal: parses one untrusted document for the DLP content walker and streams its
    /// parts on stdout; the agent runs itself so under memory and CPU limits.
    #[command(name = haidang_dlp::extract::SUBCOMMAND, hide = true)]
    Extract { file: PathBuf },
    /// Internal: compiles YARA rules into a cache directory and exits, so that the running
    /// agent never holds the compiler's memory.
    #[cfg(feature = "yara")]
    #[command(name = haidang_yara::COMPILE_COMMAND, hide = true)]
    CompileYaraRules(haidang_yara::CompileArgs),
}

/// The agent's state directory: its key, certificates, spool and baseline, written by
/// `enroll`. On Windows it defaults to `%ProgramData%\HaiDang\agent`; elsewhere it is
/// always given.
#[derive(Args)]
pub(crate) struct StateDir {
    /// State directory (key, certificates, spool, baseline), written by `enroll`.
    #[cfg_attr(not(windows), arg(long = "state", value_name = "DIR"))]
    #[cfg_attr(windows, arg(long = "state", value_name = "DIR", default_value_os_t = State::default_root()))]
    pub path: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum VaultCommand {
    /// List the quarantined files: id, when, channel, original path, size, SHA-256, rules.
    List {
        #[command(flatten)]
        vault: VaultTarget,
        /// One JSON object per entry.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt one entry back to its original path (or --to PATH), with its mode and owner;
    /// refuses to replace an existing file and checks the recorded SHA-256.
    Restore {
        /// The entry id, as `vault list` shows it.
        id: String,
        #[command(flatten)]
        vault: VaultTarget,
        /// Where to write the file instead of its original path.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
    },
}

/// Where a vault is.
#[derive(Args)]
pub(crate) struct VaultTarget {
    /// The agent's state directory (it holds the vault key, and the vault by default).
    #[command(flatten)]
    state: StateDir,
    /// The agent's configuration, when its [dlp] section moves the vault elsewhere.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl VaultTarget {
    /// The vault these options name.
    pub(crate) fn open(&self) -> Result<vault::Vault> {
        let state = &self.state.path;
        anyhow::ensure!(state.is_dir(), "{} is not an agent state directory", state.display());
        let dlp = match &self.config {
            Some(file) => AgentConfig::load(file)?.dlp,
            None => haidang_agent::dlp_sensor::DlpConfig::default(),
        };
        Ok(vault::Vault::new(&dlp.vault_dir(state), &state.join("vault.key")))
    }
}

#[derive(Subcommand)]
pub(crate) enum FimCommand {
    /// Build the baseline of the paths (attributes and BLAKE3 of every file), or refresh it
    /// (only files whose attributes changed are read again), and print what it covered.
    Baseline {
        #[command(flatten)]
        target: FimTarget,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Report what changed since the baseline, without recording anything or updating the
    /// baseline. Exit status: 0 no changes, 1 changes found, 2 error.
    Check {
        #[command(flatten)]
        target: FimTarget,
        /// One JSON object per change, one per line.
        #[arg(long)]
        json: bool,
    },
}

/// What a `fim` subcommand covers and where its baseline is.
#[derive(Args)]
#[command(group(ArgGroup::new("paths").required(true).args(["config", "path"])))]
pub(crate) struct FimTarget {
    /// Agent configuration file whose [fim] section names the paths and the exclude and
    /// critical globs.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A directory (or file) covered recursively; repeat for more.
    #[arg(long, value_name = "DIR")]
    path: Vec<PathBuf>,
    /// The baseline database file. Nothing in its directory is ever monitored.
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Glob of paths to leave out, added to the configuration's (a glob without `/`, such as
    /// `*.tmp`, matches a name anywhere); repeat for more.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
}

impl FimTarget {
    /// The FIM configuration these options describe.
    pub(crate) fn fim_config(&self) -> Result<FimConfig> {
        let mut cfg = match &self.config {
            Some(file) => {
                let cfg = AgentConfig::load(file)?.fim;
                anyhow::ensure!(!cfg.paths.is_empty(), "{} names no paths under [fim]", file.display());
                cfg
            }
            None => {
                for p in &self.path {
                    std::fs::symlink_metadata(p).with_context(|| format!("cannot monitor {}", p.display()))?;
                }
                FimConfig { paths: self.path.clone(), ..FimConfig::default() }
            }
        };
        cfg.exclude.extend(self.exclude.iter().cloned());
        // The directory of the baseline is never monitored, so it must not hold a root.
        let db_dir = match self.db.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let canonical = |p: &Path| haidang_agent::paths::canonicalize(p).or_else(|_| std::path::absolute(p));
        let db_dir = canonical(db_dir).with_context(|| format!("bad --db {}", self.db.display()))?;
        for p in &cfg.paths {
            if canonical(p).is_ok_and(|p| p.starts_with(&db_dir)) {
                anyhow::bail!(
                    "--db {} is in a directory that holds the monitored path {}, and the baseline's directory is never monitored: put the baseline elsewhere",
                    self.db.display(),
                    p.display()
                );
            }
        }
        Ok(cfg)
    }
}

/// A channel a scan can be decided for (`any` is for policy files, not a place data goes).
fn parse_channel(name: &str) -> Result<haidang_dlp::Channel, String> {
    use haidang_dlp::Channel;
    match Channel::parse(name) {
        Some(Channel::Any) | None => Err("expected usb, share, print, at_rest, web or email".into()),
        Some(channel) => Ok(channel),
    }
}

#[cfg(windows)]
#[derive(Subcommand)]
pub(crate) enum ServiceCommand {
    /// Register the service (as an administrator); start it with `sc start HaiDangAgent`.
    Install {
        #[command(flatten)]
        state: StateDir,
        /// TOML configuration (see README).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Stop the service if it runs, and remove it; the state directory is kept.
    Uninstall,
    /// Run as the service; only the service control manager starts this.
    Run {
        #[command(flatten)]
        state: StateDir,
        /// TOML configuration (see README).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}
