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
    // Run from a checkout (as the README says), the demo scans with the shipped rules.
    let shipped = std::env::current_dir().map(|dir| dir.join("rules/yara")).ok().filter(|rules| rules.is_dir());
    let yara_rules = shipped.as_deref();
    let config = demo_config(&demo, yara_rules)?;
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(haidang_agent::run::run_until(state, config, async move {
        let _ = agent_stopped.await;
    }));

    collector.print_banner();
    print_guide(&data, &demo, yara_rules, collector.http_addr);
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

/// The demo agent's configuration: FIM over `demo`, the process table, and YARA scanning
/// with `yara_rules` (the repository's shipped rules when run from it; none turns scanning
/// off, rather than looking for the packaged `/etc/haidang/yara` a checkout does not have).
fn demo_config(demo: &Path, yara_rules: Option<&Path>) -> Result<AgentConfig> {
    let root = demo.display().to_string();
    let rules = yara_rules.map(|r| format!("{:?}", r.display().to_string())).unwrap_or_default();
    let toml = format!(
        "[fim]\npaths = [{root:?}]\nexclude = [\"**/*.tmp\", \"**/*.swp\"]\ncritical = [{:?}]\nrescan_interval = \"1m\"\n\
         [process]\nenabled = true\n[scan]\nyara_rules = [{rules}]\n[uplink]\nheartbeat_interval = \"30s\"\n",
        format!("{root}/secret/**")
    );
    AgentConfig::parse(&toml).map_err(anyhow::Error::msg)
}

fn print_guide(data: &Path, demo: &Path, yara_rules: Option<&Path>, http: std::net::SocketAddr) {
    let token = data.join("collector").join(serve::API_TOKEN_FILE);
    let api =
        if http.port() == 8080 && http.ip().is_loopback() { String::new() } else { format!(" --api http://{http}") };
    println!();
    println!("A demo agent is enrolled and watching {} and the process table.", demo.display());
    match yara_rules {
        Some(rules) => println!("New and changed files there are scanned with the YARA rules in {}.", rules.display()),
        None => println!("YARA scanning is off: run from the repository to use its rules in rules/yara."),
    }
    println!("In another terminal, try:");
    println!();
    println!("  export HAIDANG_API_TOKEN=$(cat {})", token.display());
    println!("  echo \"kế hoạch\" > {}/secret/plan.txt      # a critical change", demo.display());
    println!("  echo x > {}/notes.txt", demo.display());
    if yara_rules.is_some() {
        // The EICAR test file, written in two pieces so that this program is not one.
        println!(
            "  printf '%s%s' 'X5O!P%@AP[4\\PZX54(P^)7CC)7}}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > {}/eicar.com   # malware",
            demo.display()
        );
    }
    println!("  haidang-collector{api} events list --kind file");
    println!("  haidang-collector{api} alerts list");
    println!("  haidang-collector{api} agents list");
    println!();
    println!(
        "(`haidang-collector` is target/release/haidang-collector; or prefix with `cargo run --release -p haidang-collector --`.)"
    );
    println!("Press Ctrl-C to stop both.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scans_with_the_shipped_rules_or_not_at_all() {
        let demo = Path::new("/tmp/haidang-data/demo");
        let rules = Path::new("/work/rules/yara");
        assert_eq!(demo_config(demo, Some(rules)).expect("config").scan.yara_rules, [rules]);
        assert!(demo_config(demo, None).expect("config").scan.yara_rules.is_empty());
    }
}
