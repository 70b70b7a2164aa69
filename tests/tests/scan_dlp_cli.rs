//! `haidang-agent scan --dlp`: the operator's on-demand DLP scan with the real binary and
//! the built-in policy. Documents are generated here with planted data and decoys; the test
//! asserts the exact JSON findings, the policy's action per channel, the could-not-inspect
//! verdict of a corrupt document, and the exit status (0 nothing, 1 findings, 2 not inspected).

use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(haidang_tests::bin("haidang-agent")).args(args).env("RUST_LOG", "warn").output().expect("run agent")
}

/// `scan --dlp --json <extra> <paths>`: exit status, the JSON objects, stderr.
fn scan_json(paths: &[PathBuf], extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let mut args = vec!["scan", "--dlp", "--json"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(|p| p.to_str().expect("utf-8")));
    haidang_tests::agent_json_lines(&args)
}

/// Twelve distinct CCCD numbers valid per spec §2.1: a known province code (001 Hà Nội,
/// 056 Khánh Hòa, 058 Ninh Thuận), century digit 0 (male, 1900s), a past birth year, and a
/// six-digit serial.
fn cccds() -> Vec<String> {
    (0..12).map(|i| format!("{}0{}{:06}", ["001", "056", "058"][i % 3], 80 + i, 100_000 + i * 7_919)).collect()
}

fn sha256(path: &Path) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &fs::read(path).expect("read")))
}

