//! The two limits of the API document, per token and per phone number, as the dispatcher keeps
//! them. The server counts sends in any sliding second by when they *arrive*; we control when
//! they leave. So three things work together:
//!
//! - a cadence (`period`): the token's gate hands out one send every period, on a fixed
//!   schedule that does not lose timer lateness, a hair slower than the rate;
//! - an arrival log: right before a request leaves, its arrival is estimated (now plus half the
//!   quickest recent round trip) and checked against the estimated arrivals of the last `rate`
//!   requests (their answer's time less that half round trip, so a request that was slow to
//!   leave, on a new connection, counts as late as it may have arrived). It waits until no
//!   second plus a guard holds more than `rate` arrivals; the same log keeps each number's
//!   spacing. A request whose answer has not come yet holds up the one `rate` sends later;
//!   that is a second later, so only when the API is slower than that.
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

/// How many messages a claim takes at `rate` per second: a tenth of a second's worth, but at
/// least a second's worth up to `SMALL_CLAIM` messages. Each claim is a committed transaction
/// (an fsync on SQLite): a token at 10/s claiming one message at a time made 10 commits a
/// second for its claims alone, and a worker holding 100 such tokens fell to 5.8/s each,
/// waiting on the disk. What a claim takes is `sending` until its request leaves (after a
/// crash, reconciled, never resent blindly): two claims at most wait besides the requests in
/// flight, each of at most `SMALL_CLAIM` messages or a tenth of a second's worth.
fn claim_size(rate: usize) -> usize {
    (rate / 10)
        .max(rate.min(SMALL_CLAIM))
        .clamp(1, LARGEST_CLAIM)
}

/// The most messages one claim takes. A dispatch reads two claims' worth of due ids ahead:
/// SQLite's thread hands them over in one run only if its row buffer holds them all.
const LARGEST_CLAIM: usize = 1000;
const _: () = assert!(2 * LARGEST_CLAIM <= crate::queue::SQLITE_ROW_BUFFER);

const SMALL_CLAIM: usize = 10;

pub(super) struct Pacing {
    /// One send per period, from the token's gate.
    pub(super) period: Duration,
    rate: usize,
    numbers: DefaultKeyedRateLimiter<String>,
    number_rate: u32,
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

/// When the last `rate` requests arrived (estimated), and each number's last.
#[derive(Default)]
struct Departures {
    token: VecDeque<Sent>,
    numbers: HashMap<u64, Sent>,
    /// Ids for `Sent`.
    next: u64,
    /// The last round trips, for the quickest.
    trips: VecDeque<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    id: u64,
    left: Instant,
    /// When its answer came.
    answered: Option<Instant>,
}

/// A request that left, to be told when its answer came (`Pacing::answered`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Departure {
    id: u64,
    phone: u64,
}

impl Departures {
    /// Half the quickest of the last round trips: how long after leaving a request arrives.
    fn transit(&self) -> Duration {
        self.trips.iter().min().map_or(Duration::ZERO, |t| *t / 2)
    }

    /// When a request may leave to arrive `gap` after `sent` did; `None` while `sent` has had
    /// no answer (it may still arrive any time). Its arrival is estimated when asked, with the
    /// round trips known by then: the first request's own trip is often a slow one (a new
    /// connection), and half of it would misplace its arrival.
    fn free_after(&self, sent: &Sent, gap: Duration) -> Option<Instant> {
        let transit = self.transit();
        let answered = sent.answered?;
        // It arrived at most `transit` before its answer came, and not before it left.
        let arrived = answered
            .checked_sub(transit)
            .unwrap_or(answered)
            .max(sent.left);
        // A request leaving at t arrives at about t + transit.
        Some((arrived + gap).checked_sub(transit).unwrap_or(arrived))
    }
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
            number_rate: number_rate.max(1),
            number_period,
            claim_size: claim_size(rate as usize),
            reserved: Default::default(),
            departures: Default::default(),
            pruned: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// A pacing of `rate` and `number_rate` when either is stricter than this one's: a
    /// campaign's own limits within its token's (its operator's throttle), kept by the same
    /// arrival log. `None` when the token's limits are the stricter.
    pub(super) fn stricter(&self, rate: u32, number_rate: u32) -> Option<Pacing> {
        let (rate, number_rate) = (rate.max(1), number_rate.max(1));
        ((rate as usize) < self.rate || number_rate < self.number_rate).then(|| {
            Pacing::new(
                rate.min(self.rate as u32),
                number_rate.min(self.number_rate),
            )
        })
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
        if reserved.len() > 20_000 {
            reserved.retain(|_, t| *t + self.number_period > now);
        }
        at
    }

