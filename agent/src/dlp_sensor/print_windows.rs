//! The printing channel on Windows (shared/dlp-vn.md §7): jobs in the print spooler,
//! inspected before they print; `block` deletes the job.
//!
//! How jobs are noticed: every local printer and printer connection (`EnumPrintersW`) is
//! opened, and its jobs listed (`EnumJobsW`) every [`TICK`] and at once when the spooler
//! signals a job added or changed (`FindFirstPrinterChangeNotification`). The printers are
//! listed again every [`REREAD`].
//!
//! Holding: a job is paused (`SetJobW` `JOB_CONTROL_PAUSE`) the first time it is seen, most
//! often while the application is still spooling it, and judged once it is spooled whole (its
//! status no longer says `JOB_STATUS_SPOOLING`). Pausing after noticing is a race a fast,
//! small job can win on a printer that starts printing while spooling; a printer set to
//! "start printing after last page is spooled" (`PRINTER_ATTRIBUTE_QUEUED`) cannot print a
//! job before the agent has seen it spooling, so there blocking is deterministic — as a CUPS
//! printer in hold mode is on Linux. A job found already printing is inspected and deleted
//! if it can still be, and the verdict says which.
//!
//! Reading: the spooled data comes from the spooler itself (`ReadPrinter` on the handle
//! `PRINTER,Job N`), as a print processor reads it, so the agent needs no spool directory
//! path and reads a pooled spool file as well as a plain one. What the data is depends on
//! the job's data type: `NT EMF 1.00x` is an EMF spool file (text of every page from its
//! text records); `RAW` is what the driver or application made — PDF, PostScript or PCL
//! (their text read as text), XPS (a zip) — and `TEXT` is text. All of it goes to the shared
//! DLP extractor (in its child process) like any other document; what it cannot read
//! (glyph-index text, page images, unknown printer languages) is "could not inspect", which
//! the policy acts on as on Linux: allowed and recorded, or blocked where the policy says.
//!
//! Deciding: the verdict's `path` names the job `spooler:PRINTER/JOB (USER) DOCUMENT`; a
//! blocked job is deleted (`JOB_CONTROL_DELETE`), with no copy kept in the vault (as on
//! Linux: a print job is not a file the user has); any other job the agent paused is
//! resumed. A job paused by someone else stays paused.

use super::inspect::{Inspector, Judged};
use crate::spool::Observation;
use haidang_dlp::{Action, Channel};
use haidang_proto::{EventBody, Text};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE, WAIT_FAILED, WAIT_OBJECT_0};
use windows_sys::Win32::Graphics::Printing::{
    ClosePrinter, EnumJobsW, EnumPrintersW, FindClosePrinterChangeNotification, FindFirstPrinterChangeNotification,
    FindNextPrinterChangeNotification, JOB_CONTROL_DELETE, JOB_CONTROL_PAUSE, JOB_CONTROL_RESUME, JOB_INFO_1W,
    JOB_STATUS_PAUSED, JOB_STATUS_PRINTED, JOB_STATUS_PRINTING, JOB_STATUS_SPOOLING, OpenPrinterW,
    PRINTER_CHANGE_ADD_JOB, PRINTER_CHANGE_SET_JOB, PRINTER_ENUM_CONNECTIONS, PRINTER_ENUM_LOCAL, PRINTER_HANDLE,
    PRINTER_INFO_4W, ReadPrinter, SetJobW,
};
use windows_sys::Win32::System::Threading::WaitForMultipleObjects;

/// How often the jobs are listed when the spooler signals nothing.
pub(super) const TICK: Duration = Duration::from_millis(250);
/// How often the printers are listed again.
const REREAD: Duration = Duration::from_secs(30);
/// The most handles one wait can take (`MAXIMUM_WAIT_OBJECTS`); printers past it are polled.
const MAX_WAIT: usize = 64;
/// The most jobs taken from one printer's list.
const MAX_JOBS: u32 = 1024;

/// One job as the spooler describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct SpoolJob {
    pub(super) printer: String,
    pub(super) id: u32,
    pub(super) user: String,
    pub(super) document: String,
    /// The spool data type: `NT EMF 1.008`, `RAW`, `TEXT`, `XPS2GDI`.
    pub(super) datatype: String,
    /// `JOB_STATUS_*` bits.
    pub(super) status: u32,
}

impl SpoolJob {
    /// The name of the job in events: `spooler:PRINTER/JOB (USER) DOCUMENT`.
    pub(super) fn label(&self) -> String {
        format!("spooler:{}/{} ({}) {}", self.printer, self.id, self.user, self.document)
    }

    fn spooling(&self) -> bool {
        self.status & JOB_STATUS_SPOOLING != 0
    }
}

