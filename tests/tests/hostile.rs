//! A hostile agent against a real collector: replayed, forged, chain-breaking, oversized,
//! garbage and misattributed batches, and a revoked certificate. Each attack comes from a
//! raw QUIC client holding a genuinely enrolled identity (so it gets past TLS) and must be
//! refused with the right reason, store nothing, be counted in /metrics and logged with the
//! agent id, and close only the attacker's connection: a real `haidang-agent` watching a
//! directory on the same collector keeps streaming over its one connection throughout.

use haidang_collector::fleet::{CLOSE_REFUSED, CLOSE_REVOKED};
use haidang_proto::AgentId;
use haidang_proto::batch::{ChainTip, seal};
use haidang_proto::wire::{Ack, MAX_FRAME_BYTES, Refusal};
use haidang_tests::raw::{Closed, RawAgent, RawConn, events, has_marker};
use haidang_tests::{Agent, Collector, fim_config, wait_until};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// One collector, one real agent (the bystander) and one raw attacker, all enrolled.
struct Scene {
    dir: tempfile::TempDir,
    watched: PathBuf,
    collector: Collector,
    bystander: Agent,
    raw: RawAgent,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().expect("tempdir");
        let watched = dir.path().join("watched");
        std::fs::create_dir_all(&watched).expect("create the watched directory");
        let collector = Collector::start(&dir.path().join("collector"));
        // No process sensor: the bystander's traffic is then only the files the test makes.
        let mut bystander = Agent::enroll(&collector, &dir.path().join("bystander"), &fim_config(&watched, false));
        bystander.start();
        wait_until(WAIT, "bystander connected", || (bystander.status()["connection"] == "connected").then_some(()));
        let raw = RawAgent::enroll(&collector, "raw-attacker");
        let scene = Scene { dir, watched, collector, bystander, raw };
        scene.bystander_streams("before-attack");
        scene
    }

    /// The bystander records a new file and the event reaches the collector.
    fn bystander_streams(&self, label: &str) {
        let file = self.watched.join(format!("{label}.txt"));
        std::fs::write(&file, label).expect("write a watched file");
        let path = file.display().to_string();
        wait_until(WAIT, &format!("bystander event for {path}"), || {
            self.collector
                .events(&self.bystander.id, Some("file"))
                .iter()
                .any(|e| e["action"] == "created" && e["path"] == path.as_str())
                .then_some(())
        });
    }

    /// After an attack: the bystander's events still arrive, over the connection it had
    /// before the attack (the collector closed only the attacker's).
    fn bystander_unaffected(&self, label: &str) {
        self.bystander_streams(label);
        // The `agent=` field names whose connection a line is about (a refusal of the
        // attacker may name the bystander elsewhere in its message).
        let field = format!("agent={}", self.bystander.id);
        let log = self.collector_log();
        let about_bystander = |what: &str| log.lines().filter(|l| l.contains(what) && l.contains(&field)).count();
        assert_eq!(about_bystander("agent connected"), 1, "the bystander connected once:\n{log}");
        assert_eq!(about_bystander("agent disconnected"), 0, "the bystander was disconnected:\n{log}");
        assert_eq!(about_bystander("refused"), 0, "something of the bystander's was refused:\n{log}");
        assert_eq!(self.agent_record(&self.bystander.id)["connected"], true, "bystander listed as connected");
    }

    /// The collector's log (stderr of `serve`): not a terminal, so plain text without colour
    /// codes.
    fn collector_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("collector.log")).expect("collector.log");
        assert!(!log.contains('\x1b'), "terminal escape codes in a log written to a file:\n{log}");
        log
    }

    /// Waits until one line of the collector's log contains every needle; on timeout the
    /// failure shows the whole log.
    fn assert_logged(&self, needles: &[&str]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.collector_log();
            if log.lines().any(|l| needles.iter().all(|n| l.contains(n))) {
                return;
            }
            assert!(Instant::now() < deadline, "no collector log line has all of {needles:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A sample of a counter; 0 when the collector has not created it yet.
    fn metric(&self, series: &str) -> u64 {
        self.collector
            .metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    fn refused(&self, reason: &str) -> u64 {
        self.metric(&format!("haidang_batches_refused_total{{reason=\"{reason}\"}}"))
    }

    /// Refusals of every reason together.
    fn refused_total(&self) -> u64 {
        self.collector
            .metrics()
            .lines()
            .filter(|l| l.starts_with("haidang_batches_refused_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }

    fn agent_record(&self, id: &str) -> Value {
        self.collector.agents().into_iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("agent {id} listed"))
    }

    /// The attacker's stored chain as `agents list` reports it: (batches, last_seq).
    fn raw_chain(&self) -> (u64, u64) {
        let a = self.agent_record(&self.raw.id.to_string());
        (a["batches"].as_u64().expect("batches"), a["last_seq"].as_u64().expect("last_seq"))
    }

    fn raw_events(&self) -> Vec<Value> {
        self.collector.events(&self.raw.id.to_string(), None)
    }

    /// Connects the attacker and stores its batch 1 (events 1..=3, marker `genuine`), so
    /// that later checks can tell "nothing more stored" from "nothing stored at all".
    fn connect_with_batch_one(&self) -> (RawConn, haidang_proto::SignedBatch) {
        let mut conn = self.raw.connect().expect("raw agent connects");
        let b1 = self.raw.seal(None, &events(1, 3, "genuine"));
        conn.send_batch(&b1).expect("send batch 1");
        assert_eq!(conn.expect_ack(), Ack { batch_no: 1, last_seq: 3, duplicate: false });
        (conn, b1)
    }

    /// The refusal was for `code`, then the collector closed that connection saying so,
    /// counted it once, and logged it with the attacker's id.
    fn assert_refused(&self, conn: &RawConn, refusal: &Refusal, code: &str) {
        assert_eq!(refusal.code, code, "refusal: {refusal:?}");
        assert_eq!(conn.closed(), Closed::ByCollector { code: CLOSE_REFUSED.into(), reason: code.into() });
        assert_eq!(self.refused(code), 1, "haidang_batches_refused_total{{reason=\"{code}\"}}");
        self.assert_logged(&["batch refused", &format!("agent={}", self.raw.id), code]);
    }

    /// Only batch 1 of [`Scene::connect_with_batch_one`] is stored for the attacker.
    fn assert_only_batch_one_stored(&self) {
        assert_eq!(self.raw_chain(), (1, 3), "attacker's chain (batches, last_seq)");
        let stored = self.raw_events();
        let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
        assert_eq!(seqs, [1, 2, 3], "attacker's stored events: {stored:?}");
        assert!(stored.iter().all(|e| has_marker(e, "genuine")), "{stored:?}");
    }
}

#[test]
fn replayed_batch_is_acknowledged_again_but_stored_once() {
    let scene = Scene::new();
    let (first, b1) = scene.connect_with_batch_one();
    drop(first);
    // What an agent does when an ack was lost: it resends on a new connection. Twice here.
    let mut conn = scene.raw.connect().expect("reconnect");
    for _ in 0..2 {
        conn.send_batch(&b1).expect("resend batch 1");
        assert_eq!(conn.expect_ack(), Ack { batch_no: 1, last_seq: 3, duplicate: true });
    }
    // The chain goes on from the stored batch 1 on the same connection.
    let b2 = scene.raw.seal(Some(&b1), &events(4, 2, "genuine"));
    conn.send_batch(&b2).expect("send batch 2");
    assert_eq!(conn.expect_ack(), Ack { batch_no: 2, last_seq: 5, duplicate: false });
    assert!(conn.is_open(), "a replay is not a reason to close the connection");

    assert_eq!(scene.raw_chain(), (2, 5));
    let seqs: Vec<u64> = scene.raw_events().iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "every event stored exactly once");
    assert_eq!(scene.metric("haidang_batches_duplicate_total"), 2);
    assert_eq!(scene.refused_total(), 0, "a replay is not refused");
    scene.assert_logged(&["replayed batch", &format!("agent={}", scene.raw.id)]);
    scene.bystander_unaffected("after-replay");
}

#[test]
fn forged_signature_is_refused_and_nothing_of_it_stored() {
    let scene = Scene::new();
    let (mut conn, b1) = scene.connect_with_batch_one();
    let mut forged = scene.raw.seal(Some(&b1), &events(4, 3, "forged"));
    forged.signature[10] ^= 0x01;
    conn.send_batch(&forged).expect("send the forged batch");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "signature");
    scene.assert_only_batch_one_stored();

    // The refused batch left no trace in the chain: a genuine batch 2 still follows batch 1.
    let mut again = scene.raw.connect().expect("reconnect");
    again.send_batch(&scene.raw.seal(Some(&b1), &events(4, 3, "genuine"))).expect("send genuine batch 2");
    assert_eq!(again.expect_ack(), Ack { batch_no: 2, last_seq: 6, duplicate: false });
    assert!(!scene.raw_events().iter().any(|e| has_marker(e, "forged")));
    scene.bystander_unaffected("after-forgery");
}

#[test]
fn chain_gap_and_fork_are_refused_and_nothing_of_them_stored() {
    let scene = Scene::new();
    let (mut conn, b1) = scene.connect_with_batch_one();
    // Batch 3 after batch 1: batch 2 was never sent.
    let b2 = scene.raw.seal(Some(&b1), &events(4, 3, "skipped"));
    let b3 = scene.raw.seal(Some(&b2), &events(7, 3, "gap"));
    conn.send_batch(&b3).expect("send batch 3");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "chain_gap");

    // A properly signed batch 2 that names another batch 1 as its predecessor.
    let mut conn = scene.raw.connect().expect("reconnect");
    let other_tip = ChainTip { hash: [9; 32], ..ChainTip::of(&b1.header) };
    let fork = seal(scene.raw.key(), scene.raw.id, Some(&other_tip), &events(4, 3, "fork"));
    conn.send_batch(&fork).expect("send the fork");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "fork");

    scene.assert_only_batch_one_stored();
    assert_eq!(scene.refused_total(), 2);
    scene.bystander_unaffected("after-chain-attacks");
}

