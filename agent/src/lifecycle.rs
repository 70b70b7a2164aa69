//! The agent's own lifecycle as events: `started`, `stopped` and `clock_jump`, the raw material
//! of the tampering rules (an agent stopped or killed to blind it, a clock moved to make events
//! look older or newer than they are).
//!
//! A clean stop leaves a marker file in the state directory and the next start removes it, so a
//! start that finds no marker knows the previous run ended without a stop: SIGKILL, a crash or
//! a power loss.

use crate::spool::{Observation, Recorder, Spool};
use crate::state::{State, write_private};
use crate::status::LinkState;
use anyhow::{Context, Result};
use haidang_proto::event::{AgentLifecycle, LifecycleAction};
use haidang_proto::{EventBody, Timestamp};
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::time::MissedTickBehavior;

/// How often the wall clock is compared with the monotonic clock.
const CLOCK_TICK: Duration = Duration::from_secs(5);
/// Longest a clean stop waits for the collector to acknowledge the `stopped` event: a service
/// manager stopping the agent must not hang on a slow collector, and whatever is not delivered
/// stays in the spool for the next run.
const STOP_FLUSH: Duration = Duration::from_secs(2);

// The `started` details. Detection rules match on these words: change them together.
const PREVIOUS_CLEAN: &str = "previous run ended cleanly";
const PREVIOUS_UNCLEAN: &str = "previous run did not shut down cleanly (killed, crashed or power loss)";
const FIRST_RUN: &str = "first run of this agent";

/// What ended a run; the `stopped` event names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// A signal to the agent's process, by name (`SIGTERM`, `SIGINT`, `Ctrl-C`).
    Signal(&'static str),
    /// The Windows service control manager (a stop, or the machine shutting down).
    ServiceControlManager,
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopCause::Signal(name) => write!(f, "stopped by {name}"),
            StopCause::ServiceControlManager => f.write_str("stopped by the service control manager"),
        }
    }
}

fn observation(action: LifecycleAction, clock_jump_secs: Option<i64>, detail: String) -> Observation {
    Observation::now(EventBody::Agent(AgentLifecycle {
        action,
        clock_jump_secs,
        detail,
        agent_version: crate::version::running().into(),
    }))
}

/// Records one event of the update cycle (`update_*`, `updated`).
pub async fn record_update(recorder: &Recorder, action: LifecycleAction, detail: String) -> Result<()> {
    recorder.record(vec![observation(action, None, detail)]).await
}

/// Records `started`, saying how the previous run ended. Call once the spool is open (its lock
/// makes this the only agent using the state directory) and before the sensors start, so that
/// `started` is the run's first event.
pub async fn record_start(state: &State, spool: &Spool, recorder: &Recorder) -> Result<()> {
    let marker = state.clean_shutdown_path();
    // An unreadable directory counts as no marker: claiming an unclean end is the safe mistake.
    let clean = marker.try_exists().unwrap_or(false);
    if clean {
        // Removed before `started` is recorded, so a crash in between reads as unclean next
        // time; never the other way round.
        if let Err(e) = remove_durably(&marker) {
            tracing::warn!(error = %e, path = %marker.display(), "cannot remove the clean-shutdown marker");
        }
    }
    let first = spool.depth()?.last_seq == 0;
    recorder.record(vec![observation(LifecycleAction::Started, None, previous_run(clean, first).into())]).await
}

fn previous_run(clean: bool, first: bool) -> &'static str {
    match (clean, first) {
        (true, _) => PREVIOUS_CLEAN,
        // Every run records `started` first, so an empty spool has never seen a run.
        (false, true) => FIRST_RUN,
        (false, false) => PREVIOUS_UNCLEAN,
    }
}

/// Records `stopped` (durably: it is in the spool when this returns), gives the uplink up to
/// [`STOP_FLUSH`] to deliver it if the collector is connected, and leaves the clean-shutdown
/// marker. Call after the sensors have stopped, so that `stopped` is the run's last event, and
/// while the uplink still runs.
pub async fn record_stop(
    cause: StopCause,
    state: &State,
    spool: &Spool,
    recorder: &Recorder,
    link: &LinkState,
) -> Result<()> {
    recorder.record(vec![observation(LifecycleAction::Stopped, None, cause.to_string())]).await?;
    if link.is_connected() {
        let delivered = tokio::time::timeout(STOP_FLUSH, async {
            while !spool.depth().is_ok_and(|d| d.events == 0 && d.batches == 0) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .is_ok();
        if !delivered {
            tracing::info!("not everything is acknowledged yet; the rest is sent on the next start");
        }
    }
    let marker = state.clean_shutdown_path();
    write_private(&marker, format!("{} {cause}\n", Timestamp::now().to_rfc3339()).as_bytes())?;
    sync_dir(&state.root).with_context(|| format!("cannot write {}", marker.display()))
}

fn remove_durably(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    path.parent().map_or(Ok(()), sync_dir)
}

/// Makes a file's creation, rename or removal in `dir` survive a power loss: otherwise the
/// marker could reappear after one and make an unclean end look clean.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory with std; NTFS journals the directory change itself.
#[cfg(not(unix))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The wall clock moved against the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockJump {
    /// Seconds, rounded; positive when the wall clock moved forward.
    pub secs: i64,
    /// Where the wall clock would be had it kept pace with the monotonic clock.
    pub expected: SystemTime,
    pub found: SystemTime,
}

impl fmt::Display for ClockJump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wall clock moved {} by {} against the monotonic clock (expected {}, found {})",
            if self.secs > 0 { "forward" } else { "backward" },
            humantime::format_duration(Duration::from_secs(self.secs.unsigned_abs())),
            Timestamp::from(self.expected).to_rfc3339(),
            Timestamp::from(self.found).to_rfc3339(),
        )
    }
}