    /// Waits until a request to `phone` may leave by the arrival log, and records that it
    /// leaves now. Call right before the request is sent, and `answered` once it is answered.
    pub(super) async fn depart(&self, phone: &str) -> Departure {
        let phone = key(phone);
        let number_gap = self.number_period + GUARD;
        loop {
            let until = {
                let mut log = self.departures.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                match self.free_at(&log, phone, now) {
                    Some(until) if until <= now => {
                        log.next += 1;
                        let sent = Sent {
                            id: log.next,
                            left: now,
                            answered: None,
                        };
                        log.token.push_back(sent);
                        while log.token.len() > self.rate {
                            log.token.pop_front();
                        }
                        log.numbers.insert(phone, sent);
                        if log.numbers.len() > 20_000 {
                            log.numbers
                                .retain(|_, s| s.answered.is_none_or(|a| a + number_gap > now));
                        }
                        return Departure { id: sent.id, phone };
                    }
                    Some(until) => until,
                    // An earlier request has no answer yet: look again shortly.
                    None => now + Duration::from_millis(2),
                }
            };
            tokio::time::sleep_until(until).await;
        }
    }

    /// Waits until a request to `phone` could leave by the arrival log, without leaving: a
    /// campaign's own pace is waited for before its token's turn is taken, and kept by its
    /// `depart` right before the request leaves (so each trip it measures is a real one).
    pub(super) async fn ready(&self, phone: &str) {
        let phone = key(phone);
        loop {
            let until = {
                let log = self.departures.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                match self.free_at(&log, phone, now) {
                    Some(until) if until <= now => return,
                    Some(until) => until,
                    None => now + Duration::from_millis(2),
                }
            };
            tokio::time::sleep_until(until).await;
        }
    }

    /// When a request to `phone` may leave by the log; `None` while an earlier one it waits
    /// for has no answer yet.
    fn free_at(&self, log: &Departures, phone: u64, now: Instant) -> Option<Instant> {
        let token_free = match log.token.front() {
            Some(oldest) if log.token.len() >= self.rate => {
                log.free_after(oldest, Duration::from_secs(1) + GUARD)
            }
            _ => Some(now),
        };
        let number_free = match log.numbers.get(&phone) {
            Some(last) => log.free_after(last, self.number_period + GUARD),
            None => Some(now),
        };
        token_free.zip(number_free).map(|(t, n)| t.max(n))
    }

    /// The request of `departure` was answered (or failed) now.
    pub(super) fn answered(&self, departure: Departure) {
        let mut log = self.departures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut left = None;
        // Ids are consecutive in the token's log: its place is its distance from the front.
        let first = log.token.front().map_or(0, |s| s.id);
        if let Some(s) = departure
            .id
            .checked_sub(first)
            .and_then(|i| log.token.get_mut(i as usize))
            .filter(|s| s.id == departure.id)
        {
            s.answered = Some(now);
            left = Some(s.left);
        }
        if let Some(s) = log
            .numbers
            .get_mut(&departure.phone)
            .filter(|s| s.id == departure.id)
        {
            s.answered = Some(now);
            left = Some(s.left);
        }
        if let Some(left) = left {
            log.trips.push_back(now - left);
            if log.trips.len() > 64 {
                log.trips.pop_front();
            }
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
            let d = pacing.depart(&format!("+4479{i:08}")).await;
            pacing.answered(d);
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
        let d = pacing.depart("+447911000001").await;
        pacing.answered(d);
        pacing.depart("+447911000001").await;
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_slow_to_arrive_counts_from_its_answer() {
        let pacing = Pacing::new(2, 1);
        // A warm round trip of 10 ms, then one that took 300 ms (a new connection).
        let d = pacing.depart("+447911000001").await;
        tokio::time::advance(Duration::from_millis(10)).await;
        pacing.answered(d);
        let slow = pacing.depart("+447911000002").await;
        let slow_left = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await;
        pacing.answered(slow);
        let start = Instant::now();
        pacing.depart("+447911000003").await;
        pacing.depart("+447911000004").await;
        // The fourth is two after the slow one: a second after it may have arrived
        // (its answer less 5 ms), not a second after it left.
        let waited = Instant::now() - start;
        assert!(
            Instant::now() >= slow_left + Duration::from_millis(300 - 5) + Duration::from_secs(1),
            "left {waited:?} after the slow answer"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_slow_on_a_new_connection_counts_from_its_answer() {
        let pacing = Pacing::new(2, 1);
        let start = Instant::now();
        // The first request takes 60 ms (it opened the connection); the next one 1 ms.
        let first = pacing.depart("+447911000001").await;
        tokio::time::advance(Duration::from_millis(60)).await;
        pacing.answered(first);
        let second = pacing.depart("+447911000002").await;
        tokio::time::advance(Duration::from_millis(1)).await;
        pacing.answered(second);
        pacing.depart("+447911000003").await;
        // It may have reached the server just before its answer, at about 60 ms.
        let left = Instant::now() - start;
        assert!(left >= Duration::from_millis(1_064), "left at {left:?}");
    }
}
