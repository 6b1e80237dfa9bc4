//! The two limits of the API document, per token and per phone number, as the dispatcher keeps
//! them. The server counts sends in any sliding second; what it sees is when requests arrive,
//! and what we control is when they leave. So three things work together:
//!
//! - a cadence (`period`): the token's gate hands out one send every period, on a fixed
//!   schedule that does not lose timer lateness, a hair slower than the rate;
//! - a departure log: right before a request leaves, it is checked against the actual times
//!   the last `rate` requests left, and waits (rarely, a few ms) so that no window of one
//!   second plus a guard ever holds more than `rate` departures, whatever delayed some sends
//!   between their turn and their departure; the same log keeps each number's spacing;
//! - a claim-time check per number, which keeps waiting numbers out of the in-flight slots.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::queue::{Store, StoreError};

/// How much longer than a second the departure log's window is: room for requests that leave
/// together to arrive apart (loopback and LAN jitter).
const GUARD: Duration = Duration::from_millis(5);
/// The cadence runs this much slower than the rate, so the departure log rarely has to wait.
const SLACK: f64 = 1.004;

pub(super) struct Pacing {
    /// One send per period, from the token's gate.
    pub(super) period: Duration,
    rate: usize,
    numbers: DefaultKeyedRateLimiter<String>,
    number_period: Duration,
    /// How many messages to claim at once.
    pub(super) claim_size: usize,
    /// When each number's next request may leave, as reserved when its send waited for its
    /// turn (spreads sends to one number before they take a token turn).
    reserved: std::sync::Mutex<HashMap<u64, Instant>>,
    departures: std::sync::Mutex<Departures>,
    /// When the keyed limiter last dropped numbers it no longer needs.
    pruned: std::sync::Mutex<Instant>,
}

/// When requests actually left: the token's last `rate`, and each number's last.
#[derive(Default)]
struct Departures {
    token: VecDeque<Instant>,
    numbers: HashMap<u64, Instant>,
}

impl Pacing {
    pub(super) fn new(rate: u32, number_rate: u32) -> Self {
        let rate = rate.max(1);
        let number_period = Duration::from_secs_f64(1.0 / f64::from(number_rate.max(1)));
        Pacing {
            period: Duration::from_secs_f64(SLACK / f64::from(rate)),
            rate: rate as usize,
            numbers: RateLimiter::keyed(
                Quota::with_period(number_period + GUARD)
                    .expect("non-zero")
                    .allow_burst(NonZeroU32::MIN),
            ),
            number_period,
            claim_size: (rate as usize / 10).clamp(1, 1000),
            reserved: Default::default(),
            departures: Default::default(),
            pruned: std::sync::Mutex::new(Instant::now()),
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
            *pruned = Instant::now();
        }
        Ok(ready)
    }

    /// When a send to `phone` should take its turn: a period after the last one reserved.
    pub(super) fn reserve(&self, phone: &str) -> Instant {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let at = reserved
            .get(&key(phone))
            .map_or(now, |t| (*t + self.number_period + GUARD).max(now));
        reserved.insert(key(phone), at);
        if reserved.len() > 100_000 {
            reserved.retain(|_, t| *t + self.number_period > now);
        }
        at
    }

    /// Waits until a request to `phone` may leave by the departure log, and records that it
    /// leaves now. Call right before the request is sent.
    pub(super) async fn depart(&self, phone: &str) {
        loop {
            let until = {
                let mut log = self.departures.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let window = Duration::from_secs(1) + GUARD;
                let token_free = match log.token.front() {
                    Some(oldest) if log.token.len() >= self.rate => *oldest + window,
                    _ => now,
                };
                let number_free = log
                    .numbers
                    .get(&key(phone))
                    .map_or(now, |t| *t + self.number_period + GUARD);
                let until = token_free.max(number_free);
                if until <= now {
                    log.token.push_back(now);
                    while log.token.len() > self.rate {
                        log.token.pop_front();
                    }
                    log.numbers.insert(key(phone), now);
                    if log.numbers.len() > 100_000 {
                        let period = self.number_period + GUARD;
                        log.numbers.retain(|_, t| *t + period > now);
                    }
                    return;
                }
                until
            };
            tokio::time::sleep_until(until).await;
        }
    }
}

fn key(phone: &str) -> u64 {
    crate::fingerprint::fnv1a64(phone.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_window_of_a_second_holds_more_departures_than_the_rate() {
        let pacing = Pacing::new(10, 1);
        let start = Instant::now();
        let mut left = vec![];
        // Thirty sends to thirty numbers, all at once: the log spaces them out.
        for i in 0..30 {
            pacing.depart(&format!("+4479{i:08}")).await;
            left.push(Instant::now() - start);
        }
        for (i, t) in left.iter().enumerate().skip(10) {
            assert!(
                *t >= left[i - 10] + Duration::from_secs(1),
                "send {i} left {t:?}, within a second of send {} at {:?}",
                i - 10,
                left[i - 10]
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_number_gets_one_departure_a_second() {
        let pacing = Pacing::new(100, 1);
        let start = Instant::now();
        pacing.depart("+447911000001").await;
        pacing.depart("+447911000001").await;
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }
}
