//! Failed enrollment attempts, per source address: after a few in a minute the source is
//! refused before its request is read, and the log summarises the failures instead of
//! writing a line for each (an unauthenticated peer must not be able to flood it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(60);
/// Failures in one window after which a source is refused until the window ends.
const MAX_FAILURES: u32 = 10;
/// Sources remembered at once; beyond this, new sources are not tracked (the cap on
/// unauthenticated connections still bounds them).
const MAX_SOURCES: usize = 65_536;

struct Window {
    started: Instant,
    failures: u32,
    /// Attempts refused unread because the source was over the limit.
    throttled: u64,
}

#[derive(Default)]
pub struct EnrollThrottle {
    sources: Mutex<HashMap<IpAddr, Window>>,
}

/// Whether a failure is worth its own log line.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// The first failure from this source in a window: log it in full.
    Log,
    /// Counted, and reported in the source's summary line.
    Summarised,
}

impl EnrollThrottle {
    /// Whether an attempt from `source` may be read at all.
    pub fn admit(&self, source: IpAddr) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let Some(window) = current(&mut sources, source) else { return true };
        if window.failures < MAX_FAILURES {
            return true;
        }
        window.throttled += 1;
        false
    }

    /// Records a failed attempt from `source`.
    pub fn failed(&self, source: IpAddr) -> Report {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if current(&mut sources, source).is_none() {
            if sources.len() >= MAX_SOURCES {
                sources.retain(|_, w| w.started.elapsed() < WINDOW);
                if sources.len() >= MAX_SOURCES {
                    return Report::Summarised;
                }
            }
            sources.insert(source, Window { started: Instant::now(), failures: 0, throttled: 0 });
        }
        let Some(window) = sources.get_mut(&source) else { return Report::Summarised };
        window.failures += 1;
        if window.failures == MAX_FAILURES {
            tracing::warn!(
                remote = %source,
                failures = window.failures,
                seconds = WINDOW.as_secs(),
                "repeated failed enrollment attempts; refusing this source's attempts until the window ends"
            );
        }
        if window.failures == 1 { Report::Log } else { Report::Summarised }
    }
}

/// The source's window if it is still open; an expired one is summarised and forgotten.
fn current(sources: &mut HashMap<IpAddr, Window>, source: IpAddr) -> Option<&mut Window> {
    if sources.get(&source).is_some_and(|w| w.started.elapsed() >= WINDOW) {
        if let Some(w) = sources.remove(&source)
            && (w.failures > 1 || w.throttled > 0)
        {
            tracing::warn!(
                remote = %source,
                failures = w.failures,
                throttled = w.throttled,
                seconds = WINDOW.as_secs(),
                "failed enrollment attempts from one source in the last window"
            );
        }
        return None;
    }
    sources.get_mut(&source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_refused_after_repeated_failures_and_others_are_not() {
        let throttle = EnrollThrottle::default();
        let attacker: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(throttle.failed(attacker), Report::Log);
        for _ in 1..MAX_FAILURES {
            assert!(throttle.admit(attacker));
            assert_eq!(throttle.failed(attacker), Report::Summarised);
        }
        assert!(!throttle.admit(attacker));
        assert!(throttle.admit(other));
        assert_eq!(throttle.failed(other), Report::Log);
    }
}
