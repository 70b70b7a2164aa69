mod cli;
mod render;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{AgentsCommand, AlertsCommand, CaCommand, Cli, Command, EventsCommand, RulesCommand, TokenCommand};
use haidang_collector::admin::Client;
use haidang_collector::api::types::{EventQuery, TokenRequest};
use haidang_collector::logging;
use haidang_collector::serve::{self, ServeOptions};
use haidang_collector::verify;
use std::process::ExitCode;

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
        Command::Serve { data, quic, http, rules, placeholders, limits } => {
            logging::init(cli.log_format, "info");
            runtime()?.block_on(serve::run(ServeOptions { data, quic, http, rules, placeholders, limits }))?;
        }
        Command::Hunt(args) => return Ok(haidang_collector::hunt::run(args)),
        Command::Rules { command } => {
            let clean = match command {
                RulesCommand::Check { dirs, verbose, with_shipped, placeholders, json } => {
                    haidang_collector::rulecheck::check(&dirs, with_shipped, placeholders.as_deref(), verbose, json)
                        .context("--placeholders")?
                }
                RulesCommand::Reload { json } => render::rule_summary(&client(&cli.api).reload_rules()?, json)?,
                RulesCommand::Status { json } => render::rule_summary(&client(&cli.api).rules()?, json)?,
            };
            if !clean {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Ca { command: CaCommand::Fingerprint } => render::ca(&client(&cli.api).ca()?),
        Command::Token { command: TokenCommand::Create { group, ttl, uses, allow_reenroll } } => {
            let request = TokenRequest { group, ttl_secs: ttl.as_secs().max(1), uses, allow_reenroll };
            render::token(&client(&cli.api).create_token(&request)?)
        }
        Command::Agents { command: AgentsCommand::List { json } } => render::agents(&client(&cli.api).agents()?, json)?,
        Command::Agents { command: AgentsCommand::Revoke { id } } => render::revoked(&client(&cli.api).revoke(&id)?),
        Command::Events { command: EventsCommand::List { agent, kind, from, to, limit, json } } => {
            let query = EventQuery { agent, kind, from, to, limit: Some(limit) };
            render::events(client(&cli.api).events(&query)?, json)?
        }
        Command::Alerts { command: AlertsCommand::List { limit, json } } => {
            render::alerts(&client(&cli.api).alerts(limit)?, json)?
        }
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
