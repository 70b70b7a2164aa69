//! The packages of packaging/build.sh built from this test build's binaries (no cargo run of
//! its own: `HAIDANG_PACKAGE_NO_BUILD`), and a throwaway Debian root to install them in: a
//! minbase debootstrap made once and kept under ~/.cache/haidang (CI caches it), with an
//! overlay on top per test, so that what a test leaves behind is exactly the overlay's upper
//! layer.

use crate::system::{require_program, require_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

/// Runs `packaging/build.sh KIND` with `version` into `out`, packaging the binaries of this
/// test build; fails the test with the script's output if it fails.
pub fn build(kind: &str, version: &str, out: &Path) -> String {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test>
    let target = exe.ancestors().nth(3).expect("target directory");
    let profile = exe.ancestors().nth(2).and_then(Path::file_name).expect("profile directory");
    let built = Command::new(repo().join("packaging/build.sh"))
        .arg(kind)
        .env("CARGO_TARGET_DIR", target)
        .env("HAIDANG_PACKAGE_PROFILE", profile)
        .env("HAIDANG_PACKAGE_NO_BUILD", "1")
        .env("HAIDANG_PACKAGE_LINTIAN", "0")
        .env("HAIDANG_PACKAGE_VERSION", version)
        .env("HAIDANG_PACKAGE_OUT", out)
        .output()
        .expect("run packaging/build.sh");
    let stderr = String::from_utf8_lossy(&built.stderr).into_owned();
    assert!(built.status.success(), "packaging/build.sh {kind} failed:\n{stderr}");
    stderr
}

/// Runs a command and returns its output, whatever its status.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Standard output and error of a command together, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A minimal Debian 12 made by debootstrap, once, under ~/.cache/haidang/chroot; with systemd's
/// files (not running: PID 1 in a chroot is not systemd), so that `systemd-analyze verify`
/// checks the units against the targets they name.
fn debian_base() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).expect("HOME");
    let base = home.join(".cache/haidang/chroot/bookworm-minbase-systemd");
    if base.join(".complete").exists() {
        return base;
    }
    require_program("debootstrap");
    let partial = base.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(partial.parent().expect("cache dir")).expect("create the chroot cache directory");
    let mirror = std::env::var("HAIDANG_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let made = run(
        "debootstrap",
        &["--variant=minbase", "--include=systemd", "bookworm", partial.to_str().expect("UTF-8"), &mirror],
    );
    assert!(made.status.success(), "debootstrap of Debian 12 failed:\n{}", text(&made));
    std::fs::write(partial.join(".complete"), "").expect("mark the chroot complete");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::rename(&partial, &base).expect("move the chroot into place");
    base
}

/// A Debian root to install packages in and throw away: an overlay over the cached base,
/// with /proc and /sys mounted. Unmounted and deleted on drop.
pub struct Chroot {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Chroot {
    pub fn debian() -> Chroot {
        require_root("mount an overlay and chroot into it, as dpkg installs for real");
        require_program("chroot");
        let base = debian_base();
        let dir = tempfile::tempdir().expect("tempdir");
        let (upper, work, root) = (dir.path().join("upper"), dir.path().join("work"), dir.path().join("root"));
        for d in [&upper, &work, &root] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let options = format!("lowerdir={},upperdir={},workdir={}", base.display(), upper.display(), work.display());
        let mounted = run("mount", &["-t", "overlay", "overlay", "-o", &options, root.to_str().expect("UTF-8")]);
        assert!(mounted.status.success(), "cannot mount the overlay: {}", text(&mounted));
        let mut chroot = Chroot { dir, root: root.clone(), mounts: vec![root.clone()] };
        for (fstype, target) in [("proc", "proc"), ("sysfs", "sys")] {
            let at = root.join(target);
            let mounted = run("mount", &["-t", fstype, fstype, at.to_str().expect("UTF-8")]);
            assert!(mounted.status.success(), "cannot mount {fstype}: {}", text(&mounted));
            chroot.mounts.push(at);
        }
        chroot
    }

    /// A command run inside the root, with a plain environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.root)
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    /// Runs a command inside the root.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap_or_else(|e| panic!("cannot chroot to run {program}: {e}"))
    }

    /// Runs a command inside the root that must succeed; returns its output as text.
    pub fn run_ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(out.status.success(), "{program} {args:?} failed in the chroot:\n{}", text(&out));
        text(&out)
    }

    /// A path inside the root, as seen from outside.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Every file, link and deletion (not directory) the root holds beyond the base: what the
    /// packages and their scripts left.
    pub fn changes(&self) -> Vec<String> {
        fn walk(dir: &Path, upper: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read the overlay") {
                let entry = entry.expect("overlay entry");
                let path = entry.path();
                if entry.file_type().expect("file type").is_dir() {
                    walk(&path, upper, out);
                } else {
                    out.push(format!("/{}", path.strip_prefix(upper).expect("inside").display()));
                }
            }
        }
        let upper = self.dir.path().join("upper");
        let mut out = Vec::new();
        walk(&upper, &upper, &mut out);
        out.sort();
        out
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = run("umount", &["--lazy", m.to_str().unwrap_or_default()]);
        }
    }
}
