//! The Windows agent (cross-built with mingw-w64) run under Wine: file integrity and the YARA
//! scan on a Wine drive, with Vietnamese file names, as an operator runs them by hand. Wine has
//! no service control manager events, event log or ETW to speak of, so the service and those
//! sensors are not tested here (README, "Platforms").

use haidang_tests::wine::{run_agent, windows_path};
use serde_json::Value;
use std::fs;

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn fim_baseline_and_check_under_wine_report_vietnamese_paths_exactly() {
    let tree = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let root = tree.path();
    fs::create_dir(root.join("Tài liệu")).expect("mkdir");
    fs::write(root.join("Tài liệu/Kế hoạch.docx"), "bản 1").expect("write");
    fs::write(root.join("giữ nguyên.txt"), "không đổi").expect("write");
    fs::write(root.join("xoá.txt"), "tạm").expect("write");
    let (root_w, db_w) = (windows_path(root), windows_path(&state.path().join("fim.redb")));

    let out = run_agent(&["fim", "baseline", "--path", &root_w, "--db", &db_w, "--json"]);
    assert!(out.status.success(), "baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(stats["files"], 3, "{stats}");

    fs::write(root.join("Tài liệu/Kế hoạch.docx"), "bản 2, dài hơn").expect("write");
    fs::write(root.join("mới.txt"), "mới").expect("write");
    fs::remove_file(root.join("xoá.txt")).expect("remove");
    let out = run_agent(&["fim", "check", "--path", &root_w, "--db", &db_w, "--json"]);
    assert_eq!(out.status.code(), Some(1), "changes found: {}", String::from_utf8_lossy(&out.stderr));
    let mut changes: Vec<(String, String)> = json_lines(&out.stdout)
        .iter()
        .map(|c| (c["action"].as_str().expect("action").into(), c["path"].as_str().expect("path").into()))
        .collect();
    changes.sort();
    // Paths in the ordinary Windows form (no \\?\ prefix), as analysts and Sigma rules write them.
    let expected = vec![
        ("created".to_string(), format!("{root_w}\\mới.txt")),
        ("deleted".to_string(), format!("{root_w}\\xoá.txt")),
        ("modified".to_string(), format!("{root_w}\\Tài liệu\\Kế hoạch.docx")),
    ];
    assert_eq!(changes, expected);
}

#[test]
fn scan_under_wine_finds_eicar_by_yara_in_a_file_with_a_vietnamese_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("quét");
    fs::create_dir(&files).expect("mkdir");
    // The EICAR test string, assembled so that this source file is not itself a match.
    let eicar = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat();
    fs::write(files.join("tệp thử.com"), eicar).expect("write");
    fs::write(files.join("sạch.txt"), "không có gì").expect("write");
    let rules = dir.path().join("eicar.yar");
    fs::write(&rules, "rule eicar { strings: $a = \"EICAR-STANDARD-ANTIVIRUS-TEST-FILE\" condition: $a }\n")
        .expect("write rules");

    let out = run_agent(&["scan", "--yara", &windows_path(&rules), "--no-rule-cache", "--json", &windows_path(&files)]);
    assert_eq!(out.status.code(), Some(1), "a finding: {}", String::from_utf8_lossy(&out.stderr));
    let findings = json_lines(&out.stdout);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["rule"], "eicar");
    assert_eq!(findings[0]["path"], format!("{}\\tệp thử.com", windows_path(&files)));
}
