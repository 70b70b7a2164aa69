//! The collector under test: its admin API (CA fingerprint, enrollment tokens), its
//! `/metrics`, and what `/proc` says about its process (CPU time, resident memory).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;

/// The collector's HTTP API.
pub(crate) struct Api {
    base: String,
    token: Option<String>,
}

impl Api {
    /// `token_file` is `DATA/api.token`; only the calls that create tokens need it.
    pub(crate) fn new(base: &str, token_file: Option<&Path>) -> Result<Api> {
        let token = match token_file {
            Some(path) => {
                let t = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the API token file {}", path.display()))?;
                Some(t.trim().to_string())
            }
            None => None,
        };
        Ok(Api { base: base.trim_end_matches('/').to_string(), token })
    }

    fn bearer(&self) -> Result<String> {
        match &self.token {
            Some(t) => Ok(format!("Bearer {t}")),
            None => bail!("--token-file (the collector's DATA/api.token) is required to enroll agents"),
        }
    }

    /// `sha256:<hex>` of the collector's CA, which simulated agents pin.
    pub(crate) fn ca_fingerprint(&self) -> Result<String> {
        let url = format!("{}/api/v1/ca", self.base);
        let mut resp = ureq::get(&url)
            .header("Authorization", self.bearer()?)
            .call()
            .with_context(|| format!("cannot reach the collector API at {url}"))?;
        let v: Value = resp.body_mut().read_json()?;
        v["fingerprint"].as_str().map(str::to_string).context("the API answered /ca without a fingerprint")
    }

    /// A token for `uses` enrollments, valid for an hour.
    pub(crate) fn create_token(&self, group: &str, uses: usize) -> Result<String> {
        let url = format!("{}/api/v1/tokens", self.base);
        let uses = u32::try_from(uses).context("too many uses for one token")?;
        let mut resp = ureq::post(&url)
            .header("Authorization", self.bearer()?)
            .send_json(json!({ "group": group, "ttl_secs": 3600, "uses": uses }))
            .with_context(|| format!("cannot create an enrollment token at {url}"))?;
        let v: Value = resp.body_mut().read_json()?;
        v["token"].as_str().map(str::to_string).context("the API answered /tokens without a token")
    }

    /// The `/metrics` text.
    pub(crate) fn metrics(&self) -> Result<Metrics> {
        let url = format!("{}/metrics", self.base);
        let mut resp = ureq::get(&url).call().with_context(|| format!("cannot read {url}"))?;
        Ok(Metrics(resp.body_mut().read_to_string()?))
    }
}

/// One scrape of `/metrics` (OpenMetrics text).
pub(crate) struct Metrics(String);

impl Metrics {
    /// The value of an unlabelled sample, e.g. `haidang_events_received_total`.
    pub(crate) fn value(&self, name: &str) -> Option<f64> {
        self.0.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
    }

    /// Cumulative histogram buckets `(le, count)` of `name`, in increasing `le`.
    pub(crate) fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        let mut out: Vec<(f64, f64)> = self
            .0
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (le, rest) = rest.split_once("\"}")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, rest.split_whitespace().next()?.parse().ok()?))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// Upper bound of the bucket holding quantile `q` of the observations made between two
/// scrapes of the same histogram (Prometheus' `histogram_quantile` without interpolation).
pub(crate) fn bucket_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> =
        after.iter().map(|&(le, n)| (le, n - before.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1))).collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta.iter().find(|(_, n)| *n >= q * total).map(|(le, _)| *le)
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcSample {
    /// utime + stime, in seconds.
    pub cpu_secs: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub at: std::time::Instant,
}

pub(crate) fn sample(pid: u32) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("no process {pid}"))?;
    // The command name may hold spaces; the fields after it are space-separated.
    let after = stat.rsplit_once(')').map(|(_, r)| r).context("unreadable /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("unreadable /proc/PID/stat");
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ProcSample {
        cpu_secs: cpu_ticks as f64 / hz,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        at: std::time::Instant::now(),
    })
}

/// Cores a process used between two samples.
pub(crate) fn cores(a: &ProcSample, b: &ProcSample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall > 0.0 { (b.cpu_secs - a.cpu_secs) / wall } else { 0.0 }
}