#[test]
fn oversized_frame_is_refused_before_its_body_is_read() {
    let scene = Scene::new();
    let (mut conn, _) = scene.connect_with_batch_one();
    // Only the prefix is sent: the collector must refuse on the announced length alone,
    // without waiting for (or allocating) the 4 MiB + 1 body.
    let announced = u32::try_from(MAX_FRAME_BYTES + 1).expect("limit fits a u32");
    conn.send_raw(&announced.to_be_bytes()).expect("send the length prefix");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "oversized_frame");
    scene.assert_only_batch_one_stored();
    scene.bystander_unaffected("after-oversized");
}

#[test]
fn random_bytes_are_refused_as_malformed() {
    let scene = Scene::new();
    let (mut conn, _) = scene.connect_with_batch_one();
    // Deterministic "random" bytes (a BLAKE3 stream), in a frame of correct length so the
    // refusal is about the content, not the size.
    let mut garbage = [0u8; 512];
    blake3::Hasher::new().update(b"haidang hostile test").finalize_xof().fill(&mut garbage);
    let mut frame = (garbage.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&garbage);
    conn.send_raw(&frame).expect("send garbage");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "malformed_frame");

    // A stream that ends inside a frame is malformed too (and counted again).
    let mut conn = scene.raw.connect().expect("reconnect");
    let mut truncated = 1000u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&garbage[..10]);
    conn.send_raw(&truncated).expect("send a truncated frame");
    conn.finish().expect("finish the stream");
    let refusal = conn.expect_refusal();
    assert_eq!(refusal.code, "malformed_frame", "{refusal:?}");
    assert_eq!(conn.closed(), Closed::ByCollector { code: CLOSE_REFUSED.into(), reason: "malformed_frame".into() });
    assert_eq!(scene.refused("malformed_frame"), 2);

    scene.assert_only_batch_one_stored();
    scene.bystander_unaffected("after-garbage");
}

