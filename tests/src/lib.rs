//! Test harness for the end-to-end tests: starts real `haidang-collector` and
//! `haidang-agent` processes on loopback and talks to them through their CLIs and API.
//!
//! The binaries are taken from the same target directory as the test executable, so run
//! `cargo build --workspace --bins` before `cargo test` (scripts/test.sh does).

pub mod packaging;
pub mod raw;
pub mod system;
pub mod wine;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of one of the workspace's binaries. `HAIDANG_TEST_BIN_DIR` points the tests at the
/// binaries of another build (to show that a regression test fails on the code before a
/// fix); binaries it does not hold (the test crate's own) come from this build.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let elsewhere = std::env::var_os("HAIDANG_TEST_BIN_DIR").map(|d| PathBuf::from(d).join(name));
    if let Some(path) = elsewhere.filter(|p| p.exists()) {
        return path;
    }
    let dir = exe.parent().and_then(Path::parent).expect("target profile directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} not built: run `cargo build --workspace --bins` first", path.display());
    path
}

/// Polls `check` until it returns Some or `timeout` passes (then panics naming `what`).
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `sig` to a running child and reaps it; nothing if it is not running.
fn signal(child: &mut Option<Child>, sig: i32) {
    if let Some(mut c) = child.take() {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(c.id() as i32, sig);
        }
        let _ = c.wait();
    }
}

pub struct Collector {
    child: Option<Child>,
    pub data: PathBuf,
    pub quic: SocketAddr,
    pub http: SocketAddr,
}

impl Collector {
    /// Starts a collector on fresh loopback ports.
    pub fn start(data: &Path) -> Collector {
        Collector::start_on(data, "127.0.0.1:0".parse().expect("addr"), "127.0.0.1:0".parse().expect("addr"))
    }

    /// Starts a collector on the given addresses (to restart on the same ports).
    pub fn start_on(data: &Path, quic: SocketAddr, http: SocketAddr) -> Collector {
        Collector::start_with(data, quic, http, &[])
    }

    /// Starts a collector with extra `serve` arguments (e.g. `--rules DIR`).
    pub fn start_with(data: &Path, quic: SocketAddr, http: SocketAddr, extra: &[&str]) -> Collector {
        let mut child = Command::new(bin("haidang-collector"))
            .args(["serve", "--data"])
            .arg(data)
            .args(["--quic", &quic.to_string(), "--http", &http.to_string()])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file(data, "collector.log")))
            .spawn()
            .expect("spawn haidang-collector");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut quic, mut http) = (None, None);
        while quic.is_none() || http.is_none() {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                panic!("collector exited during start; see {}", data.join("../collector.log").display());
            };
            if let Some(rest) = line.trim().strip_prefix("QUIC (agents):") {
                quic = Some(rest.trim().parse().expect("QUIC address"));
            }
            if let Some(rest) = line.trim().strip_prefix("HTTP (API, /metrics, /healthz): http://") {
                http = Some(rest.trim().parse().expect("HTTP address"));
            }
        }
        // Keep draining stdout so the collector never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Collector { child: Some(child), data: data.to_path_buf(), quic: quic.expect("quic"), http: http.expect("http") }
    }

    pub fn api_token(&self) -> String {
        std::fs::read_to_string(self.data.join("api.token")).expect("api.token").trim().to_string()
    }

    /// Runs an admin command against this collector.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("haidang-collector"))
            .args(["--api", &format!("http://{}", self.http)])
            .args(args)
            .env("HAIDANG_API_TOKEN", self.api_token())
            .output()
            .expect("run haidang-collector")
    }

    /// Runs an admin command that must succeed; returns its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "haidang-collector {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    pub fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        self.cli_ok(args).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }

    pub fn fingerprint(&self) -> String {
        self.cli_ok(&["ca", "fingerprint"]).trim().to_string()
    }

    pub fn token(&self, uses: u32, ttl: &str) -> String {
        self.cli_ok(&["token", "create", "--group", "e2e", "--uses", &uses.to_string(), "--ttl", ttl])
            .trim()
            .to_string()
    }

    pub fn events(&self, agent: &str, kind: Option<&str>) -> Vec<Value> {
        let mut args = vec!["events", "list", "--json", "--limit", "1000000", "--agent", agent];
        if let Some(k) = kind {
            args.extend(["--kind", k]);
        }
        self.json_lines(&args)
    }

    pub fn alerts(&self) -> Vec<Value> {
        self.json_lines(&["alerts", "list", "--json"])
    }

    pub fn agents(&self) -> Vec<Value> {
        self.json_lines(&["agents", "list", "--json"])
    }

    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics")
    }

    pub fn kill(&mut self) {
        signal(&mut self.child, libc::SIGKILL);
    }

    pub fn stop(&mut self) {
        signal(&mut self.child, libc::SIGTERM);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 GET, so tests need no HTTP client crate.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect HTTP");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read response");
    body
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::OpenOptions::new().create(true).append(true).open(parent.join(name)).expect("log file")
}

