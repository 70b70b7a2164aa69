//! The `haidang-collector` command line.

use clap::{Parser, Subcommand};
use haidang_collector::logging::LogFormat;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Hải Đăng collector: receives signed events from agents over QUIC, stores them, raises
/// alerts and serves the SOC.
#[derive(Parser)]
#[command(name = "haidang-collector", version, about)]
pub(crate) struct Cli {
    /// The running collector's HTTP API, for admin commands.
    #[arg(long, global = true, env = "HAIDANG_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the collector.
    Serve {
        /// Data directory (created on first start with the CA and the API token).
        #[arg(long)]
        data: PathBuf,
        /// Address for agents (QUIC/UDP).
        #[arg(long, default_value = "127.0.0.1:4433")]
        quic: SocketAddr,
        /// Address for the API, /metrics and /healthz (HTTP/TCP).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Sigma rule directory (repeatable), loaded on top of the shipped rules. Reloaded on
        /// SIGHUP and by `rules reload`; a rule that does not load is logged and skipped.
        #[arg(long = "rules", value_name = "DIR")]
        rules: Vec<PathBuf>,
        /// Values of Sigma `expand` placeholders: a pySigma processing pipeline file (its
        /// `vars:`). A rule using a placeholder without a value is skipped and reported.
        #[arg(long, value_name = "FILE.yml")]
        placeholders: Option<PathBuf>,
        /// Release directory served to agents for updates (what `release publish --repo`
        /// writes); default `<data>/release`.
        #[arg(long, value_name = "DIR")]
        release: Option<PathBuf>,
        /// Validity of the `timestamp.json` the collector re-signs with its online timestamp key
        /// (`<release>/timestamp.key`, if the root trusts one); re-signed at half of it.
        #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
        release_timestamp_ttl: std::time::Duration,
        #[command(flatten)]
        limits: haidang_collector::limits::Limits,
    },
    /// Signed agent updates (TUF): keys, publishing packages, staging rollouts.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// The collector's certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Enrollment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled agents.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Stored events.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Alerts.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Hunt through Windows event logs on disk (EVTX, JSON) with Sigma rules, offline.
    Hunt(haidang_collector::hunt::HuntArgs),
    /// Sigma rules: check directories offline, or reload and inspect a running collector's.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Re-verify every stored batch and each agent's hash chain (offline; stop the collector first).
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// One JSON object per agent.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReleaseCommand {
    /// Make a signing key (Ed25519): the offline key, kept off the collector, or the collector's
    /// online timestamp key (`--out <data>/release/timestamp.key`). Writes FILE (secret, 0600)
    /// and FILE.pub (public, for `release init --timestamp-public`); prints the key id.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Create a release repository's root, once, where the offline key is: the offline key
    /// signs root, targets and snapshot; timestamps may also be signed by the collector's
    /// online key. Agents pin this root on their first update check.
    Init {
        /// The offline key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The collector's online timestamp key (its .pub file), so the collector can keep
        /// timestamps fresh without the offline key.
        #[arg(long, value_name = "FILE.pub")]
        timestamp_public: Option<PathBuf>,
        /// The release directory (the collector serves `<data>/release` by default).
        #[arg(long, value_name = "DIR")]
        repo: PathBuf,
        /// Validity of the root.
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
    },
    /// Sign and record agent packages as a release (version and platform from the file name;
    /// length, SHA-256 and BLAKE3), where the offline key is. Prints one line per package.
    Publish {
        /// The offline key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The release directory.
        #[arg(long, value_name = "DIR")]
        repo: PathBuf,
        /// haidang-agent_<version>_amd64.deb or haidang-agent-<version>-x64.msi files.
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<PathBuf>,
        /// Validity of the targets and snapshot metadata.
        #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
        /// Validity of the timestamp signed here; the collector re-signs it with its online key
        /// if the root trusts one, else publish again before it expires.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        timestamp_expires: std::time::Duration,
    },
    /// Stage a published version for a share of an enrollment group's agents (on the
    /// collector's host; takes effect at the agents' next update check).
    Rollout {
        version: String,
        /// The enrollment group (`token create --group`).
        #[arg(long)]
        group: String,
        /// Share of the group, 0 to 100 (0 stops offering it).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
        /// The release directory.
        #[arg(long, value_name = "DIR")]
        repo: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Load rule directories as the collector would and report every rule skipped and why.
    /// Exit code 1 if any rule was skipped.
    Check {
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Also list the rules that loaded.
        #[arg(long, short)]
        verbose: bool,
        /// Include the rules shipped in the collector, as `serve` does.
        #[arg(long)]
        with_shipped: bool,
        /// Values of Sigma `expand` placeholders, as for `serve --placeholders`; without it a
        /// rule that uses a placeholder is reported as skipped.
        #[arg(long, value_name = "FILE.yml")]
        placeholders: Option<PathBuf>,
        /// One JSON object per rule document.
        #[arg(long)]
        json: bool,
    },
    /// Make the running collector reread its rule directories (like SIGHUP) and print the
    /// load report. Exit code 1 if any rule was skipped.
    Reload {
        #[arg(long)]
        json: bool,
    },
    /// The rules the running collector uses now.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum CaCommand {
    /// Print the CA fingerprint (sha256:<hex>) that agents pin at enrollment.
    Fingerprint,
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an enrollment token; prints it on one line.
    Create {
        /// Group the enrolled agents join.
        #[arg(long)]
        group: String,
        /// How long the token stays valid (e.g. 30m, 24h, 7d).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// An agent it enrolls that is found copied to another machine (a VM cloned after
        /// enrollment) gets a new identity on its own; without it the copy is refused until
        /// it is enrolled again.
        #[arg(long)]
        allow_reenroll: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AgentsCommand {
    /// List enrolled agents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent's certificate; its connections are closed and refused from now on.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub(crate) enum EventsCommand {
    /// List the newest stored events (oldest of them first).
    List {
        #[arg(long)]
        agent: Option<String>,
        /// file, process, health, gap, dlp, malware, agent, mount, dlp_verdict or win_event.
        #[arg(long)]
        kind: Option<String>,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AlertsCommand {
    /// List the newest alerts.
    List {
        /// At most this many (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}
