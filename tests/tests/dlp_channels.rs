//! The DLP channels of a running agent, with real devices, real mounts and a real collector:
//!
//! - removable media: an ext4 image on a loop device mounted under `/media/…` (the default
//!   `removable_mounts` glob). A copy of a TỐI MẬT document is quarantined into the vault,
//!   its `dlp` event (detector M2, level toi_mat, action block, channel usb) and its
//!   `dlp_verdict` (quarantined, vault id) reach the collector, the medium is remounted
//!   read-only, `vault restore` brings back identical bytes, a decoy stays, and mount and
//!   unmount are events;
//! - a network share: sshfs of a loopback SSH server started by the test with its own keys;
//!   a copied TUYỆT MẬT document is detected on channel `share`;
//! - at rest: the scheduled scan of the running agent and `haidang-agent discover`.
//!
//! The first two need root, losetup/mkfs.ext4, and sshd/sshfs (scripts/test.sh installs
//! them); without them they FAIL saying what is missing. CI runs as root.

use haidang_tests::system::{require_program, require_root, run_checked};
use haidang_tests::{Agent, Collector, bin, docx, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Every DLP agent watches every mount of the machine, so the tests of this file run one at a
/// time: two agents quarantining the same copy would race.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A mount (and its loop device) undone on drop, whatever the test did.
struct Mounted {
    point: PathBuf,
    loop_dev: Option<String>,
}

impl Mounted {
    fn unmount(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if Command::new("mountpoint").arg("-q").arg(&self.point).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.point).status();
        }
        if let Some(dev) = &self.loop_dev {
            let _ = Command::new("losetup").args(["-d", dev]).status();
        }
        let _ = std::fs::remove_dir(&self.point);
    }
}

/// The agent config of these tests: DLP on, quick walks, optional extras.
fn dlp_config(extra: &str) -> String {
    format!("[process]\nenabled = false\n[dlp]\nenabled = true\nwalk_interval = \"1s\"\n{extra}")
}

fn find(events: &[Value], pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    events.iter().find(|e| pred(e))
}

fn started_agent(collector: &Collector, dir: &Path, config: &str) -> Agent {
    let mut agent = Agent::enroll(collector, &dir.join("agent"), config);
    agent.start();
    wait_until(WAIT, "agent connected with DLP channels running", || {
        let s = agent.status();
        let sensor = s["dlp_sensor"].as_str().unwrap_or("-");
        (s["connection"] == "connected" && !["-", "off", "starting"].contains(&sensor)).then_some(())
    });
    agent
}

