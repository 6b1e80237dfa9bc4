//! The two limits of the API document, per token and per phone number, as the dispatcher keeps
//! them (governor, with margins so the server's sliding one-second windows never see one too many).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::queue::{Store, StoreError};

/// The two limits of the API document: per token and per phone number.
pub(super) struct Pacing {
    pub(super) token: DefaultDirectRateLimiter,
    numbers: DefaultKeyedRateLimiter<String>,
    number_period: Duration,
    /// How many messages to claim at once.
    pub(super) claim_size: usize,
    /// When each number's last request leaves. The claim-time check (`numbers`) keeps waiting
    /// numbers out of the in-flight slots; this guard applies the spacing when the request
    /// actually leaves, since one send can wait for the token limit longer than the next one to
    /// the same number.
    leaves: std::sync::Mutex<HashMap<u64, tokio::time::Instant>>,
    /// When the keyed limiter last dropped numbers it no longer needs.
    pruned: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacing {
    pub(super) fn new(rate: u32, number_rate: u32) -> Self {
        // Margins keep the server's sliding one-second windows from ever seeing one too many.
        let token_period = Duration::from_secs_f64(1.02 / f64::from(rate.max(1)));
        let number_period = Duration::from_secs_f64(1.05 / f64::from(number_rate.max(1)));
        let quota = |period, burst: u32| {
            Quota::with_period(period)
                .expect("non-zero")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
        };
        // A small burst lets the limiter make up for timer lateness instead of losing it. In any
        // second it allows at most rate/1.02 + burst sends, which stays within the rate while
        // burst <= 1.96% of it; 1.5% keeps a little more room.
        let token_burst = (f64::from(rate) * 0.015) as u32;
        Pacing {
            token: RateLimiter::direct(quota(token_period, token_burst)),
            numbers: RateLimiter::keyed(quota(number_period, 1)),
            number_period,
            claim_size: (rate as usize / 10).clamp(1, 1000),
            leaves: Default::default(),
            pruned: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// The due messages whose number may be sent to now; the others are put off in the store
    /// (no head-of-line blocking).
    pub(super) async fn numbers_ready(
        &self,
        store: &Store,
        due: Vec<(i64, String)>,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut ready = Vec::with_capacity(due.len());
        for (id, phone) in due {
            match self.numbers.check_key(&phone) {
                Ok(()) => ready.push(id),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    store.defer(id, now + wait.as_millis() as i64 + 1).await?;
                }
            }
        }
        // The keyed store grows with every number until pruned; once a second is plenty.
        let mut pruned = self.pruned.lock().unwrap_or_else(|p| p.into_inner());
        if pruned.elapsed() >= Duration::from_secs(1) {
            self.numbers.retain_recent();
            *pruned = tokio::time::Instant::now();
        }
        Ok(ready)
    }

    pub(super) fn leave_at(&self, phone: &str) -> tokio::time::Instant {
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        let key = crate::fingerprint::fnv1a64(phone.as_bytes());
        let at = leaves
            .get(&key)
            .map_or(now, |t| (*t + self.number_period).max(now));
        leaves.insert(key, at);
        if leaves.len() > 100_000 {
            leaves.retain(|_, t| *t + self.number_period > now);
        }
        at
    }
}
