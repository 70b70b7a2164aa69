//! The Windows agent (cross-built with mingw-w64) run under Wine: file integrity and the YARA
//! scan on a Wine drive, with Vietnamese file names, as an operator runs them by hand; file
//! attributes and a configuration written with Windows paths; and the whole agent enrolled
//! with a real Linux collector over QUIC, streaming file events, and blocking a marked document
//! copied to a removable drive, and reporting processes by polling, since Wine's ETW is stubs.
//! Wine has no service control manager events or event log to speak of, so the service and
//! those sensors are not tested here (README, "Platforms").

use haidang_tests::wine::{
    WineAgent, agent_exe, drive_c, make_prefix, run_agent, run_in, run_program, spawn_program, stop_wineserver,
    windows_path,
};
use haidang_tests::{Collector, docx, wait_until};
use serde_json::Value;
use std::fs;
use std::time::Duration;

/// Longest a Wine test waits for the agent (Wine starts programs slowly on the shared cores).
const WAIT: Duration = Duration::from_secs(60);

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

#[test]
fn fim_under_wine_reports_file_attribute_changes_and_leaves_metadata_only_paths_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cây");
    fs::create_dir_all(root.join("hives")).expect("mkdir");
    fs::write(root.join("chỉ đọc.txt"), "một").expect("write");
    fs::write(root.join("ẩn.txt"), "hai").expect("write");
    fs::write(root.join("hives/SYSTEM"), "hive v1").expect("write");
    let root_w = windows_path(&root);
    // Windows paths as an administrator writes them: backslashes in literal strings, and
    // globs with `/`, in any case (NTFS ignores it).
    let config = dir.path().join("agent.toml");
    let glob = format!("{}/HIVES/**", root_w.replace('\\', "/"));
    fs::write(&config, format!("[fim]\npaths = ['{root_w}']\nmetadata_only = ['{glob}']\n")).expect("config");
    // The baseline's directory is never monitored, so it is not the tree's parent.
    let db_dir = tempfile::tempdir().expect("tempdir");
    let (config_w, db_w) = (windows_path(&config), windows_path(&db_dir.path().join("fim.redb")));

    let out = run_agent(&["fim", "baseline", "--config", &config_w, "--db", &db_w, "--json"]);
    assert!(out.status.success(), "baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let stats: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(stats["files"], 3, "{stats}");
    // The hive's content was not read: only the other two files' bytes were hashed.
    assert_eq!(stats["hashed_bytes"], "một".len() + "hai".len(), "{stats}");

    // Wine shows a file without write permission as read-only, and keeps the hidden bit
    // that its `attrib` sets.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join("chỉ đọc.txt"), fs::Permissions::from_mode(0o444)).expect("chmod");
    let hide = run_program("attrib", &["+h", &format!("{root_w}\\ẩn.txt")]);
    assert!(hide.status.success(), "attrib +h: {}", String::from_utf8_lossy(&hide.stderr));
    std::thread::sleep(Duration::from_millis(20));
    fs::write(root.join("hives/SYSTEM"), "hive v2").expect("write");

    let out = run_agent(&["fim", "check", "--config", &config_w, "--db", &db_w, "--json"]);
    assert_eq!(out.status.code(), Some(1), "changes found: {}", String::from_utf8_lossy(&out.stderr));
    let changes = json_lines(&out.stdout);
    let change = |name: &str| {
        let path = format!("{root_w}\\{name}");
        changes.iter().find(|c| c["path"] == path.as_str()).unwrap_or_else(|| panic!("{path} in {changes:?}"))
    };
    let readonly = change("chỉ đọc.txt");
    // Wine builds a file's ACL from its Unix mode, so taking the write bits away changes
    // the ACL as well as the read-only bit; the owner stays.
    assert_eq!(
        (&readonly["action"], &readonly["changed"]),
        (&"attributes".into(), &serde_json::json!(["attributes", "acl"])),
        "{readonly}"
    );
    assert_eq!(readonly["old"]["attributes"], "archive", "{readonly}");
    assert_eq!(readonly["new"]["attributes"], "readonly,archive", "{readonly}");
    let owner = readonly["new"]["owner"].as_str().expect("the owner is recorded");
    assert!(owner.contains('\\') && owner == readonly["old"]["owner"], "{readonly}");
    assert_ne!(readonly["old"]["dacl_hash"], readonly["new"]["dacl_hash"], "{readonly}");
    let hidden = change("ẩn.txt");
    assert_eq!(hidden["action"], "attributes", "{hidden}");
    assert_eq!(hidden["new"]["attributes"], "hidden,archive", "{hidden}");
    // Same size, new content: without reading it, only the time says it changed.
    let hive = change("hives\\SYSTEM");
    assert_eq!((&hive["action"], &hive["changed"]), (&"attributes".into(), &serde_json::json!(["mtime"])), "{hive}");
    assert_eq!(hive["new"]["hash"], Value::Null, "{hive}");
    assert_eq!(changes.len(), 3, "{changes:?}");
}

