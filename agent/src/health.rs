//! Heartbeats: the agent's own health as an event every `heartbeat_interval`.

use crate::spool::{Observation, Recorder, Spool};
use haidang_proto::EventBody;
use haidang_proto::event::Health;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Heartbeat {
    pub interval: Duration,
    pub recorder: Recorder,
    pub spool: Arc<Spool>,
    pub fim_sensor: String,
    pub process_sensor: String,
}

impl Heartbeat {
    pub async fn run(self) {
        let started = Instant::now();
        let mut last = (Instant::now(), cpu_time());
        loop {
            let now = (Instant::now(), cpu_time());
            let wall = now.0.duration_since(last.0).as_secs_f64();
            let cpu_percent = if wall > 0.0 { ((now.1 - last.1).as_secs_f64() / wall * 100.0) as f32 } else { 0.0 };
            last = now;
            let depth = self.spool.depth().unwrap_or_default();
            let health = Health {
                spool_events: depth.events,
                spool_bytes: depth.bytes,
                rss_bytes: rss_bytes(),
                cpu_percent,
                uptime_secs: started.elapsed().as_secs(),
                fim_sensor: self.fim_sensor.clone(),
                process_sensor: self.process_sensor.clone(),
                agent_version: crate::version::running().into(),
            };
            if let Err(e) = self.recorder.record(vec![Observation::now(EventBody::Health(health))]).await {
                tracing::warn!(error = %e, "cannot record heartbeat");
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// CPU time (user + system) this process has used.
#[cfg(unix)]
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer we own.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    // SAFETY: initialised by the successful call above.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[cfg(not(unix))]
pub fn cpu_time() -> Duration {
    Duration::ZERO
}

/// Resident memory of this process.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
