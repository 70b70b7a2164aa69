//! `haidang-agent fim baseline` and `fim check`: the operator's file-integrity commands, run
//! without enrollment. A check reports exactly what changed on disk since the baseline, by
//! its exit status and its JSON lines, and never moves the baseline.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(haidang_tests::bin("haidang-agent")).args(args).env("RUST_LOG", "warn").output().expect("run agent")
}

/// Changes as (action, path relative to the root, changed attributes).
type Changes = BTreeSet<(String, String, Vec<String>)>;

/// The exit status of `fim check --json` and every change it reports.
fn check(root: &Path, db: &Path, extra: &[&str]) -> (Option<i32>, Changes) {
    let (root_s, db_s) = (root.to_str().expect("utf-8"), db.to_str().expect("utf-8"));
    let mut args = vec!["fim", "check", "--path", root_s, "--db", db_s, "--json"];
    args.extend_from_slice(extra);
    let out = agent(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let changes = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            let path = v["path"].as_str().expect("path");
            let rel = path.strip_prefix(root_s).unwrap_or(path).trim_start_matches('/').to_owned();
            let changed =
                v["changed"].as_array().expect("changed").iter().map(|c| c.as_str().expect("name").to_owned());
            (v["action"].as_str().expect("action").to_owned(), rel, changed.collect())
        })
        .collect();
    (out.status.code(), changes)
}

fn set(items: &[(&str, &str, &[&str])]) -> Changes {
    items.iter().map(|(a, p, c)| (a.to_string(), p.to_string(), c.iter().map(|s| s.to_string()).collect())).collect()
}

#[test]
fn check_reports_exactly_the_changes_since_the_baseline_and_leaves_it_alone() {
    let tree = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(tree.path()).expect("canonical");
    let db = state.path().join("fim.redb");
    let (root_s, db_s) = (root.to_str().expect("utf-8"), db.to_str().expect("utf-8"));
    fs::create_dir_all(root.join("etc/sub")).expect("mkdir");
    fs::write(root.join("etc/keep.conf"), "unchanged").expect("write");
    fs::write(root.join("etc/modify.conf"), "version 1").expect("write");
    fs::write(root.join("etc/sub/delete.me"), "bye").expect("write");
    fs::write(root.join("etc/chmod.sh"), "#!/bin/sh\n").expect("write");
    fs::set_permissions(root.join("etc/chmod.sh"), fs::Permissions::from_mode(0o644)).expect("chmod");

    let out = agent(&["fim", "baseline", "--path", root_s, "--db", db_s, "--json"]);
    assert!(out.status.success(), "baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(stats["files"], 4, "{stats}");
    assert_eq!(stats["entries"], 7, "root, 2 directories, 4 files: {stats}");
    assert_eq!(stats["bytes"], 9 + 9 + 3 + 10, "{stats}");

    assert_eq!(check(&root, &db, &[]), (Some(0), BTreeSet::new()), "nothing changed yet");

    fs::write(root.join("etc/new.conf"), "created").expect("create");
    fs::write(root.join("etc/modify.conf"), "version 22").expect("modify");
    fs::remove_file(root.join("etc/sub/delete.me")).expect("delete");
    fs::set_permissions(root.join("etc/chmod.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(root.join("etc/scratch.tmp"), "ignored").expect("excluded");

    let expected = set(&[
        ("created", "etc/new.conf", &[]),
        ("created", "etc/scratch.tmp", &[]),
        ("modified", "etc/modify.conf", &["hash", "size", "mtime"]),
        ("deleted", "etc/sub/delete.me", &[]),
        ("attributes", "etc/chmod.sh", &["mode"]),
    ]);
    assert_eq!(check(&root, &db, &[]), (Some(1), expected.clone()));
    // A check records nothing: the same changes are reported again.
    assert_eq!(check(&root, &db, &[]), (Some(1), expected.clone()));
    // Exclude globs apply to the check as to the baseline.
    let mut without_tmp = expected;
    without_tmp.retain(|(_, p, _)| p != "etc/scratch.tmp");
    assert_eq!(check(&root, &db, &["--exclude", "*.tmp"]), (Some(1), without_tmp));

    let human = agent(&["fim", "check", "--path", root_s, "--db", db_s]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("attributes") && text.contains("etc/chmod.sh") && text.contains("(mode)"), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.starts_with("5 changes")), "{text}");

    // Refreshing the baseline accepts the changes.
    let out = agent(&["fim", "baseline", "--path", root_s, "--db", db_s, "--exclude", "*.tmp"]);
    assert!(out.status.success(), "refresh failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(check(&root, &db, &["--exclude", "*.tmp"]), (Some(0), BTreeSet::new()));
}

#[test]
fn check_errors_exit_2_with_one_line() {
    let tree = tempfile::tempdir().expect("tempdir");
    let root = tree.path().to_str().expect("utf-8");
    let missing = tree.path().join("state/none.redb");
    let out = agent(&["fim", "check", "--path", root, "--db", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no FIM baseline") && err.contains("fim baseline"), "{err}");

    // A baseline kept inside the tree it covers would exclude the whole tree.
    let inside = tree.path().join("fim.redb");
    let out = agent(&["fim", "baseline", "--path", root, "--db", inside.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("put the baseline elsewhere"), "{err}");
    assert!(!inside.exists(), "nothing was created");

    let out = agent(&["fim", "baseline", "--path", "/nonexistent/fim-cli-test", "--db", "/tmp/x.redb"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot monitor /nonexistent/fim-cli-test"));
}