/// Detects jumps of the wall clock from pairs of readings (wall clock, monotonic clock) taken
/// together. Each pair is compared with the previous one only, so a jump is reported once, and
/// NTP slewing (at most 0.5 ms a second) never adds up to one.
pub struct ClockJumpDetector {
    tolerance: Duration,
    last: Option<(SystemTime, Duration)>,
}

impl ClockJumpDetector {
    pub fn new(tolerance: Duration) -> ClockJumpDetector {
        ClockJumpDetector { tolerance, last: None }
    }

    /// `monotonic` is a reading of a clock that never goes back, from any fixed origin.
    pub fn observe(&mut self, wall: SystemTime, monotonic: Duration) -> Option<ClockJump> {
        let (last_wall, last_monotonic) = self.last.replace((wall, monotonic))?;
        let expected = last_wall.checked_add(monotonic.saturating_sub(last_monotonic))?;
        let jump_nanos = match wall.duration_since(expected) {
            Ok(ahead) => ahead.as_nanos() as i128,
            Err(behind) => -(behind.duration().as_nanos() as i128),
        };
        (jump_nanos.unsigned_abs() > self.tolerance.as_nanos()).then(|| ClockJump {
            secs: (jump_nanos as f64 / 1e9).round() as i64,
            expected,
            found: wall,
        })
    }
}

/// Compares the clocks every [`CLOCK_TICK`] and records a `clock_jump` event for each jump
/// beyond `tolerance`.
pub async fn watch_clock(tolerance: Duration, recorder: Recorder) {
    let mut detector = ClockJumpDetector::new(tolerance);
    let mut tick = tokio::time::interval(CLOCK_TICK);
    // After a stall one comparison covers the whole gap; catch-up ticks would add nothing.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(monotonic) = monotonic_now() else { continue };
        let Some(jump) = detector.observe(SystemTime::now(), monotonic) else { continue };
        tracing::warn!(secs = jump.secs, "{jump}");
        let event = observation(LifecycleAction::ClockJump, Some(jump.secs), jump.to_string());
        if let Err(e) = recorder.record(vec![event]).await {
            tracing::warn!(error = %e, "cannot record a clock jump");
        }
    }
}

/// The monotonic clock the detector compares against. On Linux it is CLOCK_BOOTTIME, which
/// keeps counting while the machine is suspended: `Instant` (CLOCK_MONOTONIC) stops, and every
/// laptop waking from sleep would look like a forward jump. None if the clock cannot be read
/// (that tick is skipped).
#[cfg(target_os = "linux")]
fn monotonic_now() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes a timespec into memory we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(u64::try_from(ts.tv_sec).ok()?, u32::try_from(ts.tv_nsec).ok()?))
}

