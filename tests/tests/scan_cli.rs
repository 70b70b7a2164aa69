//! `haidang-agent scan --yara`: the operator's on-demand malware scan, run without
//! enrollment against the rules shipped in rules/yara. Findings and files that could not be
//! scanned come out as JSON lines, and the exit status says what was found: 0 nothing,
//! 1 findings, 2 error.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(haidang_tests::bin("haidang-agent")).args(args).env("RUST_LOG", "warn").output().expect("run agent")
}

fn shipped_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/yara")
}

/// Built at run time so that this source file does not itself look like the test file.
fn eicar() -> Vec<u8> {
    [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*"].concat().into_bytes()
}

/// `scan --yara <shipped> --json <paths>`: exit status and the JSON objects printed.
fn scan_json(paths: &[&Path], extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let rules = shipped_rules();
    let mut args = vec!["scan", "--yara", rules.to_str().expect("utf-8"), "--json"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(|p| p.to_str().expect("utf-8")));
    haidang_tests::agent_json_lines(&args)
}

#[test]
fn findings_are_json_lines_and_the_exit_status_says_what_was_found() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    fs::create_dir_all(root.join("www/uploads")).expect("mkdir");
    fs::write(root.join("www/index.html"), "<html>Xin chào</html>").expect("write");
    fs::write(root.join("www/uploads/shell.php"), "<?php eval($_REQUEST['cmd']); ?>").expect("write");
    fs::write(root.join("eicar.com"), eicar()).expect("write");
    // A copy of the same content under another name is found too.
    fs::write(root.join("www/eicar-copy.com"), eicar()).expect("write");

    let (code, objects, stderr) = scan_json(&[&root.join("www/index.html")], &[]);
    assert_eq!((code, objects.len()), (Some(0), 0), "a clean file: {stderr}");
    assert!(stderr.contains("scanned 1 files") && stderr.contains("0 findings"), "{stderr}");

    let (code, objects, stderr) = scan_json(&[&root], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let found: BTreeSet<(String, String, String)> = objects
        .iter()
        .map(|v| {
            let path = v["path"].as_str().expect("path");
            let rel = path.strip_prefix(root.to_str().expect("utf-8")).unwrap_or(path).to_owned();
            assert_eq!(v["sha256"].as_str().map(str::len), Some(64), "{v}");
            assert!(v["tags"].is_array(), "{v}");
            (rel, v["namespace"].as_str().expect("namespace").to_owned(), v["rule"].as_str().expect("rule").to_owned())
        })
        .collect();
    let expected: BTreeSet<_> = [
        ("/eicar.com", "eicar", "eicar_test_file"),
        ("/www/eicar-copy.com", "eicar", "eicar_test_file"),
        ("/www/uploads/shell.php", "php_webshell", "php_webshell_request_exec"),
    ]
    .into_iter()
    .map(|(p, n, r)| (p.to_owned(), n.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(found, expected);
    let eicar_sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &eicar()));
    assert!(objects.iter().any(|v| v["sha256"] == eicar_sha.as_str() && v["tags"] == serde_json::json!(["test"])));
    assert!(stderr.contains("scanned 4 files") && stderr.contains("3 findings in 3 files"), "{stderr}");

    // Text output names the file and the rule.
    let rules = shipped_rules();
    let out =
        agent(&["scan", "--yara", rules.to_str().expect("utf-8"), root.join("eicar.com").to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("eicar.com: malware eicar:eicar_test_file [test] sha256:"), "{text}");
}

#[test]
fn files_that_cannot_be_scanned_are_reported_and_exit_2() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    fs::write(root.join("small.txt"), "hello").expect("write");
    fs::write(root.join("big.bin"), vec![0u8; 2048]).expect("write");
    let missing = root.join("missing");

    let (code, objects, stderr) = scan_json(&[&root, &missing], &["--max-file-size", "1KiB"]);
    assert_eq!(code, Some(2), "{stderr}");
    let reasons: BTreeSet<(String, String)> = objects
        .iter()
        .map(|v| {
            assert_eq!(v["kind"], "not_scanned", "{v}");
            let path = v["path"].as_str().expect("path");
            let name = Path::new(path).file_name().and_then(|n| n.to_str()).expect("name").to_owned();
            (name, v["reason"].as_str().expect("reason").to_owned())
        })
        .collect();
    let names: Vec<&str> = reasons.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["big.bin", "missing"], "{reasons:?}");
    assert!(
        reasons.iter().any(|(n, r)| n == "big.bin" && r.contains("larger than the scan size limit")),
        "{reasons:?}"
    );
    assert!(stderr.contains("2 not scanned"), "{stderr}");

    // Findings outrank files that could not be scanned.
    fs::write(root.join("eicar.com"), eicar()).expect("write");
    let (code, _, stderr) = scan_json(&[&root], &["--max-file-size", "1KiB"]);
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn bad_rules_are_reported_and_no_usable_rules_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    fs::create_dir(&rules).expect("mkdir");
    fs::write(rules.join("good.yar"), "rule marker { strings: $m = \"haidang-marker\" condition: $m }\n")
        .expect("write");
    fs::write(rules.join("broken.yar"), "rule broken {\n  condition:\n    $nope\n}\n").expect("write");
    let target = dir.path().join("target.txt");
    fs::write(&target, "contains haidang-marker here").expect("write");

    let out = agent(&["scan", "--yara", rules.to_str().expect("utf-8"), "--json", target.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the good rule still runs: {stderr}");
    assert!(stderr.contains(&format!("{}:3:", rules.join("broken.yar").display())), "file and line named: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one finding");
    assert_eq!((v["rule"].as_str(), v["namespace"].as_str()), (Some("marker"), Some("good")));

    fs::remove_file(rules.join("good.yar")).expect("rm");
    let out = agent(&["scan", "--yara", rules.to_str().expect("utf-8"), target.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: no YARA rule could be loaded"), "{stderr}");
    assert!(out.stdout.is_empty());
}
