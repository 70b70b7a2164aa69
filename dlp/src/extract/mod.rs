//! The content walker: turns a document — a file, an attachment, an archive entry — into the
//! parts of text the [`DetectorSet`] scans (shared/dlp-vn.md §3.3, §3.5, §4).
//!
//! Containers are opened recursively: zip (and zip-in-zip), OOXML (docx/xlsx/pptx), ODF,
//! OLE compound files (.doc, .xls, encrypted OOXML), PDF and MIME e-mail. Every part carries
//! a container path such as `report.zip/word/document.xml` or
//! `mail.eml/attachment[2]:plan.docx`, and says whether it sits where stamps sit (headers,
//! text boxes, the top of a document) and in which legacy encoding its font stores it.
//!
//! Nothing is skipped silently: a part that cannot be read — encrypted, corrupt, over a
//! [`Limits`] cap, in an unsupported format — becomes a [`Verdict::CouldNotInspect`] that
//! policy can act on. Untrusted documents are parsed in a child process with memory and CPU
//! limits — a file ([`Extractor::scan_document`], [`Extractor::extract_in_child`]) or an object
//! held in memory ([`Extractor::inspect_bytes`], [`Extractor::extract_bytes`]), which is sent
//! to the child on its stdin; the host wires the child up as the
//! [crate documentation](crate#hosting-the-extraction-child) says. [`extract`] does the same
//! work in-process for tests and fuzzers. Plain text — an object with no container, image or
//! mail signature — is not parsed at all: its bytes are its one part, so it is scanned
//! in-process, with nothing a child could protect the host from. Results are cached by the
//! SHA-256 of the document.

mod archive;
mod cache;
mod child;
mod emf;
mod mail;
mod ole;
mod pdf;
mod pdf_layout;
#[cfg(test)]
mod tests;
mod xml;

pub(crate) use child::Request;
pub use child::{SUBCOMMAND, run_child, run_child_if_requested};

use super::{Buffers, Columns, DetectorSet, Finding, Hints, legacy::Encoding};
use cache::Cache;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xml::Paragraph;

/// Caps on the work one document may cause. Every cap that is hit is reported as a verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Containers nested deeper than this (a zip in a docx in a mail is depth 3) are not opened.
    pub max_depth: u32,
    /// Bytes read from the document itself.
    pub max_input_bytes: u64,
    /// Bytes one entry or attachment may decompress to.
    pub max_part_bytes: u64,
    /// Bytes all entries of the document together may decompress to.
    pub max_total_bytes: u64,
    /// Entry size over compressed size above which an entry larger than
    /// [`Limits::ratio_floor`] is taken for a decompression bomb.
    pub max_ratio: u64,
    /// Entries smaller than this are exempt from the ratio test (small XML compresses well).
    pub ratio_floor: u64,
    /// Entries (archive members, attachments, streams) over the whole document.
    pub max_entries: u64,
    /// Wall-clock time for one document.
    pub time_budget: Duration,
    /// Address space of the child process that parses the document (RLIMIT_AS).
    pub child_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_input_bytes: 512 << 20,
            max_part_bytes: 64 << 20,
            max_total_bytes: 256 << 20,
            max_ratio: 100,
            ratio_floor: 1 << 20,
            max_entries: 10_000,
            time_budget: Duration::from_secs(30),
            child_memory: 1 << 30,
        }
    }
}

/// What a part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Text an extractor decoded.
    Text {
        /// The text.
        text: String,
        /// The text is in a legacy font of this encoding and its characters are the
        /// Windows-1252 reading of the stored bytes (spec §3.5).
        encoding: Option<Encoding>,
    },
    /// Bytes in an unknown encoding (plain text files, raw streams): the detector set
    /// finds out whether they are UTF-8, UTF-16 or legacy.
    Bytes(Vec<u8>),
}

/// One piece of text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Where in the document: `report.zip/word/document.xml`, `mail.eml/attachment[2]:a.pdf`.
    pub container_path: String,
    /// What it holds.
    pub content: Content,
    /// Sits where stamps sit: a header, a text box, a red run, the top of the first page.
    pub prominent: bool,
    /// The lines of its text that are table cells, and the headers of their columns.
    pub columns: Columns,
}

