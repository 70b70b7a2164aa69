//! The `haidang` command line.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Hải Đăng in one command: a collector and an enrolled local agent, for trying it out.
#[derive(Parser)]
#[command(name = "haidang", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Try it: starts a collector on the embedded store and a local agent enrolled with a
    /// one-time token (the haidang-collector and haidang-agent binaries next to this one),
    /// with a guided demo. Ctrl-C stops both.
    Quickstart(QuickstartArgs),
}

#[derive(Args)]
pub(crate) struct QuickstartArgs {
    /// Data directory for the collector and the demo agent.
    #[arg(long, default_value = "./haidang-data")]
    pub data: PathBuf,
    /// Address for agents (QUIC/UDP).
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub quic: SocketAddr,
    /// Address for the collector's API, /metrics and /healthz (HTTP/TCP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Run the binaries next to this one as they are: no `cargo build` first, even when this
    /// program runs from a source checkout's target directory.
    #[arg(long)]
    pub no_build: bool,
}
