//! Hunt inputs: finding the files under the paths given, cutting them into units of work, and
//! reading their records (EVTX through the `evtx` crate; JSON lines or JSON documents).
//!
//! Everything here reads files an attacker may have shaped: sizes are bounded, recursion is
//! bounded (serde_json's own limit), and a bad record is counted and skipped, never fatal.

use evtx::{EvtxParser, ParserSettings};
use haidang_proto::event::Timestamp;
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// EVTX layout: a 4 KiB file header, then 64 KiB chunks that each parse on their own.
const EVTX_HEADER_BYTES: u64 = 4096;
const EVTX_CHUNK_BYTES: u64 = 65536;
const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// EVTX files larger than this many chunks (4 MiB) are hunted in several parts, so one big
/// log keeps every core busy.
pub const CHUNKS_PER_PART: u64 = 64;

/// A JSON line longer than this is refused (and skipped): one event is a few KiB, and the line
/// is held in memory whole.
pub const MAX_JSON_LINE_BYTES: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Evtx,
    Json,
}

/// One input file, with its path as the user wrote it (joined under a directory they named).
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub kind: Kind,
    pub bytes: u64,
}

/// A unit of work: a whole input, or a range of an EVTX file's chunks.
#[derive(Clone, Debug)]
pub struct Part {
    pub input: usize,
    pub chunks: Option<Range<u64>>,
    /// Bytes this part covers, for progress.
    pub bytes: u64,
    /// Whether this is the input's last part (its problems are reported then).
    pub last: bool,
}

/// The input files under `paths`, in order: files as given, directories walked recursively
/// (sorted; symlinked directories not followed) for `.evtx`, `.json`, `.jsonl` and `.ndjson`.
/// A path that cannot be read becomes a line in `problems`.
pub fn discover(paths: &[PathBuf], problems: &mut Vec<(PathBuf, String)>) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut inputs, problems),
            // Only a regular file is sniffed: reading the magic from a pipe would consume it.
            Ok(meta) if meta.is_file() => {
                inputs.push(Input { path: path.clone(), kind: sniff(path), bytes: meta.len() })
            }
            Ok(meta) => {
                let kind = kind_by_extension(path).unwrap_or(Kind::Json);
                inputs.push(Input { path: path.clone(), kind, bytes: meta.len() });
            }
            Err(e) => problems.push((path.clone(), format!("cannot read: {e}"))),
        }
    }
    inputs
}

fn walk(dir: &Path, inputs: &mut Vec<Input>, problems: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push((dir.to_path_buf(), format!("cannot list directory: {e}")));
            return;
        }
    };
    let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
    children.sort_by_key(|e| e.file_name());
    for entry in children {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            walk(&path, inputs, problems);
            continue;
        }
        let Some(kind) = kind_by_extension(&path) else { continue };
        // A symlink to a file is followed; one to a directory is not (a loop would never end).
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => inputs.push(Input { path, kind, bytes: meta.len() }),
            Ok(_) => {}
            Err(e) => problems.push((path, format!("cannot read: {e}"))),
        }
    }
}

fn kind_by_extension(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "evtx" => Some(Kind::Evtx),
        "json" | "jsonl" | "ndjson" => Some(Kind::Json),
        _ => None,
    }
}

/// A file named on the command line: by extension, else by the EVTX magic, else JSON.
fn sniff(path: &Path) -> Kind {
    if let Some(kind) = kind_by_extension(path) {
        return kind;
    }
    let mut magic = [0u8; 8];
    let is_evtx = File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == EVTX_MAGIC;
    if is_evtx { Kind::Evtx } else { Kind::Json }
}

/// Cuts inputs into parts: big EVTX files into runs of [`CHUNKS_PER_PART`] chunks.
pub fn parts(inputs: &[Input]) -> Vec<Part> {
    let mut parts = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let chunks = evtx_chunk_count(input.bytes);
        if input.kind != Kind::Evtx || chunks <= CHUNKS_PER_PART {
            parts.push(Part { input: index, chunks: None, bytes: input.bytes, last: true });
            continue;
        }
        let mut first = 0;
        while first < chunks {
            let end = (first + CHUNKS_PER_PART).min(chunks);
            let bytes = (end - first) * EVTX_CHUNK_BYTES + if first == 0 { EVTX_HEADER_BYTES } else { 0 };
            parts.push(Part { input: index, chunks: Some(first..end), bytes, last: end == chunks });
            first = end;
        }
    }
    parts
}

