//! The printing channel (shared/dlp-vn.md §7): print jobs queued in CUPS, inspected before
//! they print; `block` cancels the job.
//!
//! Why printers must be in hold mode: CUPS hands a queued job to its backend at once, and a
//! fast queue prints in milliseconds, before any watcher of the spool can even read the data
//! file. Holding a job after noticing it (`lp -i JOB -H hold`) is a race the agent would
//! sometimes lose, so blocking would be best effort. Deterministic blocking needs the job
//! held from the moment it is queued, which CUPS does itself for a printer whose default is
//! `job-hold-until=indefinite` (`lpadmin -p PRINTER -o job-hold-until-default=indefinite`).
//! The agent then inspects every held job once and releases it (IPP Release-Job, as
//! `lp -i JOB -H resume`) or, on `block`, cancels it (IPP Cancel-Job, as `cancel JOB`). A job
//! it finds still pending (a printer not in hold mode) it holds first, best effort; one
//! already printing is inspected and cancelled if it can still be, and the verdict says so.
//!
//! How jobs are noticed: the spool directory is listed every [`TICK`]; a data file
//! `d<job>-<doc>` of a job not yet seen makes the agent ask cupsd (IPP Get-Jobs over its
//! local socket, authenticated by peer credentials: the agent runs as root) for the jobs not
//! completed, with their printer, user (`job-originating-user-name`) and document name
//! (`job-name`). Those come from IPP rather than from the spool's control files because cupsd
//! writes `c<job>` files lazily, long after the job is queued. cupsd's answer is untrusted
//! bytes all the same: [`parse_jobs`] is bounded and never panics (fuzzed).
//!
//! Events: the `dlp` and `dlp_verdict` events of a job name it `cups:PRINTER/JOB (USER) TITLE`
//! in `path`; the verdict's `detail` says the same in words and what came of the action.
//! Jobs of several documents are judged on all of them; a job is blocked if any is. A client
//! sends a job's documents one after another, and cupsd shows nothing of those still to come
//! on a held job, so a job is judged once its newest document has been in the spool for
//! [`SETTLE`]. Documents that come later still are judged on their own: the job is cancelled
//! if it has not ended, and the verdict says so if it has.

use super::inspect::{Inspector, Judged};
use crate::spool::Observation;
use haidang_dlp::{Action, Channel};
use haidang_proto::{EventBody, Text};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the spool is listed.
pub const TICK: Duration = Duration::from_millis(250);
/// How long a job's newest document must have been in the spool before the job is judged: a
/// client sends the documents of one job one after another (Create-Job, then Send-Document
/// for each), and a job judged and released between two of them would be judged on the
/// first alone. cupsd shows no sign of documents still to come on a held job.
pub const SETTLE: Duration = Duration::from_secs(1);
/// cupsd's local socket (Debian), and its older name.
const SOCKETS: [&str; 2] = ["/run/cups/cups.sock", "/var/run/cups/cups.sock"];
/// The largest IPP answer read from cupsd.
const MAX_RESPONSE: usize = 8 << 20;
/// The most jobs taken from one answer.
const MAX_JOBS: usize = 10_000;
/// The longest string attribute kept (bytes).
const MAX_TEXT: usize = 1024;
/// How long one exchange with cupsd may take.
const IPP_TIMEOUT: Duration = Duration::from_secs(10);
/// After cupsd could not be asked, the next try is this much later.
const RETRY: Duration = Duration::from_secs(2);

/// IPP job states (RFC 8011 §5.3.7).
pub const PENDING: i32 = 3;
pub const HELD: i32 = 4;
pub const PROCESSING: i32 = 5;
pub const PROCESSING_STOPPED: i32 = 6;
pub const CANCELED: i32 = 7;
pub const COMPLETED: i32 = 9;

/// One job as cupsd describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrintJob {
    pub id: u32,
    pub state: i32,
    /// The queue's name (last segment of `job-printer-uri`).
    pub printer: String,
    pub user: String,
    /// The document name the user's application gave (`job-name`).
    pub title: String,
}

impl PrintJob {
    /// The name of the job in events: `cups:PRINTER/JOB (USER) TITLE`.
    pub fn label(&self) -> String {
        format!("cups:{}/{} ({}) {}", self.printer, self.id, self.user, self.title)
    }
}

/// Reads a big-endian u16 at `*at`, advancing.
fn u16_at(b: &[u8], at: &mut usize) -> Option<usize> {
    let v = b.get(*at..at.checked_add(2)?)?;
    *at += 2;
    Some(usize::from(u16::from_be_bytes([v[0], v[1]])))
}