/// An open printer handle, closed on drop.
pub(super) struct Printer {
    name: String,
    handle: PRINTER_HANDLE,
    /// Signalled by the spooler when a job is added or changes; `None` where it cannot be had.
    change: Option<HANDLE>,
    /// Why its jobs cannot be listed, while they cannot.
    trouble: Option<String>,
}

// SAFETY: spooler handles are not bound to the thread that opened them.
unsafe impl Send for Printer {}

impl Printer {
    /// Opens the printer `name` (or `PRINTER,Job N`: a job's data, for [`Printer::read_all`]).
    pub(super) fn open(name: &str) -> io::Result<Printer> {
        let wide = wide(name);
        let mut handle = PRINTER_HANDLE::default();
        // SAFETY: `wide` is NUL-terminated; `handle` is written on success.
        if unsafe { OpenPrinterW(wide.as_ptr(), &mut handle, std::ptr::null()) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Printer { name: name.to_owned(), handle, change: None, trouble: None })
    }

    /// Asks the spooler to signal added and changed jobs.
    fn watch(&mut self) -> Result<(), String> {
        // SAFETY: the handle is open; no notify options.
        let change = unsafe {
            FindFirstPrinterChangeNotification(
                self.handle,
                PRINTER_CHANGE_ADD_JOB | PRINTER_CHANGE_SET_JOB,
                0,
                std::ptr::null(),
            )
        };
        if change.is_null() || change == INVALID_HANDLE_VALUE {
            return Err(format!("FindFirstPrinterChangeNotification: {}", io::Error::last_os_error()));
        }
        self.change = Some(change);
        Ok(())
    }

    /// The jobs queued on this printer.
    pub(super) fn jobs(&self) -> io::Result<Vec<SpoolJob>> {
        // SAFETY: the spooler writes at most `bytes` into the buffer it is given.
        let (buffer, count) = enumerate(64 << 20, |buffer, bytes, needed, count| unsafe {
            EnumJobsW(self.handle, 0, MAX_JOBS, 1, buffer, bytes, needed, count)
        })?;
        let count = count.min(buffer.len() * 8 / size_of::<JOB_INFO_1W>());
        // SAFETY: the spooler wrote `count` JOB_INFO_1W at the start of the buffer, their
        // strings after them in the same buffer, which lives until the end of this function.
        let infos = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast::<JOB_INFO_1W>(), count) };
        Ok(infos
            .iter()
            .map(|info| SpoolJob {
                printer: self.name.clone(),
                id: info.JobId,
                // SAFETY: NULL or NUL-terminated strings inside the buffer.
                user: unsafe { string(info.pUserName) },
                document: unsafe { string(info.pDocument) },
                datatype: unsafe { string(info.pDatatype) },
                status: info.Status,
            })
            .collect())
    }

    /// `JOB_CONTROL_PAUSE`, `JOB_CONTROL_RESUME` or `JOB_CONTROL_DELETE` on job `id`.
    pub(super) fn control(&self, id: u32, command: u32) -> io::Result<()> {
        // SAFETY: the handle is open; level 0 takes no job information.
        match unsafe { SetJobW(self.handle, id, 0, std::ptr::null(), command) } {
            0 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    }

    /// Reads what this handle — opened as `PRINTER,Job N` — gives, up to `max` bytes: more
    /// than `max` is cut at `max + 1` so the extractor says the job was too large.
    pub(super) fn read_all(&self, max: u64) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        while (data.len() as u64) <= max {
            let mut read = 0u32;
            let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            // SAFETY: `chunk` is `len` bytes long; `read` is written.
            if unsafe { ReadPrinter(self.handle, chunk.as_mut_ptr().cast(), len, &mut read) } == 0 {
                return Err(io::Error::last_os_error());
            }
            if read == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..(read as usize).min(chunk.len())]);
        }
        data.truncate(usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX));
        Ok(data)
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        // SAFETY: both handles were opened by this value and are closed once.
        unsafe {
            if let Some(change) = self.change {
                FindClosePrinterChangeNotification(change);
            }
            ClosePrinter(self.handle);
        }
    }
}

/// Runs one of the spooler's `Enum*W` calls (buffer, its size, bytes needed, entries
/// written) until its answer fits, in a buffer 8-aligned as their records need and at most
/// `limit` bytes; returns the buffer and the number of entries.
fn enumerate(
    limit: u32,
    mut call: impl FnMut(*mut u8, u32, &mut u32, &mut u32) -> i32,
) -> io::Result<(Vec<u64>, usize)> {
    let (mut needed, mut count) = (0u32, 0u32);
    let mut buffer: Vec<u64> = Vec::new();
    loop {
        let bytes = u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX);
        if call(buffer.as_mut_ptr().cast(), bytes, &mut needed, &mut count) != 0 {
            return Ok((buffer, count as usize));
        }
        let error = io::Error::last_os_error();
        // ERROR_INSUFFICIENT_BUFFER: larger, and again (the list may grow meanwhile).
        if error.raw_os_error() != Some(122) || needed as usize <= buffer.len() * 8 || needed > limit {
            return Err(error);
        }
        buffer = vec![0u64; (needed as usize).div_ceil(8)];
    }
}

