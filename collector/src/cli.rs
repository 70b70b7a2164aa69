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
        #[command(flatten)]
        limits: haidang_collector::limits::Limits,
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