/// Why part of a document was not inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Password-protected or encrypted content.
    Encrypted,
    /// The bytes do not parse as the format they claim to be.
    Corrupt(String),
    /// A cap of [`Limits`] was reached.
    OverLimit(String),
    /// A format or feature the walker does not read (images need OCR, spec §3.7).
    Unsupported(String),
    /// The time budget ran out.
    Timeout,
    /// The child process that parsed the document died or could not be run.
    ChildFailed(String),
    /// The file itself could not be opened or read (permissions, I/O error).
    Unreadable(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Encrypted => f.write_str("encrypted"),
            Reason::Corrupt(why) => write!(f, "corrupt: {why}"),
            Reason::OverLimit(why) => write!(f, "over limit: {why}"),
            Reason::Unsupported(why) => write!(f, "unsupported: {why}"),
            Reason::Timeout => f.write_str("time budget exceeded"),
            Reason::ChildFailed(why) => write!(f, "extraction process failed: {why}"),
            Reason::Unreadable(why) => write!(f, "cannot read: {why}"),
        }
    }
}

/// The outcome for a part of a document that was not (fully) read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The part was not inspected, or not all of it (spec §6 class S4).
    CouldNotInspect {
        /// The part: the whole document, or a container path inside it.
        container_path: String,
        /// Why.
        reason: Reason,
    },
}

impl Verdict {
    fn new(container_path: &str, reason: Reason) -> Verdict {
        Verdict::CouldNotInspect { container_path: container_path.to_string(), reason }
    }
}

/// Everything extracted from one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The parts of text, in document order.
    pub parts: Vec<Part>,
    /// The parts that were not (fully) read, and why.
    pub verdicts: Vec<Verdict>,
}

/// The scan of one document: findings located by container path, what could not be
/// inspected, and the SHA-256 that identifies the object in events (spec §9.2).
#[derive(Debug, Clone)]
pub struct DocumentResult {
    /// The findings of all its parts together, one per detector.
    pub findings: Vec<Finding>,
    /// Container paths that were not (fully) inspected, and why.
    pub could_not_inspect: Vec<(String, Reason)>,
    /// The SHA-256 of the document's bytes.
    pub sha256: [u8; 32],
    /// Answered from the cache: the document was not parsed again.
    pub cached: bool,
}

/// Extracts in-process: for tests, fuzzers and input that is already trusted. `name` is the
/// first element of every container path.
pub fn extract(name: &str, bytes: &[u8], limits: &Limits) -> Extraction {
    let mut walker = Walker::new(limits);
    walker.walk(name, bytes, 0);
    walker.out
}

/// Where documents are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// In a child process running `helper __extract TARGET` ([`SUBCOMMAND`]).
    Child {
        /// The host executable that answers [`SUBCOMMAND`] ([`run_child_if_requested`]):
        /// normally the running program's own ([`Extractor::new`]).
        helper: PathBuf,
    },
    /// In this process (tests; trusted input).
    InProcess,
}

/// Extracts documents under [`Limits`], caching the results of scans by content hash.
pub struct Extractor {
    limits: Limits,
    isolation: Isolation,
    cache: Mutex<Cache>,
    /// Whether each thread keeps its read buffer and view buffers between documents
    /// ([`KEEP_BUFFER`]).
    keep_buffers: bool,
}

/// Documents whose scan results are kept; an entry is a few hundred bytes.
const CACHE_ENTRIES: usize = 4096;

/// Bytes read from the document per hashing step: small enough to be hashed while still in
/// the CPU's cache.
const READ_CHUNK: u64 = 256 << 10;

/// Capacity of the read buffer, and of the buffers views are built in, that a thread keeps
/// between documents when the extractor keeps them ([`Extractor::keeping_buffers`]).
/// Buffers of a MiB or more get a mapping of their own (see `heap`), so a buffer freed after
/// every document costs the next one page faults and zeroing for every byte it fills; keeping
/// it spares that. Beyond this a buffer is released, so one huge file does not stay resident
/// in a thread for good.
const KEEP_BUFFER: usize = 16 << 20;

