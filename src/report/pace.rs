//! A count's pace: its rate over the last half minute, and the time left at that rate (the
//! live views: `status --watch`, `list --watch`, the worker's page).

use std::collections::VecDeque;

/// The window the rate is taken over.
const RATE_WINDOW_MS: i64 = 30_000;

/// A count's samples over time, for its rate and the time left at that rate.
#[derive(Debug, Default)]
pub struct Pace {
    samples: VecDeque<(i64, i64)>,
}

impl Pace {
    /// Adds `done` as counted at `at_ms`; samples older than the window (but the one just
    /// before it) are dropped.
    pub fn add(&mut self, at_ms: i64, done: i64) {
        self.samples.push_back((at_ms, done));
        while self.samples.len() > 2 && self.samples[1].0 <= at_ms - RATE_WINDOW_MS {
            self.samples.pop_front();
        }
    }

    /// Per second, over the samples kept; `None` until two samples a moment apart.
    pub fn rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let span = (last.0 - first.0) as f64 / 1000.0;
        (span > 0.0).then(|| (last.1 - first.1).max(0) as f64 / span)
    }

    /// How long `left` takes at the rate, said for people (`4 min 10 s`).
    pub fn eta(&self, left: i64) -> String {
        match self.rate() {
            _ if left <= 0 => "done".into(),
            Some(rate) if rate > 0.0 => span((left as f64 / rate).ceil() as u64),
            Some(_) => "not moving".into(),
            None => "measuring".into(),
        }
    }
}

fn span(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_taken_over_the_last_half_minute_and_the_time_left_at_it() {
        let mut pace = Pace::default();
        pace.add(0, 0);
        assert_eq!(pace.eta(100), "measuring");
        pace.add(10_000, 50);
        assert_eq!(pace.rate(), Some(5.0));
        assert_eq!(pace.eta(100), "20 s");
        // A minute later at 1/s: the fast start has left the window.
        for s in 11..=70 {
            pace.add(s * 1000, 50 + (s - 10));
        }
        assert_eq!(pace.rate(), Some(1.0));
        assert_eq!(pace.eta(300), "5 min 0 s");
        pace.add(71_000, 110);
        assert!(pace.rate().unwrap() < 1.0);
        assert_eq!(pace.eta(0), "done");
        let mut still = Pace::default();
        still.add(0, 7);
        still.add(5_000, 7);
        assert_eq!(still.eta(3), "not moving");
    }
}
