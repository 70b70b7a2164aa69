//! Under Wine (`CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine`): pages drawn by GDI are read
//! back by the DLP extractor, and a job submitted to the spooler is paused, read through the
//! spooler and deleted or resumed by the print channel. Wine 8 keeps jobs inside the process
//! that submits them (`EnumJobsW` is a stub there), so the job is submitted by the test
//! itself and handed to [`PrintWatcher::judge`] rather than found by [`PrintWatcher::run`];
//! and Wine's `SetJobW` answers success to pause, resume and delete but changes nothing (the
//! job's status stays 0, `GetJobW` still finds a deleted job, and `EndDocPrinter` prints it),
//! so what the test sees of the action is the spooler accepting it.

use super::*;
use crate::dlp_sensor::config::DlpConfig;
use crate::dlp_sensor::vault::Vault;
use haidang_dlp::extract::{Content, Limits, extract};
use windows_sys::Win32::Graphics::Gdi::{
    CloseEnhMetaFile, CreateEnhMetaFileW, CreateFontW, DeleteEnhMetaFile, DeleteObject, ExtTextOutW,
    GetEnhMetaFileBits, SelectObject,
};
use windows_sys::Win32::Graphics::Printing::{
    AddPrinterDriverW, AddPrinterW, DOC_INFO_1W, DRIVER_INFO_3W, PRINTER_INFO_2W, StartDocPrinterW, WritePrinter,
};

/// A metafile page GDI draws: each line with `ExtTextOutW`, 60 logical units apart.
fn gdi_page(lines: &[&str]) -> Vec<u8> {
    let face = wide("Arial");
    // SAFETY: a memory metafile on the screen's reference DC; every object made is released.
    unsafe {
        let dc = CreateEnhMetaFileW(std::ptr::null_mut(), std::ptr::null(), std::ptr::null(), std::ptr::null());
        assert!(!dc.is_null(), "CreateEnhMetaFileW: {}", io::Error::last_os_error());
        let font = CreateFontW(40, 0, 0, 0, 400, 0, 0, 0, 1, 0, 0, 0, 0, face.as_ptr());
        let old = SelectObject(dc, font);
        for (i, line) in lines.iter().enumerate() {
            let text: Vec<u16> = line.encode_utf16().collect();
            let y = 100 + 60 * i32::try_from(i).expect("line");
            let len = u32::try_from(text.len()).expect("len");
            assert!(ExtTextOutW(dc, 100, y, 0, std::ptr::null(), text.as_ptr(), len, std::ptr::null()) != 0);
        }
        SelectObject(dc, old);
        DeleteObject(font);
        let metafile = CloseEnhMetaFile(dc);
        assert!(!metafile.is_null(), "CloseEnhMetaFile: {}", io::Error::last_os_error());
        let size = GetEnhMetaFileBits(metafile, 0, std::ptr::null_mut());
        let mut bytes = vec![0u8; size as usize];
        assert_eq!(GetEnhMetaFileBits(metafile, size, bytes.as_mut_ptr()), size);
        DeleteEnhMetaFile(metafile);
        bytes
    }
}