thread_local! {
    /// The buffer this thread reads documents into, kept for its next document.
    static READ_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// The buffers this thread builds views in, kept for its next document.
    static VIEW_BUFFERS: Cell<Buffers> = Cell::default();
}

impl Extractor {
    /// An extractor that parses in a child process of this executable, which must answer
    /// [`SUBCOMMAND`] (see the [module documentation](self)).
    pub fn new(limits: Limits) -> std::io::Result<Extractor> {
        let helper = std::env::current_exe()?;
        Ok(Extractor::with_isolation(limits, Isolation::Child { helper }))
    }

    /// An extractor that parses where `isolation` says.
    pub fn with_isolation(limits: Limits, isolation: Isolation) -> Extractor {
        Extractor { limits, isolation, cache: Mutex::new(Cache::new(CACHE_ENTRIES)), keep_buffers: false }
    }

    /// Keeps each scanning thread's read buffer, and the buffers it builds views in, between
    /// documents: for a batch of files read one after another (`scan --dlp`). The running
    /// agent, which scans now and then and must stay small between, does not.
    pub fn keeping_buffers(mut self) -> Extractor {
        self.keep_buffers = true;
        self
    }

    /// The caps on the work of one document.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses the file at `path` in a child process with memory and time limits. The death
    /// or timeout of the child is `Err` with a verdict for the whole file.
    pub fn extract_in_child(&self, path: &Path) -> Result<Extraction, Verdict> {
        let helper = match &self.isolation {
            Isolation::Child { helper } => helper.clone(),
            Isolation::InProcess => std::env::current_exe()
                .map_err(|e| Verdict::new(&root_name(path), Reason::ChildFailed(e.to_string())))?,
        };
        child::run(&helper, child::Source::File(path), &self.limits)
    }

    /// Extracts the file at `path` as the extractor's isolation says. A file that cannot be
    /// read yields a verdict, not an error: it was not inspected.
    pub fn extract_path(&self, path: &Path) -> Extraction {
        match &self.isolation {
            Isolation::Child { helper } => {
                // Parts streamed before the child failed are still scanned, beside the verdict.
                let (mut extraction, verdict) = child::run_partial(helper, child::Source::File(path), &self.limits);
                extraction.verdicts.extend(verdict);
                extraction
            }
            Isolation::InProcess => {
                let name = root_name(path);
                let bytes = std::fs::File::open(path)
                    .map_err(|e| Reason::Corrupt(format!("cannot open: {e}")))
                    .and_then(|file| read_limited(file, self.limits.max_input_bytes, "file"));
                match bytes {
                    Ok(bytes) => extract(&name, &bytes, &self.limits),
                    Err(reason) => Extraction { parts: Vec::new(), verdicts: vec![Verdict::new(&name, reason)] },
                }
            }
        }
    }

    /// Extracts an object held in memory — an upload, an attachment — named `name` (the first
    /// element of its container paths), as the extractor's isolation says: in the child, the
    /// bytes are sent on its stdin and parsed under the same limits and deadline as a file.
    /// An object over [`Limits::max_input_bytes`] is not inspected, and says so.
    pub fn extract_bytes(&self, name: &str, bytes: &[u8]) -> Extraction {
        let max = self.limits.max_input_bytes;
        if bytes.len() as u64 > max {
            let verdict = Verdict::new(name, Reason::OverLimit(format!("object larger than {max} bytes")));
            return Extraction { parts: Vec::new(), verdicts: vec![verdict] };
        }
        match &self.isolation {
            Isolation::Child { helper } => {
                let (mut extraction, verdict) =
                    child::run_partial(helper, child::Source::Inline { name, bytes }, &self.limits);
                extraction.verdicts.extend(verdict);
                extraction
            }
            Isolation::InProcess => extract(name, bytes, &self.limits),
        }
    }

