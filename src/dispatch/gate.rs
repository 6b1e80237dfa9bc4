//! The gate of one API token: every campaign sending on the token in this process passes
//! through it, so they share the token's rate and the per-number spacing, and share them
//! fairly. Sends waiting for the token queue up per campaign; each time the token limiter
//! allows one, it goes to the campaign that has had the least of the token for its priority
//! (stride scheduling): a big campaign does not starve a small one started later, and a
//! campaign of priority 3 gets three sends for every one of a campaign of priority 1.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, oneshot};

use super::pacing::Pacing;
use crate::queue::CampaignId;

/// The token's gate. Dropping it stops its granter.
pub struct Gate {
    inner: Arc<Inner>,
    granter: tokio::task::JoinHandle<()>,
}

struct Inner {
    pacing: Pacing,
    turns: std::sync::Mutex<Turns>,
    waiting: Notify,
    stats: Arc<GateStats>,
    /// How far behind its schedule the gate may make up at once.
    catch_up: std::time::Duration,
}

/// Who waits, and when the next turn is due.
struct Turns {
    lanes: Lanes<oneshot::Sender<()>>,
    next: tokio::time::Instant,
}

impl Turns {
    /// Moves the schedule on to `now` if it fell further behind than `catch_up` (an idle
    /// spell): turns not taken then are not made up.
    fn not_behind(&mut self, now: tokio::time::Instant, catch_up: std::time::Duration) {
        if self.next + catch_up < now {
            self.next = now;
        }
    }
}

/// What went through a token's gate, kept across the gates a worker makes for the token.
#[derive(Debug, Default)]
pub struct GateStats {
    /// Sends that found the token's limit reached and had to wait for it.
    waits: AtomicU64,
    /// Attempts by command and outcome kind.
    outcomes: std::sync::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    /// Messages failed for good by command and the API's (or WhatsApp's) code, if any.
    failures: std::sync::Mutex<std::collections::BTreeMap<(&'static str, Option<i64>), u64>>,
}

impl GateStats {
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Attempts so far by (command, outcome kind).
    pub fn outcomes(&self) -> Vec<((&'static str, &'static str), u64)> {
        let outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        outcomes.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub(super) fn count(&self, command: &'static str, kind: &'static str) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *outcomes.entry((command, kind)).or_default() += 1;
    }

    /// Messages failed so far by (command, code).
    pub fn failures(&self) -> Vec<((&'static str, Option<i64>), u64)> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub(super) fn count_failure(&self, command: &'static str, code: Option<i64>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry((command, code)).or_default() += 1;
    }
}

impl Gate {
    /// A gate for a token allowing `rate` sends a second and `number_rate` per phone number.
    pub fn new(rate: u32, number_rate: u32) -> Arc<Gate> {
        Gate::with_stats(
            rate,
            number_rate,
            Arc::default(),
            tokio::time::Instant::now(),
        )
    }

    /// A gate counting into `stats`, giving its first turn at `not_before` (a second after
    /// the token's previous holder may have sent its last).
    pub fn with_stats(
        rate: u32,
        number_rate: u32,
        stats: Arc<GateStats>,
        not_before: tokio::time::Instant,
    ) -> Arc<Gate> {
        let pacing = Pacing::new(rate, number_rate);
        let inner = Arc::new(Inner {
            catch_up: (pacing.period * 2).max(std::time::Duration::from_millis(5)),
            pacing,
            turns: std::sync::Mutex::new(Turns {
                lanes: Lanes::default(),
                next: not_before,
            }),
            waiting: Notify::new(),
            stats,
        });
        let granter = tokio::spawn(grant(inner.clone()));
        Arc::new(Gate { inner, granter })
    }

    pub(super) fn pacing(&self) -> &Pacing {
        &self.inner.pacing
    }

