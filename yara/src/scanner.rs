//! Scanning one file (or one buffer) with compiled rules: size cap, SHA-256 of the content,
//! the file's external variables, the cache, then yara-x.

use crate::cache::{Hit, ScanCache};
use crate::externals::{Externals, Owners};
use crate::rules::Rules;
use haidang_proto::Hash32;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scan still running after this is abandoned and reported: a pathological rule/file pair
/// must not stall a host's scanner for good.
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// A read buffer grown past this by a large file is given back after the scan, so one big
/// file does not keep the host's memory up.
const KEEP_BUFFER: usize = 4 * 1024 * 1024;

/// Files this large or larger are read and scanned by one scanner of a rule set at a time: a
/// file is held whole while it is scanned, and memory should stay near the rules plus one
/// large file whatever the number of threads. Smaller files, most of any disk, still go in
/// parallel.
pub(crate) const LARGE_FILE: u64 = 16 * 1024 * 1024;

/// Why a file was not scanned. Every one of these is reported to whoever asked.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The file is larger than the scanner's size cap.
    #[error("larger than the scan size limit ({} > {})", bytesize::ByteSize(*size), bytesize::ByteSize(*limit))]
    TooLarge {
        /// Bytes in the file (or read before giving up, for a file that grew).
        size: u64,
        /// The scanner's cap.
        limit: u64,
    },
    /// A directory, device, FIFO or symbolic link: only regular files are scanned.
    #[error("not a regular file")]
    NotAFile,
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The rules ran past the scan timeout on this content.
    #[error("the scan took longer than {}s and was abandoned", SCAN_TIMEOUT.as_secs())]
    Timeout,
    /// yara-x refused the scan, with its reason.
    #[error("YARA error: {0}")]
    Yara(String),
}

/// One rule matching one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The rule's identifier.
    pub rule: String,
    /// The rule's namespace: its file's path under the rule root, without extension.
    pub namespace: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The file scanned (the name given, for a buffer).
    pub path: PathBuf,
    /// SHA-256 of the content that matched.
    pub sha256: Hash32,
}

impl Match {
    /// The event an agent records for this match.
    pub fn to_event(&self) -> haidang_proto::event::MalwareMatch {
        haidang_proto::event::MalwareMatch {
            rule: self.rule.clone(),
            namespace: self.namespace.clone(),
            tags: self.tags.clone(),
            path: haidang_proto::Text::from(self.path.as_path()),
            sha256: Some(self.sha256),
        }
    }
}

/// The outcome of scanning one file.
#[derive(Debug)]
pub struct Scan {
    /// SHA-256 of the content scanned.
    pub sha256: Hash32,
    /// Bytes of content.
    pub size: u64,
    /// The rules that matched.
    pub matches: Vec<Match>,
    /// The result came from the cache: this content, under this name, was scanned before.
    pub cached: bool,
}

/// Scans files one after another with a fixed rule set. Not `Sync`: each thread that scans
/// builds its own (cheap next to loading the rules), and they share the rules and the cache.
pub struct Scanner<'r> {
    yara: yara_x::Scanner<'r>,
    large_file_turn: &'r std::sync::Mutex<()>,
    cache: &'r ScanCache,
    uses_externals: bool,
    max_file_size: u64,
    owners: Owners,
    buf: Vec<u8>,
}

impl<'r> Scanner<'r> {
    /// A scanner that skips files larger than `max_file_size` bytes.
    pub fn new(rules: &'r Rules, cache: &'r ScanCache, max_file_size: u64) -> Scanner<'r> {
        let mut yara = yara_x::Scanner::new(&rules.compiled);
        yara.set_timeout(SCAN_TIMEOUT);
        Scanner {
            yara,
            large_file_turn: &rules.large_file_turn,
            cache,
            uses_externals: rules.uses_externals,
            max_file_size,
            owners: Owners::default(),
            buf: Vec::new(),
        }
    }

    /// Scans the regular file at `path`, without following a symbolic link there.
    pub fn scan_file(&mut self, path: &Path) -> Result<Scan, ScanError> {
        let md = std::fs::symlink_metadata(path)?;
        if !md.is_file() {
            return Err(ScanError::NotAFile);
        }
        if md.len() > self.max_file_size {
            return Err(ScanError::TooLarge { size: md.len(), limit: self.max_file_size });
        }
        let owner = self.owners.name(&md);
        let _turn = (md.len() >= LARGE_FILE)
            .then(|| self.large_file_turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let read = read_capped(path, md.len(), self.max_file_size, &mut buf);
        let result = read.and_then(|()| self.scan_content(path, owner, &buf));
        if buf.capacity() > KEEP_BUFFER {
            buf = Vec::new();
        }
        self.buf = buf;
        result
    }

    /// Scans content that is not (or not yet) a file of its own, such as a file about to be
    /// written, under the name `path` for the rules' external variables (owner empty).
    pub fn scan_bytes(&mut self, path: &Path, data: &[u8]) -> Result<Scan, ScanError> {
        let size = data.len() as u64;
        if size > self.max_file_size {
            return Err(ScanError::TooLarge { size, limit: self.max_file_size });
        }
        self.scan_content(path, String::new(), data)
    }

    fn scan_content(&mut self, path: &Path, owner: String, data: &[u8]) -> Result<Scan, ScanError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, data);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest.as_ref());
        let externals = Externals::for_file(path, owner, &data[..data.len().min(16)]);
        let into_matches = |hits: Vec<Hit>| hits.into_iter().map(|h| h.into_match(path, sha256)).collect();
        // Rules that never look at the externals answer for the content alone, so a copy of
        // known content under any name is answered from the cache.
        let key = if self.uses_externals { externals.clone() } else { Externals::default() };
        if let Some(hits) = self.cache.get(&sha256, &key) {
            return Ok(Scan { sha256, size: data.len() as u64, matches: into_matches(hits), cached: true });
        }
        for (name, value) in externals.values() {
            self.yara.set_global(name, value).map_err(|e| ScanError::Yara(e.to_string()))?;
        }
        let results = self.yara.scan(data).map_err(|e| match e {
            yara_x::ScanError::Timeout => ScanError::Timeout,
            other => ScanError::Yara(other.to_string()),
        })?;
        let hits: Vec<Hit> = results
            .matching_rules()
            .map(|rule| Hit {
                rule: rule.identifier().to_string(),
                namespace: rule.namespace().to_string(),
                tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
            })
            .collect();
        self.cache.insert(sha256, key, hits.clone());
        Ok(Scan { sha256, size: data.len() as u64, matches: into_matches(hits), cached: false })
    }
}

/// Reads the whole file, of `size` bytes when it was checked, into `buf`, refusing it if it
/// has grown past `limit` since. Reserving the size first keeps the buffer from doubling.
fn read_capped(path: &Path, size: u64, limit: u64, buf: &mut Vec<u8>) -> Result<(), ScanError> {
    buf.reserve_exact(usize::try_from(size.min(limit)).unwrap_or(0).saturating_add(1));
    let file = open_no_block(path)?;
    file.take(limit + 1).read_to_end(buf)?;
    let size = buf.len() as u64;
    if size > limit {
        return Err(ScanError::TooLarge { size, limit });
    }
    Ok(())
}

/// Opens for reading without blocking if the path was swapped for a FIFO since it was
/// checked, and without following a symbolic link put there since.
#[cfg(unix)]
fn open_no_block(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)
}

#[cfg(not(unix))]
fn open_no_block(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}
