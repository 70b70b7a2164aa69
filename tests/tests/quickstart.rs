//! `haidang quickstart` end to end: it starts the real collector and agent binaries, enrolls
//! the agent, prints a guide whose commands work, raises an alert for a change under the
//! demo's critical folder, and Ctrl-C stops everything cleanly.

use haidang_tests::{bin, wait_until};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Kills the supervisor if the test fails half-way (its children follow it on Linux).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn quickstart_runs_a_collector_and_an_enrolled_agent_until_ctrl_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // --no-build: the test harness has built the binaries (see haidang_tests::bin); a nested
    // cargo would wait on the lock of the build running these tests.
    let child = Command::new(bin("haidang"))
        .args(["quickstart", "--no-build", "--quic", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data"])
        .arg(&data)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn haidang");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    let mut guide = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !guide.last().is_some_and(|l: &String| l.contains("Press Ctrl-C to stop both.")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => guide.push(line),
            Err(e) => panic!("no guide ({e}); printed so far:\n{}", guide.join("\n")),
        }
    }
    let text = guide.join("\n");
    assert!(text.contains("Hải Đăng collector is running"), "{text}");
    assert!(text.contains("A demo agent is enrolled and watching"), "{text}");
    assert!(text.contains("YARA scanning is off"), "outside a checkout there are no shipped rules: {text}");
    let http: SocketAddr = guide
        .iter()
        .find_map(|l| l.trim().strip_prefix("HTTP (API, /metrics, /healthz): http://"))
        .expect("the banner names the HTTP address")
        .parse()
        .expect("HTTP address");

    // The guide's own commands, run as printed.
    let export = guide.iter().find_map(|l| l.trim().strip_prefix("export HAIDANG_API_TOKEN=$(cat ")).expect("export");
    let token = std::fs::read_to_string(export.trim_end_matches(')')).expect("the API token file the guide names");
    let alerts_command = guide.iter().find(|l| l.trim().ends_with(" alerts list")).expect("alerts list in the guide");
    let mut words = alerts_command.split_whitespace();
    let program = words.next().expect("program");
    let args: Vec<&str> = words.collect();
    let alerts = || {
        let out = Command::new(program)
            .args(&args)
            .arg("--json")
            .env("HAIDANG_API_TOKEN", token.trim())
            .output()
            .expect("run the guide's alerts command");
        assert!(out.status.success(), "{alerts_command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };

    // A person reads the guide first; the test waits until the agent is connected (its watch
    // is in place by then) before making the change.
    let agent_status = || {
        let out = Command::new(bin("haidang-agent"))
            .args(["status", "--json", "--state"])
            .arg(data.join("agent"))
            .output()
            .expect("agent status");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("status JSON")
    };
    wait_until(WAIT, "the demo agent connected", || (agent_status()["connection"] == "connected").then_some(()));
    std::fs::write(data.join("demo/secret/plan.txt"), "kế hoạch").expect("critical change");
    let alert = wait_until(WAIT, "a Critical File Changed alert", || {
        alerts().lines().find(|l| l.contains("Critical File Changed") && l.contains("plan.txt")).map(String::from)
    });
    let alert: serde_json::Value = serde_json::from_str(&alert).expect("JSON alert");
    assert_eq!(alert["severity"], "high", "{alert}");

    // SAFETY: kill(2) on our own child, which is still running.
    unsafe {
        libc::kill(running.0.id() as i32, libc::SIGINT);
    }
    let status = wait_until(WAIT, "quickstart to stop", || running.0.try_wait().expect("try_wait"));
    assert_eq!(status.code(), Some(0), "quickstart after Ctrl-C: {status}");
    assert!(TcpStream::connect(http).is_err(), "the collector stopped listening");
    assert_eq!(agent_status()["running"], false, "the agent stopped");
}
