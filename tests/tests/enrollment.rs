//! Enrollment against a real collector: good, wrong, used-up and expired tokens, and a
//! wrong CA fingerprint. Failures print one clear line and leave no certificate behind.

use haidang_tests::{Collector, enroll};
use std::time::Duration;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn enrollment_accepts_good_tokens_and_refuses_bad_ones_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let fp = collector.fingerprint();
    assert!(fp.starts_with("sha256:") && fp.len() == 71, "{fp}");

    let token = collector.token(2, "1h");
    let good = enroll(&collector, &token, &fp, &dir.path().join("a1"));
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(String::from_utf8_lossy(&good.stdout).contains("enrolled as agent"));
    for f in ["agent.key", "agent.crt.der", "ca.crt.der", "agent.json"] {
        assert!(dir.path().join("a1").join(f).exists(), "{f} written");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a1/agent.key")).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
    }
    // A two-use token works twice, then is used up.
    assert!(enroll(&collector, &token, &fp, &dir.path().join("a2")).status.success());
    let used = enroll(&collector, &token, &fp, &dir.path().join("a3"));
    assert!(!used.status.success());
    assert!(stderr(&used).contains("used up"), "{}", stderr(&used));
    assert_eq!(stderr(&used).lines().count(), 1, "one clear line: {}", stderr(&used));
    assert!(!dir.path().join("a3").join("agent.crt.der").exists(), "no certificate on failure");

    let wrong =
        enroll(&collector, "hdt1-000000000000000000000000000000000000000000000000", &fp, &dir.path().join("a4"));
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("unknown enrollment token"), "{}", stderr(&wrong));

    let expiring = collector.token(1, "1s");
    std::thread::sleep(Duration::from_millis(1500));
    let expired = enroll(&collector, &expiring, &fp, &dir.path().join("a5"));
    assert!(!expired.status.success());
    assert!(stderr(&expired).contains("expired"), "{}", stderr(&expired));

    let fresh = collector.token(1, "1h");
    let bad_pin = format!("sha256:{}", "ab".repeat(32));
    let mismatch = enroll(&collector, &fresh, &bad_pin, &dir.path().join("a6"));
    assert!(!mismatch.status.success());
    assert!(stderr(&mismatch).contains("not the one pinned"), "{}", stderr(&mismatch));
    assert_eq!(stderr(&mismatch).lines().count(), 1);
    assert!(!dir.path().join("a6").join("agent.key").exists());
    // The token was not consumed by the refused handshake.
    assert!(enroll(&collector, &fresh, &fp, &dir.path().join("a7")).status.success());

    let agents = collector.agents();
    assert_eq!(agents.len(), 3, "a1, a2 and a7 enrolled: {agents:?}");
    assert!(agents.iter().all(|a| a["group"] == "e2e"));
}

#[test]
fn unreachable_collector_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(haidang_tests::bin("haidang-agent"))
        .args(["enroll", "--server", "127.0.0.1:1", "--token", "x", "--ca-fingerprint"])
        .arg(format!("sha256:{}", "00".repeat(32)))
        .arg("--state")
        .arg(dir.path().join("s"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("error: ") && err.contains("127.0.0.1:1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
