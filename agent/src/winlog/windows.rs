//! The Event Log service's pull subscription, one thread per channel: `EvtSubscribe` with a
//! signal event and a bookmark, `EvtNext` in batches, `EvtRender` of each record as XML and of
//! the bookmark after it. Kept thin: what the calls return is read in `mod.rs`.

use super::{ChannelConfig, Start, WinlogConfig, WinlogStatus, observation};
use crate::spool::{Cursor, Recorder, Spool};
use anyhow::{Result, anyhow};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MORE_ITEMS, GetLastError, HANDLE, WAIT_FAILED,
};
use windows_sys::Win32::System::EventLog::{
    EVT_HANDLE, EvtClose, EvtCreateBookmark, EvtNext, EvtRender, EvtRenderBookmark, EvtRenderEventXml, EvtSubscribe,
    EvtSubscribeStartAfterBookmark, EvtSubscribeStartAtOldestRecord, EvtSubscribeToFutureEvents, EvtUpdateBookmark,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::{CreateEventW, ResetEvent, WaitForSingleObject};

/// Records taken per `EvtNext`, and so stored per spool transaction.
const BATCH: usize = 64;
/// How long a channel thread waits for the signal before looking again (and at `stop`).
const WAIT_MS: u32 = 1000;
/// How long a channel that cannot be subscribed (not installed, access denied) waits to retry.
const RETRY: Duration = Duration::from_secs(60);
/// Longest rendered record taken, in UTF-16 units: the XML reader's own limit.
const MAX_RENDER_UNITS: u32 = haidang_winlog::MAX_XML_BYTES as u32;
/// Least time between two warnings about unreadable records of one channel.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The name of a channel's bookmark in the spool.
fn cursor_name(channel: &str) -> String {
    format!("winlog:{channel}")
}

/// Sets `stop` when the sensor's task is dropped (the agent stops), ending the threads.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads the configured channels until the task is dropped (the agent stops).
pub async fn run(config: WinlogConfig, spool: Arc<Spool>, recorder: Recorder, status: Arc<WinlogStatus>) -> Result<()> {
    if under_wine() {
        for channel in &config.channels {
            status.set(&channel.name, "off: Wine has no Windows event log service");
        }
        tracing::info!("Windows event logs not read: Wine has no event log service");
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let runtime = tokio::runtime::Handle::current();
    for channel in config.channels {
        let reader = ChannelReader {
            channel,
            start: config.start,
            spool: spool.clone(),
            recorder: recorder.clone(),
            status: status.clone(),
            stop: stop.clone(),
            runtime: runtime.clone(),
        };
        let name = format!("winlog {}", reader.channel.name);
        std::thread::Builder::new().name(name).spawn(move || reader.run())?;
    }
    // The threads end when `stop` is set: this task waits, so that dropping it stops them.
    std::future::pending::<()>().await;
    Ok(())
}

struct ChannelReader {
    channel: ChannelConfig,
    start: Start,
    spool: Arc<Spool>,
    recorder: Recorder,
    status: Arc<WinlogStatus>,
    stop: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
}

impl ChannelReader {
    fn run(self) {
        let name = self.channel.name.clone();
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(e) = self.read() {
                let e = format!("{e:#}");
                tracing::warn!(channel = %name, error = %e, "cannot read the Windows event log channel; retrying in a minute");
                self.status.set(&name, format!("cannot read: {e}; retrying every minute"));
                let until = Instant::now() + RETRY;
                while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(u64::from(WAIT_MS)));
                }
            }
        }
    }

    /// Subscribes and reads until `stop`, or until a call fails.
    fn read(&self) -> Result<()> {
        let cursor = cursor_name(&self.channel.name);
        let stored = self.spool.cursor(&cursor)?.and_then(|b| String::from_utf8(b).ok());
        let signal = Signal::new()?;
        let (bookmark, after_bookmark) = match stored.as_deref().map(Bookmark::from_xml) {
            Some(Ok(bookmark)) => (bookmark, true),
            Some(Err(e)) => {
                tracing::warn!(channel = %self.channel.name, error = %format!("{e:#}"), "the stored bookmark is unusable; starting anew");
                (Bookmark::new()?, false)
            }
            None => (Bookmark::new()?, false),
        };
        let flags = match (after_bookmark, self.start) {
            (true, _) => EvtSubscribeStartAfterBookmark,
            (false, Start::Now) => EvtSubscribeToFutureEvents,
            (false, Start::Oldest) => EvtSubscribeStartAtOldestRecord,
        };
        let (channel, query) = (wide(&self.channel.name), wide(&self.channel.query));
        let bookmark_arg = if after_bookmark { bookmark.0.0 } else { 0 };
        // SAFETY: the strings are NUL-terminated and outlive the call; no callback is given.
        let subscription = EvtHandle(unsafe {
            EvtSubscribe(0, signal.0, channel.as_ptr(), query.as_ptr(), bookmark_arg, std::ptr::null(), None, flags)
        });
        if subscription.0 == 0 {
            return Err(last_error("EvtSubscribe"));
        }
        let from = match (after_bookmark, self.start) {
            (true, _) => "after the stored bookmark",
            (false, Start::Now) => "new records from now on",
            (false, Start::Oldest) => "from the oldest record",
        };
        self.status.set(&self.channel.name, format!("subscribed, {from}"));
        tracing::info!(channel = %self.channel.name, from, "reading the Windows event log channel");
        let mut unreadable = Unreadable::default();
        while !self.stop.load(Ordering::Relaxed) {
            // The signal only hints that records wait; after a timeout look anyway, so a signal
            // reset just as a record arrived delays it by a second rather than losing it.
            // SAFETY: `signal` is a live event handle.
            if unsafe { WaitForSingleObject(signal.0, WAIT_MS) } == WAIT_FAILED {
                return Err(last_error("WaitForSingleObject"));
            }
            while self.next_batch(&subscription, &bookmark, &cursor, &mut unreadable)? {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
            // SAFETY: `signal` is a live event handle.
            unsafe { ResetEvent(signal.0) };
        }
        Ok(())
    }

    /// Stores the next records and the bookmark after them; false when none were waiting.
    fn next_batch(
        &self,
        subscription: &EvtHandle,
        bookmark: &Bookmark,
        cursor: &str,
        unreadable: &mut Unreadable,
    ) -> Result<bool> {
        let mut raw = [0 as EVT_HANDLE; BATCH];
        let mut returned = 0u32;
        // SAFETY: `raw` has room for BATCH handles; `returned` says how many were written.
        if unsafe { EvtNext(subscription.0, BATCH as u32, raw.as_mut_ptr(), 0, 0, &mut returned) } == 0 {
            // SAFETY: reads the calling thread's last error.
            return match unsafe { GetLastError() } {
                ERROR_NO_MORE_ITEMS => Ok(false),
                _ => Err(last_error("EvtNext")),
            };
        }
        let records: Vec<EvtHandle> = raw[..returned as usize].iter().map(|&h| EvtHandle(h)).collect();
        let mut observations = Vec::with_capacity(records.len());
        for record in &records {
            match render(record.0, EvtRenderEventXml)
                .map_err(|e| format!("{e:#}"))
                .and_then(|xml| observation(&xml).map_err(|e| e.to_string()))
            {
                Ok(o) => observations.push(o),
                Err(e) => unreadable.note(&self.channel.name, &e),
            }
            // SAFETY: both handles are live.
            if unsafe { EvtUpdateBookmark(bookmark.0.0, record.0) } == 0 {
                return Err(last_error("EvtUpdateBookmark"));
            }
        }
        let position = render(bookmark.0.0, EvtRenderBookmark)?.into_bytes();
        let cursor = Cursor { name: cursor.to_owned(), position };
        self.runtime.block_on(self.recorder.record_with_cursor(observations, cursor))?;
        Ok(true)
    }
}