    /// Extracts and scans an object held in memory, named `name` ([`Extractor::extract_bytes`]),
    /// for a gateway that has the object rather than a file: plain text is scanned in this
    /// process, anything to parse in the child as the extractor's isolation says, and an
    /// object seen before (same SHA-256) is answered from the cache. Errors only when the
    /// cache is unusable.
    pub fn inspect_bytes(&self, set: &DetectorSet, name: &str, bytes: &[u8]) -> std::io::Result<DocumentResult> {
        let mut sha256 = [0; 32];
        sha256.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        self.cached(sha256, name, || {
            let in_process = bytes.len() as u64 <= self.limits.max_input_bytes && sniff(name, bytes) == Kind::Text;
            let extraction =
                if in_process { extract(name, bytes, &self.limits) } else { self.extract_bytes(name, bytes) };
            scan_extraction(set, &extraction, sha256)
        })
    }

    /// Extracts and scans the file at `path`; an unchanged file (same SHA-256) is answered
    /// from the cache without being parsed again. Errors only when the file cannot be read.
    ///
    /// The file is read once, hashed as it is read. Plain text is scanned from those bytes in
    /// this process; anything to parse goes to the child as [`Isolation`] says, and a file
    /// over [`Limits::max_input_bytes`] takes the path that reports it, unread.
    pub fn scan_document(&self, set: &DetectorSet, path: &Path) -> std::io::Result<DocumentResult> {
        if !self.keep_buffers {
            return self.scan_read(set, path, &mut Vec::new(), &mut Buffers::default());
        }
        let mut buffer = READ_BUFFER.take();
        let mut views = VIEW_BUFFERS.take();
        let result = self.scan_read(set, path, &mut buffer, &mut views);
        buffer.clear();
        if buffer.capacity() <= KEEP_BUFFER {
            READ_BUFFER.set(buffer);
        }
        if views.capacity() <= KEEP_BUFFER {
            VIEW_BUFFERS.set(views);
        }
        result
    }

    /// [`Extractor::scan_document`], reading into `buffer` and building views in `views`.
    fn scan_read(
        &self,
        set: &DetectorSet,
        path: &Path,
        buffer: &mut Vec<u8>,
        views: &mut Buffers,
    ) -> std::io::Result<DocumentResult> {
        let name = root_name(path);
        let (sha256, whole) = read_hashed(path, self.limits.max_input_bytes, buffer)?;
        self.cached(sha256, &name, || {
            if whole && sniff(&name, buffer) == Kind::Text {
                let mut extraction = Walker::plain_text(&self.limits, &name, buffer);
                let result = scan_extraction_in(set, &extraction, sha256, views);
                // The bytes go back to be read into again.
                if let Some(Part { content: Content::Bytes(bytes), .. }) = extraction.parts.pop() {
                    *buffer = bytes;
                }
                result
            } else if whole && matches!(self.isolation, Isolation::InProcess) {
                scan_extraction_in(set, &extract(&name, buffer, &self.limits), sha256, views)
            } else {
                // The child reads the file again: a file rewritten since it was hashed is scanned
                // as it is then, under the old hash, and a later scan of it misses the cache and
                // is parsed afresh.
                scan_extraction_in(set, &self.extract_path(path), sha256, views)
            }
        })
    }

    /// The cached result of the object `name` with this SHA-256, else the result of `scan`,
    /// kept for next time unless it may be transient.
    fn cached(
        &self,
        sha256: [u8; 32],
        name: &str,
        scan: impl FnOnce() -> DocumentResult,
    ) -> std::io::Result<DocumentResult> {
        if let Some(hit) = self.cache.lock().map_err(|_| poisoned())?.get(&sha256, name) {
            return Ok(hit);
        }
        let result = scan();
        // A timeout or a failed child may be the machine's load, not the document's doing:
        // such a result is not kept, so the next scan tries again.
        let transient = result
            .could_not_inspect
            .iter()
            .any(|(_, reason)| matches!(reason, Reason::Timeout | Reason::ChildFailed(_)));
        if !transient {
            self.cache.lock().map_err(|_| poisoned())?.put(sha256, name, result.clone());
        }
        Ok(result)
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("extraction cache lock poisoned")
}

/// Scans extracted parts as one object.
pub fn scan_extraction(set: &DetectorSet, extraction: &Extraction, sha256: [u8; 32]) -> DocumentResult {
    scan_extraction_in(set, extraction, sha256, &mut Buffers::default())
}

/// [`scan_extraction`], building views in `views`.
fn scan_extraction_in(
    set: &DetectorSet,
    extraction: &Extraction,
    sha256: [u8; 32],
    views: &mut Buffers,
) -> DocumentResult {
    let mut object = set.object_in(std::mem::take(views));
    for part in &extraction.parts {
        match &part.content {
            Content::Text { text, encoding } => {
                let hints = Hints { encoding: *encoding, prominent: part.prominent };
                object.add_table_text(&part.container_path, text, hints, &part.columns)
            }
            Content::Bytes(bytes) => {
                object.add_bytes(&part.container_path, bytes, Hints { encoding: None, prominent: part.prominent })
            }
        }
    }
    let could_not_inspect = extraction
        .verdicts
        .iter()
        .map(|Verdict::CouldNotInspect { container_path, reason }| (container_path.clone(), reason.clone()))
        .collect();
    let (findings, buffers) = object.finish_keeping();
    *views = buffers;
    DocumentResult { findings, could_not_inspect, sha256, cached: false }
}

/// The first element of container paths: the file's name.
fn root_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned())
}