/// Elsewhere `Instant` is the best monotonic clock there is (on Windows QueryPerformanceCounter,
/// which keeps counting through sleep).
#[cfg(not(target_os = "linux"))]
fn monotonic_now() -> Option<Duration> {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    Some(ORIGIN.get_or_init(std::time::Instant::now).elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use haidang_proto::{AgentId, Event};
    use ring::signature::Ed25519KeyPair;
    use std::sync::Arc;

    const TOLERANCE: Duration = Duration::from_secs(120);

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    }

    /// A detector already holding a reading at (t0, 1000 s).
    fn primed() -> ClockJumpDetector {
        let mut d = ClockJumpDetector::new(TOLERANCE);
        assert_eq!(d.observe(t0(), Duration::from_secs(1000)), None, "the first reading has nothing to compare");
        d
    }

    #[test]
    fn clocks_keeping_pace_are_no_jump() {
        let mut d = primed();
        for i in 1..100u64 {
            // Ticks late by up to a second, as a busy machine schedules them, change nothing.
            let elapsed = Duration::from_millis(i * 5000 + (i % 7) * 150);
            assert_eq!(d.observe(t0() + elapsed, Duration::from_secs(1000) + elapsed), None, "tick {i}");
        }
    }

    #[test]
    fn a_forward_jump_is_reported_once_with_its_size() {
        let mut d = primed();
        let found = t0() + Duration::from_secs(5 + 3600);
        let jump = d.observe(found, Duration::from_secs(1005)).expect("jump");
        assert_eq!(jump, ClockJump { secs: 3600, expected: t0() + Duration::from_secs(5), found });
        assert!(jump.to_string().starts_with("wall clock moved forward by 1h against the monotonic clock"), "{jump}");
        // The new wall time is the reference from now on.
        assert_eq!(d.observe(found + Duration::from_secs(5), Duration::from_secs(1010)), None);
    }

    #[test]
    fn a_backward_jump_is_negative() {
        let mut d = primed();
        let found = t0() - Duration::from_secs(3 * 86_400) + Duration::from_secs(5);
        let jump = d.observe(found, Duration::from_secs(1005)).expect("jump");
        assert_eq!(jump.secs, -3 * 86_400);
        assert!(jump.to_string().starts_with("wall clock moved backward by 3days"), "{jump}");
    }

    #[test]
    fn only_jumps_beyond_the_tolerance_count() {
        let mut d = primed();
        let mono = |s: u64| Duration::from_secs(1000 + s);
        // 119 s behind, then forward by 119 s: NTP-sized steps pass.
        assert_eq!(d.observe(t0() + Duration::from_secs(5) - Duration::from_secs(119), mono(5)), None);
        assert_eq!(d.observe(t0() + Duration::from_secs(10), mono(10)), None);
        let jump = d.observe(t0() + Duration::from_secs(15 + 121), mono(15)).expect("jump");
        assert_eq!(jump.secs, 121);
        let jump = d.observe(t0() + Duration::from_secs(20), mono(20)).expect("jump back");
        assert_eq!(jump.secs, -121);
    }

    #[test]
    fn a_jump_is_measured_however_long_the_gap_between_readings() {
        // A machine suspended for 8 hours (CLOCK_BOOTTIME counts the sleep): no jump.
        let mut d = primed();
        let h8 = Duration::from_secs(8 * 3600);
        assert_eq!(d.observe(t0() + h8, Duration::from_secs(1000) + h8), None);
        // A tick stalled for 10 minutes, during which the clock was set 5 minutes ahead.
        let jump = d.observe(t0() + h8 + Duration::from_secs(600 + 300), Duration::from_secs(1000 + 600) + h8);
        assert_eq!(jump.map(|j| j.secs), Some(300));
    }

    #[test]
    fn the_monotonic_clock_reads_and_never_goes_back() {
        let a = monotonic_now().expect("readable");
        let b = monotonic_now().expect("readable");
        assert!(b >= a);
    }

    #[test]
    fn stop_causes_are_named() {
        assert_eq!(StopCause::Signal("SIGTERM").to_string(), "stopped by SIGTERM");
    }

    fn spooled(spool: &Spool) -> Vec<AgentLifecycle> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("keygen");
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let Some(batch) = spool.seal(&key, AgentId([1; 16]), 1000, 1 << 20).expect("seal") else { return Vec::new() };
        batch
            .open()
            .expect("open")
            .into_iter()
            .filter_map(|e: Event| match e.body {
                EventBody::Agent(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn starts_say_how_the_previous_run_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::new(dir.path());
        let spool = Spool::open(&state.spool_path(), 1 << 30).expect("open");
        let recorder = Recorder::start(Arc::clone(&spool));
        let link = LinkState::default();
        let run = |n: usize| {
            let (state, spool, recorder) = (&state, &spool, &recorder);
            async move {
                record_start(state, spool, recorder).await.expect("start");
                let events = spooled(spool);
                assert_eq!(events.len(), 1, "run {n}: {events:?}");
                assert_eq!(events[0].action, LifecycleAction::Started);
                assert_eq!(events[0].agent_version, env!("CARGO_PKG_VERSION"));
                events[0].detail.clone()
            }
        };

        assert_eq!(run(1).await, FIRST_RUN);
        assert!(!state.clean_shutdown_path().exists());
        record_stop(StopCause::Signal("SIGTERM"), &state, &spool, &recorder, &link).await.expect("stop");
        let stopped = spooled(&spool);
        assert_eq!(stopped.len(), 1);
        assert_eq!((stopped[0].action, stopped[0].detail.as_str()), (LifecycleAction::Stopped, "stopped by SIGTERM"));
        assert!(state.clean_shutdown_path().exists());

        assert_eq!(run(2).await, PREVIOUS_CLEAN);
        assert!(!state.clean_shutdown_path().exists(), "the marker is consumed by the start");
        // No stop: as after SIGKILL.
        assert_eq!(run(3).await, PREVIOUS_UNCLEAN);
    }
}
