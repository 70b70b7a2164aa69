//! The collector's command line: one clear line for each mistake a user can make, and the
//! documented output formats.

use haidang_tests::{Collector, bin};
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin("haidang-collector")).args(args).env_remove("HAIDANG_API_TOKEN").output().expect("run")
}

fn one_line_error(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[test]
fn a_second_collector_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("c");
    let _first = Collector::start(&data);
    let second =
        run(&["serve", "--data", data.to_str().expect("utf-8"), "--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    one_line_error(&second, "already in use by another haidang-collector");
}

#[test]
fn admin_commands_explain_missing_token_unreachable_api_and_wrong_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("c"));
    let api = format!("http://{}", collector.http);

    one_line_error(&run(&["--api", &api, "agents", "list"]), "HAIDANG_API_TOKEN");
    let unreachable = Command::new(bin("haidang-collector"))
        .args(["events", "list", "--api", "http://127.0.0.1:1"])
        .env("HAIDANG_API_TOKEN", "any")
        .output()
        .expect("run");
    one_line_error(&unreachable, "cannot reach the collector");
    let wrong = Command::new(bin("haidang-collector"))
        .args(["alerts", "list", "--api", &api])
        .env("HAIDANG_API_TOKEN", "not-the-token")
        .output()
        .expect("run");
    one_line_error(&wrong, "refused the API token");

    // --api is accepted before and after the subcommand.
    let before = collector.cli_ok(&["ca", "fingerprint"]);
    let after = Command::new(bin("haidang-collector"))
        .args(["ca", "fingerprint", "--api", &api])
        .env("HAIDANG_API_TOKEN", collector.api_token())
        .output()
        .expect("run");
    assert_eq!(before, String::from_utf8_lossy(&after.stdout));
    let fp = before.trim();
    assert_eq!(before.lines().count(), 1);
    assert!(fp.len() == 71 && fp.starts_with("sha256:") && fp[7..].bytes().all(|b| b.is_ascii_hexdigit()), "{fp}");

    let token = collector.cli_ok(&["token", "create", "--group", "Sở Tài chính", "--ttl", "2h", "--uses", "3"]);
    assert_eq!(token.lines().count(), 1, "one token, one line: {token}");
    let bad_ttl = Command::new(bin("haidang-collector"))
        .args(["--api", &api, "token", "create", "--group", "g", "--ttl", "soon"])
        .output()
        .expect("run");
    assert!(!bad_ttl.status.success());

    let bad_kind = collector.cli(&["events", "list", "--kind", "network"]);
    one_line_error(&bad_kind, "unknown event kind");
}

#[test]
fn verify_refuses_a_directory_without_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    one_line_error(&run(&["verify", "--data", dir.path().to_str().expect("utf-8")]), "holds no collector store");
}