/// Reads the file at `path` into the empty `buffer`, hashing it as it is read: its SHA-256,
/// and whether the whole file is in `buffer`. A file over `max` bytes is hashed to its end
/// but not kept: `buffer` then holds none of it.
fn read_hashed(path: &Path, max: u64, buffer: &mut Vec<u8>) -> std::io::Result<([u8; 32], bool)> {
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let size = file.metadata()?.len();
    let mut whole = size <= max;
    if whole {
        // One more byte than the size, so that the read which finds the end needs no growth.
        buffer.reserve_exact(usize::try_from(size).map_or(0, |size| size.saturating_add(1)));
    }
    loop {
        if !whole {
            buffer.clear();
        }
        let start = buffer.len();
        if (&mut file).take(READ_CHUNK).read_to_end(buffer)? == 0 {
            break;
        }
        context.update(&buffer[start..]);
        // The file may have grown since its size was taken.
        if buffer.len() as u64 > max {
            whole = false;
        }
    }
    if !whole {
        buffer.clear();
    }
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    Ok((out, whole))
}

/// Reads at most `max` bytes of `input`, a `what` (file, object); a larger one is over the limit.
fn read_limited(input: impl Read, max: u64, what: &str) -> Result<Vec<u8>, Reason> {
    let mut bytes = Vec::new();
    input.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| match e.kind() {
        std::io::ErrorKind::OutOfMemory => Reason::OverLimit(format!("{what} larger than the memory for parsing it")),
        _ => Reason::Corrupt(format!("cannot read: {e}")),
    })?;
    if bytes.len() as u64 > max {
        return Err(Reason::OverLimit(format!("{what} larger than {max} bytes")));
    }
    Ok(bytes)
}

/// What a document is, from its first bytes (and, for mail, its name).
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Zip,
    Ole,
    Pdf,
    Mail,
    /// An enhanced metafile (EMF): text from its text records.
    Metafile,
    /// A Windows EMF spool file: a metafile per page.
    EmfSpool,
    Image,
    /// A container the walker does not open, named: its text is compressed or encrypted, so
    /// reading its bytes as text would find nothing and say nothing.
    Unopened(&'static str),
    Text,
}

/// Signatures of containers the walker does not open (spec §4 names zip; these are what
/// agencies also exchange), and their names in verdicts.
const UNOPENED: [(&[u8], &str); 6] = [
    (b"7z\xBC\xAF\x27\x1C", "7z archive"),
    (b"Rar!\x1A\x07", "RAR archive"),
    (b"\x1F\x8B\x08", "gzip stream"),
    (b"\xFD7zXZ\x00", "xz stream"),
    (b"\x28\xB5\x2F\xFD", "zstd stream"),
    (b"MSCF\0\0\0\0", "cabinet archive"),
];

