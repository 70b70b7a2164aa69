//! The store survives SIGKILL at any moment: a writer process is killed hundreds of times
//! mid-write, and every batch it had acknowledged (committed) must be intact, readable,
//! correctly signed and chained.

use haidang_collector::store;
use haidang_proto::AgentId;
use haidang_proto::batch::{ChainTip, ChainVerdict, check_chain};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILLS: usize = 200;

#[test]
fn every_acknowledged_batch_survives_repeated_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = haidang_tests::bin("store-crash-writer");
    let mut acknowledged = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(&writer)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        // Vary how long the writer runs so kills land at different points of a commit.
        let run_for = Duration::from_micros(20_000 + (round as u64 * 7_919) % 60_000);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok())
                    && tx.send(n).is_err()
                {
                    break;
                }
            }
        });
        // The kill is timed from the writer's first commit, not from its spawn, so a loaded
        // machine that is slow to start processes cannot turn every round into a kill before
        // any work (the guard below would then fail for the wrong reason).
        if let Ok(n) = rx.recv_timeout(Duration::from_secs(30)) {
            acknowledged = acknowledged.max(n);
        }
        let started = Instant::now();
        while started.elapsed() < run_for {
            std::thread::sleep(Duration::from_micros(500));
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = child.wait().expect("wait");
        assert!(!status.success(), "round {round}: the writer was killed, not finished");
        reader.join().expect("reader");
        for n in rx.try_iter() {
            acknowledged = acknowledged.max(n);
        }
    }
    assert!(acknowledged > KILLS as u64, "the writer made progress across kills ({acknowledged} batches acked)");

    let db = store::open(dir.path()).expect("store reopens after every crash");
    let key = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).expect("key");
    let agent = AgentId([9; 16]);
    let mut tip: Option<ChainTip> = None;
    let mut stored = 0u64;
    store::batches_of(&db, agent, |batch_no, raw| {
        let batch = store::decode_batch(raw)?;
        batch.verify(key.public_key().as_ref())?;
        assert_eq!(check_chain(tip.as_ref(), &batch.header)?, ChainVerdict::Append, "batch {batch_no} chains");
        assert_eq!(batch.open()?.len(), 50);
        tip = Some(ChainTip::of(&batch.header));
        stored = batch_no;
        Ok(())
    })
    .expect("every stored batch verifies");
    assert!(stored >= acknowledged, "acknowledged {acknowledged} batches but only {stored} are stored");
}
