//! The agent's vault: where files that policy blocks are moved, encrypted, until an
//! administrator restores them (`haidang-agent vault list|restore`).
//!
//! Each entry is two files named by its id: `ID.bin`, the content encrypted with
//! ChaCha20-Poly1305, and `ID.json`, the sidecar (original path, owner, mode, size, SHA-256,
//! channel, the policy rules that blocked it, when). The key of an entry is derived with
//! HKDF-SHA256 from the vault key (`STATE/vault.key`, 32 random bytes, mode 0600) and a random
//! salt kept in the sidecar, so nonces never repeat under one key. Content is sealed in 1 MiB
//! chunks: chunk `i` uses nonce `i`, and the entry id and a last-chunk flag are authenticated
//! with it, so a reordered, truncated or extended file fails to decrypt. A restore also
//! checks the SHA-256 the sidecar records: the sidecar is read back from disk and trusted
//! for nothing ([`parse_sidecar`] refuses anything malformed).

use crate::state::write_private;
use anyhow::{Context, Result, anyhow, bail};
use haidang_proto::{Text, Timestamp};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Plaintext bytes per sealed chunk.
const CHUNK: usize = 1 << 20;
const TAG: usize = 16;
const KEY_LEN: usize = 32;
const VERSION: u32 = 1;
const INFO: &[u8] = b"haidang vault v1 entry key";

/// What the vault records about one quarantined file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub version: u32,
    pub id: String,
    /// The original path, readable (escaped where it was not UTF-8).
    pub path: String,
    /// The original path's bytes, hex: what a restore writes back to.
    pub path_hex: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub channel: String,
    /// The policy rules that blocked it.
    pub rules: Vec<String>,
    /// RFC 3339, UTC.
    pub quarantined_at: String,
    /// HKDF salt of the entry key, hex.
    pub salt: String,
}

impl Entry {
    /// The original path, exactly as the operating system gave it.
    pub fn original_path(&self) -> PathBuf {
        let bytes = hex::decode(&self.path_hex).unwrap_or_default();
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            PathBuf::from(std::ffi::OsString::from_vec(bytes))
        }
        #[cfg(not(unix))]
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Parses and checks a sidecar read back from disk.
pub fn parse_sidecar(bytes: &[u8]) -> Result<Entry, String> {
    let entry: Entry = serde_json::from_slice(bytes).map_err(|e| format!("not a vault sidecar: {e}"))?;
    if entry.version != VERSION {
        return Err(format!("vault sidecar version {} (this agent reads {VERSION})", entry.version));
    }
    valid_id(&entry.id)?;
    let hex_of = |name: &str, value: &str, len: Option<usize>| {
        let bytes = hex::decode(value).map_err(|e| format!("{name} is not hex: {e}"))?;
        match len {
            Some(len) if bytes.len() != len => Err(format!("{name} has {} bytes, not {len}", bytes.len())),
            _ if bytes.is_empty() => Err(format!("{name} is empty")),
            _ => Ok(bytes),
        }
    };
    hex_of("sha256", &entry.sha256, Some(32))?;
    hex_of("salt", &entry.salt, Some(KEY_LEN))?;
    let path = hex_of("path_hex", &entry.path_hex, None)?;
    if path.contains(&0) {
        return Err("path_hex holds a NUL byte".into());
    }
    Ok(entry)
}

/// Ids are made by the vault; anything else (`../x`) is refused before it names a file.
fn valid_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok { Ok(()) } else { Err(format!("{id:?} is not a vault entry id")) }
}

/// A vault directory and, to quarantine or restore, its key.
pub struct Vault {
    dir: PathBuf,
    key_file: PathBuf,
}

impl Vault {
    /// The vault in `dir` whose key is (or will be) `key_file`.
    pub fn new(dir: &Path, key_file: &Path) -> Vault {
        Vault { dir: dir.to_path_buf(), key_file: key_file.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (0700) and the key (0600) unless they exist.
    pub fn prepare(&self) -> Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.dir).with_context(|| format!("cannot create the vault {}", self.dir.display()))?;
        if !self.key_file.exists() {
            let mut key = [0u8; KEY_LEN];
            SystemRandom::new().fill(&mut key).map_err(|_| anyhow!("no randomness for the vault key"))?;
            write_private(&self.key_file, &key)?;
        }
        self.key().map(|_| ())
    }

