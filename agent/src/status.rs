//! The running agent's status, published as `STATE/status.json` (the spool's database is
//! locked by the running agent, so `haidang-agent status` reads this file instead).

use crate::dlp_sensor::ChannelStatus;
use crate::spool::Spool;
use crate::state::{State, write_private};
use crate::winlog::WinlogStatus;
use anyhow::Result;
use haidang_proto::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The connection state while the uplink has a live connection.
pub const CONNECTED: &str = "connected";

/// How often the status file is rewritten.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct LinkState {
    inner: Mutex<(String, Option<Timestamp>, u64)>,
    /// The identity the uplink was given in place of the one the agent started with (a copied
    /// agent re-enrolled).
    reenrolled_as: Mutex<Option<String>>,
}

impl LinkState {
    pub fn reenrolled(&self, agent_id: String) {
        if let Ok(mut g) = self.reenrolled_as.lock() {
            *g = Some(agent_id);
        }
    }

    fn agent_id(&self) -> Option<String> {
        self.reenrolled_as.lock().ok().and_then(|g| g.clone())
    }

    pub fn set_connection(&self, state: &str) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 = state.to_string();
        }
    }

    pub fn acked(&self, batch_no: u64) {
        if let Ok(mut g) = self.inner.lock() {
            g.1 = Some(Timestamp::now());
            g.2 = batch_no;
        }
    }

    /// Whether the uplink has a live connection to the collector right now.
    pub fn is_connected(&self) -> bool {
        self.snapshot().0 == CONNECTED
    }

    /// Number of the last batch acknowledged (changes whenever the uplink makes progress).
    pub fn acked_batches(&self) -> u64 {
        self.snapshot().2
    }

    fn snapshot(&self) -> (String, Option<Timestamp>, u64) {
        self.inner.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusFile {
    pub pid: u32,
    /// The running version (see `version::running`); the update watchdog waits for the new one.
    #[serde(default)]
    pub agent_version: String,
    pub agent_id: String,
    pub server: String,
    pub started: String,
    pub updated: String,
    pub connection: String,
    pub last_ack: Option<String>,
    pub last_acked_batch: u64,
    pub spool_events: u64,
    pub spool_batches: u64,
    pub spool_bytes: u64,
    pub last_seq: u64,
    pub fim_sensor: String,
    pub process_sensor: String,
    /// How the DLP channels watch writes (`off` when they do not run).
    #[serde(default)]
    pub dlp_sensor: String,
    /// One line per mount the DLP channels watch: channel, mount point, fstype, source, how.
    #[serde(default)]
    pub dlp_mounts: Vec<String>,
    /// What the DLP print channel does (`off` when it does not run).
    #[serde(default)]
    pub dlp_print: String,
    /// One line per Windows event log channel: whether it is read, and from where.
    #[serde(default)]
    pub winlog: Vec<String>,
    /// The fingerprint of the machine the agent runs on (`-` when it has none), as the
    /// collector's alerts about copied agents name it.
    #[serde(default)]
    pub machine: String,
}

pub struct Publisher {
    pub state: Arc<State>,
    pub spool: Arc<Spool>,
    pub link: Arc<LinkState>,
    pub agent_id: String,
    pub server: String,
    pub machine: String,
    pub fim_sensor: String,
    pub process_sensor: String,
    /// The DLP channels, when they run.
    pub dlp: Option<Arc<ChannelStatus>>,
    /// The Windows event log channels, when the sensor runs.
    pub winlog: Option<Arc<WinlogStatus>>,
}

impl Publisher {
    pub async fn run(self) {
        let started = Timestamp::now().to_rfc3339();
        // One line when writing starts failing and one when it works again, not one a tick.
        let mut failing = false;
        loop {
            match self.publish(&started) {
                Ok(()) if failing => {
                    tracing::info!("status file written again");
                    failing = false;
                }
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "cannot write status file; retrying quietly");
                    failing = true;
                }
                _ => {}
            }
            tokio::time::sleep(PUBLISH_INTERVAL).await;
        }
    }

    fn publish(&self, started: &str) -> Result<()> {
        let depth = self.spool.depth()?;
        let (connection, last_ack, last_batch) = self.link.snapshot();
        let (dlp_sensor, dlp_mounts) = self.dlp.as_ref().map_or(("off".to_owned(), Vec::new()), |d| d.snapshot());
        let dlp_print = self.dlp.as_ref().map_or("off".to_owned(), |d| d.print());
        let status = StatusFile {
            pid: std::process::id(),
            agent_version: crate::version::running().to_string(),
            agent_id: self.link.agent_id().unwrap_or_else(|| self.agent_id.clone()),
            server: self.server.clone(),
            started: started.to_string(),
            updated: Timestamp::now().to_rfc3339(),
            connection,
            last_ack: last_ack.map(|t| t.to_rfc3339()),
            last_acked_batch: last_batch,
            spool_events: depth.events,
            spool_batches: depth.batches,
            spool_bytes: depth.bytes,
            last_seq: depth.last_seq,
            fim_sensor: self.fim_sensor.clone(),
            process_sensor: self.process_sensor.clone(),
            dlp_sensor,
            dlp_mounts,
            dlp_print,
            winlog: self.winlog.as_ref().map_or_else(Vec::new, |w| w.snapshot()),
            machine: self.machine.clone(),
        };
        write_private(&self.state.status_path(), &serde_json::to_vec_pretty(&status)?)
    }
}

/// Whether the status file was written by a live agent.
pub fn is_live(status: &StatusFile) -> bool {
    let fresh = Timestamp::parse_rfc3339(&status.updated)
        .map(|t| Timestamp::now().0 - t.0 < (PUBLISH_INTERVAL * 5).as_nanos() as i64)
        .unwrap_or(false);
    #[cfg(unix)]
    let alive = i32::try_from(status.pid).is_ok_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
    #[cfg(not(unix))]
    let alive = true;
    fresh && alive
}