/// Records that could not be read, warned about at most once a minute per channel.
#[derive(Default)]
struct Unreadable {
    since_warning: u64,
    warned: Option<Instant>,
}

impl Unreadable {
    fn note(&mut self, channel: &str, error: &str) {
        self.since_warning += 1;
        if self.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(channel, records = self.since_warning, error, "Windows event records could not be read");
            self.since_warning = 0;
            self.warned = Some(Instant::now());
        }
    }
}

/// An event log handle, closed on drop.
struct EvtHandle(EVT_HANDLE);

impl Drop for EvtHandle {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: the handle came from the event log API and is closed once.
            unsafe { EvtClose(self.0) };
        }
    }
}

/// A channel's bookmark: the last record stored.
struct Bookmark(EvtHandle);

impl Bookmark {
    fn new() -> Result<Bookmark> {
        // SAFETY: a null XML makes an empty bookmark.
        let handle = unsafe { EvtCreateBookmark(std::ptr::null()) };
        if handle == 0 { Err(last_error("EvtCreateBookmark")) } else { Ok(Bookmark(EvtHandle(handle))) }
    }

    fn from_xml(xml: &str) -> Result<Bookmark> {
        let xml = wide(xml);
        // SAFETY: `xml` is NUL-terminated and outlives the call.
        let handle = unsafe { EvtCreateBookmark(xml.as_ptr()) };
        if handle == 0 { Err(last_error("EvtCreateBookmark")) } else { Ok(Bookmark(EvtHandle(handle))) }
    }
}