/// The names of the local printers and printer connections.
pub(super) fn printers() -> io::Result<Vec<String>> {
    let flags = PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS;
    // SAFETY: the spooler writes at most `bytes` into the buffer it is given.
    let (buffer, count) = enumerate(16 << 20, |buffer, bytes, needed, count| unsafe {
        EnumPrintersW(flags, std::ptr::null(), 4, buffer, bytes, needed, count)
    })?;
    let count = count.min(buffer.len() * 8 / size_of::<PRINTER_INFO_4W>());
    // SAFETY: as in `Printer::jobs`, for PRINTER_INFO_4W.
    let infos = unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast::<PRINTER_INFO_4W>(), count) };
    // SAFETY: NULL or NUL-terminated strings inside the buffer.
    Ok(infos.iter().map(|info| unsafe { string(info.pPrinterName) }).filter(|n| !n.is_empty()).collect())
}

/// Follows the spooler's jobs and judges each once it is spooled.
pub(super) struct PrintWatcher {
    pub(super) inspector: Arc<Inspector>,
    pub(super) found: tokio::sync::mpsc::Sender<Vec<Observation>>,
    pub(super) status: Arc<super::ChannelStatus>,
    /// The largest job read; a larger one is not inspected (and the verdict says so).
    pub(super) max_job: u64,
}