    fn key(&self) -> Result<[u8; KEY_LEN]> {
        let bytes = std::fs::read(&self.key_file)
            .with_context(|| format!("cannot read the vault key {}", self.key_file.display()))?;
        bytes.try_into().map_err(|_| anyhow!("the vault key {} is not {KEY_LEN} bytes", self.key_file.display()))
    }

    /// Moves the file at `path` into the vault: encrypts it, records the sidecar durably, then
    /// removes the original. A file over `max_size` is refused. Errors say which step failed;
    /// when only the removal failed, the entry is kept (the error says so).
    pub fn quarantine(&self, path: &Path, channel: &str, rules: &[String], max_size: u64) -> Result<Entry> {
        let key = self.key()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true);
        // A symbolic link swapped in after the inspection is not followed out of the medium.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut opts, libc::O_NOFOLLOW);
        let mut file = opts.open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let md = file.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
        anyhow::ensure!(md.is_file(), "{} is not a regular file", path.display());
        anyhow::ensure!(
            md.len() <= max_size,
            "{} is {} bytes, over the vault's limit of {max_size}",
            path.display(),
            md.len()
        );
        let rng = SystemRandom::new();
        let mut salt = [0u8; KEY_LEN];
        let mut suffix = [0u8; 8];
        rng.fill(&mut salt).and_then(|()| rng.fill(&mut suffix)).map_err(|_| anyhow!("no randomness"))?;
        let secs = Timestamp::now().0.div_euclid(1_000_000_000);
        let id = format!("{secs}-{}", hex::encode(suffix));
        let sealing = entry_key(&key, &salt)?;
        let bin = self.dir.join(format!("{id}.bin"));
        let tmp = self.dir.join(format!("{id}.bin.tmp"));
        let (size, sha256) = (|| -> Result<(u64, [u8; 32])> {
            let mut out = private_file(&tmp)?;
            let sealed = seal(&sealing, &id, &mut file, &mut out)?;
            out.sync_all()?;
            std::fs::rename(&tmp, &bin)?;
            Ok(sealed)
        })()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("cannot write {}", bin.display()))?;
        let bytes = path_bytes(path);
        #[cfg(unix)]
        let (uid, gid, mode) = {
            use std::os::unix::fs::MetadataExt;
            (md.uid(), md.gid(), md.mode())
        };
        #[cfg(not(unix))]
        let (uid, gid, mode) = (0, 0, 0o644);
        let entry = Entry {
            version: VERSION,
            id: id.clone(),
            path: Text::from(path).as_str().to_owned(),
            path_hex: hex::encode(bytes),
            uid,
            gid,
            mode,
            size,
            sha256: hex::encode(sha256),
            channel: channel.to_owned(),
            rules: rules.to_vec(),
            quarantined_at: Timestamp::now().to_rfc3339(),
            salt: hex::encode(salt),
        };
        write_private(&self.dir.join(format!("{id}.json")), &serde_json::to_vec_pretty(&entry)?)?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        drop(file);
        std::fs::remove_file(path).with_context(|| {
            format!("vault entry {id} written, but the original {} could not be removed", path.display())
        })?;
        Ok(entry)
    }

    /// Every entry, oldest first, and the sidecars that could not be read (with why).
    pub fn list(&self) -> Result<(Vec<Entry>, Vec<String>)> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((entries, problems)),
            Err(e) => return Err(e).with_context(|| format!("cannot list the vault {}", self.dir.display())),
        };
        for item in dir {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| parse_sidecar(&b)) {
                Ok(entry) => entries.push(entry),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        entries.sort_by(|a, b| (&a.quarantined_at, &a.id).cmp(&(&b.quarantined_at, &b.id)));
        Ok((entries, problems))
    }

    /// The entry `id`.
    pub fn entry(&self, id: &str) -> Result<Entry> {
        valid_id(id).map_err(|e| anyhow!(e))?;
        let path = self.dir.join(format!("{id}.json"));
        let bytes = std::fs::read(&path).with_context(|| format!("no vault entry {id} in {}", self.dir.display()))?;
        let entry = parse_sidecar(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        anyhow::ensure!(entry.id == id, "{}: names entry {:?}", path.display(), entry.id);
        Ok(entry)
    }

    /// Decrypts entry `id` to `to` (its original path when absent), which must not exist,
    /// with its recorded mode and (as root) owner. The entry stays in the vault as evidence.
    pub fn restore(&self, id: &str, to: Option<&Path>) -> Result<PathBuf> {
        let entry = self.entry(id)?;
        let target = to.map_or_else(|| entry.original_path(), Path::to_path_buf);
        anyhow::ensure!(
            std::fs::symlink_metadata(&target).is_err(),
            "{} exists: restore to another path with --to",
            target.display()
        );
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let salt: [u8; KEY_LEN] = hex::decode(&entry.salt)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| anyhow!("entry {id}: bad salt"))?;
        let opening = entry_key(&self.key()?, &salt)?;
        let bin = self.dir.join(format!("{id}.bin"));
        let mut sealed = File::open(&bin).with_context(|| format!("cannot open {}", bin.display()))?;
        let length = sealed.metadata()?.len();
        let tmp = parent.join(format!(".haidang-restore-{id}"));
        let result = (|| -> Result<()> {
            let mut out = private_file(&tmp).with_context(|| format!("cannot write in {}", parent.display()))?;
            let sha256 = open(&opening, id, &mut sealed, length, &mut out)?;
            if hex::encode(sha256) != entry.sha256 {
                bail!("entry {id}: the decrypted content does not have the recorded SHA-256");
            }
            out.sync_all()?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(entry.mode & 0o7777))?;
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } == 0 {
                    std::os::unix::fs::chown(&tmp, Some(entry.uid), Some(entry.gid))?;
                }
            }
            // A hard link does not replace a file that appeared meanwhile, as a rename would.
            std::fs::hard_link(&tmp, &target).with_context(|| format!("cannot create {}", target.display()))?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&tmp);
        result.map(|()| target)
    }
}

