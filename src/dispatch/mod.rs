//! The dispatcher: claims due messages, keeps the token and per-number limits, sends several
//! requests at once, and turns each verdict into a stored outcome. Then it polls acks.

mod reconcile;
mod recorder;
mod runner;

pub use reconcile::{Reconciled, reconcile};
pub use recorder::{Recorder, RecorderTask};
pub use runner::{RunEnd, RunError, RunOptions, RunReport, run_campaign};

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::convrs::{Client, Verdict};
use crate::queue::{CampaignId, Claim, Outcome, Store, StoreError};
use crate::tracking::CallbackTarget;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Sends per second for the token.
    pub rate: u32,
    /// Sends per second per phone number.
    pub number_rate: u32,
    /// Attempts before a message that keeps failing transiently is failed.
    pub max_attempts: i64,
    /// Requests in flight at once.
    pub in_flight: usize,
    /// `SendWhatsAppTemplate` or `SendSMSMessage`.
    pub command: &'static str,
    /// Where WhatsApp callbacks go (none: acks come from polling alone).
    pub callback: Option<CallbackTarget>,
    /// When to poll an accepted message first.
    pub first_poll: Duration,
}

/// Why dispatching stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Campaign(String),
    Token(String),
}

/// Sends every due message of `campaign` until none is left, a stop verdict, or `cancel`
/// (then no new message is claimed; requests in flight finish and are recorded).
pub async fn dispatch(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
    cancel: &CancellationToken,
) -> Result<Option<Stop>, StoreError> {
    let pacing = Arc::new(Pacing::new(config));
    // `slots` bounds requests in flight; `outstanding` bounds claimed messages (in flight, plus
    // one claim batch waiting), so the next batch is claimed while the current one is sent.
    let slots = Arc::new(Semaphore::new(config.in_flight.max(1)));
    let outstanding = Arc::new(Semaphore::new(config.in_flight.max(1) + pacing.claim_size));
    let stop: Arc<StopSignal> = Arc::default();
    let recording = RecorderTask::start(store.clone());
    let recorder = recording.recorder();
    let mut tasks = JoinSet::new();
    let token = client.token_fingerprint();
    while !cancel.is_cancelled() && !stop.raised() {
        // Another campaign on this token may have been told to stop it.
        if let Some((reason, at)) = store.token_stop(&token).await? {
            stop.raise(Stop::Token(format!(
                "the token was stopped at {at}: {reason}"
            )));
            break;
        }
        // Finished send tasks are reaped as we go, so a long run does not pile them up.
        while let Some(done) = tasks.try_join_next() {
            done.expect("send tasks do not panic");
        }
        let now = now_ms();
        let due = store
            .due(campaign, now, pacing.claim_size.max(200) as i64)
            .await?;
        if due.is_empty() {
            if let Some(done) = tasks.join_next().await {
                done.expect("send tasks do not panic");
                continue;
            }
            // Retries are only visible once their outcome is written.
            recorder.flush().await;
            let Some(at) = store.next_due(campaign).await? else {
                break;
            };
            let pause = Duration::from_millis((at - now).clamp(10, 1000) as u64);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => {}
            }
            continue;
        }
        let ready = pacing.numbers_ready(store, due, now).await?;
        // Claim only what can leave soon: a claimed message is `sending`, and after a crash
        // every `sending` message has to be reconciled.
        for chunk in ready.chunks(pacing.claim_size) {
            let room = outstanding.clone().acquire_many_owned(chunk.len() as u32);
            let room = tokio::select! {
                room = room => room.expect("never closed"),
                _ = cancel.cancelled() => break,
            };
            if stop.raised() {
                break;
            }
            let mut room = room;
            for claim in store.claim(chunk).await? {
                let held = room.split(1).expect("one permit per claim");
                let (client, config, stop, recorder, pacing, slots, cancel) = (
                    client.clone(),
                    config.clone(),
                    stop.clone(),
                    recorder.clone(),
                    pacing.clone(),
                    slots.clone(),
                    cancel.clone(),
                );
                tasks.spawn(async move {
                    let _held = held;
                    let _slot = slots.acquire_owned().await.expect("never closed");
                    // The token is taken, and the number spaced, right before the request leaves.
                    let go = tokio::select! {
                        _ = pacing.token.until_ready() => !stop.raised(),
                        _ = cancel.cancelled() => false,
                    };
                    if !go {
                        let reason = "not sent: the run was stopped".to_string();
                        recorder.record(claim, Outcome::Released { reason }).await;
                        return;
                    }
                    let leave_at = pacing.leave_at(&claim.phone);
                    if leave_at > tokio::time::Instant::now() {
                        tokio::time::sleep_until(leave_at).await;
                    }
                    send_one(&client, &config, claim, &stop, &recorder).await;
                });
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("send tasks do not panic");
    }
    drop(recorder);
    recording.close().await?;
    Ok(stop.reason())
}

/// One attempt: send the frozen payload and hand the outcome to the recorder.
pub async fn send_one(
    client: &Client,
    config: &DispatchConfig,
    claim: Claim,
    stop: &StopSignal,
    recorder: &Recorder,
) {
    let extra = match (&config.callback, config.command) {
        (Some(target), "SendWhatsAppTemplate") => {
            Some(target.fields(claim.campaign_id, claim.message_id))
        }
        _ => None,
    };
    let verdict = client
        .send_frozen(config.command, &claim.payload, extra.as_ref())
        .await;
    tracing::debug!(
        message_id = claim.message_id,
        attempt_id = claim.attempt_id,
        ?verdict,
        "sent"
    );
    let (outcome, halt) = outcome_of(&claim, verdict, config);
    if let Some(halt) = halt {
        stop.raise(halt);
    }
    recorder.record(claim, outcome).await;
}

/// Raised by the first stop-campaign or stop-token verdict; later ones keep the first reason.
#[derive(Debug, Default)]
pub struct StopSignal {
    raised: AtomicBool,
    reason: std::sync::Mutex<Option<Stop>>,
}

impl StopSignal {
    fn raise(&self, stop: Stop) {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(stop);
        self.raised.store(true, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    fn reason(&self) -> Option<Stop> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The two limits of the API document: per token and per phone number.
struct Pacing {
    token: DefaultDirectRateLimiter,
    numbers: DefaultKeyedRateLimiter<String>,
    number_period: Duration,
    /// How many messages to claim at once.
    claim_size: usize,
    /// When each number's last request leaves. The claim-time check (`numbers`) keeps waiting
    /// numbers out of the in-flight slots; this guard applies the spacing when the request
    /// actually leaves, since one send can wait for the token limit longer than the next one to
    /// the same number.
    leaves: std::sync::Mutex<HashMap<u64, tokio::time::Instant>>,
    /// When the keyed limiter last dropped numbers it no longer needs.
    pruned: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacing {
    fn new(config: &DispatchConfig) -> Self {
        // Margins keep the server's sliding one-second windows from ever seeing one too many.
        let token_period = Duration::from_secs_f64(1.02 / f64::from(config.rate.max(1)));
        let number_period = Duration::from_secs_f64(1.05 / f64::from(config.number_rate.max(1)));
        let quota = |period, burst: u32| {
            Quota::with_period(period)
                .expect("non-zero")
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
        };
        // A small burst lets the limiter make up for timer lateness instead of losing it. In any
        // second it allows at most rate/1.02 + burst sends, which stays within the rate while
        // burst <= 1.96% of it; 1.5% keeps a little more room.
        let token_burst = (f64::from(config.rate) * 0.015) as u32;
        Pacing {
            token: RateLimiter::direct(quota(token_period, token_burst)),
            numbers: RateLimiter::keyed(quota(number_period, 1)),
            number_period,
            claim_size: (config.rate as usize / 10).clamp(1, 1000),
            leaves: Default::default(),
            pruned: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// The due messages whose number may be sent to now; the others are put off in the store
    /// (no head-of-line blocking).
    async fn numbers_ready(
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

    fn leave_at(&self, phone: &str) -> tokio::time::Instant {
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

/// What to store for a verdict, and whether it stops the campaign or token.
pub fn outcome_of(
    claim: &Claim,
    verdict: Verdict,
    config: &DispatchConfig,
) -> (Outcome, Option<Stop>) {
    match verdict {
        Verdict::Accepted { mid, uid } => {
            let poll_at = now_ms() + config.first_poll.as_millis() as i64;
            (Outcome::Sent { mid, uid, poll_at }, None)
        }
        Verdict::RetryLater {
            reason,
            after,
            rate_limited,
        } => {
            // Rate-limit answers do not use up attempts as fast: they mean "slower", not "broken".
            let limit = if rate_limited {
                config.max_attempts * 10
            } else {
                config.max_attempts
            };
            if claim.attempts >= limit {
                let reason = format!("gave up after {} attempts: {reason}", claim.attempts);
                return (
                    Outcome::Failed {
                        code: None,
                        reason,
                        suppress: false,
                    },
                    None,
                );
            }
            let backoff = backoff(claim.attempts);
            let wait = after.max(if rate_limited {
                Duration::ZERO
            } else {
                backoff
            });
            (
                Outcome::Retry {
                    at_ms: now_ms() + wait.as_millis() as i64,
                    reason,
                },
                None,
            )
        }
        Verdict::Ambiguous { reason } => (Outcome::Uncertain { reason }, None),
        Verdict::Rejected {
            reason,
            code,
            suppress,
        } => (
            Outcome::Failed {
                code,
                reason,
                suppress,
            },
            None,
        ),
        Verdict::StopCampaign { reason } => (
            Outcome::Released {
                reason: reason.clone(),
            },
            Some(Stop::Campaign(reason)),
        ),
        Verdict::StopToken { reason } => (
            Outcome::Released {
                reason: reason.clone(),
            },
            Some(Stop::Token(reason)),
        ),
    }
}

/// Exponential backoff with jitter (backon): 1 s, 2 s, 4 s... up to 10 minutes.
fn backoff(attempt: i64) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(600))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_secs(600))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(attempts: i64) -> Claim {
        Claim {
            campaign_id: 1,
            message_id: 1,
            attempt_id: 1,
            phone: "+447911000001".into(),
            payload: "{}".into(),
            attempts,
        }
    }

    fn config() -> DispatchConfig {
        DispatchConfig {
            rate: 10,
            number_rate: 1,
            max_attempts: 3,
            in_flight: 4,
            command: "SendSMSMessage",
            callback: None,
            first_poll: Duration::from_secs(10),
        }
    }

    #[test]
    fn transient_failures_retry_until_the_attempt_limit() {
        let v = || Verdict::RetryLater {
            reason: "x".into(),
            after: Duration::from_secs(5),
            rate_limited: false,
        };
        assert!(matches!(
            outcome_of(&claim(1), v(), &config()).0,
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            outcome_of(&claim(3), v(), &config()).0,
            Outcome::Failed { .. }
        ));
    }

    #[test]
    fn stop_verdicts_release_the_message_and_stop() {
        let (outcome, stop) = outcome_of(
            &claim(1),
            Verdict::StopToken {
                reason: "1001".into(),
            },
            &config(),
        );
        assert!(matches!(outcome, Outcome::Released { .. }));
        assert_eq!(stop, Some(Stop::Token("1001".into())));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) < Duration::from_secs(3));
        assert!(backoff(40) <= Duration::from_secs(1200));
    }
}
