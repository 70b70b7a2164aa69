//! Downloading a snapshot into a cache directory, file by file from its pinned commit, and
//! keeping only what matches the manifest.
//!
//! `curl` does the transfers: one process for all the files (it reuses connections and runs
//! several at once), so that no TLS stack is built into the tests. Each file lands as
//! `<path>.part` and becomes `<path>` only once its SHA-256 is the pinned one; a marker file
//! holding the manifest's own hash then says that the whole directory was verified, and later
//! runs trust it without rereading every file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::manifest::{Entry, Snapshot};

/// The marker of a verified directory: it holds the manifest's hash.
const VERIFIED: &str = ".haidang-verified";

/// Why a snapshot could not be had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// Not downloadable here (no network, no curl, the server refused): why, in a few words.
    Unavailable(String),
    /// A file came down with other contents than the manifest pins; it was deleted.
    Corrupt(String),
}

/// The directory `dest` holding every file of `snapshot`, downloaded from `base` (as
/// `{base}/{repo}/{commit}/{path}`) where missing or wrong.
pub(crate) fn fetch(snapshot: &Snapshot, dest: &Path, base: &str) -> Result<PathBuf, FetchError> {
    let marker = dest.join(VERIFIED);
    if fs::read_to_string(&marker).is_ok_and(|id| id.trim() == snapshot.id) {
        return Ok(dest.to_path_buf());
    }
    let missing: Vec<&Entry> =
        snapshot.files.iter().filter(|e| file_sha256(&dest.join(&e.path)).as_ref() != Some(&e.sha256)).collect();
    if !missing.is_empty() {
        download(snapshot, &missing, dest, base)?;
        install(snapshot, &missing, dest, base)?;
    }
    fs::write(&marker, &snapshot.id)
        .map_err(|e| FetchError::Unavailable(format!("cannot write {}: {e}", marker.display())))?;
    Ok(dest.to_path_buf())
}

