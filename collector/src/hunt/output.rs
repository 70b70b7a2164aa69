//! How a detection is written: an aligned table for people, JSON lines or CSV for programs.
//!
//! Event fields (computer names, titles of rules written by others, file paths) are attacker-
//! or third-party-controlled: the table escapes terminal control characters, CSV defuses
//! spreadsheet formulas, JSON is JSON.

use haidang_proto::text::terminal_safe;
use haidang_rules::EvaluationResult;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per detection (rule, source, time, the matched event).
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// One rule matching one event.
pub struct Detection<'a> {
    pub result: &'a EvaluationResult,
    /// The input file as given (lossless text).
    pub path: &'a str,
    /// EVTX record id, or the line (or position) of a JSON event.
    pub record: u64,
    pub time: Option<String>,
    pub computer: Option<String>,
    pub channel: Option<&'a str>,
    pub event_id: Option<i64>,
    pub event: &'a Value,
}

/// The line printed before any detection, if the format has one.
pub fn header(format: Format) -> Option<String> {
    match format {
        Format::Table => Some(format!(
            "{:<27}  {:<13}  {:>5}  {:<16}  {}  [{}]\n",
            "TIME", "LEVEL", "EID", "COMPUTER", "RULE", "SOURCE"
        )),
        Format::Json => None,
        Format::Csv => Some("time,level,rule_id,rule_title,tags,computer,channel,event_id,path,record\n".to_owned()),
    }
}

/// Appends one detection, newline-terminated, to `out`.
pub fn render(format: Format, d: &Detection<'_>, out: &mut String) {
    match format {
        Format::Table => table(d, out),
        Format::Json => json(d, out),
        Format::Csv => csv(d, out),
    }
}

fn level(d: &Detection<'_>) -> &'static str {
    d.result.header.level.map_or("-", |l| l.as_str())
}

fn table(d: &Detection<'_>, out: &mut String) {
    let computer = terminal_safe(d.computer.as_deref().unwrap_or("-"));
    let _ = writeln!(
        out,
        "{:<27}  {:<13}  {:>5}  {:<16}  {}  [{}#{}]",
        d.time.as_deref().unwrap_or("-"),
        level(d),
        d.event_id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
        truncate(&computer, 16),
        terminal_safe(&d.result.header.rule_title),
        terminal_safe(d.path),
        d.record
    );
}

/// At most `width` characters, marking a cut with `…`.
fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `M` is rsigma's field match, named by inference so the collector needs no direct rsigma
/// dependency.
#[derive(Serialize)]
struct JsonLine<'a, M: Serialize> {
    rule: JsonRule<'a>,
    source: JsonSource<'a>,
    time: Option<&'a str>,
    computer: Option<&'a str>,
    channel: Option<&'a str>,
    event_id: Option<i64>,
    matches: &'a [M],
    event: &'a Value,
}

#[derive(Serialize)]
struct JsonRule<'a> {
    id: Option<&'a str>,
    title: &'a str,
    level: Option<&'static str>,
    tags: &'a [String],
}

#[derive(Serialize)]
struct JsonSource<'a> {
    path: &'a str,
    record: u64,
}

fn json(d: &Detection<'_>, out: &mut String) {
    let header = &d.result.header;
    let line = JsonLine {
        rule: JsonRule {
            id: header.rule_id.as_deref(),
            title: &header.rule_title,
            level: header.level.map(|l| l.as_str()),
            tags: &header.tags,
        },
        source: JsonSource { path: d.path, record: d.record },
        time: d.time.as_deref(),
        computer: d.computer.as_deref(),
        channel: d.channel,
        event_id: d.event_id,
        matches: d.result.as_detection().map_or(&[][..], |body| &body.matched_fields[..]),
        event: d.event,
    };
    match serde_json::to_string(&line) {
        Ok(text) => {
            out.push_str(&text);
            out.push('\n');
        }
        // Serializing borrowed JSON values and strings cannot fail; say so if it ever does.
        Err(e) => {
            let _ = writeln!(out, "{{\"error\":{:?}}}", e.to_string());
        }
    }
}

fn csv(d: &Detection<'_>, out: &mut String) {
    let header = &d.result.header;
    let fields = [
        d.time.clone().unwrap_or_default(),
        level(d).to_owned(),
        header.rule_id.clone().unwrap_or_default(),
        header.rule_title.clone(),
        header.tags.join(";"),
        d.computer.clone().unwrap_or_default(),
        d.channel.unwrap_or_default().to_owned(),
        d.event_id.map(|id| id.to_string()).unwrap_or_default(),
        d.path.to_owned(),
        d.record.to_string(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(field, out);
    }
    out.push('\n');
}

/// RFC 4180 quoting; a field a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`,
/// tab or CR) gets a leading `'`, as OWASP advises for CSV exports.
fn csv_field(field: &str, out: &mut String) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}