fn entry_key(key: &[u8; KEY_LEN], salt: &[u8; KEY_LEN]) -> Result<LessSafeKey> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(key);
    let okm = prk.expand(&[INFO], &CHACHA20_POLY1305).map_err(|_| anyhow!("cannot derive the entry key"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn aad(id: &str, last: bool) -> Vec<u8> {
    let mut aad = id.as_bytes().to_vec();
    aad.push(u8::from(last));
    aad
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Seals `input` into `out` chunk by chunk; the plaintext's size and SHA-256.
fn seal(key: &LessSafeKey, id: &str, input: &mut impl Read, out: &mut impl Write) -> Result<(u64, [u8; 32])> {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut current = vec![0u8; CHUNK];
    let mut next = vec![0u8; CHUNK];
    let mut len = fill(input, &mut current)?;
    let (mut index, mut total) = (0u64, 0u64);
    loop {
        let next_len = if len == CHUNK { fill(input, &mut next)? } else { 0 };
        let last = next_len == 0;
        digest.update(&current[..len]);
        total += len as u64;
        let mut chunk = current[..len].to_vec();
        key.seal_in_place_append_tag(nonce(index), Aad::from(aad(id, last)), &mut chunk)
            .map_err(|_| anyhow!("encryption failed"))?;
        out.write_all(&chunk)?;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        len = next_len;
        index += 1;
    }
    let mut sha = [0u8; 32];
    sha.copy_from_slice(digest.finish().as_ref());
    Ok((total, sha))
}

/// Opens `length` sealed bytes from `input` into `out`; the plaintext's SHA-256.
fn open(key: &LessSafeKey, id: &str, input: &mut impl Read, length: u64, out: &mut impl Write) -> Result<[u8; 32]> {
    let sealed_chunk = (CHUNK + TAG) as u64;
    let rest = length % sealed_chunk;
    anyhow::ensure!(length > 0 && (rest == 0 || rest >= TAG as u64), "entry {id}: the sealed content is truncated");
    let chunks = length.div_ceil(sealed_chunk);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; CHUNK + TAG];
    for index in 0..chunks {
        let last = index + 1 == chunks;
        let want = if last && rest != 0 { rest as usize } else { CHUNK + TAG };
        let got = fill(input, &mut buf[..want])?;
        anyhow::ensure!(got == want, "entry {id}: the sealed content is truncated");
        let plain = key
            .open_in_place(nonce(index), Aad::from(aad(id, last)), &mut buf[..want])
            .map_err(|_| anyhow!("entry {id}: the sealed content does not decrypt (altered, or another vault key)"))?;
        digest.update(plain);
        out.write_all(plain)?;
    }
    let mut sha = [0u8; 32];
    sha.copy_from_slice(digest.finish().as_ref());
    Ok(sha)
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(dir: &Path) -> Vault {
        let vault = Vault::new(&dir.join("vault"), &dir.join("vault.key"));
        vault.prepare().expect("prepare");
        vault
    }

    #[test]
    fn quarantine_and_restore_round_trip_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = vault(dir.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("vault.key")).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for (n, size) in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK].into_iter().enumerate() {
            let content: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let original = dir.path().join(format!("tài liệu {n}.docx"));
            std::fs::write(&original, &content).expect("write");
            let entry = vault.quarantine(&original, "usb", &["s0-level-egress".into()], u64::MAX).expect("quarantine");
            assert!(!original.exists());
            assert_eq!((entry.size, entry.channel.as_str()), (size as u64, "usb"));
            let sealed = std::fs::read(vault.dir().join(format!("{}.bin", entry.id))).expect("sealed");
            assert!(content.len() < 64 || !sealed.windows(64).any(|w| w == &content[..64]), "not encrypted");
            let restored = vault.restore(&entry.id, None).expect("restore");
            assert_eq!(restored, original);
            assert_eq!(std::fs::read(&original).expect("read"), content, "size {size}");
            let e = vault.restore(&entry.id, None).expect_err("exists");
            assert!(e.to_string().contains("exists"), "{e}");
        }
        let (entries, problems) = vault.list().expect("list");
        assert_eq!((entries.len(), problems.len()), (6, 0));
    }

    #[test]
    fn altered_content_or_sidecar_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = vault(dir.path());
        let original = dir.path().join("a.txt");
        std::fs::write(&original, b"TUYET MAT").expect("write");
        let entry = vault.quarantine(&original, "usb", &[], u64::MAX).expect("quarantine");
        let bin = vault.dir().join(format!("{}.bin", entry.id));
        let mut sealed = std::fs::read(&bin).expect("read");
        sealed[0] ^= 1;
        std::fs::write(&bin, &sealed).expect("write");
        let e = vault.restore(&entry.id, Some(&dir.path().join("b.txt"))).expect_err("altered");
        assert!(format!("{e:#}").contains("does not decrypt"), "{e:#}");
        assert!(!dir.path().join("b.txt").exists());
        assert!(vault.restore("../x", None).is_err());
        let json = dir.path().join("vault").join(format!("{}.json", entry.id));
        let text = std::fs::read_to_string(&json).expect("sidecar");
        std::fs::write(&json, text.replace(&entry.sha256, &"0".repeat(64))).expect("write");
        sealed[0] ^= 1;
        std::fs::write(&bin, &sealed).expect("write");
        let e = vault.restore(&entry.id, Some(&dir.path().join("c.txt"))).expect_err("wrong hash");
        assert!(format!("{e:#}").contains("SHA-256"), "{e:#}");
        for bad in [&b"{}"[..], b"not json", br#"{"version":2}"#] {
            assert!(parse_sidecar(bad).is_err());
        }
    }

    #[test]
    fn oversized_files_are_not_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = vault(dir.path());
        let original = dir.path().join("big.bin");
        std::fs::write(&original, vec![0u8; 100]).expect("write");
        let e = vault.quarantine(&original, "usb", &[], 10).expect_err("too big");
        assert!(e.to_string().contains("over the vault's limit"), "{e}");
        assert!(original.exists());
    }
}
