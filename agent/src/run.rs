//! `haidang-agent run`: start the sensors, the spool, the heartbeat, the status publisher
//! and the uplink, and run until asked to stop.

use crate::config::AgentConfig;
use crate::health::Heartbeat;
use crate::spool::{Recorder, Spool};
use crate::state::State;
use crate::status::{LinkState, Publisher};
use crate::uplink::Uplink;
use crate::{fim, process, tls};
use anyhow::Result;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;

/// Runs the agent until `shutdown` resolves.
pub async fn run_until(state: State, config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let creds = state.credentials()?;
    let spool = Spool::open(&state.spool_path(), config.spool.max_bytes.as_u64())?;
    let recorder = Recorder::start(spool.clone());
    let state = Arc::new(state);
    let mut tasks = tokio::task::JoinSet::new();

    let fim_sensor = if config.fim.paths.is_empty() {
        "off".to_string()
    } else {
        let (cfg, db, rec) = (config.fim.clone(), state.baseline_path(), recorder.clone());
        let progress = std::io::stderr().is_terminal();
        tasks.spawn(async move {
            if let Err(e) = fim::run(cfg, db, rec, progress).await {
                tracing::error!(error = %format!("{e:#}"), "file integrity monitoring stopped");
            }
        });
        fim::sensor_name().to_string()
    };
    let process_sensor = if config.process.enabled {
        let backend = process::select_backend();
        let (cfg, rec) = (config.process.clone(), recorder.clone());
        tasks.spawn(async move {
            if let Err(e) = process::run(cfg, backend, rec).await {
                tracing::error!(error = %format!("{e:#}"), "process monitoring stopped");
            }
        });
        backend.as_str().to_string()
    } else {
        "off".to_string()
    };

    let link = Arc::new(LinkState::default());
    tasks.spawn(
        Heartbeat {
            interval: config.uplink.heartbeat_interval,
            recorder: recorder.clone(),
            spool: spool.clone(),
            fim_sensor: fim_sensor.clone(),
            process_sensor: process_sensor.clone(),
        }
        .run(),
    );
    tasks.spawn(
        Publisher {
            state: state.clone(),
            spool: spool.clone(),
            link: link.clone(),
            agent_id: creds.identity.agent_id.clone(),
            server: creds.identity.server.clone(),
            fim_sensor: fim_sensor.clone(),
            process_sensor: process_sensor.clone(),
        }
        .run(),
    );
    tasks.spawn(
        Uplink {
            server: creds.identity.server.clone(),
            agent_id: creds.agent_id,
            config: tls::enrolled(&creds.ca, &creds.cert, &creds.key_pkcs8)?,
            key: Arc::new(creds.key),
            spool: spool.clone(),
            batch_max_events: config.uplink.batch_max_events,
            link,
        }
        .run(),
    );
    tracing::info!(agent = %creds.identity.agent_id, server = %creds.identity.server, fim = %fim_sensor, process = %process_sensor, "agent running");
    shutdown.await;
    tracing::info!("agent stopping");
    tasks.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
