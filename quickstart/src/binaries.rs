//! Where the collector and agent binaries are: next to this executable. When it runs from the
//! target directory of the source checkout it was built from (`cargo run -p haidang`), they are
//! built first with the same profile, so one command on a fresh clone is enough.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const COLLECTOR: &str = "haidang-collector";
const AGENT: &str = "haidang-agent";

/// The programs `quickstart` runs.
pub(crate) struct Binaries {
    pub collector: PathBuf,
    pub agent: PathBuf,
}

/// Finds the binaries next to this executable, building them first when `build` is set and
/// this executable runs from a source checkout.
pub(crate) fn locate(build: bool) -> Result<Binaries> {
    let exe = std::env::current_exe().context("cannot tell where this program is installed")?;
    let dir = exe.parent().context("this program's path has no directory")?;
    if build && let Some(checkout) = Checkout::of(dir) {
        checkout.build()?;
    }
    let binaries = Binaries { collector: dir.join(executable(COLLECTOR)), agent: dir.join(executable(AGENT)) };
    for path in [&binaries.collector, &binaries.agent] {
        if !path.is_file() {
            bail!(
                "{} not found: `haidang quickstart` runs the haidang-collector and haidang-agent installed next to it",
                path.display()
            );
        }
    }
    Ok(binaries)
}

fn executable(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The source checkout this program was built from, seen from one of its target directories.
struct Checkout {
    workspace: PathBuf,
    target_dir: PathBuf,
    /// The cargo profile whose output directory this program runs from.
    profile: String,
}

impl Checkout {
    /// `Some` when `profile_dir` is `TARGET/PROFILE` of a cargo target directory (cargo keeps
    /// its `.fingerprint` records there) and the workspace this program was compiled from
    /// still exists.
    fn of(profile_dir: &Path) -> Option<Checkout> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
        let target_dir = profile_dir.parent()?;
        if !workspace.join("Cargo.toml").is_file() || !profile_dir.join(".fingerprint").is_dir() {
            return None;
        }
        let profile = match profile_dir.file_name()?.to_str()? {
            "debug" => "dev",
            other => other,
        };
        Some(Checkout {
            workspace: workspace.to_path_buf(),
            target_dir: target_dir.to_path_buf(),
            profile: profile.into(),
        })
    }

    fn build(&self) -> Result<()> {
        // `cargo run` tells the program which cargo started it; otherwise the one that built it.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
        let mut args: Vec<String> = vec!["build".into()];
        match self.profile.as_str() {
            "dev" => {}
            "release" => args.push("--release".into()),
            other => args.extend(["--profile".into(), other.into()]),
        }
        args.extend(["-p", COLLECTOR, "-p", AGENT, "--bins"].map(String::from));
        eprintln!(
            "haidang: building the collector and the agent first: cargo {} (in {})",
            args.join(" "),
            self.workspace.display()
        );
        let status = Command::new(&cargo)
            .current_dir(&self.workspace)
            .args(&args)
            .arg("--target-dir")
            .arg(&self.target_dir)
            .status()
            .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
        if !status.success() {
            bail!("building haidang-collector and haidang-agent failed ({status}); see cargo's messages above");
        }
        Ok(())
    }
}
