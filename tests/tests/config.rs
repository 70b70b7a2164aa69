//! A bad agent config file, or a bad DLP policy it names, is refused with one line naming the
//! file, the line and the key or problem.

use std::path::Path;
use std::process::{Command, Output};

/// `haidang-agent run` on an enrolled-looking state directory with `config_text`.
fn run_with(dir: &Path, config_text: &str) -> (Output, std::path::PathBuf) {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    std::fs::write(
        state.join("agent.json"),
        r#"{"agent_id":"00000000000000000000000000000000","server":"127.0.0.1:1","group":"g","ca_fingerprint":"x","enrolled_at":"x"}"#,
    )
    .expect("identity");
    let config = dir.join("agent.toml");
    std::fs::write(&config, config_text).expect("config");
    let out = Command::new(haidang_tests::bin("haidang-agent"))
        .args(["run", "--state"])
        .arg(&state)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    (out, config)
}

#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, config) = run_with(dir.path(), "[fim]\npaths = [\"/tmp\"]\nrescan_interval = \"soon\"\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(&config.display().to_string()), "names the file: {err}");
    assert!(err.contains("line 3"), "names the line: {err}");
    assert!(err.contains("fim.rescan_interval"), "names the key: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_dlp_policy_refuses_the_start_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).expect("mkdir");
    let file = policy.join("agency.yml");
    std::fs::write(&file, "rules:\n  - id: x\n    channels: [usb]\n    detectors: [cccd]\n    action: shred\n")
        .expect("policy");
    let config = format!("[dlp]\nenabled = true\npolicy = {:?}\n", policy.display().to_string());
    let (out, _) = run_with(dir.path(), &config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: cannot start the DLP channels"), "{err}");
    assert!(last.contains(&format!("{}:5:", file.display())) && last.contains("shred"), "{err}");
}