fn bytes_at<'a>(b: &'a [u8], at: &mut usize, len: usize) -> Option<&'a [u8]> {
    let v = b.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(v)
}

fn text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_TEXT)];
    String::from_utf8_lossy(bytes).chars().filter(|c| !c.is_control()).collect()
}

/// The status code and the jobs of an IPP Get-Jobs answer (RFC 8010 §3.1): each
/// job-attributes group becomes a [`PrintJob`]; other groups, collections and unknown tags
/// are skipped. Refuses truncated or malformed messages; never panics.
pub fn parse_jobs(body: &[u8]) -> Result<(u16, Vec<PrintJob>), String> {
    let header = body.get(..8).ok_or("IPP answer shorter than its header")?;
    let status = u16::from_be_bytes([header[2], header[3]]);
    let mut at = 8;
    let mut jobs = Vec::new();
    let mut current: Option<PrintJob> = None;
    loop {
        let tag = *body.get(at).ok_or("IPP answer ends before its end tag")?;
        at += 1;
        if tag < 0x10 {
            if let Some(job) = current.take()
                && jobs.len() < MAX_JOBS
            {
                jobs.push(job);
            }
            match tag {
                0x03 => return Ok((status, jobs)),
                0x02 => current = Some(PrintJob::default()),
                _ => {}
            }
            continue;
        }
        let start = at;
        let bad = || format!("malformed IPP attribute at byte {start}");
        let name_len = u16_at(body, &mut at).ok_or_else(bad)?;
        let name = bytes_at(body, &mut at, name_len).ok_or_else(bad)?;
        let value_len = u16_at(body, &mut at).ok_or_else(bad)?;
        let value = bytes_at(body, &mut at, value_len).ok_or_else(bad)?;
        let Some(job) = current.as_mut() else { continue };
        let int = || <[u8; 4]>::try_from(value).ok().map(i32::from_be_bytes);
        match (tag, name) {
            (0x21, b"job-id") => job.id = int().and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
            (0x23, b"job-state") => job.state = int().unwrap_or(0),
            (0x45, b"job-printer-uri") => {
                let uri = text(value);
                job.printer = uri.rsplit('/').next().unwrap_or_default().to_owned();
            }
            (0x41 | 0x42 | 0x36, b"job-originating-user-name") => job.user = with_language(tag, value),
            (0x41 | 0x42 | 0x36, b"job-name") => job.title = with_language(tag, value),
            _ => {}
        }
    }
}

/// A text or name value; `…WithLanguage` (0x35, 0x36) carries the language first.
fn with_language(tag: u8, value: &[u8]) -> String {
    if tag == 0x36 || tag == 0x35 {
        let mut at = 0;
        let inner = u16_at(value, &mut at)
            .and_then(|n| bytes_at(value, &mut at, n))
            .and_then(|_| u16_at(value, &mut at))
            .and_then(|n| bytes_at(value, &mut at, n));
        return inner.map(text).unwrap_or_default();
    }
    text(value)
}

fn attribute(out: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(value);
}

/// An IPP request: operation `op` with the operation attributes `extra` after the charset
/// and language every request starts with.
fn request(op: u16, extra: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![2, 0];
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.push(0x01);
    attribute(&mut out, 0x47, "attributes-charset", b"utf-8");
    attribute(&mut out, 0x48, "attributes-natural-language", b"en");
    extra(&mut out);
    out.push(0x03);
    out
}

/// A client of the local cupsd.
pub struct Cups {
    socket: PathBuf,
}

