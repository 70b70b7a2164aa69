//! The Debian packages of packaging/build.sh, installed for real by dpkg in a throwaway Debian 12
//! root (a cached debootstrap minbase under an overlay, see `haidang_tests::packaging`): lintian,
//! the units under `systemd-analyze verify`, install (enrollment against a real collector on
//! loopback), the agent run as its unit runs it, upgrade N -> N+1 keeping identity, spool,
//! baseline and a local edit of the conffile, and purge leaving nothing. PID 1 here is not
//! systemd, so the maintainer scripts must do without it; the service's ExecStart is run with
//! the unit's user and capabilities through setpriv.

use haidang_tests::Collector;
use haidang_tests::packaging::{Chroot, build, run, text};
use haidang_tests::system::require_program;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const N: &str = "1.0.0~test";
const N1: &str = "1.0.1~test";

fn deb(dir: &Path, package: &str, version: &str) -> std::path::PathBuf {
    dir.join(format!("{package}_{version}_amd64.deb"))
}

/// The `Key=value` settings of the [Service] section of a unit file.
fn service_settings(unit: &str) -> BTreeMap<String, String> {
    let mut in_service = false;
    let mut settings = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings.insert(key.to_string(), value.to_string());
        }
    }
    settings
}

/// CAP_SYS_ADMIN CAP_NET_ADMIN -> "-all,+sys_admin,+net_admin", as setpriv takes them.
fn setpriv_caps(caps: &str) -> String {
    let mut list = vec!["-all".to_string()];
    list.extend(caps.split_whitespace().map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase())));
    list.join(",")
}

/// Bit mask of capabilities named as in a unit file.
fn cap_mask(caps: &str) -> u64 {
    caps.split_whitespace()
        .map(|c| match c {
            "CAP_DAC_READ_SEARCH" => 2,
            "CAP_FOWNER" => 3,
            "CAP_NET_ADMIN" => 12,
            "CAP_SYS_PTRACE" => 19,
            "CAP_SYS_ADMIN" => 21,
            other => panic!("the test does not know {other}: add its number (capability.h)"),
        })
        .fold(0, |mask, bit| mask | (1u64 << bit))
}

/// Starts the unit's ExecStart inside the root as systemd would: its User and Group, its
/// UMask, its ambient and bounding capabilities, no new privileges.
fn start_like_the_unit(chroot: &Chroot, unit: &str, log: &Path) -> Child {
    let s = service_settings(unit);
    let exec: Vec<&str> = s["ExecStart"].split_whitespace().collect();
    let (caps, bounding) = (setpriv_caps(&s["AmbientCapabilities"]), setpriv_caps(&s["CapabilityBoundingSet"]));
    chroot
        .command("/bin/sh")
        .args(["-c", &format!("umask {} && exec \"$@\"", s["UMask"]), "sh", "setpriv"])
        .args(["--reuid", &s["User"], "--regid", &s["Group"], "--init-groups"])
        .args(["--inh-caps", &caps, "--ambient-caps", &caps, "--bounding-set", &bounding, "--no-new-privs", "--"])
        .args(&exec)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).expect("agent log")))
        .spawn()
        .expect("start the agent as its unit does")
}

