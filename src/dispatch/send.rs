//! One message's send: an in-flight slot, the campaign's own pace, the number's spacing and
//! the token's turn waited for; the request sent only if the run still may (not halted or
//! stopped, the lease held); its verdict turned into an outcome for the recorder, and what a
//! verdict stops (the campaign, the token, a run of unreached or unanswered sends).

use std::sync::atomic::Ordering;

use super::{
    OUTAGE_STREAK, SILENCE_STREAK, SILENCE_STREAK_AFTER_ANSWERS, Shared, Stop, outcome_of, pacing,
};
use crate::convrs::Verdict;
use crate::queue::{Claim, Outcome};

/// Waits for an in-flight slot, the campaign's own pace (if it has one), the number's spacing
/// and the token's turn, then sends, unless the run was halted or stopped, or the lease is no
/// longer held, by the time the request would leave.
pub(super) async fn send_when_allowed(shared: &Shared, claim: Claim) {
    let _slot = shared.slots.acquire().await.expect("never closed");
    // The campaign's own pace is waited for before the token's turn, so a turn it takes is
    // one it uses; its log records the departure right before the request leaves.
    if let Some(own) = &shared.own {
        tokio::select! {
            _ = own.ready(&claim.phone) => {}
            _ = shared.halt.cancelled() => {}
        }
    }
    let pacing = shared.gate.pacing();
    let number_turn = pacing.reserve(&claim.phone);
    // No timer when the number need not wait (most sends): timers cost at high rates.
    let waited = (number_turn <= tokio::time::Instant::now()
        || tokio::select! {
            _ = tokio::time::sleep_until(number_turn) => true,
            _ = shared.halt.cancelled() => false,
        })
        && tokio::select! {
            _ = shared.gate.admit(shared.lease.campaign, shared.priority) => true,
            _ = shared.halt.cancelled() => false,
        };
    // Right before it leaves: the arrival logs (the campaign's own, the token's), then the last
    // look at the halt and the lease.
    let own = match (&shared.own, waited) {
        (Some(own), true) => tokio::select! {
            d = own.depart(&claim.phone) => Some(d),
            _ = shared.halt.cancelled() => None,
        },
        _ => None,
    };
    let departure = if waited && (own.is_some() || shared.own.is_none()) {
        tokio::select! {
            d = pacing.depart(&claim.phone) => Some(d),
            _ = shared.halt.cancelled() => None,
        }
    } else {
        None
    };
    if departure.is_none()
        || shared.halt.is_cancelled()
        || shared.stop.raised()
        || !shared.lease.valid_at(shared.store.now_ms())
    {
        // Not sent after all: it holds up no later send.
        answered(shared, departure, own);
        let reason = "not sent: the run was stopped".to_string();
        shared
            .recorder
            .record(claim, Outcome::Released { reason })
            .await;
        return;
    }
    send_one(shared, claim, departure, own).await;
}

/// Tells the arrival logs (the token's, and the campaign's own) that a request was answered.
fn answered(shared: &Shared, token: Option<pacing::Departure>, own: Option<pacing::Departure>) {
    if let Some(departure) = token {
        shared.gate.pacing().answered(departure);
    }
    if let (Some(pacing), Some(departure)) = (&shared.own, own) {
        pacing.answered(departure);
    }
}

/// One attempt: send the frozen payload and hand the outcome to the recorder.
async fn send_one(
    shared: &Shared,
    claim: Claim,
    departure: Option<pacing::Departure>,
    own: Option<pacing::Departure>,
) {
    let config = &shared.config;
    let extra = match (&config.callback, config.command) {
        (Some(target), "SendWhatsAppTemplate") => {
            Some(target.fields(claim.campaign_id, claim.message_id, claim.attempt_id))
        }
        _ => None,
    };
    let verdict = shared
        .client
        .send_frozen(config.command, &claim.payload, extra.as_ref())
        .await;
    answered(shared, departure, own);
    tracing::debug!(
        message_id = claim.message_id,
        attempt_id = claim.attempt_id,
        ?verdict,
        "sent"
    );
    if let Verdict::Unreachable { reason } = &verdict {
        let streak = shared.unreached.fetch_add(1, Ordering::SeqCst) + 1;
        if streak >= OUTAGE_STREAK {
            shared.stop.raise(Stop::Campaign(format!(
                "the Convrs API could not be reached ({streak} sends in a row, nothing sent): {reason}. \
                 The messages stay queued: check --api-url and the network, then run again"
            )));
        }
    } else {
        shared.unreached.store(0, Ordering::SeqCst);
    }
    if let Verdict::Unanswered { reason } = &verdict {
        let streak = shared.unanswered.fetch_add(1, Ordering::SeqCst) + 1;
        let limit = if shared.answered.load(Ordering::SeqCst) {
            SILENCE_STREAK_AFTER_ANSWERS
        } else {
            SILENCE_STREAK
        };
        if streak >= limit {
            shared.stop.raise(Stop::Campaign(format!(
                "the Convrs API took {streak} requests in a row without answering any: {reason}. \
                 Paused so that messages do not pile up uncertain; they are reconciled when it \
                 answers again: check the API (--request-timeout, its status), then run again"
            )));
        }
    } else {
        // Written only when they change: every send of every task passes here.
        if shared.unanswered.load(Ordering::Relaxed) != 0 {
            shared.unanswered.store(0, Ordering::SeqCst);
        }
        if !matches!(verdict, Verdict::Unreachable { .. })
            && !shared.answered.load(Ordering::Relaxed)
        {
            shared.answered.store(true, Ordering::SeqCst);
        }
    }
    let (outcome, halt) = outcome_of(&claim, verdict, config, shared.store.now_ms());
    shared.gate.stats().count(config.command, outcome.kind());
    if let Outcome::Failed { code, .. } = &outcome {
        shared.gate.stats().count_failure(config.command, *code);
    }
    if let Some(halt) = halt {
        shared.stop.raise(halt);
    }
    shared.recorder.record(claim, outcome).await;
}