/// An EMF spool file ([MS-EMFSPOOL] 2.2.2, 2.2.3.1) of the `pages`: header, then an
/// EMRI_METAFILE_DATA record per page.
fn spool_file(pages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0x0001_0000u32, 16, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for page in pages {
        out.extend_from_slice(&0x0Cu32.to_le_bytes());
        out.extend_from_slice(&u32::try_from(page.len()).expect("size").to_le_bytes());
        out.extend_from_slice(page);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

fn text_of(bytes: &[u8], name: &str) -> String {
    let extraction = extract(name, bytes, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    extraction
        .parts
        .iter()
        .map(|p| match &p.content {
            Content::Text { text, .. } => text.clone(),
            Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        })
        .collect()
}

#[test]
fn text_drawn_by_gdi_is_read_from_its_metafile_and_spool_file() {
    let page = gdi_page(&["TỐI MẬT", "Số CCCD: 001203004567"]);
    assert_eq!(text_of(&page, "page.emf"), "TỐI MẬT\nSố CCCD: 001203004567\n");
    let spooled = spool_file(&[gdi_page(&["Trang một"]), page]);
    assert_eq!(text_of(&spooled, "00007.SPL"), "Trang một\nTỐI MẬT\nSố CCCD: 001203004567\n");
}

const TEST_PRINTER: &str = "Hải Đăng test printer";

/// A printer to submit jobs to: the test printer, added (with Wine's PostScript driver) when it
/// is not there yet.
fn test_printer() -> String {
    if printers().expect("EnumPrintersW").iter().any(|p| p == TEST_PRINTER) {
        return TEST_PRINTER.to_owned();
    }
    let (mut name, mut env, mut driver, mut data) =
        (wide("Wine PostScript Driver"), wide("Windows x64"), wide("wineps.drv"), wide("generic.ppd"));
    let info = DRIVER_INFO_3W {
        cVersion: 3,
        pName: name.as_mut_ptr(),
        pEnvironment: env.as_mut_ptr(),
        pDriverPath: driver.as_mut_ptr(),
        pDataFile: data.as_mut_ptr(),
        pConfigFile: driver.as_mut_ptr(),
        ..DRIVER_INFO_3W::default()
    };
    // SAFETY: the strings outlive the calls; level 3 takes a DRIVER_INFO_3W, level 2 a PRINTER_INFO_2W.
    unsafe {
        assert!(
            AddPrinterDriverW(std::ptr::null(), 3, (&raw const info).cast()) != 0,
            "AddPrinterDriverW: {}",
            io::Error::last_os_error()
        );
        let (mut printer, mut port, mut processor, mut raw) =
            (wide(TEST_PRINTER), wide("FILE:"), wide("WinPrint"), wide("RAW"));
        let info = PRINTER_INFO_2W {
            pPrinterName: printer.as_mut_ptr(),
            pPortName: port.as_mut_ptr(),
            pDriverName: name.as_mut_ptr(),
            pPrintProcessor: processor.as_mut_ptr(),
            pDatatype: raw.as_mut_ptr(),
            ..PRINTER_INFO_2W::default()
        };
        let handle = AddPrinterW(std::ptr::null(), 2, (&raw const info).cast());
        assert!(!handle.is_null(), "AddPrinterW: {}", io::Error::last_os_error());
        ClosePrinter(PRINTER_HANDLE { Value: handle });
    }
    TEST_PRINTER.to_owned()
}

/// Submits `data` as a job of data type `datatype` named `document`; the job's id. The job
/// stays open (no EndDocPrinter), as a job still being spooled is.
fn submit(printer: &Printer, document: &str, datatype: &str, data: &[u8]) -> u32 {
    let (mut document, mut datatype) = (wide(document), wide(datatype));
    let info = DOC_INFO_1W {
        pDocName: document.as_mut_ptr(),
        pOutputFile: std::ptr::null_mut(),
        pDatatype: datatype.as_mut_ptr(),
    };
    // SAFETY: the handle is open; the strings and data outlive the calls.
    unsafe {
        let job = StartDocPrinterW(printer.handle, 1, &info);
        assert!(job != 0, "StartDocPrinterW: {}", io::Error::last_os_error());
        let mut written = 0u32;
        let len = u32::try_from(data.len()).expect("len");
        assert!(
            WritePrinter(printer.handle, data.as_ptr().cast(), len, &mut written) != 0,
            "WritePrinter: {}",
            io::Error::last_os_error()
        );
        assert_eq!(written, len);
        job
    }
}

fn watcher(dir: &std::path::Path) -> (PrintWatcher, tokio::sync::mpsc::Receiver<Vec<Observation>>) {
    let cfg = DlpConfig { enabled: true, ..DlpConfig::default() };
    let vault = Vault::new(&dir.join("vault"), &dir.join("vault.key"));
    vault.prepare().expect("vault");
    let (found, rx) = tokio::sync::mpsc::channel(4);
    let watcher = PrintWatcher {
        inspector: Arc::new(Inspector::in_process(&cfg, vault).expect("inspector")),
        found,
        status: Arc::new(super::super::ChannelStatus::default()),
        max_job: cfg.max_file_size.as_u64(),
    };
    (watcher, rx)
}

#[test]
fn a_marked_job_read_through_the_spooler_is_blocked_and_a_plain_one_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (watcher, _rx) = watcher(dir.path());
    let name = test_printer();
    let printer = Printer::open(&name).expect("OpenPrinterW");

    let marked = spool_file(&[gdi_page(&["TỐI MẬT", "Báo cáo tình hình an ninh trật tự quý III."])]);
    let id = submit(&printer, "Báo cáo quý III.docx", "NT EMF 1.008", &marked);
    printer.control(id, JOB_CONTROL_PAUSE).expect("SetJobW pause");
    let job = SpoolJob {
        printer: name.clone(),
        id,
        user: "an".into(),
        document: "Báo cáo quý III.docx".into(),
        datatype: "NT EMF 1.008".into(),
        status: JOB_STATUS_PAUSED,
    };
    let events = watcher.judge(&printer, &job, true);
    let verdict = events
        .iter()
        .find_map(|e| match e {
            EventBody::DlpVerdict(v) => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no verdict: {events:?}"));
    assert_eq!(
        (verdict.channel.as_str(), verdict.action.as_str(), verdict.outcome.as_str()),
        ("print", "block", "cancelled"),
        "{verdict:?}"
    );
    assert_eq!(verdict.path, Text::from(format!("spooler:{name}/{id} (an) Báo cáo quý III.docx")));
    assert!(verdict.rules.iter().any(|r| r == "s0-level-egress"), "{verdict:?}");
    // Found in the text read through the spooler, not blocked for being unreadable.
    assert!(verdict.not_inspected.is_empty(), "{verdict:?}");
    let marking = events
        .iter()
        .any(|e| matches!(e, EventBody::Dlp(m) if m.level.as_deref() == Some("toi_mat") && m.path == verdict.path));
    assert!(marking, "{events:?}");
    assert!(verdict.vault_id.is_none(), "a print job is not kept in the vault");

    // One document at a time per handle: the next job is submitted through another.
    let printer = Printer::open(&name).expect("OpenPrinterW");
    let plain = spool_file(&[gdi_page(&["Thông báo lịch họp giao ban tuần"])]);
    let id = submit(&printer, "Lịch họp.docx", "NT EMF 1.008", &plain);
    printer.control(id, JOB_CONTROL_PAUSE).expect("SetJobW pause");
    let job = SpoolJob { id, document: "Lịch họp.docx".into(), ..job };
    assert!(watcher.judge(&printer, &job, true).is_empty(), "nothing in the plain job is covered by the policy");
}
