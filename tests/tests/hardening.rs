//! Hardening against local users and unauthenticated peers (issue 14), each against a real
//! collector process: what the data and state directories let other users read, what an
//! agent-supplied string can do to the log, and how much an attacker without a token or
//! certificate can make the collector do, and whether the collector and the agent's spool
//! recover from a full disk by themselves.

use haidang_proto::enroll::EnrollResponse;
use haidang_proto::wire::CollectorFrame;
use haidang_tests::raw::{Closed, RawAgent, RawEnrollConn, events, has_marker};
use haidang_tests::system::{require_program, require_root, run_checked};
use haidang_tests::{Agent, Collector, bin, fim_config, http_get, wait_until};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Every entry under `root` (and `root` itself) is private to its owner: no group or other bits.
fn assert_private_tree(root: &Path) {
    assert_eq!(mode(root) & 0o077, 0, "{} is mode {:o}", root.display(), mode(root));
    for entry in std::fs::read_dir(root).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_private_tree(&path);
        } else {
            assert_eq!(mode(&path) & 0o077, 0, "{} is mode {:o}", path.display(), mode(&path));
        }
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn data_and_state_directories_made_beforehand_are_tightened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("collector");
    // As `install -d` leaves them: a world-readable directory, and a token file at 0644.
    std::fs::create_dir(&data).expect("mkdir data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod data");
    let token = data.join("api.token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").expect("write api.token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod token");

    let collector = Collector::start(&data);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&token), 0o600);
    assert_eq!(mode(&data.join("collector.redb")), 0o600, "the store is created private");
    assert_private_tree(&data);
    let log = read_log(&dir.path().join("collector.log"));
    assert!(
        log.lines().any(|l| l.contains("tightened") && l.contains("api.token")),
        "the collector says what it tightened:\n{log}"
    );

    let state = dir.path().join("agent");
    std::fs::create_dir(&state).expect("mkdir state");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod state");
    let watched = dir.path().join("watched");
    std::fs::create_dir(&watched).expect("mkdir watched");
    let mut agent = Agent::enroll(&collector, &state, &fim_config(&watched, false));
    assert_private_tree(&state);
    // A file an older version (or an operator) left readable is tightened at the next start.
    std::fs::set_permissions(state.join("agent.json"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    agent.start();
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));
    assert_eq!(mode(&state.join("spool.redb")), 0o600, "the spool is created private");
    assert_private_tree(&state);
    let log = read_log(&dir.path().join("agent.log"));
    assert!(log.lines().any(|l| l.contains("tightened") && l.contains("agent.json")), "{log}");
}

#[test]
fn host_name_with_terminal_escapes_and_a_newline_is_refused_at_enrollment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let forged = "ws-07\u{1b}[1A\u{1b}[2K\n2026-12-07T00:00:00Z  INFO haidang_collector::api: admin logged in";
    match RawAgent::try_enroll(&collector, forged) {
        Err(refusal) => {
            assert_eq!(refusal.code, "bad_request", "{refusal:?}");
            assert!(refusal.message.contains("hostname"), "{refusal:?}");
        }
        Ok(agent) => {
            // The code before the fix enrolled it; its name then reached the log on connect.
            let mut conn = agent.connect().expect("connect");
            conn.send_batch(&agent.seal(None, &events(1, 1, "forged"))).expect("send");
            conn.expect_ack();
            panic!("a host name with control characters was enrolled");
        }
    }
    // A real host name still enrolls.
    RawAgent::enroll(&collector, "ws-07.corp_lan");
    let log = read_log(&dir.path().join("collector.log"));
    assert!(!log.contains('\u{1b}'), "raw escape in the log:\n{log}");
    assert!(!log.lines().any(|l| l.contains("admin logged in") && !l.contains("refused")), "forged line:\n{log}");
}

