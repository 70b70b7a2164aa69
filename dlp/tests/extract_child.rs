//! The child-process path of the content walker, through a real host executable (the crate's
//! `haidang-dlp-extract`): a document parsed in the child — from a file, or sent on its stdin
//! — gives the same parts as in-process; a document that needs more memory than the child may
//! have, and a child that hangs, become verdicts.

use haidang_dlp::extract::{Extraction, Extractor, Isolation, Limits, Reason, Verdict, extract};
use haidang_dlp::{Config, DetectorSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn host() -> Isolation {
    Isolation::Child { helper: PathBuf::from(env!("CARGO_BIN_EXE_haidang-dlp-extract")) }
}

fn docx() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let document = r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:rPr><w:rFonts w:ascii=".VnTime"/></w:rPr><w:t>TUYÖT MËT</w:t></w:r></w:p><w:p><w:r><w:t>Số CCCD: 056090000123</w:t></w:r></w:p></w:body></w:document>"#;
    for (name, data) in [("[Content_Types].xml", "<Types/>"), ("word/document.xml", document)] {
        writer.start_file(name, options).expect("start entry");
        writer.write_all(data.as_bytes()).expect("write entry");
    }
    writer.finish().expect("finish zip").into_inner()
}

#[test]
fn child_gives_the_parts_of_in_process_extraction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plan.docx");
    let bytes = docx();
    std::fs::write(&path, &bytes).expect("write docx");
    let extractor = Extractor::with_isolation(Limits::default(), host());
    let from_child = extractor.extract_in_child(&path).expect("child extraction");
    assert_eq!(from_child, extract("plan.docx", &bytes, &Limits::default()));
    assert_eq!(from_child.parts.len(), 2);
}

#[test]
fn a_file_larger_than_the_child_memory_is_over_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.txt");
    // A sparse file: reading it needs 512 MiB of memory the child may not have.
    std::fs::File::create(&path).and_then(|f| f.set_len(512 << 20)).expect("sparse file");
    let limits = Limits { child_memory: 256 << 20, max_input_bytes: 1 << 30, ..Limits::default() };
    let extractor = Extractor::with_isolation(limits, host());
    let extraction = extractor.extract_in_child(&path).expect("the child reports, it does not die");
    assert!(extraction.parts.is_empty());
    assert!(
        matches!(&extraction.verdicts[..], [Verdict::CouldNotInspect { container_path, reason: Reason::OverLimit(why) }]
        if container_path == "huge.txt" && why.contains("memory"))
    );
}

/// A stored zip entry whose headers declare 512 MiB: the child sizes its buffer by the
/// declaration, which a 256 MiB address space cannot hold, and aborts.
fn liar_zip() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("liar.txt", options).expect("start entry");
    writer.write_all(b"small").expect("write entry");
    let mut bytes = writer.finish().expect("finish zip").into_inner();
    let declared = (512u32 << 20).to_le_bytes();
    for (signature, offset) in [(&b"PK\x03\x04"[..], 22), (&b"PK\x01\x02"[..], 24)] {
        let at = bytes.windows(4).position(|w| w == signature).expect("zip header");
        bytes[at + offset..at + offset + 4].copy_from_slice(&declared);
    }
    bytes
}

/// Limits under which [`liar_zip`] kills the child rather than being refused by a cap.
fn lenient_limits() -> Limits {
    Limits {
        child_memory: 256 << 20,
        max_part_bytes: 1 << 30,
        max_total_bytes: 1 << 30,
        max_ratio: u64::MAX,
        ..Limits::default()
    }
}

#[test]
fn memory_limit_kills_the_child_not_the_host() {
    let bytes = liar_zip();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("liar.zip");
    std::fs::write(&path, &bytes).expect("write zip");
    let extractor = Extractor::with_isolation(lenient_limits(), host());
    match extractor.extract_in_child(&path) {
        Err(Verdict::CouldNotInspect { container_path, reason: Reason::ChildFailed(why) }) => {
            assert_eq!(container_path, "liar.zip");
            assert!(why.contains("memory"), "{why}");
        }
        other => panic!("expected a failed child, got {other:?}"),
    }
}

