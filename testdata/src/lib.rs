//! The third-party corpora some tests and benchmarks read (SigmaHQ's rules and regression
//! data, EVTX attack samples), found in one place. They are not ours to ship, so the repository
//! holds only their manifests (`manifest/*.sha256`: upstream repository, commit, and the
//! SHA-256 of every file), and each corpus is taken from the first of:
//!
//! 1. `$HAIDANG_TESTDATA/<dir>` when `HAIDANG_TESTDATA` is set (a directory laid out as below);
//! 2. `<workspace>/../shared/testdata/<dir>`, where a workplace keeps the corpora beside its
//!    checkouts (the workspace of the package under test, found at run time);
//! 3. `~/.cache/haidang/testdata/<dir>` (or under `$XDG_CACHE_HOME`), downloaded there from
//!    the pinned upstream commit file by file (`HAIDANG_TESTDATA_URL` replaces
//!    `https://raw.githubusercontent.com`) and kept only when every file matches its SHA-256.
//!
//! The layout, `<dir>` per corpus: `sigma/` is SigmaHQ/sigma's tree (`rules`,
//! `rules-emerging-threats`, `rules-threat-hunting`, `regression_data`),
//! `evtx/evtx-attack-samples/` is sbousseaden/EVTX-ATTACK-SAMPLES's. What `HAIDANG_TESTDATA` or
//! `../shared` holds is trusted as given: only downloads are checked.
//!
//! A test asks with [`require`] (or [`sigma`], [`evtx_attack_samples`]); when no source has the
//! corpus, the test fails with one line saying how to provide it.

mod fetch;
mod manifest;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fetch::{FetchError, fetch};
use manifest::Snapshot;

/// Where downloads come from unless `HAIDANG_TESTDATA_URL` says otherwise.
const DEFAULT_URL: &str = "https://raw.githubusercontent.com";

/// A third-party corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corpus {
    /// SigmaHQ/sigma: the rule folders and `regression_data`.
    Sigma,
    /// sbousseaden/EVTX-ATTACK-SAMPLES: Windows event logs of ATT&CK techniques.
    EvtxAttackSamples,
}

impl Corpus {
    /// Every corpus.
    pub const ALL: [Corpus; 2] = [Corpus::Sigma, Corpus::EvtxAttackSamples];

    /// Its name on the command line of `haidang-testdata`.
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Sigma => "sigma",
            Corpus::EvtxAttackSamples => "evtx-attack-samples",
        }
    }

    /// Its directory under a test data root.
    pub fn dir(self) -> &'static str {
        match self {
            Corpus::Sigma => "sigma",
            Corpus::EvtxAttackSamples => "evtx/evtx-attack-samples",
        }
    }

    /// Its manifest, as committed under `testdata/manifest/`.
    fn snapshot(self) -> Snapshot {
        let (file, text) = match self {
            Corpus::Sigma => ("sigma.sha256", include_str!("../manifest/sigma.sha256")),
            Corpus::EvtxAttackSamples => {
                ("evtx-attack-samples.sha256", include_str!("../manifest/evtx-attack-samples.sha256"))
            }
        };
        match Snapshot::parse(&format!("testdata/manifest/{file}"), text) {
            Ok(snapshot) => snapshot,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The SigmaHQ corpus, or the calling test fails with one line ([`require`]).
pub fn sigma() -> PathBuf {
    require(Corpus::Sigma)
}

/// The EVTX attack samples, or the calling test fails with one line ([`require`]).
pub fn evtx_attack_samples() -> PathBuf {
    require(Corpus::EvtxAttackSamples)
}

/// The directory of `corpus`, for a test. When it cannot be had, the test fails showing one
/// line, the way to provide it: printed to the test's captured output, then unwound without
/// the panic hook, so that neither "panicked at" nor a backtrace follows it.
pub fn require(corpus: Corpus) -> PathBuf {
    match locate(corpus) {
        Ok(dir) => dir,
        Err(line) => {
            println!("{line}");
            std::panic::resume_unwind(Box::new(line))
        }
    }
}

/// The directory of `corpus`, found or fetched once per process; `Err` is one line.
pub fn locate(corpus: Corpus) -> Result<PathBuf, String> {
    static FOUND: [OnceLock<Result<PathBuf, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &FOUND[Corpus::ALL.iter().position(|&c| c == corpus).unwrap_or_default()];
    slot.get_or_init(|| locate_uncached(corpus)).clone()
}

fn locate_uncached(corpus: Corpus) -> Result<PathBuf, String> {
    let snapshot = corpus.snapshot();
    if let Some(root) = std::env::var_os("HAIDANG_TESTDATA") {
        let dir = Path::new(&root).join(corpus.dir());
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!("haidang-testdata: {} is not a directory; {}", dir.display(), how_to_provide(&snapshot)))
        };
    }
    if let Some(beside) = workspace_root().map(|root| root.join("../shared/testdata").join(corpus.dir()))
        && beside.is_dir()
    {
        return Ok(beside);
    }
    let Some(cache) = cache_root() else {
        return Err(format!("haidang-testdata: no cache directory (HOME is not set); {}", how_to_provide(&snapshot)));
    };
    let base = std::env::var("HAIDANG_TESTDATA_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    fetch(&snapshot, &cache.join(corpus.dir()), &base).map_err(|e| match e {
        FetchError::Unavailable(why) => {
            format!(
                "haidang-testdata: {} unavailable ({why}); {}",
                snapshot.label(),
                how_to_provide_from(&snapshot, &base)
            )
        }
        FetchError::Corrupt(line) => format!("haidang-testdata: {line}"),
    })
}

/// The checkout the caller was built from: the nearest directory holding `Cargo.lock` above
/// the package cargo runs (`cargo test` and `cargo run` say which at run time). Not this crate's
/// directory at compile time: checkouts that share a target directory share this crate's
/// build, which would keep the first one's path.
fn workspace_root() -> Option<PathBuf> {
    let package = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&package).ancestors().find(|dir| dir.join("Cargo.lock").is_file()).map(Path::to_path_buf)
}

/// `~/.cache/haidang/testdata`, or the same under `$XDG_CACHE_HOME`.
fn cache_root() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache"),
    };
    Some(cache.join("haidang/testdata"))
}

fn how_to_provide(snapshot: &Snapshot) -> String {
    how_to_provide_from(snapshot, DEFAULT_URL)
}

fn how_to_provide_from(snapshot: &Snapshot, base: &str) -> String {
    format!(
        "set HAIDANG_TESTDATA=DIR (a copy of the test data: DIR/sigma = SigmaHQ/sigma, \
         DIR/evtx/evtx-attack-samples = sbousseaden/EVTX-ATTACK-SAMPLES, at the commits of testdata/manifest/) \
         or allow downloads from {base}/{}",
        snapshot.repo
    )
}
