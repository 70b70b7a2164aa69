//! Tests of the sensor as a whole, on real files: offline changes found by a rescan, globs,
//! awkward names, crash ordering, and real-time notification.

use super::engine::{Engine, EventSink};
use super::*;
use haidang_proto::Text;
use haidang_proto::event::{Detection, FileAction};
use std::collections::BTreeSet;
use std::fs;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
struct Collect(Arc<Mutex<Vec<FileEvent>>>);

impl EventSink for Collect {
    fn record(&mut self, changes: Vec<FileChange>) -> Result<()> {
        assert!(!changes.is_empty() && changes.len() <= 256, "batches are non-empty and small");
        self.0.lock().expect("lock").extend(changes.into_iter().map(|c| c.event));
        Ok(())
    }
}

impl Collect {
    fn take(&self) -> Vec<FileEvent> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }

    /// Waits until `done` holds for the events so far (polling, so the test takes only as
    /// long as the sensor does).
    fn wait_for(&self, what: &str, done: impl Fn(&[FileEvent]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if done(&self.0.lock().expect("lock")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}; events: {:#?}", self.0.lock().expect("lock"));
    }
}

struct Failing;

impl EventSink for Failing {
    fn record(&mut self, _: Vec<FileChange>) -> Result<()> {
        anyhow::bail!("spool unavailable")
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
    cfg: FimConfig,
}

fn fixture(exclude: &[&str], critical: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = crate::paths::canonicalize(dir.path()).expect("canonical");
    let root = base.join("root");
    fs::create_dir(&root).expect("mkdir");
    let db = base.join("state/baseline.redb");
    // Globs separate with `/` on every platform.
    let glob = |g: &&str| g.replace("ROOT", &root.to_str().expect("utf-8 temp dir").replace('\\', "/"));
    let cfg = FimConfig {
        paths: vec![root.clone()],
        exclude: exclude.iter().map(glob).collect(),
        critical: critical.iter().map(glob).collect(),
        ..FimConfig::default()
    };
    Fixture { _dir: dir, root, db, cfg }
}

impl Fixture {
    fn rescan(&self, sink: &mut dyn EventSink) -> Result<()> {
        let filter = PathFilter::new(&self.cfg, &own_state(&self.db)?)?;
        let baseline = Baseline::open(&self.db)?;
        let stop = AtomicBool::new(false);
        let engine = Engine {
            filter: &filter,
            baseline: &baseline,
            stop: &stop,
            threads: 2,
            rescan_interval: self.cfg.rescan_interval,
        };
        engine.rescan(sink, false)
    }

    fn events(&self) -> Vec<FileEvent> {
        let sink = Collect::default();
        self.rescan(&mut sink.clone()).expect("rescan");
        sink.take()
    }

    /// `rel` under the root, its `/` written as the platform separates.
    fn p(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.root.clone(), |path, name| path.join(name))
    }
}

fn summary(events: &[FileEvent]) -> BTreeSet<(&'static str, String, Option<String>)> {
    events.iter().map(|e| (e.action.as_str(), e.path.to_string(), e.old_path.as_ref().map(Text::to_string))).collect()
}

fn hash(data: &[u8]) -> Option<[u8; 32]> {
    Some(*blake3::hash(data).as_bytes())
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn first_baseline_is_silent_and_a_refresh_reads_nothing_unchanged() {
    let f = fixture(&[], &[]);
    fs::create_dir_all(f.p("a/b")).expect("mkdir");
    fs::write(f.p("a/b/one"), vec![1u8; 300_000]).expect("write");
    fs::write(f.p("two"), b"2").expect("write");
    let first = build_baseline(&f.cfg, &f.db, false).expect("baseline");
    assert_eq!((first.files, first.bytes, first.hashed_bytes), (2, 300_001, 300_001));
    assert_eq!(first.entries, 5, "root, a, a/b and two files");
    let again = build_baseline(&f.cfg, &f.db, false).expect("refresh");
    assert_eq!((again.files, again.hashed_bytes), (2, 0));
    assert!(f.events().is_empty(), "nothing changed since the baseline");
}

#[cfg(unix)]
#[test]
fn offline_changes_are_reported_by_the_rescan_at_start() {
    let f = fixture(&[], &[]);
    fs::create_dir_all(f.p("dir/sub")).expect("mkdir");
    for (name, data) in
        [("edit", "old"), ("gone", "bye"), ("mode", "m"), ("move", "mv"), ("dir/sub/inner", "in"), ("forged", "AAAA")]
    {
        fs::write(f.p(name), data).expect("write");
    }
    // Links are recorded, never followed: a loop and a link to the parent must not hang.
    std::os::unix::fs::symlink("loop", f.p("loop")).expect("symlink");
    std::os::unix::fs::symlink("..", f.p("dir/up")).expect("symlink");
    let forged_mtime = fs::metadata(f.p("forged")).expect("stat").modified().expect("mtime");
    build_baseline(&f.cfg, &f.db, false).expect("baseline");

    fs::write(f.p("edit"), "new content").expect("write");
    fs::remove_file(f.p("gone")).expect("rm");
    fs::write(f.p("born"), "hello").expect("write");
    chmod(&f.p("mode"), 0o600);
    fs::rename(f.p("move"), f.p("moved")).expect("mv");
    fs::rename(f.p("dir"), f.p("dir2")).expect("mv dir");
    fs::remove_file(f.p("loop")).expect("rm link");
    std::os::unix::fs::symlink("elsewhere", f.p("loop")).expect("relink");
    // Same size, mtime set back: only the content (and the ctime) tell.
    fs::write(f.p("forged"), "BBBB").expect("write");
    fs::File::options().write(true).open(f.p("forged")).and_then(|h| h.set_modified(forged_mtime)).expect("touch");

    let events = f.events();
    let s = |p: &str| f.p(p).to_string_lossy().into_owned();
    let expected: BTreeSet<_> = [
        (FileAction::Modified.as_str(), s("edit"), None),
        (FileAction::Deleted.as_str(), s("gone"), None),
        (FileAction::Created.as_str(), s("born"), None),
        (FileAction::Attributes.as_str(), s("mode"), None),
        (FileAction::Renamed.as_str(), s("moved"), Some(s("move"))),
        (FileAction::Renamed.as_str(), s("dir2"), Some(s("dir"))),
        (FileAction::Renamed.as_str(), s("dir2/sub"), Some(s("dir/sub"))),
        (FileAction::Renamed.as_str(), s("dir2/sub/inner"), Some(s("dir/sub/inner"))),
        (FileAction::Renamed.as_str(), s("dir2/up"), Some(s("dir/up"))),
        (FileAction::Modified.as_str(), s("loop"), None),
        (FileAction::Modified.as_str(), s("forged"), None),
        // The root's mtime is not reported for a directory; nothing else changed.
    ]
    .into_iter()
    .collect();
    assert_eq!(summary(&events), expected);
    assert!(events.iter().all(|e| e.detection == Detection::Rescan && !e.critical));

    let by = |p: &str| events.iter().find(|e| e.path == Text::from(f.p(p).as_path())).expect("event");
    let edit = by("edit");
    assert_eq!(edit.old.as_ref().and_then(|m| m.hash), hash(b"old"));
    assert_eq!(edit.new.as_ref().and_then(|m| m.hash), hash(b"new content"));
    assert_eq!(edit.new.as_ref().map(|m| m.size), Some(11));
    let mode = by("mode");
    assert_eq!(mode.new.as_ref().map(|m| m.mode & 0o777), Some(0o600));
    assert_eq!(mode.old.as_ref().and_then(|m| m.hash), mode.new.as_ref().and_then(|m| m.hash));
    assert_eq!(by("gone").old.as_ref().and_then(|m| m.hash), hash(b"bye"));
    assert!(by("gone").new.is_none());
    assert_eq!(by("born").new.as_ref().and_then(|m| m.hash), hash(b"hello"));
    assert_eq!(by("moved").new.as_ref().and_then(|m| m.hash), hash(b"mv"));
    assert_eq!(by("loop").new.as_ref().and_then(|m| m.hash), hash(b"elsewhere"));
    assert_eq!(by("forged").new.as_ref().and_then(|m| m.hash), hash(b"BBBB"));

    assert!(f.events().is_empty(), "a second rescan finds the baseline up to date");
}

#[test]
fn a_change_the_spool_did_not_take_stays_out_of_the_baseline() {
    let f = fixture(&[], &[]);
    fs::write(f.p("file"), "v1").expect("write");
    build_baseline(&f.cfg, &f.db, false).expect("baseline");
    fs::write(f.p("file"), "v2").expect("write");
    assert!(f.rescan(&mut Failing).is_err());
    assert_eq!(
        summary(&f.events()),
        [(FileAction::Modified.as_str(), f.p("file").to_string_lossy().into_owned(), None)].into()
    );
}

#[test]
fn exclude_and_critical_globs_apply_to_the_full_path() {
    let f = fixture(&["**/*.tmp", "ROOT/cache/**"], &["ROOT/secret/**"]);
    fs::create_dir_all(f.p("cache")).expect("mkdir");
    fs::create_dir_all(f.p("secret")).expect("mkdir");
    fs::write(f.p("cache/old"), "x").expect("write");
    let stats = build_baseline(&f.cfg, &f.db, false).expect("baseline");
    assert_eq!(stats.files, 0, "the excluded file is not in the baseline");

    for p in ["scratch.tmp", "secret/x.tmp", "cache/new", "secret/plan.txt", "plain.txt"] {
        fs::write(f.p(p), "data").expect("write");
    }
    let events = f.events();
    let got: BTreeSet<_> = events.iter().map(|e| (e.path.to_string(), e.critical)).collect();
    let s = |p: &str| f.p(p).to_string_lossy().into_owned();
    assert_eq!(got, [(s("secret/plan.txt"), true), (s("plain.txt"), false)].into());
}

#[cfg(unix)]
#[test]
fn non_utf8_and_vietnamese_names_are_kept_exactly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let f = fixture(&[], &[]);
    let nfc = "tài liệu mật.txt";
    let nfd = "ta\u{300}i lie\u{323}\u{302}u ma\u{323}\u{302}t.txt";
    assert_ne!(nfc, nfd);
    let raw = OsStr::from_bytes(b"bad-\xff\xfe-name");
    for name in [OsStr::new(nfc), OsStr::new(nfd), raw] {
        fs::write(f.root.join(name), "v1").expect("write");
    }
    build_baseline(&f.cfg, &f.db, false).expect("baseline");
    for name in [OsStr::new(nfc), OsStr::new(nfd), raw] {
        fs::write(f.root.join(name), "v2").expect("write");
    }
    let events = f.events();
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|e| e.action == FileAction::Modified && e.new.as_ref().and_then(|m| m.hash) == hash(b"v2"))
    );
    let paths: BTreeSet<Vec<u8>> = events.iter().map(|e| e.path.to_bytes()).collect();
    let want: BTreeSet<Vec<u8>> = [OsStr::new(nfc), OsStr::new(nfd), raw]
        .iter()
        .map(|n| f.root.join(n).as_os_str().as_bytes().to_vec())
        .collect();
    assert_eq!(paths, want, "NFC and NFD are distinct names and invalid UTF-8 round-trips");
    assert!(events.iter().any(|e| e.path.is_escaped()));
}

