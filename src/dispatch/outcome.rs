//! What to store for each verdict of a send, and whether it stops the campaign or its token.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use super::{DispatchConfig, Stop};
use crate::convrs::Verdict;
use crate::queue::{Claim, Outcome};

/// A transient failure: another attempt after the API's wait or a backoff, unless the attempts
/// are used up. Rate-limit answers do not use them up as fast: they mean "slower", not "broken".
fn retry_or_give_up(
    claim: &Claim,
    config: &DispatchConfig,
    reason: String,
    after: Duration,
    rate_limited: bool,
    now_ms: i64,
) -> Outcome {
    let limit = if rate_limited {
        config.max_attempts * 10
    } else {
        config.max_attempts
    };
    if claim.attempts >= limit {
        let reason = format!("gave up after {} attempts: {reason}", claim.attempts);
        return Outcome::Failed {
            code: None,
            reason,
            suppress: false,
        };
    }
    let wait = if rate_limited {
        after
    } else {
        after.max(backoff(claim.attempts))
    };
    Outcome::Retry {
        at_ms: now_ms + wait.as_millis() as i64,
        reason,
    }
}

/// What to store for a verdict, and whether it stops the campaign or token.
pub fn outcome_of(
    claim: &Claim,
    verdict: Verdict,
    config: &DispatchConfig,
    now_ms: i64,
) -> (Outcome, Option<Stop>) {
    match verdict {
        Verdict::Accepted { mid, uid } => {
            let poll_at = now_ms + config.first_poll.as_millis() as i64;
            (Outcome::Sent { mid, uid, poll_at }, None)
        }
        // A text: its uid is in the frozen request; its mid is searched for from the first poll.
        Verdict::AcceptedWithoutId => {
            let poll_at = now_ms + config.first_poll.as_millis() as i64;
            match text_uid(&claim.payload) {
                Some(uid) => (Outcome::SentUnidentified { uid, poll_at }, None),
                None => (
                    Outcome::Uncertain {
                        reason: "the API said ok without a message id, and the stored request names no uid to look for it under"
                            .into(),
                    },
                    None,
                ),
            }
        }
        Verdict::RetryLater {
            reason,
            after,
            rate_limited,
        } => (
            retry_or_give_up(claim, config, reason, after, rate_limited, now_ms),
            None,
        ),
        // Never reached: the attempt does not count; many in a row are an outage (`dispatch`).
        Verdict::Unreachable { reason } => (
            Outcome::Unreached {
                at_ms: now_ms + UNREACHED_PAUSE.as_millis() as i64,
                reason,
            },
            None,
        ),
        // Counts as an attempt: after `max_attempts` ambiguous ones, reconciliation leaves the
        // message uncertain for the operator instead of sending it again.
        Verdict::Ambiguous { reason } | Verdict::Unanswered { reason } => {
            (Outcome::Uncertain { reason }, None)
        }
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

/// The uid a frozen SendTextMessage goes to.
fn text_uid(payload: &str) -> Option<String> {
    let request: crate::convrs::wire::SendTextMessage = serde_json::from_str(payload).ok()?;
    Some(request.uid)
}

/// How long a message whose request never reached the API waits before it is tried again.
const UNREACHED_PAUSE: Duration = Duration::from_secs(1);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(attempts: i64) -> Claim {
        Claim {
            campaign_id: 1,
            message_id: 1,
            attempt_id: 1,
            started_at: 0,
            phone: "+447911000001".into(),
            payload: "{}".into(),
            attempts,
            context_on_accept: false,
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
            defer_after: Duration::from_secs(60),
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
            outcome_of(&claim(1), v(), &config(), 0).0,
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            outcome_of(&claim(3), v(), &config(), 0).0,
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
            0,
        );
        assert!(matches!(outcome, Outcome::Released { .. }));
        assert_eq!(stop, Some(Stop::Token("1001".into())));
    }

    #[test]
    fn a_request_that_never_reached_the_api_does_not_use_up_an_attempt() {
        let v = Verdict::Unreachable {
            reason: "connection refused".into(),
        };
        let (outcome, stop) = outcome_of(&claim(5), v, &config(), 0);
        assert!(matches!(outcome, Outcome::Unreached { .. }), "{outcome:?}");
        assert_eq!(stop, None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) < Duration::from_secs(3));
        assert!(backoff(40) <= Duration::from_secs(1200));
    }
}