#[test]
fn a_marked_document_copied_to_removable_media_is_quarantined_and_restorable() {
    let _serial = one_at_a_time();
    require_root("create and mount a loop device");
    for program in ["losetup", "mkfs.ext4", "mount", "umount", "mountpoint"] {
        require_program(program);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let agent = started_agent(&collector, dir.path(), &dlp_config("remount_readonly = true\n"));
    assert_eq!(agent.status()["dlp_sensor"], "fanotify mount marks");

    let image = dir.path().join("usb.img");
    run_checked("truncate", &["-s", "64M", image.to_str().expect("utf-8")]);
    run_checked("mkfs.ext4", &["-q", image.to_str().expect("utf-8")]);
    let dev = run_checked("losetup", &["--find", "--show", image.to_str().expect("utf-8")]);
    let point = PathBuf::from("/media").join(unique("haidang-test"));
    std::fs::create_dir_all(&point).expect("mount point");
    let mut usb = Mounted { point: point.clone(), loop_dev: Some(dev.clone()) };
    run_checked("mount", &[&dev, point.to_str().expect("utf-8")]);
    let point_s = point.display().to_string();

    let mounted = wait_until(WAIT, "mount event", || {
        find(&collector.events(&agent.id, Some("mount")), |e| e["action"] == "mounted" && e["mount_point"] == point_s)
            .cloned()
    });
    assert_eq!(
        (&mounted["channel"], &mounted["fstype"], &mounted["source"], &mounted["watch"]),
        (&Value::from("usb"), &Value::from("ext4"), &Value::from(dev.as_str()), &Value::from("fanotify")),
        "{mounted}"
    );
    wait_until(WAIT, "the mount in `status`", || {
        let status = agent.status();
        let mounts = status["dlp_mounts"].as_array().cloned().unwrap_or_default();
        mounts.iter().any(|l| l.as_str().is_some_and(|l| l.starts_with(&format!("usb {point_s} ext4")))).then_some(())
    });

    // Copied with cp, as a user would: a decoy with the spec's marking traps first, then the
    // marked report.
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let decoy_bytes = "MẶT TRẬN TỔ QUỐC VIỆT NAM\nVui lòng nhập mật khẩu\nChính sách bảo mật\n".as_bytes();
    std::fs::write(outside.join("thongbao.txt"), decoy_bytes).expect("decoy");
    let report_bytes = docx(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."]);
    std::fs::write(outside.join("baocao.docx"), &report_bytes).expect("report");
    run_checked("cp", &[outside.join("thongbao.txt").to_str().expect("utf-8"), &point_s]);
    run_checked("cp", &[outside.join("baocao.docx").to_str().expect("utf-8"), &point_s]);
    let report = point.join("baocao.docx");
    let report_s = report.display().to_string();

    let verdict = wait_until(WAIT, "DLP verdict for the report", || {
        find(&collector.events(&agent.id, Some("dlp_verdict")), |e| e["path"] == report_s).cloned()
    });
    assert_eq!(
        (&verdict["channel"], &verdict["action"], &verdict["outcome"]),
        (&Value::from("usb"), &Value::from("block"), &Value::from("quarantined")),
        "{verdict}"
    );
    assert_eq!(verdict["sha256"], sha256(&report_bytes));
    assert!(verdict["rules"].as_array().is_some_and(|r| r.contains(&Value::from("s0-level-egress"))), "{verdict}");
    let vault_id = verdict["vault_id"].as_str().expect("vault id").to_owned();
    let matches = collector.events(&agent.id, Some("dlp"));
    let m2 = find(&matches, |e| e["path"] == report_s && e["detector"] == "M2").expect("M2 match");
    assert_eq!(
        (&m2["level"], &m2["action"], &m2["channel"], &m2["sha256"], &m2["masked_sample"]),
        (
            &Value::from("toi_mat"),
            &Value::from("block"),
            &Value::from("usb"),
            &Value::from(sha256(&report_bytes)),
            &Value::Null
        ),
        "{m2}"
    );
    assert!(!report.exists(), "the blocked report is still on the medium");
    // The decoy was written first and inspected first (one queue): nothing to say about it.
    let decoy = point.join("thongbao.txt");
    assert_eq!(std::fs::read(&decoy).expect("the decoy stays"), decoy_bytes);
    let decoy_s = decoy.display().to_string();
    assert!(find(&collector.events(&agent.id, None), |e| e["path"] == decoy_s).is_none(), "decoy reported");

    // Remounted read-only after the block.
    wait_until(WAIT, "remounted_readonly event", || {
        find(&collector.events(&agent.id, Some("mount")), |e| {
            e["action"] == "remounted_readonly" && e["mount_point"] == point_s
        })
        .cloned()
    });
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let line = mountinfo.lines().find(|l| l.split(' ').nth(4) == Some(point_s.as_str())).expect("still mounted");
    assert!(line.split(' ').nth(5).is_some_and(|o| o.split(',').any(|o| o == "ro")), "{line}");
    assert!(verdict["detail"].as_str().is_some_and(|d| d.contains("remounted read-only")), "{verdict}");

    // The administrator's view of the vault, and a restore elsewhere.
    let state = agent.state.to_str().expect("utf-8");
    let (code, entries, stderr) = haidang_tests::agent_json_lines(&["vault", "list", "--json", "--state", state]);
    assert_eq!(code, Some(0), "{stderr}");
    let entry = find(&entries, |e| e["id"] == vault_id.as_str()).expect("vault entry");
    assert_eq!(
        (&entry["path"], &entry["sha256"], &entry["channel"]),
        (&Value::from(report_s.as_str()), &Value::from(sha256(&report_bytes)), &Value::from("usb"))
    );
    let vault_bin = agent.state.join("vault").join(format!("{vault_id}.bin"));
    let sealed = std::fs::read(&vault_bin).expect("sealed content");
    assert!(!sealed.windows(4).any(|w| w == b"PK\x03\x04"), "the vault holds the document in clear");
    let restored = dir.path().join("restored.docx");
    let out = Command::new(bin("haidang-agent"))
        .args(["vault", "restore", &vault_id, "--state", state, "--to"])
        .arg(&restored)
        .output()
        .expect("vault restore");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&restored).expect("restored"), report_bytes);
    let again = Command::new(bin("haidang-agent"))
        .args(["vault", "restore", &vault_id, "--state", state, "--to"])
        .arg(&restored)
        .output()
        .expect("vault restore");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists"));

    usb.unmount();
    wait_until(WAIT, "unmount event", || {
        find(&collector.events(&agent.id, Some("mount")), |e| e["action"] == "unmounted" && e["mount_point"] == point_s)
            .cloned()
    });
}

/// A loopback sshd with keys made here, killed on drop.
struct Sshd {
    child: std::process::Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_marked_document_copied_to_an_sshfs_share_is_detected_on_channel_share() {
    let _serial = one_at_a_time();
    require_root("mount sshfs and run sshd");
    for program in ["sshd", "sshfs", "ssh-keygen", "umount", "mountpoint"] {
        require_program(program);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let keys = d.join("ssh");
    std::fs::create_dir(&keys).expect("mkdir");
    for key in ["host_key", "user_key"] {
        run_checked("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", keys.join(key).to_str().expect("utf-8")]);
    }
    std::fs::copy(keys.join("user_key.pub"), keys.join("authorized_keys")).expect("authorized_keys");
    std::fs::create_dir_all("/run/sshd").expect("sshd privilege separation directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let config = keys.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {k}/host_key\nAuthorizedKeysFile {k}/authorized_keys\n\
             PermitRootLogin prohibit-password\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nPidFile none\nSubsystem sftp internal-sftp\n",
            k = keys.display()
        ),
    )
    .expect("sshd_config");
    let sshd = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stderr(std::fs::File::create(d.join("sshd.log")).expect("log"))
        .spawn()
        .expect("start sshd");
    let _sshd = Sshd { child: sshd };
    wait_until(WAIT, "sshd listening", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());

