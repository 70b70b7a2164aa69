//! Parsing untrusted documents in a child process. The parent starts a host executable — the
//! program embedding this crate, normally itself — as `HOST __extract TARGET` and sends it a
//! [`Request`] on stdin: the limits, and whether the object is the file at `TARGET` or bytes
//! that follow the request on stdin (an upload, an attachment: `TARGET` is then `-`). The child
//! puts an address-space and CPU limit on itself before it reads the object, then streams the
//! extracted parts back on stdout as length-prefixed postcard frames. The parent bounds every
//! frame and the total, kills the child at the wall-clock deadline, and turns a death or a
//! timeout into a verdict — so a parser bug or a decompression bomb costs one child, never the
//! host.
//!
//! Plain-text files never come here: nothing parses them — the child would only hand their
//! bytes back — so [`Extractor::scan_document`](super::Extractor::scan_document) scans them
//! in-process from the one read that hashed them.

use super::{Content, Extraction, Limits, Part, Reason, Verdict, extract, read_limited, root_name};
use crate::Columns;
use crate::legacy::Encoding;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The first argument a host executable is started with to be the extraction child (see
/// [`run_child_if_requested`]).
pub const SUBCOMMAND: &str = "__extract";

/// The child's argument for an object sent on its stdin: it names no file, and shows as such
/// in a process listing.
const INLINE_TARGET: &str = "-";

/// Bytes of the request the child reads before anything else; a request is a few dozen bytes
/// and a name.
const MAX_REQUEST: u32 = 64 * 1024;

/// Bytes the parent reads of the child's standard error to explain a failure.
const STDERR_TAIL: u64 = 4096;

/// Time the child gets beyond the document's budget to start and write its frames.
const GRACE: Duration = Duration::from_secs(2);

/// What the parent asks of the child, the first frame on the child's stdin.
#[derive(Serialize, Deserialize)]
pub(crate) struct Request {
    limits: Limits,
    object: Object,
}

/// Where the child finds the object to extract.
#[derive(Serialize, Deserialize)]
enum Object {
    /// The file named by the child's argument; its file name starts the container paths.
    File,
    /// The bytes that follow the request on stdin, to their end; `name` starts the container
    /// paths.
    Inline { name: String },
}

impl Request {
    /// The request for the file named by the child's argument.
    pub(crate) fn file(limits: &Limits) -> Request {
        Request { limits: limits.clone(), object: Object::File }
    }

    /// The request as the parent writes it: a length-prefixed frame.
    pub(crate) fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, self)?;
        Ok(bytes)
    }
}

/// An object for the child to extract, as the parent has it.
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    File(&'a Path),
    Inline { name: &'a str, bytes: &'a [u8] },
}

impl Source<'_> {
    /// The first element of the object's container paths.
    fn name(&self) -> String {
        match self {
            Source::File(path) => root_name(path),
            Source::Inline { name, .. } => (*name).to_owned(),
        }
    }
}

#[derive(Serialize, Deserialize)]
enum Frame {
    Part {
        container_path: String,
        content: WireContent,
        prominent: bool,
        columns: Columns,
    },
    Verdict(Verdict),
    /// The child finished: without it, the output is incomplete.
    Done,
}

