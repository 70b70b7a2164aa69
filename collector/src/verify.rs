//! `haidang-collector verify`: offline re-verification of every stored batch — signature,
//! payload hash, event decoding and the hash chain — per agent. The evidence check for
//! investigations: it trusts nothing but the agents' public keys.

use crate::store::{self, decode_batch};
use anyhow::Result;
use haidang_proto::AgentId;
use haidang_proto::batch::ChainTip;
use serde_json::json;
use std::path::Path;

pub struct AgentReport {
    pub agent: AgentId,
    pub hostname: String,
    pub batches: u64,
    pub events: u64,
    pub last_seq: u64,
    pub problem: Option<String>,
}

pub fn verify(data: &Path, only: Option<AgentId>) -> Result<Vec<AgentReport>> {
    if !data.join(store::DB_FILE).exists() {
        anyhow::bail!("{} holds no collector store (expected {})", data.display(), store::DB_FILE);
    }
    let db = store::open(data)?;
    let mut reports = Vec::new();
    for agent in store::agents(&db)? {
        if only.is_some_and(|id| id != agent.id) {
            continue;
        }
        let mut report = AgentReport {
            agent: agent.id,
            hostname: agent.hostname.clone(),
            batches: 0,
            events: 0,
            last_seq: 0,
            problem: None,
        };
        let mut tip: Option<ChainTip> = None;
        store::batches_of(&db, agent.id, |batch_no, raw| {
            if report.problem.is_some() {
                return Ok(());
            }
            let checked = decode_batch(raw).and_then(|b| {
                b.verify(&agent.public_key)?;
                if b.header.agent_id != agent.id || b.header.batch_no != batch_no {
                    anyhow::bail!("stored under the wrong key");
                }
                match haidang_proto::batch::check_chain(tip.as_ref(), &b.header)? {
                    haidang_proto::ChainVerdict::Append => {}
                    haidang_proto::ChainVerdict::AlreadyStored => anyhow::bail!("repeats an earlier batch"),
                }
                let events = b.open()?;
                Ok((b.header, events.len() as u64))
            });
            match checked {
                Ok((header, n)) => {
                    tip = Some(ChainTip::of(&header));
                    report.batches += 1;
                    report.events += n;
                    report.last_seq = header.last_seq;
                }
                Err(e) => report.problem = Some(format!("batch {batch_no}: {e:#}")),
            }
            Ok(())
        })?;
        reports.push(report);
    }
    if let Some(id) = only
        && reports.is_empty()
    {
        anyhow::bail!("no agent {id} in this store");
    }
    Ok(reports)
}

pub fn print(reports: &[AgentReport], as_json: bool) {
    for r in reports {
        if as_json {
            println!(
                "{}",
                json!({
                    "agent_id": r.agent.to_string(), "hostname": r.hostname, "batches": r.batches,
                    "events": r.events, "last_seq": r.last_seq, "ok": r.problem.is_none(), "problem": r.problem,
                })
            );
        } else {
            let verdict = r.problem.as_deref().map_or("OK".to_string(), |p| format!("FAILED: {p}"));
            println!(
                "{}  {:<20}  {:>8} batches  {:>10} events  last seq {:>10}  {}",
                r.agent,
                haidang_proto::text::terminal_safe(&r.hostname),
                r.batches,
                r.events,
                r.last_seq,
                verdict
            );
        }
    }
}