/// The manual-reset event the service signals when records wait.
struct Signal(HANDLE);

impl Signal {
    fn new() -> Result<Signal> {
        // SAFETY: default security, manual reset, initially signalled (records may already wait).
        let handle = unsafe { CreateEventW(std::ptr::null(), 1, 1, std::ptr::null()) };
        if handle.is_null() { Err(last_error("CreateEventW")) } else { Ok(Signal(handle)) }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateEventW and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Renders a record (`EvtRenderEventXml`) or a bookmark (`EvtRenderBookmark`) as text.
fn render(handle: EVT_HANDLE, flags: u32) -> Result<String> {
    let (mut used, mut properties) = (0u32, 0u32);
    // SAFETY: a zero-sized buffer asks for the size needed.
    let sized = unsafe { EvtRender(0, handle, flags, 0, std::ptr::null_mut(), &mut used, &mut properties) };
    // SAFETY: reads the calling thread's last error.
    if sized == 0 && unsafe { GetLastError() } != ERROR_INSUFFICIENT_BUFFER {
        return Err(last_error("EvtRender"));
    }
    if used > MAX_RENDER_UNITS * 2 {
        return Err(anyhow!("the record renders to {used} bytes, more than {} taken", MAX_RENDER_UNITS * 2));
    }
    let mut buffer = vec![0u16; (used as usize).div_ceil(2)];
    let bytes = u32::try_from(buffer.len() * 2).unwrap_or(u32::MAX);
    // SAFETY: `buffer` holds `bytes` bytes.
    let done = unsafe { EvtRender(0, handle, flags, bytes, buffer.as_mut_ptr().cast(), &mut used, &mut properties) };
    if done == 0 {
        return Err(last_error("EvtRender"));
    }
    let units = &buffer[..(used as usize / 2).min(buffer.len())];
    let units = units.strip_suffix(&[0]).unwrap_or(units);
    Ok(String::from_utf16_lossy(units))
}

/// Whether this is Wine, whose `wevtapi` has no event log behind it: it aborts the calling
/// process at `EvtCreateBookmark` (an unimplemented function), so the sensor must not start.
/// Wine's `ntdll` exports `wine_get_version`; Windows' does not.
fn under_wine() -> bool {
    let ntdll = wide("ntdll.dll");
    // SAFETY: `ntdll` is NUL-terminated; ntdll is loaded in every process and never unloaded.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    // SAFETY: `module` is a loaded module and the name is NUL-terminated.
    !module.is_null() && unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_some()
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn last_error(call: &str) -> anyhow::Error {
    anyhow!("{call}: {}", std::io::Error::last_os_error())
}