/// Status line of a GET with the given Authorization header value (raw bytes).
fn status_with_authorization(collector: &Collector, authorization: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(collector.http).expect("connect HTTP");
    let mut request =
        format!("GET /api/v1/agents HTTP/1.1\r\nHost: {}\r\nAuthorization: ", collector.http).into_bytes();
    request.extend_from_slice(authorization);
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    s.write_all(&request).expect("write request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read response");
    response.lines().next().unwrap_or_default().to_string()
}

#[test]
fn tokens_are_trimmed_of_ascii_whitespace_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let api = collector.api_token();
    assert!(status_with_authorization(&collector, format!("Bearer  \t{api}  ").as_bytes()).contains(" 200 "));
    let ideographic = format!("Bearer \u{3000}{api}\u{3000}");
    assert!(status_with_authorization(&collector, ideographic.as_bytes()).contains(" 401 "));

    let token = collector.token(2, "1h");
    let refused = RawAgent::try_enroll_with(&collector, "wide-space", &format!("\u{3000}{token}\u{3000}"));
    assert_eq!(refused.err().map(|r| r.code), Some("token_unknown".to_string()), "U+3000 is not trimmed");
    assert!(RawAgent::try_enroll_with(&collector, "ascii-space", &format!(" {token}\n")).is_ok());
}

/// A sample of a counter; 0 when the collector has not created it yet.
fn metric(collector: &Collector, series: &str) -> u64 {
    collector
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn bogus_enrollment_tokens_cost_no_write_and_are_throttled_per_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let enrolled = RawAgent::enroll(&collector, "before-the-attack");
    let commits = metric(&collector, "haidang_store_commits_total");
    assert!(commits > 0, "the store counts its commits");

    let mut codes = Vec::new();
    for i in 0..30 {
        let guess = format!("hdt1-{i:048x}");
        match RawAgent::try_enroll_with(&collector, &format!("guess-{i}"), &guess) {
            Ok(_) => panic!("a guessed token enrolled"),
            Err(refusal) => codes.push(refusal.code),
        }
    }
    assert!(codes[..10].iter().all(|c| c == "token_unknown"), "{codes:?}");
    assert!(codes[10..].iter().all(|c| c == "rate_limited"), "{codes:?}");
    assert_eq!(metric(&collector, "haidang_store_commits_total"), commits, "a bogus token caused a store write");
    assert_eq!(metric(&collector, "haidang_enrollments_total{outcome=\"rate_limited\"}"), 20);

    let log = read_log(&dir.path().join("collector.log"));
    let refused = log.lines().filter(|l| l.contains("enrollment refused")).count();
    assert_eq!(refused, 1, "one line for the first failure, then a summary:\n{log}");
    assert!(log.lines().any(|l| l.contains("repeated failed enrollment attempts") && l.contains("127.0.0.1")), "{log}");

    // The enrolled agent, connecting from the same address, is not affected.
    let mut conn = enrolled.connect().expect("connect");
    conn.send_batch(&enrolled.seal(None, &events(1, 2, "after"))).expect("send");
    assert_eq!(conn.expect_ack().last_seq, 2);
}

