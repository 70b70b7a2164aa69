//! `haidang-agent run`: start the sensors, the spool, the heartbeat, the clock watch, the
//! status publisher and the uplink, and run until asked to stop.

use crate::config::AgentConfig;
use crate::health::Heartbeat;
use crate::lifecycle::{self, StopCause};
use crate::machine::{self, MachineConfig};
use crate::spool::{Recorder, Spool};
use crate::state::Identity;
use crate::state::State;
use crate::status::{LinkState, Publisher};
use crate::update::Updater;
use crate::uplink::{Machine, Session, Uplink};
use crate::{dlp_sensor, fim, process, scan, tls};
use anyhow::Result;
use haidang_proto::update::ALPN_UPDATE;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// Runs the agent until `shutdown` resolves, with why it should stop.
pub async fn run_until(state: State, config: AgentConfig, shutdown: impl Future<Output = StopCause>) -> Result<()> {
    // A bad DLP policy refuses the start, as a bad config file does.
    let dlp_channels = match config.dlp.enabled {
        true => Some(dlp_sensor::Channels::prepare(config.dlp.clone(), &state.root)?),
        false => None,
    };
    let creds = state.credentials()?;
    state.create_dir()?;
    // Everything that can refuse to start is checked before `started` is recorded.
    let uplink_tls = tls::enrolled(&creds.ca, &creds.cert, &creds.key_pkcs8)?;
    let machine = this_machine(&state, &config.machine, &creds.identity)?;
    let machine_shown = machine.as_ref().map_or_else(|| "-".to_string(), |m| m.id.to_string());
    let update_tls = tls::enrolled_for(ALPN_UPDATE, &creds.ca, &creds.cert, &creds.key_pkcs8)?;
    let spool = Spool::open(&state.spool_path(), config.spool.max_bytes.as_u64())?;
    let recorder = Recorder::start(spool.clone());
    let state = Arc::new(state);
    let link = Arc::new(LinkState::default());
    // Delivery runs from before `started` until after `stopped`, so that both reach the
    // collector, and so that a spool too full to take `started` can still drain.
    let mut delivery = tokio::task::JoinSet::new();
    delivery.spawn(
        Uplink {
            server: creds.identity.server.clone(),
            session: Mutex::new(Session { agent_id: creds.agent_id, key: Arc::new(creds.key), config: uplink_tls }),
            machine: machine.map(Mutex::new),
            state: state.clone(),
            spool: spool.clone(),
            batch_max_events: config.uplink.batch_max_events,
            link: link.clone(),
        }
        .run(),
    );
    lifecycle::record_start(&state, &spool, &recorder).await?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(lifecycle::watch_clock(config.health.clock_jump_tolerance, recorder.clone()));
    if config.update.enabled {
        tasks.spawn(
            Updater {
                state: state.clone(),
                server: creds.identity.server.clone(),
                tls: update_tls,
                config: config.update.clone(),
                recorder: recorder.clone(),
            }
            .run(),
        );
    }

    let fim_sensor = if config.fim.paths.is_empty() {
        "off".to_string()
    } else {
        let tap = scan::start_background(&config, &state, &recorder, &mut tasks);
        let (cfg, db, rec) = (config.fim.clone(), state.baseline_path(), recorder.clone());
        let progress = std::io::stderr().is_terminal();
        tasks.spawn(async move {
            if let Err(e) = fim::run(cfg, db, rec, progress, tap).await {
                tracing::error!(error = %format!("{e:#}"), "file integrity monitoring stopped");
            }
        });
        fim::sensor_name().to_string()
    };
    let process_sensor = if config.process.enabled {
        let selection = process::select_backend();
        let (cfg, rec, backend) = (config.process.clone(), recorder.clone(), selection.backend);
        tasks.spawn(async move {
            if let Err(e) = process::run(cfg, backend, rec).await {
                tracing::error!(error = %format!("{e:#}"), "process monitoring stopped");
            }
        });
        selection.describe()
    } else {
        "off".to_string()
    };

    let dlp = dlp_channels.map(|dlp_channels| {
        let status = Arc::new(dlp_sensor::ChannelStatus::default());
        let (rec, st) = (recorder.clone(), status.clone());
        tasks.spawn(async move {
            if let Err(e) = dlp_channels.run(rec, st).await {
                tracing::error!(error = %format!("{e:#}"), "DLP channels stopped");
            }
        });
        status
    });

    #[cfg(not(windows))]
    let winlog = None;
    #[cfg(windows)]
    let winlog = config.winlog.enabled.then(|| {
        let status = Arc::new(crate::winlog::WinlogStatus::default());
        let (cfg, sp, rec, st) = (config.winlog.clone(), spool.clone(), recorder.clone(), status.clone());
        tasks.spawn(async move {
            if let Err(e) = crate::winlog::run(cfg, sp, rec, st).await {
                tracing::error!(error = %format!("{e:#}"), "Windows event log sensor stopped");
            }
        });
        status
    });

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
    delivery.spawn(
        Publisher {
            state: state.clone(),
            spool: spool.clone(),
            link: link.clone(),
            agent_id: creds.identity.agent_id.clone(),
            server: creds.identity.server.clone(),
            machine: machine_shown,
            fim_sensor: fim_sensor.clone(),
            process_sensor: process_sensor.clone(),
            dlp,
            winlog,
        }
        .run(),
    );
    tracing::info!(agent = %creds.identity.agent_id, server = %creds.identity.server, fim = %fim_sensor, process = %process_sensor, "agent running");
    let cause = shutdown.await;
    tracing::info!(%cause, "agent stopping");
    // Sensors first, so that `stopped` is the run's last event.
    tasks.shutdown().await;
    let stopped = lifecycle::record_stop(cause, &state, &spool, &recorder, &link).await;
    delivery.shutdown().await;
    stopped
}