/// Runs one `curl` for every file of `missing`, each into `<path>.part`.
fn download(snapshot: &Snapshot, missing: &[&Entry], dest: &Path, base: &str) -> Result<(), FetchError> {
    let mut config = String::new();
    for entry in missing {
        let url = url(snapshot, entry, base);
        let part = part_path(dest, entry);
        config.push_str(&format!("url = \"{}\"\noutput = \"{}\"\n", quote(&url), quote(&part.to_string_lossy())));
    }
    let child = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--no-progress-meter", "--location", "--create-dirs"])
        // The first failure ends it: offline, thousands of files would each wait out a timeout.
        .args(["--fail-early", "--connect-timeout", "10", "--retry", "2"])
        .args(["--parallel", "--parallel-max", "8", "--config", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.map_err(|e| FetchError::Unavailable(format!("cannot run curl: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(config.as_bytes()).map_err(|e| FetchError::Unavailable(format!("curl: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| FetchError::Unavailable(format!("curl: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Its own messages start `curl:`; with several transfers at once, a progress table may
    // come first.
    let first = stderr.lines().map(str::trim).find(|l| l.starts_with("curl:")).unwrap_or("no message");
    Err(FetchError::Unavailable(format!("download failed: {first}")))
}

/// Moves each downloaded file into place if it matches; deletes every one that does not.
fn install(snapshot: &Snapshot, missing: &[&Entry], dest: &Path, base: &str) -> Result<(), FetchError> {
    let mut corrupt = Vec::new();
    for entry in missing {
        let part = part_path(dest, entry);
        match file_sha256(&part) {
            Some(sha256) if sha256 == entry.sha256 => {
                fs::rename(&part, dest.join(&entry.path))
                    .map_err(|e| FetchError::Unavailable(format!("cannot move {} into place: {e}", part.display())))?;
            }
            found => {
                // Nothing unverified stays in the cache, not even to be resumed.
                let _ = fs::remove_file(&part);
                corrupt.push((entry, found));
            }
        }
    }
    let Some(((first, found), rest)) = corrupt.split_first() else { return Ok(()) };
    let found = found.as_deref().unwrap_or("nothing");
    let more = if rest.is_empty() { String::new() } else { format!(", and {} more files", rest.len()) };
    Err(FetchError::Corrupt(format!(
        "{} has SHA-256 {found}, not {} as pinned in the manifest of {}: deleted it{more}",
        url(snapshot, first, base),
        first.sha256,
        snapshot.label()
    )))
}

fn url(snapshot: &Snapshot, entry: &Entry, base: &str) -> String {
    format!("{}/{}/{}/{}", base.trim_end_matches('/'), snapshot.repo, snapshot.commit, percent_encode(&entry.path))
}

fn part_path(dest: &Path, entry: &Entry) -> PathBuf {
    dest.join(format!("{}.part", entry.path))
}

/// A path for a URL: every byte but unreserved characters and `/` escaped (the corpora have
/// names with spaces and `&`).
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A string for a double-quoted curl config value.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn file_sha256(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|bytes| sha256_hex(&bytes))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    /// Files of a made-up corpus, by path.
    fn corpus() -> Vec<(&'static str, &'static [u8])> {
        vec![
            ("LICENSE", b"licence text\n"),
            ("rules/linux/a rule.yml", b"title: a\n"),
            ("Lateral Movement/EVTX_ATT&CK.evtx", b"ElfFile\0 not really"),
        ]
    }

    fn snapshot(files: &[(&str, &[u8])]) -> Snapshot {
        let mut text = format!("# upstream: example/corpus {COMMIT}\n");
        for (path, bytes) in files {
            text.push_str(&format!("{}  {path}\n", sha256_hex(bytes)));
        }
        Snapshot::parse("test manifest", &text).expect("manifest")
    }

    /// An HTTP server on a loopback port that serves `files` under `/example/corpus/COMMIT/`,
    /// one request per connection, and counts the requests.
    fn serve(files: Vec<(&'static str, &'static [u8])>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let by_url: HashMap<String, &[u8]> = files
            .into_iter()
            .map(|(path, bytes)| (format!("/example/corpus/{COMMIT}/{}", percent_encode(path)), bytes))
            .collect();
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                answer(stream, &by_url);
            }
        });
        (base, requests)
    }

    fn answer(mut stream: TcpStream, files: &HashMap<String, &[u8]>) {
        let mut request = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut request).is_err() {
            return;
        }
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
            header.clear();
        }
        let path = request.split_whitespace().nth(1).unwrap_or_default();
        let (status, body): (&str, &[u8]) = match files.get(path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", b"not found"),
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    }

    #[test]
    fn a_snapshot_is_downloaded_verified_and_then_trusted() {
        let (base, requests) = serve(corpus());
        let cache = tempfile::tempdir().expect("temp dir");
        let dest = cache.path().join("corpus");
        let snapshot = snapshot(&corpus());
        assert_eq!(fetch(&snapshot, &dest, &base), Ok(dest.clone()));
        for (path, bytes) in corpus() {
            assert_eq!(fs::read(dest.join(path)).expect(path), bytes);
        }
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
        // Verified once: the marker is trusted, nothing is fetched again.
        assert_eq!(fetch(&snapshot, &dest, "http://127.0.0.1:9"), Ok(dest.clone()));
        // A new manifest rechecks what is there and fetches only what changed.
        let mut changed = corpus();
        changed[1] = ("rules/linux/a rule.yml", b"title: b\n");
        let (base, requests) = serve(changed.clone());
        assert_eq!(fetch(&self::snapshot(&changed), &dest, &base), Ok(dest.clone()));
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(fs::read(dest.join("rules/linux/a rule.yml")).expect("rule"), b"title: b\n");
    }

    #[test]
    fn a_tampered_file_is_refused_and_deleted() {
        let mut served = corpus();
        served[2] = ("Lateral Movement/EVTX_ATT&CK.evtx", b"ElfFile\0 tampered");
        let (base, _) = serve(served);
        let cache = tempfile::tempdir().expect("temp dir");
        let dest = cache.path().join("corpus");
        let snapshot = snapshot(&corpus());
        let Err(FetchError::Corrupt(line)) = fetch(&snapshot, &dest, &base) else { panic!("tampered file accepted") };
        let url = format!("{base}/example/corpus/{COMMIT}/Lateral%20Movement/EVTX_ATT%26CK.evtx");
        let expected = format!(
            "{url} has SHA-256 {}, not {} as pinned in the manifest of example/corpus@{COMMIT}: deleted it",
            sha256_hex(b"ElfFile\0 tampered"),
            sha256_hex(b"ElfFile\0 not really")
        );
        assert_eq!(line, expected);
        assert!(!dest.join("Lateral Movement/EVTX_ATT&CK.evtx").exists());
        assert!(!dest.join("Lateral Movement/EVTX_ATT&CK.evtx.part").exists());
        assert!(!dest.join(VERIFIED).exists());
        // The files that matched stay, and are not fetched again once the server is fixed.
        assert!(dest.join("LICENSE").exists());
        let (base, requests) = serve(corpus());
        assert_eq!(fetch(&snapshot, &dest, &base), Ok(dest.clone()));
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn no_server_is_unavailable_with_curls_reason() {
        // Port 9 (discard) on loopback: nothing listens there.
        let cache = tempfile::tempdir().expect("temp dir");
        let result = fetch(&snapshot(&corpus()), &cache.path().join("corpus"), "http://127.0.0.1:9");
        let Err(FetchError::Unavailable(why)) = result else { panic!("{result:?}") };
        assert!(why.starts_with("download failed: curl: (7)"), "{why}");
        assert!(!why.contains('\n'), "{why}");
    }
}
