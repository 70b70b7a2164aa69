//! Live-evaluation throughput of the correlate stage's engine: agent events per second per
//! core through detection (logsource routing included) and correlation, with a chosen rule
//! set. The events are a deterministic mix shaped like a fleet of Linux endpoints: 100 agents
//! at one event a second each, mostly process starts and file changes, few of which match.
//!
//! `haidang-rulebench --rules "$(scripts/testdata.sh sigma)/rules/linux" --events 200000`

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use haidang_proto::event::{
    Actor, AgentId, Detection, Event, EventBody, FileAction, FileEvent, FileMeta, ProcessAction, ProcessEvent,
    Timestamp,
};
use haidang_proto::text::Text;
use haidang_rules::{NativeEvent, RuleSet};

#[derive(Parser)]
#[command(about = "Events/s per core through the Sigma engine as the collector runs it")]
struct Args {
    /// Rule directories (repeatable), loaded on top of the shipped rules.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Events to evaluate.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Detection only: skip the correlation step (to see what each costs).
    #[arg(long)]
    detect_only: bool,
}

const AGENTS: usize = 100;

const IMAGES: &[&str] = &[
    "/usr/bin/bash",
    "/usr/bin/python3",
    "/usr/bin/ls",
    "/usr/bin/grep",
    "/usr/sbin/cron",
    "/usr/bin/systemctl",
    "/usr/bin/curl",
    "/usr/lib/firefox/firefox",
    "/usr/bin/git",
    "/usr/bin/ssh",
];

const ARGS: &[&str] = &[
    "-c 'ls -la /home/nguyenvana/Tài liệu'",
    "/opt/app/manage.py runserver 0.0.0.0:8000",
    "--color=auto -R /var/log",
    "-rn TODO src/",
    "-f",
    "status nginx.service",
    "-s https://dichvucong.khanhhoa.gov.vn/api/v1/hoso",
    "-contentproc -childID 3 -isForBrowser",
    "pull --rebase origin main",
    "admin@10.0.5.12 -p 22",
];

const DIRS: &[&str] = &["/home/nguyenvana/Tài liệu", "/srv/hoso/2026", "/var/lib/app", "/tmp", "/etc/nginx"];

fn event(i: usize) -> Event {
    let pick =
        |list: &[&'static str], salt: usize| list[(i.wrapping_mul(2654435761) >> 7).wrapping_add(salt) % list.len()];
    let body = if i % 20 < 11 {
        let image = pick(IMAGES, 0);
        EventBody::Process(ProcessEvent {
            action: ProcessAction::Start,
            pid: 1000 + (i % 30000) as u32,
            ppid: 1,
            image: Text::from(image),
            command_line: Text::from(format!("{image} {}", pick(ARGS, 3))),
            user: Text::from(if i.is_multiple_of(7) { "root" } else { "nguyenvana" }),
            parent_image: Some(Text::from(pick(IMAGES, 5))),
            image_hash: None,
            exit_code: None,
        })
    } else {
        let action = [FileAction::Created, FileAction::Modified, FileAction::Modified, FileAction::Deleted][i % 4];
        EventBody::File(FileEvent {
            action,
            path: Text::from(format!("{}/văn bản {}.docx", pick(DIRS, 1), i % 997)),
            old_path: None,
            old: None,
            new: Some(FileMeta { size: 4096, mode: 0o644, hash: Some([i as u8; 32]), ..FileMeta::default() }),
            critical: false,
            detection: Detection::Realtime,
            actor: Some(Actor { pid: 4242, image: Text::from(pick(IMAGES, 2)) }),
        })
    };
    Event { seq: i as u64 + 1, time: Timestamp(1_790_000_000_000_000_000 + i as i64 * 10_000_000), body }
}

/// CPU time of this thread: the per-core figure, unaffected by other load on the machine.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn main() {
    let args = Args::parse();
    let load_started = Instant::now();
    let (mut rules, report) = RuleSet::load_with_shipped(&args.rules);
    let load_secs = load_started.elapsed().as_secs_f64();
    let events: Vec<Event> = (0..args.events).map(event).collect();
    let agents: Vec<AgentId> = (0..AGENTS).map(|a| AgentId([a as u8; 16])).collect();
    let started = Instant::now();
    let cpu_started = thread_cpu_secs();
    let mut results = 0usize;
    for (i, e) in events.iter().enumerate() {
        let native = NativeEvent::new(&agents[i % AGENTS], e, Some("may-tram-01"));
        let found = rules.detect(&native, Some(&native.logsource("linux")));
        results +=
            if args.detect_only { found.len() } else { rules.correlate(&native, found, native.time_secs()).len() };
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_secs() - cpu_started;
    println!(
        "rules: {} ({} detection, {} correlation, {} skipped); load {:.2} s",
        report.loaded(),
        rules.detection_rules(),
        rules.correlation_rules(),
        report.skipped(),
        load_secs
    );
    println!(
        "events: {}  results: {}  wall: {:.3} s  cpu: {:.3} s  throughput: {:.0} events/s per core (cpu time)",
        events.len(),
        results,
        secs,
        cpu,
        events.len() as f64 / cpu
    );
}
