//! Signed agent updates end to end, with real collector and agent processes: a release
//! repository made with the offline `release` commands, staged for one enrollment group of two
//! agents, verified by each agent against the root it pinned, installed by dpkg, and checked
//! by the update watchdog; and each of a downgrade, a tampered package, replayed metadata,
//! an expired timestamp and a repository signed by another key refused with its own event.
//!
//! Install path: each agent runs from its own throwaway root into which `dpkg --root` installs
//! real .deb archives (made here with dpkg-deb: the agent binary of this build, stripped, and a
//! `package.version`, so that N and N+1 differ as packages built by packaging/build.sh do). The
//! installer the agents are configured with runs `dpkg --root=ROOT -i PACKAGE` and then restarts
//! the agent as the package's postinst does through systemd (there is no systemd here): that
//! restart step is the test's, the rest (metadata, verification, download, dpkg, watchdog,
//! rollback) is the product's.

use haidang_tests::{Collector, bin, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const N: &str = "1.0.0~test";
const N1: &str = "1.0.1~test";
const TAMPERED: &str = "1.0.2~test";
const OTHER_KEY: &str = "1.0.3~test";
const BROKEN: &str = "1.0.4~test";
const OLDER: &str = "0.9.0~test";

fn run_ok(command: &mut Command) -> String {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn release(args: &[&str]) -> String {
    run_ok(Command::new(bin("haidang-collector")).arg("release").args(args))
}

/// An agent package: the real agent, or a "binary" that exits at once.
fn deb(dir: &Path, version: &str, exits_at_start: bool) -> PathBuf {
    let stage = dir.join(format!("stage-{version}"));
    std::fs::create_dir_all(stage.join("DEBIAN")).expect("stage");
    std::fs::create_dir_all(stage.join("usr/bin")).expect("stage");
    std::fs::create_dir_all(stage.join("usr/share/haidang-agent")).expect("stage");
    let exe = stage.join("usr/bin/haidang-agent");
    if exits_at_start {
        std::fs::write(&exe, "#!/bin/sh\necho 'this build is broken' >&2\nexit 1\n").expect("broken binary");
    } else {
        run_ok(Command::new("strip").arg("--strip-debug").arg(bin("haidang-agent")).arg("-o").arg(&exe));
    }
    run_ok(Command::new("chmod").arg("0755").arg(&exe));
    std::fs::write(stage.join("usr/share/haidang-agent/package.version"), format!("{version}\n")).expect("version");
    std::fs::write(
        stage.join("DEBIAN/control"),
        format!(
            "Package: haidang-agent\nVersion: {version}\nArchitecture: amd64\nMaintainer: Test <test@example.org>\n\
             Description: Hai Dang agent (update test)\n"
        ),
    )
    .expect("control");
    let out = dir.join(format!("haidang-agent_{version}_amd64.deb"));
    run_ok(Command::new("dpkg-deb").args(["-Zgzip", "-z1", "--root-owner-group", "-b"]).arg(&stage).arg(&out));
    std::fs::remove_dir_all(&stage).expect("clean stage");
    out
}

struct Endpoint {
    root: PathBuf,
    state: PathBuf,
    config: PathBuf,
    id: String,
}

impl Endpoint {
    fn status(&self) -> Option<Value> {
        serde_json::from_slice(&std::fs::read(self.state.join("status.json")).ok()?).ok()
    }

    fn installed(&self) -> String {
        run_ok(Command::new("dpkg-query").arg(format!("--root={}", self.root.display())).args([
            "-W",
            "-f=${Version}",
            "haidang-agent",
        ]))
    }

    /// Starts the installed agent detached from the test, as a service manager would.
    fn start(&self) {
        run_ok(
            Command::new("sh")
                .arg("-c")
                .arg("setsid \"$0\" run --state \"$1\" --config \"$2\" >>\"$1.log\" 2>&1 &")
                .arg(self.root.join("usr/bin/haidang-agent"))
                .arg(&self.state)
                .arg(&self.config)
                .env("RUST_LOG", "info"),
        );
    }

    fn running_version(&self) -> Option<String> {
        let s = self.status()?;
        let live = s["connection"] == "connected" && pid_alive(s["pid"].as_u64()?);
        live.then(|| s["agent_version"].as_str().unwrap_or_default().to_string())
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(pid) = self.status().and_then(|s| s["pid"].as_u64()) {
            // SAFETY: kill(2) of the agent this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

fn pid_alive(pid: u64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// The details of the agent's lifecycle events of `action` (`updated`, `update_refused`, …).
fn lifecycle(collector: &Collector, agent: &str, action: &str) -> Vec<String> {
    collector
        .events(agent, Some("agent"))
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn wait_refusal(collector: &Collector, agent: &str, needle: &str) -> String {
    let refusal = wait_until(Duration::from_secs(30), &format!("an update_refused event saying {needle:?}"), || {
        lifecycle(collector, agent, "update_refused").into_iter().find(|d| d.contains(needle))
    });
    eprintln!("update_refused: {refusal}");
    refusal
}

#[test]
fn signed_updates_install_refuse_and_roll_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let collector = Collector::start(&t.join("collector"));
    let repo = collector.data.join("release");
    std::fs::create_dir_all(&repo).expect("release dir");

    // Offline: the offline key and the repository's root, trusting the collector's online
    // timestamp key too.
    let offline = t.join("offline.key");
    release(&["keygen", "--out", offline.to_str().expect("path")]);
    let online = repo.join("timestamp.key");
    release(&["keygen", "--out", online.to_str().expect("path")]);
    let online_pub = format!("{}.pub", online.display());
    let repo_s = repo.to_str().expect("path");
    release(&["init", "--key", offline.to_str().expect("path"), "--timestamp-public", &online_pub, "--repo", repo_s]);

    let debs = t.join("debs");
    std::fs::create_dir_all(&debs).expect("debs");
    let pkg = |v: &str, broken: bool| deb(&debs, v, broken);
    let (deb_n, deb_n1) = (pkg(N, false), pkg(N1, false));
    let publish = |packages: &[&Path], extra: &[&str]| {
        let mut args = vec!["publish", "--key", offline.to_str().expect("path"), "--repo", repo_s];
        args.extend(extra);
        args.extend(packages.iter().map(|p| p.to_str().expect("path")));
        release(&args)
    };
    let printed = publish(&[&deb_n, &deb_n1], &[]);
    assert!(printed.contains(&format!("haidang-agent_{N1}_amd64.deb linux-x86_64-deb {N1} ")), "{printed}");
    assert!(printed.contains("sha256:") && printed.contains("blake3:"), "{printed}");

    // Two endpoints of group "pilot", version N installed by dpkg.
    let token =
        collector.cli_ok(&["token", "create", "--group", "pilot", "--uses", "2", "--ttl", "1h"]).trim().to_string();
    let installer = t.join("install.sh");
    std::fs::write(
        &installer,
        "#!/bin/sh\nset -e\nroot=$1 state=$2 config=$3 package=$4\n\
         dpkg --root=\"$root\" -i \"$package\" >>\"$state.dpkg.log\" 2>&1\n\
         # What the package's postinst has systemd do: restart the service.\n\
         pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' \"$state/status.json\")\n\
         kill \"$pid\" 2>/dev/null || true\n\
         while kill -0 \"$pid\" 2>/dev/null; do sleep 0.1; done\n\
         setsid \"$root/usr/bin/haidang-agent\" run --state \"$state\" --config \"$config\" >>\"$state.log\" 2>&1 &\n",
    )
    .expect("installer");
    run_ok(Command::new("chmod").arg("0755").arg(&installer));
    let endpoints: Vec<Endpoint> = (1..=2)
        .map(|i| {
            let root = t.join(format!("root{i}"));
            for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
                std::fs::create_dir_all(root.join(d)).expect("dpkg dirs");
            }
            std::fs::write(root.join("var/lib/dpkg/status"), "").expect("dpkg status");
            run_ok(Command::new("dpkg").arg(format!("--root={}", root.display())).arg("-i").arg(&deb_n));
            let state = t.join(format!("agent{i}"));
            run_ok(
                Command::new(root.join("usr/bin/haidang-agent"))
                    .args(["enroll", "--server", &collector.quic.to_string(), "--token", &token])
                    .args(["--ca-fingerprint", &collector.fingerprint(), "--state"])
                    .arg(&state),
            );
            let identity: Value =
                serde_json::from_slice(&std::fs::read(state.join("agent.json")).expect("identity")).expect("json");
            let config = t.join(format!("agent{i}.toml"));
            std::fs::write(
                &config,
                format!(
                    "[process]\nenabled = false\n[uplink]\nheartbeat_interval = \"1s\"\n\
                     [update]\ncheck_interval = \"1s\"\nhealth_deadline = \"15s\"\ninstaller = [{:?}, {:?}, {:?}, {:?}]\n",
                    installer.display().to_string(),
                    root.display().to_string(),
                    state.display().to_string(),
                    config.display().to_string(),
                ),
            )
            .expect("config");
            let e = Endpoint { root, state, config, id: identity["agent_id"].as_str().expect("id").to_string() };
            e.start();
            e
        })
        .collect();
    for e in &endpoints {
        wait_until(Duration::from_secs(20), "the agents run N, connected", || {
            (e.running_version()? == N).then_some(())
        });
    }

    // Roll N+1 out to the group: both install it, run it, and keep their identity.
    release(&["rollout", N1, "--group", "pilot", "--percent", "100", "--repo", repo_s]);
    for e in &endpoints {
        wait_until(Duration::from_secs(60), "both agents run N+1", || (e.running_version()? == N1).then_some(()));
        assert_eq!(e.installed(), N1);
        assert_eq!(e.status().expect("status")["agent_id"], e.id.as_str(), "identity kept");
        let updated = wait_until(Duration::from_secs(20), "the updated event", || {
            lifecycle(&collector, &e.id, "updated").into_iter().next()
        });
        assert!(updated.contains(&format!("updated from {N} to {N1}")), "{updated}");
        // The new version keeps streaming: its heartbeats arrive under the same agent id.
        let before = collector.events(&e.id, Some("health")).len();
        wait_until(Duration::from_secs(20), "more heartbeats from N+1", || {
            (collector.events(&e.id, Some("health")).len() > before).then_some(())
        });
    }
    let a = &endpoints[0];
    let old_timestamp = std::fs::read(repo.join("metadata/timestamp.json")).expect("timestamp");

    // A rollback to an older release, signed and staged, is refused as a downgrade.
    publish(&[&pkg(OLDER, false)], &[]);
    release(&["rollout", OLDER, "--group", "pilot", "--percent", "100", "--repo", repo_s]);
    let refused = wait_refusal(&collector, &a.id, "downgrade");
    assert!(refused.contains(OLDER) && refused.contains(N1), "{refused}");

    // A package changed on the collector after it was signed is refused.
    let deb_tampered = pkg(TAMPERED, false);
    publish(&[&deb_tampered], &[]);
    let stored = std::fs::read_dir(repo.join("targets"))
        .expect("targets")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(&format!("haidang-agent_{TAMPERED}_amd64.deb")))
        .expect("stored package");
    let mut bytes = std::fs::read(&stored).expect("package");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&stored, bytes).expect("tamper");
    release(&["rollout", TAMPERED, "--group", "pilot", "--percent", "100", "--repo", repo_s]);
    let refused = wait_refusal(&collector, &a.id, "does not match its signed length and hash");
    assert!(refused.contains("Hash mismatch"), "{refused}");

    // A replay of older, still valid metadata (the timestamp of before the last two publishes).
    let timestamp = repo.join("metadata/timestamp.json");
    let current_timestamp = std::fs::read(&timestamp).expect("timestamp");
    std::fs::write(&timestamp, &old_timestamp).expect("replay the old timestamp");
    wait_refusal(&collector, &a.id, "when we had previously fetched version");
    std::fs::write(&timestamp, current_timestamp).expect("the current timestamp back");

    // An expired timestamp (published with a 1 s validity, and no online key to refresh it).
    std::fs::rename(&online, t.join("timestamp.key.away")).expect("take the online key away");
    publish(&[&deb_n1], &["--timestamp-expires", "1s"]);
    std::thread::sleep(Duration::from_secs(2));
    wait_refusal(&collector, &a.id, "timestamp metadata is expired");
    std::fs::rename(t.join("timestamp.key.away"), &online).expect("online key back");

    // A repository signed by another key (a collector serving someone else's releases).
    let saved = t.join("release-saved");
    std::fs::rename(&repo, &saved).expect("set the real repository aside");
    std::fs::create_dir_all(&repo).expect("release dir");
    let other = t.join("other.key");
    release(&["keygen", "--out", other.to_str().expect("path")]);
    release(&["init", "--key", other.to_str().expect("path"), "--repo", repo_s]);
    let deb_other = pkg(OTHER_KEY, false);
    release(&[
        "publish",
        "--key",
        other.to_str().expect("path"),
        "--repo",
        repo_s,
        deb_n1.to_str().expect("p"),
        deb_other.to_str().expect("p"),
    ]);
    release(&["rollout", OTHER_KEY, "--group", "pilot", "--percent", "100", "--repo", repo_s]);
    wait_refusal(&collector, &a.id, "Failed to verify timestamp metadata");
    std::fs::remove_dir_all(&repo).expect("drop the foreign repository");
    std::fs::rename(&saved, &repo).expect("the real repository back");

    // A release whose binary exits at start is installed, fails its deadline, and is rolled back.
    let b = &endpoints[1];
    publish(&[&pkg(BROKEN, true)], &[]);
    release(&["rollout", BROKEN, "--group", "pilot", "--percent", "100", "--repo", repo_s]);
    let failed = wait_until(Duration::from_secs(60), "update_failed", || {
        lifecycle(&collector, &b.id, "update_failed").into_iter().next()
    });
    assert!(failed.contains(BROKEN) && failed.contains(&format!("{N1} reinstalled")), "{failed}");
    wait_until(Duration::from_secs(20), "N+1 running again", || (b.running_version()? == N1).then_some(()));
    assert_eq!(b.installed(), N1);
    for e in &endpoints {
        assert!(lifecycle(&collector, &e.id, "update_started").iter().any(|d| d.contains(BROKEN)));
    }
}