#[test]
fn without_state_the_windows_agent_uses_its_program_data_folder() {
    // Its use is in the enrollment test below; here, that every command says so.
    for command in ["enroll", "run", "status"] {
        let out = run_agent(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(r"[default: C:\ProgramData\HaiDang\agent]"), "{command}: {help}");
    }
}

/// The Windows agent under Wine enrolls with the Linux collector over QUIC (quinn-udp's Windows
/// socket path, in Wine) into its default state folder, runs, and streams file events that
/// the collector stores and lists.
#[test]
fn the_windows_agent_enrolls_with_the_linux_collector_and_streams_file_events_over_quic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("theo dõi");
    fs::create_dir(&root).expect("mkdir");
    let collector = Collector::start(&dir.path().join("collector"));
    // The default state folder of the prefix, emptied of an earlier run's agent.
    let state = drive_c().join("ProgramData/HaiDang/agent");
    let _ = fs::remove_dir_all(&state);

    let token = collector.token(1, "1h");
    let fingerprint = collector.fingerprint();
    let server = collector.quic.to_string();
    let out = run_agent(&["enroll", "--server", &server, "--token", &token, "--ca-fingerprint", &fingerprint]);
    assert!(out.status.success(), "enroll under Wine failed: {}", String::from_utf8_lossy(&out.stderr));
    let identity: Value = serde_json::from_slice(
        &fs::read(state.join("agent.json")).expect("agent.json in C:\\ProgramData\\HaiDang\\agent"),
    )
    .expect("identity");
    let id = identity["agent_id"].as_str().expect("agent id").to_string();

    let config = dir.path().join("agent.toml");
    let config_text = format!(
        "[fim]\npaths = ['{}']\nrescan_interval = \"10m\"\n[process]\npoll_interval = \"500ms\"\n",
        windows_path(&root)
    );
    fs::write(&config, config_text).expect("config");
    let mut agent = WineAgent::spawn(&["run", "--config", &windows_path(&config)], &dir.path().join("agent.log"));
    let log = || fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    wait_until(WAIT, "the Windows agent to connect", || {
        assert!(agent.is_running(), "the Windows agent exited: {}", log());
        collector.agents().into_iter().find(|a| a["id"] == id.as_str() && a["connected"] == true)
    });

    // A file written before the first baseline is part of it, not a creation.
    wait_until(WAIT, "the first FIM baseline", || log().contains("FIM first baseline done").then_some(()));
    assert!(log().contains("fim=ReadDirectoryChangesW"), "{}", log());
    let file = root.join("báo cáo.txt");
    fs::write(&file, "nội dung").expect("write");
    let path = format!("{}\\báo cáo.txt", windows_path(&root));
    let created = wait_until(WAIT, "the created event at the collector", || {
        collector.events(&id, Some("file")).into_iter().find(|e| e["action"] == "created" && e["path"] == path.as_str())
    });
    assert_eq!(created["hash"], blake3::hash("nội dung".as_bytes()).to_hex().to_string(), "{created}");
    assert_eq!(created["detection"], "realtime", "{created}\n{}", log());
    // The owner and the ACL's hash travel with the event (Windows' `file` events carry them).
    assert!(created["owner"].as_str().is_some_and(|o| o.contains('\\')), "{created}");
    assert!(created["dacl_hash"].as_str().is_some_and(|h| h.len() == 64), "{created}");
    assert_eq!(created["old_owner"], Value::Null, "{created}");

    // Wine's ETW is stubs: StartTraceW succeeds, OpenTraceW fails with access denied. The
    // sensor polls, and says why.
    let status = run_agent(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let sensor = status["process_sensor"].as_str().unwrap_or_default();
    assert!(sensor.starts_with("polling (ETW unavailable: OpenTraceW failed"), "{status}");
    // A process started in the prefix is seen by the poller with its image, command line and
    // account (from its token: sysinfo's user list panics under Wine).
    let mut shell = spawn_program("cmd", &["/k", "rem hải-đăng-thăm-dò"]);
    let image_ends = |e: &Value, name: &str| e.as_str().is_some_and(|i| i.to_lowercase().ends_with(name));
    let started = wait_until(WAIT, "the shell's start event at the collector", || {
        collector.events(&id, Some("process")).into_iter().find(|e| {
            e["action"] == "start"
                && image_ends(&e["image"], "\\cmd.exe")
                && e["command_line"].as_str().is_some_and(|c| c.contains("hải-đăng-thăm-dò"))
        })
    });
    // Wine runs `cmd` through its `start.exe`, the parent the poller knew.
    assert!(image_ends(&started["parent_image"], "\\start.exe"), "{started}");
    // End of input ends the shell.
    drop(shell.stdin.take());
    let _ = shell.wait();
    assert!(started["user"].as_str().is_some_and(|u| u.contains('\\')), "DOMAIN\\name: {started}");
    assert!(started["user_sid"].as_str().is_some_and(|s| s.starts_with("S-1-5-")), "{started}");
    assert!(started["image_hash"].is_string(), "{started}");
    let pid = started["pid"].clone();
    wait_until(WAIT, "the shell's exit event at the collector", || {
        collector.events(&id, Some("process")).into_iter().find(|e| e["action"] == "exit" && e["pid"] == pid)
    });
    assert!(agent.is_running(), "the process sensor must not take the agent down: {}", log());
}