/// CPU time the whole machine spent busy (all processes, kernel included), from /proc/stat.
pub(crate) fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let busy = cpu.first()? + cpu.get(1)? + cpu.get(2)? + cpu.get(5)? + cpu.get(6)? + cpu.get(7)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(busy as f64 / hz)
}

/// CPU and memory of the collector (when its pid is known), of this process and of the
/// whole machine over a phase.
#[derive(Default)]
pub(crate) struct Usage {
    pub collector: Option<(ProcSample, ProcSample)>,
    pub loadgen: Option<(ProcSample, ProcSample)>,
    /// Cores the rest of the machine kept busy meanwhile: other processes competing for the CPU.
    pub others: Option<f64>,
}

pub(crate) struct UsageStart {
    collector: Option<ProcSample>,
    loadgen: Option<ProcSample>,
    machine: Option<(f64, std::time::Instant)>,
}

/// Samples the collector (if `pid` is known), this process and the machine at the start of a phase.
pub(crate) fn start_usage(pid: Option<u32>) -> UsageStart {
    UsageStart {
        collector: pid.and_then(|p| sample(p).ok()),
        loadgen: sample(std::process::id()).ok(),
        machine: machine_busy_secs().map(|b| (b, std::time::Instant::now())),
    }
}

pub(crate) fn end_usage(pid: Option<u32>, start: UsageStart) -> Usage {
    let end = start_usage(pid);
    let collector = start.collector.zip(end.collector);
    let loadgen = start.loadgen.zip(end.loadgen);
    let others = start.machine.zip(end.machine).map(|((b0, t0), (b1, t1))| {
        let wall = t1.duration_since(t0).as_secs_f64().max(1e-9);
        let ours = |s: &Option<(ProcSample, ProcSample)>| s.as_ref().map_or(0.0, |(a, b)| b.cpu_secs - a.cpu_secs);
        ((b1 - b0 - ours(&collector) - ours(&loadgen)) / wall).max(0.0)
    });
    Usage { collector, loadgen, others }
}

impl Usage {
    pub(crate) fn to_json(&self) -> Value {
        let side = |s: &Option<(ProcSample, ProcSample)>| {
            s.as_ref().map_or(
                Value::Null,
                |(a, b)| json!({ "cpu_cores": round(cores(a, b), 3), "rss_kib": b.rss_kib, "peak_rss_kib": b.hwm_kib }),
            )
        };
        json!({
            "collector": side(&self.collector),
            "loadgen": side(&self.loadgen),
            "other_processes_cpu_cores": self.others.map(|c| round(c, 3)),
        })
    }

    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((a, b)) = &self.collector {
            parts.push(format!("collector {:.2} cores, RSS {} MiB", cores(a, b), b.rss_kib / 1024));
        }
        if let Some((a, b)) = &self.loadgen {
            parts.push(format!("load generator {:.2} cores", cores(a, b)));
        }
        if let Some(c) = self.others {
            parts.push(format!("other processes {c:.2} cores"));
        }
        if parts.is_empty() { "(no /proc figures)".into() } else { parts.join("; ") }
    }
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_parsed() {
        let m = Metrics(
            "# TYPE haidang_events_received counter\nhaidang_events_received_total 1234\n\
             haidang_ingest_latency_seconds_bucket{le=\"0.001\"} 2\n\
             haidang_ingest_latency_seconds_bucket{le=\"0.002\"} 9\n\
             haidang_ingest_latency_seconds_bucket{le=\"+Inf\"} 10\n"
                .into(),
        );
        assert_eq!(m.value("haidang_events_received_total"), Some(1234.0));
        assert_eq!(m.value("haidang_events_received"), None);
        let after = m.buckets("haidang_ingest_latency_seconds");
        assert_eq!(after.len(), 3);
        let before = vec![(0.001, 1.0), (0.002, 1.0), (f64::INFINITY, 1.0)];
        assert_eq!(bucket_quantile(&before, &after, 0.5), Some(0.002));
        assert_eq!(bucket_quantile(&before, &after, 1.0), Some(f64::INFINITY));
        assert_eq!(bucket_quantile(&after, &after, 0.5), None);
    }

    #[test]
    fn own_process_is_sampled() {
        let s = sample(std::process::id()).expect("sample self");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
