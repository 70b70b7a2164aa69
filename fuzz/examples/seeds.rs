//! Writes the seed corpus of every fuzz target from real encoded values:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus`.
//! Existing files are overwritten, other files in the corpus are left alone.

use haidang_fuzz::*;
use haidang_proto::batch::encode_events;
use haidang_proto::wire::encode_frame;
use std::path::{Path, PathBuf};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    let f = d.join(name);
    std::fs::write(&f, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", f.display()));
}

fn main() {
    let dir = PathBuf::from(std::env::args_os().nth(1).unwrap_or_else(|| "corpus".into()));
    // The `agent_frame` target reads a whole frame, length prefix included.
    for (i, f) in sample_agent_frames().iter().enumerate() {
        write(&dir, "agent_frame", &format!("batch{}", i + 1), &encode_frame(f));
    }
    // The other frame targets decode a body only: strip the 4-byte prefix.
    for (i, f) in sample_collector_frames().iter().enumerate() {
        write(&dir, "collector_frame", &format!("frame{i}"), &encode_frame(f)[4..]);
    }
    for (i, r) in sample_enroll_responses().iter().enumerate() {
        write(&dir, "collector_frame", &format!("enroll_response{i}"), &encode_frame(r)[4..]);
    }
    write(&dir, "enroll_request", "request", &encode_frame(&sample_enroll_request())[4..]);
    let events = sample_events(1);
    write(&dir, "batch_payload", "zstd", &encode_events(&events));
    write(&dir, "batch_payload", "postcard", &postcard::to_stdvec(&events).expect("events encode"));
    write(&dir, "text", "utf8", "Kế hoạch tuyệt mật.docx".as_bytes());
    write(&dir, "text", "invalid", b"C:\\th\xff\xfe m\\x41\xc3");
    write(
        &dir,
        "text",
        "escaped_postcard",
        &postcard::to_stdvec(&haidang_proto::Text::from_bytes(b"a\\b\xff")).expect("text encodes"),
    );
    write(
        &dir,
        "agent_config",
        "documented",
        b"[fim]\npaths = [\"/srv\"]\nexclude = [\"**/*.tmp\"]\ncritical = [\"/srv/secret/**\"]\nrescan_interval = \"10m\"\n\
          [process]\nenabled = true\n[spool]\nmax_bytes = \"512MiB\"\n[uplink]\nbatch_max_events = 2000\nheartbeat_interval = \"30s\"\n",
    );
    // extract_emf puts its input after a metafile header, and reads it as it is.
    let records = [extract::emf_text_out(100, 100, "TỐI MẬT"), extract::emf_text_out(100, 160, "001203004567")].concat();
    write(&dir, "extract_emf", "text_records", &records);
    let mut page = extract::emf_header();
    page.extend_from_slice(&records);
    write(&dir, "extract_emf", "spool_file", &extract::emf_spool(&[page.clone(), page]));
    write(&dir, "agent_config", "bad_key", b"[fim]\npathz = []\n\n[spool]\nmax_bytes = 12\n");
    write(
        &dir,
        "mountinfo",
        "proc5",
        b"22 27 0:21 / /proc rw,relatime - proc proc rw\n43 27 7:0 / /media/USB\\040DISK rw,relatime shared:5 - vfat /dev/loop0 rw\n\
          44 27 0:39 / /mnt/share rw,nosuid - fuse.sshfs root@127.0.0.1:/srv rw,user_id=0\n",
    );
    write(
        &dir,
        "vault_sidecar",
        "entry",
        br#"{"version":1,"id":"1795000000-0011223344556677","path":"/media/usb/b.docx","path_hex":"2f6d656469612f7573622f622e646f6378","uid":0,"gid":0,"mode":33188,"size":10,"sha256":"0000000000000000000000000000000000000000000000000000000000000000","channel":"usb","rules":["s0-level-egress"],"quarantined_at":"2026-11-27T05:00:00Z","salt":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
    );
    write(
        &dir,
        "win_event_xml",
        "security_4688",
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='Microsoft-Windows-Security-Auditing'/><EventID Qualifiers='0'>4688</EventID>\
         <TimeCreated SystemTime='2026-12-08T01:02:03.4567890Z'/><EventRecordID>12</EventRecordID>\
         <Execution ProcessID='4' ThreadID='32'/><Channel>Security</Channel><Computer>pc-01</Computer></System>\
         <EventData><Data Name='NewProcessName'>C:\\Tài liệu\\a.exe</Data><Data>x &amp; &#x1EC7;</Data>\
         <Binary>00FF</Binary></EventData><UserData><Log><H>a</H><H>b</H></Log></UserData></Event>"
            .as_bytes(),
    );
    println!("seeds written under {}", dir.display());
}