#[derive(Serialize, Deserialize)]
enum WireContent {
    Text { text: String, encoding: Option<u8> },
    Bytes(#[serde(with = "byte_string")] Vec<u8>),
}

/// A byte vector as one serde byte string, which postcard copies whole, rather than as a
/// sequence it writes and reads a byte at a time (whole text files travel this way). The
/// encoding is the same: a length, then the bytes.
mod byte_string {
    use serde::{Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

fn encoding_code(encoding: Encoding) -> u8 {
    match encoding {
        Encoding::Tcvn3 => 0,
        Encoding::Vni => 1,
        Encoding::Windows1258 => 2,
        Encoding::Viscii => 3,
        Encoding::Viqr => 4,
    }
}

fn encoding_of(code: u8) -> Option<Encoding> {
    Some(match code {
        0 => Encoding::Tcvn3,
        1 => Encoding::Vni,
        2 => Encoding::Windows1258,
        3 => Encoding::Viscii,
        4 => Encoding::Viqr,
        _ => return None,
    })
}

/// Runs the extraction child when this process was started as one — its first argument is
/// [`SUBCOMMAND`] — and returns its exit code; `None` otherwise, and nothing is read.
///
/// A host calls it first thing in `main`, before it sets up logging, a runtime or anything else
/// the child does not need:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     if let Some(code) = haidang_dlp::extract::run_child_if_requested() {
///         return code;
///     }
///     // … the host's own work, using `Extractor::new`, which starts this executable as the child.
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn run_child_if_requested() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != SUBCOMMAND {
        return None;
    }
    match (args.next(), args.next()) {
        (Some(target), None) => Some(run_child(Path::new(&target))),
        _ => {
            eprintln!("usage: {SUBCOMMAND} TARGET (the DLP extraction child, started by the DLP engine)");
            Some(ExitCode::from(2))
        }
    }
}

/// The extraction child, for a host that parses its own command line and has been started as
/// `HOST __extract TARGET` ([`SUBCOMMAND`], hidden from its help): reads the request from stdin,
/// limits this process, extracts the object and writes the parts to stdout. `TARGET` is the
/// file to extract, unless the request carries the object itself. Returns the exit code for
/// `main` to return: 0 when every frame was written, 2 otherwise.
pub fn run_child(target: &Path) -> ExitCode {
    ExitCode::from(child(target))
}

fn child(target: &Path) -> u8 {
    let mut stdin = std::io::stdin().lock();
    let Some(request) = read_request(&mut stdin) else { return 2 };
    let limits = &request.limits;
    // Before the object is opened: nothing untrusted runs without the limits.
    if let Err(e) = limit_self(limits) {
        eprintln!("cannot limit the extraction process: {e}");
        return 2;
    }
    let (name, bytes) = match request.object {
        Object::File => {
            let bytes = std::fs::File::open(target)
                .map_err(|e| Reason::Corrupt(format!("cannot open: {e}")))
                .and_then(|file| read_limited(file, limits.max_input_bytes, "file"));
            (root_name(target), bytes)
        }
        Object::Inline { name } => (name, read_limited(&mut stdin, limits.max_input_bytes, "object")),
    };
    let extraction = match bytes {
        Ok(bytes) => extract(&name, &bytes, limits),
        Err(reason) => Extraction { parts: Vec::new(), verdicts: vec![Verdict::new(&name, reason)] },
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let frames = extraction
        .parts
        .into_iter()
        .map(|part| Frame::Part {
            container_path: part.container_path,
            content: match part.content {
                Content::Text { text, encoding } => WireContent::Text { text, encoding: encoding.map(encoding_code) },
                Content::Bytes(bytes) => WireContent::Bytes(bytes),
            },
            prominent: part.prominent,
            columns: part.columns,
        })
        .chain(extraction.verdicts.into_iter().map(Frame::Verdict))
        .chain(std::iter::once(Frame::Done));
    for frame in frames {
        if write_frame(&mut out, &frame).is_err() {
            return 2;
        }
    }
    if out.flush().is_err() { 2 } else { 0 }
}

/// The request frame at the start of `input`, read to its end and no further: an inline
/// object follows it.
fn read_request(input: &mut impl Read) -> Option<Request> {
    let mut length = [0; 4];
    input.read_exact(&mut length).ok()?;
    let length = u32::from_le_bytes(length);
    if length > MAX_REQUEST {
        return None;
    }
    let mut bytes = Vec::new();
    input.take(u64::from(length)).read_to_end(&mut bytes).ok()?;
    postcard::from_bytes(&bytes).ok()
}

fn write_frame(out: &mut impl Write, frame: &impl Serialize) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(frame).map_err(std::io::Error::other)?;
    let length = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(&bytes)
}

/// What the parent read from the child.
struct Received {
    extraction: Extraction,
    done: bool,
    /// Why reading stopped early (a frame over the bound, a frame that does not decode).
    error: Option<String>,
}

/// Reads frames until the end of the stream, a bad frame or `Done`, within the bounds.
fn read_frames(mut stdout: impl Read, max_frame: u64, max_total: u64) -> Received {
    let mut received = Received { extraction: Extraction::default(), done: false, error: None };
    let mut total = 0u64;
    loop {
        let mut length = [0; 4];
        if stdout.read_exact(&mut length).is_err() {
            return received;
        }
        let length = u64::from(u32::from_le_bytes(length));
        total = total.saturating_add(length);
        if length > max_frame || total > max_total {
            received.error = Some(format!("child output over its bound ({length} byte frame, {total} in all)"));
            return received;
        }
        let mut bytes = Vec::new();
        if stdout.by_ref().take(length).read_to_end(&mut bytes).is_err() || bytes.len() as u64 != length {
            return received;
        }
        match postcard::from_bytes::<Frame>(&bytes) {
            Ok(Frame::Part { container_path, content, prominent, columns }) => {
                let content = match content {
                    WireContent::Text { text, encoding } => {
                        Content::Text { text, encoding: encoding.and_then(encoding_of) }
                    }
                    WireContent::Bytes(bytes) => Content::Bytes(bytes),
                };
                received.extraction.parts.push(Part { container_path, content, prominent, columns });
            }
            Ok(Frame::Verdict(verdict)) => received.extraction.verdicts.push(verdict),
            Ok(Frame::Done) => {
                received.done = true;
                return received;
            }
            Err(e) => {
                received.error = Some(format!("bad frame from child: {e}"));
                return received;
            }
        }
    }
}

/// Runs the child on `object`. Whatever the child streamed before it failed is kept, with a
/// verdict saying why the object was not fully inspected.
pub(super) fn run_partial(helper: &Path, object: Source<'_>, limits: &Limits) -> (Extraction, Option<Verdict>) {
    let name = object.name();
    let fail = |reason| (Extraction::default(), Some(Verdict::new(&name, reason)));
    let (target, request, inline) = match object {
        Source::File(path) => (path.as_os_str(), Request::file(limits), &[][..]),
        Source::Inline { name, bytes } => (
            OsStr::new(INLINE_TARGET),
            Request { limits: limits.clone(), object: Object::Inline { name: name.to_owned() } },
            bytes,
        ),
    };
    let request = match request.encode() {
        Ok(request) => request,
        Err(e) => return fail(Reason::ChildFailed(format!("cannot encode the request: {e}"))),
    };
    let mut command = Command::new(helper);
    command.arg(SUBCOMMAND).arg(target).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return fail(Reason::ChildFailed(format!("cannot start {}: {e}", helper.display()))),
    };
    let (Some(mut stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return fail(Reason::ChildFailed("no pipes to the child".into()));
    };
    let max_frame = limits.max_part_bytes.max(limits.max_input_bytes).saturating_add(1 << 20);
    let max_total = limits.max_total_bytes.saturating_add(limits.max_input_bytes).saturating_add(16 << 20);
    std::thread::scope(|scope| {
        // Its own thread: an inline object fills the pipe, and a child that never reads it
        // must not keep the parent from its deadline. Killing the child ends the write. A
        // failed write needs no report of its own: the child, without its input, fails.
        scope.spawn(move || {
            let _ = stdin.write_all(&request).and_then(|()| stdin.write_all(inline));
        });
        let (output_ended, ended) = std::sync::mpsc::channel();
        let reader = scope.spawn(move || {
            let received = read_frames(stdout, max_frame, max_total);
            let _ = output_ended.send(());
            received
        });
        let errors = scope.spawn(move || {
            let mut stderr = stderr;
            let mut tail = Vec::new();
            let _ = stderr.by_ref().take(STDERR_TAIL).read_to_end(&mut tail);
            // Keep draining so a chatty child never blocks on a full pipe.
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&tail).trim().to_string()
        });
        let deadline = Instant::now() + limits.time_budget + GRACE;
        // The child's output ends when it exits: waiting for that, rather than polling its
        // status from the start, keeps a few-millisecond document from costing a whole polling
        // interval.
        let _ = ended.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(Reason::Timeout);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(Reason::ChildFailed(format!("waiting for the child: {e}")));
                }
            }
        };
        let received =
            reader.join().unwrap_or(Received { extraction: Extraction::default(), done: false, error: None });
        let stderr = errors.join().unwrap_or_default();
        let reason = match status {
            Err(reason) => Some(reason),
            Ok(_) if received.error.is_some() => received.error.map(Reason::ChildFailed),
            Ok(status) if status.success() && received.done => None,
            Ok(status) => Some(Reason::ChildFailed(describe(status, &stderr))),
        };
        (received.extraction, reason.map(|reason| Verdict::new(&name, reason)))
    })
}

