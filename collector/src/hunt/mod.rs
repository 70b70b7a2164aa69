//! `haidang-collector hunt`: Sigma rules over Windows event logs on disk, offline — the
//! incident-response sweep over EVTX files (or JSON exports of them) collected from machines.
//!
//! Inputs are cut into parts (a file, or a run of a big EVTX file's chunks) that worker
//! threads, one per core, take from a shared queue; the compiled rules are shared by
//! reference. Each part's detections are rendered by its worker and written in input order,
//! so the output does not depend on scheduling. Detection only: correlation rules load but are
//! not evaluated here (that needs one time-ordered stream; the collector's live pipeline does
//! it).

pub mod input;
pub mod output;

pub use output::Format;

use haidang_proto::event::Timestamp;
use haidang_proto::text::{Text, terminal_safe};
use haidang_rules::{Event, Placeholders, RuleSet, WinEvent};
use indicatif::{ProgressBar, ProgressStyle};
use input::{Input, Kind, Part, ReadStats};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const EXIT_STATUS: &str = "\
Exit status: 0 when every input was read; 1 when the hunt ran but an input could not be read or \
held corrupt records (each such input is named on stderr, and the rest were hunted); 2 on usage \
errors and when the rule directories cannot be read or hold no usable rule. Detections do not \
change the exit status: read them from the output.";

/// Arguments of `haidang-collector hunt`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_STATUS)]
pub struct HuntArgs {
    /// Sigma rule directory or file (repeatable); every `.yml`/`.yaml` below it is loaded.
    #[arg(long = "rules", value_name = "DIR", required = true)]
    pub rules: Vec<PathBuf>,
    /// Values of Sigma `expand` placeholders: a pySigma processing pipeline file (its
    /// `vars:`). A rule using a placeholder without a value is skipped and reported.
    #[arg(long, value_name = "FILE.yml")]
    pub placeholders: Option<PathBuf>,
    /// Output format (on stdout; the summary and problems go to stderr).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only events at or after this time, UTC (RFC 3339 such as 2024-05-01T08:00:00Z, or a date).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Only events at or before this time, UTC (RFC 3339, or a date: its first instant).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to: Option<Timestamp>,
    /// Event logs: `.evtx` files; JSON (`.json`, `.jsonl`, `.ndjson`: one event per line, or
    /// a JSON document), each event as the evtx crate renders it or flattened; or directories,
    /// searched recursively for such files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// RFC 3339 in UTC (`2024-05-01T08:00:00Z`, fraction allowed) or a bare date (UTC midnight).
fn parse_time(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    let full =
        if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') { format!("{s}T00:00:00Z") } else { s.to_owned() };
    Timestamp::parse_rfc3339(&full)
}

/// Runs the hunt; returns the process exit status (see [`EXIT_STATUS`]).
pub fn run(args: HuntArgs) -> ExitCode {
    let started = Instant::now();
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        eprintln!("error: --from is after --to");
        return ExitCode::from(2);
    }
    for dir in &args.rules {
        if let Err(e) = std::fs::metadata(dir) {
            eprintln!("error: rule directory {}: {e}", safe_path(dir));
            return ExitCode::from(2);
        }
    }
    let placeholders = match &args.placeholders {
        Some(file) => match Placeholders::from_file(file) {
            Ok(placeholders) => placeholders,
            Err(e) => {
                eprintln!("error: --placeholders {}", terminal_safe(&e));
                return ExitCode::from(2);
            }
        },
        None => Placeholders::default(),
    };
    let loading = spinner("loading rules");
    let (rules, report) = RuleSet::load_with_placeholders(&args.rules, false, &placeholders);
    loading.finish_and_clear();
    let load_time = started.elapsed();
    if rules.detection_rules() == 0 {
        eprintln!(
            "error: no detection rule loaded from {}",
            args.rules.iter().map(|d| safe_path(d)).collect::<Vec<_>>().join(", ")
        );
        for entry in report.skipped_entries().take(5) {
            eprintln!("  {entry}");
        }
        return ExitCode::from(2);
    }

    let mut problems = Vec::new();
    let inputs = input::discover(&args.inputs, &mut problems);
    for (path, reason) in &problems {
        eprintln!("hunt: {}: {}", safe_path(path), terminal_safe(reason));
    }
    let parts = input::parts(&inputs);
    let total_bytes = inputs.iter().map(|i| i.bytes).sum();
    let progress = progress_bar(total_bytes);

    let hunt = Hunt {
        rules: &rules,
        inputs: &inputs,
        parts: &parts,
        paths: inputs.iter().map(|i| Text::from(i.path.as_path()).as_str().to_owned()).collect(),
        format: args.format,
        from: args.from,
        to: args.to,
        next_part: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        sink: Mutex::new(Sink::new(args.format, progress.clone())),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(parts.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| hunt.work(&progress));
        }
    });
    progress.finish_and_clear();

    let mut sink = hunt.sink.into_inner().unwrap_or_else(PoisonError::into_inner);
    if sink.write_error.is_none()
        && let Err(e) = sink.out.flush()
    {
        sink.write_error = Some(e);
    }
    if let Some(e) = &sink.write_error {
        // A reader that stopped early (`| head`) is not a failure of the hunt.
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: cannot write the output: {e}");
        return ExitCode::FAILURE;
    }
    let failed = sink.totals.failed_inputs + problems.len();
    summary(&sink.totals, problems.len(), failed, &rules, &report, load_time, started.elapsed());
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn safe_path(path: &Path) -> String {
    terminal_safe(Text::from(path).as_str())
}

