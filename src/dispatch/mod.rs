//! The dispatcher: claims due messages, keeps the token and per-number limits, sends several
//! requests at once, and turns each verdict into a stored outcome. Then it polls acks.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{Quota, RateLimiter};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::convrs::{Ack, Client, Verdict};
use crate::queue::{CampaignId, Claim, Outcome, Store, StoreError};

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
}

/// Why dispatching stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Campaign(String),
    Token(String),
}

/// Sends every due message of `campaign` until none is left (or a stop verdict).
pub async fn dispatch(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    config: &DispatchConfig,
) -> Result<Option<Stop>, StoreError> {
    // A 2% margin keeps the server's sliding one-second window from ever seeing one too many.
    let token_period = Duration::from_secs_f64(1.02 / f64::from(config.rate.max(1)));
    let token_limit = RateLimiter::direct(
        Quota::with_period(token_period)
            .expect("non-zero")
            .allow_burst(NonZeroU32::MIN),
    );
    let number_period = Duration::from_secs_f64(1.05 / f64::from(config.number_rate.max(1)));
    let numbers = RateLimiter::keyed(
        Quota::with_period(number_period)
            .expect("non-zero")
            .allow_burst(NonZeroU32::MIN),
    );
    let slots = Arc::new(Semaphore::new(config.in_flight.max(1)));
    let stopped = Arc::new(AtomicBool::new(false));
    let stop_reason: Arc<Mutex<Option<Stop>>> = Arc::default();
    // When each number last had a request leave: the claim-time check spaces numbers out, but a
    // send can wait for the token limit longer than the next one to its number, so this is the
    // final guard, applied when the request actually leaves.
    let last_sent: Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>> =
        Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        if stopped.load(Ordering::SeqCst) {
            break;
        }
        let now = now_ms();
        let due = store.due(campaign, now, 200).await?;
        if due.is_empty() {
            if let Some(done) = tasks.try_join_next() {
                done.expect("send tasks do not panic")?;
                continue;
            }
            if !tasks.is_empty() {
                tasks
                    .join_next()
                    .await
                    .expect("not empty")
                    .expect("send tasks do not panic")?;
                continue;
            }
            match store.next_due(campaign).await? {
                None => break,
                Some(at) => {
                    tokio::time::sleep(Duration::from_millis((at - now).clamp(10, 1000) as u64))
                        .await
                }
            }
            continue;
        }
        // A number that must wait is put off; the others go ahead (no head-of-line blocking).
        let mut ready = vec![];
        for (id, phone) in due {
            match numbers.check_key(&phone) {
                Ok(()) => ready.push(id),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ));
                    store.defer(id, now + wait.as_millis() as i64 + 1).await?;
                }
            }
        }
        numbers.retain_recent();
        for claim in store.claim(&ready).await? {
            token_limit.until_ready().await;
            let permit = slots.clone().acquire_owned().await.expect("never closed");
            if stopped.load(Ordering::SeqCst) {
                store
                    .finish(
                        &claim,
                        &Outcome::Released {
                            reason: "campaign stopped".into(),
                        },
                    )
                    .await?;
                continue;
            }
            let (store, client, config, stopped, stop_reason) = (
                store.clone(),
                client.clone(),
                config.clone(),
                stopped.clone(),
                stop_reason.clone(),
            );
            let leave_at = {
                let mut last = last_sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = tokio::time::Instant::now();
                let at = last
                    .get(&claim.phone)
                    .map_or(now, |t| (*t + number_period).max(now));
                last.insert(claim.phone.clone(), at);
                if last.len() > 100_000 {
                    last.retain(|_, t| *t + number_period > now);
                }
                at
            };
            tasks.spawn(async move {
                let _permit = permit;
                tokio::time::sleep_until(leave_at).await;
                let verdict = client.send_frozen(config.command, &claim.payload).await;
                let (outcome, stop) = outcome_of(&claim, verdict, &config);
                if let Some(stop) = stop {
                    stopped.store(true, Ordering::SeqCst);
                    stop_reason.lock().await.get_or_insert(stop);
                }
                store.finish(&claim, &outcome).await.map(|_| ())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("send tasks do not panic")?;
    }
    let stop = stop_reason.lock().await.clone();
    Ok(stop)
}

/// What to store for a verdict, and whether it stops the campaign or token.
pub fn outcome_of(
    claim: &Claim,
    verdict: Verdict,
    config: &DispatchConfig,
) -> (Outcome, Option<Stop>) {
    match verdict {
        Verdict::Accepted { mid, uid } => (Outcome::Sent { mid, uid }, None),
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
                return (Outcome::Failed { code: None, reason }, None);
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
        Verdict::Rejected { reason, code, .. } => (Outcome::Failed { code, reason }, None),
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

/// Polls GetMessageDetails for sent messages until each is delivered (or failed), or until
/// `wait` has passed. Returns how many are still unsettled.
pub async fn poll_acks(
    store: &Store,
    client: &Client,
    campaign: CampaignId,
    wait: Duration,
    rate: u32,
) -> Result<usize, StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    let limiter = RateLimiter::direct(Quota::per_second(
        NonZeroU32::new(rate.max(1)).expect("non-zero"),
    ));
    let mut pause = Duration::from_millis(250);
    loop {
        let unsettled = store.unsettled(campaign).await?;
        if unsettled.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(unsettled.len());
        }
        for (id, mid) in unsettled {
            limiter.until_ready().await;
            match client.get_message_details(&mid).await {
                Ok(details) => {
                    if let Some(ack) = Ack::from_code(details.ack) {
                        store.record_ack(id, ack, "poll").await?;
                    }
                }
                Err(e) => {
                    tracing::warn!(message_id = id, error = %e, "cannot poll message details")
                }
            }
        }
        tokio::time::sleep(
            pause.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        )
        .await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(attempts: i64) -> Claim {
        Claim {
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