#[test]
fn batch_claiming_another_agents_id_is_refused() {
    let scene = Scene::new();
    let (mut conn, _) = scene.connect_with_batch_one();
    // The attacker signs (with its own key: it cannot have the victim's) a batch 1 in the
    // bystander's name and sends it over its own authenticated connection.
    let victim: AgentId = scene.bystander.id.parse().expect("bystander id");
    let stolen = seal(scene.raw.key(), victim, None, &events(1, 3, "stolen"));
    conn.send_batch(&stolen).expect("send the misattributed batch");
    let refusal = conn.expect_refusal();
    scene.assert_refused(&conn, &refusal, "wrong_agent");
    assert!(refusal.message.contains(&victim.to_string()), "the refusal names the claimed id: {refusal:?}");

    scene.assert_only_batch_one_stored();
    let victim_events = scene.collector.events(&scene.bystander.id, None);
    assert!(!victim_events.iter().any(|e| has_marker(e, "stolen")), "{victim_events:?}");
    scene.bystander_unaffected("after-impersonation");
}

#[test]
fn revoked_agent_is_disconnected_and_refused() {
    let scene = Scene::new();
    let (live, b1) = scene.connect_with_batch_one();
    let id = scene.raw.id.to_string();
    scene.collector.cli_ok(&["agents", "revoke", &id]);
    // The live connection is closed by the revocation itself, not at the next batch.
    let revoked = Closed::ByCollector { code: CLOSE_REVOKED.into(), reason: "agent certificate revoked".into() };
    assert_eq!(live.closed(), revoked);
    scene.assert_logged(&["agent certificate revoked", &format!("agent={id}")]);

    // A new connection gets through TLS (the certificate is still CA-signed) and is then
    // closed; a batch sent on it in the meantime is not stored.
    match scene.raw.connect() {
        Ok(mut conn) => {
            // The send may already fail if the close arrived first; either way nothing is stored.
            let _ = conn.send_batch(&scene.raw.seal(Some(&b1), &events(4, 3, "revoked")));
            assert_eq!(conn.closed(), revoked);
        }
        Err(e) => assert!(format!("{e:#}").contains("revoked"), "connect failed otherwise: {e:#}"),
    }
    assert_eq!(scene.refused("revoked"), 1, "haidang_batches_refused_total{{reason=\"revoked\"}}");

    let record = scene.agent_record(&id);
    assert_eq!(record["revoked"], true);
    assert_eq!(record["connected"], false);
    scene.assert_only_batch_one_stored();
    scene.bystander_unaffected("after-revocation");
    scene.assert_logged(&["agent connection refused", &format!("agent={id}")]);
}