/// Runs the child on `object`; its death or timeout is the `Err`.
pub(super) fn run(helper: &Path, object: Source<'_>, limits: &Limits) -> Result<Extraction, Verdict> {
    match run_partial(helper, object, limits) {
        (extraction, None) => Ok(extraction),
        (_, Some(verdict)) => Err(verdict),
    }
}

/// Why a child failed, in words an analyst can act on.
fn describe(status: std::process::ExitStatus, stderr: &str) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let hint = match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => Some("CPU time limit"),
            Some(libc::SIGABRT) if stderr.contains("memory allocation") => Some("memory limit"),
            Some(libc::SIGSEGV) => Some("crash or stack overflow"),
            _ => None,
        };
        if let Some(signal) = status.signal() {
            let hint = hint.map_or(String::new(), |h| format!(" ({h})"));
            return format!("killed by signal {signal}{hint}: {}", last_line(stderr));
        }
    }
    format!("{status}: {}", last_line(stderr))
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message")
}

/// Puts the memory and CPU limits on this process, the child, before it reads the document.
/// The child applies them itself, rather than the parent between fork and exec, so the parent
/// can start it with posix_spawn: forking the agent (its page tables, hundreds of MB mapped)
/// for every document cost more system time than most documents take to parse.
#[cfg(unix)]
fn limit_self(limits: &Limits) -> std::io::Result<()> {
    let memory = libc::rlimit { rlim_cur: limits.child_memory, rlim_max: limits.child_memory };
    // SIGXCPU at the soft limit, SIGKILL a second later at the hard one.
    let seconds = limits.time_budget.as_secs().saturating_add(1);
    let cpu = libc::rlimit { rlim_cur: seconds, rlim_max: seconds.saturating_add(1) };
    let core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    for (resource, value) in [(libc::RLIMIT_AS, &memory), (libc::RLIMIT_CPU, &cpu), (libc::RLIMIT_CORE, &core)] {
        // SAFETY: setrlimit reads the struct it is given and has no other preconditions.
        if unsafe { libc::setrlimit(resource, value) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Windows has no rlimits; a job object with memory and CPU limits is the equivalent to
/// add with the Windows agent. Until then the wall-clock timeout still applies.
#[cfg(not(unix))]
fn limit_self(_limits: &Limits) -> std::io::Result<()> {
    Ok(())
}