pub struct Agent {
    child: Option<Child>,
    pub state: PathBuf,
    pub config: PathBuf,
    pub id: String,
}

impl Agent {
    /// Enrolls a new agent with a fresh single-use token.
    pub fn enroll(collector: &Collector, state: &Path, config_toml: &str) -> Agent {
        Agent::enroll_with(collector, &collector.token(1, "1h"), state, config_toml)
    }

    /// Enrolls a new agent with `token`.
    pub fn enroll_with(collector: &Collector, token: &str, state: &Path, config_toml: &str) -> Agent {
        let out = enroll(collector, token, &collector.fingerprint(), state);
        assert!(out.status.success(), "enroll failed: {}", String::from_utf8_lossy(&out.stderr));
        Agent::at(state, config_toml)
    }

    /// The agent of an enrolled state directory (`state.toml` holds its configuration).
    pub fn at(state: &Path, config_toml: &str) -> Agent {
        let config = state.with_extension("toml");
        std::fs::write(&config, config_toml).expect("write config");
        let mut agent = Agent { child: None, state: state.to_path_buf(), config, id: String::new() };
        agent.id = agent.identity()["agent_id"].as_str().expect("id").into();
        agent
    }

    /// The state directory's `agent.json`.
    pub fn identity(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state.join("agent.json")).expect("agent.json")).expect("identity")
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "agent already running");
        let child = Command::new(bin("haidang-agent"))
            .args(["run", "--state"])
            .arg(&self.state)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file(&self.state, "agent.log")))
            .spawn()
            .expect("spawn haidang-agent");
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        signal(&mut self.child, libc::SIGKILL);
    }

    pub fn stop(&mut self) {
        signal(&mut self.child, libc::SIGTERM);
    }

    /// Whether the agent process is still alive (it has not exited or been reaped).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().is_ok_and(|exited| exited.is_none()))
    }

    pub fn status(&self) -> Value {
        let out = Command::new(bin("haidang-agent"))
            .args(["status", "--json", "--state"])
            .arg(&self.state)
            .output()
            .expect("run status");
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `haidang-agent enroll`.
pub fn enroll(collector: &Collector, token: &str, fingerprint: &str, state: &Path) -> Output {
    Command::new(bin("haidang-agent"))
        .args([
            "enroll",
            "--server",
            &collector.quic.to_string(),
            "--token",
            token,
            "--ca-fingerprint",
            fingerprint,
            "--state",
        ])
        .arg(state)
        .output()
        .expect("run haidang-agent enroll")
}

/// An agent config watching `root` (critical: `root/secret/**`), optionally without the
/// process sensor.
pub fn fim_config(root: &Path, process: bool) -> String {
    format!(
        "[fim]\npaths = [{:?}]\nexclude = [\"**/*.tmp\"]\ncritical = [{:?}]\nrescan_interval = \"10m\"\n\
         [process]\nenabled = {process}\n[uplink]\nheartbeat_interval = \"30s\"\n",
        root.display().to_string(),
        format!("{}/secret/**", root.display())
    )
}

/// Runs `haidang-agent ARGS` (RUST_LOG=warn) and returns its exit code, the JSON objects it
/// printed one per line on stdout, and its stderr.
pub fn agent_json_lines(args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let out = Command::new(bin("haidang-agent")).args(args).env("RUST_LOG", "warn").output().expect("run agent");
    let objects = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out.status.code(), objects, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A minimal .docx whose body holds `paragraphs`, for the DLP tests to plant data in.
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    use std::io::Write;
    let body: String = paragraphs.iter().map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>")).collect();
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in [("[Content_Types].xml", types), ("word/document.xml", document.as_str())] {
        out.start_file(name, options).expect("zip entry");
        out.write_all(content.as_bytes()).expect("zip write");
    }
    out.finish().expect("zip finish").into_inner()
}
