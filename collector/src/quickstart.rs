//! `haidang-collector quickstart`: a collector on the embedded store plus a real agent
//! (enrolled over QUIC with a one-time token, like any other) watching a demo folder and
//! the process table — the shortest way to see the whole pipeline work.

use crate::serve::{self, ServeOptions};
use anyhow::{Context, Result};
use haidang_agent::config::AgentConfig;
use haidang_agent::state::State;
use std::path::Path;
use std::time::Duration;

pub async fn run(mut opts: ServeOptions) -> Result<()> {
    std::fs::create_dir_all(&opts.data).with_context(|| format!("cannot create {}", opts.data.display()))?;
    let data = opts.data.canonicalize()?;
    opts.data = data.join("collector");
    let collector = serve::start(&opts).await?;

    let state = State::new(&data.join("agent"));
    if !state.is_enrolled() {
        let token = collector.create_token("quickstart", Duration::from_secs(600), 1).await?;
        let server = collector.quic_addr.to_string();
        haidang_agent::enroll::enroll(haidang_agent::enroll::Options {
            server: &server,
            token: &token,
            ca_fingerprint: &collector.fingerprint,
            state: &state,
        })
        .await
        .context("the demo agent could not enroll")?;
    }
    let demo = data.join("demo");
    std::fs::create_dir_all(demo.join("secret"))?;
    let config = demo_config(&demo)?;
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(haidang_agent::run::run_until(state, config, async move {
        let _ = agent_stopped.await;
    }));

    collector.print_banner();
    print_guide(&data, &demo, collector.http_addr);
    serve::shutdown_signal().await;
    println!("\nstopping the agent and the collector…");
    let _ = stop_agent.send(());
    match agent.await {
        Ok(Err(e)) => eprintln!("the demo agent stopped with an error: {e:#}"),
        Err(e) => eprintln!("the demo agent crashed: {e}"),
        Ok(Ok(())) => {}
    }
    collector.shutdown().await;
    Ok(())
}

fn demo_config(demo: &Path) -> Result<AgentConfig> {
    let root = demo.display().to_string();
    let toml = format!(
        "[fim]\npaths = [{root:?}]\nexclude = [\"**/*.tmp\", \"**/*.swp\"]\ncritical = [{:?}]\nrescan_interval = \"1m\"\n\
         [process]\nenabled = true\n[uplink]\nheartbeat_interval = \"30s\"\n",
        format!("{root}/secret/**")
    );
    AgentConfig::parse(&toml).map_err(anyhow::Error::msg)
}

fn print_guide(data: &Path, demo: &Path, http: std::net::SocketAddr) {
    let token = data.join("collector").join(serve::API_TOKEN_FILE);
    let api =
        if http.port() == 8080 && http.ip().is_loopback() { String::new() } else { format!(" --api http://{http}") };
    println!();
    println!("A demo agent is enrolled and watching {} and the process table.", demo.display());
    println!("In another terminal, try:");
    println!();
    println!("  export HAIDANG_API_TOKEN=$(cat {})", token.display());
    println!("  echo \"kế hoạch\" > {}/secret/plan.txt      # a critical change", demo.display());
    println!("  echo x > {}/notes.txt", demo.display());
    println!("  haidang-collector{api} events list --kind file");
    println!("  haidang-collector{api} alerts list");
    println!("  haidang-collector{api} agents list");
    println!();
    println!(
        "(`haidang-collector` is target/release/haidang-collector; or prefix with `cargo run --release -p haidang-collector --`.)"
    );
    println!("Press Ctrl-C to stop both.");
}
