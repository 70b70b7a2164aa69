//! The update watchdog: a process of its own (`haidang-agent update-watchdog`), started outside
//! the agent's service so that it outlives the agent the installer stops. It installs the new
//! package, waits for the new version to publish its status as running and connected, and
//! otherwise reinstalls the previous package. Its verdict goes to `updates/result.json`, which
//! the agent then running records as `updated` or `update_failed`.

use super::UpdateDir;
use crate::state::{State, write_private};
use crate::status::{CONNECTED, StatusFile};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the agent hands the watchdog.
#[derive(Debug, Serialize, Deserialize)]
pub struct Attempt {
    pub from: String,
    pub to: String,
    pub package: PathBuf,
    pub rollback: PathBuf,
    pub installer: Vec<String>,
    pub deadline_secs: u64,
    pub old_pid: u32,
    pub started: String,
}

/// The watchdog's verdict.
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub updated: bool,
    pub to: String,
    pub detail: String,
}

/// Starts the watchdog detached from the agent: under systemd in a transient unit of its own
/// (a service's restart kills its whole control group), else in a new session.
pub fn spawn(state_root: &Path) -> Result<()> {
    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(state_root.join("updates").join("watchdog.log"))?;
    let args = [std::ffi::OsStr::new("update-watchdog"), "--state".as_ref(), state_root.as_os_str()];
    let mut command = if Path::new("/run/systemd/system").exists() && cfg!(target_os = "linux") {
        let mut c = Command::new("systemd-run");
        c.args(["--collect", "--quiet", "--unit", "haidang-agent-update", "--"]).arg(&exe).args(args);
        c
    } else {
        let mut c = Command::new(&exe);
        c.args(args);
        c
    };
    command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        use windows_sys::Win32::System::Threading::{
            CREATE_BREAKAWAY_FROM_JOB, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS,
        };
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_BREAKAWAY_FROM_JOB);
    }
    command.spawn().context("cannot start the update watchdog")?;
    Ok(())
}

/// The watchdog's whole run.
pub fn run(state: &State) -> Result<()> {
    let dir = UpdateDir::of(state);
    let attempt: Attempt = serde_json::from_slice(&std::fs::read(dir.attempt()).context("no update attempt")?)?;
    let deadline = Duration::from_secs(attempt.deadline_secs);
    let outcome = match install(&attempt.installer, &attempt.package).and_then(|()| wait_for(state, &attempt, deadline))
    {
        Ok(()) => Outcome {
            updated: true,
            to: attempt.to.clone(),
            detail: format!("updated from {} to {}", attempt.from, attempt.to),
        },
        Err(why) => {
            tracing::error!(error = %format!("{why:#}"), "update failed; reinstalling the previous version");
            let rollback = match install(&attempt.installer, &attempt.rollback) {
                Ok(()) => format!("{} reinstalled", attempt.from),
                Err(e) => format!("reinstalling {} failed too: {e:#}", attempt.from),
            };
            Outcome {
                updated: false,
                to: attempt.to.clone(),
                detail: format!("update from {} to {} failed: {why:#}; {rollback}", attempt.from, attempt.to),
            }
        }
    };
    write_private(&dir.result(), &serde_json::to_vec_pretty(&outcome)?)?;
    std::fs::remove_file(dir.attempt())?;
    Ok(())
}

fn install(installer: &[String], package: &Path) -> Result<()> {
    let mut command = match installer.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
        None if cfg!(windows) => {
            let mut c = Command::new("msiexec");
            c.args(["/qn", "/norestart", "/i"]);
            c
        }
        None => {
            let mut c = Command::new("dpkg");
            c.arg("-i");
            c
        }
    };
    let out = command.arg(package).output().context("cannot run the installer")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("the installer failed ({}): {}", out.status, stderr.trim());
    }
    Ok(())
}

/// Waits until a process other than the old agent publishes the new version, connected.
fn wait_for(state: &State, attempt: &Attempt, deadline: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last = String::from("no status published");
    while start.elapsed() < deadline {
        if let Ok(bytes) = std::fs::read(state.status_path())
            && let Ok(status) = serde_json::from_slice::<StatusFile>(&bytes)
        {
            let fresh = status.pid != attempt.old_pid && status.updated >= attempt.started;
            if fresh && status.agent_version == attempt.to && status.connection == CONNECTED {
                return Ok(());
            }
            last = format!("version {} (pid {}), {}", status.agent_version, status.pid, status.connection);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!("{} did not run and reach the collector within {} s (last status: {last})", attempt.to, deadline.as_secs())
}
