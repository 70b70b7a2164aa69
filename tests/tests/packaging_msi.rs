//! The Windows installer of packaging/build.sh (wixl), read back with msiinfo: the tables that
//! make the service, the enrollment at install, the purge on uninstall and major upgrades; the
//! component GUIDs are the same in every build. Then installed, upgraded and uninstalled under
//! Wine's msiexec, as the README tells IT staff to, against a real collector on loopback.
//! What Wine 8 does differently from Windows, seen here: the agent cannot open its QUIC socket
//! (so enrollment during the install fails there, and the install rolls back), the service's
//! image path is not quoted, and the token is written to the verbose log (MsiHiddenProperties
//! is ignored).

use haidang_tests::Collector;
use haidang_tests::packaging::{build, repo, run, text};
use haidang_tests::system::require_program;
use haidang_tests::wine::{make_prefix, run_in, stop_wineserver, windows_path};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

const UPGRADE_CODE: &str = "{BF7B35B2-4BFE-4302-BE11-F18F137798E4}";

fn msi(dir: &Path, version: &str) -> PathBuf {
    dir.join(format!("haidang-agent-{version}-x64.msi"))
}

/// The MSIs of versions 1.0.0 and 1.0.1, built once for both tests into the target directory.
fn msis() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe.ancestors().nth(2).expect("profile directory").join("packaging-tests");
        let started = Instant::now();
        build("msi", "1.0.0", &dir.join("a"));
        build("msi", "1.0.1", &dir.join("b"));
        eprintln!("built two MSIs in {:?}", started.elapsed());
        (msi(&dir.join("a"), "1.0.0"), msi(&dir.join("b"), "1.0.1"))
    })
}

