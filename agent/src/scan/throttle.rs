//! Keeps a background scan to a share of one CPU core, so an endpoint stays usable while the
//! agent scans: after working for `t`, rest `t * (1 - share) / share`. Rests shorter than
//! [`MIN_REST`] are added up rather than slept, because the scheduler cannot sleep that
//! precisely and many tiny sleeps would cost more than they save.
//!
//! Work is measured in wall time, which also counts waiting for the disk: on a slow disk the
//! scan rests more than it strictly needs to, the safe side for a desktop.

use std::time::{Duration, Instant};

const MIN_REST: Duration = Duration::from_millis(20);

pub struct Throttle {
    share: f64,
    owed: Duration,
}

impl Throttle {
    /// `share` of one core, in (0, 1]; 1 never rests.
    pub fn new(share: f64) -> Throttle {
        Throttle { share: share.clamp(f64::MIN_POSITIVE, 1.0), owed: Duration::ZERO }
    }

    /// Runs `work`, then rests as long as the share requires.
    pub fn run<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        let rest = self.account(started.elapsed());
        if !rest.is_zero() {
            std::thread::sleep(rest);
        }
        result
    }

    /// Adds `worked` to the debt and returns how long to rest now (zero while the debt is
    /// below [`MIN_REST`]).
    fn account(&mut self, worked: Duration) -> Duration {
        let factor = (1.0 - self.share) / self.share;
        // Whole nanoseconds, so the arithmetic is exact for the tests and for round figures.
        self.owed += Duration::from_nanos((worked.as_nanos() as f64 * factor).round() as u64);
        if self.owed < MIN_REST {
            return Duration::ZERO;
        }
        std::mem::take(&mut self.owed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rests_in_proportion_to_work() {
        let mut quarter = Throttle::new(0.25);
        assert_eq!(quarter.account(Duration::from_millis(100)), Duration::from_millis(300));
        // Small amounts of work accumulate until a rest is worth taking.
        assert_eq!(quarter.account(Duration::from_millis(5)), Duration::ZERO);
        assert_eq!(quarter.account(Duration::from_millis(5)), Duration::from_millis(30));
        let mut whole = Throttle::new(1.0);
        assert_eq!(whole.account(Duration::from_secs(10)), Duration::ZERO);
    }
}