fn sniff(name: &str, bytes: &[u8]) -> Kind {
    let head = &bytes[..bytes.len().min(1024)];
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Kind::Ole
    } else if memchr::memmem::find(head, b"%PDF-").is_some() {
        Kind::Pdf
    } else if emf::is_metafile(bytes) {
        Kind::Metafile
    } else if emf::is_spool(bytes) {
        Kind::EmfSpool
    } else if bytes.starts_with(b"\x89PNG")
        || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || bytes.starts_with(b"GIF8")
        || bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
    {
        Kind::Image
    } else if let Some((_, what)) = UNOPENED.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        Kind::Unopened(what)
    } else if bytes.starts_with(b"BZh") && bytes.get(4..10) == Some(b"1AY&SY") {
        Kind::Unopened("bzip2 stream")
    } else if mail::looks_like_mail(name, head) {
        Kind::Mail
    } else {
        Kind::Text
    }
}

/// The state of one document's walk: limits, what has been spent, and the output.
struct Walker<'l> {
    limits: &'l Limits,
    deadline: Instant,
    timed_out: bool,
    entries: u64,
    total: u64,
    out: Extraction,
}

impl<'l> Walker<'l> {
    fn new(limits: &'l Limits) -> Walker<'l> {
        Walker {
            limits,
            deadline: Instant::now() + limits.time_budget,
            timed_out: false,
            entries: 0,
            total: 0,
            out: Extraction::default(),
        }
    }

    /// Extracts `bytes`, the object at `path`, `depth` containers deep.
    fn walk(&mut self, path: &str, bytes: &[u8], depth: u32) {
        if self.out_of_time(path) {
            return;
        }
        let kind = sniff(path, bytes);
        let container = !matches!(kind, Kind::Text | Kind::Image | Kind::Unopened(_));
        if container && depth >= self.limits.max_depth {
            let why = format!("containers nested more than {} deep", self.limits.max_depth);
            self.verdict(path, Reason::OverLimit(why));
            return;
        }
        // A parser crate that panics on a hostile document costs that document a verdict,
        // not the process (the child process bounds what a panic cannot: aborts, hangs).
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match kind {
            Kind::Zip => archive::walk(self, path, bytes, depth),
            Kind::Ole => ole::walk(self, path, bytes, depth),
            Kind::Pdf => pdf::walk(self, path, bytes, depth),
            Kind::Mail => mail::walk(self, path, bytes, depth),
            Kind::Metafile => emf::walk(self, path, bytes, false),
            Kind::EmfSpool => emf::walk(self, path, bytes, true),
            Kind::Image => self.verdict(path, Reason::Unsupported("image (text in images needs OCR)".into())),
            Kind::Unopened(what) => self.verdict(path, Reason::Unsupported(format!("{what} (not opened)"))),
            Kind::Text => self.bytes(path, bytes, false),
        }));
        if caught.is_err() {
            self.verdict(path, Reason::Corrupt(format!("{kind:?} parser failed")));
        }
    }

    /// True, with a verdict for `path` the first time, once the time budget is spent.
    fn out_of_time(&mut self, path: &str) -> bool {
        if !self.timed_out && Instant::now() > self.deadline {
            self.timed_out = true;
            self.verdict(path, Reason::Timeout);
        }
        self.timed_out
    }

    /// Counts one more entry; false (with a verdict) when there are too many.
    fn count_entry(&mut self, path: &str) -> bool {
        self.entries += 1;
        if self.entries == self.limits.max_entries + 1 {
            let why = format!("more than {} entries", self.limits.max_entries);
            self.verdict(path, Reason::OverLimit(why));
        }
        self.entries <= self.limits.max_entries
    }

    /// Reserves `size` decompressed bytes against the caps; false (with a verdict) if over.
    fn reserve(&mut self, path: &str, size: u64) -> bool {
        if size > self.limits.max_part_bytes {
            let why = format!("{size} bytes decompressed, more than {} for one part", self.limits.max_part_bytes);
            self.verdict(path, Reason::OverLimit(why));
            return false;
        }
        if self.total.saturating_add(size) > self.limits.max_total_bytes {
            let why = format!("more than {} bytes decompressed in all", self.limits.max_total_bytes);
            self.verdict(path, Reason::OverLimit(why));
            return false;
        }
        self.total += size;
        true
    }

    fn verdict(&mut self, path: &str, reason: Reason) {
        self.out.verdicts.push(Verdict::new(path, reason));
    }

    fn text(&mut self, path: &str, text: String, encoding: Option<Encoding>, prominent: bool) {
        self.table_text(path, text, encoding, prominent, Columns::default());
    }

    fn table_text(&mut self, path: &str, text: String, encoding: Option<Encoding>, prominent: bool, columns: Columns) {
        if !text.trim().is_empty() {
            let content = Content::Text { text, encoding };
            self.out.parts.push(Part { container_path: path.to_string(), content, prominent, columns });
        }
    }

    fn bytes(&mut self, path: &str, bytes: &[u8], prominent: bool) {
        if !bytes.is_empty() {
            let content = Content::Bytes(bytes.to_vec());
            let columns = Columns::default();
            self.out.parts.push(Part { container_path: path.to_string(), content, prominent, columns });
        }
    }

    /// The extraction [`extract`] makes of the plain-text document `name` (see the
    /// [`Kind::Text`] arm of [`Walker::walk`]), taking its bytes out of `bytes` rather than
    /// copying them; `bytes` is left as it was when they make no part.
    fn plain_text(limits: &Limits, name: &str, bytes: &mut Vec<u8>) -> Extraction {
        let mut walker = Walker::new(limits);
        if !walker.out_of_time(name) && !bytes.is_empty() {
            let content = Content::Bytes(std::mem::take(bytes));
            let columns = Columns::default();
            walker.out.parts.push(Part { container_path: name.to_string(), content, prominent: false, columns });
        }
        walker.out
    }

    /// Groups paragraphs into parts by font encoding and prominence, a line per paragraph: the
    /// detector set decodes each legacy part as its font says and lets stamps count by position.
    /// Table cells keep their column headers ([`Columns`]); the lines of one table row after
    /// its first do not count towards the `top` paragraphs.
    fn paragraphs(&mut self, child: &str, paragraphs: &[Paragraph], all_prominent: bool, top: usize) {
        // Keyed by the font's legacy encoding (None: Unicode) and prominence.
        type Key = (Option<Encoding>, bool);
        struct Group {
            key: Key,
            text: String,
            lines: u32,
            columns: Columns,
            /// Index of each header in `columns.headers`.
            headers: HashMap<Rc<str>, u32>,
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index = 0;
        for paragraph in paragraphs {
            if !paragraph.joined {
                index += 1;
            }
            let prominent = all_prominent || paragraph.prominent || index <= top;
            let mut lines: Vec<(Key, String)> = Vec::new();
            for (encoding, text) in &paragraph.segments {
                let key = (*encoding, prominent);
                match lines.iter_mut().find(|(k, _)| *k == key) {
                    // Runs of other fonts between two runs of this one separate words.
                    Some((_, line)) => {
                        line.push(' ');
                        line.push_str(text);
                    }
                    None => lines.push((key, text.clone())),
                }
            }
            for (key, line) in lines {
                let at = match groups.iter().position(|g| g.key == key) {
                    Some(at) => at,
                    None => {
                        let columns = Columns::default();
                        groups.push(Group { key, text: String::new(), lines: 0, columns, headers: HashMap::new() });
                        groups.len() - 1
                    }
                };
                let group = &mut groups[at];
                let breaks = u32::try_from(memchr::memchr_iter(b'\n', line.as_bytes()).count()).unwrap_or(u32::MAX);
                if let Some(header) = &paragraph.header {
                    let columns = &mut group.columns;
                    let header = *group.headers.entry(header.clone()).or_insert_with(|| {
                        columns.headers.push(header.to_string());
                        u32::try_from(columns.headers.len() - 1).unwrap_or(u32::MAX)
                    });
                    for line in group.lines..=group.lines.saturating_add(breaks) {
                        columns.lines.push((line, header));
                    }
                }
                group.text.push_str(&line);
                group.text.push('\n');
                group.lines = group.lines.saturating_add(breaks).saturating_add(1);
            }
        }
        for Group { key: (encoding, prominent), text, columns, .. } in groups {
            self.table_text(child, text, encoding, prominent, columns);
        }
    }
}
