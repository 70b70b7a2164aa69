//! Windows event log records on the agent's path: each record of the EVTX attack samples,
//! rendered as XML (the form `EvtRender` gives the Windows agent), read by the agent's own
//! reader (`haidang_agent::winlog::observation`) into a `win_event`, signed and sent over QUIC to a real collector loaded with SigmaHQ's Windows
//! rules. The collector's alerts must name exactly the (file, record, rule) triples that
//! `haidang-collector hunt` finds over the same EVTX files with the same rules (SigmaHQ's and
//! the shipped ones: Defender's detections are `antivirus` events, which the shipped malware
//! rule reads), so a rule that fires in a hunt fires live, and nothing fires live that a hunt
//! would not report.

use evtx::{EvtxParser, ParserSettings};
use haidang_proto::event::WinEventRecord;
use haidang_proto::{Event, EventBody, SignedBatch, Timestamp};
use haidang_tests::raw::RawAgent;
use haidang_tests::{Collector, bin, wait_until};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Events per signed batch: a record's JSON is a few kilobytes.
const BATCH_EVENTS: usize = 200;

fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("read the samples").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            evtx_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "evtx") {
            out.push(path);
        }
    }
}

/// One record on the agent's path: where it came from and the event it became.
struct Record {
    file: PathBuf,
    record_id: u64,
    body: WinEventRecord,
    time: Timestamp,
}

/// Every record of `files` rendered as XML and read as the agent reads it. Records the EVTX
/// reader cannot render are counted; the XML reader must take every record that renders.
fn records_as_the_agent_reads_them(files: &[PathBuf]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut unreadable = 0;
    for file in files {
        let Ok(parser) = EvtxParser::from_path(file) else {
            unreadable += 1;
            continue;
        };
        let mut parser = parser.with_configuration(ParserSettings::new().indent(false));
        for rendered in parser.records() {
            let Ok(rendered) = rendered else {
                unreadable += 1;
                continue;
            };
            let observation = haidang_agent::winlog::observation(&rendered.data).unwrap_or_else(|e| {
                panic!("{} record {}: {e}\n{}", file.display(), rendered.event_record_id, rendered.data)
            });
            let EventBody::WinEvent(body) = observation.body else { panic!("not a win_event: {:?}", observation.body) };
            // `hunt` names a record by its EventRecordID, as analysts do.
            records.push(Record { file: file.clone(), record_id: body.record_id, time: observation.time, body });
        }
    }
    (records, unreadable)
}

fn metric(collector: &Collector, name: &str) -> Option<f64> {
    collector.metrics().lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// What `hunt` reports over `files` with `rules` and the rules the collector ships (which it
/// always loads): (file, record, rule id) of every detection above informational
/// (informational detections feed correlations and hunts, never the alert queue).
fn hunt(rules: &Path, files: &[PathBuf]) -> BTreeSet<(PathBuf, u64, String)> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma");
    let out = Command::new(bin("haidang-collector"))
        .args(["hunt", "--format", "json", "--rules"])
        .arg(rules)
        .arg("--rules")
        .arg(shipped)
        .args(files)
        .output()
        .expect("run hunt");
    assert!(out.status.code().is_some_and(|c| c <= 1), "hunt failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON detection"))
        .filter(|d| d["rule"]["level"] != "informational")
        .map(|d| {
            let path = PathBuf::from(d["source"]["path"].as_str().expect("source path"));
            let record = d["source"]["record"].as_u64().expect("record number");
            (path, record, d["rule"]["id"].as_str().expect("rule id").to_owned())
        })
        .collect()
}

#[test]
fn sigmahq_windows_rules_fire_on_live_win_events_exactly_as_hunt_finds_them_in_evtx() {
    let mut files = Vec::new();
    evtx_files(&haidang_testdata::evtx_attack_samples(), &mut files);
    let rules = haidang_testdata::sigma().join("rules/windows");
    let (records, unreadable) = records_as_the_agent_reads_them(&files);
    assert!(records.len() > 8000, "{} records read from {} files", records.len(), files.len());

    let dir = tempfile::tempdir().expect("tempdir");
    let rules_arg = rules.to_str().expect("UTF-8 path");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let collector = Collector::start_with(&dir.path().join("data"), any, any, &["--rules", rules_arg]);
    let agent = RawAgent::enroll(&collector, "ubnd-kh-win-01");
    let mut conn = agent.connect().expect("connect");
    let mut prev: Option<SignedBatch> = None;
    let mut by_seq = HashMap::new();
    for (chunk_no, chunk) in records.chunks(BATCH_EVENTS).enumerate() {
        let first = (chunk_no * BATCH_EVENTS) as u64 + 1;
        let events: Vec<Event> = chunk
            .iter()
            .zip(first..)
            .map(|(r, seq)| {
                by_seq.insert(seq, (r.file.clone(), r.record_id));
                Event { seq, time: r.time, body: EventBody::WinEvent(r.body.clone()) }
            })
            .collect();
        let batch = agent.seal(prev.as_ref(), &events);
        conn.send_batch(&batch).expect("send");
        conn.expect_ack();
        prev = Some(batch);
    }
    let stored = records.len() as f64;
    wait_until(Duration::from_secs(300), "the collector to run every record through the rules", || {
        let done = metric(&collector, "haidang_events_correlated_total")?;
        let backlog = metric(&collector, "haidang_correlate_backlog_batches")?;
        (done >= stored && backlog == 0.0).then_some(())
    });

    let mut live = BTreeSet::new();
    for alert in collector.json_lines(&["alerts", "list", "--json", "--limit", "100000"]) {
        assert_eq!(alert["kind"], "detection", "{alert}");
        let seqs = alert["event_seqs"].as_array().expect("event_seqs");
        assert_eq!(seqs.len(), 1, "{alert}");
        let (file, record) = by_seq[&seqs[0].as_u64().expect("seq")].clone();
        live.insert((file, record, alert["rule"].as_str().expect("rule").to_owned()));
    }
    let hunted = hunt(&rules, &files);
    assert!(hunted.len() > 1000, "hunt found {} detections", hunted.len());
    let only_live: Vec<_> = live.difference(&hunted).take(10).collect();
    let only_hunted: Vec<_> = hunted.difference(&live).take(10).collect();
    assert!(
        only_live.is_empty() && only_hunted.is_empty(),
        "{} live alerts, {} hunt detections ({unreadable} records unreadable)\nonly live: {only_live:#?}\nonly in the hunt: {only_hunted:#?}",
        live.len(),
        hunted.len()
    );
}