impl PrintWatcher {
    pub(super) fn run(self, stop: &AtomicBool) {
        let mut open: HashMap<String, Printer> = HashMap::new();
        let mut listed: Option<Instant> = None;
        // Jobs judged, and jobs this agent paused and has not judged yet.
        let mut judged: HashSet<(String, u32)> = HashSet::new();
        let mut paused: HashSet<(String, u32)> = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            if listed.is_none_or(|t| t.elapsed() >= REREAD) {
                self.reopen(&mut open);
                listed = Some(Instant::now());
            }
            wait(&open);
            let mut events = Vec::new();
            let mut present = HashSet::new();
            let mut troubled = false;
            for printer in open.values_mut() {
                let jobs = match printer.jobs() {
                    Ok(jobs) => {
                        troubled |= printer.trouble.take().is_some();
                        jobs
                    }
                    Err(e) => {
                        if printer.trouble.is_none() {
                            tracing::warn!(printer = %printer.name, error = %e, "DLP print: cannot list the jobs; they are not inspected until they can be");
                            printer.trouble = Some(format!("EnumJobsW: {e}"));
                            troubled = true;
                        }
                        continue;
                    }
                };
                for job in jobs {
                    let key = (job.printer.clone(), job.id);
                    present.insert(key.clone());
                    if judged.contains(&key) {
                        continue;
                    }
                    // A job printing while it spools is paused too: the rest of it waits.
                    if !paused.contains(&key) && job.status & JOB_STATUS_PAUSED == 0 {
                        match printer.control(job.id, JOB_CONTROL_PAUSE) {
                            Ok(()) => {
                                paused.insert(key.clone());
                            }
                            Err(e) => {
                                tracing::debug!(job = %job.label(), error = %e, "DLP print: cannot pause the job")
                            }
                        }
                    }
                    if job.spooling() {
                        continue;
                    }
                    let ours = paused.remove(&key);
                    judged.insert(key);
                    events.extend(self.judge(printer, &job, ours));
                }
            }
            if troubled {
                self.show(&open);
            }
            // Jobs gone from the queues are forgotten, and so is their id.
            judged.retain(|key| present.contains(key));
            paused.retain(|key| present.contains(key));
            if !events.is_empty() && self.found.blocking_send(super::observations(events)).is_err() {
                return;
            }
        }
    }

    /// Opens the printers not open yet, and closes those gone.
    fn reopen(&self, open: &mut HashMap<String, Printer>) {
        let names = match printers() {
            Ok(names) => names,
            Err(e) => {
                self.status.set_print(format!("not inspecting: cannot list the printers: {e}"));
                tracing::warn!(error = %e, "DLP print: cannot list the printers");
                return;
            }
        };
        open.retain(|name, _| names.contains(name));
        for name in names {
            if open.contains_key(&name) {
                continue;
            }
            match Printer::open(&name) {
                Ok(mut printer) => {
                    let how = match printer.watch() {
                        Ok(()) => "spooler notifications".to_owned(),
                        Err(why) => format!("polling every {TICK:?} ({why})"),
                    };
                    tracing::info!(printer = %name, watch = %how, "DLP: watching print jobs");
                    open.insert(name, printer);
                }
                Err(e) => tracing::warn!(printer = %name, error = %e, "DLP print: cannot open the printer"),
            }
        }
        self.show(open);
    }

    /// Says in `status` which printers are watched, how, and which cannot be.
    fn show(&self, open: &HashMap<String, Printer>) {
        let mut lines: Vec<String> = open
            .values()
            .map(|p| {
                let how = match (&p.trouble, p.change.is_some()) {
                    (Some(why), _) => format!("jobs not inspected ({why})"),
                    (None, true) => "notified".to_owned(),
                    (None, false) => "polled".to_owned(),
                };
                format!("{}: {how}", p.name)
            })
            .collect();
        lines.sort_unstable();
        self.status.set_print(match lines.is_empty() {
            true => "pausing and inspecting spooler jobs: no printer installed yet".to_owned(),
            false => format!("pausing and inspecting spooler jobs: {}", lines.join("; ")),
        });
    }

    /// Reads, inspects, and resumes or deletes one spooled job; the events to record.
    /// `ours`: the agent paused it, so resumes it when it is not blocked.
    pub(super) fn judge(&self, printer: &Printer, job: &SpoolJob, ours: bool) -> Vec<EventBody> {
        let mut notes = Vec::new();
        if job.status & (JOB_STATUS_PRINTING | JOB_STATUS_PRINTED) != 0 {
            notes.push("the job was already printing when the agent saw it".to_owned());
        } else if !ours && job.status & JOB_STATUS_PAUSED == 0 {
            notes.push("the agent could not pause the job".to_owned());
        }
        let label = job.label();
        let shown = Text::from(label.clone());
        let data = Printer::open(&format!("{},Job {}", job.printer, job.id)).and_then(|h| h.read_all(self.max_job));
        let name = format!("job-{}.spl", job.id);
        let judged = self.inspector.judge_bytes(&name, data.as_deref().map_err(copy_error), &shown, Channel::Print);
        let blocked = judged.as_ref().is_some_and(|j| j.action == Action::Block);
        let acted = match (blocked, ours) {
            (true, _) => printer.control(job.id, JOB_CONTROL_DELETE),
            (false, true) => printer.control(job.id, JOB_CONTROL_RESUME),
            (false, false) => Ok(()),
        };
        match &acted {
            Ok(()) if blocked => tracing::warn!(job = %label, "DLP block: print job deleted"),
            Ok(()) if ours => tracing::debug!(job = %label, "DLP print: job resumed"),
            Ok(()) => {}
            Err(e) => {
                let doing = if blocked { "delete" } else { "resume" };
                tracing::error!(job = %label, error = %e, "DLP print: cannot {doing} the job");
                notes.push(format!("could not {doing} the job: {e}"));
            }
        }
        let Some(Judged { mut events, mut verdict, .. }) = judged else { return Vec::new() };
        verdict.outcome = match (&acted, blocked) {
            (Ok(()), true) => "cancelled",
            (Err(_), true) => "cancel_failed",
            _ => "recorded",
        }
        .to_owned();
        let mut detail = format!(
            "printer {}, job {}, user {}, document {:?}, data type {}",
            Text::from(job.printer.as_str()).display_safe(),
            job.id,
            Text::from(job.user.as_str()).display_safe(),
            job.document,
            job.datatype
        );
        for note in notes {
            detail.push_str("; ");
            detail.push_str(&note);
        }
        verdict.detail = detail;
        events.push(EventBody::DlpVerdict(verdict));
        events
    }
}

/// Waits up to [`TICK`] for a spooler notification, and rearms those that fired.
fn wait(open: &HashMap<String, Printer>) {
    let handles: Vec<HANDLE> = open.values().filter_map(|p| p.change).take(MAX_WAIT).collect();
    if handles.is_empty() {
        std::thread::sleep(TICK);
        return;
    }
    let millis = u32::try_from(TICK.as_millis()).unwrap_or(u32::MAX);
    let count = u32::try_from(handles.len()).unwrap_or(0);
    // SAFETY: `handles` holds `count` open notification handles.
    let signalled = unsafe { WaitForMultipleObjects(count, handles.as_ptr(), 0, millis) };
    match handles.get(signalled.wrapping_sub(WAIT_OBJECT_0) as usize) {
        Some(&handle) => {
            let mut change = 0u32;
            // SAFETY: an open, signalled notification handle; no notify info is asked for.
            // This rearms it.
            unsafe { FindNextPrinterChangeNotification(handle, &mut change, std::ptr::null(), std::ptr::null_mut()) };
        }
        None if signalled == WAIT_FAILED => std::thread::sleep(TICK),
        None => {}
    }
}

/// An I/O error for the inspector, which takes it by value.
fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The NUL-terminated UTF-16 string at `p`, or empty for NULL; bounded.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn string(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller's promise; the scan stops at the NUL (or at 32 Ki units).
    while len < 32 << 10 && unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests;
