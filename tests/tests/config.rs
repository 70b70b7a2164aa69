//! A bad agent config file is refused with one line naming the file, the line and the key.

use std::process::Command;

#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state");
    std::fs::write(
        state.join("agent.json"),
        r#"{"agent_id":"00000000000000000000000000000000","server":"127.0.0.1:1","group":"g","ca_fingerprint":"x","enrolled_at":"x"}"#,
    )
    .expect("identity");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[fim]\npaths = [\"/tmp\"]\nrescan_interval = \"soon\"\n").expect("config");
    let out = Command::new(haidang_tests::bin("haidang-agent"))
        .args(["run", "--state"])
        .arg(&state)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(&config.display().to_string()), "names the file: {err}");
    assert!(err.contains("line 3"), "names the line: {err}");
    assert!(err.contains("fim.rescan_interval"), "names the key: {err}");
    assert!(!err.contains("panicked"), "{err}");
}
