//! What `haidang-agent` prints for each command: text for a person, or JSON (one object per
//! line) with `--json`. Figures and lists come from the library; only their form is decided here.

use haidang_agent::dlp_sensor::vault::Entry;
use haidang_agent::fim::{BaselineStats, CheckReport, FileChange};
use haidang_agent::state::Identity;
use haidang_agent::status::StatusFile;
use haidang_proto::event::{FileMeta, FileSecurity};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `enroll` succeeded.
pub(crate) fn enrolled(identity: &Identity) {
    println!("enrolled as agent {} in group {:?}", identity.agent_id, identity.group);
}

/// `vault restore` wrote entry `id` back to `restored`.
pub(crate) fn restored(id: &str, restored: &Path) {
    println!("restored {id} to {}", haidang_proto::Text::from(restored).display_safe());
}

/// `vault list`: one line per entry, the entries that could not be read as warnings, and (as
/// text) a count naming the vault's directory.
pub(crate) fn vault_list(entries: &[Entry], problems: &[String], dir: &Path, json: bool) {
    for problem in problems {
        eprintln!("warning: unreadable vault entry: {problem}");
    }
    for e in entries {
        if json {
            println!(
                "{}",
                json!({
                    "id": e.id, "quarantined_at": e.quarantined_at, "channel": e.channel, "path": e.path,
                    "size": e.size, "sha256": e.sha256, "uid": e.uid, "gid": e.gid,
                    "mode": format!("{:o}", e.mode), "rules": e.rules,
                })
            );
        } else {
            println!(
                "{}  {}  {:<8} {:>10}  {}  sha256:{}  [{}]",
                e.id,
                e.quarantined_at,
                e.channel,
                e.size,
                haidang_proto::text::terminal_safe(&e.path),
                e.sha256,
                e.rules.join(",")
            );
        }
    }
    if !json {
        eprintln!("{} entries in {}", entries.len(), dir.display());
    }
}

/// `status`: the enrollment, and the figures the agent last published in `file`; the live
/// ones (connection, sensors) only while it is `running`.
pub(crate) fn status(identity: &Identity, file: Option<&StatusFile>, running: bool, json: bool) {
    let (events, batches, bytes) = file.map_or((0, 0, 0), |f| (f.spool_events, f.spool_batches, f.spool_bytes));
    let field = |f: fn(&StatusFile) -> String| file.filter(|_| running).map_or("-".to_string(), f);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "agent_id": identity.agent_id, "server": identity.server, "group": identity.group,
                "running": running, "connection": field(|f| f.connection.clone()),
                "last_ack": file.and_then(|f| f.last_ack.clone()),
                "spool_events": events, "spool_batches": batches, "spool_bytes": bytes,
                "last_seq": file.map_or(0, |f| f.last_seq),
                "fim_sensor": field(|f| f.fim_sensor.clone()), "process_sensor": field(|f| f.process_sensor.clone()),
                "dlp_sensor": field(|f| f.dlp_sensor.clone()),
                "dlp_mounts": file.filter(|_| running).map_or(Vec::new(), |f| f.dlp_mounts.clone()),
                "dlp_print": field(|f| f.dlp_print.clone()),
                "winlog": file.filter(|_| running).map_or(Vec::new(), |f| f.winlog.clone()),
                "machine": field(|f| f.machine.clone()),
            })
        );
    } else {
        println!("agent:          {}", identity.agent_id);
        println!("collector:      {}", identity.server);
        println!("group:          {}", identity.group);
        println!("running:        {}", if running { "yes" } else { "no" });
        println!("connection:     {}", field(|f| f.connection.clone()));
        println!("machine:        {}", field(|f| f.machine.clone()));
        println!("last ack:       {}", file.and_then(|f| f.last_ack.clone()).unwrap_or_else(|| "never".into()));
        println!("spool:          {events} events, {batches} unacknowledged batches, {bytes} bytes");
        println!("file sensor:    {}", field(|f| f.fim_sensor.clone()));
        println!("process sensor: {}", field(|f| f.process_sensor.clone()));
        println!("dlp channels:   {}", field(|f| f.dlp_sensor.clone()));
        for mount in file.filter(|_| running).map_or(&[][..], |f| &f.dlp_mounts[..]) {
            println!("  watching      {mount}");
        }
        println!("dlp print:      {}", field(|f| f.dlp_print.clone()));
        for channel in file.filter(|_| running).map_or(&[][..], |f| &f.winlog[..]) {
            println!("event log:      {}", haidang_proto::text::terminal_safe(channel));
        }
    }
}