    let collector = Collector::start(&d.join("collector"));
    let agent = started_agent(&collector, d, &dlp_config(""));
    let remote = d.join("remote");
    std::fs::create_dir(&remote).expect("mkdir");
    let point = PathBuf::from("/mnt").join(unique("haidang-share"));
    std::fs::create_dir_all(&point).expect("mount point");
    let _share = Mounted { point: point.clone(), loop_dev: None };
    let options = format!(
        "IdentityFile={}/user_key,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes",
        keys.display()
    );
    run_checked(
        "sshfs",
        &[
            "-p",
            &port.to_string(),
            "-o",
            &options,
            &format!("root@127.0.0.1:{}", remote.display()),
            &point.display().to_string(),
        ],
    );
    let point_s = point.display().to_string();
    let mounted = wait_until(WAIT, "share mount event", || {
        find(&collector.events(&agent.id, Some("mount")), |e| e["action"] == "mounted" && e["mount_point"] == point_s)
            .cloned()
    });
    assert_eq!(
        (&mounted["channel"], &mounted["fstype"]),
        (&Value::from("share"), &Value::from("fuse.sshfs")),
        "{mounted}"
    );
    assert_eq!(mounted["watch"], "fanotify", "{mounted}");

    let bytes = docx(&["TUYỆT MẬT", "Kế hoạch bảo vệ mục tiêu."]);
    let source = d.join("kehoach.docx");
    std::fs::write(&source, &bytes).expect("write");
    run_checked("cp", &[source.to_str().expect("utf-8"), &point_s]);
    let copied = point.join("kehoach.docx").display().to_string();
    let m1 = wait_until(WAIT, "M1 match on the share", || {
        find(&collector.events(&agent.id, Some("dlp")), |e| e["path"] == copied && e["detector"] == "M1").cloned()
    });
    assert_eq!(
        (&m1["channel"], &m1["level"], &m1["action"], &m1["sha256"]),
        (&Value::from("share"), &Value::from("tuyet_mat"), &Value::from("block"), &Value::from(sha256(&bytes))),
        "{m1}"
    );
    let verdict = wait_until(WAIT, "verdict on the share", || {
        find(&collector.events(&agent.id, Some("dlp_verdict")), |e| e["path"] == copied).cloned()
    });
    assert_eq!(verdict["outcome"], "quarantined", "{verdict}");
    assert!(!remote.join("kehoach.docx").exists(), "the blocked document reached the server");
}

#[test]
fn data_at_rest_is_found_by_the_scheduled_scan_and_by_discover() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let folder = root.join("tai-lieu");
    std::fs::create_dir(&folder).expect("mkdir");
    let bytes = docx(&["MẬT", "Số: 12/BC-CA"]);
    let marked = folder.join("bc.docx");
    std::fs::write(&marked, &bytes).expect("write");
    std::fs::write(folder.join("ghichu.txt"), "Văn bản này không phải tài liệu mật.\n").expect("write");
    let config = dlp_config(&format!("at_rest_paths = [{:?}]\n", folder.display().to_string()));

    let config_file = root.join("discover.toml");
    std::fs::write(&config_file, &config).expect("config");
    let (code, findings, stderr) =
        haidang_tests::agent_json_lines(&["discover", "--json", "--config", config_file.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{stderr}");
    let marked_s = marked.display().to_string();
    let found: Vec<(&str, &str, &str)> = findings
        .iter()
        .map(|f| {
            (f["path"].as_str().unwrap_or(""), f["detector"].as_str().unwrap_or(""), f["action"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(found, vec![(marked_s.as_str(), "M3", "alert")], "{findings:?}");
    assert_eq!(findings[0]["channel"], "at_rest");

    let collector = Collector::start(&root.join("collector"));
    let agent = started_agent(&collector, &root, &config);
    let m3 = wait_until(WAIT, "at-rest match", || {
        find(&collector.events(&agent.id, Some("dlp")), |e| e["path"] == marked_s).cloned()
    });
    assert_eq!(
        (&m3["channel"], &m3["detector"], &m3["level"], &m3["action"]),
        (&Value::from("at_rest"), &Value::from("M3"), &Value::from("mat"), &Value::from("alert")),
        "{m3}"
    );
    let verdict = wait_until(WAIT, "at-rest verdict", || {
        find(&collector.events(&agent.id, Some("dlp_verdict")), |e| e["path"] == marked_s).cloned()
    });
    assert_eq!((&verdict["outcome"], &verdict["vault_id"]), (&Value::from("recorded"), &Value::Null));
    assert!(marked.exists(), "alert at rest does not move the file");
}