impl Cups {
    /// The cupsd socket of this machine (the first that exists, else the usual one: cupsd may
    /// start after the agent).
    pub fn locate() -> Cups {
        let socket =
            SOCKETS.iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| PathBuf::from(SOCKETS[0]));
        Cups { socket }
    }

    /// Sends one IPP request; the answer's body. HTTP/1.0, so cupsd answers with the whole
    /// body and closes (no chunking); peer credentials tell cupsd who asks.
    fn exchange(&self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(IPP_TIMEOUT))?;
        stream.set_write_timeout(Some(IPP_TIMEOUT))?;
        let user = whoami();
        let head = format!(
            "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\
             Authorization: PeerCred {user}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut answer = Vec::new();
        stream.take(MAX_RESPONSE as u64 + 1).read_to_end(&mut answer)?;
        if answer.len() > MAX_RESPONSE {
            return Err(std::io::Error::other("cupsd's answer is too large"));
        }
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("cupsd's answer has no end of headers"))?;
        let status_line =
            String::from_utf8_lossy(answer.split(|&b| b == b'\n').next().unwrap_or_default()).into_owned();
        if status_line.split_whitespace().nth(1) != Some("200") {
            return Err(std::io::Error::other(format!("cupsd answered {}", status_line.trim())));
        }
        Ok(answer.split_off(split + 4))
    }

    /// The jobs not completed, on every queue.
    pub fn jobs(&self) -> Result<Vec<PrintJob>, String> {
        let body = request(0x000A, |out| {
            attribute(out, 0x45, "printer-uri", b"ipp://localhost/");
            attribute(out, 0x44, "which-jobs", b"not-completed");
            attribute(out, 0x44, "requested-attributes", b"job-id");
            for name in ["job-state", "job-printer-uri", "job-originating-user-name", "job-name"] {
                attribute(out, 0x44, "", name.as_bytes());
            }
        });
        let answer = self.exchange(&body).map_err(|e| format!("cannot ask cupsd for its jobs: {e}"))?;
        let (status, jobs) = parse_jobs(&answer)?;
        if status >= 0x0100 {
            return Err(format!("cupsd refused Get-Jobs: status {status:#06x}"));
        }
        Ok(jobs)
    }

    /// One job, whatever its state (IPP Get-Job-Attributes).
    pub fn job(&self, id: u32) -> Result<Option<PrintJob>, String> {
        let body = request(0x0009, |out| {
            attribute(out, 0x45, "job-uri", format!("ipp://localhost/jobs/{id}").as_bytes());
            attribute(out, 0x44, "requested-attributes", b"all");
        });
        let answer = self.exchange(&body).map_err(|e| e.to_string())?;
        let (status, jobs) = parse_jobs(&answer)?;
        if status >= 0x0100 {
            return Ok(None);
        }
        Ok(jobs.into_iter().next())
    }

    /// Hold-Job (0x000C), Release-Job (0x000D) or Cancel-Job (0x0008) on job `id`.
    fn job_operation(&self, op: u16, id: u32) -> Result<(), String> {
        let body = request(op, |out| {
            attribute(out, 0x45, "job-uri", format!("ipp://localhost/jobs/{id}").as_bytes());
            attribute(out, 0x42, "requesting-user-name", whoami().as_bytes());
        });
        let answer = self.exchange(&body).map_err(|e| e.to_string())?;
        let (status, _) = parse_jobs(&answer)?;
        if status >= 0x0100 {
            return Err(format!("cupsd refused: status {status:#06x}"));
        }
        Ok(())
    }

    pub fn hold(&self, id: u32) -> Result<(), String> {
        self.job_operation(0x000C, id)
    }

    pub fn release(&self, id: u32) -> Result<(), String> {
        self.job_operation(0x000D, id)
    }

    pub fn cancel(&self, id: u32) -> Result<(), String> {
        self.job_operation(0x0008, id)
    }
}

fn whoami() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 { "root".to_owned() } else { uid.to_string() }
}

/// The data files in the spool, by job id: `d<job>-<doc>`, in document order.
pub fn spooled(spool: &Path) -> std::io::Result<BTreeMap<u32, Vec<PathBuf>>> {
    let mut jobs: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(spool)?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((job, doc)) = name.strip_prefix('d').and_then(|n| n.split_once('-')) else { continue };
        let (Ok(job), Ok(_)) = (job.parse::<u32>(), doc.parse::<u32>()) else { continue };
        jobs.entry(job).or_default().push(entry.path());
    }
    for files in jobs.values_mut() {
        files.sort();
    }
    Ok(jobs)
}

/// Follows the spool and judges each job once its documents have settled, and documents that
/// arrive later on their own.
pub struct PrintWatcher {
    pub spool: PathBuf,
    pub cups: Cups,
    pub inspector: Arc<Inspector>,
    pub found: tokio::sync::mpsc::Sender<Vec<Observation>>,
    /// Where `status` reads what the print channel is doing.
    pub status: Arc<super::ChannelStatus>,
}