/// `fim baseline`: what the baseline in `db` covers, and how fast it was hashed.
pub(crate) fn fim_baseline(db: &Path, paths: &[PathBuf], stats: &BaselineStats, json: bool) {
    let secs = stats.elapsed.as_secs_f64();
    let mb_per_sec = if secs > 0.0 { stats.hashed_bytes as f64 / 1e6 / secs } else { 0.0 };
    if json {
        println!(
            "{}",
            json!({
                "db": db.display().to_string(),
                "paths": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "entries": stats.entries, "files": stats.files, "bytes": stats.bytes,
                "hashed_bytes": stats.hashed_bytes, "elapsed_secs": secs, "hashed_mb_per_sec": mb_per_sec,
            })
        );
    } else {
        println!("baseline:  {}", db.display());
        println!("paths:     {} ({} files)", stats.entries, stats.files);
        println!("bytes:     {} ({} bytes)", bytesize::ByteSize(stats.bytes), stats.bytes);
        println!("hashed:    {} ({} bytes)", bytesize::ByteSize(stats.hashed_bytes), stats.hashed_bytes);
        println!("elapsed:   {secs:.2} s");
        println!("rate:      {mb_per_sec:.0} MB/s hashed");
    }
}

/// `fim check`: one line (or JSON object) per change, and as text a summary line.
pub(crate) fn fim_check(report: &CheckReport, json: bool) {
    for reported in &report.changes {
        let change = &reported.event;
        if json {
            println!("{}", change_json(reported));
        } else {
            let what = changed_fields(reported).join(", ");
            let path = change.path.display_safe();
            let action = change.action.as_str();
            match &change.old_path {
                Some(from) => println!("{action:<10}  {} -> {path}", from.display_safe()),
                None if what.is_empty() => println!("{action:<10}  {path}"),
                None => println!("{action:<10}  {path}  ({what})"),
            }
        }
    }
    if !json {
        let secs = report.stats.elapsed.as_secs_f64();
        match report.changes.len() {
            0 => println!("no changes: {} paths match the baseline ({secs:.2} s)", report.stats.entries),
            n => println!("{n} changes among {} paths ({secs:.2} s)", report.stats.entries),
        }
    }
}

/// What a Windows agent records in `mode`: the file attribute bits (read-only, hidden, …).
const MODE: &str = if cfg!(windows) { "attributes" } else { "mode" };

/// The attributes that differ between the baseline's record and the disk's.
fn changed_fields(change: &FileChange) -> Vec<&'static str> {
    let (Some(old), Some(new)) = (&change.event.old, &change.event.new) else { return Vec::new() };
    let security = |get: fn(&FileSecurity) -> Option<String>| {
        change.old_security.as_ref().and_then(get) != change.new_security.as_ref().and_then(get)
    };
    [
        ("hash", old.hash != new.hash),
        ("size", old.size != new.size),
        (MODE, old.mode != new.mode),
        ("uid", old.uid != new.uid),
        ("gid", old.gid != new.gid),
        ("mtime", old.mtime != new.mtime),
        ("owner", security(|s| Some(s.owner.as_str().to_owned()))),
        ("acl", security(|s| s.dacl.map(hex::encode))),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

fn change_json(reported: &FileChange) -> Value {
    let meta = |m: Option<&FileMeta>, security: Option<&FileSecurity>| {
        m.map_or(Value::Null, |m| {
            #[cfg(windows)]
            let mode = json!(haidang_agent::fim::attribute_names(m.mode));
            #[cfg(not(windows))]
            let mode = json!(format!("{:o}", m.mode));
            let mut meta = json!({
                "size": m.size, MODE: mode, "uid": m.uid, "gid": m.gid,
                "mtime": m.mtime.to_rfc3339(), "hash": m.hash.map(hex::encode),
            });
            if let Some(s) = security {
                meta["owner"] = json!(s.owner.as_str());
                meta["dacl_hash"] = json!(s.dacl.map(hex::encode));
            }
            meta
        })
    };
    let change = &reported.event;
    json!({
        "action": change.action.as_str(),
        "path": change.path.as_str(),
        "old_path": change.old_path.as_ref().map(|p| p.as_str()),
        "changed": changed_fields(reported),
        "critical": change.critical,
        "old": meta(change.old.as_ref(), reported.old_security.as_ref()),
        "new": meta(change.new.as_ref(), reported.new_security.as_ref()),
    })
}
