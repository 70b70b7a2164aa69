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
    [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat().into_bytes()
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

/// Compiled rules are kept per user and used again while the rule files are unchanged; a
/// changed rule, a damaged cache file or one that others could have written is compiled over.
#[test]
fn compiled_rules_are_kept_and_used_again_only_while_they_can_be_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().expect("tempdir");
    let rules = work.path().join("rules");
    fs::create_dir(&rules).expect("mkdir");
    for entry in fs::read_dir(shipped_rules()).expect("shipped rules") {
        let path = entry.expect("entry").path();
        fs::copy(&path, rules.join(path.file_name().expect("name"))).expect("copy rule");
    }
    let target = work.path().join("target");
    fs::create_dir(&target).expect("mkdir");
    fs::write(target.join("eicar.com"), eicar()).expect("write");
    fs::write(target.join("note.txt"), "Ghi chú: tài liệu nội bộ HD-2026").expect("write");
    let cache_home = work.path().join("cache home");
    let cache = cache_home.join("haidang/yara-rules");
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--yara", rules.to_str().expect("utf-8"), "--json"];
        args.extend_from_slice(extra);
        args.push(target.to_str().expect("utf-8"));
        let out = Command::new(haidang_tests::bin("haidang-agent"))
            .args(&args)
            .env("XDG_CACHE_HOME", &cache_home)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run agent");
        let found: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
            .map(|v| format!("{}:{}", v["namespace"].as_str().expect("namespace"), v["rule"].as_str().expect("rule")))
            .collect();
        (out.status.code(), found, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cache_files = || -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> =
            fs::read_dir(&cache).expect("cache dir").map(|e| e.expect("entry").path()).collect();
        files.sort();
        files
    };
    let eicar_only: BTreeSet<String> = ["eicar:eicar_test_file".to_string()].into();

    let (code, found, stderr) = scan(&[]);
    assert_eq!((code, &found), (Some(1), &eicar_only), "{stderr}");
    assert!(stderr.contains("(compiled and kept)"), "{stderr}");
    let kept = cache_files();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(fs::metadata(&kept[0]).expect("cache file").permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(&cache).expect("cache dir").permissions().mode() & 0o777, 0o700);

    let (code, found, stderr) = scan(&[]);
    assert_eq!((code, &found), (Some(1), &eicar_only), "{stderr}");
    assert!(stderr.contains("(compiled before)"), "{stderr}");

    // A new rule: compiled again, and the rules compiled for the old files are dropped.
    fs::write(rules.join("internal.yar"), "rule internal_doc { strings: $a = \"HD-2026\" condition: $a }\n")
        .expect("write rule");
    let (code, found, stderr) = scan(&[]);
    let both: BTreeSet<String> = ["eicar:eicar_test_file".to_string(), "internal:internal_doc".to_string()].into();
    assert_eq!((code, &found), (Some(1), &both), "{stderr}");
    assert!(stderr.contains("(compiled and kept)"), "{stderr}");
    let kept = cache_files();
    assert_eq!(kept.len(), 1, "{kept:?}");

    // A damaged cache file is not trusted.
    let mut bytes = fs::read(&kept[0]).expect("read cache");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&kept[0], &bytes).expect("damage cache");
    let (code, found, stderr) = scan(&[]);
    assert_eq!((code, &found), (Some(1), &both), "{stderr}");
    assert!(stderr.contains("damaged") && stderr.contains("(compiled and kept)"), "{stderr}");

    // Nor is one in a directory others may write to; nothing is kept there either.
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, found, stderr) = scan(&[]);
    assert_eq!((code, &found), (Some(1), &both), "{stderr}");
    assert!(stderr.contains("compiled, not kept") && stderr.contains("writable only by it"), "{stderr}");
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).expect("chmod");

    // --no-rule-cache compiles and neither reads nor writes the cache.
    let before = cache_files();
    let (code, found, stderr) = scan(&["--no-rule-cache"]);
    assert_eq!((code, &found), (Some(1), &both), "{stderr}");
    assert!(stderr.contains("compiled, not kept: --no-rule-cache"), "{stderr}");
    assert_eq!(cache_files(), before);
}