/// The planted files: a TỐI MẬT report, a list of twelve CCCD numbers, and a decoy holding
/// the spec's near misses (§10.1 invalid vectors, §3.6 marking traps).
fn planted(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let report = root.join("baocao.docx");
    fs::write(&report, haidang_tests::docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."])).expect("write");
    let ids = root.join("danhsach.txt");
    let lines: String = cccds().iter().enumerate().map(|(n, v)| format!("{}. Số CCCD: {v}\n", n + 1)).collect();
    fs::write(&ids, format!("Danh sách công dân\n{lines}")).expect("write");
    let decoy = root.join("decoy.txt");
    fs::write(
        &decoy,
        "MẶT TRẬN TỔ QUỐC VIỆT NAM\nVui lòng nhập mật khẩu\nTỐI ƯU HÓA HIỆU NĂNG\nTổng đài 1900 1234\n\
         Số CCCD: 003090000123\nSố CCCD: 056390000123\nSTK 0560900001234\nMST: 4200000012\n",
    )
    .expect("write");
    (report, ids, decoy)
}

#[test]
fn planted_data_gives_exact_findings_with_the_policy_action_and_exit_1() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    let (report, ids, decoy) = planted(&root);

    let (code, objects, stderr) = scan_json(&[report.clone(), ids.clone(), decoy.clone()], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let expected = [
        json!({
            "kind": "dlp", "path": path(&report), "container_path": "baocao.docx/word/document.xml", "line": 1,
            "detector": "M2", "count": 1, "confidence": "critical", "masked_sample": null, "level": "toi_mat",
            "view": "unicode", "sha256": sha256(&report), "channel": "at_rest", "action": "alert",
            "policy": "s0-level-at-rest",
        }),
        json!({
            "kind": "dlp", "path": path(&ids), "container_path": "danhsach.txt", "line": 2,
            "detector": "cccd", "count": 12, "confidence": "high", "masked_sample": "001******000", "level": null,
            "view": "unicode", "sha256": sha256(&ids), "channel": "at_rest", "action": "alert",
            "policy": "s1-bulk-identifiers-at-rest",
        }),
    ];
    let mut objects = objects;
    objects.sort_by_key(|v| v["path"].as_str().map(str::to_owned));
    assert_eq!(objects, expected, "{stderr}");
    assert!(stderr.contains("scanned 3 files") && stderr.contains("2 findings in 2 files, 0 not scanned"), "{stderr}");

    // The same files leaving on a USB stick: both are blocked.
    let (code, objects, stderr) = scan_json(&[report, ids], &["--channel", "usb"]);
    assert_eq!(code, Some(1), "{stderr}");
    let actions: Vec<(&str, &str, &str)> = objects
        .iter()
        .map(|v| {
            (
                v["detector"].as_str().expect("detector"),
                v["action"].as_str().expect("action"),
                v["policy"].as_str().expect("policy"),
            )
        })
        .collect();
    assert_eq!(actions.len(), 2, "{objects:?}");
    assert!(actions.contains(&("M2", "block", "s0-level-egress")), "{actions:?}");
    assert!(actions.contains(&("cccd", "block", "s1-bulk-identifiers-egress")), "{actions:?}");

    // The decoy alone is clean.
    let (code, objects, stderr) = scan_json(&[decoy], &[]);
    assert_eq!((code, objects.len()), (Some(0), 0), "{objects:?} {stderr}");
}

#[test]
fn a_corrupt_document_is_reported_not_inspected_and_exit_2() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    let whole = haidang_tests::docx(&["TỐI MẬT"]);
    let corrupt = root.join("hong.docx");
    fs::write(&corrupt, &whole[..whole.len() / 2]).expect("write");

    let (code, objects, stderr) = scan_json(std::slice::from_ref(&corrupt), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(objects.len(), 1, "{objects:?}");
    let v = &objects[0];
    assert_eq!(
        (v["kind"].as_str(), v["path"].as_str(), v["container_path"].as_str()),
        (Some("not_scanned"), corrupt.to_str(), Some("hong.docx")),
        "{v}"
    );
    assert!(v["reason"].as_str().is_some_and(|r| r.starts_with("corrupt: ")), "{v}");
    assert_eq!((v["action"].as_str(), v["policy"].as_str()), (Some("audit"), Some("s4-unknown")), "{v}");
    assert!(stderr.contains("1 not scanned"), "{stderr}");

    // On a USB stick, what cannot be inspected is blocked.
    let (code, objects, _) = scan_json(std::slice::from_ref(&corrupt), &["--channel", "usb"]);
    assert_eq!((code, objects[0]["action"].as_str()), (Some(2), Some("block")));
}

/// Issue 25 class 6: an archive the walker does not open is reported with its reason and
/// exit 2, never passed as clean.
#[test]
fn a_7z_archive_is_reported_not_inspected() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    let archive = root.join("hoso.7z");
    fs::write(&archive, b"7z\xBC\xAF\x27\x1C\x00\x04compressed").expect("write");

    let (code, objects, stderr) = scan_json(std::slice::from_ref(&archive), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(objects.len(), 1, "{objects:?}");
    let v = &objects[0];
    assert_eq!((v["kind"].as_str(), v["container_path"].as_str()), (Some("not_scanned"), Some("hoso.7z")), "{v}");
    assert_eq!(v["reason"].as_str(), Some("unsupported: 7z archive (not opened)"), "{v}");
}

#[test]
fn a_clean_file_exits_0() {
    let tree = tempfile::tempdir().expect("tempdir");
    let clean = tree.path().join("thu.txt");
    fs::write(&clean, "Kính gửi anh chị, hẹn gặp lại vào thứ Hai.\n").expect("write");
    let (code, objects, stderr) = scan_json(&[clean], &[]);
    assert_eq!((code, objects.len()), (Some(0), 0), "{objects:?} {stderr}");
    assert!(stderr.contains("scanned 1 files") && stderr.contains("0 findings"), "{stderr}");
}

#[test]
fn yara_and_dlp_run_in_one_invocation() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    let (report, _, _) = planted(&root);
    fs::write(root.join("shell.php"), "<?php eval($_REQUEST['cmd']); ?>").expect("write");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/yara");
    let (code, objects, stderr) = scan_json(std::slice::from_ref(&root), &["--yara", rules.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{stderr}");
    let kinds: Vec<(&str, &str)> =
        objects.iter().map(|v| (v["kind"].as_str().expect("kind"), v["path"].as_str().expect("path"))).collect();
    assert!(kinds.contains(&("malware", root.join("shell.php").to_str().expect("utf-8"))), "{kinds:?}");
    assert!(kinds.contains(&("dlp", report.to_str().expect("utf-8"))), "{kinds:?}");
}

#[test]
fn a_bad_policy_is_refused_with_file_and_line() {
    let tree = tempfile::tempdir().expect("tempdir");
    let policy = tree.path().join("policy");
    fs::create_dir(&policy).expect("mkdir");
    let file = policy.join("local.yml");
    fs::write(&file, "rules:\n  - id: r\n    channels: [usb]\n    detectors: [cccd]\n    action: shred\n")
        .expect("write");
    let target = tree.path().join("x.txt");
    fs::write(&target, "x").expect("write");
    let out = agent(&["scan", "--dlp", "--policy", policy.to_str().expect("utf-8"), target.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:", file.display())) && stderr.contains("unknown variant `shred`"),
        "{stderr}"
    );
}

/// The extraction child puts its memory, CPU and core-dump limits on itself before it opens
/// the document (the agent starts it with posix_spawn, not fork and a pre-exec hook). A FIFO
/// holds the child at the open, after the limits, so they can be read from /proc.
#[test]
fn the_extraction_child_is_limited_before_it_opens_the_document() {
    use haidang_dlp::extract::{Limits, SUBCOMMAND};
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("document");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
    // SAFETY: mkfifo on a NUL-terminated path in our own temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let limits =
        Limits { child_memory: 768 << 20, time_budget: std::time::Duration::from_secs(7), ..Limits::default() };
    let mut child = Command::new(haidang_tests::bin("haidang-agent"))
        .arg(SUBCOMMAND)
        .arg(&fifo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the extraction child");
    let request = haidang_dlp::testing::file_request(&limits).expect("encode");
    child.stdin.take().expect("stdin").write_all(&request).expect("request");
    let proc_limits = format!("/proc/{}/limits", child.id());
    let wanted = [
        ("Max address space", "805306368"),
        // The CPU limit is the time budget and one second, killed a second later.
        ("Max cpu time", "8"),
        ("Max core file size", "0"),
    ];
    let applied = haidang_tests::wait_until(std::time::Duration::from_secs(30), "limits applied", || {
        let text = fs::read_to_string(&proc_limits).ok()?;
        wanted
            .iter()
            .all(|(name, soft)| {
                text.lines().any(|l| l.starts_with(name) && l[name.len()..].split_whitespace().next() == Some(*soft))
            })
            .then_some(text)
    });
    assert!(applied.contains("Max cpu time"), "{applied}");
    let _ = child.kill();
    let _ = child.wait();
}