/// The rows of one table of an MSI, as `msiinfo export` prints them (after its three header
/// lines: column names, types, table name and keys).
fn table(msi: &Path, name: &str) -> Vec<Vec<String>> {
    let out = run("msiinfo", &["export", msi.to_str().expect("UTF-8"), name]);
    assert!(out.status.success(), "msiinfo export {name}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(3)
        .map(|l| l.trim_end_matches('\r').split('\t').map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter().find(|r| r[0] == key).unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

/// The value of a property, or None.
fn property(msi: &Path, name: &str) -> Option<String> {
    table(msi, "Property").into_iter().find(|r| r[0] == name).map(|r| r[1].clone())
}

#[test]
fn msi_tables_make_the_service_enroll_at_install_and_upgrade_in_place() {
    require_program("wixl");
    require_program("msiinfo");
    let started = Instant::now();
    let (a, b) = msis();

    // One product line (UpgradeCode), a new product per build (ProductCode), same components.
    assert_eq!(property(a, "UpgradeCode").map(|c| c.to_uppercase()).as_deref(), Some(UPGRADE_CODE));
    assert_eq!(property(b, "UpgradeCode"), property(a, "UpgradeCode"));
    assert_eq!(property(a, "ProductVersion").as_deref(), Some("1.0.0"));
    assert_ne!(property(a, "ProductCode"), property(b, "ProductCode"));
    assert_eq!(property(a, "PURGE").as_deref(), Some("0"), "uninstall keeps the state unless PURGE=1");
    assert_eq!(property(a, "MsiHiddenProperties").as_deref(), Some("TOKEN"), "the token stays out of logs");
    assert_eq!(property(a, "ALLUSERS").as_deref(), Some("1"), "a per-machine install");
    let components = table(a, "Component");
    assert!(components.len() >= 2 && components.iter().all(|c| c[1].starts_with('{')), "{components:?}");
    assert_eq!(components, table(b, "Component"), "component GUIDs are stable across builds");
    // Every shipped YARA rule file is installed where the agent looks by default.
    let files: Vec<String> = table(a, "File").into_iter().map(|f| f[2].to_lowercase()).collect();
    let shipped = std::fs::read_dir(repo().join("rules/yara")).expect("rules/yara");
    for rule in shipped.map(|e| e.expect("entry").file_name().to_string_lossy().to_lowercase()) {
        assert!(files.iter().any(|f| f.ends_with(&rule)), "{rule} is not in the MSI: {files:?}");
    }

    // The service: automatic, own process, LocalSystem, run with the agent's state directory.
    let services = table(a, "ServiceInstall");
    let service = row(&services, "AgentServiceInstall");
    assert_eq!(&service[1..4], ["HaiDangAgent", "Hai Dang Agent", "16"]);
    assert_eq!((service[4].as_str(), service[8].as_str()), ("2", "LocalSystem"));
    assert_eq!(service[10], r#"service run --state "[CommonAppDataFolder]HaiDang\agent""#);
    let controls = table(a, "ServiceControl");
    let control = row(&controls, "AgentServiceControl");
    let event: u32 = control[2].parse().expect("event");
    // msidbServiceControlEvent: Start 1, Stop 2, UninstallStop 0x20, UninstallDelete 0x80.
    assert_eq!(event, 0x01 | 0x02 | 0x20 | 0x80, "started on install, stopped on both, removed on uninstall");

    // Enrollment: the installed exe, deferred, as LocalSystem (no impersonation), checked.
    let actions = table(a, "CustomAction");
    let enroll = row(&actions, "Enroll");
    let kind: u32 = enroll[1].parse().expect("type");
    assert_eq!(kind & 0x3f, 18, "an executable installed by the package");
    assert_eq!(kind & (0x400 | 0x800 | 0x40), 0x400 | 0x800, "deferred, not impersonated, result checked");
    assert_eq!(enroll[2], "AgentExe");
    for part in [
        "enroll",
        "--if-not-enrolled",
        r#"--server "[SERVER]""#,
        r#"--token "[TOKEN]""#,
        r#"--ca-fingerprint "[CA_FP]""#,
    ] {
        assert!(enroll[3].contains(part), "{part} in {}", enroll[3]);
    }
    let purge = row(&actions, "PurgeState");
    assert!(purge[3].contains(r#"rmdir /s /q "[CommonAppDataFolder]HaiDang""#), "{}", purge[3]);
    let recovery = row(&actions, "ServiceRecovery");
    assert!(recovery[3].starts_with("failure HaiDangAgent") && recovery[3].contains("restart/"), "{}", recovery[3]);

    // Sequencing: enrollment after the service is installed and before it is started; the purge
    // only on a real uninstall with PURGE=1, after the service is gone.
    let sequence = table(a, "InstallExecuteSequence");
    let at = |action: &str| -> u32 { row(&sequence, action)[2].parse().expect("sequence number") };
    assert!(at("InstallServices") < at("Enroll") && at("Enroll") < at("StartServices"));
    assert_eq!(row(&sequence, "Enroll")[1], "SERVER AND NOT REMOVE");
    assert!(at("DeleteServices") < at("PurgeState") && at("PurgeState") < at("InstallFinalize"));
    assert_eq!(row(&sequence, "PurgeState")[1], r#"REMOVE="ALL" AND PURGE="1" AND NOT UPGRADINGPRODUCTCODE"#);
    assert!(at("RemoveExistingProducts") < at("InstallInitialize"), "the old version goes before the new one");

    // Major upgrade: older versions of the line are replaced, newer ones refuse the install.
    let upgrades = table(b, "Upgrade");
    let replaces = upgrades.iter().find(|u| u[6] == "WIX_UPGRADE_DETECTED").expect("upgrade row");
    assert_eq!(
        (replaces[0].to_uppercase().as_str(), replaces[1].as_str(), replaces[2].as_str()),
        (UPGRADE_CODE, "", "1.0.1")
    );
    let downgrade = upgrades.iter().find(|u| u[6] == "WIX_DOWNGRADE_DETECTED").expect("downgrade row");
    assert_eq!((downgrade[1].as_str(), downgrade[4].as_str()), ("1.0.1", "2"), "only detected, then refused");
    let conditions = table(b, "LaunchCondition");
    assert!(conditions.iter().any(|c| c[0] == "NOT WIX_DOWNGRADE_DETECTED"), "{conditions:?}");
    eprintln!("MSI tables checked in {:?}", started.elapsed());
}

#[test]
fn msi_installs_upgrades_and_uninstalls_under_wine() {
    require_program("wixl");
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (a, b) = msis();
    // A prefix of this test's own: the install adds a service the other Wine tests must not see.
    let prefix = dir.path().join("wine");
    make_prefix(&prefix);
    eprintln!("MSIs and Wine prefix ready in {:?}", started.elapsed());
    let collector = Collector::start(&dir.path().join("collector"));
    let fingerprint = collector.fingerprint();
    let drive_c = prefix.join("drive_c");
    let state = drive_c.join("ProgramData/HaiDang/agent");
    let exe = drive_c.join("Program Files/HaiDang/Agent/haidang-agent.exe");
    let (msi_a, msi_b) = (windows_path(a), windows_path(b));
    let msiexec = |args: &[&str], name: &str| -> (Option<i32>, String) {
        let log = dir.path().join(format!("{name}.log"));
        let log_w = windows_path(&log);
        let mut all = args.to_vec();
        all.extend(["/qn", "/l*v", log_w.as_str()]);
        let out = run_in(&prefix, "msiexec", &all);
        let log = std::fs::read(&log).map(|b| decode_log(&b)).unwrap_or_default();
        eprintln!(
            "msiexec {name}: exit {:?}; its programs said: {:?}\n{}",
            out.status.code(),
            text(&out).trim(),
            actions_in(&log)
        );
        (out.status.code(), log)
    };
    let service = || text(&run_in(&prefix, "reg", &["query", r"HKLM\System\CurrentControlSet\Services\HaiDangAgent"]));

    // An enrollment that fails (a malformed fingerprint, refused before any network) fails the
    // install, and the install is rolled back.
    let server = format!("SERVER={}", collector.quic);
    let (code, _) = msiexec(&["/i", &msi_a, &server, "TOKEN=x", "CA_FP=sha256:zz"], "refused");
    assert_ne!(code, Some(0), "a failed enrollment fails the install");
    assert!(!exe.exists(), "and leaves nothing installed");
    assert!(!service().contains("ImagePath"), "nor the service");

    // A real enrollment against the collector: it enrolls (under Wine 8 over plain datagrams,
    // as Winsock refuses quinn-udp's socket options there) and the service starts, or the
    // install fails and is rolled back. Either way it is all or nothing.
    let token = format!("TOKEN={}", collector.token(1, "1h"));
    let fp = format!("CA_FP={fingerprint}");
    let (code, _) = msiexec(&["/i", &msi_a, &server, &token, &fp, "GROUP=e2e"], "enroll");
    if code == Some(0) {
        assert!(exe.exists() && state.join("agent.json").exists() && collector.agents().len() == 1);
        eprintln!("enrolled during the install under Wine");
        assert_eq!(run_in(&prefix, "msiexec", &["/x", &msi_a, "/qn", "PURGE=1"]).status.code(), Some(0));
    } else {
        assert!(!exe.exists() && !state.join("agent.json").exists(), "a failed install leaves nothing");
        assert!(collector.agents().is_empty());
        eprintln!("enrollment under Wine failed as above; the install was rolled back");
    }

    // Installed without SERVER: the program, the automatic LocalSystem service with the agent's
    // state directory, and the group recorded for inventory.
    let (code, _) = msiexec(&["/i", &msi_a, "GROUP=e2e"], "install");
    assert_eq!(code, Some(0));
    assert!(exe.exists());
    let registered = service();
    for part in [
        r#"haidang-agent.exe service run --state "C:\ProgramData\HaiDang\agent""#,
        "LocalSystem",
        "Start    REG_DWORD    0x2",
    ] {
        assert!(registered.contains(part), "{part} in {registered}");
    }
    let group = text(&run_in(&prefix, "reg", &["query", r"HKLM\SOFTWARE\HaiDang\Agent", "/v", "Group"]));
    assert!(group.contains("e2e"), "{group}");

    // The machine was enrolled before (here by the Linux agent, whose state has the same
    // layout); the upgrade, deployed with the same command line and a used-up token, keeps it.
    let token = collector.token(1, "1h");
    let seeded = dir.path().join("seed");
    assert!(haidang_tests::enroll(&collector, &token, &fingerprint, &seeded).status.success());
    std::fs::create_dir_all(state.parent().expect("ProgramData")).expect("mkdir");
    assert!(run("cp", &["-a", seeded.to_str().expect("UTF-8"), state.to_str().expect("UTF-8")]).status.success());
    // The agent's id: the service's first run adds the machine fingerprint to agent.json.
    let agent_id = |what: &str| {
        let json = std::fs::read(state.join("agent.json")).unwrap_or_else(|e| panic!("{what}: {e}"));
        serde_json::from_slice::<serde_json::Value>(&json).expect("agent.json")["agent_id"].clone()
    };
    let identity = agent_id("identity");
    assert!(identity.is_string(), "{identity}");
    let enrolled = collector.agents().len();
    let used = format!("TOKEN={token}");
    let (code, log) = msiexec(&["/i", &msi_b, &server, &used, &fp], "upgrade");
    assert_eq!(code, Some(0), "the upgrade failed");
    assert!(log.contains("ProductVersion = 1.0.1"));
    assert_eq!(agent_id("identity kept"), identity);
    let products =
        text(&run_in(&prefix, "reg", &["query", r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall", "/s"]));
    let versions: Vec<&str> = products.lines().filter(|l| l.contains("DisplayVersion")).collect();
    assert_eq!(versions.len(), 1, "one product after the upgrade: {versions:?}");
    assert!(versions[0].ends_with("1.0.1"), "{versions:?}");
    assert_eq!(collector.agents().len(), enrolled, "no second enrollment");

    // Uninstall keeps %ProgramData%\HaiDang; PURGE=1 deletes it.
    let (code, _) = msiexec(&["/x", &msi_b], "uninstall");
    assert_eq!(code, Some(0));
    assert!(!exe.exists() && !service().contains("ImagePath"), "program and service removed");
    assert_eq!(agent_id("state kept"), identity);
    assert!(!drive_c.join("ProgramData/HaiDang/yara/eicar.yar").exists(), "the shipped rules are removed");
    assert_eq!(msiexec(&["/i", &msi_b], "reinstall").0, Some(0));
    let (code, _) = msiexec(&["/x", &msi_b, "PURGE=1"], "purge");
    assert_eq!(code, Some(0));
    assert!(!drive_c.join("ProgramData/HaiDang").exists(), "PURGE=1 deletes %ProgramData%\\HaiDang");
    stop_wineserver(&prefix);
    eprintln!("MSI under Wine: {:?}", started.elapsed());
}

/// msiexec writes its log in UTF-16LE.
fn decode_log(bytes: &[u8]) -> String {
    if bytes.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = bytes[2..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// How our custom actions and the service start ended, from a verbose log (the last time each
/// ran: install and rollback scripts repeat them).
fn actions_in(log: &str) -> String {
    log.lines()
        .filter(|l| l.starts_with("Action ended"))
        .filter(|l| {
            ["Enroll", "ServiceRecovery", "PurgeState", "StartServices", "INSTALL."].iter().any(|a| l.contains(a))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