/// A spinner for work without a measure (rule loading takes seconds), on a terminal only.
fn spinner(message: &'static str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} ({eta} left) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Everything the workers share.
struct Hunt<'a> {
    rules: &'a RuleSet,
    inputs: &'a [Input],
    parts: &'a [Part],
    /// Each input's path as text (invalid UTF-8 escaped, not lost).
    paths: Vec<String>,
    format: Format,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    next_part: AtomicUsize,
    /// Set when the output is gone: the remaining parts are not worth hunting.
    stop: AtomicBool,
    sink: Mutex<Sink>,
}

/// What a part produced, waiting for its turn to be written.
#[derive(Default)]
struct PartOutput {
    text: String,
    events: u64,
    outside: u64,
    by_level: [u64; LEVELS.len()],
    read: Option<Result<ReadStats, String>>,
}

/// Sigma levels, most severe first, and `-` for rules without one.
const LEVELS: [&str; 6] = ["critical", "high", "medium", "low", "informational", "-"];

/// Clock skew allowed between an event's creation time and the time its record was written,
/// when records are skipped unread by their write time (which can only be later).
const WRITE_TIME_SLACK: Duration = Duration::from_secs(3600);

impl Hunt<'_> {
    fn work(&self, progress: &ProgressBar) {
        while !self.stop.load(Ordering::Relaxed) {
            let index = self.next_part.fetch_add(1, Ordering::Relaxed);
            let Some(part) = self.parts.get(index) else { return };
            let output = self.hunt_part(part);
            progress.inc(part.bytes);
            let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
            sink.accept(index, output, self);
            if sink.write_error.is_some() {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }

    fn in_window(&self, time: Option<Timestamp>) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        // An event without a readable time cannot be shown to fall in the window.
        time.is_some_and(|t| self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|end| t <= end))
    }

    fn hunt_part(&self, part: &Part) -> PartOutput {
        let input = &self.inputs[part.input];
        let path = self.paths[part.input].as_str();
        let mut out = PartOutput::default();
        let mut visit = |record: u64, value: Value| self.hunt_event(input.kind, path, record, &value, &mut out);
        let read = match input.kind {
            Kind::Evtx => {
                let written_after =
                    self.from.map(|f| Timestamp(f.0.saturating_sub(WRITE_TIME_SLACK.as_nanos() as i64)));
                input::read_evtx(&input.path, part.chunks.clone(), written_after, &mut visit)
            }
            Kind::Json => input::read_json(&input.path, &mut visit),
        };
        if let Ok(stats) = &read {
            out.outside += stats.skipped;
        }
        out.read = Some(read);
        out
    }

    fn hunt_event(&self, kind: Kind, path: &str, record: u64, value: &Value, out: &mut PartOutput) {
        let event = WinEvent::new(value);
        let time = event.time();
        if !self.in_window(time) {
            out.outside += 1;
            return;
        }
        out.events += 1;
        let results = event.detect(self.rules);
        if results.is_empty() {
            return;
        }
        // An EVTX record is named by its `EventRecordID`, as Event Viewer shows it; the record
        // header's number is the same in a live log but restarts at 1 in a filtered export.
        let record = match kind {
            Kind::Evtx => event.record_id().unwrap_or(record),
            Kind::Json => record,
        };
        let computer = event.get_field("Computer").and_then(|v| v.as_str().map(|s| s.into_owned()));
        let time = time.map(Timestamp::to_rfc3339);
        for result in &results {
            let level = result.header.level.map_or("-", |l| l.as_str());
            if let Some(slot) = LEVELS.iter().position(|l| *l == level) {
                out.by_level[slot] += 1;
            }
            let detection = output::Detection {
                result,
                path,
                record,
                time: time.clone(),
                computer: computer.clone(),
                channel: event.channel(),
                event_id: event.event_id(),
                event: value,
            };
            output::render(self.format, &detection, &mut out.text);
        }
    }
}

#[derive(Default)]
struct Totals {
    files: usize,
    events: u64,
    outside: u64,
    by_level: [u64; LEVELS.len()],
    failed_inputs: usize,
}

/// Writes parts' output in part order, and each input's problems once its last part is in.
struct Sink {
    next: usize,
    pending: BTreeMap<usize, PartOutput>,
    out: BufWriter<Stdout>,
    progress: ProgressBar,
    /// Whether stdout shares the terminal with the progress bar.
    stdout_tty: bool,
    totals: Totals,
    /// Unreadable records of the input being written, and the first reason.
    input_errors: u64,
    input_first_error: Option<String>,
    /// Whether a part of that input could not be read at all (the reason says why).
    input_unreadable: bool,
    write_error: Option<io::Error>,
}

