//! Cloned agents: one agent identity used from two machines (typically a VM cloned, or a disk
//! imaged, after the agent enrolled). Each agent names its machine in its hello; the first
//! machine of an identity is recorded (the one its state directory says it enrolled on, else
//! the first seen), and a connection from another machine is refused before it can replace the
//! original's connection. Each such copy raises one alert naming both hosts, however often it
//! reconnects. A copy of an agent whose token was created with `--allow-reenroll` is given a
//! new identity for the key its hello offered, and both machines stream.
//!
//! The right to re-enroll is the agent's, recorded when its token enrolled it, not a secret
//! the agent keeps: the enrollment token is spent and never stored on the endpoint. The copy
//! proves it holds the original's key (its certificate) and the new key (the hello's proof).

use crate::ingest::Ingest;
use crate::store;
use crate::store::records::{AgentRecord, MachineRecord};
use crate::store::writer::{Copied, MachineVerdict, Sighting, WriteOp};
use haidang_proto::enroll::Enrolled;
use haidang_proto::text::terminal_safe;
use haidang_proto::wire::{CollectorFrame, Refusal};
use haidang_proto::{AgentId, Hello, Timestamp, fingerprint};
use ring::rand::SecureRandom;
use tokio::sync::oneshot;

/// Copies of one identity recorded (each with its alert and, if allowed, its own identity).
/// Past it a further copy is refused without a record or an alert, so a stolen agent key
/// cannot grow the store or the alert queue without bound by inventing machines.
pub const MAX_COPIES_PER_AGENT: u64 = 4096;

/// The refusal code of a copy that may not re-enroll.
pub const CLONED: &str = "cloned_agent";

/// The collector's answer to an agent's hello: `Welcome`, `Reenrolled` or `Refused`.
pub async fn answer(ingest: &Ingest, agent: &AgentRecord, hello: &Hello) -> CollectorFrame {
    match judge(ingest, agent, hello).await {
        Ok(frame) => frame,
        Err(message) => {
            tracing::error!(agent = %agent.id, error = %message, "cannot check the agent's machine");
            refused("internal", format!("the collector cannot check this agent's machine now: {message}"))
        }
    }
}

async fn judge(ingest: &Ingest, agent: &AgentRecord, hello: &Hello) -> Result<CollectorFrame, String> {
    if let Err(message) = hello.validate(agent.id) {
        return Ok(refused("bad_hello", message));
    }
    let now = Timestamp::now();
    let seen = MachineRecord { machine: hello.machine, hostname: hello.hostname.clone(), since: now };
    // A read first: an agent on its own machine, or a known copy reconnecting, costs no write.
    let db = ingest.store.db().map_err(|e| format!("{e:#}"))?;
    let recorded = store::machine(&db, agent.id).map_err(|e| format!("{e:#}"))?;
    let first = recorded.clone().unwrap_or_else(|| match hello.enrolled_on {
        // The machine the identity was enrolled on, under the name it enrolled with.
        Some(machine) => MachineRecord { machine, hostname: agent.hostname.clone(), since: now },
        None => seen.clone(),
    });
    if first.machine == hello.machine && recorded.is_some() {
        return Ok(CollectorFrame::Welcome);
    }
    let mut new_agent = None;
    if first.machine != hello.machine {
        let (known, copies) = store::copy_of(&db, agent.id, hello.machine).map_err(|e| format!("{e:#}"))?;
        if known.is_none() && copies >= MAX_COPIES_PER_AGENT {
            ingest.metrics.connection_refused(CLONED);
            return Ok(refused(CLONED, refusal_text(agent, &first, &seen)));
        }
        if known.is_some() && !agent.reenroll {
            ingest.metrics.connection_refused(CLONED);
            return Ok(refused(CLONED, refusal_text(agent, &first, &seen)));
        }
        if agent.reenroll {
            new_agent = Some(new_identity(ingest, agent, hello)?);
        }
    }
    drop(db);
    let (reply, verdict) = oneshot::channel();
    let certificate = new_agent.as_ref().map(|(_, cert)| cert.clone());
    let sighting = Sighting { agent: agent.clone(), seen: seen.clone(), first, new_agent: new_agent.map(|(r, _)| r) };
    let op = WriteOp::Machine { sighting: Box::new(sighting), reply };
    ingest.writer.send(op).await.map_err(|_| "the store writer has stopped".to_string())?;
    let verdict = verdict.await.map_err(|_| "the store writer has stopped".to_string())??;
    Ok(match verdict {
        MachineVerdict::Admitted => CollectorFrame::Welcome,
        MachineVerdict::Copy(copied) => {
            let Copied { first, alert, reenrolled } = *copied;
            ingest.metrics.connection_refused(CLONED);
            if let Some(alert) = &alert {
                ingest.metrics.alert(&alert.severity);
                tracing::warn!(
                    alert = alert.id,
                    agent = %agent.id,
                    first_host = %terminal_safe(&first.hostname),
                    first_machine = %first.machine,
                    copy_host = %terminal_safe(&seen.hostname),
                    copy_machine = %seen.machine,
                    reenrolled_as = ?reenrolled.as_ref().map(|r| r.id.to_string()),
                    "agent identity used from a second machine"
                );
            }
            match (reenrolled, certificate) {
                (Some(record), Some(certificate)) => {
                    tracing::info!(agent = %agent.id, new_agent = %record.id, host = %terminal_safe(&seen.hostname), "copied agent re-enrolled");
                    CollectorFrame::Reenrolled(Enrolled {
                        agent_id: record.id,
                        group: record.group,
                        certificate,
                        ca_certificate: ingest.ca.cert_der().to_vec(),
                    })
                }
                _ => refused(CLONED, refusal_text(agent, &first, &seen)),
            }
        }
    })
}

/// A new identity for the copy: the hello's standby key certified under a fresh agent id, in
/// the original's group, keeping its right to re-enroll.
fn new_identity(ingest: &Ingest, agent: &AgentRecord, hello: &Hello) -> Result<(AgentRecord, Vec<u8>), String> {
    let mut id = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut id).map_err(|_| "no randomness".to_string())?;
    let id = AgentId(id);
    let certificate = ingest
        .ca
        .issue_agent_certificate(id, &hello.standby_key)
        .map_err(|e| format!("cannot issue a certificate: {e}"))?;
    let record = AgentRecord {
        id,
        hostname: hello.hostname.clone(),
        os: agent.os.clone(),
        agent_version: agent.agent_version.clone(),
        group: agent.group.clone(),
        public_key: hello.standby_key.clone(),
        cert_fingerprint: fingerprint(&certificate),
        enrolled_at: Timestamp::now(),
        revoked: false,
        reenroll: true,
    };
    Ok((record, certificate))
}

fn refusal_text(agent: &AgentRecord, first: &MachineRecord, copy: &MachineRecord) -> String {
    format!(
        "agent {} belongs to host {} (machine {}); this host {} (machine {}) runs a copy of it, such as a VM cloned \
         after enrollment, and its group does not let copies re-enroll: stop the agent here, remove its state \
         directory and run `haidang-agent enroll` with a new token (`haidang-collector token create \
         --allow-reenroll` lets copies re-enroll on their own)",
        agent.id, first.hostname, first.machine, copy.hostname, copy.machine
    )
}

fn refused(code: &str, message: String) -> CollectorFrame {
    CollectorFrame::Refused(Refusal { code: code.into(), message })
}
