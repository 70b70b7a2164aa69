//! How the admin commands print the API's answers: aligned tables for people, one JSON object a
//! line (keys sorted) for scripts. Text from agents is made terminal-safe before it is shown.

use anyhow::Result;
use haidang_collector::api::types::{Agent, Alert, CaFingerprint, Event, EventDetail, RuleSummary, TokenCreated};
use haidang_proto::text::terminal_safe;
use serde::Serialize;

/// A table cell: terminal-safe text, `-` when absent.
fn cell(value: Option<&str>) -> String {
    value.map_or_else(|| "-".into(), terminal_safe)
}

/// Prints each item as one JSON object, keys sorted (a `serde_json::Value` keeps them so).
fn json_lines<T: Serialize>(items: &[T]) -> Result<()> {
    for item in items {
        println!("{}", serde_json::to_value(item)?);
    }
    Ok(())
}

/// The first 8 characters of an agent id, enough to tell agents apart in a table.
fn short(agent_id: &str) -> String {
    let id = terminal_safe(agent_id);
    id.get(..8).unwrap_or(&id).to_string()
}

pub(crate) fn ca(ca: &CaFingerprint) {
    println!("{}", ca.fingerprint);
}

pub(crate) fn token(created: &TokenCreated) {
    println!("{}", created.token);
    let copies = if created.allow_reenroll { "; copies of its agents re-enroll on their own" } else { "" };
    eprintln!("token for group {:?}: {} use(s), expires {}{copies}", created.group, created.uses, created.expires);
}

pub(crate) fn agents(list: &[Agent], as_json: bool) -> Result<()> {
    if as_json {
        return json_lines(list);
    }
    println!(
        "{:<32}  {:<20}  {:<12}  {:<12}  {:>8}  {:>10}  LAST SEEN",
        "ID", "HOST", "GROUP", "STATE", "BATCHES", "LAST SEQ"
    );
    for a in list {
        let state = if a.revoked {
            "revoked"
        } else if a.connected {
            "connected"
        } else {
            "disconnected"
        };
        println!(
            "{:<32}  {:<20}  {:<12}  {:<12}  {:>8}  {:>10}  {}",
            cell(Some(&a.id)),
            cell(Some(&a.hostname)),
            cell(Some(&a.group)),
            state,
            a.batches,
            a.last_seq,
            cell(a.last_seen.as_deref())
        );
    }
    Ok(())
}

pub(crate) fn revoked(agent: &Agent) {
    println!("revoked agent {} ({})", cell(Some(&agent.id)), cell(Some(&agent.hostname)));
}

/// Prints events as they arrive, so a long list is never held whole.
pub(crate) fn events(list: impl IntoIterator<Item = Result<Event>>, as_json: bool) -> Result<()> {
    if as_json {
        for e in list {
            println!("{}", serde_json::to_value(e?)?);
        }
        return Ok(());
    }
    println!("{:<27}  {:<8}  {:>8}  {:<8}  {:<10}  DETAIL", "TIME", "AGENT", "SEQ", "KIND", "ACTION");
    for e in list {
        let e = e?;
        let (kind, action, detail) = match &e.detail {
            EventDetail::File(f) => ("file", Some(f.action.as_str()), cell(Some(&f.path))),
            EventDetail::Process(p) => {
                ("process", Some(p.action.as_str()), format!("pid {} {}", p.pid, cell(Some(&p.command_line))))
            }
            EventDetail::Health(h) => {
                ("health", None, format!("spool {} events, rss {} B", h.spool_events, h.rss_bytes))
            }
            EventDetail::Gap(g) => ("gap", None, format!("{} events lost: {}", g.lost, cell(Some(&g.reason)))),
            EventDetail::Dlp(d) => ("dlp", Some(d.action.as_str()), String::new()),
            EventDetail::Malware(_) => ("malware", None, String::new()),
            EventDetail::Agent(a) => ("agent", Some(a.action.as_str()), String::new()),
            EventDetail::Mount(m) => ("mount", Some(m.action.as_str()), String::new()),
            EventDetail::DlpVerdict(v) => ("dlp_verdict", Some(v.action.as_str()), String::new()),
            EventDetail::WinEvent(w) => {
                ("win_event", None, format!("{} {} #{}", cell(Some(&w.channel)), w.event_id, w.record_id))
            }
        };
        println!(
            "{:<27}  {:<8}  {:>8}  {:<8}  {:<10}  {}",
            cell(Some(&e.time)),
            short(&e.agent_id),
            e.seq,
            kind,
            cell(action),
            detail
        );
    }
    Ok(())
}

pub(crate) fn alerts(list: &[Alert], as_json: bool) -> Result<()> {
    if as_json {
        return json_lines(list);
    }
    println!("{:>6}  {:<27}  {:<8}  {:<8}  {:<11}  TITLE", "ID", "TIME", "SEVERITY", "AGENT", "KIND");
    for a in list {
        println!(
            "{:>6}  {:<27}  {:<8}  {:<8}  {:<11}  {}",
            a.id,
            cell(Some(&a.time)),
            cell(Some(&a.severity)),
            short(&a.agent_id),
            cell(Some(&a.kind)),
            cell(Some(&a.title))
        );
    }
    Ok(())
}

/// Prints a rule load report; true when no rule was skipped.
pub(crate) fn rule_summary(summary: &RuleSummary, as_json: bool) -> Result<bool> {
    if as_json {
        println!("{}", serde_json::to_value(summary)?);
    } else {
        for problem in &summary.problems {
            println!("{}", terminal_safe(problem));
        }
        println!(
            "{} rules loaded ({} detection, {} correlation), {} skipped, from {} files",
            summary.loaded, summary.detection_rules, summary.correlation_rules, summary.skipped, summary.files
        );
    }
    Ok(summary.skipped == 0)
}
