//! What the tests that drive real system services (mounts, sshd, CUPS) need of the machine:
//! root, installed programs, and commands that must succeed. Missing ones fail the test with
//! what to do, never a silent pass.

use std::path::PathBuf;
use std::process::Command;

/// Fails the test unless it runs as root; `what` says what root is needed for.
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test needs root to {what} (CI runs as root); it cannot run as uid {euid}");
}

/// Fails the test unless `program` is on the PATH (or in /usr/sbin, /sbin).
pub fn require_program(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]).collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .any(|dir| dir.join(program).is_file());
    assert!(found, "this test needs `{program}`: run scripts/test.sh, which installs it, or apt-get install it");
}

/// Runs `program` and returns its trimmed standard output; fails the test if it fails.
pub fn run_checked(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