    /// Waits until the token may carry one more send of `campaign`, in its fair turn. When
    /// no one waits and a turn is due, it is taken at once (no hop through the granter).
    pub async fn admit(&self, campaign: CampaignId, priority: u32) {
        let (tx, rx) = oneshot::channel();
        {
            let mut turns = self.inner.lock();
            let now = tokio::time::Instant::now();
            if turns.lanes.is_empty() {
                turns.not_behind(now, self.inner.catch_up);
                if turns.next <= now {
                    turns.next += self.inner.pacing.period;
                    turns.lanes.charge(campaign, priority);
                    return;
                }
            }
            self.inner.stats.waits.fetch_add(1, Ordering::Relaxed);
            turns.lanes.push(campaign, priority, tx);
        }
        self.inner.waiting.notify_one();
        // The granter never drops a waiter without answering, unless the gate is dropped.
        let _ = rx.await;
    }

    pub fn stats(&self) -> &GateStats {
        &self.inner.stats
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.granter.abort();
    }
}

/// Hands out one turn per period, on a fixed schedule (timer lateness is made up, not lost),
/// to the next campaign in fair order; a waiter that gave up (its send was stopped) passes its
/// turn to the next. After an idle spell the schedule starts again from now; one that fell
/// behind (a busy machine) makes up at most a few milliseconds at once.
async fn grant(inner: Arc<Inner>) {
    loop {
        let due = {
            let mut turns = inner.lock();
            let now = tokio::time::Instant::now();
            if turns.lanes.is_empty() {
                None
            } else {
                turns.not_behind(now, inner.catch_up);
                Some(turns.next)
            }
        };
        let Some(due) = due else {
            inner.waiting.notified().await;
            continue;
        };
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let mut turns = inner.lock();
        // A fast-path admission may have taken this turn meanwhile.
        if turns.next > tokio::time::Instant::now() {
            continue;
        }
        turns.next += inner.pacing.period;
        while let Some(waiter) = turns.lanes.next() {
            if waiter.send(()).is_ok() {
                break;
            }
        }
    }
}

/// Per-campaign queues served in stride order: each turn goes to the non-empty lane with the
/// lowest pass, whose pass then grows by 1/priority. A lane that was idle starts at the
/// current pass, so it neither saved up turns nor waits behind the others' history.
#[derive(Debug)]
pub(super) struct Lanes<T> {
    lanes: HashMap<CampaignId, Lane<T>>,
    /// The pass of the last turn given.
    now: f64,
}

#[derive(Debug)]
struct Lane<T> {
    pass: f64,
    stride: f64,
    waiting: VecDeque<T>,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            lanes: HashMap::new(),
            now: 0.0,
        }
    }
}

impl<T> Lanes<T> {
    /// The campaign's lane, made if new, with its priority as given now.
    fn lane(&mut self, campaign: CampaignId, priority: u32) -> &mut Lane<T> {
        let now = self.now;
        let lane = self.lanes.entry(campaign).or_insert_with(|| Lane {
            pass: now,
            stride: 1.0,
            waiting: VecDeque::new(),
        });
        lane.stride = 1.0 / f64::from(priority.clamp(1, 10));
        lane
    }

    pub(super) fn push(&mut self, campaign: CampaignId, priority: u32, waiter: T) {
        let now = self.now;
        let lane = self.lane(campaign, priority);
        if lane.waiting.is_empty() {
            lane.pass = lane.pass.max(now);
        }
        lane.waiting.push_back(waiter);
    }

    /// Counts a turn `campaign` took without waiting, as if `next` had given it.
    pub(super) fn charge(&mut self, campaign: CampaignId, priority: u32) {
        let now = self.now;
        let lane = self.lane(campaign, priority);
        lane.pass = lane.pass.max(now);
        let taken = lane.pass;
        lane.pass += lane.stride;
        self.now = taken;
    }

