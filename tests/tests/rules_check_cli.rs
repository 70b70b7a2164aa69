//! `haidang-collector rules check` with Sigma placeholders, the real binary: a rule using
//! `expand` is skipped and named without values (Sigma v2.1, modifiers appendix: a placeholder
//! "must be replaced with a value … or the rule is rejected"), loads with a placeholder file in
//! pySigma's `vars:` format, and a broken placeholder file is an error, not a silent default.

use std::fs;
use std::process::{Command, Output};

const PLACEHOLDER_RULE: &str = r#"
title: Logon From Outside The Administrators' Workstations
id: 2f0b4c9e-6a51-4d3e-9b7a-1c2d3e4f5a6b
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4624
        WorkstationName|expand: '%Admins_Workstations%'
    condition: not selection
level: medium
"#;

fn rules_check(args: &[&str]) -> Output {
    Command::new(haidang_tests::bin("haidang-collector"))
        .args(["rules", "check"])
        .args(args)
        .output()
        .expect("run haidang-collector rules check")
}

#[test]
fn placeholders_are_filled_from_the_file_or_the_rule_is_skipped_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    fs::create_dir_all(&rules).expect("mkdir");
    fs::write(rules.join("logon.yml"), PLACEHOLDER_RULE).expect("rule");
    let rules = rules.to_str().expect("utf-8");

    let without = rules_check(&[rules]);
    let stdout = String::from_utf8_lossy(&without.stdout);
    assert_eq!(without.status.code(), Some(1), "a skipped rule fails the check: {stdout}");
    assert!(stdout.contains("placeholder %Admins_Workstations% has no value"), "{stdout}");

    let values = dir.path().join("placeholders.yml");
    fs::write(&values, "vars:\n  Admins_Workstations:\n    - 'KH-ADM-01'\n    - 'KH-ADM-0*'\n").expect("vars");
    let with = rules_check(&["--placeholders", values.to_str().expect("utf-8"), rules]);
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert_eq!(with.status.code(), Some(0), "{stderr}{}", String::from_utf8_lossy(&with.stdout));
    assert!(stderr.contains("1 rules loaded, 0 skipped"), "{stderr}");

    let broken = dir.path().join("broken.yml");
    fs::write(&broken, "vars: [not, a, map").expect("broken vars");
    let refused = rules_check(&["--placeholders", broken.to_str().expect("utf-8"), rules]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a broken placeholder file must not pass: {stderr}");
    assert!(stderr.contains("--placeholders") && stderr.contains("broken.yml"), "{stderr}");
}
