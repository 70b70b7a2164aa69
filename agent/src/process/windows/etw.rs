//! The ETW backend: a real-time session named [`SESSION_NAME`] with the
//! Microsoft-Windows-Kernel-Process provider enabled for process starts and stops. ETW calls
//! back on a consumer thread (inside `ProcessTrace`), which only decodes the user data
//! (`kernel_process.rs`) and hands it on; a worker thread describes each new process from its
//! token and image, and writes the events.
//!
//! A session outlives the process that started it. The agent stops its session when the
//! sensor stops, and a session left behind by an agent that crashed is stopped and started
//! anew (same name) when the next one starts.

use super::super::device_path::to_dos_path;
use super::super::kernel_process::{self, KernelProcessEvent, ProcessStart, ProcessStop};
use super::{Facts, ImageHashes, WinFacts, describe, token::Tokens, user_name};
use crate::spool::Observation;
use anyhow::{Context, bail};
use haidang_proto::Text;
use haidang_proto::event::ProcessAction;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
use tokio::sync::mpsc;
use windows_sys::Win32::Foundation::{ERROR_ALREADY_EXISTS, ERROR_SUCCESS};
use windows_sys::Win32::Storage::FileSystem::{GetLogicalDrives, QueryDosDeviceW};
use windows_sys::Win32::System::Diagnostics::Etw::{
    CONTROLTRACE_HANDLE, CloseTrace, ControlTraceW, EVENT_CONTROL_CODE_ENABLE_PROVIDER, EVENT_RECORD,
    EVENT_TRACE_CONTROL_STOP, EVENT_TRACE_LOGFILEW, EVENT_TRACE_PROPERTIES, EVENT_TRACE_REAL_TIME_MODE, EnableTraceEx2,
    OpenTraceW, PROCESS_TRACE_MODE_EVENT_RECORD, PROCESS_TRACE_MODE_REAL_TIME, PROCESSTRACE_HANDLE, ProcessTrace,
    StartTraceW, TRACE_LEVEL_INFORMATION, WNODE_FLAG_TRACED_GUID,
};
use windows_sys::core::GUID;

/// The session's name: one per machine, so a leftover one is recognised and reclaimed.
const SESSION_NAME: &str = "HaiDang-Agent-Process";
/// Decoded events waiting for the worker; when full, the consumer waits and ETW buffers.
const QUEUE: usize = 4096;
/// How often the worker checks whether the sensor was stopped while no event came.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// `OpenTraceW`'s failure value (`INVALID_PROCESSTRACE_HANDLE`).
const INVALID_TRACE: u64 = u64::MAX;

/// Starts and opens a session, then stops it: whether this agent may use ETW here.
pub(super) fn probe() -> anyhow::Result<()> {
    let session = Session::start()?;
    let (tx, _rx) = sync_channel(1);
    let context = Box::new(Callback { tx, warned: AtomicBool::new(false) });
    let trace = Trace::open(&context)?;
    drop(trace);
    drop(session);
    Ok(())
}

/// Starts the session and its threads; `known` is what runs already (pid → facts).
pub(super) fn spawn(
    known: HashMap<u32, WinFacts>,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let session = Session::start()?;
    let (tx, rx) = sync_channel(QUEUE);
    let context = Box::new(Callback { tx, warned: AtomicBool::new(false) });
    let trace = Trace::open(&context)?;
    let consumer = std::thread::Builder::new()
        .name("process-etw".into())
        .spawn(move || {
            let result = trace.process();
            // The callback's context lives until ProcessTrace has returned.
            drop(context);
            result
        })
        .context("cannot start the ETW consumer thread")?;
    std::thread::Builder::new()
        .name("process-etw-events".into())
        .spawn(move || {
            let mut worker =
                Worker { known, tokens: Tokens::default(), hashes: ImageHashes::default(), drives: drive_devices() };
            let ended = worker.run(&rx, &out);
            // Stopping the session makes ProcessTrace return; a callback waiting on the queue
            // returns once the queue is gone.
            drop(session);
            drop(rx);
            consumer.join().map_err(|_| anyhow::anyhow!("the ETW consumer thread panicked"))??;
            ended
        })
        .context("cannot start the ETW event thread")
}