/// The machine the agent runs on, for its hello. The first run records it as the identity's
/// machine (state from before fingerprints included); a state directory recorded on another
/// machine is a copy, or the machine was rebuilt, and the collector judges which. A machine
/// with no identifiers at all sends no hello, as agents before hellos did.
fn this_machine(state: &State, config: &MachineConfig, identity: &Identity) -> Result<Option<Machine>> {
    let found = match machine::fingerprint(config) {
        Ok(f) => f,
        Err(e) if config.id_file.is_some() => return Err(e),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot tell this machine from a copy of it; cloned-machine detection is off");
            return Ok(None);
        }
    };
    let enrolled_on = match identity.machine.as_deref().map(str::parse::<haidang_proto::MachineId>) {
        Some(Ok(m)) => m,
        Some(Err(e)) => anyhow::bail!("{} names no machine fingerprint: {e}", state.root.join("agent.json").display()),
        None => {
            let recorded = Identity { machine: Some(found.id.to_string()), ..identity.clone() };
            state.save_identity(&recorded)?;
            tracing::info!(machine = %found.id, sources = ?found.sources, "recorded the machine this agent belongs to");
            found.id
        }
    };
    if enrolled_on != found.id {
        tracing::warn!(
            recorded = %enrolled_on, now = %found.id, sources = ?found.sources,
            "this state directory belongs to another machine (a copied image, or new hardware); the collector decides"
        );
    }
    // The hello carries only DNS names; a host renamed to something else since it enrolled
    // is still told apart by its fingerprint.
    let hostname = Some(crate::enroll::hostname())
        .filter(|h| haidang_proto::enroll::is_host_name(h))
        .unwrap_or_else(|| "unnamed".to_string());
    Ok(Some(Machine { id: found.id, enrolled_on: Some(enrolled_on), hostname }))
}

/// Resolves on Ctrl-C or SIGTERM, naming which.
pub async fn shutdown_signal() -> StopCause {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    // A Ctrl-C handler that cannot be installed disables this branch instead
                    // of stopping the agent at once.
                    Ok(()) = ctrl_c => StopCause::Signal("SIGINT"),
                    _ = term.recv() => StopCause::Signal("SIGTERM"),
                }
            }
            Err(_) => ctrl_c_only(ctrl_c, "SIGINT").await,
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c_only(ctrl_c, "Ctrl-C").await
    }
}

/// Waits for Ctrl-C alone; forever if its handler cannot be installed (the agent is then
/// stopped by a signal it cannot catch, and the next start reports that).
async fn ctrl_c_only(ctrl_c: impl Future<Output = std::io::Result<()>>, name: &'static str) -> StopCause {
    if ctrl_c.await.is_err() {
        std::future::pending::<()>().await;
    }
    StopCause::Signal(name)
}
