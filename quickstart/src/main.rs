//! `haidang`: the whole system in one command for someone trying it. It supervises the real
//! `haidang-collector` and `haidang-agent` binaries as child processes, so the collector and the
//! agent still meet only on the wire.

mod binaries;
mod cli;
mod demo;
mod quickstart;
mod supervise;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Quickstart(args) => quickstart::run(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