impl PrintWatcher {
    pub fn run(self, stop: &AtomicBool) {
        let watching = format!("holding and inspecting jobs in {}", self.spool.display());
        self.status.set_print(watching.clone());
        // How many documents of each job have been judged (or passed over).
        let mut judged: HashMap<u32, usize> = HashMap::new();
        // Said once when listing starts failing (e.g. not root), not every retry.
        let mut spool_unreadable = false;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            let files = match spooled(&self.spool) {
                Ok(files) => {
                    if std::mem::take(&mut spool_unreadable) {
                        self.status.set_print(watching.clone());
                        tracing::info!(spool = %self.spool.display(), "the CUPS spool is readable again");
                    }
                    files
                }
                Err(e) => {
                    if !std::mem::replace(&mut spool_unreadable, true) {
                        self.status.set_print(format!("not inspecting: cannot list {}: {e}", self.spool.display()));
                        tracing::warn!(spool = %self.spool.display(), error = %e, "cannot list the CUPS spool; print jobs are not inspected until it can be read");
                    }
                    std::thread::sleep(Duration::from_secs(5));
                    continue;
                }
            };
            // Data files of jobs long gone are forgotten, and so is their id.
            judged.retain(|id, _| files.contains_key(id));
            let unjudged = |id: &u32, data: &Vec<PathBuf>| judged.get(id).is_none_or(|&n| n < data.len());
            if !files.iter().any(|(id, data)| unjudged(id, data)) {
                continue;
            }
            let jobs = match self.cups.jobs() {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "DLP print: cannot list the jobs");
                    std::thread::sleep(RETRY);
                    continue;
                }
            };
            let active: HashSet<u32> = jobs.iter().map(|j| j.id).collect();
            let mut events = Vec::new();
            for (&id, data) in files.iter().filter(|(id, _)| !active.contains(id)) {
                match judged.insert(id, data.len()) {
                    // Documents that came after the job was judged, and it has ended since.
                    Some(before) if before < data.len() => match self.cups.job(id) {
                        Ok(Some(job)) => events.extend(self.judge(&job, &data[before..])),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(job = id, error = %e, "DLP print: cannot ask cupsd of a job with documents added late; they are not inspected")
                        }
                    },
                    // Completed, cancelled or aborted before the agent saw it: nothing to hold.
                    _ => {}
                }
            }
            for job in jobs {
                let Some(data) = files.get(&job.id) else { continue };
                let before = judged.get(&job.id).copied().unwrap_or(0);
                if before >= data.len() {
                    continue;
                }
                if !settled(&data[before..]) {
                    // A printer not in hold mode prints a pending job at once: it is held now,
                    // best effort, and judged when its documents have settled.
                    if job.state == PENDING
                        && let Err(e) = self.cups.hold(job.id)
                    {
                        tracing::debug!(job = %job.label(), error = %e, "DLP print: cannot hold the pending job yet");
                    }
                    continue;
                }
                judged.insert(job.id, data.len());
                events.extend(self.judge(&job, &data[before..]));
            }
            if !events.is_empty() && self.found.blocking_send(super::observations(events)).is_err() {
                return;
            }
        }
    }

    /// Holds, inspects, and releases or cancels one job; the events to record.
    fn judge(&self, job: &PrintJob, data: &[PathBuf]) -> Vec<EventBody> {
        let mut notes = Vec::new();
        // Whether the job waits for the agent: only then is it released after inspection.
        let held = match job.state {
            PENDING => match self.cups.hold(job.id) {
                Ok(()) => true,
                Err(e) => {
                    notes.push(format!("could not hold the pending job: {e}"));
                    false
                }
            },
            HELD => true,
            PROCESSING | PROCESSING_STOPPED => {
                notes.push("the job was already printing when the agent saw it".to_owned());
                false
            }
            // Documents that arrived after the job was judged and released: recorded.
            _ => {
                notes.push("these documents arrived after the job was judged, and it had ended".to_owned());
                false
            }
        };
        // Cancelled, aborted or completed.
        let ended = job.state >= CANCELED;
        let label = job.label();
        let shown = Text::from(label.clone());
        let mut events = Vec::new();
        let mut verdict: Option<haidang_proto::event::DlpVerdict> = None;
        let mut blocked = false;
        for path in data {
            let Some(Judged { events: found, verdict: v, action }) = self.inspector.judge(path, &shown, Channel::Print)
            else {
                continue;
            };
            events.extend(found);
            blocked |= action == Action::Block;
            let worse = verdict.as_ref().is_none_or(|old| rank(&v.action) > rank(&old.action));
            if worse {
                verdict = Some(v);
            }
        }
        let acted = match (blocked, held) {
            (true, _) if !ended => self.cups.cancel(job.id),
            (false, true) => self.cups.release(job.id),
            _ => Ok(()),
        };
        let mut what = format!(
            "printer {}, job {}, user {}, document {:?}",
            Text::from(job.printer.as_str()).display_safe(),
            job.id,
            Text::from(job.user.as_str()).display_safe(),
            job.title
        );
        let outcome = match (&acted, blocked) {
            (Ok(()), true) if !ended => "cancelled",
            (Err(_), true) => "cancel_failed",
            _ => "recorded",
        };
        match &acted {
            Ok(()) if blocked && ended => {
                tracing::warn!(job = %label, "DLP block: documents added to a print job that had ended");
            }
            Ok(()) if blocked => {
                tracing::warn!(job = %label, "DLP block: print job cancelled");
            }
            Ok(()) if held => tracing::debug!(job = %label, "DLP print: job released"),
            Ok(()) => {}
            Err(e) => {
                let doing = if blocked { "cancel" } else { "release" };
                tracing::error!(job = %label, error = %e, "DLP print: cannot {doing} the job");
                notes.push(format!("could not {doing} the job: {e}"));
            }
        }
        let Some(mut verdict) = verdict else { return Vec::new() };
        for note in notes {
            what.push_str("; ");
            what.push_str(&note);
        }
        verdict.outcome = outcome.to_owned();
        verdict.detail = what;
        events.push(EventBody::DlpVerdict(verdict));
        events
    }
}