#[test]
fn unauthenticated_connections_are_small_and_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let any = "127.0.0.1:0".parse().expect("addr");
    let limits =
        ["--max-unauthenticated-connections", "3", "--max-unauthenticated-per-source", "2", "--quic-retry-above", "2"];
    let collector = Collector::start_with(&dir.path().join("collector"), any, any, &limits);
    let source = |n: u8| std::net::IpAddr::from([127, 0, 0, n]);
    let held = || metric(&collector, "haidang_unauthenticated_connections");

    // An enrollment request is refused on a prefix announcing more than 16 KiB: the
    // collector neither waits for nor allocates the body.
    let mut big = RawEnrollConn::connect(&collector, source(1)).expect("connect");
    assert!(big.open_stream(&(20u32 * 1024).to_be_bytes(), WAIT));
    match big.response().expect("an answer") {
        Some(EnrollResponse::Refused(r)) => assert_eq!(r.code, "oversized_frame", "{r:?}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(big);
    wait_until(WAIT, "the oversized enrollment's connection released", || (held() == 0).then_some(()));

    // Before authentication a connection gets one stream.
    let mut first = RawEnrollConn::connect(&collector, source(2)).expect("first from .2");
    assert!(first.open_stream(&[0, 0], WAIT));
    assert!(!first.open_stream(&[0], Duration::from_secs(1)), "a second stream before authentication");
    let _second = RawEnrollConn::connect(&collector, source(2)).expect("second from .2");
    assert!(RawEnrollConn::connect(&collector, source(2)).is_err(), "a third from one source");
    assert_eq!(metric(&collector, "haidang_connections_refused_total{reason=\"unauthenticated_per_source_limit\"}"), 1);

    // Two are held, so a new source must prove its address first (a Retry), then gets in.
    let _third = RawEnrollConn::connect(&collector, source(3)).expect("first from .3");
    assert!(metric(&collector, "haidang_quic_retries_total") >= 1, "no Retry under load");
    assert!(RawEnrollConn::connect(&collector, source(4)).is_err(), "a fourth overall");
    assert_eq!(metric(&collector, "haidang_connections_refused_total{reason=\"unauthenticated_limit\"}"), 1);
    assert_eq!(held(), 3);

    drop((first, _second, _third));
    wait_until(WAIT, "unauthenticated connections released", || (held() == 0).then_some(()));
    let agent = RawAgent::enroll(&collector, "after-the-flood");
    let mut conn = agent.connect().expect("connect");
    conn.send_batch(&agent.seal(None, &events(1, 2, "after"))).expect("send");
    assert_eq!(conn.expect_ack().last_seq, 2);
    assert_eq!(held(), 0, "an authenticated agent is not counted");
}

#[test]
fn agent_streams_have_frame_and_idle_deadlines_and_failed_handshakes_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let any = "127.0.0.1:0".parse().expect("addr");
    let deadlines = ["--agent-frame-timeout-secs", "2", "--agent-idle-timeout-secs", "4"];
    let collector = Collector::start_with(&dir.path().join("collector"), any, any, &deadlines);
    let agent = RawAgent::enroll(&collector, "slow-sender");
    let refused = |reason: &str| metric(&collector, &format!("haidang_batches_refused_total{{reason=\"{reason}\"}}"));
    let refusal_code = |conn: &mut haidang_tests::raw::RawConn| match conn.next_frame() {
        Ok(Some(CollectorFrame::Refused(r))) => r.code,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // One byte every half second never completes a frame: refused at the frame deadline.
    let mut slow = agent.connect().expect("connect");
    slow.send_raw(&512u32.to_be_bytes()).expect("prefix");
    for _ in 0..6 {
        let _ = slow.send_raw(&[0]);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(refusal_code(&mut slow), "frame_timeout");
    assert!(matches!(slow.closed(), Closed::ByCollector { .. }));
    assert_eq!(refused("frame_timeout"), 1);

    // A stream that carries a batch and then nothing is closed at the idle deadline.
    let mut idle = agent.connect().expect("connect");
    idle.send_batch(&agent.seal(None, &events(1, 1, "idle"))).expect("send");
    assert_eq!(idle.expect_ack().last_seq, 1);
    let started = std::time::Instant::now();
    assert_eq!(refusal_code(&mut idle), "idle_timeout");
    assert!(started.elapsed() >= Duration::from_secs(3), "closed before the idle deadline");
    assert_eq!(refused("idle_timeout"), 1);

    // Half a length prefix and the end of the stream is a malformed frame, like the rest.
    let mut half = agent.connect().expect("connect");
    half.send_raw(&[0, 0]).expect("two bytes");
    half.finish().expect("finish");
    assert_eq!(refusal_code(&mut half), "malformed_frame");
    assert_eq!(refused("malformed_frame"), 1);

    // An identity from another collector's CA fails the handshake, and that is counted.
    let other = Collector::start(&dir.path().join("other"));
    let stranger = RawAgent::enroll(&other, "stranger");
    if let Ok(conn) = stranger.connect_as_stranger_to(&agent) {
        // The client may finish its side before the collector's refusal arrives.
        assert!(!matches!(conn.closed(), Closed::Other(ref e) if e.starts_with("still open")));
    }
    wait_until(WAIT, "the failed handshake counted", || {
        (metric(&collector, "haidang_connections_refused_total{reason=\"bad_certificate\"}") == 1).then_some(())
    });
}

/// Whether the collector ends a TCP connection (EOF or reset) within `wait`.
fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before the close is fine; keep reading to the end.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn http_listener_times_out_slow_headers_caps_connections_and_limits_request_rate() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let any = "127.0.0.1:0".parse().expect("addr");
    let limits = ["--http-max-connections", "5", "--http-header-timeout-secs", "2", "--http-requests-per-second", "5"];
    let collector = Collector::start_with(&dir.path().join("collector"), any, any, &limits);

    // Five clients that never finish their headers hold every slot...
    let mut slow: Vec<std::net::TcpStream> = (0..5)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(collector.http).expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("partial headers");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so a sixth is closed at once...
    let mut sixth = std::net::TcpStream::connect(collector.http).expect("connect");
    assert!(closed_within(&mut sixth, Duration::from_secs(1)), "a connection over the cap stayed open");
    // ...and theirs are closed at the header deadline.
    for s in &mut slow {
        assert!(closed_within(s, Duration::from_secs(5)), "unfinished headers kept a connection open");
    }

    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(metric(&collector, "haidang_http_refused_total{reason=\"connection_limit\"}"), 1);

    // A burst beyond the per-source rate is answered 429. A request may also find the
    // connection closed, when the collector has not yet seen the previous one go and counts it
    // against the cap: that is a refusal too, seen as an empty status.
    let statuses: Vec<String> = (0..30).map(|_| status_line(collector.http, "/healthz")).collect();
    assert!(statuses.iter().any(|s| s.contains(" 429 ")), "{statuses:?}");
    assert!(statuses[0].contains(" 200 "), "{statuses:?}");
    // The metrics are read over the same rate-limited listener: let the bucket refill first.
    std::thread::sleep(Duration::from_secs(1));
    assert!(metric(&collector, "haidang_http_refused_total{reason=\"rate_limit\"}") >= 1);
}

/// The status line of a GET, or an empty string when the collector closed the connection
/// before answering.
fn status_line(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    if write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// Unmounts a test filesystem when the test ends, however it ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let done = std::process::Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !done {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Writes zeros to `path` until the filesystem refuses more.
fn fill_up(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

/// Formats a 24 MB ext4 image in `dir` and mounts it on `dir/name`, for `what`.
fn mount_small_ext4(dir: &Path, name: &str, what: &str) -> (std::path::PathBuf, Unmount) {
    require_root(&format!("loop-mount a small ext4 filesystem for {what}"));
    require_program("mkfs.ext4");
    require_program("mount");
    let image = dir.join(format!("{name}.img"));
    std::fs::File::create(&image).expect("image").set_len(24 << 20).expect("size image");
    let image_arg = image.to_str().expect("utf-8 path");
    run_checked("mkfs.ext4", &["-q", "-F", "-m", "0", image_arg]);
    let mount_point = dir.join(name);
    std::fs::create_dir(&mount_point).expect("mkdir mount point");
    let mounted = std::process::Command::new("mount").args(["-o", "loop", image_arg]).arg(&mount_point).output();
    let mounted = mounted.unwrap_or_else(|e| panic!("cannot run mount: {e}"));
    assert!(
        mounted.status.success(),
        "this test needs a loop device to mount a small ext4 image: {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
    (mount_point.clone(), Unmount(mount_point))
}

#[test]
fn the_collector_stops_acks_on_a_full_disk_says_why_and_resumes_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The mount point itself is the data directory, so the collector's log (written beside
    // it) stays off the small filesystem.
    let (data, _unmount) = mount_small_ext4(dir.path(), "data", "the collector's data directory");
    let mut collector = Collector::start(&data);
    let agent = RawAgent::enroll(&collector, "full-disk");
    let mut conn = agent.connect().expect("connect");

    let batch_events = 200;
    let mut seq = 1;
    let mut prev = None;
    let mut acked = 0u64;
    let filler = data.join("filler");
    fill_up(&filler);
    // The store may still have room inside its file; stream until a commit fails.
    let unacked = loop {
        assert!(acked < 5000, "5000 batches were stored on a full 24 MB filesystem");
        let batch = agent.seal(prev.as_ref(), &events(seq, batch_events, "full"));
        conn.send_batch(&batch).expect("send batch");
        match conn.next_frame() {
            Ok(Some(CollectorFrame::Ack(ack))) => {
                assert_eq!(ack.batch_no, batch.header.batch_no);
                acked += 1;
                seq += batch_events;
                prev = Some(batch);
            }
            _ => break batch,
        }
    };

    let health = wait_until(WAIT, "/healthz to report that the store cannot store", || {
        let response = http_get(collector.http, "/healthz");
        response.starts_with("HTTP/1.1 503").then_some(response)
    });
    assert!(health.contains("store"), "/healthz says why: {health}");
    assert_eq!(metric(&collector, "haidang_store_healthy"), 0);
    assert!(metric(&collector, "haidang_store_commit_failures_total") >= 1);
    let log = read_log(&dir.path().join("collector.log"));
    assert!(log.contains("acks stop until the store is reopened"), "the log says why acks stopped:\n{log}");
    // While the disk is full, the batch is not acknowledged on a new connection either.
    let retry = agent.connect().and_then(|mut c| {
        c.send_batch(&unacked)?;
        c.next_frame()
    });
    assert!(!matches!(retry, Ok(Some(CollectorFrame::Ack(_)))), "a batch was acked on a full disk: {retry:?}");

    std::fs::remove_file(&filler).expect("remove filler");
    // Without a restart, the same batch is stored and acknowledged once there is room again.
    wait_until(Duration::from_secs(60), "the collector to store the batch again", || {
        let mut c = agent.connect().ok()?;
        c.send_batch(&unacked).ok()?;
        match c.next_frame() {
            Ok(Some(CollectorFrame::Ack(ack))) if ack.batch_no == unacked.header.batch_no => Some(()),
            _ => None,
        }
    });
    let mut conn = agent.connect().expect("reconnect");
    let next = agent.seal(Some(&unacked), &events(seq + batch_events, batch_events, "full"));
    conn.send_batch(&next).expect("send batch");
    assert_eq!(conn.expect_ack().batch_no, next.header.batch_no);
    let health = http_get(collector.http, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200") && health.contains("\r\n\r\nok\nstore: ok\n"), "{health}");
    assert_eq!(metric(&collector, "haidang_store_healthy"), 1);
    assert!(metric(&collector, "haidang_store_reopens_total") >= 1);
    let stored = collector.events(&agent.id.to_string(), None).iter().filter(|e| has_marker(e, "full")).count();
    assert_eq!(stored as u64, (acked + 2) * batch_events, "every acked batch is stored, once");

    drop(conn);
    collector.stop();
    let verified = std::process::Command::new(bin("haidang-collector"))
        .arg("verify")
        .arg("--data")
        .arg(&data)
        .output()
        .expect("run verify");
    assert!(
        verified.status.success(),
        "the store is intact after the full disk: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
fn the_agent_spool_on_a_full_disk_drops_the_oldest_with_a_gap_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The mount point is the agent's state directory: its spool fills the small filesystem;
    // its log and config sit beside it.
    let (state, _unmount) = mount_small_ext4(dir.path(), "state", "the agent's state directory");
    let data = dir.path().join("data");
    let mut collector = Collector::start(&data);
    let (quic, http) = (collector.quic, collector.http);
    let config = "[process]\nenabled = true\n[spool]\nmax_bytes = \"1GiB\"\n[uplink]\nheartbeat_interval = \"1h\"\n";
    let mut agent = Agent::enroll(&collector, &state, config);
    // With the collector away, everything the agent records stays in its spool.
    collector.stop();
    agent.start();
    let log = dir.path().join("agent.log");
    wait_until(WAIT, "the agent to start", || read_log(&log).contains("agent running").then_some(()));
    // Every process started here is two events (start, exit) for the process sensor. The
    // spool holds a few megabytes of them before the disk fills up.
    wait_until(Duration::from_secs(120), "the spool to hold 3 MiB", || {
        for _ in 0..200 {
            let _ = std::process::Command::new("true").status();
        }
        agent.status()["spool_bytes"].as_u64().is_some_and(|b| b >= 3 << 20).then_some(())
    });
    fill_up(&state.join("filler"));

    // Three times, so the spool is seen going on with the newest events while the disk
    // stays full, not just surviving one failed write.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let kept_going = |log: &str| {
        log.contains("disk full: dropped the oldest unsent events to make room")
            && log.matches("dropped the oldest unsent events").count() >= 3
    };
    while !kept_going(&read_log(&log)) {
        assert!(
            std::time::Instant::now() < deadline,
            "after 180 s of process events the spool has not made room three times:\n{}",
            read_log(&log)
        );
        for _ in 0..200 {
            let _ = std::process::Command::new("true").status();
        }
    }
    assert!(agent.is_running(), "the agent exited on a full disk:\n{}", read_log(&log));

    std::fs::remove_file(state.join("filler")).expect("remove filler");
    let collector = Collector::start_on(&data, quic, http);
    let marker = format!("spool-recovered-{}", std::process::id());
    let events = wait_until(Duration::from_secs(120), "events recorded after space returned to arrive", || {
        let _ = std::process::Command::new("sh").args(["-c", &format!("exit 0 # {marker}")]).status();
        let events = collector.events(&agent.id, None);
        let arrived = events
            .iter()
            .any(|e| e["kind"] == "process" && e["command_line"].as_str().is_some_and(|c| c.contains(&marker)));
        arrived.then_some(events)
    });
    assert!(agent.is_running(), "the agent was restarted or exited:\n{}", read_log(&log));
    let log_text = read_log(&log);
    assert!(log_text.contains("the spool is written again"), "the log says when writing resumed:\n{log_text}");

    // Every sequence number up to the newest stored is either stored or inside a gap's range,
    // never both: nothing lost goes unreported and nothing reported lost was delivered.
    let stored: std::collections::BTreeSet<u64> = events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    let gaps: Vec<(u64, u64, u64, String)> = events
        .iter()
        .filter(|e| e["kind"] == "gap")
        .map(|e| {
            let n = |k: &str| e[k].as_u64().expect("gap field");
            (n("lost"), n("first_lost_seq"), n("last_lost_seq"), e["reason"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let disk_full: u64 = gaps.iter().filter(|g| g.3.contains("the disk is full")).map(|g| g.0).sum();
    assert!(disk_full > 0, "a gap record says the disk was full: {gaps:?}");
    let newest = *stored.last().expect("events");
    for seq in 1..=newest {
        let in_gap = gaps.iter().any(|&(_, first, last, _)| (first..=last).contains(&seq));
        assert!(
            stored.contains(&seq) != in_gap,
            "sequence number {seq} is {} (gaps: {gaps:?})",
            if in_gap { "both stored and reported lost" } else { "neither stored nor reported lost" }
        );
    }
}
