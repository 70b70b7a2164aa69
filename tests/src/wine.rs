//! Runs the cross-built Windows agent under Wine: finds the `.exe` beside this build, a Wine
//! prefix of the tests' own, and what Debian 12's Wine 8 lacks for a Rust program (see
//! `tests/wine/bcryptprimitives.c`). Everything missing fails the test with what to do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

const TARGET: &str = "x86_64-pc-windows-gnu";

/// The Windows agent built by `cargo build --target x86_64-pc-windows-gnu -p haidang-agent`
/// into the same target directory as this test.
pub fn agent_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test> -> <target>
    let target = exe.ancestors().nth(3).expect("target directory");
    let profile = exe.ancestors().nth(2).and_then(Path::file_name).expect("profile directory");
    let path = target.join(TARGET).join(profile).join("haidang-agent.exe");
    assert!(
        path.exists(),
        "{} not built: run `cargo build --target {TARGET} -p haidang-agent` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The `wine64` loader: Debian's `wine64` package puts it in /usr/lib/wine.
fn loader() -> PathBuf {
    let candidates =
        [PathBuf::from("/usr/lib/wine/wine64"), PathBuf::from("/usr/bin/wine64"), PathBuf::from("/usr/bin/wine")];
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("these tests need Wine: run scripts/test.sh, which installs it, or apt-get install wine64")
    })
}

/// A Wine prefix beside the Windows build, made once per test run, with the shim DLL.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let exe = agent_exe();
        let prefix = exe.parent().expect("build directory").join("wine-prefix");
        make_prefix(&prefix);
        prefix
    })
}

/// Makes (or completes) a Wine prefix at `prefix` in which Rust programs start: wineboot, and
/// the shim DLL. A test that changes the machine (installs a service) makes its own, so that
/// the shared one stays as the other tests expect it.
pub fn make_prefix(prefix: &Path) {
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.join("kernel32.dll").exists() {
        let booted = Command::new(loader())
            .arg("wineboot")
            .arg("--init")
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .output()
            .unwrap_or_else(|e| panic!("cannot run wineboot: {e}"));
        assert!(booted.status.success(), "wineboot failed: {}", String::from_utf8_lossy(&booted.stderr));
        // A crashing program would start winedbg, which waits for ever and holds the output
        // pipes of the test that ran it: without a debugger, the crash ends the program and
        // the test sees it fail.
        let _ = Command::new(loader())
            .args([
                "reg",
                "delete",
                r"HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug",
                "/v",
                "Debugger",
                "/f",
            ])
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .output();
    }
    let shim = system32.join("bcryptprimitives.dll");
    if !shim.exists() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("wine");
        let built = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-shared", "-o"])
            .arg(&shim)
            .arg(source.join("bcryptprimitives.c"))
            .arg(source.join("bcryptprimitives.def"))
            .arg("-ladvapi32")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run x86_64-w64-mingw32-gcc (apt-get install gcc-mingw-w64-x86-64): {e}")
            });
        assert!(
            built.status.success(),
            "the ProcessPrng shim does not build: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
}

/// The command that runs `program` (a path, or the name of one of Wine's own programs such
/// as `attrib`) under Wine in the tests' prefix.
fn wine(program: &std::ffi::OsStr) -> Command {
    wine_in(prefix(), program)
}

/// As [`wine`], in the prefix `prefix`.
fn wine_in(prefix: &Path, program: &std::ffi::OsStr) -> Command {
    let mut command = Command::new(loader());
    command.arg(program).env("WINEPREFIX", prefix).env("WINEDEBUG", "-all").env("RUST_LOG", "warn");
    command
}

/// Runs the Windows agent with `args` under Wine.
pub fn run_agent(args: &[&str]) -> Output {
    wine(agent_exe().as_os_str())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the Windows agent under Wine: {e}"))
}

/// Runs a Windows program (`msiexec`, `sc`, an .exe path) under Wine in the prefix `prefix`.
pub fn run_in(prefix: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(loader())
        .arg(program)
        .args(args)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} under Wine: {e}"))
}

/// Ends every Wine process of `prefix` (the services it started included).
pub fn stop_wineserver(prefix: &Path) {
    let server = loader().with_file_name("wineserver");
    let _ = Command::new(if server.is_file() { server } else { PathBuf::from("wineserver") })
        .arg("-k")
        .env("WINEPREFIX", prefix)
        .output();
}

/// Runs one of Wine's own programs (`attrib`, `cmd`) with `args`.
pub fn run_program(program: &str, args: &[&str]) -> Output {
    wine(program.as_ref()).args(args).output().unwrap_or_else(|e| panic!("cannot run {program} under Wine: {e}"))
}

/// Starts one of Wine's own programs (`cmd`) with `args` and its standard input held open, so
/// that a program which reads commands keeps running until the returned child is killed.
pub fn spawn_program(program: &str, args: &[&str]) -> Child {
    wine(program.as_ref())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} under Wine: {e}"))
}

/// The Windows agent under Wine as a long-running process (`run`), its log (RUST_LOG=info)
/// appended to `log`. Killed when dropped.
pub struct WineAgent(Option<Child>);

impl WineAgent {
    pub fn spawn(args: &[&str], log: &Path) -> WineAgent {
        WineAgent::spawn_in(prefix(), args, log)
    }

    /// As [`WineAgent::spawn`], in the prefix `prefix` (made with [`make_prefix`]).
    pub fn spawn_in(prefix: &Path, args: &[&str], log: &Path) -> WineAgent {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("agent log file");
        let child = wine_in(prefix, agent_exe().as_os_str())
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the Windows agent under Wine: {e}"));
        WineAgent(Some(child))
    }

    /// The process id of the Wine process that runs the agent (the loader execs into it).
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.0.as_mut().is_some_and(|c| c.try_wait().is_ok_and(|exited| exited.is_none()))
    }
}

impl Drop for WineAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The prefix's drive C: as a Linux directory (`C:\ProgramData` is `drive_c/ProgramData`).
pub fn drive_c() -> PathBuf {
    prefix().join("drive_c")
}

/// How a Linux path appears to a Windows program under Wine (drive Z: is the root).
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.to_str().expect("UTF-8 path").replace('/', "\\"))
}