/// Runs the whole sensor (fanotify when root, inotify, rescans) on a thread.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    sink: Collect,
}

impl Running {
    fn start(f: &Fixture, fanotify: bool) -> Running {
        let sink = Collect::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (cfg, db, stop2, mut sink2) = (f.cfg.clone(), f.db.clone(), Arc::clone(&stop), sink.clone());
        let thread = std::thread::spawn(move || {
            let filter = Arc::new(PathFilter::new(&cfg, &own_state(&db)?)?);
            run_blocking(&cfg, &db, filter, &stop2, &mut sink2, false, fanotify)
        });
        let r = Running { stop, thread: Some(thread), sink };
        // A probe file tells when the initial reconciliation is over and notification is on.
        let probe = f.p(".probe");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !r.sink.0.lock().expect("lock").iter().any(|e| e.path == Text::from(probe.as_path())) {
            assert!(Instant::now() < deadline, "the sensor did not start");
            fs::write(&probe, Instant::now().elapsed().as_nanos().to_string()).expect("probe");
            std::thread::sleep(Duration::from_millis(30));
        }
        r.sink.take();
        r
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let result = t.join().expect("sensor thread");
            if !std::thread::panicking() {
                result.expect("sensor ran cleanly");
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn realtime_with_inotify_alone_sees_every_action_and_bursts_of_thousands() {
    realtime_sees_every_action_and_bursts_of_thousands(false);
}

#[cfg(target_os = "linux")]
#[test]
fn realtime_with_fanotify_sees_every_action_and_bursts_of_thousands() {
    if probe() == "fanotify" {
        realtime_sees_every_action_and_bursts_of_thousands(true);
    }
}

#[cfg(unix)]
fn realtime_sees_every_action_and_bursts_of_thousands(fanotify: bool) {
    let f = fixture(&["**/*.tmp"], &["ROOT/secret/**"]);
    fs::create_dir(f.p("secret")).expect("mkdir");
    fs::write(f.p("keep"), "k").expect("write");
    fs::write(f.p("rename-me"), "r").expect("write");
    fs::write(f.p("delete-me"), "d").expect("write");
    build_baseline(&f.cfg, &f.db, false).expect("baseline");
    let running = Running::start(&f, fanotify);
    let sink = &running.sink;
    let key = |p: &str| Text::from(f.p(p).as_path());

    fs::write(f.p("secret/plan.txt"), "attack at dawn").expect("write");
    fs::write(f.p("keep"), "kk").expect("write");
    chmod(&f.p("keep"), 0o640);
    fs::rename(f.p("rename-me"), f.p("renamed")).expect("mv");
    fs::remove_file(f.p("delete-me")).expect("rm");
    fs::write(f.p("ignored.tmp"), "t").expect("write");
    let keep_final = |ev: &[FileEvent]| {
        ev.iter()
            .rfind(|e| e.path == key("keep"))
            .and_then(|e| e.new.as_ref())
            .is_some_and(|m| (m.hash, m.mode & 0o777) == (hash(b"kk"), 0o640))
    };
    sink.wait_for("one event per action", |ev| {
        keep_final(ev)
            && ev.iter().any(|e| e.action == FileAction::Deleted)
            && ev.iter().any(|e| e.action == FileAction::Renamed)
            && ev.iter().any(|e| e.path == key("secret/plan.txt"))
    });
    // Let any straggler arrive before checking that nothing else was reported.
    std::thread::sleep(Duration::from_millis(300));
    let events = sink.take();
    let s = |p: &str| f.p(p).to_string_lossy().into_owned();
    let got = summary(&events);
    assert!(got.contains(&(FileAction::Created.as_str(), s("secret/plan.txt"), None)), "{got:?}");
    assert!(got.contains(&(FileAction::Renamed.as_str(), s("renamed"), Some(s("rename-me")))), "{got:?}");
    assert!(got.contains(&(FileAction::Deleted.as_str(), s("delete-me"), None)), "{got:?}");
    // The write and the chmod a moment later usually coalesce into one event; a scheduler
    // pause between them may split them, never lose the final state.
    let keep: Vec<_> = events.iter().filter(|e| e.path == key("keep")).collect();
    assert!(!keep.is_empty() && keep.len() <= 2, "{keep:#?}");
    assert_eq!(keep[0].action, FileAction::Modified);
    assert!(keep_final(&events));
    assert!(events.iter().all(|e| e.detection == Detection::Realtime && e.path != key("ignored.tmp")));
    assert!(events.iter().find(|e| e.path == key("secret/plan.txt")).is_some_and(|e| e.critical));

    // A burst: thousands of files in a new directory, each reported once with its final
    // content, including those written before the directory's watch existed.
    fs::create_dir(f.p("burst")).expect("mkdir");
    for i in 0..3000 {
        fs::write(f.p(&format!("burst/{i}")), format!("v1 {i}")).expect("write");
    }
    for i in 0..3000 {
        fs::write(f.p(&format!("burst/{i}")), format!("final {i}")).expect("write");
    }
    let finals: std::collections::HashMap<String, Option<[u8; 32]>> =
        (0..3000).map(|i| (s(&format!("burst/{i}")), hash(format!("final {i}").as_bytes()))).collect();
    let last_states = |ev: &[FileEvent]| {
        let mut last = std::collections::HashMap::new();
        for e in ev.iter().filter(|e| e.path.as_str().contains("/burst/")) {
            last.insert(e.path.to_string(), e.new.as_ref().and_then(|m| m.hash));
        }
        last
    };
    sink.wait_for("the final content of all 3000 files", |ev| last_states(ev) == finals);
    let events = sink.take();
    let created = events.iter().filter(|e| e.action == FileAction::Created).count();
    assert_eq!(created, 3001, "the directory and each file are created once");
    // Without coalescing each file would give six notifications; a file caught between the
    // truncation and the write of its second version may add one intermediate state.
    assert!(events.len() < 3 * 3001, "bursts are coalesced: {} events", events.len());
}

#[cfg(target_os = "linux")]
#[test]
fn fanotify_names_the_writer_when_root() {
    if probe() != "fanotify" {
        eprintln!("fanotify is not available here (not root or not supported); nothing to check");
        return;
    }
    let f = fixture(&[], &[]);
    fs::write(f.p("config"), "old").expect("write");
    build_baseline(&f.cfg, &f.db, false).expect("baseline");
    let running = Running::start(&f, true);
    // Written in place, then written under a temporary name and renamed over the target (as
    // editors and `sed -i` do): both changes name the shell that wrote them.
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("printf hello > \"$1/direct\"; printf new > \"$1/config.tmp\"; mv \"$1/config.tmp\" \"$1/config\"")
        .arg("sh")
        .arg(&f.root)
        .spawn()
        .expect("sh");
    let pid = child.id();
    let (direct, config) = (Text::from(f.p("direct").as_path()), Text::from(f.p("config").as_path()));
    running.sink.wait_for("both writes by sh", |ev| {
        ev.iter().any(|e| e.path == direct) && ev.iter().any(|e| e.path == config && e.action == FileAction::Modified)
    });
    child.wait().expect("wait");
    let events = running.sink.take();
    let image = Text::from(fs::canonicalize("/bin/sh").expect("sh").as_path());
    for path in [&direct, &config] {
        let e = events.iter().find(|e| &e.path == path).expect("event");
        let actor = e.actor.as_ref().unwrap_or_else(|| panic!("fanotify names the writer of {path}: {e:#?}"));
        assert_eq!((actor.pid, &actor.image), (pid, &image), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_records_into_the_spool_before_the_baseline_moves() {
    let f = fixture(&[], &[]);
    fs::write(f.p("offline"), "v1").expect("write");
    build_baseline(&f.cfg, &f.db, false).expect("baseline");
    fs::write(f.p("offline"), "v2").expect("write");
    let spool = crate::spool::Spool::open(&f.db.with_file_name("spool.redb"), 1 << 30).expect("spool");
    let recorder = Recorder::start(Arc::clone(&spool));
    let sensor = tokio::spawn(run(f.cfg.clone(), f.db.clone(), recorder, false, None));
    let events = || spool.depth().expect("depth").events;
    let deadline = Instant::now() + Duration::from_secs(20);
    while events() < 1 {
        assert!(Instant::now() < deadline, "the offline change never reached the spool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fs::write(f.p("live"), "x").expect("write");
    while events() < 2 {
        assert!(Instant::now() < deadline, "the live change never reached the spool");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Exactly two: the agent's own writes to its state directory are not reported.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events(), 2);
    assert!(!sensor.is_finished(), "the sensor keeps running");
    sensor.abort();
    assert!(sensor.await.is_err_and(|e| e.is_cancelled()));
}
