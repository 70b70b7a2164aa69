use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use haidang_agent::config::AgentConfig;
use haidang_agent::state::State;
use haidang_agent::status::{StatusFile, is_live};
use haidang_agent::{enroll, run};
use std::path::PathBuf;
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
        #[arg(long)]
        state: PathBuf,
        /// TOML configuration (see README); defaults watch nothing but processes.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show the agent's enrollment, sensors, connection, spool depth and last ack.
    Status {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run_cli(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
    }
    Ok(ExitCode::SUCCESS)
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
    }
    Ok(if running { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
