//! `haidang quickstart`: a collector on the embedded store plus a real agent (enrolled over
//! QUIC with a one-time token, like any other) watching a demo folder and the process table —
//! the shortest way to see the whole pipeline work. Both are the real binaries, driven through
//! their command lines.

use crate::binaries::{self, Binaries};
use crate::cli::QuickstartArgs;
use crate::demo::{self, Guide};
use crate::supervise::{self, Supervised};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The collector's API token file in its data directory.
const API_TOKEN_FILE: &str = "api.token";

pub(crate) fn run(args: &QuickstartArgs) -> Result<ExitCode> {
    supervise::catch_stop_signals()?;
    let binaries = binaries::locate(!args.no_build)?;
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create {}", args.data.display()))?;
    let data = args.data.canonicalize()?;

    let (mut collector, listening) = start_collector(&binaries, &data.join("collector"), args)?;
    let agent = match start_agent(&binaries, &data, &listening) {
        Ok(agent) => agent,
        Err(e) => {
            supervise::stop_all(std::slice::from_mut(&mut collector), libc::SIGTERM)?;
            return Err(e);
        }
    };
    let clean = supervise::until_stopped(vec![agent, collector])?;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where the running collector listens, as its banner says, and its API token.
struct Listening {
    quic: SocketAddr,
    http: SocketAddr,
    api_token_file: PathBuf,
}

/// Starts `haidang-collector serve` and passes its banner through until it says it is up.
fn start_collector(binaries: &Binaries, data: &Path, args: &QuickstartArgs) -> Result<(Supervised, Listening)> {
    let mut command = Command::new(&binaries.collector);
    command
        .args(["serve", "--data"])
        .arg(data)
        .args(["--quic", &args.quic.to_string(), "--http", &args.http.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    quiet_logs(&mut command);
    let mut collector = Supervised::spawn("collector", &mut command)?;
    let stdout = collector.stdout().context("the collector's output is not connected")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut quic, mut http) = (None, None);
    // The banner ends with the API token line, printed once both listeners are up.
    loop {
        let Some(Ok(line)) = lines.next() else {
            let status = collector.stop(libc::SIGTERM)?;
            bail!("the collector stopped while starting ({status}); see its messages above");
        };
        println!("{line}");
        let field = line.trim();
        if let Some(addr) = field.strip_prefix("QUIC (agents):") {
            quic = addr.trim().parse().ok();
        } else if let Some(addr) = field.strip_prefix("HTTP (API, /metrics, /healthz): http://") {
            http = addr.trim().parse().ok();
        } else if field.starts_with("API token:") {
            break;
        }
    }
    // The rest of the collector's output goes on to ours; draining it also keeps the
    // collector from blocking on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    });
    let (Some(quic), Some(http)) = (quic, http) else {
        let _ = collector.stop(libc::SIGTERM);
        bail!("the collector's banner did not name its QUIC and HTTP addresses");
    };
    Ok((collector, Listening { quic, http, api_token_file: data.join(API_TOKEN_FILE) }))
}

/// Enrolls the demo agent (once: its state survives restarts) and starts it.
fn start_agent(binaries: &Binaries, data: &Path, collector: &Listening) -> Result<Supervised> {
    let state = data.join("agent");
    if !is_enrolled(binaries, &state)? {
        enroll(binaries, &state, collector)?;
    }
    let demo = data.join("demo");
    std::fs::create_dir_all(demo.join("secret")).with_context(|| format!("cannot create {}", demo.display()))?;
    // Run from a checkout (as the README says), the demo scans with the shipped rules.
    let shipped = std::env::current_dir().map(|dir| dir.join("rules/yara")).ok().filter(|rules| rules.is_dir());
    let yara_rules = shipped.as_deref();
    let config = data.join("agent.toml");
    std::fs::write(&config, demo::agent_config(&demo, yara_rules))
        .with_context(|| format!("cannot write {}", config.display()))?;

    let mut command = Command::new(&binaries.agent);
    command.args(["run", "--state"]).arg(&state).arg("--config").arg(&config).stdin(Stdio::null());
    quiet_logs(&mut command);
    let agent = Supervised::spawn("agent", &mut command)?;
    Guide {
        demo: &demo,
        yara_rules,
        api_token: &collector.api_token_file,
        collector: &as_typed(&binaries.collector),
        http: collector.http,
    }
    .print();
    Ok(agent)
}

/// `haidang-agent status` succeeds only for an enrolled state directory.
fn is_enrolled(binaries: &Binaries, state: &Path) -> Result<bool> {
    let status = Command::new(&binaries.agent)
        .args(["status", "--state"])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run haidang-agent status")?;
    Ok(status.success())
}

/// Enrolls the agent with a single-use token from the collector's admin API, pinning its CA.
fn enroll(binaries: &Binaries, state: &Path, collector: &Listening) -> Result<()> {
    let api_token = std::fs::read_to_string(&collector.api_token_file)
        .with_context(|| format!("cannot read the API token {}", collector.api_token_file.display()))?;
    let admin = |args: &[&str]| -> Result<String> {
        let out = Command::new(&binaries.collector)
            .args(["--api", &format!("http://{}", collector.http)])
            .args(args)
            .env("HAIDANG_API_TOKEN", api_token.trim())
            .stdin(Stdio::null())
            .output()
            .context("cannot run haidang-collector")?;
        if !out.status.success() {
            bail!("`haidang-collector {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let fingerprint = admin(&["ca", "fingerprint"])?;
    let token = admin(&["token", "create", "--group", "quickstart", "--ttl", "10m", "--uses", "1"])?;
    // The token goes through the environment so that it does not show in the process list.
    let out = Command::new(&binaries.agent)
        .args(["enroll", "--server", &collector.quic.to_string(), "--ca-fingerprint", &fingerprint, "--state"])
        .arg(state)
        .env("HAIDANG_ENROLL_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .context("cannot run haidang-agent enroll")?;
    if !out.status.success() {
        bail!("the demo agent could not enroll: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Warnings and errors only, as befits a demo in one terminal, unless RUST_LOG says otherwise.
fn quiet_logs(command: &mut Command) {
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
}

/// `path` relative to the working directory when it is inside it (`target/release/…`), so the
/// guide's commands are short and work as printed.
fn as_typed(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}