/// Whether the newest of `data` has been in the spool for [`SETTLE`] (a file whose age cannot
/// be read counts as settled: it is judged rather than left waiting).
fn settled(data: &[PathBuf]) -> bool {
    data.iter().all(|path| {
        let age = std::fs::metadata(path).and_then(|m| m.modified()).map(|t| t.elapsed().unwrap_or_default());
        age.map_or(true, |age| age >= SETTLE)
    })
}

fn rank(action: &str) -> u8 {
    match action {
        "block" => 3,
        "alert" => 2,
        "audit" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(groups: &[&[(u8, &str, &[u8])]]) -> Vec<u8> {
        let mut out = vec![2, 0, 0, 0, 0, 0, 0, 1, 0x01];
        attribute(&mut out, 0x47, "attributes-charset", b"utf-8");
        for group in groups {
            out.push(0x02);
            for (tag, name, value) in *group {
                attribute(&mut out, *tag, name, value);
            }
        }
        out.push(0x03);
        out
    }

    #[test]
    fn get_jobs_answers_are_parsed() {
        let title = "Báo cáo quý III.docx".as_bytes();
        let body = answer(&[
            &[
                (0x45, "job-printer-uri", b"ipp://localhost:631/printers/tang-3"),
                (0x42, "job-originating-user-name", b"an"),
                (0x42, "job-name", title),
                (0x21, "job-id", &7i32.to_be_bytes()),
                (0x23, "job-state", &4i32.to_be_bytes()),
                (0x44, "other", b"x"),
                (0x44, "", b"y"),
            ],
            &[(0x21, "job-id", &8i32.to_be_bytes()), (0x23, "job-state", &3i32.to_be_bytes())],
        ]);
        let (status, jobs) = parse_jobs(&body).expect("parse");
        assert_eq!(status, 0);
        assert_eq!(
            jobs,
            vec![
                PrintJob {
                    id: 7,
                    state: 4,
                    printer: "tang-3".into(),
                    user: "an".into(),
                    title: "Báo cáo quý III.docx".into()
                },
                PrintJob { id: 8, state: 3, ..PrintJob::default() },
            ]
        );
        assert_eq!(jobs[0].label(), "cups:tang-3/7 (an) Báo cáo quý III.docx");
    }

    #[test]
    fn malformed_answers_are_refused_without_panicking() {
        let body = answer(&[&[(0x21, "job-id", &7i32.to_be_bytes())]]);
        for cut in 0..body.len() {
            assert!(parse_jobs(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut lang = Vec::new();
        lang.extend_from_slice(&2u16.to_be_bytes());
        lang.extend_from_slice(b"vi");
        lang.extend_from_slice(&3u16.to_be_bytes());
        lang.extend_from_slice(b"abc");
        assert_eq!(with_language(0x36, &lang), "abc");
        assert_eq!(with_language(0x36, &lang[..5]), "");
        assert_eq!(parse_jobs(&answer(&[&[(0x21, "job-id", b"\x01")]])).expect("short int").1[0].id, 0);
    }

    #[test]
    fn spooled_data_files_are_grouped_by_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["d00003-002", "d00003-001", "d00012-001", "c00003", "d-1", "dx-001", "tmp"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        let jobs = spooled(dir.path()).expect("list");
        assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), vec![3, 12]);
        assert_eq!(jobs[&3], vec![dir.path().join("d00003-001"), dir.path().join("d00003-002")]);
    }
}