impl Sink {
    fn new(format: Format, progress: ProgressBar) -> Sink {
        let mut sink = Sink {
            next: 0,
            pending: BTreeMap::new(),
            out: BufWriter::with_capacity(1 << 16, io::stdout()),
            stdout_tty: io::stdout().is_terminal(),
            progress,
            totals: Totals::default(),
            input_errors: 0,
            input_first_error: None,
            input_unreadable: false,
            write_error: None,
        };
        if let Some(header) = output::header(format) {
            sink.write(&header);
        }
        sink
    }

    fn write(&mut self, text: &str) {
        if text.is_empty() || self.write_error.is_some() {
            return;
        }
        let result = if self.stdout_tty && !self.progress.is_hidden() {
            let out = &mut self.out;
            self.progress.suspend(|| out.write_all(text.as_bytes()).and_then(|()| out.flush()))
        } else {
            self.out.write_all(text.as_bytes())
        };
        if let Err(e) = result {
            self.write_error = Some(e);
        }
    }

    fn problem(&self, line: String) {
        self.progress.suspend(|| eprintln!("{line}"));
    }

    fn accept(&mut self, index: usize, output: PartOutput, hunt: &Hunt<'_>) {
        self.pending.insert(index, output);
        while let Some(output) = self.pending.remove(&self.next) {
            let part = &hunt.parts[self.next];
            self.next += 1;
            self.write(&output.text);
            let totals = &mut self.totals;
            totals.events += output.events;
            totals.outside += output.outside;
            for (total, n) in totals.by_level.iter_mut().zip(output.by_level) {
                *total += n;
            }
            let path = &hunt.paths[part.input];
            match output.read {
                Some(Ok(stats)) => {
                    self.input_errors += stats.errors;
                    if self.input_first_error.is_none() {
                        self.input_first_error = stats.first_error;
                    }
                }
                Some(Err(reason)) => {
                    self.input_errors += 1;
                    self.input_unreadable = true;
                    self.input_first_error = Some(reason);
                }
                None => {}
            }
            if !part.last {
                continue;
            }
            self.totals.files += 1;
            if self.input_errors > 0 {
                self.totals.failed_inputs += 1;
                let first = terminal_safe(&self.input_first_error.take().unwrap_or_default());
                let line = if self.input_unreadable {
                    format!("hunt: {}: {first}", terminal_safe(path))
                } else {
                    format!(
                        "hunt: {}: partly unreadable, {} problem(s) (first: {first})",
                        terminal_safe(path),
                        self.input_errors
                    )
                };
                self.problem(line);
            }
            self.input_errors = 0;
            self.input_unreadable = false;
            self.input_first_error = None;
        }
        let detections: u64 = self.totals.by_level.iter().sum();
        self.progress.set_message(format!("{detections} detections"));
    }
}

/// `missing`: inputs named on the command line that could not be read at all.
fn summary(
    totals: &Totals,
    missing: usize,
    failed: usize,
    rules: &RuleSet,
    report: &haidang_rules::LoadReport,
    load_time: Duration,
    elapsed: Duration,
) {
    let detections: u64 = totals.by_level.iter().sum();
    let files = totals.files + missing;
    let outside =
        if totals.outside > 0 { format!(" ({} outside the time window)", totals.outside) } else { String::new() };
    let failed = if failed > 0 { format!(", {failed} unreadable or corrupt") } else { String::new() };
    eprintln!(
        "hunt: {files} files{failed}, {} events{outside}, {detections} detections in {:.1} s",
        totals.events,
        elapsed.as_secs_f64()
    );
    let by_level: Vec<String> = LEVELS
        .iter()
        .zip(totals.by_level)
        .filter(|(level, n)| *n > 0 || **level != "-")
        .map(|(level, n)| format!("{} {n}", if *level == "-" { "no level" } else { level }))
        .collect();
    eprintln!("hunt: by level: {}", by_level.join(", "));
    let skipped = if report.skipped() > 0 {
        format!(", {} skipped (`haidang-collector rules check DIR` lists why)", report.skipped())
    } else {
        String::new()
    };
    let correlations = match rules.correlation_rules() {
        0 => String::new(),
        n => format!("; {n} correlation rules not evaluated by hunt"),
    };
    eprintln!(
        "hunt: rules: {} detection rules loaded in {:.1} s{skipped}{correlations}",
        rules.detection_rules(),
        load_time.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_a_date() {
        let date = parse_time("2024-05-01").expect("date");
        assert_eq!(date, Timestamp::parse_rfc3339("2024-05-01T00:00:00Z").expect("time"));
        let precise = parse_time("2024-05-01T08:30:00.5Z").expect("time");
        assert_eq!(precise.0 - date.0, 8 * 3_600_000_000_000 + 30 * 60_000_000_000 + 500_000_000);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2024-13-01").is_err());
    }
}
