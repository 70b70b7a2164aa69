mod cli;
mod render;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{
    AgentsCommand, AlertsCommand, CaCommand, Cli, Command, EventsCommand, ReleaseCommand, RulesCommand, TokenCommand,
};
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

fn release(command: ReleaseCommand) -> Result<ExitCode> {
    use haidang_collector::release::offline;
    use haidang_collector::release::rollout::{Rollouts, Stage};
    match command {
        ReleaseCommand::Keygen { out } => {
            let key = offline::keygen(&out)?;
            println!("{}", hex::encode(key.key_id()?.as_ref()));
            eprintln!("wrote {} (secret) and {}.pub (public)", out.display(), out.display());
        }
        ReleaseCommand::Init { key, timestamp_public, repo, expires } => {
            runtime()?.block_on(offline::init_root(&key, timestamp_public.as_deref(), &repo, expires))?;
            eprintln!("wrote the root of {}", repo.display());
        }
        ReleaseCommand::Publish { key, repo, packages, expires, timestamp_expires } => {
            let expiries = offline::Expiries { targets: expires, snapshot: expires, timestamp: timestamp_expires };
            for p in runtime()?.block_on(offline::publish(&key, &repo, &packages, &expiries))? {
                println!(
                    "{} {} {} {} bytes sha256:{} blake3:{}",
                    p.name, p.platform, p.version, p.length, p.sha256, p.blake3
                );
            }
        }
        ReleaseCommand::Rollout { version, group, percent, repo } => {
            offline::require_version(&repo, &version)?;
            Rollouts::stage(&repo, Stage { group: group.clone(), version: version.clone(), percent })?;
            println!("{version} staged for {percent}% of group {group}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { data, quic, http, rules, placeholders, release, release_timestamp_ttl, limits } => {
            logging::init(cli.log_format, "info");
            let release = release.unwrap_or_else(|| data.join("release"));
            let options =
                ServeOptions { data, quic, http, rules, placeholders, release, release_timestamp_ttl, limits };
            runtime()?.block_on(serve::run(options))?;
        }
        Command::Release { command } => return release(command),
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