#[test]
fn a_hanging_child_is_killed_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let helper = dir.path().join("hang.sh");
    // `exec` so the killed process is the one holding the pipes.
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 60\n").expect("write helper");
    std::process::Command::new("chmod").arg("+x").arg(&helper).status().expect("chmod");
    let document = dir.path().join("doc.txt");
    std::fs::write(&document, "TUYỆT MẬT").expect("write document");
    let limits = Limits { time_budget: Duration::from_millis(100), ..Limits::default() };
    let extractor = Extractor::with_isolation(limits, Isolation::Child { helper });
    let started = Instant::now();
    let Extraction { parts, verdicts } = extractor.extract_path(&document);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(parts.is_empty());
    assert_eq!(verdicts, vec![Verdict::CouldNotInspect { container_path: "doc.txt".into(), reason: Reason::Timeout }]);
}

#[test]
fn an_object_sent_to_the_child_gives_the_parts_of_in_process_extraction() {
    let bytes = docx();
    let extractor = Extractor::with_isolation(Limits::default(), host());
    let from_child = extractor.extract_bytes("upload.docx", &bytes);
    assert_eq!(from_child, extract("upload.docx", &bytes, &Limits::default()));
    assert_eq!(from_child.parts.len(), 2);
    assert!(from_child.verdicts.is_empty(), "{:?}", from_child.verdicts);
}

#[test]
fn an_object_is_inspected_as_the_same_file_is_and_cached_by_content() {
    let set = DetectorSet::new(Config::default()).expect("detectors");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plan.docx");
    let bytes = docx();
    std::fs::write(&path, &bytes).expect("write docx");
    let extractor = Extractor::with_isolation(Limits::default(), host());
    let from_file = extractor.scan_document(&set, &path).expect("file scan");
    let fresh = Extractor::with_isolation(Limits::default(), host());
    let from_object = fresh.inspect_bytes(&set, "plan.docx", &bytes).expect("object scan");
    assert_eq!(from_object.findings, from_file.findings);
    assert_eq!((from_object.sha256, from_object.cached), (from_file.sha256, false));
    let detectors: Vec<&str> = from_object.findings.iter().map(|f| f.detector.as_str()).collect();
    assert!(detectors.contains(&"cccd") && detectors.contains(&"M1"), "{detectors:?}");
    // Seen again under another name: answered from the cache, its paths renamed.
    let again = fresh.inspect_bytes(&set, "copy.docx", &bytes).expect("object scan");
    assert!(again.cached);
    assert!(again.findings.iter().all(|f| f.location.part.starts_with("copy.docx")), "{:?}", again.findings);
}

#[test]
fn an_object_over_the_input_limit_is_not_sent() {
    let limits = Limits { max_input_bytes: 1024, ..Limits::default() };
    // A helper that cannot start: a verdict other than the limit would mean it was tried.
    let extractor = Extractor::with_isolation(limits, Isolation::Child { helper: PathBuf::from("/nonexistent") });
    let extraction = extractor.extract_bytes("big.zip", &[0; 2048]);
    assert!(extraction.parts.is_empty());
    assert!(
        matches!(&extraction.verdicts[..], [Verdict::CouldNotInspect { container_path, reason: Reason::OverLimit(why) }]
        if container_path == "big.zip" && why.contains("1024 bytes")),
        "{:?}",
        extraction.verdicts
    );
}

#[test]
fn memory_limit_kills_the_child_of_an_object_too() {
    let extractor = Extractor::with_isolation(lenient_limits(), host());
    let Extraction { parts, verdicts } = extractor.extract_bytes("liar.zip", &liar_zip());
    assert!(parts.is_empty());
    assert!(
        matches!(&verdicts[..], [Verdict::CouldNotInspect { container_path, reason: Reason::ChildFailed(why) }]
        if container_path == "liar.zip" && why.contains("memory")),
        "{verdicts:?}"
    );
}

#[test]
fn a_child_that_never_reads_its_object_is_killed_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let helper = dir.path().join("hang.sh");
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 60\n").expect("write helper");
    std::process::Command::new("chmod").arg("+x").arg(&helper).status().expect("chmod");
    let limits = Limits { time_budget: Duration::from_millis(100), ..Limits::default() };
    let extractor = Extractor::with_isolation(limits, Isolation::Child { helper });
    // Far more than a pipe holds: sending it blocks until the child is killed.
    let object = vec![b'%'; 8 << 20];
    let started = Instant::now();
    let Extraction { parts, verdicts } = extractor.extract_bytes("upload.pdf", &object);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(parts.is_empty());
    assert_eq!(
        verdicts,
        vec![Verdict::CouldNotInspect { container_path: "upload.pdf".into(), reason: Reason::Timeout }]
    );
}