struct Worker {
    known: HashMap<u32, WinFacts>,
    tokens: Tokens,
    hashes: ImageHashes,
    /// Drive letters and the devices they name, for turning NT paths into `C:\…`.
    drives: Vec<(String, String)>,
}

impl Worker {
    /// Writes the events of each decoded record until `out` closes or the session ends.
    fn run(&mut self, rx: &Receiver<KernelProcessEvent>, out: &mpsc::Sender<Observation>) -> anyhow::Result<()> {
        loop {
            let event = match rx.recv_timeout(IDLE_CHECK) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) if out.is_closed() => return Ok(()),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => bail!("the ETW session ended"),
            };
            let body = match event {
                KernelProcessEvent::Start(start) => self.started(start),
                KernelProcessEvent::Stop(stop) => self.stopped(stop),
            };
            if out.blocking_send(Observation::now(body)).is_err() {
                return Ok(());
            }
        }
    }

    fn started(&mut self, start: ProcessStart) -> haidang_proto::EventBody {
        let mut facts = self.describe_live(start.pid).unwrap_or_else(|| {
            let token = self.tokens.facts(start.pid);
            WinFacts {
                facts: Facts {
                    ppid: start.ppid,
                    image: Text::from(""),
                    command_line: Text::from(""),
                    user: Text::from(user_name(&token)),
                    image_hash: None,
                },
                user_sid: token.sid,
                integrity_level: None,
            }
        });
        // The kernel's record is authoritative for what it carries (sysinfo may not read the
        // image of a protected process); the hash is read once per file version either way.
        facts.facts.ppid = start.ppid;
        let image = self.dos_path(&start.image);
        facts.facts.image_hash = self.hashes.hash(std::path::Path::new(&image));
        facts.facts.image = Text::from(image);
        if facts.integrity_level.is_none() {
            facts.integrity_level = start.integrity_rid.map(kernel_process::integrity_level);
        }
        let event = facts.event(ProcessAction::Start, start.pid, self.known.get(&start.ppid), None);
        self.known.insert(start.pid, facts);
        event
    }

    fn stopped(&mut self, stop: ProcessStop) -> haidang_proto::EventBody {
        let code = Some(i32::from_ne_bytes(stop.exit_code.to_ne_bytes()));
        match self.known.remove(&stop.pid) {
            Some(facts) => facts.event(ProcessAction::Exit, stop.pid, None, code),
            None => WinFacts {
                facts: Facts {
                    ppid: 0,
                    image: Text::from(""),
                    command_line: Text::from(""),
                    user: Text::from(""),
                    image_hash: None,
                },
                user_sid: None,
                integrity_level: None,
            }
            .event(ProcessAction::Exit, stop.pid, None, code),
        }
    }

    /// The process as it runs now, or `None` when it is already gone.
    fn describe_live(&mut self, pid: u32) -> Option<WinFacts> {
        let mut system = System::new();
        let kind = ProcessRefreshKind::nothing().with_exe(UpdateKind::Always).with_cmd(UpdateKind::Always);
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[Pid::from_u32(pid)]), false, kind);
        let process = system.process(Pid::from_u32(pid))?;
        Some(describe(process, &mut self.tokens, &mut self.hashes))
    }

    /// The kernel's NT path as a drive-letter path; drives mounted since are looked up again.
    fn dos_path(&mut self, nt: &str) -> String {
        if let Some(path) = to_dos_path(nt, &self.drives) {
            return path;
        }
        self.drives = drive_devices();
        to_dos_path(nt, &self.drives).unwrap_or_else(|| nt.to_string())
    }
}

