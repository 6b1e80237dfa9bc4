//! Sending one campaign on a held token, as a run or a worker does: mark what a dead sender
//! left `sending` as `uncertain`, dispatch through the token's gate, reconcile what is uncertain
//! (sending again what is proven unsent), until all is sent, a stop, or a halt.

use crate::queue::CampaignState;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::RunError;
use crate::clock::rfc3339_secs;
use crate::convrs::Client;
use crate::dispatch::{DispatchConfig, Gate, Reconciled, Stop, dispatch_through, reconcile};
use crate::queue::{Begun, DeferredGroup, Lease, SendOptions, Store};
use crate::tracking::PollSchedule;

/// How often, and how long after, a failed GetConversation is asked again in one sending.
const ASK_AGAIN_ROUNDS: u32 = 10;
const ASK_AGAIN_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// What a campaign is sent with besides its messages: the dispatch (its rate, number rate,
/// requests in flight, attempts), the ack polls, and reconciliation's safe delay.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dispatch: DispatchConfig,
    pub polls: PollSchedule,
    pub reconcile_after: Duration,
}

impl Settings {
    /// These settings with the campaign's own options in their place where it has them.
    pub fn with_own(mut self, own: Option<&SendOptions>) -> Self {
        let Some(own) = own else { return self };
        let ms = Duration::from_millis;
        let d = &mut self.dispatch;
        d.max_attempts = own.max_attempts.unwrap_or(d.max_attempts);
        d.rate = own.rate.unwrap_or(d.rate);
        d.number_rate = own.number_rate.unwrap_or(d.number_rate);
        d.in_flight = own.in_flight.unwrap_or(d.in_flight);
        self.polls = self.polls.with_own(own);
        self.reconcile_after = own.reconcile_after_ms.map_or(self.reconcile_after, ms);
        self
    }
}

/// How the sending of a campaign ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendEnd {
    /// Nothing is left to send now (messages due much later may be deferred).
    Done,
    /// A stop verdict, or the operator, stopped it.
    Stopped(Stop),
    /// Halted (Ctrl-C, SIGTERM): nothing new was claimed, what was in flight was recorded.
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub end: SendEnd,
    /// Messages a dead sender had left `sending`, now `uncertain`.
    pub left_uncertain: u64,
    pub reconciled: Reconciled,
}

/// What a campaign's sender shares with it: the token's client and gate, and the campaign's
/// share of the token.
pub struct OnToken<'a> {
    pub client: &'a Client,
    pub gate: &'a Arc<Gate>,
    pub priority: u32,
}

pub async fn send_campaign(
    store: &Store,
    token: &OnToken<'_>,
    lease: &Arc<Lease>,
    config: &DispatchConfig,
    reconcile_after: Duration,
    cancel: &CancellationToken,
) -> Result<Sent, RunError> {
    let campaign = lease.campaign;
    let mut sent = Sent {
        end: SendEnd::Done,
        left_uncertain: 0,
        reconciled: Reconciled::default(),
    };
    let client = token.client;
    // Before the first claim: what a dead sender left `sending` becomes `uncertain`, what
    // waited past its expiry (downtime, a deferral) expires instead of going out late, and the
    // campaign is `running` on the token.
    match store
        .begin_sending(campaign, &client.token_fingerprint())
        .await?
    {
        Begun::Running { left_uncertain } => sent.left_uncertain = left_uncertain,
        // Paused or cancelled by the operator: nothing is sent, and the state stays theirs.
        Begun::Controlled(control) => {
            sent.end = SendEnd::Stopped(Stop::Operator(control));
            return Ok(sent);
        }
    }
    let mut asked_again = 0;
    sent.end = loop {
        let stop = dispatch_through(
            store,
            client,
            token.gate,
            token.priority,
            lease,
            config,
            cancel,
        )
        .await?;
        if let Some(stop) = stop {
            if let Stop::Token(reason) = &stop {
                store
                    .stop_token(&client.token_fingerprint(), reason)
                    .await?;
            }
            break SendEnd::Stopped(stop);
        }
        if cancel.is_cancelled() {
            break SendEnd::Interrupted;
        }
        let r = reconcile(store, client, campaign, config, reconcile_after).await?;
        sent.reconciled.sent += r.sent;
        sent.reconciled.requeued += r.requeued;
        sent.reconciled.undecided = r.undecided;
        if r.requeued > 0 {
            continue;
        }
        // An undecided message is decided by waiting out its safe delay (`reconcile_after`):
        // "everything sent" includes knowing what was sent.
        let mut next = r.next_decision;
        // GetConversation failed for some: ask again a little later, a few times.
        if r.unanswered > 0 && asked_again < ASK_AGAIN_ROUNDS {
            asked_again += 1;
            let soon = chrono::Utc::now() + ASK_AGAIN_AFTER;
            next = Some(next.map_or(soon, |n| n.min(soon)));
        }
        let Some(at) = next else {
            break SendEnd::Done;
        };
        let pause =
            (at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(10);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = cancel.cancelled() => break SendEnd::Interrupted,
        }
    };
    if lease.is_lost() {
        return Err(RunError::LeaseLost(campaign));
    }
    Ok(sent)
}

/// The campaign state a sending leaves, unless the operator's pause or cancel set it already
/// (and may have been lifted by now): `done` is the state when nothing waits.
pub fn state_after(
    end: &SendEnd,
    deferred: &[DeferredGroup],
    done: CampaignState,
) -> Option<(CampaignState, Option<String>)> {
    match end {
        SendEnd::Stopped(Stop::Operator(_)) => None,
        SendEnd::Done if !deferred.is_empty() => {
            Some((CampaignState::Deferred, Some(deferred_summary(deferred))))
        }
        SendEnd::Done => Some((done, None)),
        SendEnd::Stopped(Stop::Campaign(r)) => Some((CampaignState::Paused, Some(r.clone()))),
        SendEnd::Stopped(Stop::Token(r)) => Some((CampaignState::Stopped, Some(r.clone()))),
        SendEnd::Interrupted => Some((
            CampaignState::Interrupted,
            Some("stopped by the operator; run again to resume".to_string()),
        )),
    }
}

/// "3 message(s) deferred until 2026-12-01T10:15:00Z: 2001: User is chatting to an agent".
pub fn deferred_summary(deferred: &[DeferredGroup]) -> String {
    deferred
        .iter()
        .map(|d| {
            let until = rfc3339_secs(d.last_at);
            format!(
                "{} message(s) deferred until {until}: {}",
                d.count, d.reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
