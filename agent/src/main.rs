use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use haidang_agent::channels::vault;
use haidang_agent::config::AgentConfig;
use haidang_agent::fim::{self, FimConfig};
use haidang_agent::state::State;
use haidang_agent::status::{StatusFile, is_live};
use haidang_agent::{enroll, run, scan};
use haidang_proto::event::{FileEvent, FileMeta};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Hải Đăng endpoint agent: file integrity and process monitoring, streamed signed to the
/// collector over QUIC.
#[derive(Parser)]
#[command(name = "haidang-agent", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
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
        /// State directory for the key, certificates, spool and baseline.
        #[arg(long)]
        state: PathBuf,
    },
    /// Run the agent.
    Run {
        /// State directory written by `enroll`.
        #[arg(long)]
        state: PathBuf,
        /// TOML configuration (see README); defaults watch nothing but processes.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show the agent's enrollment, sensors, connection, spool depth and last ack.
    Status {
        /// State directory written by `enroll`.
        #[arg(long)]
        state: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
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
        /// compiled, in $XDG_CACHE_HOME/haidang/yara-rules (else ~/.cache/haidang/yara-rules)
        /// and used again while the rule files and this program are unchanged.
        #[arg(long, requires = "yara")]
        no_rule_cache: bool,
        /// Look inside documents for Vietnamese personal data and state-secret markings.
        #[arg(long)]
        dlp: bool,
        /// A directory of DLP policy files (`*.yml`); the built-in copy of rules/dlp when absent.
        #[arg(long, value_name = "DIR", requires = "dlp")]
        policy: Option<PathBuf>,
        /// The channel DLP findings are decided for: usb, share, print or at_rest.
        #[arg(long, default_value = "at_rest", value_parser = parse_channel, requires = "dlp")]
        channel: haidang_agent::dlp::Channel,
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
    /// Internal: parses one untrusted document for the DLP content walker and streams its
    /// parts on stdout; the agent runs itself so under memory and CPU limits.
    #[command(name = haidang_agent::dlp::extract::SUBCOMMAND, hide = true)]
    Extract { file: PathBuf },
    /// Internal: compiles YARA rules into a cache directory and exits, so that the running
    /// agent never holds the compiler's memory.
    #[cfg(feature = "yara")]
    #[command(name = haidang_yara::COMPILE_COMMAND, hide = true)]
    CompileYaraRules(haidang_yara::CompileArgs),
}

#[derive(Subcommand)]
enum VaultCommand {
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
struct VaultTarget {
    /// The agent's state directory (it holds the vault key, and the vault by default).
    #[arg(long)]
    state: PathBuf,
    /// The agent's configuration, when its [dlp] section moves the vault elsewhere.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl VaultTarget {
    fn open(&self) -> Result<vault::Vault> {
        anyhow::ensure!(self.state.is_dir(), "{} is not an agent state directory", self.state.display());
        let dlp = match &self.config {
            Some(file) => AgentConfig::load(file)?.dlp,
            None => haidang_agent::channels::DlpConfig::default(),
        };
        Ok(vault::Vault::new(&dlp.vault_dir(&self.state), &self.state.join("vault.key")))
    }
}

#[derive(Subcommand)]
enum FimCommand {
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
struct FimTarget {
    /// Agent configuration file whose [fim] section names the paths and the exclude and
    /// critical globs.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A directory (or file) covered recursively; repeat for more.
    #[arg(long, value_name = "DIR")]
    path: Vec<PathBuf>,
    /// The baseline database file. Nothing in its directory is ever monitored.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,
    /// Glob of paths to leave out, added to the configuration's (a glob without `/`, such as
    /// `*.tmp`, matches a name anywhere); repeat for more.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan { .. } | Command::Discover { .. } => haidang_agent::heap::reuse_for_batch(),
        _ => haidang_agent::heap::keep_small(),
    }
    init_logging(cli.log_format);
    // `fim check` keeps 1 for "changes found", as `diff` and `aide --check` do.
    let failure = match cli.command {
        Command::Fim(FimCommand::Check { .. }) | Command::Scan { .. } | Command::Discover { .. } => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    };
    match run_cli(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            failure
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a service's log goes to a file or the journal,
    // where escape codes would garble every line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn run_cli(command: Command) -> Result<ExitCode> {
    match command {
        Command::Enroll { server, token, ca_fingerprint, state } => {
            let state = State::new(&state);
            let identity = runtime()?.block_on(enroll::enroll(enroll::Options {
                server: &server,
                token: &token,
                ca_fingerprint: &ca_fingerprint,
                state: &state,
            }))?;
            println!("enrolled as agent {} in group {:?}", identity.agent_id, identity.group);
        }
        Command::Run { state, config } => {
            let config = match config {
                Some(path) => AgentConfig::load(&path)?,
                None => AgentConfig::default(),
            };
            let state = State::new(&state);
            runtime()?.block_on(run::run_until(state, config, run::shutdown_signal()))?;
        }
        Command::Status { state, json } => return status(&State::new(&state), json),
        Command::Fim(FimCommand::Baseline { target, json }) => fim_baseline(&target, json)?,
        Command::Fim(FimCommand::Check { target, json }) => return fim_check(&target, json),
        Command::Scan { yara, no_rule_cache, dlp, policy, channel, max_file_size, json, paths } => {
            let progress = std::io::stderr().is_terminal();
            return scan::cli::run(&scan::cli::Options {
                yara,
                rule_cache: !no_rule_cache,
                dlp,
                policy,
                channel,
                json,
                paths,
                max_file_size: max_file_size.as_u64(),
                progress,
            });
        }
        Command::Discover { config, json } => {
            let dlp = AgentConfig::load(&config)?.dlp;
            anyhow::ensure!(!dlp.at_rest_paths.is_empty(), "{} names no at_rest_paths under [dlp]", config.display());
            return scan::cli::run(&scan::cli::Options {
                yara: None,
                rule_cache: false,
                dlp: true,
                policy: dlp.policy,
                channel: haidang_agent::dlp::Channel::AtRest,
                json,
                paths: dlp.at_rest_paths,
                max_file_size: dlp.max_file_size.as_u64(),
                progress: std::io::stderr().is_terminal(),
            });
        }
        Command::Vault(VaultCommand::List { vault, json }) => vault_list(&vault.open()?, json)?,
        Command::Vault(VaultCommand::Restore { id, vault, to }) => {
            let restored = vault.open()?.restore(&id, to.as_deref())?;
            println!("restored {id} to {}", haidang_proto::Text::from(restored.as_path()).display_safe());
        }
        Command::Extract { file } => {
            let code = haidang_agent::dlp::extract::child_main(&file);
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)));
        }
        #[cfg(feature = "yara")]
        Command::CompileYaraRules(args) => haidang_yara::compile_child_main(args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A channel a scan can be decided for (`any` is for policy files, not a place data goes).
fn parse_channel(name: &str) -> Result<haidang_agent::dlp::Channel, String> {
    use haidang_agent::dlp::Channel;
    match Channel::parse(name) {
        Some(Channel::Any) | None => Err("expected usb, share, print or at_rest".into()),
        Some(channel) => Ok(channel),
    }
}

fn vault_list(vault: &vault::Vault, json: bool) -> Result<()> {
    let (entries, problems) = vault.list()?;
    for problem in &problems {
        eprintln!("warning: unreadable vault entry: {problem}");
    }
    for e in &entries {
        if json {
            println!(
                "{}",
                json!({
                    "id": e.id, "quarantined_at": e.quarantined_at, "channel": e.channel, "path": e.path,
                    "size": e.size, "sha256": e.sha256, "uid": e.uid, "gid": e.gid,
                    "mode": format!("{:o}", e.mode), "rules": e.rules,
                })
            );
        } else {
            println!(
                "{}  {}  {:<8} {:>10}  {}  sha256:{}  [{}]",
                e.id,
                e.quarantined_at,
                e.channel,
                e.size,
                haidang_proto::text::terminal_safe(&e.path),
                e.sha256,
                e.rules.join(",")
            );
        }
    }
    if !json {
        eprintln!("{} entries in {}", entries.len(), vault.dir().display());
    }
    Ok(())
}

fn status(state: &State, json: bool) -> Result<ExitCode> {
    let identity = state.identity()?;
    let file: Option<StatusFile> =
        std::fs::read(state.status_path()).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let running = file.as_ref().is_some_and(is_live);
    // Never open the spool here: that would lock it against an agent starting right now.
    // When the agent is stopped these are the figures it last published.
    let (events, batches, bytes) =
        file.as_ref().map_or((0, 0, 0), |f| (f.spool_events, f.spool_batches, f.spool_bytes));
    let field = |f: fn(&StatusFile) -> String| file.as_ref().filter(|_| running).map_or("-".to_string(), f);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "agent_id": identity.agent_id, "server": identity.server, "group": identity.group,
                "running": running, "connection": field(|f| f.connection.clone()),
                "last_ack": file.as_ref().and_then(|f| f.last_ack.clone()),
                "spool_events": events, "spool_batches": batches, "spool_bytes": bytes,
                "last_seq": file.as_ref().map_or(0, |f| f.last_seq),
                "fim_sensor": field(|f| f.fim_sensor.clone()), "process_sensor": field(|f| f.process_sensor.clone()),
                "dlp_sensor": field(|f| f.dlp_sensor.clone()),
                "dlp_mounts": file.as_ref().filter(|_| running).map_or(Vec::new(), |f| f.dlp_mounts.clone()),
                "dlp_print": field(|f| f.dlp_print.clone()),
            })
        );
    } else {
        println!("agent:          {}", identity.agent_id);
        println!("collector:      {}", identity.server);
        println!("group:          {}", identity.group);
        println!("running:        {}", if running { "yes" } else { "no" });
        println!("connection:     {}", field(|f| f.connection.clone()));
        println!(
            "last ack:       {}",
            file.as_ref().and_then(|f| f.last_ack.clone()).unwrap_or_else(|| "never".into())
        );
        println!("spool:          {events} events, {batches} unacknowledged batches, {bytes} bytes");
        println!("file sensor:    {}", field(|f| f.fim_sensor.clone()));
        println!("process sensor: {}", field(|f| f.process_sensor.clone()));
        println!("dlp channels:   {}", field(|f| f.dlp_sensor.clone()));
        for mount in file.as_ref().filter(|_| running).map_or(&[][..], |f| &f.dlp_mounts[..]) {
            println!("  watching      {mount}");
        }
        println!("dlp print:      {}", field(|f| f.dlp_print.clone()));
    }
    Ok(if running { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

impl FimTarget {
    /// The FIM configuration these options describe.
    fn fim_config(&self) -> Result<FimConfig> {
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
        let canonical = |p: &Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p));
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

fn fim_baseline(target: &FimTarget, json: bool) -> Result<()> {
    let cfg = target.fim_config()?;
    let stats = fim::build_baseline(&cfg, &target.db, std::io::stderr().is_terminal())?;
    let secs = stats.elapsed.as_secs_f64();
    let mb_per_sec = if secs > 0.0 { stats.hashed_bytes as f64 / 1e6 / secs } else { 0.0 };
    if json {
        println!(
            "{}",
            json!({
                "db": target.db.display().to_string(),
                "paths": cfg.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "entries": stats.entries, "files": stats.files, "bytes": stats.bytes,
                "hashed_bytes": stats.hashed_bytes, "elapsed_secs": secs, "hashed_mb_per_sec": mb_per_sec,
            })
        );
    } else {
        println!("baseline:  {}", target.db.display());
        println!("paths:     {} ({} files)", stats.entries, stats.files);
        println!("bytes:     {} ({} bytes)", bytesize::ByteSize(stats.bytes), stats.bytes);
        println!("hashed:    {} ({} bytes)", bytesize::ByteSize(stats.hashed_bytes), stats.hashed_bytes);
        println!("elapsed:   {secs:.2} s");
        println!("rate:      {mb_per_sec:.0} MB/s hashed");
    }
    Ok(())
}

fn fim_check(target: &FimTarget, json: bool) -> Result<ExitCode> {
    let cfg = target.fim_config()?;
    let report = fim::check(&cfg, &target.db, std::io::stderr().is_terminal())?;
    for change in &report.changes {
        if json {
            println!("{}", change_json(change));
        } else {
            let what = changed_fields(change.old.as_ref(), change.new.as_ref()).join(", ");
            let path = change.path.display_safe();
            let action = change.action.as_str();
            match &change.old_path {
                Some(from) => println!("{action:<10}  {} -> {path}", from.display_safe()),
                None if what.is_empty() => println!("{action:<10}  {path}"),
                None => println!("{action:<10}  {path}  ({what})"),
            }
        }
    }
    if !json {
        let secs = report.stats.elapsed.as_secs_f64();
        match report.changes.len() {
            0 => println!("no changes: {} paths match the baseline ({secs:.2} s)", report.stats.entries),
            n => println!("{n} changes among {} paths ({secs:.2} s)", report.stats.entries),
        }
    }
    Ok(if report.changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The attributes that differ between the baseline's record and the disk's.
fn changed_fields(old: Option<&FileMeta>, new: Option<&FileMeta>) -> Vec<&'static str> {
    let (Some(old), Some(new)) = (old, new) else { return Vec::new() };
    [
        ("hash", old.hash != new.hash),
        ("size", old.size != new.size),
        ("mode", old.mode != new.mode),
        ("uid", old.uid != new.uid),
        ("gid", old.gid != new.gid),
        ("mtime", old.mtime != new.mtime),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

fn change_json(change: &FileEvent) -> Value {
    let meta = |m: Option<&FileMeta>| {
        m.map_or(Value::Null, |m| {
            json!({
                "size": m.size, "mode": format!("{:o}", m.mode), "uid": m.uid, "gid": m.gid,
                "mtime": m.mtime.to_rfc3339(), "hash": m.hash.map(hex::encode),
            })
        })
    };
    json!({
        "action": change.action.as_str(),
        "path": change.path.as_str(),
        "old_path": change.old_path.as_ref().map(|p| p.as_str()),
        "changed": changed_fields(change.old.as_ref(), change.new.as_ref()),
        "critical": change.critical,
        "old": meta(change.old.as_ref()),
        "new": meta(change.new.as_ref()),
    })
}