/// Each drive letter (`C:`) and the device it names (`\Device\HarddiskVolume3`).
fn drive_devices() -> Vec<(String, String)> {
    // SAFETY: no arguments.
    let mask = unsafe { GetLogicalDrives() };
    let mut drives = Vec::new();
    for (bit, letter) in ('A'..='Z').enumerate() {
        if mask & (1 << bit) == 0 {
            continue;
        }
        let drive = format!("{letter}:");
        let name = wide(&drive);
        let mut target = vec![0u16; 1024];
        // SAFETY: `name` is NUL-terminated; `target` holds the length passed.
        let len = unsafe { QueryDosDeviceW(name.as_ptr(), target.as_mut_ptr(), target.len() as u32) };
        // The first of the NUL-separated targets is the current one.
        let first = target[..len as usize].split(|&c| c == 0).next().unwrap_or_default();
        if !first.is_empty() {
            drives.push((drive, String::from_utf16_lossy(first)));
        }
    }
    drives
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

fn os_error(call: &str, code: u32) -> anyhow::Error {
    let code = i32::from_ne_bytes(code.to_ne_bytes());
    anyhow::anyhow!("{call} failed: {}", std::io::Error::from_raw_os_error(code))
}

/// `EVENT_TRACE_PROPERTIES` followed by room for the session's name and log file name, in a
/// buffer aligned for it.
struct Properties(Vec<u64>);

impl Properties {
    const NAMES: usize = 2 * 1024 * 2;

    /// For StartTraceW: a real-time session, no log file.
    fn for_start() -> Properties {
        let mut buffer = Properties::for_control();
        // SAFETY: `for_control` made the buffer a valid, aligned EVENT_TRACE_PROPERTIES.
        unsafe { (*buffer.as_mut_ptr()).LogFileNameOffset = 0 };
        buffer
    }

    /// For ControlTraceW, which writes back both names.
    fn for_control() -> Properties {
        let head = size_of::<EVENT_TRACE_PROPERTIES>();
        let total = head + Self::NAMES;
        let mut buffer = Properties(vec![0u64; total.div_ceil(8)]);
        let p = buffer.as_mut_ptr();
        // SAFETY: the buffer is large enough and aligned for the structure, which is plain data.
        unsafe {
            (*p).Wnode.BufferSize = total as u32;
            (*p).Wnode.Flags = WNODE_FLAG_TRACED_GUID;
            // Timestamps from QueryPerformanceCounter.
            (*p).Wnode.ClientContext = 1;
            (*p).LogFileMode = EVENT_TRACE_REAL_TIME_MODE;
            (*p).LoggerNameOffset = head as u32;
            (*p).LogFileNameOffset = (head + Self::NAMES / 2) as u32;
        }
        buffer
    }

    fn as_mut_ptr(&mut self) -> *mut EVENT_TRACE_PROPERTIES {
        self.0.as_mut_ptr().cast()
    }
}

/// The running session; dropping it stops it.
struct Session(CONTROLTRACE_HANDLE);

impl Session {
    /// Starts the session (stopping one of the same name left behind first) and enables the
    /// kernel process provider in it.
    fn start() -> anyhow::Result<Session> {
        let name = wide(SESSION_NAME);
        let mut handle = CONTROLTRACE_HANDLE::default();
        // SAFETY: `name` is NUL-terminated; the properties buffer is valid for the call.
        let mut status = unsafe { StartTraceW(&mut handle, name.as_ptr(), Properties::for_start().as_mut_ptr()) };
        if status == ERROR_ALREADY_EXISTS {
            tracing::info!(session = SESSION_NAME, "stopping the ETW session a previous agent left running");
            stop_by_name();
            // SAFETY: as above.
            status = unsafe { StartTraceW(&mut handle, name.as_ptr(), Properties::for_start().as_mut_ptr()) };
        }
        if status != ERROR_SUCCESS {
            return Err(os_error("StartTraceW", status));
        }
        let session = Session(handle);
        let provider = GUID::from_u128(kernel_process::PROVIDER);
        // SAFETY: a live session handle and a valid GUID; no filter parameters.
        let status = unsafe {
            EnableTraceEx2(
                session.0,
                &provider,
                EVENT_CONTROL_CODE_ENABLE_PROVIDER,
                TRACE_LEVEL_INFORMATION as u8,
                kernel_process::KEYWORD_PROCESS,
                0,
                0,
                std::ptr::null(),
            )
        };
        if status != ERROR_SUCCESS {
            return Err(os_error("EnableTraceEx2 (Microsoft-Windows-Kernel-Process)", status));
        }
        Ok(session)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut properties = Properties::for_control();
        // SAFETY: the handle came from StartTraceW; the properties buffer receives the stats.
        let status =
            unsafe { ControlTraceW(self.0, std::ptr::null(), properties.as_mut_ptr(), EVENT_TRACE_CONTROL_STOP) };
        if status != ERROR_SUCCESS {
            tracing::warn!(error = %os_error("ControlTraceW (stop)", status), session = SESSION_NAME, "ETW session not stopped");
        }
    }
}

/// Stops a session of our name that no handle of ours refers to.
fn stop_by_name() {
    let name = wide(SESSION_NAME);
    let mut properties = Properties::for_control();
    // SAFETY: the name is NUL-terminated; the properties buffer is valid for the call.
    unsafe {
        ControlTraceW(CONTROLTRACE_HANDLE::default(), name.as_ptr(), properties.as_mut_ptr(), EVENT_TRACE_CONTROL_STOP)
    };
}

/// What the callback reaches through the record's `UserContext`.
struct Callback {
    tx: SyncSender<KernelProcessEvent>,
    /// Whether an undecodable record was logged already (one warning, not one per event).
    warned: AtomicBool,
}

/// The session opened for real-time consumption.
struct Trace(PROCESSTRACE_HANDLE);

impl Trace {
    /// Opens the session; `context` must outlive [`Trace::process`].
    fn open(context: &Callback) -> anyhow::Result<Trace> {
        let mut name = wide(SESSION_NAME);
        // SAFETY: plain data, all zero is its documented initial state.
        let mut logfile: EVENT_TRACE_LOGFILEW = unsafe { std::mem::zeroed() };
        logfile.LoggerName = name.as_mut_ptr();
        logfile.Anonymous1.ProcessTraceMode = PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD;
        logfile.Anonymous2.EventRecordCallback = Some(on_event);
        logfile.Context = std::ptr::from_ref(context).cast_mut().cast();
        // SAFETY: the structure is filled as OpenTraceW documents; `name` lives across the call.
        let handle = unsafe { OpenTraceW(&mut logfile) };
        if handle.Value == INVALID_TRACE {
            bail!("OpenTraceW failed: {}", std::io::Error::last_os_error());
        }
        Ok(Trace(handle))
    }

    /// Delivers events to the callback until the session stops.
    fn process(&self) -> anyhow::Result<()> {
        // SAFETY: one open handle; no time bounds for a real-time session.
        let status = unsafe { ProcessTrace(&self.0, 1, std::ptr::null(), std::ptr::null()) };
        if status != ERROR_SUCCESS {
            return Err(os_error("ProcessTrace", status));
        }
        Ok(())
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenTraceW and is closed once.
        unsafe { CloseTrace(self.0) };
    }
}

fn is_kernel_process(guid: &GUID) -> bool {
    let p = GUID::from_u128(kernel_process::PROVIDER);
    (guid.data1, guid.data2, guid.data3, guid.data4) == (p.data1, p.data2, p.data3, p.data4)
}

/// ETW's callback, on the consumer thread: decode and pass on, nothing slower.
unsafe extern "system" fn on_event(record: *mut EVENT_RECORD) {
    // SAFETY: ETW passes a valid record for the duration of the call; `UserContext` is the
    // `Callback` given to OpenTraceW, alive until ProcessTrace returns.
    let (record, context) = unsafe {
        let record = &*record;
        (record, &*record.UserContext.cast::<Callback>())
    };
    let header = &record.EventHeader;
    if !is_kernel_process(&header.ProviderId) {
        return;
    }
    let data: &[u8] = if record.UserData.is_null() {
        &[]
    } else {
        // SAFETY: ETW gives `UserDataLength` readable bytes at `UserData`.
        unsafe { std::slice::from_raw_parts(record.UserData.cast(), usize::from(record.UserDataLength)) }
    };
    let descriptor = &header.EventDescriptor;
    match kernel_process::decode(descriptor.Id, descriptor.Version, data) {
        Ok(Some(event)) => {
            // The worker is gone only when the sensor stops.
            let _ = context.tx.send(event);
        }
        Ok(None) => {}
        Err(e) => {
            if !context.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "a kernel process event did not decode; such events are skipped");
            }
        }
    }
}