fn evtx_chunk_count(file_bytes: u64) -> u64 {
    file_bytes.saturating_sub(EVTX_HEADER_BYTES) / EVTX_CHUNK_BYTES
}

/// What reading one part produced besides its records.
#[derive(Debug, Default)]
pub struct ReadStats {
    pub records: u64,
    /// Records skipped unread because they were written before the time window.
    pub skipped: u64,
    /// Records (or lines) that could not be read.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl ReadStats {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

/// Reads an EVTX file (or the chunks `chunks` of it), calling `visit(record id, record)` for
/// each record, rendered as the `evtx` crate renders JSON. Records written before
/// `written_after` are skipped unrendered. `Err` when the file is not readable as EVTX at all.
pub fn read_evtx(
    path: &Path,
    chunks: Option<Range<u64>>,
    written_after: Option<Timestamp>,
    visit: &mut dyn FnMut(u64, Value),
) -> Result<ReadStats, String> {
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let len = file.metadata().map_err(|e| format!("cannot read: {e}"))?.len();
    let whole_chunks = evtx_chunk_count(len);
    let chunks = chunks.unwrap_or(0..whole_chunks);
    // Windows writes whole chunks; bytes past the last one mean a copy was cut short, and the
    // parser would drop them without a word.
    let cut_short = (chunks.end >= whole_chunks)
        .then(|| len.saturating_sub(EVTX_HEADER_BYTES) % EVTX_CHUNK_BYTES)
        .filter(|&rest| rest > 0 && len > EVTX_HEADER_BYTES);
    let window = ChunkWindow::new(file, chunks);
    let settings = ParserSettings::new().indent(false);
    let mut parser = EvtxParser::from_read_seek(window)
        .map_err(|e| format!("not an EVTX file: {}", first_line(&e.to_string())))?
        .with_configuration(settings);
    let min_nanos = written_after.map(|t| i128::from(t.0));
    let mut stats = ReadStats::default();
    // The parser reads past a bad header, but a header that fails its checksum while the
    // records read fine is rare, and one that leaves no records means this is not an event log.
    let header_ok = parser.header().validate_checksum();
    let records = parser.serialized_records(move |record| {
        let record = record?;
        if min_nanos.is_some_and(|min| record.timestamp.as_nanosecond() < min) {
            return Ok(None);
        }
        record.into_json_bytes().map(Some)
    });
    for record in records {
        match record {
            Ok(Some(record)) => match serde_json::from_slice(&record.data) {
                Ok(value) => {
                    stats.records += 1;
                    visit(record.event_record_id, value);
                }
                Err(e) => stats.error(format!("record {}: {e}", record.event_record_id)),
            },
            Ok(None) => stats.skipped += 1,
            Err(e) => stats.error(first_line(&e.to_string()).to_owned()),
        }
    }
    if !header_ok {
        if stats.records == 0 {
            return Err("not an EVTX file: corrupt file header".to_owned());
        }
        stats.error("corrupt file header (checksum mismatch); its records were read anyway".to_owned());
    }
    if let Some(rest) = cut_short {
        stats.error(format!("truncated: the last {rest} bytes are not a whole chunk"));
    }
    Ok(stats)
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// A view of an EVTX file holding its header and only the chunks in `chunks`, so a parser over
/// it reads just that part of the file (the parser locates chunks by offset).
struct ChunkWindow {
    file: File,
    /// Bytes skipped between the header and the first chunk of the window.
    shift: u64,
    len: u64,
    pos: u64,
}

impl ChunkWindow {
    fn new(file: File, chunks: Range<u64>) -> ChunkWindow {
        let count = chunks.end.saturating_sub(chunks.start);
        ChunkWindow {
            file,
            shift: chunks.start.saturating_mul(EVTX_CHUNK_BYTES),
            len: EVTX_HEADER_BYTES.saturating_add(count.saturating_mul(EVTX_CHUNK_BYTES)),
            pos: 0,
        }
    }
}

impl Read for ChunkWindow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        // The header and the chunk area are contiguous in the window; read no further than the
        // end of the one the position is in.
        let (offset, limit) = if self.pos < EVTX_HEADER_BYTES {
            (self.pos, EVTX_HEADER_BYTES - self.pos)
        } else {
            (self.pos + self.shift, self.len - self.pos)
        };
        let want = usize::try_from(limit).unwrap_or(usize::MAX).min(buf.len());
        self.file.seek(SeekFrom::Start(offset))?;
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ChunkWindow {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

/// Reads JSON events, calling `visit(record number, event)` for each. One event per line
/// (record number = line number; a line holding an array yields each element), or, when the
/// first line does not hold a whole value, a JSON document: one object, an array of objects,
/// or a sequence of them (record number = position in the document, from 1).
pub fn read_json(path: &Path, visit: &mut dyn FnMut(u64, Value)) -> Result<ReadStats, String> {
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut stats = ReadStats::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut any_value = false;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_JSON_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') && n as u64 > MAX_JSON_LINE_BYTES {
            stats.error(format!("line {number}: longer than {MAX_JSON_LINE_BYTES} bytes"));
            skip_line(&mut reader).map_err(|e| format!("cannot read: {e}"))?;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => {
                any_value = true;
                emit(value, number, &mut stats, visit);
            }
            // The first value runs past its line: a pretty-printed document, read whole.
            Err(e) if !any_value && stats.errors == 0 && e.is_eof() => {
                return read_json_document(path, visit);
            }
            Err(e) => stats.error(format!("line {number}: {e}")),
        }
    }
    Ok(stats)
}

fn emit(value: Value, number: u64, stats: &mut ReadStats, visit: &mut dyn FnMut(u64, Value)) {
    match value {
        Value::Array(items) => {
            for item in items {
                stats.records += 1;
                visit(number, item);
            }
        }
        value => {
            stats.records += 1;
            visit(number, value);
        }
    }
}

fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn read_json_document(path: &Path, visit: &mut dyn FnMut(u64, Value)) -> Result<ReadStats, String> {
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut stats = ReadStats::default();
    let mut number = 0u64;
    for value in serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, file)).into_iter::<Value>() {
        match value {
            Ok(Value::Array(items)) => {
                for item in items {
                    number += 1;
                    stats.records += 1;
                    visit(number, item);
                }
            }
            Ok(value) => {
                number += 1;
                stats.records += 1;
                visit(number, value);
            }
            // A syntax error leaves the stream nowhere to resume from.
            Err(e) => {
                stats.error(format!("after event {number}: {e}"));
                break;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect_json(text: &str) -> (Vec<(u64, Value)>, ReadStats) {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        let mut seen = Vec::new();
        let stats = read_json(file.path(), &mut |n, v| seen.push((n, v))).expect("readable");
        (seen, stats)
    }

    #[test]
    fn json_lines_are_numbered_by_line_and_bad_lines_are_counted() {
        let (seen, stats) = collect_json("{\"a\":1}\n\nnot json\n[{\"b\":2},{\"c\":3}]\n{\"d\":4}");
        let numbers: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 4, 4, 5]);
        assert_eq!(stats.records, 4);
        assert_eq!(stats.errors, 1);
        assert!(stats.first_error.as_deref().is_some_and(|e| e.starts_with("line 3:")), "{stats:?}");
    }

    #[test]
    fn a_pretty_printed_document_is_read_whole() {
        let (seen, stats) = collect_json("[\n  {\"a\": 1},\n  {\"b\": 2}\n]\n");
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1], (2, serde_json::json!({"b": 2})));
        assert_eq!(stats.errors, 0);
        let (seen, _) = collect_json("{\n \"Event\": {\"System\": {}}\n}\n");
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn a_truncated_document_is_an_error_not_a_crash() {
        let (seen, stats) = collect_json("[\n {\"a\": 1},\n {\"b\": ");
        assert!(seen.is_empty());
        assert_eq!(stats.errors, 1);
    }

    #[test]
    fn hostile_json_nesting_is_refused() {
        let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let (seen, stats) = collect_json(&deep);
        assert!(seen.is_empty());
        assert_eq!(stats.errors, 1);
    }

    #[test]
    fn files_that_are_not_evtx_are_refused_with_a_reason() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"this is not an event log").expect("write");
        let err = read_evtx(file.path(), None, None, &mut |_, _| {}).expect_err("not evtx");
        assert!(err.starts_with("not an EVTX file"), "{err}");

        // The magic alone does not make an event log.
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let mut garbage = EVTX_MAGIC.to_vec();
        garbage.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        file.write_all(&garbage).expect("write");
        let err = read_evtx(file.path(), None, None, &mut |_, _| {}).expect_err("not evtx");
        assert_eq!(err, "not an EVTX file: corrupt file header");
    }

    /// A minimal EVTX writer, after libyal's description of the format: a file header, then
    /// 64 KiB chunks of records numbered from 1, each record an empty `<Event/>` element. The
    /// checksums are right, so the parser reads it as Windows would have written it.
    mod evtx_writer {
        use super::{EVTX_CHUNK_BYTES, EVTX_HEADER_BYTES, EVTX_MAGIC};

        const CHUNK_HEADER_BYTES: usize = 512;
        /// 2026-01-01T00:00:00Z as a FILETIME (100 ns ticks since 1601).
        const WRITTEN: u64 = 134_116_992_000_000_000;

        /// An EVTX file of `chunks` chunks holding `per_chunk` records each.
        pub(super) fn file(chunks: u64, per_chunk: u64) -> Vec<u8> {
            let mut out = vec![0u8; EVTX_HEADER_BYTES as usize];
            out[..8].copy_from_slice(EVTX_MAGIC);
            put_u64(&mut out, 16, chunks - 1); // last chunk
            put_u64(&mut out, 24, chunks * per_chunk + 1); // next record id
            put_u32(&mut out, 32, 128); // header size
            put_u16(&mut out, 36, 1); // minor version
            put_u16(&mut out, 38, 3); // major version
            put_u16(&mut out, 40, EVTX_HEADER_BYTES as u16);
            put_u16(&mut out, 42, chunks as u16);
            let checksum = crc32(&out[..120]);
            put_u32(&mut out, 124, checksum);
            for chunk in 0..chunks {
                out.extend(self::chunk(chunk * per_chunk + 1, per_chunk));
            }
            out
        }

        fn chunk(first_id: u64, count: u64) -> Vec<u8> {
            let mut out = vec![0u8; EVTX_CHUNK_BYTES as usize];
            out[..8].copy_from_slice(b"ElfChnk\0");
            let last_id = first_id + count - 1;
            for (at, value) in [(8, first_id), (16, last_id), (24, first_id), (32, last_id)] {
                put_u64(&mut out, at, value);
            }
            put_u32(&mut out, 40, 128); // header size
            let mut at = CHUNK_HEADER_BYTES;
            let mut last_record = at;
            for id in first_id..=last_id {
                let record = record(id, at);
                last_record = at;
                out[at..at + record.len()].copy_from_slice(&record);
                at += record.len();
            }
            put_u32(&mut out, 44, last_record as u32);
            put_u32(&mut out, 48, at as u32); // free space
            let records = crc32(&out[CHUNK_HEADER_BYTES..at]);
            put_u32(&mut out, 52, records);
            let header = crc32(&[&out[..120], &out[128..CHUNK_HEADER_BYTES]].concat());
            put_u32(&mut out, 124, header);
            out
        }

        /// A record at chunk offset `at`: `<Event/>` in binary XML, its name stored in place.
        fn record(id: u64, at: usize) -> Vec<u8> {
            let mut xml = vec![0x0f, 1, 1, 0]; // fragment header
            xml.push(0x01); // open start element, no attributes
            let name: Vec<u16> = "Event".encode_utf16().collect();
            let element_size = 4 + 6 + 2 + 2 * name.len() + 2 + 1;
            xml.extend((element_size as u32).to_le_bytes());
            let name_offset = at + 24 + xml.len() + 4;
            xml.extend((name_offset as u32).to_le_bytes());
            xml.extend([0u8; 6]); // next name in the hash bucket, name hash
            xml.extend((name.len() as u16).to_le_bytes());
            xml.extend(name.iter().flat_map(|c| c.to_le_bytes()));
            xml.extend([0, 0]); // terminator
            xml.push(0x03); // close empty element
            xml.push(0x00); // end of stream
            let size = (24 + xml.len() + 4) as u32;
            let mut out = Vec::with_capacity(size as usize);
            out.extend(b"**\0\0");
            out.extend(size.to_le_bytes());
            out.extend(id.to_le_bytes());
            out.extend(WRITTEN.to_le_bytes());
            out.extend(xml);
            out.extend(size.to_le_bytes());
            out
        }

        fn put_u16(out: &mut [u8], at: usize, value: u16) {
            out[at..at + 2].copy_from_slice(&value.to_le_bytes());
        }

        fn put_u32(out: &mut [u8], at: usize, value: u32) {
            out[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }

        fn put_u64(out: &mut [u8], at: usize, value: u64) {
            out[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }

        /// CRC-32 (IEEE), as the format's checksums are.
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
                }
            }
            !crc
        }
    }

    fn written_evtx(chunks: u64, per_chunk: u64) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&evtx_writer::file(chunks, per_chunk)).expect("write");
        file
    }

    fn record_ids(path: &Path, chunks: Option<Range<u64>>) -> (Vec<u64>, ReadStats) {
        let mut ids = Vec::new();
        let stats = read_evtx(path, chunks, None, &mut |id, _| ids.push(id)).expect("readable");
        (ids, stats)
    }

    #[test]
    fn the_written_evtx_file_reads_as_event_records() {
        let file = written_evtx(2, 3);
        let mut seen = Vec::new();
        let stats = read_evtx(file.path(), None, None, &mut |id, record| seen.push((id, record))).expect("readable");
        assert_eq!((stats.records, stats.errors), (6, 0), "{stats:?}");
        assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
        assert!(seen.iter().all(|(_, record)| record.get("Event").is_some()), "{seen:?}");
    }

    #[test]
    fn reading_an_evtx_file_in_chunk_runs_reads_every_record_once() {
        // 16 chunks, all holding records.
        let file = written_evtx(16, 70);
        let (mut whole, stats) = record_ids(file.path(), None);
        assert_eq!(stats.errors, 0, "{stats:?}");
        assert_eq!(whole.len(), 16 * 70);
        let mut parts = Vec::new();
        for range in [0..5, 5..6, 6..16] {
            let (ids, stats) = record_ids(file.path(), Some(range));
            assert_eq!(stats.errors, 0, "{stats:?}");
            parts.extend(ids);
        }
        whole.sort_unstable();
        parts.sort_unstable();
        assert_eq!(whole, parts);
    }

    #[test]
    fn a_truncated_evtx_file_is_reported() {
        let bytes = evtx_writer::file(4, 10);
        let cut = EVTX_HEADER_BYTES + 3 * EVTX_CHUNK_BYTES + 1000;
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&bytes[..cut as usize]).expect("write");
        let (ids, stats) = record_ids(file.path(), None);
        assert_eq!(ids.len(), 30);
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.first_error.as_deref(), Some("truncated: the last 1000 bytes are not a whole chunk"));
    }

    #[test]
    fn big_evtx_files_are_cut_into_chunk_runs() {
        let input = |bytes| Input { path: "x.evtx".into(), kind: Kind::Evtx, bytes };
        let small = parts(&[input(EVTX_HEADER_BYTES + 3 * EVTX_CHUNK_BYTES)]);
        assert_eq!(small.len(), 1);
        assert!(small[0].chunks.is_none() && small[0].last);
        let big = parts(&[input(EVTX_HEADER_BYTES + (2 * CHUNKS_PER_PART + 5) * EVTX_CHUNK_BYTES + 100)]);
        let ranges: Vec<_> = big.iter().map(|p| p.chunks.clone()).collect();
        assert_eq!(
            ranges,
            [
                Some(0..CHUNKS_PER_PART),
                Some(CHUNKS_PER_PART..2 * CHUNKS_PER_PART),
                Some(2 * CHUNKS_PER_PART..2 * CHUNKS_PER_PART + 5)
            ]
        );
        assert_eq!(big.iter().filter(|p| p.last).count(), 1);
    }
}
