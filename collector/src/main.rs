use anyhow::Result;
use clap::{Parser, Subcommand};
use haidang_collector::admin::{self, Client, EventQuery};
use haidang_collector::logging::{self, LogFormat};
use haidang_collector::serve::{self, ServeOptions};
use haidang_collector::verify;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Hải Đăng collector: receives signed events from agents over QUIC, stores them, raises
/// alerts and serves the SOC.
#[derive(Parser)]
#[command(name = "haidang-collector", version, about)]
struct Cli {
    /// The running collector's HTTP API, for admin commands.
    #[arg(long, global = true, env = "HAIDANG_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        #[command(flatten)]
        limits: haidang_collector::limits::Limits,
    },
    /// Try it: a collector and a local agent on the embedded store, with a guided demo.
    Quickstart {
        /// Data directory for the collector and the demo agent.
        #[arg(long, default_value = "./haidang-data")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:4433")]
        quic: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
    },
    /// Internal: compiles YARA rules for the quickstart's demo agent, which runs in this
    /// process, as `haidang-agent compile-yara-rules` does for an agent.
    #[command(name = haidang_agent::scan::rule_cache::COMPILE_COMMAND, hide = true)]
    CompileYaraRules(haidang_agent::scan::rule_cache::CompileArgs),
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
enum RulesCommand {
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
enum CaCommand {
    /// Print the CA fingerprint (sha256:<hex>) that agents pin at enrollment.
    Fingerprint,
}

#[derive(Subcommand)]
enum TokenCommand {
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
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// List enrolled agents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent's certificate; its connections are closed and refused from now on.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// List the newest stored events (oldest of them first).
    List {
        #[arg(long)]
        agent: Option<String>,
        /// file, process, health or gap.
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
enum AlertsCommand {
    /// List alerts.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn client(api: &str) -> Client {
    Client::new(api, std::env::var("HAIDANG_API_TOKEN").ok())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { data, quic, http, rules, limits } => {
            logging::init(cli.log_format, "info");
            runtime()?.block_on(serve::run(ServeOptions { data, quic, http, rules, limits }))?;
        }
        Command::CompileYaraRules(args) => args.run()?,
        Command::Quickstart { data, quic, http } => {
            logging::init(cli.log_format, "warn");
            let opts = ServeOptions { data, quic, http, rules: Vec::new(), limits: Default::default() };
            runtime()?.block_on(haidang_collector::quickstart::run(opts))?;
        }
        Command::Hunt(args) => return Ok(haidang_collector::hunt::run(args)),
        Command::Rules { command } => {
            let clean = match command {
                RulesCommand::Check { dirs, verbose, with_shipped, json } => {
                    haidang_collector::rulecheck::check(&dirs, with_shipped, verbose, json)
                }
                RulesCommand::Reload { json } => admin::rules_reload(&client(&cli.api), json)?,
                RulesCommand::Status { json } => admin::rules_status(&client(&cli.api), json)?,
            };
            if !clean {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Ca { command: CaCommand::Fingerprint } => admin::ca_fingerprint(&client(&cli.api))?,
        Command::Token { command: TokenCommand::Create { group, ttl, uses } } => {
            admin::token_create(&client(&cli.api), &group, ttl, uses)?
        }
        Command::Agents { command: AgentsCommand::List { json } } => admin::agents_list(&client(&cli.api), json)?,
        Command::Agents { command: AgentsCommand::Revoke { id } } => admin::agents_revoke(&client(&cli.api), &id)?,
        Command::Events { command: EventsCommand::List { agent, kind, from, to, limit, json } } => {
            admin::events_list(&client(&cli.api), &EventQuery { agent, kind, from, to, limit }, json)?
        }
        Command::Alerts { command: AlertsCommand::List { json } } => admin::alerts_list(&client(&cli.api), json)?,
        Command::Verify { data, agent, json } => {
            logging::init(cli.log_format, "warn");
            let only = agent.map(|a| a.parse()).transpose().map_err(anyhow::Error::msg)?;
            let reports = verify::verify(&data, only)?;
            verify::print(&reports, json);
            if reports.iter().any(|r| r.problem.is_some()) {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