    pub(super) fn next(&mut self) -> Option<T> {
        let (&campaign, lane) = self
            .lanes
            .iter_mut()
            .filter(|(_, lane)| !lane.waiting.is_empty())
            .min_by(|(a, x), (b, y)| x.pass.total_cmp(&y.pass).then(a.cmp(b)))?;
        self.now = lane.pass;
        lane.pass += lane.stride;
        let waiter = lane.waiting.pop_front();
        let now = self.now;
        // Idle lanes with no turns taken ahead of the others are forgotten (campaigns end).
        self.lanes
            .retain(|c, lane| *c == campaign || !lane.waiting.is_empty() || lane.pass > now);
        waiter
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lanes.values().all(|lane| lane.waiting.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn two_campaigns_waiting_on_one_gate_take_turns_one_period_apart() {
        let gate = Gate::new(10, 1);
        let start = tokio::time::Instant::now();
        let turns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for c in [1, 2] {
            let (gate, turns) = (gate.clone(), turns.clone());
            tasks.spawn(async move {
                for _ in 0..10 {
                    gate.admit(CampaignId(c), 1).await;
                    let at = tokio::time::Instant::now() - start;
                    turns.lock().unwrap().push((c, at));
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let turns = turns.lock().unwrap().clone();
        let period = gate.pacing().period;
        // On schedule, never ahead of it: turn k comes at k periods or later (timers round up
        // to the millisecond, which the schedule makes up, not the arrival log's guarantee).
        for (k, (_, at)) in turns.iter().enumerate() {
            assert!(*at >= period * k as u32, "turn {k} at {at:?}: {turns:?}");
            assert!(*at < period * k as u32 + period, "turn {k} late: {turns:?}");
        }
        let first_ten = turns[..10].iter().filter(|(c, _)| *c == 1).count();
        assert_eq!(first_ten, 5, "shared in turn: {turns:?}");
    }

    fn turns(lanes: &mut Lanes<CampaignId>, n: usize) -> HashMap<CampaignId, usize> {
        let mut got = HashMap::new();
        for _ in 0..n {
            let c = lanes.next().expect("someone waits");
            *got.entry(c).or_default() += 1;
            lanes.push(c, 1, c);
        }
        got
    }

    #[test]
    fn two_campaigns_always_waiting_share_the_token_evenly() {
        let mut lanes = Lanes::default();
        for _ in 0..16 {
            lanes.push(CampaignId(1), 1, CampaignId(1));
            lanes.push(CampaignId(2), 1, CampaignId(2));
        }
        let got = turns(&mut lanes, 1000);
        assert_eq!(got[&CampaignId(1)], 500);
        assert_eq!(got[&CampaignId(2)], 500);
    }

    #[test]
    fn a_campaign_started_later_gets_its_share_at_once_and_no_more() {
        let mut lanes = Lanes::default();
        for _ in 0..16 {
            lanes.push(CampaignId(1), 1, CampaignId(1));
        }
        turns(&mut lanes, 10_000);
        lanes.push(CampaignId(2), 1, CampaignId(2));
        // The newcomer is served within two turns, then they alternate.
        let first_two: Vec<_> = (0..2).filter_map(|_| lanes.next()).collect();
        assert!(first_two.contains(&CampaignId(2)), "{first_two:?}");
        for c in first_two {
            lanes.push(c, 1, c);
        }
        let got = turns(&mut lanes, 100);
        assert_eq!(got[&CampaignId(2)], 50);
    }

    #[test]
    fn priority_three_gets_three_turns_for_every_one() {
        let mut lanes = Lanes::default();
        for _ in 0..16 {
            lanes.push(CampaignId(1), 3, CampaignId(1));
            lanes.push(CampaignId(2), 1, CampaignId(2));
        }
        let mut got: HashMap<CampaignId, usize> = HashMap::new();
        for _ in 0..400 {
            let c = lanes.next().unwrap();
            *got.entry(c).or_default() += 1;
            lanes.push(c, if c == CampaignId(1) { 3 } else { 1 }, c);
        }
        assert_eq!(got[&CampaignId(1)], 300);
        assert_eq!(got[&CampaignId(2)], 100);
    }
}