fn stop(mut agent: Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(agent.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the agent did not stop on SIGTERM within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("agent's /proc status");
    status.lines().find_map(|l| l.strip_prefix(field)).map(|v| v.trim().to_string()).expect("status field")
}

/// Waits until the collector holds more than `before` events of `agent`; returns the count.
fn wait_for_events(collector: &Collector, agent: &str, before: usize, log: &Path) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = collector.events(agent, None).len();
        if n > before {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no new events from agent {agent} within 60 s; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn uid_of(chroot: &Chroot, user: &str) -> u32 {
    chroot.run_ok("id", &["-u", user]).trim().parse().expect("uid")
}

/// What lintian says of a package: its error lines, and everything it printed.
fn lintian(package: &Path) -> (Vec<String>, String) {
    let out = run("lintian", &["--no-cfg", "--display-level", ">=warning", package.to_str().expect("UTF-8")]);
    let all = text(&out);
    (all.lines().filter(|l| l.starts_with("E: ")).map(str::to_string).collect(), all)
}

#[test]
fn debs_pass_lintian_and_install_upgrade_and_purge_cleanly_in_a_debian_root() {
    for program in ["dpkg-deb", "dpkg-shlibdeps", "lintian", "systemd-analyze", "setpriv"] {
        require_program(program);
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_n, out_n1) = (dir.path().join("n"), dir.path().join("n1"));
    build("deb", N, &out_n);
    build("deb", N1, &out_n1);
    eprintln!("built two versions of both packages in {:?}", started.elapsed());

    for package in ["haidang-agent", "haidang-collector"] {
        let (errors, all) = lintian(&deb(&out_n, package, N));
        eprintln!("lintian {package}:\n{all}");
        assert!(errors.is_empty(), "lintian errors on {package}:\n{}", errors.join("\n"));
    }
    let listing = text(&run("dpkg-deb", &["--contents", deb(&out_n, "haidang-agent", N).to_str().expect("UTF-8")]));
    for (entry, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/haidang-agent"),
        ("-rw-r--r-- root/root", "./lib/systemd/system/haidang-agent.service"),
        ("-rw-r--r-- root/root", "./etc/haidang/agent.toml"),
    ] {
        assert!(listing.lines().any(|l| l.starts_with(entry) && l.ends_with(path)), "{entry} {path} in:\n{listing}");
    }
    let conffiles =
        text(&run("dpkg-deb", &["--info", deb(&out_n, "haidang-agent", N).to_str().expect("UTF-8"), "conffiles"]));
    assert!(conffiles.lines().any(|l| l == "/etc/haidang/agent.toml"), "conffiles: {conffiles}");

    let chroot = Chroot::debian();
    eprintln!("Debian root ready at {:?}", started.elapsed());
    for (package, version, from) in
        [("haidang-agent", N, &out_n), ("haidang-collector", N, &out_n), ("haidang-agent", N1, &out_n1)]
    {
        std::fs::copy(deb(from, package, version), chroot.path(&format!("/tmp/{package}_{version}.deb")))
            .expect("copy the package into the root");
    }

    // The collector's package: its user, its data directory, no systemd needed.
    let out = chroot.run_ok("dpkg", &["--install", &format!("/tmp/haidang-collector_{N}.deb")]);
    assert!(!out.contains("systemctl") && !out.contains("Failed"), "{out}");
    assert_eq!(mode(&chroot.path("/var/lib/haidang")), 0o700);
    assert_eq!(
        std::fs::metadata(chroot.path("/var/lib/haidang")).expect("data").uid(),
        uid_of(&chroot, "haidang-collector")
    );

    // The agent without enrollment settings: installed, told how to enroll, not enrolled.
    let out = chroot.run_ok("dpkg", &["--install", &format!("/tmp/haidang-agent_{N}.deb")]);
    assert!(out.contains("not enrolled") && out.contains("haidang-agent enroll"), "{out}");
    assert!(!out.contains("systemctl:") && !out.contains("Failed to"), "no systemd failure without systemd: {out}");
    let state = chroot.path("/var/lib/haidang-agent");
    assert_eq!(mode(&state), 0o700);
    assert!(!state.join("agent.json").exists());

    // Units: systemd-analyze accepts them, against the root: the binaries, users and targets they
    // name are there.
    for unit in ["haidang-agent.service", "haidang-collector.service"] {
        let verified = run(
            "systemd-analyze",
            &[
                "verify",
                "--man=no",
                "--root",
                chroot.root.to_str().expect("UTF-8"),
                &format!("/lib/systemd/system/{unit}"),
            ],
        );
        assert!(verified.status.success() && text(&verified).trim().is_empty(), "{unit}: {}", text(&verified));
    }

    let collector = Collector::start(&dir.path().join("collector"));
    // Enrollment settings from the environment; a refused token fails the configuration with
    // the agent's reason and how to retry, and leaves no identity.
    let refused = chroot
        .command("dpkg-reconfigure")
        .arg("haidang-agent")
        .env("HAIDANG_SERVER", collector.quic.to_string())
        .env("HAIDANG_TOKEN", "hdt1-000000000000000000000000000000000000000000000000")
        .env("HAIDANG_CA_FP", collector.fingerprint())
        .output()
        .expect("dpkg-reconfigure");
    let said = text(&refused);
    assert!(!refused.status.success(), "a refused enrollment fails the configuration: {said}");
    assert!(said.contains("unknown enrollment token") && said.contains("dpkg --configure -a"), "{said}");
    assert!(!state.join("agent.json").exists());

    // Enrollment from /etc/default/haidang-agent, as the message says, against a real collector.
    let defaults = format!(
        "HAIDANG_SERVER={}\nHAIDANG_TOKEN={}\nHAIDANG_CA_FP={}\n",
        collector.quic,
        collector.token(1, "1h"),
        collector.fingerprint()
    );
    std::fs::write(chroot.path("/etc/default/haidang-agent"), defaults).expect("write the defaults file");
    let out = chroot.run_ok("dpkg-reconfigure", &["haidang-agent"]);
    assert!(out.contains("enrolled as agent"), "{out}");
    let identity = std::fs::read(state.join("agent.json")).expect("enrolled");
    let id = serde_json::from_slice::<serde_json::Value>(&identity).expect("identity")["agent_id"]
        .as_str()
        .expect("agent_id")
        .to_string();
    let agent_uid = uid_of(&chroot, "haidang-agent");
    for f in ["agent.json", "agent.key", "agent.crt.der", "ca.crt.der"] {
        let meta = std::fs::metadata(state.join(f)).expect("state file");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (agent_uid, 0o600), "{f}");
    }

    // A local edit of the conffile, which the upgrade must keep.
    let config = chroot.path("/etc/haidang/agent.toml");
    let edited = format!("{}\n# edited on this machine\n", std::fs::read_to_string(&config).expect("config"));
    std::fs::write(&config, &edited).expect("edit the config");

    // The service's ExecStart, run as the unit runs it: its user, exactly its capabilities.
    let unit = std::fs::read_to_string(chroot.path("/lib/systemd/system/haidang-agent.service")).expect("unit");
    let log = dir.path().join("agent-n.log");
    let agent = start_like_the_unit(&chroot, &unit, &log);
    let pid = agent.id();
    let events = wait_for_events(&collector, &id, 0, &log);
    let settings = service_settings(&unit);
    assert_eq!(status_field(pid, "Uid:").split_whitespace().next(), Some(agent_uid.to_string().as_str()));
    let effective = u64::from_str_radix(&status_field(pid, "CapEff:"), 16).expect("CapEff");
    assert_eq!(
        effective,
        cap_mask(&settings["AmbientCapabilities"]),
        "the agent holds exactly the unit's capabilities"
    );
    stop(agent);
    let agent_log = std::fs::read_to_string(&log).expect("agent log");
    assert!(agent_log.contains("process sensor: netlink process connector"), "{agent_log}");
    assert!(
        agent_log.lines().any(|l| l.contains("FIM sensor started") && l.contains("fanotify")),
        "FIM on fanotify with the unit's capabilities, not as root: {agent_log}"
    );
    eprintln!("agent N ran as its unit and streamed {events} events ({:?})", started.elapsed());
    // Identity, spool and baseline: the upgrade must not touch them (same inodes, same bytes).
    // The first run records the machine fingerprint in agent.json; from then on it is kept too.
    let kept: Vec<_> = ["agent.json", "agent.key", "spool.redb", "baseline.redb"]
        .iter()
        .map(|f| {
            let path = state.join(f);
            let ino = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{f} after a run: {e}")).ino();
            (f.to_string(), ino, std::fs::read(&path).expect("read state file"))
        })
        .collect();

    // Upgrade N -> N+1, with enrollment settings that would be refused: an enrolled agent is
    // never enrolled again, so they are not even tried.
    let out = chroot
        .command("dpkg")
        .args(["--install", &format!("/tmp/haidang-agent_{N1}.deb")])
        .env("HAIDANG_SERVER", collector.quic.to_string())
        .env("HAIDANG_TOKEN", "hdt1-000000000000000000000000000000000000000000000000")
        .env("HAIDANG_CA_FP", collector.fingerprint())
        .output()
        .expect("upgrade");
    assert!(out.status.success(), "upgrade failed:\n{}", text(&out));
    assert!(chroot.run_ok("dpkg-query", &["-W", "-f", "${Version}", "haidang-agent"]).contains(N1));
    for (f, ino, bytes) in &kept {
        assert_eq!(std::fs::metadata(state.join(f)).expect("kept").ino(), *ino, "{f} kept in place");
        assert!(std::fs::read(state.join(f)).expect("kept") == *bytes, "{f} kept unchanged");
    }
    assert_eq!(std::fs::read_to_string(&config).expect("config"), edited, "the local edit is kept");
    assert!(
        !chroot.path("/etc/haidang/agent.toml.dpkg-dist").exists()
            && !chroot.path("/etc/haidang/agent.toml.dpkg-new").exists()
    );

    // N+1 streams on as the same agent.
    let log = dir.path().join("agent-n1.log");
    let agent = start_like_the_unit(&chroot, &unit, &log);
    let after = wait_for_events(&collector, &id, events, &log);
    stop(agent);
    assert_eq!(collector.agents().len(), 1, "still one agent");
    eprintln!("agent N+1 streamed as {id}: {events} -> {after} events ({:?})", started.elapsed());

    // Remove, then purge: nothing of ours is left.
    chroot.run_ok("dpkg", &["--remove", "haidang-agent"]);
    assert!(state.join("agent.json").exists(), "remove keeps the identity");
    assert!(config.exists(), "remove keeps the configuration");
    assert!(!chroot.path("/usr/bin/haidang-agent").exists());
    chroot.run_ok("dpkg", &["--purge", "haidang-agent", "haidang-collector"]);
    for f in [
        "/tmp/haidang-agent_1.0.0~test.deb",
        "/tmp/haidang-collector_1.0.0~test.deb",
        "/tmp/haidang-agent_1.0.1~test.deb",
    ] {
        std::fs::remove_file(chroot.path(f)).expect("remove the copied package");
    }
    // dpkg's own records, the users (kept by Debian practice), their shadow files and useradd's
    // lock file remain.
    let bookkeeping = ["/var/lib/dpkg/", "/var/log/dpkg.log", "/var/cache/debconf/", "/var/log/apt/", "/etc/.pwd.lock"];
    let accounts = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];
    let left: Vec<String> = chroot
        .changes()
        .into_iter()
        .filter(|p| !bookkeeping.iter().any(|b| p.starts_with(b)))
        .filter(|p| !accounts.iter().any(|a| p == a || *p == format!("{a}-")))
        .collect();
    assert!(left.is_empty(), "purge left these behind: {left:?}");
    for gone in ["/var/lib/haidang-agent", "/var/lib/haidang", "/etc/haidang", "/etc/default/haidang-agent"] {
        assert!(!chroot.path(gone).exists(), "{gone} is purged");
    }
    eprintln!("purged cleanly; whole test {:?}", started.elapsed());
}
