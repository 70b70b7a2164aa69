//! `haidang-agent`: sets up the heap, logging and (for the commands that need one) the async
//! runtime, then hands each command to the library. The command line is [`cli`]; what the
//! commands print is [`render`].

mod cli;
mod render;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command, FimCommand, LogFormat, VaultCommand};
use haidang_agent::config::AgentConfig;
use haidang_agent::state::State;
use haidang_agent::status::{StatusFile, is_live};
use haidang_agent::{enroll, fim, run, scan};
use std::io::IsTerminal;
use std::process::ExitCode;

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
        Command::Enroll { server, token, ca_fingerprint, state, if_not_enrolled } => {
            let state = State::new(&state.path);
            if if_not_enrolled && state.is_enrolled() {
                let identity = state.identity()?;
                println!("already enrolled as agent {} with {}; nothing done", identity.agent_id, identity.server);
                return Ok(ExitCode::SUCCESS);
            }
            let identity = runtime()?.block_on(enroll::enroll(enroll::Options {
                server: &server,
                token: &token,
                ca_fingerprint: &ca_fingerprint,
                state: &state,
            }))?;
            render::enrolled(&identity);
        }
        Command::Run { state, config } => {
            let config = match config {
                Some(path) => AgentConfig::load(&path)?,
                None => AgentConfig::default(),
            };
            let state = State::new(&state.path);
            runtime()?.block_on(run::run_until(state, config, run::shutdown_signal()))?;
        }
        Command::UpdateWatchdog { state } => {
            haidang_agent::update::watchdog::run(&State::new(&state.path))?;
        }
        Command::Status { state, json } => {
            let state = State::new(&state.path);
            let identity = state.identity()?;
            // Never open the spool here: that would lock it against an agent starting right
            // now. When the agent is stopped, the status file holds the figures it last published.
            let file: Option<StatusFile> =
                std::fs::read(state.status_path()).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let running = file.as_ref().is_some_and(is_live);
            render::status(&identity, file.as_ref(), running, json);
            return Ok(if running { ExitCode::SUCCESS } else { ExitCode::from(3) });
        }
        Command::Fim(FimCommand::Baseline { target, json }) => {
            let cfg = target.fim_config()?;
            let stats = fim::build_baseline(&cfg, &target.db, std::io::stderr().is_terminal())?;
            render::fim_baseline(&target.db, &cfg.paths, &stats, json);
        }
        Command::Fim(FimCommand::Check { target, json }) => {
            let cfg = target.fim_config()?;
            let report = fim::check(&cfg, &target.db, std::io::stderr().is_terminal())?;
            render::fim_check(&report, json);
            return Ok(if report.changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
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
                channel: haidang_dlp::Channel::AtRest,
                json,
                paths: dlp.at_rest_paths,
                max_file_size: dlp.max_file_size.as_u64(),
                progress: std::io::stderr().is_terminal(),
            });
        }
        Command::Vault(VaultCommand::List { vault, json }) => {
            let vault = vault.open()?;
            let (entries, problems) = vault.list()?;
            render::vault_list(&entries, &problems, vault.dir(), json);
        }
        Command::Vault(VaultCommand::Restore { id, vault, to }) => {
            let restored = vault.open()?.restore(&id, to.as_deref())?;
            render::restored(&id, &restored);
        }
        #[cfg(windows)]
        Command::Service(cli::ServiceCommand::Install { state, config }) => {
            haidang_agent::service::install(&state.path, config.as_deref())?;
            println!("service {} installed; start it with: sc start {0}", haidang_agent::service::SERVICE_NAME);
        }
        #[cfg(windows)]
        Command::Service(cli::ServiceCommand::Uninstall) => {
            haidang_agent::service::uninstall()?;
            println!("service {} removed; the state directory is kept", haidang_agent::service::SERVICE_NAME);
        }
        #[cfg(windows)]
        Command::Service(cli::ServiceCommand::Run { state, config }) => {
            haidang_agent::service::run(state.path, config)?
        }
        Command::Extract { file } => {
            return Ok(haidang_dlp::extract::run_child(&file));
        }
        #[cfg(feature = "yara")]
        Command::CompileYaraRules(args) => haidang_yara::compile_child_main(args)?,
    }
    Ok(ExitCode::SUCCESS)
}