/// The DLP removable-media channel of the Windows agent under Wine, end to end: a Wine drive
/// `R:` of type floppy (which Windows programs see as `DRIVE_REMOVABLE`, like a USB stick) is
/// a `usb` mount; a TỐI MẬT report copied onto it is found by the drive's walk, blocked into
/// the vault, and its `dlp_verdict` reaches the Linux collector over QUIC; a decoy stays.
#[test]
fn the_windows_agent_blocks_a_marked_document_copied_to_a_removable_drive() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A prefix of its own: the drive type is machine configuration the other tests must not see.
    let prefix = dir.path().join("prefix");
    make_prefix(&prefix);
    let usb = dir.path().join("usb");
    fs::create_dir(&usb).expect("mkdir");
    std::os::unix::fs::symlink(&usb, prefix.join("dosdevices/r:")).expect("drive R:");
    let added = run_in(&prefix, "reg", &["add", "HKLM\\Software\\Wine\\Drives", "/v", "r:", "/d", "floppy", "/f"]);
    assert!(added.status.success(), "reg add: {}", String::from_utf8_lossy(&added.stderr));
    // The mount manager reads drive types when it starts.
    stop_wineserver(&prefix);

    let collector = Collector::start(&dir.path().join("collector"));
    let state = dir.path().join("state");
    let (state_w, exe) = (windows_path(&state), agent_exe());
    let exe = exe.to_str().expect("UTF-8 path");
    let token = collector.token(1, "1h");
    let (server, fingerprint) = (collector.quic.to_string(), collector.fingerprint());
    let enrolled = run_in(
        &prefix,
        exe,
        &["enroll", "--server", &server, "--token", &token, "--ca-fingerprint", &fingerprint, "--state", &state_w],
    );
    assert!(enrolled.status.success(), "enroll under Wine failed: {}", String::from_utf8_lossy(&enrolled.stderr));
    let identity: Value =
        serde_json::from_slice(&fs::read(state.join("agent.json")).expect("agent.json")).expect("identity");
    let id = identity["agent_id"].as_str().expect("agent id").to_string();

    let config = dir.path().join("agent.toml");
    let text = "[fim]\npaths = []\n[process]\nenabled = false\n[winlog]\nenabled = false\n\
                [dlp]\nenabled = true\nwalk_interval = \"1s\"\n";
    fs::write(&config, text).expect("config");
    let log_path = dir.path().join("agent.log");
    let mut agent =
        WineAgent::spawn_in(&prefix, &["run", "--state", &state_w, "--config", &windows_path(&config)], &log_path);
    let log = || fs::read_to_string(&log_path).unwrap_or_default();
    let mounted = wait_until(WAIT, "the removable drive's mount event", || {
        assert!(agent.is_running(), "the Windows agent exited: {}", log());
        collector
            .events(&id, Some("mount"))
            .into_iter()
            .find(|e| e["action"] == "mounted" && e["mount_point"] == "R:\\")
    });
    assert_eq!((&mounted["channel"], &mounted["removable"]), (&Value::from("usb"), &Value::from(true)), "{mounted}");
    assert!(mounted["watch"].as_str().is_some_and(|w| w.starts_with("walk every")), "{mounted}");

    let decoy = "MẶT TRẬN TỔ QUỐC VIỆT NAM\nVui lòng nhập mật khẩu\n".as_bytes();
    fs::write(usb.join("thông báo.txt"), decoy).expect("decoy");
    let report = docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."]);
    fs::write(usb.join("báo cáo.docx"), &report).expect("report");
    let verdict = wait_until(WAIT, "the report's DLP verdict at the collector", || {
        assert!(agent.is_running(), "the Windows agent exited: {}", log());
        collector.events(&id, Some("dlp_verdict")).into_iter().find(|e| e["path"] == "R:\\báo cáo.docx")
    });
    assert_eq!(
        (&verdict["channel"], &verdict["action"], &verdict["outcome"]),
        (&Value::from("usb"), &Value::from("block"), &Value::from("quarantined")),
        "{verdict}\n{}",
        log()
    );
    assert!(!usb.join("báo cáo.docx").exists(), "the blocked report is still on the drive");
    assert_eq!(fs::read(usb.join("thông báo.txt")).expect("decoy stays"), decoy);
    let verdicts = collector.events(&id, Some("dlp_verdict"));
    assert!(verdicts.iter().all(|v| v["path"] != "R:\\thông báo.txt" || v["action"] != "block"), "{verdicts:?}");
}
